package main

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/emulator"
)

const password = "Old-Moped-Passw0rd!"

// assertNothingSecretLogged checks that no log line carries the password or the address.
func assertNothingSecretLogged(t *testing.T, p *oldPool, email string) {
	t.Helper()
	logs := p.logs.String()
	assert.NotContains(t, logs, password)
	assert.NotContains(t, strings.ToLower(logs), strings.ToLower(email))
	assert.NotContains(t, logs, "example.com")
}

func TestSignInWithTheOldPasswordMigratesTheUserConfirmedWithTheirOldSub(t *testing.T) {
	p := newOldPool(t)
	oldSub := p.addUser(t, "jane@example.com", password, map[string]string{"name": "Jane Doe", "phone_number": "+15125550100"})
	h := p.handler(t)

	out, err := h.Handle(context.Background(), event(SourceAuthentication, "jane@example.com", password))
	require.NoError(t, err)
	r, whole := parseResponse(t, out)
	assert.Equal(t, map[string]string{
		"email": "jane@example.com", "email_verified": "true", "custom:legacy_sub": oldSub, "name": "Jane Doe",
	}, r.UserAttributes, "exactly these attributes: no sub (Cognito makes a new one), no phone number (no SMS is set up)")
	require.NotNil(t, r.FinalUserStatus)
	assert.Equal(t, "CONFIRMED", *r.FinalUserStatus, "the password was checked: no reset, no invitation")
	assert.Equal(t, "SUPPRESS", r.MessageAction)
	assert.JSONEq(t, `"us-east-1_NewPool01"`, string(whole["userPoolId"]), "the rest of the event goes back as Cognito sent it")
	assert.JSONEq(t, `"UserMigration_Authentication"`, string(whole["triggerSource"]))

	line := p.logs.lastLog(t)
	assert.Equal(t, "migrated", line["outcome"])
	assert.Equal(t, ReasonOK, line["reason"])
	assert.Equal(t, oldSub, line["legacy_sub"], "the log names the user by their old sub")
	assertNothingSecretLogged(t, p, "jane@example.com")
}

func TestForgotPasswordMigratesWithoutAPasswordAndLeavesTheStatusToCognito(t *testing.T) {
	p := newOldPool(t)
	oldSub := p.addUser(t, "kim@example.com", password, nil)
	calls := &recorder{OldPool: p.handler(t).Old}
	h := p.handler(t)
	h.Old = calls

	out, err := h.Handle(context.Background(), event(SourceForgotPassword, "kim@example.com", ""))
	require.NoError(t, err)
	r, _ := parseResponse(t, out)
	assert.Equal(t, map[string]string{"email": "kim@example.com", "email_verified": "true", "custom:legacy_sub": oldSub}, r.UserAttributes)
	assert.Nil(t, r.FinalUserStatus, "Cognito sets RESET_REQUIRED and sends the code to the verified email")
	assert.Equal(t, "SUPPRESS", r.MessageAction)
	assert.Equal(t, []string{"AdminGetUser"}, calls.list(), "no password to check: the old pool is only read")
	assertNothingSecretLogged(t, p, "kim@example.com")
}

