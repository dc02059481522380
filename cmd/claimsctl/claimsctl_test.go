package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

func TestUserAddCreatesTheUserAndClaimsTheLambdaAccepts(t *testing.T) {
	d := deploy(t)
	out, errOut, code := d.ctl(t, "", "user", "add", "Alice@Example.com", "--roles", "viewer,editor", "--default-role", "editor", "--set", "x-hasura-org-id=7", "--json")
	require.Equal(t, exitOK, code, errOut)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	assert.Equal(t, "alice@example.com", res["email"])

	u, ok := d.user(t, "alice@example.com")
	require.True(t, ok)
	assert.Equal(t, "true", attr(u.UserAttributes, "email_verified"))
	sub := attr(u.UserAttributes, "sub")
	assert.Equal(t, sub, res["sub"])

	c, err := d.tokenClaims(t, "alice@example.com")
	require.NoError(t, err, "the Lambda's code path reads the claims")
	assert.Equal(t, sub, c[claims.UserID], "x-hasura-user-id is the Cognito sub (stored as cognito_uuid)")
	assert.Equal(t, "editor", c[claims.DefaultRole])
	assert.Equal(t, []string{"viewer", "editor"}, c[claims.AllowedRoles])
	assert.Equal(t, "7", c["x-hasura-org-id"])

	_, errOut, code = d.ctl(t, "", "user", "add", "alice@example.com", "--roles", "viewer", "--default-role", "viewer")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "already has claims")
}

func TestUserAddWithATemporaryPasswordFromStdin(t *testing.T) {
	d := deploy(t)
	_, errOut, code := d.ctl(t, "Temp-Passw0rd!x\n", "user", "add", "bob@example.com", "--roles", "viewer", "--default-role", "viewer", "--temporary-password-stdin")
	require.Equal(t, exitOK, code, errOut)
	u, ok := d.user(t, "bob@example.com")
	require.True(t, ok)
	assert.Equal(t, "FORCE_CHANGE_PASSWORD", string(u.UserStatus))
}

func TestUserAddUndoesTheUserWhenClaimsCannotBeWritten(t *testing.T) {
	d := deploy(t)
	// A real failure between the two writes: the table disappears.
	faultHook = func(point string) error {
		if point == "user-add:user-created" {
			_, err := d.db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(d.table)})
			require.NoError(t, err)
		}
		return nil
	}
	defer func() { faultHook = nil }()
	_, errOut, code := d.ctl(t, "", "user", "add", "carol@example.com", "--roles", "viewer", "--default-role", "viewer")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "the new Cognito user was removed again, nothing was changed")
	_, exists := d.user(t, "carol@example.com")
	assert.False(t, exists, "the first step was undone")
}

func TestUserAddReportsTheStateWhenTheUndoFailsToo(t *testing.T) {
	d := deploy(t)
	faultHook = func(point string) error {
		if point == "user-add:user-created" {
			ctx := context.Background()
			_, err := d.db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(d.table)})
			require.NoError(t, err)
			_, err = d.idp.DeleteUserPool(ctx, &cip.DeleteUserPoolInput{UserPoolId: aws.String(d.pool)})
			require.NoError(t, err)
		}
		return nil
	}
	defer func() { faultHook = nil }()
	_, errOut, code := d.ctl(t, "", "user", "add", "dan@example.com", "--roles", "viewer", "--default-role", "viewer")
	assert.Equal(t, exitPartial, code)
	assert.Contains(t, errOut, "INCOMPLETE")
	assert.Contains(t, errOut, "the user exists without claims and cannot get a token")
	assert.Contains(t, errOut, "claimsctl user remove dan@example.com")
}

