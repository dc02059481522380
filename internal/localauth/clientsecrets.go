package localauth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// ClientSecrets stands in for the three Cognito IdP calls that give an app client a second
// secret: AddUserPoolClientSecret, ListUserPoolClientSecrets and DeleteUserPoolClientSecret.
// cognito-local 5.3.0 implements none of them (it stores one ClientSecret per app client, made by
// CreateUserPoolClient with GenerateSecret), and neither does moto 5.2.1. It sits in front of
// cognito-local's API: those three targets it answers itself, DeleteUserPoolClient it forwards
// and then forgets the client's secrets, and every other request (every other target, the JWKS)
// it forwards unchanged. The secret cognito-local stores is the client's first secret here; the
// token endpoint stand-in asks Valid which secrets a client has, since Cognito's own API never
// returns a secret's value after it is made.
type ClientSecrets struct {
	upstream *cip.Client
	proxy    *httputil.ReverseProxy
	now      func() time.Time

	mu      sync.Mutex
	clients map[string][]clientSecret // by app client ID, oldest first; absent: only the emulator's
}

type clientSecret struct {
	id, value string
	created   time.Time
}

// maxClientSecrets is Cognito's limit of active secrets per app client.
const maxClientSecrets = 2

// cognitoTarget is the X-Amz-Target prefix of the Cognito IdP API.
const cognitoTarget = "AWSCognitoIdentityProviderService."

// NewClientSecrets fronts the Cognito API at upstreamURL.
func NewClientSecrets(upstreamURL string, upstream *cip.Client) (*ClientSecrets, error) {
	u, err := url.Parse(upstreamURL)
	if err != nil {
		return nil, fmt.Errorf("cognito URL %q: %w", upstreamURL, err)
	}
	return &ClientSecrets{
		upstream: upstream, proxy: httputil.NewSingleHostReverseProxy(u), now: time.Now,
		clients: map[string][]clientSecret{},
	}, nil
}