func TestWhatTheOldPoolRefusesIsRefused(t *testing.T) {
	p := newOldPool(t)
	p.addUser(t, "jane@example.com", password, nil)
	p.addUser(t, "temp@example.com", "", nil) // never signed in: FORCE_CHANGE_PASSWORD
	p.addUser(t, "sms@example.com", password, map[string]string{"phone_number": "+15125550101"})
	_, err := p.idp.AdminSetUserMFAPreference(context.Background(), &cip.AdminSetUserMFAPreferenceInput{
		UserPoolId: aws.String(p.id), Username: aws.String("sms@example.com"),
		SMSMfaSettings: &ciptypes.SMSMfaSettingsType{Enabled: true, PreferredMfa: true},
	})
	require.NoError(t, err)
	p.addUser(t, "off@example.com", password, nil)
	_, err = p.idp.AdminDisableUser(context.Background(), &cip.AdminDisableUserInput{UserPoolId: aws.String(p.id), Username: aws.String("off@example.com")})
	require.NoError(t, err)
	h := p.handler(t)

	for _, c := range []struct {
		name, source, user, password, reason, detail string
	}{
		{"wrong password", SourceAuthentication, "jane@example.com", "Not-Her-Passw0rd!", ReasonNotAuthorized, "NotAuthorizedException"},
		{"unknown user", SourceAuthentication, "nobody@example.com", password, ReasonUnknownUser, "UserNotFoundException"},
		{"unknown user asking for a reset", SourceForgotPassword, "nobody@example.com", "", ReasonUnknownUser, "UserNotFoundException"},
		{"MFA challenge", SourceAuthentication, "sms@example.com", password, ReasonChallenge, "SMS_MFA"},
		{"new password challenge", SourceAuthentication, "temp@example.com", "Temporary-Passw0rd!", ReasonChallenge, "NEW_PASSWORD_REQUIRED"},
		{"disabled user signing in", SourceAuthentication, "off@example.com", password, ReasonNotAuthorized, "NotAuthorizedException"},
		{"disabled user asking for a reset", SourceForgotPassword, "off@example.com", "", ReasonDisabled, ""},
		{"not an email", SourceAuthentication, "jane", password, ReasonUserNameMismatch, ""},
		{"no password", SourceAuthentication, "jane@example.com", "", ReasonBadEvent, "no password"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := h.Handle(context.Background(), event(c.source, c.user, c.password))
			require.Error(t, err)
			assert.Nil(t, out)
			assert.EqualError(t, err, RefusalMessage, "the user learns nothing about the old pool")
			line := p.logs.lastLog(t)
			assert.Equal(t, "refused", line["outcome"])
			assert.Equal(t, c.reason, line["reason"])
			if c.detail != "" {
				assert.Equal(t, c.detail, line["detail"])
			}
			assertNothingSecretLogged(t, p, c.user)
			assert.NotContains(t, p.logs.String(), "Not-Her-Passw0rd!")
		})
	}
}

func TestEventsThatAreNotMigrationsAreRefused(t *testing.T) {
	p := newOldPool(t)
	p.addUser(t, "jane@example.com", password, nil)
	h := p.handler(t)
	for name, ev := range map[string][]byte{
		"pre-token event": []byte(strings.Replace(string(event(SourceAuthentication, "jane@example.com", password)), SourceAuthentication, "TokenGeneration_Authentication", 1)),
		"not JSON":        []byte(`{"triggerSource": `),
		"wrong types":     []byte(`{"triggerSource": "UserMigration_Authentication", "userName": 7}`),
	} {
		t.Run(name, func(t *testing.T) {
			out, err := h.Handle(context.Background(), ev)
			require.EqualError(t, err, RefusalMessage)
			assert.Nil(t, out)
			assert.Contains(t, []string{ReasonUnsupportedSource, ReasonBadEvent}, p.logs.lastLog(t)["reason"])
		})
	}
}

func TestFederatedOldUsersAreNotMigrated(t *testing.T) {
	// moto creates no federated users, and AdminGetUser is the only call the forgot-password
	// path makes: this stand-in returns what Cognito's AdminGetUser documents for a user
	// created by an identity provider (status EXTERNAL_PROVIDER, an identities attribute).
	p := newOldPool(t)
	h := p.handler(t)
	for name, u := range map[string]*cip.AdminGetUserOutput{
		"status":     {Username: aws.String("azuread_jane@example.com"), Enabled: true, UserStatus: ciptypes.UserStatusTypeExternalProvider, UserAttributes: attrs("sub", "11111111-2222-4333-8444-555555555555", "email", "jane@example.com")},
		"identities": {Username: aws.String("azuread_jane@example.com"), Enabled: true, UserStatus: ciptypes.UserStatusTypeConfirmed, UserAttributes: attrs("sub", "11111111-2222-4333-8444-555555555555", "email", "jane@example.com", "identities", `[{"providerName":"azuread","userId":"jane@example.com"}]`)},
	} {
		t.Run(name, func(t *testing.T) {
			h.Old = federated{u}
			_, err := h.Handle(context.Background(), event(SourceForgotPassword, "jane@example.com", ""))
			require.EqualError(t, err, RefusalMessage)
			assert.Equal(t, ReasonFederated, p.logs.lastLog(t)["reason"])
		})
	}
}