func TestUserDisableEnableRemoveKeepCognitoAndClaimsConsistent(t *testing.T) {
	d := deploy(t)
	_, errOut, code := d.ctl(t, "", "user", "add", "erin@example.com", "--roles", "viewer", "--default-role", "viewer")
	require.Equal(t, exitOK, code, errOut)

	_, errOut, code = d.ctl(t, "", "user", "disable", "erin@example.com")
	require.Equal(t, exitOK, code, errOut)
	u, _ := d.user(t, "erin@example.com")
	assert.False(t, u.Enabled)
	_, err := d.tokenClaims(t, "erin@example.com")
	assert.NoError(t, err, "claims are kept while disabled")

	_, errOut, code = d.ctl(t, "", "user", "enable", "erin@example.com")
	require.Equal(t, exitOK, code, errOut)
	u, _ = d.user(t, "erin@example.com")
	assert.True(t, u.Enabled)

	// Without claims, enabling is refused and the user stays disabled.
	_, _, code = d.ctl(t, "", "user", "disable", "erin@example.com")
	require.Equal(t, exitOK, code)
	_, _, code = d.ctl(t, "", "claims", "delete", "erin@example.com")
	require.Equal(t, exitOK, code)
	_, errOut, code = d.ctl(t, "", "user", "enable", "erin@example.com")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "has no claims")
	u, _ = d.user(t, "erin@example.com")
	assert.False(t, u.Enabled)

	_, _, code = d.ctl(t, "", "claims", "put", "erin@example.com", "--roles", "viewer", "--default-role", "viewer")
	require.Equal(t, exitOK, code)
	_, errOut, code = d.ctl(t, "", "user", "remove", "erin@example.com")
	require.Equal(t, exitOK, code, errOut)
	_, exists := d.user(t, "erin@example.com")
	assert.False(t, exists)
	_, err = d.tokenClaims(t, "erin@example.com")
	assert.Error(t, err, "claims removed with the user")

	_, errOut, code = d.ctl(t, "", "user", "disable", "nobody@example.com")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "no Cognito user nobody@example.com")
}

// passwordSignIn signs email in through moto's Cognito (ADMIN_USER_PASSWORD_AUTH) and returns a
// function that tries a refresh with the refresh token it got: nil while the token still works.
func (d *deployment) passwordSignIn(t *testing.T, email string) func() error {
	t.Helper()
	ctx := context.Background()
	cl, err := d.idp.CreateUserPoolClient(ctx, &cip.CreateUserPoolClientInput{UserPoolId: aws.String(d.pool), ClientName: aws.String("test"),
		ExplicitAuthFlows: []ciptypes.ExplicitAuthFlowsType{ciptypes.ExplicitAuthFlowsTypeAllowAdminUserPasswordAuth, ciptypes.ExplicitAuthFlowsTypeAllowRefreshTokenAuth}})
	require.NoError(t, err)
	_, err = d.idp.AdminSetUserPassword(ctx, &cip.AdminSetUserPasswordInput{UserPoolId: aws.String(d.pool), Username: aws.String(email), Password: aws.String("Correct-Horse-9"), Permanent: true})
	require.NoError(t, err)
	auth, err := d.idp.AdminInitiateAuth(ctx, &cip.AdminInitiateAuthInput{UserPoolId: aws.String(d.pool), ClientId: cl.UserPoolClient.ClientId,
		AuthFlow: ciptypes.AuthFlowTypeAdminUserPasswordAuth, AuthParameters: map[string]string{"USERNAME": email, "PASSWORD": "Correct-Horse-9"}})
	require.NoError(t, err)
	refresh := aws.ToString(auth.AuthenticationResult.RefreshToken)
	require.NotEmpty(t, refresh)
	return func() error {
		_, err := d.idp.AdminInitiateAuth(ctx, &cip.AdminInitiateAuthInput{UserPoolId: aws.String(d.pool), ClientId: cl.UserPoolClient.ClientId,
			AuthFlow: ciptypes.AuthFlowTypeRefreshTokenAuth, AuthParameters: map[string]string{"REFRESH_TOKEN": refresh}})
		return err
	}
}

