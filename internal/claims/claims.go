package claims

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Namespace is the token claim Hasura reads (claims_format: stringified_json).
const Namespace = "https://hasura.io/jwt/claims"

// Well-known Hasura session variables.
const (
	UserID       = "x-hasura-user-id"
	DefaultRole  = "x-hasura-default-role"
	AllowedRoles = "x-hasura-allowed-roles"
	UserDBID     = "x-hasura-user-db-id" // Moped compatibility, from database_id
	UserWGID     = "x-hasura-user-wg-id" // Moped compatibility, from workgroup_id
	prefix       = "x-hasura-"
)

// Table attribute names (compatible with existing Moped tables).
const (
	AttrUserID      = "user_id"
	AttrClaims      = "claims"
	AttrCognitoUUID = "cognito_uuid"
	AttrDatabaseID  = "database_id"
	AttrWorkgroupID = "workgroup_id"
)

// Limits keep a token well inside Cognito's claim size limits and Hasura's header budget.
const (
	MaxPlaintextBytes = 4096
	MaxRoles          = 50
	MaxValueBytes     = 512
)

var roleRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`)

// ErrInvalid is wrapped by every validation error, so callers can tell bad data from I/O errors.
var ErrInvalid = errors.New("invalid claims")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
}

// Claims are validated Hasura session variables: x-hasura-allowed-roles is a []string, every
// other value a string.
type Claims map[string]any

// Parse decodes and validates decrypted claims: a JSON object of x-hasura-* keys; allowed roles a
// non-empty array of role names; the default role one of them; every other value a string
// (integral numbers are turned into strings). Errors never quote values.
func Parse(plain []byte) (Claims, error) {
	if len(plain) > MaxPlaintextBytes {
		return nil, invalid("%d bytes, more than the %d allowed", len(plain), MaxPlaintextBytes)
	}
	if !utf8.Valid(plain) {
		return nil, invalid("not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, invalid("not JSON")
	}
	if dec.More() {
		return nil, invalid("trailing data after the JSON object")
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, invalid("not a JSON object")
	}
	out := Claims{}
	for k, v := range obj {
		key := strings.ToLower(k)
		if !strings.HasPrefix(key, prefix) || len(key) == len(prefix) || len(key) > 100 {
			return nil, invalid("key %q is not an x-hasura-* session variable", truncate(k))
		}
		if _, dup := out[key]; dup {
			return nil, invalid("key %q appears twice (session variables are case-insensitive)", key)
		}
		if key == AllowedRoles {
			roles, err := parseRoles(v)
			if err != nil {
				return nil, err
			}
			out[key] = roles
			continue
		}
		s, err := stringValue(key, v)
		if err != nil {
			return nil, err
		}
		out[key] = s
	}
	if err := out.check(); err != nil {
		return nil, err
	}
	return out, nil
}

func parseRoles(v any) ([]string, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		return nil, invalid("%s must be a non-empty array of role names", AllowedRoles)
	}
	if len(arr) > MaxRoles {
		return nil, invalid("%s has %d roles, more than %d", AllowedRoles, len(arr), MaxRoles)
	}
	roles := make([]string, 0, len(arr))
	seen := map[string]bool{}
	for i, r := range arr {
		s, ok := r.(string)
		if !ok || !roleRe.MatchString(s) {
			return nil, invalid("%s[%d] must be a role name (letters, digits, '_', '.', '-')", AllowedRoles, i)
		}
		if seen[s] {
			return nil, invalid("%s lists %q twice", AllowedRoles, s)
		}
		seen[s] = true
		roles = append(roles, s)
	}
	return roles, nil
}

func stringValue(key string, v any) (string, error) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		if _, err := x.Int64(); err != nil {
			return "", invalid("%s must be a string or a whole number", key)
		}
		s = x.String()
	default:
		return "", invalid("%s must be a string", key)
	}
	if len(s) > MaxValueBytes {
		return "", invalid("%s is longer than %d bytes", key, MaxValueBytes)
	}
	return s, nil
}

// check enforces the rules that span keys.
func (c Claims) check() error {
	roles, ok := c[AllowedRoles].([]string)
	if !ok {
		return invalid("%s is missing", AllowedRoles)
	}
	def, ok := c[DefaultRole].(string)
	if !ok {
		return invalid("%s is missing", DefaultRole)
	}
	for _, r := range roles {
		if r == def {
			return nil
		}
	}
	return invalid("%s is not one of %s", DefaultRole, AllowedRoles)
}

// New builds claims from roles, checking them exactly as Parse does.
func New(allowed []string, defaultRole string, extra map[string]string) (Claims, error) {
	m := map[string]any{AllowedRoles: allowed, DefaultRole: defaultRole}
	for k, v := range extra {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, invalid("cannot encode")
	}
	return Parse(b)
}

// Roles returns the allowed roles and the default role.
func (c Claims) Roles() (allowed []string, def string) {
	allowed, _ = c[AllowedRoles].([]string)
	def, _ = c[DefaultRole].(string)
	return allowed, def
}

// JSON renders the claims with sorted keys (encoding/json sorts map keys), so the same claims
// always give the same bytes.
func (c Claims) JSON() string {
	b, err := json.Marshal(map[string]any(c))
	if err != nil {
		// Claims hold only strings and string slices; this cannot happen.
		panic(fmt.Sprintf("claims: marshal: %v", err))
	}
	return string(b)
}

// LegacySubAttr is the user attribute in which the UserMigration trigger records the sub a
// migrated user had in the pool they came from (cognito.migrateFrom). The pool declares it
// immutable and no app client may write it, so only Cognito, creating the user at migration,
// sets it; the pre-token trigger passes it on as Identity.LegacySub.
const LegacySubAttr = "custom:legacy_sub"

// Identity is who is signing in, as the event says: Sub is this pool's sub (Cognito sets it and
// users cannot edit it), LegacySub the old pool's sub recorded at migration (LegacySubAttr),
// empty for a user who was not migrated.
type Identity struct {
	Sub       string
	LegacySub string
}

// matches says whether an identity recorded in an item (a binding's Identity or a Moped
// cognito_uuid) is the signing-in user: their sub, or the sub they had in the old pool.
func (who Identity) matches(recorded string) bool {
	return recorded == who.Sub || (who.LegacySub != "" && recorded == who.LegacySub)
}

// ForToken returns the claims a token carries for rec's user, signing in as who.
//
// Bound claims (bind != nil): the item must record no identity, or one who matches (their sub,
// or for a migrated user their old pool's sub); x-hasura-user-id is the binding's HasuraUserID,
// else its Identity, else sub. The plain item attributes are not read, because anyone who can
// write the table can write them.
//
// Unbound claims (Moped's; the caller decides whether they are allowed): a cognito_uuid must
// match who the same way; x-hasura-user-id is the cognito_uuid (so a migrated user keeps the id
// Moped's tables hold), else sub, and the Moped compatibility attributes are filled in where the
// claims lack them.
func ForToken(stored Claims, bind *Binding, rec Record, who Identity) (Claims, error) {
	if who.Sub == "" {
		return nil, invalid("no user id: the event has no sub")
	}
	out := Claims{}
	for k, v := range stored {
		out[k] = v
	}
	if bind != nil {
		if bind.UserID != rec.UserID {
			return nil, ErrBoundElsewhere
		}
		if bind.Identity != "" && !who.matches(bind.Identity) {
			return nil, ErrIdentityMismatch
		}
		id := bind.HasuraUserID
		if id == "" {
			id = bind.Identity
		}
		if id == "" {
			id = who.Sub
		}
		out[UserID] = id
	} else {
		if rec.CognitoUUID != "" && !who.matches(rec.CognitoUUID) {
			return nil, ErrIdentityMismatch
		}
		id := rec.CognitoUUID
		if id == "" {
			id = who.Sub
		}
		out[UserID] = id
		if _, ok := out[UserDBID]; !ok && rec.DatabaseID != "" {
			out[UserDBID] = rec.DatabaseID
		}
		if _, ok := out[UserWGID]; !ok && rec.WorkgroupID != "" {
			out[UserWGID] = rec.WorkgroupID
		}
	}
	if err := out.check(); err != nil {
		return nil, err
	}
	return out, nil
}

// Record is one item of the claims table.
type Record struct {
	UserID      string // the email, lower-cased
	Claims      string // Fernet token of the claims JSON
	CognitoUUID string
	DatabaseID  string
	WorkgroupID string
}

// RecordFromItem reads a DynamoDB item. database_id and workgroup_id may be N or S.
func RecordFromItem(item map[string]types.AttributeValue) (Record, error) {
	var r Record
	var err error
	if r.UserID, err = str(item, AttrUserID, true); err != nil {
		return r, err
	}
	if r.Claims, err = str(item, AttrClaims, true); err != nil {
		return r, err
	}
	if r.CognitoUUID, err = str(item, AttrCognitoUUID, false); err != nil {
		return r, err
	}
	if r.DatabaseID, err = strOrNum(item, AttrDatabaseID); err != nil {
		return r, err
	}
	if r.WorkgroupID, err = strOrNum(item, AttrWorkgroupID); err != nil {
		return r, err
	}
	return r, nil
}

// Item renders the record as a DynamoDB item; empty optional attributes are left out.
func (r Record) Item() map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
		AttrUserID: &types.AttributeValueMemberS{Value: r.UserID},
		AttrClaims: &types.AttributeValueMemberS{Value: r.Claims},
	}
	if r.CognitoUUID != "" {
		item[AttrCognitoUUID] = &types.AttributeValueMemberS{Value: r.CognitoUUID}
	}
	if r.DatabaseID != "" {
		item[AttrDatabaseID] = &types.AttributeValueMemberS{Value: r.DatabaseID}
	}
	if r.WorkgroupID != "" {
		item[AttrWorkgroupID] = &types.AttributeValueMemberS{Value: r.WorkgroupID}
	}
	return item
}

func str(item map[string]types.AttributeValue, name string, required bool) (string, error) {
	v, ok := item[name]
	if !ok {
		if required {
			return "", invalid("item has no %s attribute", name)
		}
		return "", nil
	}
	s, ok := v.(*types.AttributeValueMemberS)
	if !ok || (required && s.Value == "") {
		return "", invalid("item attribute %s must be a non-empty string", name)
	}
	return s.Value, nil
}

func strOrNum(item map[string]types.AttributeValue, name string) (string, error) {
	switch v := item[name].(type) {
	case nil:
		return "", nil
	case *types.AttributeValueMemberS:
		return v.Value, nil
	case *types.AttributeValueMemberN:
		n := json.Number(v.Value)
		if _, err := n.Int64(); err != nil {
			return "", invalid("item attribute %s must be a whole number", name)
		}
		return v.Value, nil
	case *types.AttributeValueMemberNULL:
		return "", nil
	default:
		return "", invalid("item attribute %s must be a number or a string", name)
	}
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
