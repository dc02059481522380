package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

const refusal = "Sign-in is not available for this account. Contact your administrator."

var userSeq atomic.Int64

// newUser creates a user through claimsctl with a temporary password and completes the first
// sign-in (the NEW_PASSWORD_REQUIRED challenge), as a new user would. It returns the email, the
// password and the tokens of that first sign-in. (cognito-local does not accept the refresh
// token of a challenge response: tests that refresh sign in with the password first.)
func newUser(t *testing.T, roles, def string) (string, string, *ciptypes.AuthenticationResultType) {
	t.Helper()
	email := fmt.Sprintf("user%d@example.com", userSeq.Add(1))
	out, err := ctl(t, "Temporary-Passw0rd!\n", "user", "add", email, "--roles", roles, "--default-role", def, "--temporary-password-stdin")
	require.NoError(t, err, out)

	ctx := context.Background()
	idp := env.Cognito()
	first, err := idp.InitiateAuth(ctx, &cip.InitiateAuthInput{
		AuthFlow: ciptypes.AuthFlowTypeUserPasswordAuth, ClientId: aws.String(env.ClientID),
		AuthParameters: map[string]string{"USERNAME": email, "PASSWORD": "Temporary-Passw0rd!"},
	})
	require.NoError(t, err)
	require.Equal(t, ciptypes.ChallengeNameTypeNewPasswordRequired, first.ChallengeName)
	password := "Permanent-Passw0rd!" + email
	done, err := idp.RespondToAuthChallenge(ctx, &cip.RespondToAuthChallengeInput{
		ClientId: aws.String(env.ClientID), ChallengeName: ciptypes.ChallengeNameTypeNewPasswordRequired, Session: first.Session,
		ChallengeResponses: map[string]string{"USERNAME": email, "NEW_PASSWORD": password},
	})
	require.NoError(t, err, "the first sign-in (TokenGeneration_NewPasswordChallenge) gets tokens")
	return email, password, done.AuthenticationResult
}

func signIn(email, password string) (*ciptypes.AuthenticationResultType, error) {
	out, err := env.Cognito().InitiateAuth(context.Background(), &cip.InitiateAuthInput{
		AuthFlow: ciptypes.AuthFlowTypeUserPasswordAuth, ClientId: aws.String(env.ClientID),
		AuthParameters: map[string]string{"USERNAME": email, "PASSWORD": password},
	})
	if err != nil {
		return nil, err
	}
	return out.AuthenticationResult, nil
}

func refresh(refreshToken string) (*ciptypes.AuthenticationResultType, error) {
	out, err := env.Cognito().InitiateAuth(context.Background(), &cip.InitiateAuthInput{
		AuthFlow: ciptypes.AuthFlowTypeRefreshTokenAuth, ClientId: aws.String(env.ClientID),
		AuthParameters: map[string]string{"REFRESH_TOKEN": refreshToken},
	})
	if err != nil {
		return nil, err
	}
	return out.AuthenticationResult, nil
}

func sub(t *testing.T, email string) string {
	t.Helper()
	u, err := env.Cognito().AdminGetUser(context.Background(), &cip.AdminGetUserInput{UserPoolId: aws.String(env.PoolID), Username: aws.String(email)})
	require.NoError(t, err)
	for _, a := range u.UserAttributes {
		if aws.ToString(a.Name) == "sub" {
			return aws.ToString(a.Value)
		}
	}
	t.Fatalf("%s has no sub", email)
	return ""
}

// verifyAsHasura checks a token the way Hasura does with the synthesized JWT configuration:
// RS256 signature against the keys at jwk_url, issuer, audience (when configured), expiry, then
// the claims namespace as stringified JSON. It returns the Hasura claims.
func verifyAsHasura(t *testing.T, cfg jwtSecret, token string, opts ...jwt.ValidateOption) (map[string]any, error) {
	t.Helper()
	require.Equal(t, "RS256", cfg.Type)
	require.Equal(t, "stringified_json", cfg.ClaimsFormat)
	keys, err := jwk.Fetch(context.Background(), cfg.JwkURL)
	require.NoError(t, err, "fetch the JWKS from %s", cfg.JwkURL)
	parse := []jwt.ParseOption{jwt.WithKeySet(keys), jwt.WithValidate(true), jwt.WithIssuer(cfg.Issuer)}
	if cfg.Audience != "" {
		parse = append(parse, jwt.WithAudience(cfg.Audience))
	}
	for _, o := range opts {
		parse = append(parse, o)
	}
	tok, err := jwt.ParseString(token, parse...)
	if err != nil {
		return nil, err
	}
	var stringified string
	if err := tok.Get(claims.Namespace, &stringified); err != nil {
		return nil, fmt.Errorf("the token has no %s string claim: %w", claims.Namespace, err)
	}
	var hc map[string]any
	if err := json.Unmarshal([]byte(stringified), &hc); err != nil {
		return nil, fmt.Errorf("the claims are not stringified JSON: %w", err)
	}
	allowed, _ := hc[claims.AllowedRoles].([]any)
	def, _ := hc[claims.DefaultRole].(string)
	found := false
	for _, r := range allowed {
		found = found || r == def
	}
	if !found {
		return nil, fmt.Errorf("x-hasura-default-role %q is not among %v", def, allowed)
	}
	return hc, nil
}

func TestSynthesizedJWTSecretIsTheCognitoPoolConfiguration(t *testing.T) {
	assert.Equal(t, jwtSecret{
		Type:         "RS256",
		JwkURL:       "https://cognito-idp.us-east-1.amazonaws.com/" + env.PoolID + "/.well-known/jwks.json",
		ClaimsFormat: "stringified_json",
		Issuer:       "https://cognito-idp.us-east-1.amazonaws.com/" + env.PoolID,
		Audience:     env.ClientID,
	}, rawSecret, "read from cdk.out, before pointing it at the emulator")
	assert.Equal(t, env.Issuer(), synthesized.Issuer)
}