// TestUserRemoveSignsOutFirstAndARetryAfterAFailureAtEachCallCompletes: user remove revokes the
// user's refresh tokens (AdminUserGlobalSignOut) before deleting the user. A failure at each of
// its AWS calls in turn leaves either nothing changed or a user who cannot get a token, and a
// rerun completes.
func TestUserRemoveSignsOutFirstAndARetryAfterAFailureAtEachCallCompletes(t *testing.T) {
	for _, tc := range []struct {
		point   string
		code    int
		message string
	}{
		{"user-remove:get-user", exitFailed, "nothing was changed"},
		{"user-remove:get-claims", exitFailed, "nothing was changed"},
		{"tombstone:floor-raised", exitPartial, "revoked the claims of fay@example.com (a floor in the key secret) but did not delete them"},
		{"user-remove:delete-claims", exitPartial, "revoked the claims of fay@example.com (a floor in the key secret) but could not delete them"},
		{"sign-out", exitPartial, "could not sign them out"},
		{"user-remove:delete-user", exitPartial, "signed them out, but not the Cognito user"},
	} {
		t.Run(tc.point, func(t *testing.T) {
			d := deploy(t)
			_, errOut, code := d.ctl(t, "", "user", "add", "fay@example.com", "--roles", "viewer", "--default-role", "viewer")
			require.Equal(t, exitOK, code, errOut)
			refresh := d.passwordSignIn(t, "fay@example.com")
			require.NoError(t, refresh(), "signed in: the refresh token works")

			var seen []string
			faultHook = func(p string) error {
				seen = append(seen, p)
				if p == tc.point {
					return errors.New("injected: connection reset")
				}
				return nil
			}
			_, errOut, code = d.ctl(t, "", "user", "remove", "fay@example.com")
			faultHook = nil
			assert.Equal(t, tc.code, code, errOut)
			assert.Contains(t, errOut, tc.message)
			assert.Contains(t, errOut, "injected: connection reset")
			_, exists := d.user(t, "fay@example.com")
			assert.True(t, exists, "the user is deleted last")
			_, err := d.tokenClaims(t, "fay@example.com")
			if tc.code == exitFailed {
				assert.NoError(t, err, "nothing was changed")
				assert.NoError(t, refresh(), "nothing was changed")
			} else {
				assert.Error(t, err, "the claims went first: fail closed")
			}
			if tc.point == "user-remove:delete-user" {
				assert.Error(t, refresh(), "signed out before the delete: the refresh token is revoked while the user still exists")
				assert.Equal(t, []string{"user-remove:get-user", "user-remove:get-claims", "tombstone:floor-raised", "user-remove:delete-claims", "sign-out", "user-remove:delete-user"}, seen,
					"the calls, in order: look up, read claims, revoke older claims, delete claims, sign out, delete user")
			}

			out, errOut, code := d.ctl(t, "", "user", "remove", "fay@example.com")
			require.Equal(t, exitOK, code, "a rerun completes: %s", errOut)
			assert.Contains(t, out, "signed them out everywhere first")
			_, exists = d.user(t, "fay@example.com")
			assert.False(t, exists)
			_, err = d.tokenClaims(t, "fay@example.com")
			assert.Error(t, err)
			assert.Error(t, refresh())
		})
	}
}

