package claims

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"sort"
	"strings"
)

// Machine clients: confidential Cognito app clients that get access tokens with the
// client-credentials grant. Each has a record in the claims table beside the users', keyed so it
// cannot collide with an email (ClientItemID has no '@'), encrypted with the same key ring and
// sealed to its item like a user's claims.

// ClientPrefix starts the user_id of every client record.
const ClientPrefix = "client#"

// MachineResourceServer is the identifier of the resource server that declares the machine
// scopes; Cognito grants them as "<identifier>/<scope>".
const MachineResourceServer = "hasura"

// Session variables of machine tokens, beside the default and allowed roles.
const (
	ClientIDClaim   = "x-hasura-client-id"
	ClientNameClaim = "x-hasura-client-name"
	// ScopesClaim holds the granted scopes as a Postgres array literal, the form Hasura's _in and
	// _has_keys_any operators take for array session variables.
	ScopesClaim = "x-hasura-scopes"
)

// ErrClientDisabled: the client's record says it is disabled (claimsctl client disable).
var ErrClientDisabled = errors.New("the client is disabled")

var (
	// Cognito's app client IDs.
	clientIDRe = regexp.MustCompile(`^[\w+]{1,128}$`)
	// A client's name: printable ASCII without the characters that would need quoting anywhere
	// it is shown (it is a session variable and a Cognito client name).
	clientNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 _.:@+=-]{0,127}$`)
	tierRe       = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	// Cognito's scope names: printable ASCII without spaces, quotes or backslashes.
	scopeRe = regexp.MustCompile(`^[\x21\x23-\x2E\x30-\x5B\x5D-\x7E]{1,256}$`)
)

// ClientItemID is the user_id of the record of the app client clientID.
func ClientItemID(clientID string) string { return ClientPrefix + clientID }

// IsClientItem reports whether a user_id is a client record's rather than a user's.
func IsClientItem(userID string) bool { return strings.HasPrefix(userID, ClientPrefix) }

// Client is what the record of a machine client says.
type Client struct {
	// ID is the Cognito app client ID; the record is sealed to it.
	ID string `json:"id"`
	// Name is how operators and Hasura (x-hasura-client-name) know the client.
	Name string `json:"name"`
	// Tier selects the Hasura role (machineAccess.tiers).
	Tier string `json:"tier"`
	// Disabled refuses every token until claimsctl client enable.
	Disabled bool `json:"disabled,omitempty"`
	// Scopes are the scope names claimsctl allowed the app client (its AllowedOAuthScopes without
	// the resource server prefix). When set, a token carries only granted scopes that are also
	// here: the record, written first by claimsctl client scopes, narrows at once even while the
	// app client still allows more (and a scope added to the app client outside claimsctl never
	// reaches Hasura).
	Scopes []string `json:"scopes,omitempty"`
}

// Validate checks the fields; errors wrap ErrInvalid and never quote values.
func (c Client) Validate() error {
	switch {
	case !clientIDRe.MatchString(c.ID):
		return invalid("client id must be a Cognito app client ID")
	case !clientNameRe.MatchString(c.Name):
		return invalid("client name must be 1-128 letters, digits, spaces or _ . : @ + = -, starting with a letter or digit")
	case !tierRe.MatchString(c.Tier):
		return invalid("client tier must be 1-32 lower-case letters, digits or hyphens")
	}
	for _, s := range c.Scopes {
		if !scopeRe.MatchString(s) {
			return invalid("client scopes must be Cognito scope names")
		}
	}
	return nil
}

type sealedClient struct {
	V      int     `json:"v"`
	Bind   Binding `json:"bind"`
	Client Client  `json:"client"`
}

// SealClient encrypts c, bound to its item and its app client ID, as the record's claims.
func SealClient(ring *KeyRing, c Client) (string, error) {
	if err := c.Validate(); err != nil {
		return "", err
	}
	plain, err := json.Marshal(sealedClient{V: SealVersion, Bind: Binding{UserID: ClientItemID(c.ID), Identity: c.ID}, Client: c})
	if err != nil {
		return "", invalid("cannot encode the client")
	}
	return ring.Encrypt(plain)
}

// OpenClient decrypts a client record and checks that it was sealed for this item and app
// client: a blob copied from another client's item is ErrBoundElsewhere. Decryption failures
// wrap ErrDecrypt, bad content ErrInvalid.
func OpenClient(ring *KeyRing, rec Record) (Client, error) {
	plain, err := ring.Decrypt(rec.Claims)
	if err != nil {
		return Client{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	var s sealedClient
	if err := dec.Decode(&s); err != nil || dec.More() {
		return Client{}, invalid("client record has unknown or mistyped fields")
	}
	if s.V != SealVersion {
		return Client{}, invalid("client record version %d, want %d", s.V, SealVersion)
	}
	if err := s.Client.Validate(); err != nil {
		return Client{}, err
	}
	if s.Bind.UserID != rec.UserID || s.Bind.Identity != s.Client.ID || rec.UserID != ClientItemID(s.Client.ID) {
		return Client{}, ErrBoundElsewhere
	}
	return s.Client, nil
}

// GrantedScopes turns the scopes Cognito granted a token ("hasura/Query:Person") into the
// machine scope names, sorted and without duplicates; scopes of any other resource server are
// left out.
func GrantedScopes(granted []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range granted {
		name, ok := strings.CutPrefix(s, MachineResourceServer+"/")
		if !ok || name == "" || seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// ScopesLiteral renders scopes as a Postgres array literal: {"a","b"}, each element quoted with
// '"' and '\' escaped (Cognito's scope names contain neither; quoting keeps the literal exact
// whatever they contain). No scopes is {}.
func ScopesLiteral(scopes []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, s := range scopes {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for _, r := range s {
			if r == '"' || r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// ParseScopesLiteral reads a literal ScopesLiteral wrote, as Postgres would: what a test uses
// to check a token the way Hasura's array operators see it.
func ParseScopesLiteral(lit string) ([]string, error) {
	if len(lit) < 2 || lit[0] != '{' || lit[len(lit)-1] != '}' {
		return nil, invalid("not an array literal")
	}
	body := lit[1 : len(lit)-1]
	out := []string{}
	for len(body) > 0 {
		if body[0] != '"' {
			return nil, invalid("unquoted array element")
		}
		var elem strings.Builder
		i := 1
		for ; i < len(body) && body[i] != '"'; i++ {
			if body[i] == '\\' && i+1 < len(body) {
				i++
			}
			elem.WriteByte(body[i])
		}
		if i >= len(body) {
			return nil, invalid("unterminated array element")
		}
		out = append(out, elem.String())
		body = body[i+1:]
		if len(body) > 0 {
			if body[0] != ',' || len(body) == 1 {
				return nil, invalid("bad separator in array literal")
			}
			body = body[1:]
		}
	}
	return out, nil
}

// ForClient returns the claims of a machine token: the tier's role as the default and only
// allowed role, the client's id and name, and the granted scopes (those the record lists, when
// it lists any).
func ForClient(c Client, role string, scopes []string) (Claims, error) {
	if c.Disabled {
		return nil, ErrClientDisabled
	}
	if !roleRe.MatchString(role) {
		return nil, invalid("the tier's role is not a role name")
	}
	if c.Scopes != nil {
		allowed := map[string]bool{}
		for _, s := range c.Scopes {
			allowed[s] = true
		}
		kept := []string{}
		for _, s := range scopes {
			if allowed[s] {
				kept = append(kept, s)
			}
		}
		scopes = kept
	}
	return Claims{
		DefaultRole:     role,
		AllowedRoles:    []string{role},
		ClientIDClaim:   c.ID,
		ClientNameClaim: c.Name,
		ScopesClaim:     ScopesLiteral(scopes),
	}, nil
}
