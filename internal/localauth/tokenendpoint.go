package localauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/hasura-auth-cdk/hasuraauth/internal/emulator"
)

// TokenEndpoint is the local chain's one stand-in for an endpoint (the others stand in for API
// calls cognito-local lacks: ResourceServers, emulator.ClientSecrets): the client-credentials
// grant of Cognito's /oauth2/token, which neither cognito-local 5.3.0 (authorization-code and
// refresh grants only) nor moto 5.2.1 (no token endpoint) implements. It is as small as it can be while doing what
// Cognito does for that grant:
//
//   - client authentication by HTTP Basic (client_secret_basic) or client_id and client_secret in
//     the body (client_secret_post), checked against the app client as cognito-local stores it
//     (DescribeUserPoolClient: ClientSecret, AllowedOAuthFlows, AllowedOAuthFlowsUserPoolClient,
//     AllowedOAuthScopes, AccessTokenValidity and TokenValidityUnits are all stored), with a
//     second active secret from the emulator kit's ClientSecrets stand-in (cognito-local holds one);
//   - the requested scopes against the client's allowed ones (none requested: all of them);
//   - the PreTokenGeneration trigger, called through the same local Lambda Invoke API
//     cognito-local calls, with a version 3 TokenGeneration_ClientCredentials event; its
//     accessTokenGeneration overrides applied as Cognito applies them; a refusal issues no token;
//   - an RS256 access token signed with cognito-local's own key (kid CognitoLocal), so that the
//     pool's JWKS as cognito-local serves it verifies the token: iss the pool's issuer, sub and
//     client_id the app client, token_use access, scope, exp at the client's access-token
//     validity, and no aud (Cognito's access tokens have none).
//
// Errors are Cognito's: HTTP 400 with a JSON body {"error": "..."}.
type TokenEndpoint struct {
	Cognito   *cip.Client   // the emulator's API
	Secrets   SecretChecker // the client's active secrets; nil: only the emulator's stored one
	PoolID    string
	Issuer    string // the pool's issuer as cognito-local signs it: <cognito-local URL>/<pool id>
	InvokeURL string // the local Lambda Invoke API
	Function  string // the trigger's name there
	Region    string
	Key       *rsa.PrivateKey
	KeyID     string
	Now       func() time.Time
	HTTP      *http.Client
}

// SecretChecker says whether secret is one of an app client's active secrets
// (emulator.ClientSecrets).
type SecretChecker interface {
	Valid(ctx context.Context, pool, client, secret string) bool
}

// Token endpoint error codes, as Cognito documents them for /oauth2/token.
const (
	errInvalidRequest       = "invalid_request"
	errInvalidClient        = "invalid_client"
	errUnauthorizedClient   = "unauthorized_client"
	errUnsupportedGrantType = "unsupported_grant_type"
	errInvalidScope         = "invalid_scope"
)

// reservedAccessClaims are the access-token claims a pre-token trigger cannot add, change or
// suppress (Cognito's list for access tokens); Cognito ignores such overrides.
var reservedAccessClaims = map[string]bool{
	"acr": true, "amr": true, "aud": true, "auth_time": true, "azp": true, "client_id": true,
	"exp": true, "iat": true, "identities": true, "iss": true, "jti": true, "nbf": true,
	"nonce": true, "origin_jti": true, "scope": true, "sub": true, "token_use": true,
	"username": true, "version": true, "event_id": true, "at_hash": true,
	"cognito:username": true,
}