func TestClaimsPutGetDeleteAndRoleChanges(t *testing.T) {
	d := deploy(t)
	_, _, code := d.ctl(t, "", "user", "add", "gus@example.com", "--roles", "viewer", "--default-role", "viewer")
	require.Equal(t, exitOK, code)
	u, _ := d.user(t, "gus@example.com")

	_, errOut, code := d.ctl(t, "", "claims", "put", "gus@example.com", "--roles", "viewer,admin", "--default-role", "admin")
	require.Equal(t, exitOK, code, errOut)
	c, err := d.tokenClaims(t, "gus@example.com")
	require.NoError(t, err)
	assert.Equal(t, []string{"viewer", "admin"}, c[claims.AllowedRoles])
	assert.Equal(t, attr(u.UserAttributes, "sub"), c[claims.UserID], "the user id survives a claims change")

	out, errOut, code := d.ctl(t, "", "claims", "get", "gus@example.com")
	require.Equal(t, exitOK, code, errOut)
	assert.JSONEq(t, `{"x-hasura-allowed-roles":["viewer","admin"],"x-hasura-default-role":"admin"}`, out)

	// From a file, validated the same way.
	f := filepath.Join(t.TempDir(), "claims.json")
	require.NoError(t, os.WriteFile(f, []byte(`{"x-hasura-default-role":"viewer","x-hasura-allowed-roles":["viewer"],"x-hasura-org-id":"9"}`), 0o600))
	_, errOut, code = d.ctl(t, "", "claims", "put", "gus@example.com", "--file", f)
	require.Equal(t, exitOK, code, errOut)
	out, _, _ = d.ctl(t, "", "claims", "get", "gus@example.com")
	assert.Contains(t, out, `"x-hasura-org-id": "9"`)

	_, _, code = d.ctl(t, "", "claims", "delete", "gus@example.com")
	require.Equal(t, exitOK, code)
	_, errOut, code = d.ctl(t, "", "claims", "delete", "gus@example.com")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "no claims for gus@example.com")
	_, errOut, code = d.ctl(t, "", "claims", "get", "gus@example.com")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "no claims for gus@example.com")
}

func TestBadInputIsRefusedAndNothingIsWritten(t *testing.T) {
	d := deploy(t)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"malformed email", []string{"user", "add", "not-an-email", "--roles", "viewer", "--default-role", "viewer"}, exitUsage, "not a plain email address"},
		{"non-ASCII email", []string{"user", "add", "ADM\u0130N@example.com", "--roles", "viewer", "--default-role", "viewer"}, exitUsage, "non-ASCII character"},
		{"IP-literal email", []string{"claims", "put", "admin@[10.0.0.1]", "--roles", "viewer", "--default-role", "viewer"}, exitUsage, "IP-literal"},
		{"user id set by hand", []string{"claims", "put", "eve@example.com", "--roles", "viewer", "--default-role", "viewer", "--set", "x-hasura-user-id=admin"}, exitUsage, "x-hasura-user-id is set by the trigger"},
		{"workers out of range", []string{"claims", "verify", "--workers", "0"}, exitUsage, "--workers 0: want 1 to 256"},
		{"resume with arguments", []string{"key", "rotate", "extra"}, exitUsage, "takes no arguments"},
		{"display-name email", []string{"user", "add", "Eve <eve@example.com>", "--roles", "viewer", "--default-role", "viewer"}, exitUsage, "email refused"},
		{"unknown role as default", []string{"user", "add", "eve@example.com", "--roles", "viewer", "--default-role", "admin"}, exitUsage, "x-hasura-default-role is not one of x-hasura-allowed-roles"},
		{"empty roles", []string{"user", "add", "eve@example.com", "--roles", " , ", "--default-role", "viewer"}, exitUsage, "x-hasura-allowed-roles must be a non-empty array"},
		{"no roles", []string{"user", "add", "eve@example.com"}, exitUsage, "--roles is required"},
		{"bad role name", []string{"claims", "put", "eve@example.com", "--roles", "view er", "--default-role", "view er"}, exitUsage, "must be a role name"},
		{"bad --set", []string{"claims", "put", "eve@example.com", "--roles", "viewer", "--default-role", "viewer", "--set", "org=1"}, exitUsage, `key "org" is not an x-hasura-* session variable`},
		{"extra argument", []string{"claims", "get", "eve@example.com", "other@example.com"}, exitUsage, "want EMAIL"},
		{"unknown flag", []string{"claims", "list", "--rolez", "x"}, exitUsage, "flag provided but not defined: -rolez"},
		{"unknown command", []string{"users", "add"}, exitUsage, `unknown command "users"`},
		{"unknown subcommand", []string{"user", "create", "eve@example.com"}, exitUsage, `unknown subcommand "create" of user`},
		{"import key as argument", []string{"key", "import"}, exitUsage, "pass --stdin"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errOut, code := d.ctl(t, "", c.args...)
			assert.Equal(t, c.code, code, errOut)
			assert.Contains(t, errOut, c.want)
		})
	}
	_, errOut, code := d.ctl(t, "not-a-fernet-key\n", "key", "import", "--stdin")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "not a Fernet key")
	assert.NotContains(t, errOut, "not-a-fernet-key", "the key is never echoed")

	assert.Equal(t, 0, d.itemCount(t), "nothing was written")
	users, err := d.idp.ListUsers(context.Background(), &cip.ListUsersInput{UserPoolId: aws.String(d.pool)})
	require.NoError(t, err)
	assert.Empty(t, users.Users, "no Cognito user was created")
	assert.Equal(t, 1, d.ring(t).Len(), "the key ring is unchanged")
}

