package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

// machineClient is a machine client as its operator hands it to a service: claimsctl client add's
// answer, and the id and secret a service reads from the Secrets Manager secret it names.
type machineClient struct {
	ID, Secret, Name, SecretArn string
	Validity                    time.Duration
}

var clientSeq atomic.Int64

// machineCtl runs claimsctl against the machine environment of the local chain.
func machineCtl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return ctl(t, "", append(args, "--identity-stack", machineIdentityStack)...)
}

// addClient makes a machine client with claimsctl client add, as an operator would, and reads
// its credentials from the secret it prints, as the service would.
func addClient(t *testing.T, tier string, validity time.Duration, scopes ...string) machineClient {
	t.Helper()
	name := fmt.Sprintf("service-%d", clientSeq.Add(1))
	out, stderr, err := ctlStreams(t, "", "client", "add", name, "--tier", tier, "--scopes", strings.Join(scopes, ","), "--validity", validity.String(), "--json",
		"--identity-stack", machineIdentityStack)
	require.NoError(t, err, out+stderr)
	var added struct {
		Name, ClientID, SecretArn, TokenEndpoint, Tier, Validity string
		Scopes                                                   []string
	}
	require.NoError(t, json.Unmarshal([]byte(out), &added), "stdout:\n%s\nstderr:\n%s", out, stderr)
	assert.Equal(t, env.TokenURL, added.TokenEndpoint, "the stack's TokenEndpoint output")
	assert.ElementsMatch(t, scopes, added.Scopes)
	c := machineClient{ID: added.ClientID, Name: name, SecretArn: added.SecretArn, Validity: validity}
	c.Secret = clientSecret(t, c, "AWSCURRENT")
	assert.NotContains(t, out+stderr, c.Secret, "claimsctl never prints the secret")
	return c
}

// clientSecret reads the client secret a service would use: the version at stage of the secret
// claimsctl keeps, which also names the client and the token endpoint.
func clientSecret(t *testing.T, c machineClient, stage string) string {
	t.Helper()
	out, err := secretsmanager.NewFromConfig(env.Moto.Config()).GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(c.SecretArn), VersionStage: aws.String(stage),
	})
	require.NoError(t, err)
	var v struct{ ClientID, ClientSecret, TokenEndpoint string }
	require.NoError(t, json.Unmarshal([]byte(aws.ToString(out.SecretString)), &v))
	require.Equal(t, c.ID, v.ClientID)
	require.Equal(t, env.TokenURL, v.TokenEndpoint)
	require.NotEmpty(t, v.ClientSecret)
	return v.ClientSecret
}