// LoadCognitoLocalKey reads the RSA key cognito-local signs its tokens with (and publishes in every
// pool's JWKS), with its key ID.
func LoadCognitoLocalKey(moduleRoot string) (*rsa.PrivateKey, string, error) {
	path := filepath.Join(moduleRoot, "node_modules", "cognito-local", "lib", "keys", "cognitoLocal.private.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("cognito-local's signing key: %w", err)
	}
	var f struct {
		JWK struct {
			Kid string `json:"kid"`
		} `json:"jwk"`
		PEM string `json:"pem"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, "", fmt.Errorf("cognito-local's signing key %s: %w", path, err)
	}
	block, _ := pem.Decode([]byte(f.PEM))
	if block == nil || f.JWK.Kid == "" {
		return nil, "", fmt.Errorf("cognito-local's signing key %s: no PEM key or no kid", path)
	}
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		return nil, "", fmt.Errorf("cognito-local's signing key %s: %w", path, err)
	}
	return key, f.JWK.Kid, nil
}

// tokenError is a refusal: the OAuth error code, and for the log and the caller a description.
type tokenError struct {
	code, description string
	status            int
}

func (e *tokenError) Error() string { return e.code + ": " + e.description }

func refuseToken(code, description string) *tokenError {
	return &tokenError{code: code, description: description, status: http.StatusBadRequest}
}

func (t *TokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	resp, terr := t.token(r)
	if terr != nil {
		w.WriteHeader(terr.status)
		body := map[string]string{"error": terr.code}
		if terr.description != "" {
			body["error_description"] = terr.description
		}
		_ = json.NewEncoder(w).Encode(body)
		return
	}
	_ = json.NewEncoder(w).Encode(resp)
}

// TokenResponse is the token endpoint's answer to a client-credentials grant.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	TokenType   string `json:"token_type"`
}

func (t *TokenEndpoint) token(r *http.Request) (*TokenResponse, *tokenError) {
	if r.Method != http.MethodPost {
		return nil, &tokenError{code: errInvalidRequest, description: "the token endpoint only supports POST", status: http.StatusMethodNotAllowed}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, refuseToken(errInvalidRequest, "Content-Type must be application/x-www-form-urlencoded")
	}
	if err := r.ParseForm(); err != nil {
		return nil, refuseToken(errInvalidRequest, "the body is not a form")
	}
	form := r.PostForm
	for _, k := range []string{"grant_type", "client_id", "client_secret", "scope"} {
		if len(form[k]) > 1 {
			return nil, refuseToken(errInvalidRequest, k+" is repeated")
		}
	}
	switch g := form.Get("grant_type"); g {
	case "client_credentials":
	case "":
		return nil, refuseToken(errInvalidRequest, "grant_type is required")
	case "authorization_code", "refresh_token":
		// Cognito supports them; locally cognito-local's own /oauth2/token serves them.
		return nil, refuseToken(errUnsupportedGrantType, "this stand-in serves client_credentials only: "+g+" is cognito-local's")
	default:
		return nil, refuseToken(errUnsupportedGrantType, "")
	}
	clientID, secret, terr := clientAuth(r)
	if terr != nil {
		return nil, terr
	}
	ctx := r.Context()
	described, err := t.Cognito.DescribeUserPoolClient(ctx, &cip.DescribeUserPoolClientInput{
		UserPoolId: aws.String(t.PoolID), ClientId: aws.String(clientID),
	})
	var nf *ciptypes.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		return nil, refuseToken(errInvalidClient, "")
	case err != nil:
		return nil, &tokenError{code: "server_error", description: "describe the app client: " + err.Error(), status: http.StatusInternalServerError}
	}
	client := described.UserPoolClient
	if !t.secretMatches(ctx, client, secret) {
		return nil, refuseToken(errInvalidClient, "")
	}
	if !aws.ToBool(client.AllowedOAuthFlowsUserPoolClient) || !slices.Contains(client.AllowedOAuthFlows, ciptypes.OAuthFlowTypeClientCredentials) {
		return nil, refuseToken(errUnauthorizedClient, "")
	}
	scopes, terr := grantScopes(client.AllowedOAuthScopes, form.Get("scope"))
	if terr != nil {
		return nil, terr
	}
	override, terr := t.trigger(ctx, clientID, scopes)
	if terr != nil {
		return nil, terr
	}
	validity, err := accessValidity(client)
	if err != nil {
		return nil, &tokenError{code: "server_error", description: err.Error(), status: http.StatusInternalServerError}
	}
	now := t.Now()
	payload := map[string]any{
		"sub": clientID, "client_id": clientID, "token_use": "access", "iss": t.Issuer,
		"auth_time": now.Unix(), "iat": now.Unix(), "exp": now.Add(validity).Unix(),
		"jti": randomID(), "version": 2,
	}
	payload["scope"] = strings.Join(applyOverride(payload, scopes, override), " ")
	tok, err := t.sign(payload)
	if err != nil {
		return nil, &tokenError{code: "server_error", description: err.Error(), status: http.StatusInternalServerError}
	}
	return &TokenResponse{AccessToken: tok, ExpiresIn: int64(validity / time.Second), TokenType: "Bearer"}, nil
}

// clientAuth reads the client's credentials: client_secret_basic or client_secret_post, not both.
func clientAuth(r *http.Request) (id, secret string, _ *tokenError) {
	form := r.PostForm
	basicID, basicSecret, basic := r.BasicAuth()
	_, postID := form["client_id"]
	_, postSecret := form["client_secret"]
	switch {
	case basic && postSecret:
		return "", "", refuseToken(errInvalidRequest, "client credentials in both the Authorization header and the body")
	case basic:
		if postID && form.Get("client_id") != basicID {
			return "", "", refuseToken(errInvalidClient, "")
		}
		id, secret = basicID, basicSecret
	case postID:
		id, secret = form.Get("client_id"), form.Get("client_secret")
	default:
		return "", "", refuseToken(errInvalidClient, "")
	}
	if id == "" || secret == "" {
		// The client-credentials grant needs a confidential client: a secret is required.
		return "", "", refuseToken(errInvalidClient, "")
	}
	return id, secret, nil
}

// secretMatches checks the secret against the client's active secrets, in constant time.
func (t *TokenEndpoint) secretMatches(ctx context.Context, client *ciptypes.UserPoolClientType, secret string) bool {
	if t.Secrets != nil {
		return t.Secrets.Valid(ctx, t.PoolID, aws.ToString(client.ClientId), secret)
	}
	stored := aws.ToString(client.ClientSecret)
	return stored != "" && subtle.ConstantTimeCompare([]byte(stored), []byte(secret)) == 1
}

// grantScopes returns the scopes the token is granted, in the client's order: the requested ones
// (space-separated), each of which must be allowed, or, when none is requested, every custom
// scope (resource-server/name) the client is allowed. A client-credentials token gets custom
// scopes only.
func grantScopes(allowed []string, requested string) ([]string, *tokenError) {
	custom := func(s string) bool { return strings.Contains(s, "/") }
	asked := strings.Fields(requested)
	for _, s := range asked {
		if !slices.Contains(allowed, s) || !custom(s) {
			return nil, refuseToken(errInvalidScope, "")
		}
	}
	var out []string
	for _, s := range allowed {
		if custom(s) && (len(asked) == 0 || slices.Contains(asked, s)) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, refuseToken(errInvalidScope, "")
	}
	return out, nil
}

// accessValidity is the client's access-token validity: AccessTokenValidity in
// TokenValidityUnits.AccessToken (hours unless set), or Cognito's default of 60 minutes.
func accessValidity(c *ciptypes.UserPoolClientType) (time.Duration, error) {
	if c.AccessTokenValidity == nil {
		return time.Hour, nil
	}
	unit := ciptypes.TimeUnitsTypeHours
	if c.TokenValidityUnits != nil && c.TokenValidityUnits.AccessToken != "" {
		unit = c.TokenValidityUnits.AccessToken
	}
	per := map[ciptypes.TimeUnitsType]time.Duration{
		ciptypes.TimeUnitsTypeSeconds: time.Second, ciptypes.TimeUnitsTypeMinutes: time.Minute,
		ciptypes.TimeUnitsTypeHours: time.Hour, ciptypes.TimeUnitsTypeDays: 24 * time.Hour,
	}[unit]
	if per == 0 {
		return 0, fmt.Errorf("the app client's access token validity unit %q is not one of Cognito's", unit)
	}
	return time.Duration(*c.AccessTokenValidity) * per, nil
}

// accessOverride is what a V3 trigger's response may say about the access token.
type accessOverride struct {
	ClaimsToAddOrOverride map[string]any `json:"claimsToAddOrOverride"`
	ClaimsToSuppress      []string       `json:"claimsToSuppress"`
	ScopesToAdd           []string       `json:"scopesToAdd"`
	ScopesToSuppress      []string       `json:"scopesToSuppress"`
}

// ClientCredentialsEvent is the version 3 PreTokenGeneration event Cognito sends for a
// client-credentials grant: no user (userName is the fixed "ClientCredentials", no attributes),
// the app client in callerContext, the scopes the token is granted in request.scopes.
func ClientCredentialsEvent(region, poolID, clientID string, scopes []string) map[string]any {
	return map[string]any{
		"version":       "3",
		"triggerSource": "TokenGeneration_ClientCredentials",
		"region":        region,
		"userPoolId":    poolID,
		"userName":      "ClientCredentials",
		"callerContext": map[string]any{"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": clientID},
		"request": map[string]any{
			"userAttributes":     map[string]any{},
			"groupConfiguration": map[string]any{"groupsToOverride": []any{}, "iamRolesToOverride": []any{}},
			"scopes":             scopes,
		},
		"response": map[string]any{"claimsAndScopeOverrideDetails": nil},
	}
}

// trigger invokes the pre-token trigger through the Invoke API, synchronously as Cognito does.
// A function error, or an answer that is not an event, refuses the token (fail closed).
func (t *TokenEndpoint) trigger(ctx context.Context, clientID string, scopes []string) (accessOverride, *tokenError) {
	var none accessOverride
	event, _ := json.Marshal(ClientCredentialsEvent(t.Region, t.PoolID, clientID, scopes))
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second) // Cognito's limit for a trigger
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.InvokeURL+"/2015-03-31/functions/"+t.Function+"/invocations", bytes.NewReader(event))
	if err != nil {
		return none, refuseToken(errInvalidRequest, "PreTokenGeneration invocation failed")
	}
	res, err := t.HTTP.Do(req)
	if err != nil {
		return none, refuseToken(errInvalidRequest, "PreTokenGeneration invocation failed")
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		return none, refuseToken(errInvalidRequest, "PreTokenGeneration invocation failed")
	}
	if res.Header.Get("X-Amz-Function-Error") != "" {
		var fe struct {
			ErrorMessage string `json:"errorMessage"`
		}
		_ = json.Unmarshal(body, &fe)
		// Cognito's wording for a trigger's error, with the trigger's own (generic) message.
		return none, refuseToken(errInvalidRequest, "PreTokenGeneration failed with error "+fe.ErrorMessage+".")
	}
	var out struct {
		Response struct {
			Details *struct {
				Access *accessOverride `json:"accessTokenGeneration"`
			} `json:"claimsAndScopeOverrideDetails"`
		} `json:"response"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return none, refuseToken(errInvalidRequest, "PreTokenGeneration returned an invalid response.")
	}
	if out.Response.Details == nil || out.Response.Details.Access == nil {
		return none, nil
	}
	return *out.Response.Details.Access, nil
}