func TestEnvironmentProblemsNameTheResourceAndTheNextStep(t *testing.T) {
	d := deploy(t)
	_, errOut, code := ctlRaw(t, "", "claims", "list", "--project", project, "--env", "nope")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "stack ctltest-nope-identity does not exist in us-east-1: deploy it (make deploy ENV=nope)")

	_, errOut, code = d.ctl(t, "", "claims", "list", "--region", "eu-west-1")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "does not exist in eu-west-1", "a wrong region is named")

	_, errOut, code = ctlRaw(t, "", "claims", "list", "--project", project)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "pass --env NAME")

	// An unreadable key secret: the user is not created.
	_, errOut, code = d.ctl(t, "", "user", "add", "hal@example.com", "--roles", "viewer", "--default-role", "viewer", "--key-secret", "does-not-exist")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "read claims key secret does-not-exist")
	_, exists := d.user(t, "hal@example.com")
	assert.False(t, exists)
	assert.Equal(t, 0, d.itemCount(t))

	// Every resource given by flag: no stack needed at all.
	out, errOut, code := ctlRaw(t, "", "claims", "list", "--table", d.table, "--key-secret", d.secretArn, "--json")
	require.Equal(t, exitOK, code, errOut)
	assert.JSONEq(t, `[]`, out)
}

func TestClaimsListPagesAndVerifyCountsFailures(t *testing.T) {
	d := deploy(t)
	ring := d.ring(t)
	good, _ := ring.Encrypt([]byte(`{"x-hasura-default-role":"viewer","x-hasura-allowed-roles":["viewer"]}`))
	for i := 0; i < 230; i++ { // more than two scan pages
		d.putToken(t, fmt.Sprintf("user%03d@example.com", i), good)
	}
	out, errOut, code := d.ctl(t, "", "claims", "list", "--json")
	require.Equal(t, exitOK, code, errOut)
	var rows []map[string]string
	require.NoError(t, json.Unmarshal([]byte(out), &rows))
	require.Len(t, rows, 230)
	assert.Equal(t, map[string]string{"user_id": "user000@example.com", "default_role": "viewer", "allowed_roles": "viewer", "binding": "unbound", "status": "ok"}, rows[0])

	out, _, code = d.ctl(t, "", "claims", "list")
	require.Equal(t, exitOK, code)
	assert.True(t, strings.HasPrefix(out, "USER_ID"), "a table for people")

	_, errOut, code = d.ctl(t, "", "claims", "verify")
	require.Equal(t, exitOK, code, errOut)

	d.putToken(t, "garbled@example.com", "gAAAAAB-garbled")
	bad, _ := ring.Encrypt([]byte(`{"x-hasura-default-role":"admin","x-hasura-allowed-roles":["viewer"]}`))
	d.putToken(t, "invalid@example.com", bad)
	out, errOut, code = d.ctl(t, "", "claims", "verify")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, out, "232 items, 2 failed: garbled@example.com, invalid@example.com; 230 unbound")
	assert.Contains(t, errOut, "2 of 232 items fail to decrypt or validate")
}