// tokenReply is what the token endpoint answered.
type tokenReply struct {
	Status      int
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	TokenType   string `json:"token_type"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// requestToken asks the token endpoint for a client-credentials token, authenticating with HTTP
// Basic as docs/machine-access.md's curl does (basic false: client_secret_post).
func requestToken(t *testing.T, id, secret, scope string, basic bool) tokenReply {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	if !basic {
		form.Set("client_id", id)
		form.Set("client_secret", secret)
	}
	req, err := http.NewRequest(http.MethodPost, env.TokenURL, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(id, secret)
	}
	return doToken(t, req)
}

func doToken(t *testing.T, req *http.Request) tokenReply {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var r tokenReply
	require.NoError(t, json.NewDecoder(res.Body).Decode(&r))
	r.Status = res.StatusCode
	assert.Equal(t, "application/json;charset=UTF-8", res.Header.Get("Content-Type"))
	return r
}

// payload decodes a token's claims and header without verifying them (verifyAsHasura verifies).
func payload(t *testing.T, token string) (header, body map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	for i, into := range []*map[string]any{&header, &body} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, into))
	}
	return header, body
}

func TestTheMachineEnvironmentsJWTSecretVerifiesAccessTokens(t *testing.T) {
	assert.Equal(t, jwtSecret{
		Type:         "RS256",
		JwkURL:       "https://cognito-idp.us-east-1.amazonaws.com/" + env.PoolID + "/.well-known/jwks.json",
		ClaimsFormat: "stringified_json",
		Issuer:       "https://cognito-idp.us-east-1.amazonaws.com/" + env.PoolID,
	}, machineRawSecret, "read from cdk.out: no audience, since access tokens carry client_id and no aud")
	assert.Equal(t, "internal=service,readonly=service_readonly", machineTiers, "the trigger runs with the synthesized tiers")
}

func TestAMachineClientGetsATokenHasuraAccepts(t *testing.T) {
	c := addClient(t, "internal", 45*time.Minute, "Query:Person", "Mutation:Person:Create")
	before := env.Invocations()
	start := time.Now()
	r := requestToken(t, c.ID, c.Secret, "", true)
	require.Equal(t, http.StatusOK, r.Status, "%+v", r)
	assert.Equal(t, "Bearer", r.TokenType)
	assert.Equal(t, int64(45*60), r.ExpiresIn, "the client's access-token validity")
	assert.Equal(t, before+1, env.Invocations(), "the trigger ran once, through the Lambda Invoke API")

	got, err := verifyAsHasura(t, machineSecret, r.AccessToken)
	require.NoError(t, err, "issuer, signature against the pool's JWKS, expiry, claims")
	assert.Equal(t, map[string]any{
		"x-hasura-default-role":  "service",
		"x-hasura-allowed-roles": []any{"service"},
		"x-hasura-client-id":     c.ID,
		"x-hasura-client-name":   c.Name,
		"x-hasura-scopes":        `{"Mutation:Person:Create","Query:Person"}`,
	}, got, "no scope asked: every scope the client is allowed")
	scopes, err := claims.ParseScopesLiteral(got["x-hasura-scopes"].(string))
	require.NoError(t, err)
	assert.Equal(t, []string{"Mutation:Person:Create", "Query:Person"}, scopes, "as Hasura reads the array session variable")

	header, body := payload(t, r.AccessToken)
	assert.Equal(t, map[string]any{"kid": "CognitoLocal", "alg": "RS256"}, header, "signed with cognito-local's key")
	assert.Equal(t, "access", body["token_use"])
	assert.Equal(t, c.ID, body["client_id"])
	assert.Equal(t, c.ID, body["sub"])
	assert.Equal(t, env.Issuer(), body["iss"])
	assert.NotContains(t, body, "aud", "Cognito's access tokens have no audience")
	assert.ElementsMatch(t, []string{"hasura/Query:Person", "hasura/Mutation:Person:Create"}, strings.Fields(body["scope"].(string)), "space-separated")
	iat, exp := int64(body["iat"].(float64)), int64(body["exp"].(float64))
	assert.Equal(t, int64(45*60), exp-iat, "exp is the client's validity after issue")
	assert.InDelta(t, start.Unix(), iat, 5)

	at := func(d time.Duration) jwt.ValidateOption {
		return jwt.WithClock(jwt.ClockFunc(func() time.Time { return time.Unix(iat, 0).Add(d) }))
	}
	_, err = verifyAsHasura(t, machineSecret, r.AccessToken, at(44*time.Minute))
	assert.NoError(t, err, "still valid a minute before its validity ends")
	_, err = verifyAsHasura(t, machineSecret, r.AccessToken, at(46*time.Minute))
	assert.Error(t, err, "expired after the client's validity")

	// The ID-token configuration (an audience) refuses it: an environment with machine access
	// must verify access tokens.
	_, err = verifyAsHasura(t, synthesized, r.AccessToken)
	assert.Error(t, err)
	other := machineSecret
	other.Issuer = env.CognitoURL + "/local_otherpool"
	_, err = verifyAsHasura(t, other, r.AccessToken)
	assert.Error(t, err, "another pool's issuer")

	// Requests at once each get their own token (the trigger and the endpoint keep no per-request state).
	var wg sync.WaitGroup
	jtis := make([]any, 4)
	for i := range jtis {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := requestToken(t, c.ID, c.Secret, "", true)
			if assert.Equal(t, http.StatusOK, r.Status, "%+v", r) {
				_, err := verifyAsHasura(t, machineSecret, r.AccessToken)
				assert.NoError(t, err)
				_, b := payload(t, r.AccessToken)
				jtis[i] = b["jti"]
			}
		}()
	}
	wg.Wait()
	assert.Len(t, map[any]bool{jtis[0]: true, jtis[1]: true, jtis[2]: true, jtis[3]: true}, 4, "four distinct tokens")

	// client_secret_post, asking for one scope: a narrower token.
	r = requestToken(t, c.ID, c.Secret, "hasura/Query:Person", false)
	require.Equal(t, http.StatusOK, r.Status, "%+v", r)
	got, err = verifyAsHasura(t, machineSecret, r.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, `{"Query:Person"}`, got["x-hasura-scopes"])
	_, body = payload(t, r.AccessToken)
	assert.Equal(t, "hasura/Query:Person", body["scope"])

	// claimsctl client scopes narrows the client for its next token.
	out, err := machineCtl(t, "client", "scopes", c.Name, "--scopes", "Mutation:*")
	require.NoError(t, err, out)
	r = requestToken(t, c.ID, c.Secret, "", true)
	require.Equal(t, http.StatusOK, r.Status, "%+v", r)
	got, err = verifyAsHasura(t, machineSecret, r.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, `{"Mutation:Person:Create","Mutation:Work:Create"}`, got["x-hasura-scopes"], "the glob expanded against the declared scopes")
	assert.Equal(t, "invalid_scope", requestToken(t, c.ID, c.Secret, "hasura/Query:Person", true).Error, "a scope it no longer has")
}

func TestTheTokenEndpointRefusesAsCognitoDoes(t *testing.T) {
	c := addClient(t, "readonly", 30*time.Minute, "Query:Person")
	// A confidential client for people (authorization-code grant only).
	code, err := env.Cognito().CreateUserPoolClient(context.Background(), &cip.CreateUserPoolClientInput{
		UserPoolId: aws.String(env.PoolID), ClientName: aws.String("web-app"), GenerateSecret: true,
		AllowedOAuthFlows: []ciptypes.OAuthFlowType{ciptypes.OAuthFlowTypeCode}, AllowedOAuthFlowsUserPoolClient: true,
		AllowedOAuthScopes: []string{"openid", "hasura/Query:Person"}, CallbackURLs: []string{"https://app.example.com/callback"},
	})
	require.NoError(t, err)
	codeID, codeSecret := aws.ToString(code.UserPoolClient.ClientId), aws.ToString(code.UserPoolClient.ClientSecret)

	form := func(body, basicID, basicSecret, contentType string) *http.Request {
		req, err := http.NewRequest(http.MethodPost, env.TokenURL, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", contentType)
		if basicID != "" {
			req.SetBasicAuth(basicID, basicSecret)
		}
		return req
	}
	const formType = "application/x-www-form-urlencoded"
	cases := []struct {
		name, want string
		req        *http.Request
	}{
		{"a scope outside the client's grant", "invalid_scope", form("grant_type=client_credentials&scope=hasura%2FMutation%3APerson%3ACreate", c.ID, c.Secret, formType)},
		{"a granted and an ungranted scope", "invalid_scope", form("grant_type=client_credentials&scope=hasura%2FQuery%3APerson+hasura%2FMutation%3AWork%3ACreate", c.ID, c.Secret, formType)},
		{"a wrong secret", "invalid_client", form("grant_type=client_credentials", c.ID, c.Secret+"x", formType)},
		{"a wrong secret, posted", "invalid_client", form("grant_type=client_credentials&client_id="+c.ID+"&client_secret=nope", "", "", formType)},
		{"no credentials", "invalid_client", form("grant_type=client_credentials", "", "", formType)},
		{"an unknown client", "invalid_client", form("grant_type=client_credentials", "unknownclient123", "secret", formType)},
		{"the SPA client (no secret)", "invalid_client", form("grant_type=client_credentials&client_id="+env.ClientID, "", "", formType)},
		{"a client without the client-credentials grant", "unauthorized_client", form("grant_type=client_credentials", codeID, codeSecret, formType)},
		{"the password grant", "unsupported_grant_type", form("grant_type=password", c.ID, c.Secret, formType)},
		{"no grant type", "invalid_request", form("scope=hasura%2FQuery%3APerson", c.ID, c.Secret, formType)},
		{"credentials in the header and the body", "invalid_request", form("grant_type=client_credentials&client_id="+c.ID+"&client_secret="+c.Secret, c.ID, c.Secret, formType)},
		{"a JSON body", "invalid_request", form(`{"grant_type":"client_credentials"}`, c.ID, c.Secret, "application/json")},
	}
	before := env.Invocations()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := doToken(t, tc.req)
			assert.Equal(t, http.StatusBadRequest, r.Status)
			assert.Equal(t, tc.want, r.Error)
			assert.Empty(t, r.AccessToken)
		})
	}
	assert.Equal(t, before, env.Invocations(), "each was refused before the trigger")
	require.Equal(t, http.StatusOK, requestToken(t, c.ID, c.Secret, "hasura/Query:Person", true).Status, "the client itself is fine")
}

func TestDisabledAndRemovedClientsGetNoToken(t *testing.T) {
	c := addClient(t, "internal", 30*time.Minute, "Query:Person")
	require.Equal(t, http.StatusOK, requestToken(t, c.ID, c.Secret, "", true).Status)

	refused := func(t *testing.T, what string) {
		t.Helper()
		before := env.Invocations()
		r := requestToken(t, c.ID, c.Secret, "", true)
		assert.Equal(t, http.StatusBadRequest, r.Status, what)
		assert.Equal(t, "invalid_request", r.Error, what)
		assert.Equal(t, "PreTokenGeneration failed with error "+refusal+".", r.Description, "%s: the trigger's one generic sentence", what)
		assert.Empty(t, r.AccessToken)
		assert.Equal(t, before+1, env.Invocations(), "%s: the trigger refused it", what)
	}
	out, err := machineCtl(t, "client", "disable", c.Name)
	require.NoError(t, err, out)
	refused(t, "disabled")
	out, err = machineCtl(t, "client", "enable", c.Name)
	require.NoError(t, err, out)
	require.Equal(t, http.StatusOK, requestToken(t, c.ID, c.Secret, "", true).Status, "enabled again")

	// The record gone (a removal interrupted after its first step): the trigger knows no such client.
	_, err = dynamodb.NewFromConfig(env.Moto.Config()).DeleteItem(context.Background(), &dynamodb.DeleteItemInput{
		TableName: aws.String(env.Table),
		Key:       map[string]types.AttributeValue{claims.AttrUserID: &types.AttributeValueMemberS{Value: claims.ClientItemID(c.ID)}},
	})
	require.NoError(t, err)
	refused(t, "record removed")

	// claimsctl client remove: the app client gone, Cognito refuses the credentials before any trigger.
	out, err = machineCtl(t, "client", "remove", c.Name)
	require.NoError(t, err, out)
	before := env.Invocations()
	r := requestToken(t, c.ID, c.Secret, "", true)
	assert.Equal(t, http.StatusBadRequest, r.Status)
	assert.Equal(t, "invalid_client", r.Error)
	assert.Equal(t, before, env.Invocations())
}

func TestASecretRotationKeepsBothSecretsUntilTheOldOneIsRetired(t *testing.T) {
	c := addClient(t, "internal", 30*time.Minute, "Query:Person")
	works := func(secret string, basic bool) tokenReply {
		t.Helper()
		r := requestToken(t, c.ID, secret, "", basic)
		if r.Status == http.StatusOK {
			_, err := verifyAsHasura(t, machineSecret, r.AccessToken)
			require.NoError(t, err)
		}
		return r
	}

	out, err := machineCtl(t, "client", "rotate-secret", c.Name)
	require.NoError(t, err, out)
	assert.NotContains(t, out, c.Secret, "no secret printed")
	newSecret := clientSecret(t, c, "AWSCURRENT")
	require.NotEqual(t, c.Secret, newSecret)
	assert.Equal(t, c.Secret, clientSecret(t, c, "AWSPREVIOUS"), "the old secret stays readable while consumers switch")
	assert.NotContains(t, out, newSecret)
	for name, secret := range map[string]string{"old": c.Secret, "new": newSecret} {
		assert.Equal(t, http.StatusOK, works(secret, true).Status, "during the rotation the %s secret works", name)
	}

	out, err = machineCtl(t, "client", "retire-secret", c.Name)
	require.NoError(t, err, out)
	r := works(c.Secret, true)
	assert.Equal(t, http.StatusBadRequest, r.Status)
	assert.Equal(t, "invalid_client", r.Error, "the retired secret no longer works")
	assert.Equal(t, http.StatusOK, works(newSecret, false).Status, "the new one does")
}

func TestTheClientSecretStandInHoldsTwoSecretsAsCognitoDoes(t *testing.T) {
	ctx := context.Background()
	idp := env.Cognito()
	c := addClient(t, "internal", 30*time.Minute, "Query:Person")
	ids := func() []string {
		out, err := idp.ListUserPoolClientSecrets(ctx, &cip.ListUserPoolClientSecretsInput{UserPoolId: aws.String(env.PoolID), ClientId: aws.String(c.ID)})
		require.NoError(t, err)
		var ids []string
		for _, d := range out.ClientSecrets {
			assert.Nil(t, d.ClientSecretValue, "a listed secret has no value")
			ids = append(ids, aws.ToString(d.ClientSecretId))
		}
		return ids
	}
	old := ids()
	require.Len(t, old, 1, "the secret made with the client")

	// Two adds at once on a client with one secret: Cognito holds two, so one wins.
	var wg sync.WaitGroup
	results := make([]*cip.AddUserPoolClientSecretOutput, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One attempt: the SDK retries LimitExceededException as throttling.
			results[i], errs[i] = idp.AddUserPoolClientSecret(ctx, &cip.AddUserPoolClientSecretInput{UserPoolId: aws.String(env.PoolID), ClientId: aws.String(c.ID)},
				func(o *cip.Options) { o.RetryMaxAttempts = 1 })
		}()
	}
	wg.Wait()
	var limit *ciptypes.LimitExceededException
	var added *cip.AddUserPoolClientSecretOutput
	for i := range 2 {
		if errs[i] == nil {
			require.Nil(t, added, "only one of two concurrent adds succeeds")
			added = results[i]
		} else {
			require.True(t, errors.As(errs[i], &limit), "the other is refused: %v", errs[i])
		}
	}
	require.NotNil(t, added)
	newSecret := aws.ToString(added.ClientSecretDescriptor.ClientSecretValue)
	require.NotEmpty(t, newSecret)
	assert.ElementsMatch(t, append(old, aws.ToString(added.ClientSecretDescriptor.ClientSecretId)), ids())
	for _, secret := range []string{c.Secret, newSecret} {
		assert.Equal(t, http.StatusOK, requestToken(t, c.ID, secret, "", true).Status)
	}

	_, err := idp.DeleteUserPoolClientSecret(ctx, &cip.DeleteUserPoolClientSecretInput{UserPoolId: aws.String(env.PoolID), ClientId: aws.String(c.ID), ClientSecretId: aws.String(old[0])})
	require.NoError(t, err)
	assert.Equal(t, "invalid_client", requestToken(t, c.ID, c.Secret, "", true).Error)
	assert.Equal(t, http.StatusOK, requestToken(t, c.ID, newSecret, "", true).Status)
	_, err = idp.DeleteUserPoolClientSecret(ctx, &cip.DeleteUserPoolClientSecretInput{UserPoolId: aws.String(env.PoolID), ClientId: aws.String(c.ID), ClientSecretId: aws.String(ids()[0])})
	var bad *ciptypes.InvalidParameterException
	assert.True(t, errors.As(err, &bad), "the only secret cannot be deleted: %v", err)
}

func TestTheResourceServerDeclaresTheMachineScopesAndOnlyThoseCanBeAllowed(t *testing.T) {
	ctx := context.Background()
	out, err := env.Cognito().DescribeResourceServer(ctx, &cip.DescribeResourceServerInput{UserPoolId: aws.String(env.PoolID), Identifier: aws.String(claims.MachineResourceServer)})
	require.NoError(t, err)
	var names []any
	for _, s := range out.ResourceServer.Scopes {
		names = append(names, aws.ToString(s.ScopeName))
	}
	assert.Equal(t, machineAccess["scopes"], names, "the synthesized resource server's scopes, as configured")

	_, err = env.Cognito().CreateUserPoolClient(ctx, &cip.CreateUserPoolClientInput{
		UserPoolId: aws.String(env.PoolID), ClientName: aws.String("undeclared"), GenerateSecret: true,
		AllowedOAuthFlows: []ciptypes.OAuthFlowType{ciptypes.OAuthFlowTypeClientCredentials}, AllowedOAuthFlowsUserPoolClient: true,
		AllowedOAuthScopes: []string{"hasura/Query:Person", "hasura/Mutation:Person:Delete"},
	})
	var missing *ciptypes.ScopeDoesNotExistException
	require.True(t, errors.As(err, &missing), "as Cognito: a scope no resource server declares: %v", err)
	assert.Contains(t, err.Error(), "hasura/Mutation:Person:Delete")

	// Two creations of one identifier at once: one resource server, the other refused.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = env.Cognito().CreateResourceServer(ctx, &cip.CreateResourceServerInput{
				UserPoolId: aws.String(env.PoolID), Identifier: aws.String("reports"), Name: aws.String(fmt.Sprintf("reports-%d", i)),
				Scopes: []ciptypes.ResourceServerScopeType{{ScopeName: aws.String("Query:Report"), ScopeDescription: aws.String("read reports")}},
			})
		}()
	}
	wg.Wait()
	var bad *ciptypes.InvalidParameterException
	require.True(t, (errs[0] == nil) != (errs[1] == nil), "exactly one succeeds: %v", errs)
	for _, err := range errs {
		if err != nil {
			assert.True(t, errors.As(err, &bad), "%v", err)
		}
	}
	_, err = env.Cognito().DescribeResourceServer(ctx, &cip.DescribeResourceServerInput{UserPoolId: aws.String(env.PoolID), Identifier: aws.String("nothing")})
	var nf *ciptypes.ResourceNotFoundException
	assert.True(t, errors.As(err, &nf), "%v", err)
}

// TestTheDocumentedCurlGetsAToken runs docs/machine-access.md's curl command verbatim with a
// client made by claimsctl, as a service's operator would try it.
func TestTheDocumentedCurlGetsAToken(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "machine-access.md"))
	require.NoError(t, err)
	var command string
	for _, block := range strings.Split(string(doc), "```sh\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		if strings.Contains(block, "curl ") && strings.Contains(block, "grant_type=client_credentials") {
			command = block
		}
	}
	require.NotEmpty(t, command, "docs/machine-access.md has a curl command for the token endpoint")

	c := addClient(t, "internal", time.Hour, "Query:Person", "Mutation:Person:Create")
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", command)
	cmd.Env = append(os.Environ(), "CLIENT_ID="+c.ID, "CLIENT_SECRET="+c.Secret, "TOKEN_ENDPOINT="+env.TokenURL)
	out, err := cmd.Output()
	require.NoError(t, err, "%s", out)
	var r tokenReply
	require.NoError(t, json.Unmarshal(out, &r), "%s", out)
	assert.Equal(t, "Bearer", r.TokenType)
	assert.Equal(t, int64(3600), r.ExpiresIn, "as the documented answer shows")
	got, err := verifyAsHasura(t, machineSecret, r.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, `{"Mutation:Person:Create","Query:Person"}`, got["x-hasura-scopes"])
}
