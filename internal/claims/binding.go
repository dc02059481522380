package claims

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Errors of the binding between an item and its encrypted claims. The trigger maps each to a
// reason code; none of them quotes a value.
var (
	// ErrBoundElsewhere: the blob was sealed for another item (copied from another user_id).
	ErrBoundElsewhere = errors.New("claims are bound to another item")
	// ErrIdentityMismatch: the item records a Cognito identity other than the signing-in user's.
	ErrIdentityMismatch = errors.New("the item records another Cognito identity than the event's sub")
	// ErrUnbound: the blob carries no binding and the environment requires one.
	ErrUnbound = errors.New("claims are not bound to their item")
	// ErrSuperseded: the blob's generation is below the floor the key secret records for its
	// user: an older blob put back after the operator narrowed or removed the user's claims.
	ErrSuperseded = errors.New("claims were superseded: their generation is below the user's floor in the key secret")
)

// SealVersion is the version of the sealed plaintext below.
const SealVersion = 1

// Binding ties an encrypted claims blob to the item it was written for. It travels inside the
// Fernet token, so nobody with write access to the table alone can move it, nor change the
// identity it names.
//
// A user moved from another pool keeps their Hasura user id: HasuraUserID holds the old pool's
// sub, Identity the new pool's.
type Binding struct {
	// UserID is the item's key (the normalized email). A blob whose UserID is not the item's is refused.
	UserID string `json:"user_id"`
	// Identity is the Cognito sub the item was written for; the trigger refuses another sub.
	// Empty when the Cognito user did not exist yet (e.g. a federated user before their first
	// sign-in): the email, verified by Cognito or an allowed provider, is then the only proof.
	Identity string `json:"identity,omitempty"`
	// HasuraUserID becomes x-hasura-user-id; empty means Identity, or else the event's sub.
	HasuraUserID string `json:"hasura_user_id,omitempty"`
	// Gen is the generation of the item's claims: claimsctl writes a higher one each time
	// (NextGen). A floor in the key ring refuses every lower one (KeyRing.Floor). 0: none (a
	// blob from before generations, or re-bound from Moped's).
	Gen uint64 `json:"gen,omitempty"`
}

// NextGen is the generation of a user's next claims: above the current blob's (cur), at least
// the user's floor, and at least the writer's clock in milliseconds, so that generations rise
// across writes even when the current blob is an older one put back (given writers' clocks that
// do not run backwards by more than the time between two writes of one user).
func NextGen(cur, floor uint64, nowMillis int64) uint64 {
	g := max(cur+1, floor)
	if nowMillis > 0 {
		g = max(g, uint64(nowMillis))
	}
	return g
}

type sealed struct {
	V      int             `json:"v"`
	Bind   Binding         `json:"bind"`
	Claims json.RawMessage `json:"claims"`
}

// Seal renders claims bound to b as the plaintext to encrypt.
func Seal(c Claims, b Binding) ([]byte, error) {
	if b.UserID == "" {
		return nil, invalid("a binding needs the item's user_id")
	}
	if len(b.Identity) > MaxValueBytes || len(b.HasuraUserID) > MaxValueBytes {
		return nil, invalid("binding identity longer than %d bytes", MaxValueBytes)
	}
	return json.Marshal(sealed{V: SealVersion, Bind: b, Claims: json.RawMessage(c.JSON())})
}

// Open parses a decrypted blob: either sealed claims with their binding, or a bare claims
// object (what Moped wrote), for which the binding is nil.
func Open(plain []byte) (Claims, *Binding, error) {
	var probe map[string]json.RawMessage
	if len(plain) > MaxPlaintextBytes+1024 || json.Unmarshal(plain, &probe) != nil {
		c, err := Parse(plain) // the precise error
		return c, nil, err
	}
	if _, ok := probe["claims"]; !ok {
		c, err := Parse(plain)
		return c, nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	var s sealed
	if err := dec.Decode(&s); err != nil {
		return nil, nil, invalid("sealed claims have unknown or mistyped fields")
	}
	if s.V != SealVersion {
		return nil, nil, invalid("sealed claims version %d, want %d", s.V, SealVersion)
	}
	if s.Bind.UserID == "" {
		return nil, nil, invalid("sealed claims name no user_id")
	}
	c, err := Parse(s.Claims)
	if err != nil {
		return nil, nil, err
	}
	return c, &s.Bind, nil
}

// Decode decrypts and validates an item's claims as the trigger does, and checks that a
// binding names this item. It needs no event, so claimsctl uses it too.
// A blob whose generation is below the user's floor (or an unbound blob, when the user has a
// floor) is refused with ErrSuperseded.
func Decode(ring *KeyRing, rec Record) (Claims, *Binding, error) {
	c, b, _, err := Inspect(ring, rec)
	return c, b, err
}

// Inspect is Decode that also reports whether the ring's primary key decrypted the blob, from
// the same single decryption (claimsctl's verify and rotate ask both of every item).
func Inspect(ring *KeyRing, rec Record) (Claims, *Binding, bool, error) {
	c, b, primary, err := decode(ring, rec)
	if err != nil {
		return nil, nil, false, err
	}
	if f := ring.Floor(rec.UserID); f > 0 && (b == nil || b.Gen < f) {
		return nil, nil, false, ErrSuperseded
	}
	return c, b, primary, nil
}

// DecodeAnyGeneration is Decode without the floor check: claimsctl reads an item with it to
// learn the binding and generation it replaces, whatever blob the item holds now.
func DecodeAnyGeneration(ring *KeyRing, rec Record) (Claims, *Binding, error) {
	c, b, _, err := decode(ring, rec)
	return c, b, err
}

func decode(ring *KeyRing, rec Record) (Claims, *Binding, bool, error) {
	plain, primary, err := ring.decrypt(rec.Claims)
	if err != nil {
		return nil, nil, false, err
	}
	c, b, err := Open(plain)
	if err != nil {
		return nil, nil, false, err
	}
	if b != nil && b.UserID != rec.UserID {
		return nil, nil, false, ErrBoundElsewhere
	}
	return c, b, primary, nil
}

// BindingFor is the binding an unbound item gets when claimsctl re-encrypts it: its user_id,
// and its cognito_uuid as the identity. The plain compatibility attributes move into the
// sealed claims, where nobody can change them without the key.
func BindingFor(stored Claims, rec Record) (Claims, Binding) {
	out := Claims{}
	for k, v := range stored {
		out[k] = v
	}
	delete(out, UserID)
	if _, ok := out[UserDBID]; !ok && rec.DatabaseID != "" {
		out[UserDBID] = rec.DatabaseID
	}
	if _, ok := out[UserWGID]; !ok && rec.WorkgroupID != "" {
		out[UserWGID] = rec.WorkgroupID
	}
	return out, Binding{UserID: rec.UserID, Identity: rec.CognitoUUID}
}

// SealFor encrypts claims bound to b with the ring's primary key.
func SealFor(ring *KeyRing, c Claims, b Binding) (string, error) {
	plain, err := Seal(c, b)
	if err != nil {
		return "", err
	}
	return ring.Encrypt(plain)
}

// CheckWritable refuses what an operator must not store: x-hasura-user-id is always set by the
// trigger from the binding or Cognito, so a stored value would only mislead whoever reads it.
func CheckWritable(c Claims) error {
	if _, ok := c[UserID]; ok {
		return invalid("%s is set by the trigger from the user's Cognito identity; it cannot be stored", UserID)
	}
	return nil
}