func (d *deployment) param_(t *testing.T, name string) (string, bool) {
	t.Helper()
	out, err := d.ps.GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	var nf *ssmtypes.ParameterNotFound
	if errors.As(err, &nf) {
		return "", false
	}
	require.NoError(t, err)
	assert.Equal(t, ssmtypes.ParameterTypeSecureString, out.Parameter.Type)
	return aws.ToString(out.Parameter.Value), true
}

func TestApiKeyRotatesWithAnOverlapWindowAndNeverPrintsTheKey(t *testing.T) {
	d := deploy(t)
	before, _ := d.param_(t, d.param)
	out, errOut, code := d.ctl(t, "", "apikey", "rotate")
	require.Equal(t, exitOK, code, errOut)
	after, _ := d.param_(t, d.param)
	prev, ok := d.param_(t, d.param+"-previous")
	require.True(t, ok, "the previous key stays readable for the backend")
	assert.Equal(t, before, prev)
	assert.NotEqual(t, before, after)
	assert.Len(t, after, 43, "32 random bytes, base64url")
	assert.NotContains(t, out+errOut, after, "the key is never printed")
	assert.NotContains(t, out+errOut, before)
	// moto's ECS accepts UpdateService(ForceNewDeployment) but models no new deployment, so the
	// redeploy is asserted through the output and the fault test below, not the service state.
	assert.Regexp(t, `(?s)1\. copied the current event API key to .*-previous.*2\. wrote a new event API key.*3\. started a new deployment of `+d.service+`.*apikey retire-previous`, out, "the order of operations is printed")

	out, errOut, code = d.ctl(t, "", "apikey", "retire-previous")
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "only the current event API key")
	_, ok = d.param_(t, d.param+"-previous")
	assert.False(t, ok, "the overlap window is closed")
	cur, _ := d.param_(t, d.param)
	assert.Equal(t, after, cur)
	out, _, code = d.ctl(t, "", "apikey", "retire-previous")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "nothing to retire")

	// A missing service: the message says so, never <nil>, and nothing is changed.
	_, errOut, code = d.ctl(t, "", "apikey", "rotate", "--service", "missing")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "find Hasura service missing in cluster "+d.cluster)
	assert.NotContains(t, errOut, "<nil>")
	assert.Contains(t, errOut, "nothing was changed")
	cur, _ = d.param_(t, d.param)
	assert.Equal(t, after, cur)
	_, ok = d.param_(t, d.param+"-previous")
	assert.False(t, ok)
}

// TestTwoApiKeyRotationsAtOnceSerialize: two rotations started together run one after the
// other, and the second finds the first one's overlap window open: it refuses, naming the next
// step, so -previous keeps the value the tasks started before the first rotation still send.
func TestTwoApiKeyRotationsAtOnceSerialize(t *testing.T) {
	d := deploy(t)
	orig, _ := d.param_(t, d.param)
	var wg sync.WaitGroup
	codes := make([]int, 2)
	errs := make([]string, 2)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i], codes[i] = d.ctl(t, "", "apikey", "rotate")
		}()
	}
	wg.Wait()
	assert.ElementsMatch(t, []int{exitOK, exitFailed}, codes, "%q", errs)
	refused := errs[0] + errs[1]
	assert.Contains(t, refused, "an overlap window is open")
	assert.Contains(t, refused, "apikey retire-previous")
	assert.Contains(t, refused, "nothing was changed")
	cur, _ := d.param_(t, d.param)
	prev, _ := d.param_(t, d.param+"-previous")
	assert.Equal(t, orig, prev, "the key the tasks from before the rotation send is still accepted")
	assert.NotEqual(t, orig, cur)
	hist, err := d.ps.GetParameterHistory(context.Background(), &ssm.GetParameterHistoryInput{Name: aws.String(d.param), WithDecryption: aws.Bool(true)})
	require.NoError(t, err)
	assert.Len(t, hist.Parameters, 2, "original and one rotation")
}

