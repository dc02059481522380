package localauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
)

// ResourceServers stands in for CreateResourceServer and DescribeResourceServer, which
// cognito-local 5.3.0 does not implement (it has no resource servers at all): the machine
// environment's resource server declares the scopes machine clients may be given, and claimsctl
// client reads them from it. It also does the one check Cognito makes with them that
// cognito-local skips: CreateUserPoolClient and UpdateUserPoolClient refuse a custom scope
// (identifier/name) that no resource server of the pool declares (ScopeDoesNotExistException).
// Every other request goes to next unchanged.
type ResourceServers struct {
	next     http.Handler
	upstream *cip.Client // cognito-local, to check a pool exists

	mu      sync.Mutex
	servers map[string]map[string]ciptypes.ResourceServerType // pool -> identifier -> server
}

// NewResourceServers fronts next (cognito-local's API, or another stand-in in front of it).
func NewResourceServers(next http.Handler, upstream *cip.Client) *ResourceServers {
	return &ResourceServers{next: next, upstream: upstream, servers: map[string]map[string]ciptypes.ResourceServerType{}}
}

func (s *ResourceServers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), cognitoTarget)
	if !ok || r.Method != http.MethodPost {
		s.next.ServeHTTP(w, r)
		return
	}
	switch target {
	case "CreateResourceServer", "DescribeResourceServer", "CreateUserPoolClient", "UpdateUserPoolClient":
	default:
		s.next.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		awsError(w, http.StatusBadRequest, "InvalidParameterException", "unreadable request body")
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var in struct {
		UserPoolId, Identifier, Name string
		Scopes                       []struct{ ScopeName, ScopeDescription string }
		AllowedOAuthScopes           []string
	}
	if err := json.Unmarshal(body, &in); err != nil || in.UserPoolId == "" {
		awsError(w, http.StatusBadRequest, "InvalidParameterException", "UserPoolId is required")
		return
	}
	switch target {
	case "CreateUserPoolClient", "UpdateUserPoolClient":
		if missing := s.undeclared(in.UserPoolId, in.AllowedOAuthScopes); missing != "" {
			awsError(w, http.StatusBadRequest, "ScopeDoesNotExistException", "Invalid scope requested: "+missing)
			return
		}
		s.next.ServeHTTP(w, r)
		return
	}
	if err := s.poolExists(r.Context(), in.UserPoolId); err != "" {
		awsError(w, http.StatusBadRequest, "ResourceNotFoundException", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pool := s.servers[in.UserPoolId]
	if target == "DescribeResourceServer" {
		rs, ok := pool[in.Identifier]
		if !ok {
			awsError(w, http.StatusBadRequest, "ResourceNotFoundException", "Resource server "+in.Identifier+" does not exist.")
			return
		}
		writeJSON(w, map[string]any{"ResourceServer": rs})
		return
	}
	if in.Identifier == "" || in.Name == "" {
		awsError(w, http.StatusBadRequest, "InvalidParameterException", "Identifier and Name are required")
		return
	}
	if _, dup := pool[in.Identifier]; dup {
		awsError(w, http.StatusBadRequest, "InvalidParameterException", "A resource server with identifier "+in.Identifier+" already exists.")
		return
	}
	rs := ciptypes.ResourceServerType{UserPoolId: aws.String(in.UserPoolId), Identifier: aws.String(in.Identifier), Name: aws.String(in.Name)}
	for _, sc := range in.Scopes {
		rs.Scopes = append(rs.Scopes, ciptypes.ResourceServerScopeType{ScopeName: aws.String(sc.ScopeName), ScopeDescription: aws.String(sc.ScopeDescription)})
	}
	if pool == nil {
		pool = map[string]ciptypes.ResourceServerType{}
		s.servers[in.UserPoolId] = pool
	}
	pool[in.Identifier] = rs
	writeJSON(w, map[string]any{"ResourceServer": rs})
}

// undeclared returns the first custom scope no resource server of the pool declares.
func (s *ResourceServers) undeclared(pool string, scopes []string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sc := range scopes {
		id, name, custom := strings.Cut(sc, "/")
		if !custom {
			continue // openid, email, ...: Cognito's own scopes
		}
		rs, ok := s.servers[pool][id]
		found := false
		for _, d := range rs.Scopes {
			found = found || aws.ToString(d.ScopeName) == name
		}
		if !ok || !found {
			return sc
		}
	}
	return ""
}

func (s *ResourceServers) poolExists(ctx context.Context, pool string) string {
	_, err := s.upstream.DescribeUserPool(ctx, &cip.DescribeUserPoolInput{UserPoolId: aws.String(pool)})
	var nf *ciptypes.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		return "User pool " + pool + " does not exist."
	case err != nil:
		return "describe user pool " + pool + ": " + err.Error()
	}
	return ""
}

// cognitoTarget is the X-Amz-Target prefix of the Cognito IdP API.
const cognitoTarget = "AWSCognitoIdentityProviderService."

// awsError writes an error the way the AWS JSON 1.1 protocol does, which the SDK parses.
func awsError(w http.ResponseWriter, status int, errType, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", errType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": errType, "message": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}
