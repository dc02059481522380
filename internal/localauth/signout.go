package localauth

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"
)

// signOutStandIn is the smallest stand-in for the one Cognito call claimsctl makes that
// cognito-local 5.3.0 does not implement: AdminUserGlobalSignOut (user disable and user remove
// sign the user out). It is a proxy in front of the API path (the other stand-ins, then
// cognito-local; APIURL is its address) that answers that call by asking for the same user (AdminGetUser takes the same UserPoolId
// and Username): a missing user gets cognito-local's own UserNotFoundException, an existing one
// an empty success. It revokes nothing: cognito-local keeps honouring the user's refresh tokens
// until the user is deleted or disabled. moto implements the call for real, and claimsctl's own
// tests check the revocation there. Every other request goes on unchanged.
type signOutStandIn struct {
	url string
	srv *http.Server
}

const signOutTarget = "AWSCognitoIdentityProviderService.AdminUserGlobalSignOut"

func startSignOutStandIn(apiURL string) (*signOutStandIn, error) {
	target, err := url.Parse(apiURL)
	if err != nil {
		return nil, fmt.Errorf("cognito-local API URL %q: %w", apiURL, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sign-out stand-in: %w", err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(r *http.Response) error {
		if r.Request.Header.Get("X-Signout-Stand-In") == "" || r.StatusCode != http.StatusOK {
			return nil
		}
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader([]byte("{}")))
		r.ContentLength = 2
		r.Header.Set("Content-Length", strconv.Itoa(2))
		return nil
	}
	s := &signOutStandIn{url: "http://" + l.Addr().String()}
	s.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") == signOutTarget {
			r.Header.Set("X-Amz-Target", "AWSCognitoIdentityProviderService.AdminGetUser")
			r.Header.Set("X-Signout-Stand-In", "1")
		}
		proxy.ServeHTTP(w, r)
	})}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

func (s *signOutStandIn) close() { _ = s.srv.Close() }
