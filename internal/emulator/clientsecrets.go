package emulator

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
)

// ClientSecrets is the one stand-in for Cognito calls in this kit: neither moto 5.2.1 nor
// cognito-local 5.3.0 implements AddUserPoolClientSecret, ListUserPoolClientSecrets or
// DeleteUserPoolClientSecret (Cognito's two-secrets-per-client rotation, 2025), and no other
// emulator here does. It is a proxy in front of the emulator's Cognito API (moto for claimsctl's
// tests, cognito-local for the local chain) that answers exactly those three calls and forwards
// every other request unchanged, so app clients, pools and everything else stay the emulator's.
// A client's first secret is the one the emulator generated with the client
// (DescribeUserPoolClient's ClientSecret); secrets added later live only here. Valid answers what
// Cognito's token endpoint would check (internal/localauth's token endpoint stand-in asks it).
type ClientSecrets struct {
	URL string

	upstream *cip.Client
	proxy    *httputil.ReverseProxy
	srv      *http.Server

	mu      sync.Mutex
	secrets map[string][]clientSecret // pool/client -> secrets, oldest first
}

type clientSecret struct {
	id, value string
	created   time.Time
}

// maxClientSecrets is Cognito's limit of active secrets per app client.
const maxClientSecrets = 2

const targetPrefix = "AWSCognitoIdentityProviderService."

// StartClientSecrets starts the proxy in front of moto on a free loopback port. Point the
// Cognito clients at its URL (AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER); Close stops it.
func StartClientSecrets(m *Moto) (*ClientSecrets, error) {
	return StartClientSecretsFor(m.URL, cip.NewFromConfig(m.Config()))
}

// StartClientSecretsFor starts the proxy in front of the Cognito API at upstreamURL, which
// upstream calls.
func StartClientSecretsFor(upstreamURL string, upstream *cip.Client) (*ClientSecrets, error) {
	target, err := url.Parse(upstreamURL)
	if err != nil {
		return nil, fmt.Errorf("cognito URL %q: %w", upstreamURL, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("client secrets stand-in: %w", err)
	}
	s := &ClientSecrets{
		URL:      "http://" + l.Addr().String(),
		upstream: upstream,
		proxy:    httputil.NewSingleHostReverseProxy(target),
		secrets:  map[string][]clientSecret{},
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

// Close stops the proxy.
func (s *ClientSecrets) Close() { _ = s.srv.Close() }

func (s *ClientSecrets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	if !ok || (op != "AddUserPoolClientSecret" && op != "ListUserPoolClientSecrets" && op != "DeleteUserPoolClientSecret") {
		s.proxy.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeErr(w, "InternalErrorException", err.Error())
		return
	}
	var in struct {
		UserPoolId, ClientId, ClientSecret, ClientSecretId string
	}
	if err := json.Unmarshal(body, &in); err != nil || in.UserPoolId == "" || in.ClientId == "" {
		writeErr(w, "InvalidParameterException", "UserPoolId and ClientId are required")
		return
	}
	out, code, msg := s.call(r.Context(), op, in.UserPoolId, in.ClientId, in.ClientSecret, in.ClientSecretId)
	if code != "" {
		writeErr(w, code, msg)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func (s *ClientSecrets) call(ctx context.Context, op, pool, client, value, secretID string) (out any, code, msg string) {
	list, code, msg := s.load(ctx, pool, client)
	if code != "" {
		return nil, code, msg
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := pool + "/" + client
	list = s.secrets[key]
	switch op {
	case "AddUserPoolClientSecret":
		if len(list) >= maxClientSecrets {
			return nil, "LimitExceededException", fmt.Sprintf("app client %s already has %d client secrets", client, maxClientSecrets)
		}
		generated := value == ""
		if generated {
			value = randomHex(26)
		}
		sec := clientSecret{id: client + "--" + randomHex(8), value: value, created: time.Now()}
		s.secrets[key] = append(list, sec)
		d := descriptor(sec)
		if generated { // Cognito returns the value only when it generated it
			d["ClientSecretValue"] = sec.value
		}
		return map[string]any{"ClientSecretDescriptor": d}, "", ""
	case "ListUserPoolClientSecrets":
		ds := []map[string]any{}
		for _, sec := range list {
			ds = append(ds, descriptor(sec))
		}
		return map[string]any{"ClientSecrets": ds}, "", ""
	default: // DeleteUserPoolClientSecret
		for i, sec := range list {
			if sec.id != secretID {
				continue
			}
			if len(list) == 1 {
				return nil, "InvalidParameterException", "cannot delete the only client secret of an app client"
			}
			s.secrets[key] = append(append([]clientSecret{}, list[:i]...), list[i+1:]...)
			return map[string]any{}, "", ""
		}
		return nil, "ResourceNotFoundException", fmt.Sprintf("client secret %s not found", secretID)
	}
}

// load checks the app client exists in the emulator and, the first time, records the secret the
// emulator made with it.
func (s *ClientSecrets) load(ctx context.Context, pool, client string) ([]clientSecret, string, string) {
	d, err := s.upstream.DescribeUserPoolClient(ctx, &cip.DescribeUserPoolClientInput{UserPoolId: aws.String(pool), ClientId: aws.String(client)})
	if err != nil {
		var nf *ciptypes.ResourceNotFoundException
		if errors.As(err, &nf) {
			return nil, "ResourceNotFoundException", fmt.Sprintf("app client %s not found", client)
		}
		return nil, "InternalErrorException", err.Error()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := pool + "/" + client
	if _, seen := s.secrets[key]; !seen {
		var list []clientSecret
		if v := aws.ToString(d.UserPoolClient.ClientSecret); v != "" {
			list = append(list, clientSecret{id: client + "--" + randomHex(8), value: v, created: aws.ToTime(d.UserPoolClient.CreationDate)})
		}
		s.secrets[key] = list
	}
	return s.secrets[key], "", ""
}

// Valid reports whether secret is one of the app client's active secrets.
func (s *ClientSecrets) Valid(ctx context.Context, pool, client, secret string) bool {
	list, code, _ := s.load(ctx, pool, client)
	if code != "" {
		return false
	}
	ok := false
	for _, sec := range list {
		// Constant time, as a token endpoint compares secrets.
		ok = subtle.ConstantTimeCompare([]byte(sec.value), []byte(secret)) == 1 || ok
	}
	return ok
}

func descriptor(sec clientSecret) map[string]any {
	return map[string]any{"ClientSecretId": sec.id, "ClientSecretCreateDate": float64(sec.created.UnixMilli()) / 1000}
}

func writeErr(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(http.StatusBadRequest)
	b, _ := json.Marshal(map[string]string{"__type": code, "message": msg})
	_, _ = io.Copy(w, bytes.NewReader(b))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
