// Package claims is the one implementation of the claims contract, shared by the pre-token
// Lambda and claimsctl: the key ring in Secrets Manager, the DynamoDB record, and the
// validation of Hasura claims. See ARCHITECTURE.md, "Contracts".
package claims

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/fernet/fernet-go"
)

// ErrDecrypt means no key of the ring could verify and decrypt a token: it was garbled,
// truncated, or encrypted with a key the ring no longer holds.
var ErrDecrypt = errors.New("claims: no key in the key ring decrypts the token")

// KeyRing holds the Fernet keys from the claims key secret: the first encrypts, every key decrypts.
type KeyRing struct {
	keys    []*fernet.Key
	encoded []string
	floors  map[string]uint64 // user_id -> lowest generation still accepted (see Floor)
}

type keyRingJSON struct {
	Keys   []string          `json:"keys"`
	Floors map[string]uint64 `json:"floors,omitempty"`
}

// MaxSecretBytes is Secrets Manager's limit on a SecretString; claimsctl refuses to grow the
// ring's floors past it.
const MaxSecretBytes = 65536

// ParseKeyRing reads a secret's SecretString: {"keys": ["<fernet key>", ...], "floors": {...}}.
// Keys must be URL-safe base64 of 32 bytes, the form Python's cryptography.fernet uses; floors
// (optional) map a user_id to the lowest claims generation accepted for it.
func ParseKeyRing(secretString string) (*KeyRing, error) {
	dec := json.NewDecoder(strings.NewReader(secretString))
	dec.DisallowUnknownFields()
	var v keyRingJSON
	if err := dec.Decode(&v); err != nil {
		// Never wrap the JSON error: its text may quote the secret.
		return nil, errors.New(`claims: key secret is not {"keys": [...]} JSON`)
	}
	if len(v.Keys) == 0 {
		return nil, errors.New("claims: key secret holds no keys")
	}
	r, err := NewKeyRing(v.Keys...)
	if err != nil {
		return nil, err
	}
	for id := range v.Floors {
		if id == "" || len(id) > 320 {
			return nil, errors.New("claims: key secret has a floor for an empty or overlong user_id")
		}
	}
	if len(v.Floors) > 0 {
		r.floors = v.Floors
	}
	return r, nil
}

// NewKeyRing builds a ring from encoded keys, newest (the encrypting key) first.
func NewKeyRing(encoded ...string) (*KeyRing, error) {
	if len(encoded) == 0 {
		return nil, errors.New("claims: a key ring needs at least one key")
	}
	r := &KeyRing{}
	seen := map[string]bool{}
	for i, s := range encoded {
		if err := CheckKey(s); err != nil {
			return nil, fmt.Errorf("claims: key %d of the ring: %w", i, err)
		}
		if seen[s] {
			continue
		}
		seen[s] = true
		k, err := fernet.DecodeKey(s)
		if err != nil {
			return nil, fmt.Errorf("claims: key %d of the ring: not a Fernet key", i)
		}
		r.keys = append(r.keys, k)
		r.encoded = append(r.encoded, s)
	}
	return r, nil
}

// CheckKey reports whether s is a Fernet key in the URL-safe base64 form (44 characters).
// The error never quotes the key.
func CheckKey(s string) error {
	b, err := base64.URLEncoding.DecodeString(s)
	if err != nil || len(b) != 32 {
		return errors.New("not a Fernet key (URL-safe base64 of 32 bytes, 44 characters)")
	}
	return nil
}

// GenerateKey returns a new random Fernet key, encoded.
func GenerateKey() (string, error) {
	var k fernet.Key
	if err := k.Generate(); err != nil {
		return "", fmt.Errorf("claims: generate key: %w", err)
	}
	return k.Encode(), nil
}

// Encrypt makes a Fernet token of plain with the first (newest) key.
func (r *KeyRing) Encrypt(plain []byte) (string, error) {
	tok, err := fernet.EncryptAndSign(plain, r.keys[0])
	if err != nil {
		return "", fmt.Errorf("claims: encrypt: %w", err)
	}
	return string(tok), nil
}

// Decrypt verifies and decrypts a token with any key of the ring. Tokens never expire here:
// a claim's lifetime is governed by the table, not by the token's timestamp.
func (r *KeyRing) Decrypt(token string) ([]byte, error) {
	msg := fernet.VerifyAndDecrypt([]byte(token), 0, r.keys)
	if msg == nil {
		return nil, ErrDecrypt
	}
	return msg, nil
}

