package localauth

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The e2e tests run the stand-in whole against cognito-local and the real trigger; these pin
// the rules the trigger in this project never exercises (suppressions, scope changes, reserved
// claims) and the request parsing.

func TestOverridesApplyAsCognitoAppliesThem(t *testing.T) {
	payload := map[string]any{"sub": "c1", "client_id": "c1", "token_use": "access", "jti": "j", "custom": "old", "drop": "me"}
	scopes := applyOverride(payload, []string{"hasura/A", "hasura/B", "hasura/C"}, accessOverride{
		ClaimsToAddOrOverride: map[string]any{
			"custom": map[string]any{"nested": []any{1.0, "x"}}, "new": true,
			"client_id": "forged", "sub": "forged", "token_use": "id", "scope": "forged", "exp": 1.0,
		},
		ClaimsToSuppress: []string{"drop", "jti", "client_id"},
		ScopesToAdd:      []string{"hasura/D", "hasura/A"},
		ScopesToSuppress: []string{"hasura/B"},
	})
	assert.Equal(t, []string{"hasura/A", "hasura/C", "hasura/D"}, scopes, "granted less suppressed, plus added, no duplicates")
	assert.Equal(t, map[string]any{
		"sub": "c1", "client_id": "c1", "token_use": "access", "jti": "j",
		"custom": map[string]any{"nested": []any{1.0, "x"}}, "new": true,
	}, payload, "reserved claims can be neither overridden nor suppressed; others can, with any JSON value")
}

func TestScopesAreGrantedOnlyWithinTheClientsAllowedCustomScopes(t *testing.T) {
	allowed := []string{"openid", "hasura/Query:Person", "hasura/Mutation:Person:Create"}
	got, terr := grantScopes(allowed, "")
	require.Nil(t, terr)
	assert.Equal(t, []string{"hasura/Query:Person", "hasura/Mutation:Person:Create"}, got, "none asked: every custom scope")
	got, terr = grantScopes(allowed, "  hasura/Mutation:Person:Create  hasura/Mutation:Person:Create ")
	require.Nil(t, terr)
	assert.Equal(t, []string{"hasura/Mutation:Person:Create"}, got)
	for _, asked := range []string{"hasura/Mutation:Work:Create", "openid", "hasura/Query:Person other/x", "HASURA/Query:Person"} {
		_, terr = grantScopes(allowed, asked)
		require.NotNil(t, terr, asked)
		assert.Equal(t, errInvalidScope, terr.code, asked)
	}
	_, terr = grantScopes([]string{"openid"}, "")
	require.NotNil(t, terr, "a client with no custom scope gets no client-credentials token")
	assert.Equal(t, errInvalidScope, terr.code)
}

func TestAccessTokenValidityIsTheClientsInItsUnit(t *testing.T) {
	for _, c := range []struct {
		validity *int32
		unit     ciptypes.TimeUnitsType
		want     time.Duration
	}{
		{nil, "", time.Hour},
		{aws.Int32(2), "", 2 * time.Hour},
		{aws.Int32(45), ciptypes.TimeUnitsTypeMinutes, 45 * time.Minute},
		{aws.Int32(1), ciptypes.TimeUnitsTypeDays, 24 * time.Hour},
		{aws.Int32(300), ciptypes.TimeUnitsTypeSeconds, 5 * time.Minute},
	} {
		client := &ciptypes.UserPoolClientType{AccessTokenValidity: c.validity}
		if c.unit != "" {
			client.TokenValidityUnits = &ciptypes.TokenValidityUnitsType{AccessToken: c.unit}
		}
		got, err := accessValidity(client)
		require.NoError(t, err)
		assert.Equal(t, c.want, got)
	}
	_, err := accessValidity(&ciptypes.UserPoolClientType{AccessTokenValidity: aws.Int32(1), TokenValidityUnits: &ciptypes.TokenValidityUnitsType{AccessToken: "weeks"}})
	assert.ErrorContains(t, err, `"weeks"`)
}