func TestAnOldPoolThatHangsOrRefusesFailsClosedInTimeAndARetryMigrates(t *testing.T) {
	hang, closeHang, err := emulator.Blackhole()
	require.NoError(t, err)
	defer closeHang()
	refused, err := emulator.Refusing()
	require.NoError(t, err)
	p := newOldPool(t)
	oldSub := p.addUser(t, "jane@example.com", password, nil)

	for _, c := range []struct{ name, url, source string }{
		{"sign-in, pool hangs", hang, SourceAuthentication},
		{"sign-in, connection refused", refused, SourceAuthentication},
		{"reset, pool hangs", hang, SourceForgotPassword},
		{"reset, connection refused", refused, SourceForgotPassword},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", c.url)
			// A hanging pool never answers: that the call returns at all is the handler's
			// budget ending it (the budget's size inside Cognito's 5 s is asserted on main's
			// constants, not timed here).
			out, err := p.handler(t).Handle(context.Background(), event(c.source, "jane@example.com", password))
			require.EqualError(t, err, RefusalMessage)
			assert.Nil(t, out, "nothing to create the user from")
			assert.Equal(t, ReasonOldPoolError, p.logs.lastLog(t)["reason"])
			assertNothingSecretLogged(t, p, "jane@example.com")
		})
	}
	// Cognito retries (and the user tries again): once the old pool answers, the same event migrates.
	out, err := p.handler(t).Handle(context.Background(), event(SourceAuthentication, "jane@example.com", password))
	require.NoError(t, err)
	r, _ := parseResponse(t, out)
	assert.Equal(t, oldSub, r.UserAttributes["custom:legacy_sub"])
}

func TestTwoSignInsAtOnceGetTheSameAnswer(t *testing.T) {
	// The trigger changes nothing itself (Cognito creates the user from its answer), so two
	// concurrent first sign-ins must each get the same complete answer.
	p := newOldPool(t)
	oldSub := p.addUser(t, "jane@example.com", password, nil)
	h := p.handler(t)
	var wg sync.WaitGroup
	results := make([]response, 2)
	errs := make([]error, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := h.Handle(context.Background(), event(SourceAuthentication, "jane@example.com", password))
			errs[i] = err
			if err == nil {
				results[i], _ = parseResponse(t, out)
			}
		}()
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	assert.Equal(t, results[0], results[1])
	assert.Equal(t, oldSub, results[0].UserAttributes["custom:legacy_sub"])
}