// decrypt is Decrypt that also says whether the primary key decrypted the token (tried first),
// so that a caller auditing the table decrypts each item once, not once more with the primary.
func (r *KeyRing) decrypt(token string) ([]byte, bool, error) {
	if msg := fernet.VerifyAndDecrypt([]byte(token), 0, r.keys[:1]); msg != nil {
		return msg, true, nil
	}
	if len(r.keys) > 1 {
		if msg := fernet.VerifyAndDecrypt([]byte(token), 0, r.keys[1:]); msg != nil {
			return msg, false, nil
		}
	}
	return nil, false, ErrDecrypt
}

// DecryptsWithPrimary reports whether the newest key alone decrypts token (used by rotation).
func (r *KeyRing) DecryptsWithPrimary(token string) bool {
	return fernet.VerifyAndDecrypt([]byte(token), 0, r.keys[:1]) != nil
}

// Keys returns the encoded keys, newest first.
func (r *KeyRing) Keys() []string { return append([]string(nil), r.encoded...) }

// Len is the number of keys in the ring.
func (r *KeyRing) Len() int { return len(r.keys) }

// SecretString renders the ring as the key secret's SecretString.
func (r *KeyRing) SecretString() string {
	b, _ := json.Marshal(keyRingJSON{Keys: r.encoded, Floors: r.floors})
	return string(b)
}

// WithNewPrimary returns a ring with key first, followed by the current keys; the floors stay.
func (r *KeyRing) WithNewPrimary(key string) (*KeyRing, error) {
	return r.WithKeys(append([]string{key}, r.encoded...)...)
}

// WithKeys returns a ring of these keys (the first encrypts) with this ring's floors.
func (r *KeyRing) WithKeys(encoded ...string) (*KeyRing, error) {
	n, err := NewKeyRing(encoded...)
	if err != nil {
		return nil, err
	}
	n.floors = r.floors
	return n, nil
}

// Floor is the lowest generation of user_id's sealed claims the ring accepts (0: any). A floor
// is how an operator revokes a user's older claims blobs: the key secret is the one store that
// write access to the claims table cannot roll back, and a blob's generation is inside its
// Fernet token, so a blob put back from before the floor is refused (ErrSuperseded).
func (r *KeyRing) Floor(userID string) uint64 { return r.floors[userID] }

// Floors is the number of users with a floor.
func (r *KeyRing) Floors() int { return len(r.floors) }

// WithFloor returns a copy of the ring whose floor for userID is gen (never lowered).
func (r *KeyRing) WithFloor(userID string, gen uint64) *KeyRing {
	n := &KeyRing{keys: r.keys, encoded: r.encoded, floors: map[string]uint64{}}
	for k, v := range r.floors {
		n.floors[k] = v
	}
	n.floors[userID] = max(gen, r.floors[userID])
	return n
}

// WithoutFloors returns a copy of the ring with no floors: right after every item was re-sealed
// under a key drawn after the floors were set and the older keys were retired, no blob from
// before a floor can be decrypted any more.
func (r *KeyRing) WithoutFloors() *KeyRing {
	return &KeyRing{keys: r.keys, encoded: r.encoded}
}

// LogHash is a keyed hash of s for log lines: HMAC-SHA-256 under a key derived from the primary
// key, truncated to 64 bits (enough to correlate a user's lines, too short to be a tag anyone
// could forge against). Nobody without the key ring can test a guess.
func (r *KeyRing) LogHash(s string) string {
	k := hmac.New(sha256.New, []byte(r.encoded[0]))
	k.Write([]byte("hasura-auth log user hash v1"))
	m := hmac.New(sha256.New, k.Sum(nil))
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// Fingerprint names the primary key without revealing it (SHA-256 of the key, 12 hex digits):
// claimsctl records it to say which key an interrupted rotation was moving to.
func (r *KeyRing) Fingerprint() string { return Fingerprint(r.encoded[0]) }

// Fingerprint names an encoded key without revealing it.
func Fingerprint(key string) string {
	sum := sha256.Sum256([]byte("hasura-auth key fingerprint v1:" + key))
	return hex.EncodeToString(sum[:6])
}