// TestApiKeyRotateTwiceInARowKeepsTheOverlap: a second rotate before retire-previous would copy
// the first rotation's new value over -previous and drop the key that the tasks started before
// the first rotation still send (they run until the first deployment finishes). It is refused;
// after retire-previous the next rotation runs.
func TestApiKeyRotateTwiceInARowKeepsTheOverlap(t *testing.T) {
	d := deploy(t)
	orig, _ := d.param_(t, d.param)
	_, errOut, code := d.ctl(t, "", "apikey", "rotate")
	require.Equal(t, exitOK, code, errOut)
	first, _ := d.param_(t, d.param)

	out, errOut, code := d.ctl(t, "", "apikey", "rotate")
	assert.Equal(t, exitFailed, code, out)
	assert.Contains(t, errOut, "an overlap window is open: "+d.param+"-previous")
	assert.Contains(t, errOut, "claimsctl apikey retire-previous")
	assert.NotContains(t, errOut, first)
	assert.NotContains(t, errOut, orig)
	cur, _ := d.param_(t, d.param)
	prev, _ := d.param_(t, d.param+"-previous")
	assert.Equal(t, first, cur, "nothing was changed")
	assert.Equal(t, orig, prev, "nothing was changed")

	_, errOut, code = d.ctl(t, "", "apikey", "retire-previous")
	require.Equal(t, exitOK, code, errOut)
	_, errOut, code = d.ctl(t, "", "apikey", "rotate")
	require.Equal(t, exitOK, code, errOut)
	prev, _ = d.param_(t, d.param+"-previous")
	assert.Equal(t, first, prev)
}

// TestApiKeyRotateInterruptedAtEachCallLeavesAWorkingPair stops apikey rotate before each of
// its writes: the key the running tasks send is always the current or the previous value, and
// following the message's instruction completes the rotation.
func TestApiKeyRotateInterruptedAtEachCallLeavesAWorkingPair(t *testing.T) {
	for _, point := range []string{"apikey:before-previous", "apikey:before-current", "apikey:before-deploy"} {
		t.Run(point, func(t *testing.T) {
			d := deploy(t)
			sent, _ := d.param_(t, d.param) // what the running Hasura tasks send
			faultHook = func(p string) error {
				if p == point {
					return errors.New("injected: throttled")
				}
				return nil
			}
			_, errOut, code := d.ctl(t, "", "apikey", "rotate")
			faultHook = nil
			assert.NotEqual(t, exitOK, code)
			assert.Contains(t, errOut, "injected: throttled")
			cur, _ := d.param_(t, d.param)
			prev, _ := d.param_(t, d.param+"-previous")
			assert.Contains(t, []string{cur, prev}, sent, "the backend still accepts what the tasks send")

			if point == "apikey:before-deploy" {
				assert.Equal(t, exitPartial, code)
				assert.Contains(t, errOut, "--force-new-deployment (not apikey rotate again")
				return
			}
			assert.Equal(t, exitFailed, code)
			assert.Contains(t, errOut, "the current key is unchanged")
			_, errOut, code = d.ctl(t, "", "apikey", "rotate")
			require.Equal(t, exitOK, code, errOut)
			cur, _ = d.param_(t, d.param)
			prev, _ = d.param_(t, d.param+"-previous")
			assert.Equal(t, sent, prev, "after the rerun the tasks' key is the previous one")
			assert.NotEqual(t, sent, cur)
		})
	}
}