func TestInitRefusesIncompleteConfiguration(t *testing.T) {
	log := slog.New(slog.NewJSONHandler(&syncBuffer{}, nil))
	for name, c := range map[string]struct {
		env  map[string]string
		want string
	}{
		"no pool":         {map[string]string{"OLD_USER_POOL_REGION": "us-east-1", "OLD_USER_POOL_CLIENT_ID": "abc"}, "must all be set"},
		"no client":       {map[string]string{"OLD_USER_POOL_ID": "us-east-1_Abc", "OLD_USER_POOL_REGION": "us-east-1"}, "must all be set"},
		"region mismatch": {map[string]string{"OLD_USER_POOL_ID": "us-west-2_Abc", "OLD_USER_POOL_REGION": "us-east-1", "OLD_USER_POOL_CLIENT_ID": "abc"}, `OLD_USER_POOL_ID="us-west-2_Abc": want a pool ID of region us-east-1`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := newHandler(context.Background(), func(k string) string { return c.env[k] }, log)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

// recorder passes calls on to the real client and records which were made.
type recorder struct {
	OldPool
	mu    sync.Mutex
	calls []string
}

func (r *recorder) add(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, name)
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func (r *recorder) AdminInitiateAuth(ctx context.Context, in *cip.AdminInitiateAuthInput, opts ...func(*cip.Options)) (*cip.AdminInitiateAuthOutput, error) {
	r.add("AdminInitiateAuth")
	return r.OldPool.AdminInitiateAuth(ctx, in, opts...)
}

func (r *recorder) AdminGetUser(ctx context.Context, in *cip.AdminGetUserInput, opts ...func(*cip.Options)) (*cip.AdminGetUserOutput, error) {
	r.add("AdminGetUser")
	return r.OldPool.AdminGetUser(ctx, in, opts...)
}

// federated answers AdminGetUser with a federated user (see TestFederatedOldUsersAreNotMigrated).
type federated struct{ user *cip.AdminGetUserOutput }

func (f federated) AdminInitiateAuth(context.Context, *cip.AdminInitiateAuthInput, ...func(*cip.Options)) (*cip.AdminInitiateAuthOutput, error) {
	panic("a federated user has no password to check: the forgot-password path must not sign in")
}

func (f federated) AdminGetUser(context.Context, *cip.AdminGetUserInput, ...func(*cip.Options)) (*cip.AdminGetUserOutput, error) {
	return f.user, nil
}

func attrs(kv ...string) []ciptypes.AttributeType {
	var out []ciptypes.AttributeType
	for i := 0; i < len(kv); i += 2 {
		out = append(out, ciptypes.AttributeType{Name: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return out
}

func TestAnOldUserWhoseEmailWasNeverVerifiedIsNotMigrated(t *testing.T) {
	// The new pool marks a migrated email verified and, after a forgot-password migration,
	// mails the reset code to it. An address the old pool never verified proves nothing: taking
	// such a user over would let whoever reads that mailbox (not necessarily the account's
	// holder) reset the password, or hand a sign-in a verified email the old pool never checked.
	p := newOldPool(t)
	p.addUser(t, "unverified@example.com", password, nil)
	_, err := p.idp.AdminUpdateUserAttributes(context.Background(), &cip.AdminUpdateUserAttributesInput{
		UserPoolId: aws.String(p.id), Username: aws.String("unverified@example.com"),
		UserAttributes: attrs("email_verified", "false"),
	})
	require.NoError(t, err)
	// A self sign-up never confirmed (UNCONFIRMED), even with the address marked verified by an admin.
	_, err = p.idp.SignUp(context.Background(), &cip.SignUpInput{
		ClientId: aws.String(p.client), Username: aws.String("pending@example.com"), Password: aws.String(password),
		UserAttributes: attrs("email", "pending@example.com"),
	})
	require.NoError(t, err)
	_, err = p.idp.AdminUpdateUserAttributes(context.Background(), &cip.AdminUpdateUserAttributesInput{
		UserPoolId: aws.String(p.id), Username: aws.String("pending@example.com"),
		UserAttributes: attrs("email_verified", "true"),
	})
	require.NoError(t, err)
	h := p.handler(t)

	for _, c := range []struct{ name, source, user, reason string }{
		{"unverified, signing in", SourceAuthentication, "unverified@example.com", ReasonEmailUnverified},
		{"unverified, asking for a reset", SourceForgotPassword, "unverified@example.com", ReasonEmailUnverified},
		{"unconfirmed, asking for a reset", SourceForgotPassword, "pending@example.com", ReasonStatus},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := h.Handle(context.Background(), event(c.source, c.user, password))
			require.EqualError(t, err, RefusalMessage)
			assert.Nil(t, out)
			assert.Equal(t, c.reason, p.logs.lastLog(t)["reason"])
			assertNothingSecretLogged(t, p, c.user)
		})
	}
}