// applyOverride applies a trigger's accessTokenGeneration to the token's claims (adds, overrides,
// suppressions, reserved claims left alone) and returns the token's scopes: the granted ones less
// scopesToSuppress, plus scopesToAdd.
func applyOverride(payload map[string]any, granted []string, o accessOverride) []string {
	for k, v := range o.ClaimsToAddOrOverride {
		if !reservedAccessClaims[k] {
			payload[k] = v
		}
	}
	for _, k := range o.ClaimsToSuppress {
		if !reservedAccessClaims[k] {
			delete(payload, k)
		}
	}
	var scopes []string
	for _, s := range granted {
		if !slices.Contains(o.ScopesToSuppress, s) {
			scopes = append(scopes, s)
		}
	}
	for _, s := range o.ScopesToAdd {
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	return scopes
}

// sign makes a compact RS256 JWS with the header Cognito's tokens have ({"kid", "alg"}).
func (t *TokenEndpoint) sign(payload map[string]any) (string, error) {
	h, _ := json.Marshal(map[string]string{"kid": t.KeyID, "alg": "RS256"})
	p, err := json.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("encode the token: %w", err)
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(h) + "." + enc.EncodeToString(p)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, t.Key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign the token: %w", err)
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// startStandIns serves, on one free 127.0.0.1 port, the token endpoint stand-in at /oauth2/token
// and, for everything else, cognito-local's API behind the ResourceServers stand-in and the
// emulator kit's ClientSecrets stand-in.
func (e *Env) startStandIns(moduleRoot string) error {
	key, kid, err := LoadCognitoLocalKey(moduleRoot)
	if err != nil {
		return err
	}
	direct := cip.NewFromConfig(aws.Config{
		Region: emulator.Region, Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint: aws.String(e.CognitoURL),
	})
	if e.secrets, err = emulator.StartClientSecretsFor(e.CognitoURL, direct); err != nil {
		return err
	}
	secretsURL, err := url.Parse(e.secrets.URL)
	if err != nil {
		return err
	}
	tokens := &TokenEndpoint{
		Cognito: direct, Secrets: e.secrets, PoolID: e.PoolID, Issuer: e.Issuer(),
		InvokeURL: e.InvokeURL, Function: FunctionName, Region: emulator.Region,
		Key: key, KeyID: kid, Now: time.Now, HTTP: &http.Client{Timeout: 10 * time.Second},
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("token endpoint: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/oauth2/token", tokens)
	mux.Handle("/", NewResourceServers(httputil.NewSingleHostReverseProxy(secretsURL), direct))
	e.standIns = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = e.standIns.Serve(l) }()
	e.APIURL = "http://" + l.Addr().String()
	e.TokenURL = e.APIURL + "/oauth2/token"
	return nil
}