func TestUserCommandsRefuseWhatDoesNotExistAndSignOutOnDisable(t *testing.T) {
	d := deploy(t)
	_, errOut, code := d.ctl(t, "", "user", "remove", "ghost@example.com")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "no Cognito user ghost@example.com")
	assert.Contains(t, errOut, "nothing to remove")
	assert.NotContains(t, errOut, "removed ghost")

	_, errOut, code = d.ctl(t, "", "user", "add", "ivy@example.com", "--roles", "viewer", "--default-role", "viewer")
	require.Equal(t, exitOK, code, errOut)
	var signedOut []string
	faultHook = func(p string) error {
		if p == "sign-out" {
			signedOut = append(signedOut, p)
			return errors.New("injected: sign-out failed")
		}
		return nil
	}
	_, errOut, code = d.ctl(t, "", "user", "disable", "ivy@example.com")
	faultHook = nil
	assert.Equal(t, exitPartial, code, "disabled but not signed out is not done")
	assert.Contains(t, errOut, "their refresh tokens still work until they expire; rerun claimsctl user disable ivy@example.com")
	out, errOut, code := d.ctl(t, "", "user", "disable", "ivy@example.com")
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "signed them out everywhere")
	assert.Equal(t, []string{"sign-out"}, signedOut)
}

func TestClaimsPutKeepsAMovedUsersHasuraIDAndRebindsAReusedEmail(t *testing.T) {
	d := deploy(t)
	ring := d.ring(t)
	c, _ := claims.New([]string{"viewer"}, "viewer", nil)
	// A user moved from another pool: Hasura user id = old pool's sub, identity = no Cognito user yet.
	tok, err := claims.SealFor(ring, c, claims.Binding{UserID: "moved@example.com", HasuraUserID: "old-pool-sub"})
	require.NoError(t, err)
	d.putToken(t, "moved@example.com", tok)
	_, errOut, code := d.ctl(t, "", "claims", "put", "moved@example.com", "--roles", "viewer,editor", "--default-role", "editor")
	require.Equal(t, exitOK, code, errOut)
	assert.Positive(t, d.generation(t, "moved@example.com"), "every write carries a generation")
	assert.Equal(t, &claims.Binding{UserID: "moved@example.com", HasuraUserID: "old-pool-sub"}, d.binding(t, "moved@example.com"))

	// An item bound to a previous owner of the email: claims put binds it to the current user only.
	tok, err = claims.SealFor(ring, c, claims.Binding{UserID: "reused@example.com", Identity: "previous-owner", HasuraUserID: "previous-owner"})
	require.NoError(t, err)
	d.putToken(t, "reused@example.com", tok)
	_, err = d.idp.AdminCreateUser(context.Background(), &cip.AdminCreateUserInput{UserPoolId: aws.String(d.pool), Username: aws.String("reused@example.com")})
	require.NoError(t, err)
	u, _ := d.user(t, "reused@example.com")
	out, errOut, code := d.ctl(t, "", "claims", "put", "reused@example.com", "--roles", "viewer", "--default-role", "viewer")
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "now bound to the current user")
	assert.Equal(t, &claims.Binding{UserID: "reused@example.com", Identity: attr(u.UserAttributes, "sub")}, d.binding(t, "reused@example.com"))
}

func TestHelpAtEveryLevel(t *testing.T) {
	out, _, code := ctlRaw(t, "", "--help")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "Exit codes:")
	for _, group := range []string{"user", "claims", "key", "apikey"} {
		out, _, code := ctlRaw(t, "", group, "--help")
		assert.Equal(t, exitOK, code, group)
		assert.Contains(t, out, "Usage: claimsctl "+group)
	}
	for _, c := range commands {
		out, errOut, code := ctlRaw(t, "", c.group, c.name, "--help")
		assert.Equal(t, exitOK, code, "%s %s: %s", c.group, c.name, errOut)
		assert.Contains(t, out, "Usage: claimsctl "+c.group+" "+c.name)
	}
	out, _, _ = ctlRaw(t, "", "user", "add", "--help")
	assert.Contains(t, out, "--default-role")
	_, _, code = ctlRaw(t, "")
	assert.Equal(t, exitUsage, code)
}