func TestClientAuthenticationIsBasicOrPostNeverBoth(t *testing.T) {
	req := func(body, user, pass string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			r.SetBasicAuth(user, pass)
		}
		require.NoError(t, r.ParseForm())
		return r
	}
	id, secret, terr := clientAuth(req("grant_type=client_credentials", "c1", "s:with:colons"))
	require.Nil(t, terr)
	assert.Equal(t, []string{"c1", "s:with:colons"}, []string{id, secret}, "Basic splits at the first colon")
	id, secret, terr = clientAuth(req("client_id=c1&client_secret=s1", "", ""))
	require.Nil(t, terr)
	assert.Equal(t, []string{"c1", "s1"}, []string{id, secret})
	_, _, terr = clientAuth(req("client_id=c1", "c1", "s1"))
	assert.Nil(t, terr, "client_id beside Basic, naming the same client, is allowed")
	for _, c := range []struct{ body, user, pass, want string }{
		{"client_id=c1&client_secret=s1", "c1", "s1", errInvalidRequest},
		{"client_id=c2", "c1", "s1", errInvalidClient},
		{"client_id=c1", "", "", errInvalidClient},
		{"", "", "", errInvalidClient},
		{"client_id=c1&client_secret=", "", "", errInvalidClient},
	} {
		_, _, terr := clientAuth(req(c.body, c.user, c.pass))
		require.NotNil(t, terr, "%+v", c)
		assert.Equal(t, c.want, terr.code, "%+v", c)
	}
}

func TestTheEventIsVersion3ClientCredentials(t *testing.T) {
	b, err := json.Marshal(ClientCredentialsEvent("us-east-1", "us-east-1_Pool", "c1", []string{"hasura/A"}))
	require.NoError(t, err)
	assert.JSONEq(t, `{
		"version": "3", "triggerSource": "TokenGeneration_ClientCredentials", "region": "us-east-1",
		"userPoolId": "us-east-1_Pool", "userName": "ClientCredentials",
		"callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "c1"},
		"request": {"userAttributes": {}, "groupConfiguration": {"groupsToOverride": [], "iamRolesToOverride": []}, "scopes": ["hasura/A"]},
		"response": {"claimsAndScopeOverrideDetails": null}
	}`, string(b))
}

func TestTokensAreSignedWithCognitoLocalsKey(t *testing.T) {
	key, kid, err := LoadCognitoLocalKey(filepath.Join("..", ".."))
	require.NoError(t, err, "needs node_modules (make deps)")
	assert.Equal(t, "CognitoLocal", kid)
	// The public half as cognito-local publishes it in every pool's JWKS.
	var pub struct {
		JWK struct{ N, E string } `json:"jwk"`
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "node_modules", "cognito-local", "lib", "keys", "cognitoLocal.public.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &pub))
	assert.Equal(t, pub.JWK.N, base64.RawURLEncoding.EncodeToString(key.N.Bytes()), "the key the JWKS publishes")

	te := &TokenEndpoint{Key: key, KeyID: kid}
	tok, err := te.sign(map[string]any{"sub": "c1"})
	require.NoError(t, err)
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	require.NoError(t, err)
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	assert.NoError(t, rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], sig))
	header, err := base64.RawURLEncoding.DecodeString(parts[0])
	require.NoError(t, err)
	assert.JSONEq(t, `{"kid":"CognitoLocal","alg":"RS256"}`, string(header))
}

func TestTheEndpointAnswersOnlyAFormPOSTOfTheClientCredentialsGrant(t *testing.T) {
	// Refusals decided before any emulator call: the endpoint needs none of its dependencies.
	te := &TokenEndpoint{}
	for _, c := range []struct {
		method, contentType, body, want string
		status                          int
	}{
		{http.MethodGet, "", "", errInvalidRequest, http.StatusMethodNotAllowed},
		{http.MethodPost, "application/json", `{"grant_type":"client_credentials"}`, errInvalidRequest, http.StatusBadRequest},
		{http.MethodPost, "application/x-www-form-urlencoded", "", errInvalidRequest, http.StatusBadRequest},
		{http.MethodPost, "application/x-www-form-urlencoded", "grant_type=password", errUnsupportedGrantType, http.StatusBadRequest},
		{http.MethodPost, "application/x-www-form-urlencoded", "grant_type=refresh_token", errUnsupportedGrantType, http.StatusBadRequest},
		{http.MethodPost, "application/x-www-form-urlencoded", "grant_type=client_credentials&grant_type=client_credentials", errInvalidRequest, http.StatusBadRequest},
		{http.MethodPost, "application/x-www-form-urlencoded; charset=UTF-8", "grant_type=client_credentials", errInvalidClient, http.StatusBadRequest},
	} {
		r := httptest.NewRequest(c.method, "/oauth2/token", strings.NewReader(c.body))
		if c.contentType != "" {
			r.Header.Set("Content-Type", c.contentType)
		}
		w := httptest.NewRecorder()
		te.ServeHTTP(w, r)
		assert.Equal(t, c.status, w.Code, "%+v", c)
		var body map[string]string
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
		assert.Equal(t, c.want, body["error"], "%+v", c)
		assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	}
}