func TestASignedInUserGetsATokenHasuraAccepts(t *testing.T) {
	email, password, first := newUser(t, "viewer,editor", "editor")
	want := map[string]any{
		"x-hasura-user-id":       sub(t, email),
		"x-hasura-default-role":  "editor",
		"x-hasura-allowed-roles": []any{"viewer", "editor"},
	}
	got, err := verifyAsHasura(t, synthesized, aws.ToString(first.IdToken))
	require.NoError(t, err, "first sign-in (new password challenge)")
	assert.Equal(t, want, got)

	again, err := signIn(email, password)
	require.NoError(t, err)
	got, err = verifyAsHasura(t, synthesized, aws.ToString(again.IdToken))
	require.NoError(t, err, "password sign-in")
	assert.Equal(t, want, got)

	refreshed, err := refresh(aws.ToString(again.RefreshToken))
	require.NoError(t, err)
	got, err = verifyAsHasura(t, synthesized, aws.ToString(refreshed.IdToken))
	require.NoError(t, err, "refresh")
	assert.Equal(t, want, got)
}

func TestHasuraRejectsTokensItMustNotTrust(t *testing.T) {
	_, _, tokens := newUser(t, "viewer", "viewer")
	id := aws.ToString(tokens.IdToken)

	wrongIssuer := synthesized
	wrongIssuer.Issuer = env.CognitoURL + "/local_otherpool"
	_, err := verifyAsHasura(t, wrongIssuer, id)
	assert.Error(t, err, "a token of another pool")

	wrongAudience := synthesized
	wrongAudience.Audience = "another-client"
	_, err = verifyAsHasura(t, wrongAudience, id)
	assert.Error(t, err, "a token for another client")

	_, err = verifyAsHasura(t, synthesized, id, jwt.WithClock(jwt.ClockFunc(func() time.Time { return time.Now().Add(25 * time.Hour) })))
	assert.Error(t, err, "an expired token")

	parts := strings.Split(id, ".")
	require.Len(t, parts, 3)
	tampered := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	_, err = verifyAsHasura(t, synthesized, tampered)
	assert.Error(t, err, "a bad signature")

	// The access token carries no aud: with the synthesized (ID token) configuration it is refused.
	_, err = verifyAsHasura(t, synthesized, aws.ToString(tokens.AccessToken))
	assert.Error(t, err)
}

func TestAnUnknownUserCannotSignIn(t *testing.T) {
	_, err := signIn("nobody@example.com", "Whatever-Passw0rd!")
	require.Error(t, err)
}

func TestAUserWithoutClaimsIsRefused(t *testing.T) {
	// A Cognito user that exists, but whose claims were never written (or were deleted).
	email, password, _ := newUser(t, "viewer", "viewer")
	tokens, err := signIn(email, password)
	require.NoError(t, err)
	out, err := ctl(t, "", "claims", "delete", email)
	require.NoError(t, err, out)

	_, err = refresh(aws.ToString(tokens.RefreshToken))
	require.Error(t, err, "claims deleted after sign-in: the next refresh fails")
	assert.Contains(t, err.Error(), refusal, "the user sees the one generic sentence")
	_, err = signIn(email, password)
	require.Error(t, err)
	assert.Contains(t, err.Error(), refusal)
}

func TestGarbledClaimsRefuseTheToken(t *testing.T) {
	email, password, _ := newUser(t, "viewer", "viewer")
	_, err := dynamodb.NewFromConfig(env.Moto.Config()).PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName: aws.String(env.Table),
		Item:      claims.Record{UserID: email, Claims: "gAAAAABgarbled-claims-not-a-token", CognitoUUID: sub(t, email)}.Item(),
	})
	require.NoError(t, err)
	_, err = signIn(email, password)
	require.Error(t, err)
	assert.Contains(t, err.Error(), refusal)
	// Leave no undecryptable item behind: key rotate rightly refuses to retire keys around one.
	out, err := ctl(t, "", "user", "remove", email)
	require.NoError(t, err, out)
}

func TestRoleChangesReachTheNextRefreshAndKeyRotationKeepsUsersSignedIn(t *testing.T) {
	email, password, _ := newUser(t, "viewer", "viewer")
	tokens, err := signIn(email, password)
	require.NoError(t, err)
	out, err := ctl(t, "", "claims", "put", email, "--roles", "viewer,admin", "--default-role", "admin")
	require.NoError(t, err, out)
	refreshed, err := refresh(aws.ToString(tokens.RefreshToken))
	require.NoError(t, err)
	got, err := verifyAsHasura(t, synthesized, aws.ToString(refreshed.IdToken))
	require.NoError(t, err)
	assert.Equal(t, "admin", got["x-hasura-default-role"], "the next refresh carries the new roles")
	assert.Equal(t, []any{"viewer", "admin"}, got["x-hasura-allowed-roles"])

	// The warm Lambda has cached the old key ring; after a rotation with retirement it must
	// re-read the secret on the first failed decrypt.
	out, err = ctl(t, "", "key", "rotate", "--retire")
	require.NoError(t, err, out)
	after, err := signIn(email, password)
	require.NoError(t, err, "still signs in after claimsctl key rotate --retire")
	got, err = verifyAsHasura(t, synthesized, aws.ToString(after.IdToken))
	require.NoError(t, err)
	assert.Equal(t, "admin", got["x-hasura-default-role"])
	assert.Positive(t, env.Invocations())
}