func (s *ClientSecrets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target, _ := strings.CutPrefix(r.Header.Get("X-Amz-Target"), cognitoTarget)
	if r.Method != http.MethodPost || target == r.Header.Get("X-Amz-Target") {
		s.proxy.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		awsError(w, http.StatusBadRequest, "InvalidParameterException", "unreadable request body")
		return
	}
	var in struct {
		UserPoolId, ClientId, ClientSecret, ClientSecretId string
	}
	switch target {
	case "AddUserPoolClientSecret", "ListUserPoolClientSecrets", "DeleteUserPoolClientSecret":
		if err := json.Unmarshal(body, &in); err != nil || in.UserPoolId == "" || in.ClientId == "" {
			awsError(w, http.StatusBadRequest, "InvalidParameterException", "UserPoolId and ClientId are required")
			return
		}
	case "DeleteUserPoolClient":
		_ = json.Unmarshal(body, &in)
		rec := &statusRecorder{ResponseWriter: w}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		s.proxy.ServeHTTP(rec, r)
		if rec.status/100 == 2 {
			s.mu.Lock()
			delete(s.clients, in.ClientId)
			s.mu.Unlock()
		}
		return
	default:
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		s.proxy.ServeHTTP(w, r)
		return
	}
	out, status, errType, msg := s.call(r.Context(), target, in.UserPoolId, in.ClientId, in.ClientSecret, in.ClientSecretId)
	if errType != "" {
		awsError(w, status, errType, msg)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

// call answers one of the three secret targets. Every change happens under the lock, so two
// calls at once see each other's result (two Adds on a client with one secret: one succeeds).
func (s *ClientSecrets) call(ctx context.Context, target, pool, client, value, secretID string) (out any, status int, errType, msg string) {
	described, err := s.upstream.DescribeUserPoolClient(ctx, &cip.DescribeUserPoolClientInput{
		UserPoolId: aws.String(pool), ClientId: aws.String(client),
	})
	var nf *ciptypes.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		return nil, http.StatusBadRequest, "ResourceNotFoundException", "User pool client " + client + " does not exist."
	case err != nil:
		return nil, http.StatusInternalServerError, "InternalErrorException", "describe the app client: " + err.Error()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	secrets := s.secretsLocked(described.UserPoolClient)
	if len(secrets) == 0 {
		return nil, http.StatusBadRequest, "InvalidParameterException", "The app client " + client + " has no client secret."
	}
	switch target {
	case "AddUserPoolClientSecret":
		if len(secrets) >= maxClientSecrets {
			return nil, http.StatusBadRequest, "LimitExceededException", fmt.Sprintf("An app client can have at most %d client secrets.", maxClientSecrets)
		}
		generated := value == ""
		if generated {
			value = newSecret()
		}
		now := s.now()
		sec := clientSecret{id: secretIDFor(client, now, secrets), value: value, created: now}
		s.clients[client] = append(secrets, sec)
		d := descriptor(sec)
		if generated {
			// As Cognito: the value comes back once, and only when Cognito made it.
			d["ClientSecretValue"] = value
		}
		return map[string]any{"ClientSecretDescriptor": d}, 0, "", ""
	case "ListUserPoolClientSecrets":
		list := []map[string]any{}
		for _, sec := range secrets {
			list = append(list, descriptor(sec))
		}
		return map[string]any{"ClientSecrets": list}, 0, "", ""
	default: // DeleteUserPoolClientSecret
		for i, sec := range secrets {
			if sec.id != secretID {
				continue
			}
			if len(secrets) == 1 {
				return nil, http.StatusBadRequest, "InvalidParameterException", "The only client secret of an app client cannot be deleted."
			}
			s.clients[client] = append(append([]clientSecret(nil), secrets[:i]...), secrets[i+1:]...)
			return map[string]any{}, 0, "", ""
		}
		return nil, http.StatusBadRequest, "ResourceNotFoundException", "Client secret " + secretID + " does not exist."
	}
}

// secretsLocked returns the client's secrets, starting from the one the emulator stores.
func (s *ClientSecrets) secretsLocked(c *ciptypes.UserPoolClientType) []clientSecret {
	id := aws.ToString(c.ClientId)
	if got, ok := s.clients[id]; ok {
		return got
	}
	if aws.ToString(c.ClientSecret) == "" {
		return nil
	}
	created := aws.ToTime(c.CreationDate)
	return []clientSecret{{id: secretIDFor(id, created, nil), value: aws.ToString(c.ClientSecret), created: created}}
}

// Valid returns the client's active secrets: the emulator's stored one until a secret call
// touched the client, then the stand-in's list. described is the client as
// DescribeUserPoolClient returned it.
func (s *ClientSecrets) Valid(described *ciptypes.UserPoolClientType) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, sec := range s.secretsLocked(described) {
		out = append(out, sec.value)
	}
	return out
}

// secretIDFor makes a ClientSecretId in Cognito's form, <client id>--<creation time in ms>,
// unique among the client's secrets.
func secretIDFor(client string, created time.Time, existing []clientSecret) string {
	ms := created.UnixMilli()
	for {
		id := fmt.Sprintf("%s--%d", client, ms)
		clash := false
		for _, e := range existing {
			clash = clash || e.id == id
		}
		if !clash {
			return id
		}
		ms++
	}
}

func descriptor(sec clientSecret) map[string]any {
	// AWS JSON 1.1 timestamps are epoch seconds.
	return map[string]any{"ClientSecretId": sec.id, "ClientSecretCreateDate": float64(sec.created.UnixMilli()) / 1000}
}

// newSecret makes a secret like Cognito's: 51 characters of lower-case letters and digits.
func newSecret() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]byte, 0, 51)
	b := make([]byte, 64)
	for len(out) < cap(out) {
		_, _ = rand.Read(b)
		for _, c := range b {
			// 252 = 7*36: dropping the bytes above it keeps every character equally likely.
			if c < 252 && len(out) < cap(out) {
				out = append(out, alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// awsError writes an error the way the AWS JSON 1.1 protocol does, which the SDK parses.
func awsError(w http.ResponseWriter, status int, errType, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", errType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": errType, "message": msg})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}
