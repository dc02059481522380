package claims

import (
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/emulator"
)

func TestParseAcceptsValidClaimsAndNormalizes(t *testing.T) {
	c, err := Parse([]byte(`{"X-Hasura-Default-Role":"editor","x-hasura-allowed-roles":["viewer","editor"],"x-hasura-org-id":17}`))
	require.NoError(t, err)
	assert.Equal(t, Claims{
		DefaultRole:       "editor",
		AllowedRoles:      []string{"viewer", "editor"},
		"x-hasura-org-id": "17", // numbers become strings
	}, c, "keys are lower-cased (Hasura treats them case-insensitively)")
	assert.Equal(t, `{"x-hasura-allowed-roles":["viewer","editor"],"x-hasura-default-role":"editor","x-hasura-org-id":"17"}`, c.JSON())
	allowed, def := c.Roles()
	assert.Equal(t, []string{"viewer", "editor"}, allowed)
	assert.Equal(t, "editor", def)
}

func TestParseRefusesWhatHasuraMustNotSee(t *testing.T) {
	cases := map[string]struct{ in, want string }{
		"not JSON":               {`x-hasura-default-role`, "not JSON"},
		"array":                  {`["editor"]`, "not a JSON object"},
		"string":                 {`"editor"`, "not a JSON object"},
		"trailing data":          {`{"x-hasura-default-role":"a","x-hasura-allowed-roles":["a"]} {}`, "trailing data"},
		"no allowed roles":       {`{"x-hasura-default-role":"a"}`, "x-hasura-allowed-roles is missing"},
		"empty allowed roles":    {`{"x-hasura-default-role":"a","x-hasura-allowed-roles":[]}`, "non-empty array"},
		"allowed roles string":   {`{"x-hasura-default-role":"a","x-hasura-allowed-roles":"a"}`, "non-empty array"},
		"role not a string":      {`{"x-hasura-default-role":"a","x-hasura-allowed-roles":["a",1]}`, "x-hasura-allowed-roles[1] must be a role name"},
		"role with space":        {`{"x-hasura-default-role":"a","x-hasura-allowed-roles":["a","b c"]}`, "x-hasura-allowed-roles[1] must be a role name"},
		"duplicate role":         {`{"x-hasura-default-role":"a","x-hasura-allowed-roles":["a","a"]}`, `lists "a" twice`},
		"no default role":        {`{"x-hasura-allowed-roles":["a"]}`, "x-hasura-default-role is missing"},
		"default not allowed":    {`{"x-hasura-default-role":"admin","x-hasura-allowed-roles":["a"]}`, "x-hasura-default-role is not one of x-hasura-allowed-roles"},
		"default not a string":   {`{"x-hasura-default-role":["a"],"x-hasura-allowed-roles":["a"]}`, "x-hasura-default-role must be a string"},
		"object value":           {`{"x-hasura-default-role":"a","x-hasura-allowed-roles":["a"],"x-hasura-org":{"id":1}}`, "x-hasura-org must be a string"},
		"bool value":             {`{"x-hasura-default-role":"a","x-hasura-allowed-roles":["a"],"x-hasura-org":true}`, "x-hasura-org must be a string"},
		"null value":             {`{"x-hasura-default-role":"a","x-hasura-allowed-roles":["a"],"x-hasura-org":null}`, "x-hasura-org must be a string"},
		"fraction":               {`{"x-hasura-default-role":"a","x-hasura-allowed-roles":["a"],"x-hasura-org":1.5}`, "string or a whole number"},
		"not a session var":      {`{"x-hasura-default-role":"a","x-hasura-allowed-roles":["a"],"role":"admin"}`, `key "role" is not an x-hasura-* session variable`},
		"bare prefix":            {`{"x-hasura-default-role":"a","x-hasura-allowed-roles":["a"],"x-hasura-":"x"}`, "is not an x-hasura-* session variable"},
		"case duplicate":         {`{"x-hasura-default-role":"a","X-Hasura-Default-Role":"a","x-hasura-allowed-roles":["a"]}`, "appears twice"},
		"too large":              {`{"x-hasura-default-role":"a","x-hasura-allowed-roles":["a"],"x-hasura-pad":"` + strings.Repeat("p", MaxPlaintextBytes) + `"}`, "more than the 4096 allowed"},
		"value too long":         {`{"x-hasura-default-role":"a","x-hasura-allowed-roles":["a"],"x-hasura-pad":"` + strings.Repeat("p", MaxValueBytes+1) + `"}`, "longer than 512 bytes"},
		"invalid UTF-8":          {"{\"x-hasura-default-role\":\"\xff\",\"x-hasura-allowed-roles\":[\"a\"]}", "not UTF-8"},
		"empty":                  {``, "not JSON"},
		"too many roles":         {`{"x-hasura-default-role":"r0","x-hasura-allowed-roles":[` + roles(MaxRoles+1) + `]}`, "more than 50"},
		"user id from elsewhere": {`{"x-hasura-default-role":"a","x-hasura-allowed-roles":["a"],"x-hasura-user-id":5.5}`, "x-hasura-user-id must be a string or a whole number"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Parse([]byte(c.in))
			require.Error(t, err)
			assert.Nil(t, got)
			assert.True(t, errors.Is(err, ErrInvalid), "error must wrap ErrInvalid: %v", err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func roles(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = `"r` + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `"`
	}
	return strings.Join(parts, ",")
}

func TestNewChecksExactlyAsParse(t *testing.T) {
	c, err := New([]string{"viewer", "editor"}, "editor", map[string]string{"x-hasura-org-id": "4"})
	require.NoError(t, err)
	assert.Equal(t, "4", c["x-hasura-org-id"])
	_, err = New([]string{"viewer"}, "admin", nil)
	assert.ErrorContains(t, err, "x-hasura-default-role is not one of x-hasura-allowed-roles")
	_, err = New(nil, "viewer", nil)
	assert.ErrorContains(t, err, "non-empty array")
	_, err = New([]string{"viewer"}, "viewer", map[string]string{"org": "4"})
	assert.ErrorContains(t, err, `key "org" is not an x-hasura-* session variable`)
}

func TestForTokenTakesTheUserIDOnlyFromTheEventOrTheSealedBinding(t *testing.T) {
	stored, err := Parse([]byte(`{"x-hasura-default-role":"a","x-hasura-allowed-roles":["a"],"x-hasura-user-id":"someone-else"}`))
	require.NoError(t, err)

	c, err := ForToken(stored, nil, Record{UserID: "a@example.com", CognitoUUID: "sub-1"}, Identity{Sub: "sub-1"})
	require.NoError(t, err)
	assert.Equal(t, "sub-1", c[UserID], "the event's sub wins over the claims' own value")
	assert.Equal(t, "someone-else", stored[UserID], "the stored claims are not modified")

	_, err = ForToken(stored, nil, Record{UserID: "a@example.com", CognitoUUID: "uuid-of-another-user"}, Identity{Sub: "sub-1"})
	assert.ErrorIs(t, err, ErrIdentityMismatch, "an unbound item whose cognito_uuid is another identity is refused")

	_, err = ForToken(stored, nil, Record{UserID: "a@example.com"}, Identity{Sub: ""})
	assert.ErrorContains(t, err, "no user id")

	moved := &Binding{UserID: "a@example.com", Identity: "new-pool-sub", HasuraUserID: "old-pool-sub"}
	c, err = ForToken(stored, moved, Record{UserID: "a@example.com", CognitoUUID: "forged"}, Identity{Sub: "new-pool-sub"})
	require.NoError(t, err)
	assert.Equal(t, "old-pool-sub", c[UserID], "a user moved from another pool keeps their Hasura user id")
	_, err = ForToken(stored, moved, Record{UserID: "a@example.com"}, Identity{Sub: "other-sub"})
	assert.ErrorIs(t, err, ErrIdentityMismatch)
	_, err = ForToken(stored, moved, Record{UserID: "mallory@example.com"}, Identity{Sub: "new-pool-sub"})
	assert.ErrorIs(t, err, ErrBoundElsewhere)
}

// A user the UserMigration trigger created carries their old pool's sub in custom:legacy_sub.
// Their Moped item (unbound, or bound by key rotate to its cognito_uuid) names that old sub: it
// is accepted as theirs and stays their Hasura user id; any other recorded identity is not.
func TestForTokenAcceptsAMigratedUsersOldPoolSub(t *testing.T) {
	stored, err := Parse([]byte(`{"x-hasura-default-role":"a","x-hasura-allowed-roles":["a"]}`))
	require.NoError(t, err)
	migrated := Identity{Sub: "new-pool-sub", LegacySub: "old-pool-sub"}
	moped := Record{UserID: "a@example.com", CognitoUUID: "old-pool-sub", DatabaseID: "42"}

	c, err := ForToken(stored, nil, moped, migrated)
	require.NoError(t, err)
	assert.Equal(t, "old-pool-sub", c[UserID], "the unbound Moped item keeps the id Moped's tables hold")
	assert.Equal(t, "42", c[UserDBID])

	rotated := &Binding{UserID: "a@example.com", Identity: "old-pool-sub"}
	c, err = ForToken(stored, rotated, moped, migrated)
	require.NoError(t, err)
	assert.Equal(t, "old-pool-sub", c[UserID], "an item key rotate bound to the old sub keeps it as the Hasura id")

	rebound := &Binding{UserID: "a@example.com", Identity: "new-pool-sub", HasuraUserID: "old-pool-sub"}
	c, err = ForToken(stored, rebound, moped, migrated)
	require.NoError(t, err)
	assert.Equal(t, "old-pool-sub", c[UserID])

	_, err = ForToken(stored, nil, moped, Identity{Sub: "new-pool-sub"})
	assert.ErrorIs(t, err, ErrIdentityMismatch, "without the migration attribute the old sub is someone else's")
	_, err = ForToken(stored, rotated, moped, Identity{Sub: "new-pool-sub", LegacySub: "another-old-sub"})
	assert.ErrorIs(t, err, ErrIdentityMismatch)
	_, err = ForToken(stored, nil, Record{UserID: "a@example.com", CognitoUUID: "x"}, Identity{Sub: "", LegacySub: "x"})
	assert.ErrorContains(t, err, "no user id", "a legacy sub alone is no identity")
}

func TestForTokenFillsMopedCompatibilityAttributesOfUnboundItemsOnly(t *testing.T) {
	stored, _ := Parse([]byte(`{"x-hasura-default-role":"a","x-hasura-allowed-roles":["a"],"x-hasura-user-wg-id":"3"}`))
	c, err := ForToken(stored, nil, Record{UserID: "a@example.com", DatabaseID: "42", WorkgroupID: "9"}, Identity{Sub: "sub"})
	require.NoError(t, err)
	assert.Equal(t, "42", c[UserDBID])
	assert.Equal(t, "3", c[UserWGID], "the claims' own value wins")

	c, err = ForToken(stored, &Binding{UserID: "a@example.com"}, Record{UserID: "a@example.com", DatabaseID: "42"}, Identity{Sub: "sub"})
	require.NoError(t, err)
	assert.NotContains(t, c, UserDBID, "a bound item's plain attributes are not trusted")
}

func TestSealedClaimsAreBoundToTheirItem(t *testing.T) {
	key, _ := GenerateKey()
	ring, _ := NewKeyRing(key)
	c, err := New([]string{"admin"}, "admin", nil)
	require.NoError(t, err)
	tok, err := SealFor(ring, c, Binding{UserID: "admin@example.com", Identity: "sub-admin"})
	require.NoError(t, err)

	got, b, err := Decode(ring, Record{UserID: "admin@example.com", Claims: tok})
	require.NoError(t, err)
	assert.Equal(t, c, got)
	assert.Equal(t, &Binding{UserID: "admin@example.com", Identity: "sub-admin"}, b)

	_, _, err = Decode(ring, Record{UserID: "mallory@example.com", Claims: tok, CognitoUUID: "sub-admin"})
	assert.ErrorIs(t, err, ErrBoundElsewhere, "the admin's blob copied into another item is refused")

	for name, plain := range map[string]string{
		"unknown field":   `{"v":1,"bind":{"user_id":"a@example.com"},"claims":{"x-hasura-default-role":"a","x-hasura-allowed-roles":["a"]},"x":1}`,
		"no user_id":      `{"v":1,"bind":{},"claims":{"x-hasura-default-role":"a","x-hasura-allowed-roles":["a"]}}`,
		"future version":  `{"v":2,"bind":{"user_id":"a@example.com"},"claims":{"x-hasura-default-role":"a","x-hasura-allowed-roles":["a"]}}`,
		"invalid claims":  `{"v":1,"bind":{"user_id":"a@example.com"},"claims":{"x-hasura-default-role":"a"}}`,
		"claims not JSON": `{"v":1,"bind":{"user_id":"a@example.com"},"claims":"x"}`,
	} {
		_, _, err := Open([]byte(plain))
		assert.ErrorIs(t, err, ErrInvalid, name)
	}
	_, b, err = Open([]byte(`{"x-hasura-default-role":"a","x-hasura-allowed-roles":["a"]}`))
	require.NoError(t, err)
	assert.Nil(t, b, "a bare claims object (Moped) is unbound")
}

func TestBindingForMovesCompatibilityAttributesInside(t *testing.T) {
	stored, _ := Parse([]byte(`{"x-hasura-default-role":"a","x-hasura-allowed-roles":["a"],"x-hasura-user-id":"x"}`))
	c, b := BindingFor(stored, Record{UserID: "a@example.com", CognitoUUID: "sub-a", DatabaseID: "42", WorkgroupID: "7"})
	assert.Equal(t, Binding{UserID: "a@example.com", Identity: "sub-a"}, b)
	assert.Equal(t, Claims{DefaultRole: "a", AllowedRoles: []string{"a"}, UserDBID: "42", UserWGID: "7"}, c)
	assert.ErrorIs(t, CheckWritable(stored), ErrInvalid, "x-hasura-user-id cannot be stored")
	assert.NoError(t, CheckWritable(c))
}

func TestRecordFromItem(t *testing.T) {
	item := map[string]types.AttributeValue{
		"user_id":      &types.AttributeValueMemberS{Value: "a@example.com"},
		"claims":       &types.AttributeValueMemberS{Value: "tok"},
		"cognito_uuid": &types.AttributeValueMemberS{Value: "u"},
		"database_id":  &types.AttributeValueMemberN{Value: "42"},
		"workgroup_id": &types.AttributeValueMemberS{Value: "7"},
	}
	r, err := RecordFromItem(item)
	require.NoError(t, err)
	assert.Equal(t, Record{UserID: "a@example.com", Claims: "tok", CognitoUUID: "u", DatabaseID: "42", WorkgroupID: "7"}, r)
	back, err := RecordFromItem(r.Item())
	require.NoError(t, err)
	assert.Equal(t, r, back)

	for name, mutate := range map[string]func(map[string]types.AttributeValue){
		"no claims":    func(m map[string]types.AttributeValue) { delete(m, "claims") },
		"empty claims": func(m map[string]types.AttributeValue) { m["claims"] = &types.AttributeValueMemberS{} },
		"claims as binary": func(m map[string]types.AttributeValue) {
			m["claims"] = &types.AttributeValueMemberB{Value: []byte("x")}
		},
		"uuid as number":   func(m map[string]types.AttributeValue) { m["cognito_uuid"] = &types.AttributeValueMemberN{Value: "1"} },
		"fractional db id": func(m map[string]types.AttributeValue) { m["database_id"] = &types.AttributeValueMemberN{Value: "4.2"} },
		"db id as a list":  func(m map[string]types.AttributeValue) { m["database_id"] = &types.AttributeValueMemberL{} },
		"no user id":       func(m map[string]types.AttributeValue) { delete(m, "user_id") },
	} {
		t.Run(name, func(t *testing.T) {
			m := r.Item()
			mutate(m)
			_, err := RecordFromItem(m)
			assert.ErrorIs(t, err, ErrInvalid)
		})
	}
}

func TestNormalizeEmailIsASCIIOnly(t *testing.T) {
	got, err := NormalizeEmail("  Alice.Smith+x@Example.COM ")
	require.NoError(t, err)
	assert.Equal(t, "alice.smith+x@example.com", got)
	got, err = NormalizeEmail("o'brien_{x}@mail-1.example.co.uk")
	require.NoError(t, err)
	assert.Equal(t, "o'brien_{x}@mail-1.example.co.uk", got)
	assert.Equal(t, "mail-1.example.co.uk", EmailDomain(got))

	for _, bad := range []string{
		"", "alice", "alice@", "@example.com", "Alice <alice@example.com>", "a@b", "a@b.com,c@d.com",
		strings.Repeat("a", 250) + "@example.com", strings.Repeat("a", 65) + "@example.com",
		"ADM\u0130N@example.com",  // dotted capital I: Unicode lower-casing gives "admin"
		"\u212Aim@example.com",    // Kelvin sign: Unicode lower-casing gives "kim"
		"ad\u200bmin@example.com", // zero-width space
		"admin@ex\u0430mple.com",  // Cyrillic a
		"admin@example.com\u0000", // control character
		"admin\t@example.com", "admin@[10.0.0.1]", "admin@10.0.0.1", "\"admin\"@example.com",
		"a..b@example.com", ".a@example.com", "a.@example.com", "a@-example.com", "a@example..com",
		"a b@example.com", "a@example.com (comment)", "a(b)@example.com",
	} {
		_, err := NormalizeEmail(bad)
		assert.ErrorIs(t, err, ErrEmail, "%q", bad)
	}
}

func TestKeyRingEncryptsWithFirstAndDecryptsWithAny(t *testing.T) {
	k1, err := GenerateKey()
	require.NoError(t, err)
	k2, _ := GenerateKey()
	old, err := NewKeyRing(k1)
	require.NoError(t, err)
	tok, err := old.Encrypt([]byte(`{"a":1}`))
	require.NoError(t, err)

	rotated, err := old.WithNewPrimary(k2)
	require.NoError(t, err)
	assert.Equal(t, []string{k2, k1}, rotated.Keys())
	plain, err := rotated.Decrypt(tok)
	require.NoError(t, err)
	assert.Equal(t, `{"a":1}`, string(plain))
	assert.False(t, rotated.DecryptsWithPrimary(tok))

	fresh, _ := rotated.Encrypt([]byte("x"))
	assert.True(t, rotated.DecryptsWithPrimary(fresh))
	_, err = old.Decrypt(fresh)
	assert.ErrorIs(t, err, ErrDecrypt, "a retired ring cannot read the new key's tokens")

	_, err = rotated.Decrypt(tok[:len(tok)-4] + "AAAA")
	assert.ErrorIs(t, err, ErrDecrypt, "tampered tokens fail verification")
	_, err = rotated.Decrypt("not a token")
	assert.ErrorIs(t, err, ErrDecrypt)
}

func TestParseKeyRing(t *testing.T) {
	k1, _ := GenerateKey()
	k2, _ := GenerateKey()
	r, err := ParseKeyRing(`{"keys":["` + k1 + `","` + k2 + `","` + k1 + `"]}`)
	require.NoError(t, err)
	assert.Equal(t, []string{k1, k2}, r.Keys(), "duplicates are dropped, order kept")
	assert.JSONEq(t, `{"keys":["`+k1+`","`+k2+`"]}`, r.SecretString())

	secretLooking := "s3cr3t-Value-that-must-not-leak"
	for name, in := range map[string]string{
		"not JSON":       secretLooking,
		"no keys":        `{"keys":[]}`,
		"unknown field":  `{"keys":["` + k1 + `"],"extra":"` + secretLooking + `"}`,
		"short key":      `{"keys":["` + secretLooking + `"]}`,
		"hex key":        `{"keys":["` + strings.Repeat("ab", 32) + `"]}`,
		"std base64 key": `{"keys":["` + strings.NewReplacer("-", "+", "_", "/").Replace(k1) + `x"]}`,
		"negative floor": `{"keys":["` + k1 + `"],"floors":{"a@example.com":-1}}`,
		"empty floor id": `{"keys":["` + k1 + `"],"floors":{"":5}}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseKeyRing(in)
			require.Error(t, err)
			assert.NotContains(t, err.Error(), secretLooking, "errors never quote the secret")
			assert.NotContains(t, err.Error(), k1)
		})
	}
}

// TestFloorsTravelWithTheRingAndRefuseOlderGenerations: the floors survive a parse, a new
// primary and a change of keys; only WithoutFloors drops them. Decode refuses a blob below its
// user's floor (and an unbound one once the user has a floor); DecodeAnyGeneration does not.
func TestFloorsTravelWithTheRingAndRefuseOlderGenerations(t *testing.T) {
	k1, _ := GenerateKey()
	k2, _ := GenerateKey()
	base, _ := NewKeyRing(k1)
	r := base.WithFloor("a@example.com", 7).WithFloor("a@example.com", 5)
	assert.Equal(t, uint64(7), r.Floor("a@example.com"), "a floor is never lowered")
	assert.Equal(t, uint64(0), base.Floor("a@example.com"), "WithFloor copies")
	parsed, err := ParseKeyRing(r.SecretString())
	require.NoError(t, err)
	assert.JSONEq(t, `{"keys":["`+k1+`"],"floors":{"a@example.com":7}}`, parsed.SecretString())
	rotated, _ := parsed.WithNewPrimary(k2)
	assert.Equal(t, uint64(7), rotated.Floor("a@example.com"))
	only, _ := rotated.WithKeys(k2)
	assert.Equal(t, 1, only.Floors())
	assert.Equal(t, 0, only.WithoutFloors().Floors())
	assert.JSONEq(t, `{"keys":["`+k2+`"]}`, only.WithoutFloors().SecretString(), "no floors, the format Moped-era readers know")

	c, _ := New([]string{"viewer"}, "viewer", nil)
	for gen, want := range map[uint64]error{6: ErrSuperseded, 7: nil, 8: nil} {
		tok, err := SealFor(r, c, Binding{UserID: "a@example.com", Gen: gen})
		require.NoError(t, err)
		_, b, err := Decode(r, Record{UserID: "a@example.com", Claims: tok})
		if want != nil {
			assert.ErrorIs(t, err, want, "generation %d", gen)
		} else if assert.NoError(t, err, "generation %d", gen) {
			assert.Equal(t, gen, b.Gen)
		}
		_, _, err = DecodeAnyGeneration(r, Record{UserID: "a@example.com", Claims: tok})
		assert.NoError(t, err)
	}
	bare, _ := r.Encrypt([]byte(c.JSON()))
	_, _, err = Decode(r, Record{UserID: "a@example.com", Claims: bare})
	assert.ErrorIs(t, err, ErrSuperseded)
	_, _, err = Decode(r, Record{UserID: "b@example.com", Claims: bare})
	assert.NoError(t, err, "users without a floor are unaffected")

	assert.Equal(t, uint64(4), NextGen(3, 0, 0))
	assert.Equal(t, uint64(9), NextGen(3, 9, 0), "at least the floor")
	assert.Equal(t, uint64(1700000000000), NextGen(3, 9, 1700000000000), "at least the clock")
	assert.Equal(t, uint64(1700000000001), NextGen(1700000000000, 9, 1600000000000), "above the current blob when the clock is behind")
}

func TestPythonMadeClaimsDecryptToTheSameTokenClaims(t *testing.T) {
	key, items, err := emulator.MopedFixture(filepath.Join("..", ".."))
	require.NoError(t, err)
	ring, err := NewKeyRing(key)
	require.NoError(t, err)
	require.NotEmpty(t, items)
	for _, it := range items {
		rec, err := RecordFromItem(it.Item)
		require.NoError(t, err)
		plain, err := ring.Decrypt(rec.Claims)
		require.NoError(t, err)
		stored, err := Parse(plain)
		require.NoError(t, err)
		c, err := ForToken(stored, nil, rec, Identity{Sub: it.Sub})
		require.NoError(t, err)
		var got map[string]any
		require.NoError(t, json.Unmarshal([]byte(c.JSON()), &got))
		assert.Equal(t, it.Want, got, "user %s", rec.UserID)
	}
}

// python runs a snippet in the machine's Python with cryptography (see TOOLCHAIN.md).
func python(t *testing.T, script string, args ...string) string {
	t.Helper()
	cmd := exec.Command("python3", append([]string{"-c", script}, args...)...)
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		t.Fatalf("python3 failed: %v\n%s", err, ee.Stderr)
	}
	require.NoError(t, err, "python3 with the cryptography package is needed for the compatibility tests")
	return strings.TrimSpace(string(out))
}

func TestGoMadeTokensDecryptInPythonAndBack(t *testing.T) {
	key, _ := GenerateKey()
	ring, _ := NewKeyRing(key)
	claims := `{"x-hasura-allowed-roles":["viewer"],"x-hasura-default-role":"viewer"}`
	tok, err := ring.Encrypt([]byte(claims))
	require.NoError(t, err)
	got := python(t, "import sys; from cryptography.fernet import Fernet; print(Fernet(sys.argv[1].encode()).decrypt(sys.argv[2].encode()).decode())", key, tok)
	assert.Equal(t, claims, got, "Python decrypts what Go encrypted")

	pyKey := python(t, "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())")
	pyTok := python(t, "import sys; from cryptography.fernet import Fernet; print(Fernet(sys.argv[1].encode()).encrypt(sys.argv[2].encode()).decode())", pyKey, claims)
	pyRing, err := NewKeyRing(pyKey)
	require.NoError(t, err, "a Python-generated key is a valid ring key")
	plain, err := pyRing.Decrypt(pyTok)
	require.NoError(t, err)
	assert.Equal(t, claims, string(plain), "Go decrypts what Python encrypted")
}

func TestClientRecordsAreSealedToTheirItemAndClient(t *testing.T) {
	key, err := GenerateKey()
	require.NoError(t, err)
	ring, err := NewKeyRing(key)
	require.NoError(t, err)
	c := Client{ID: "4tq8example1client", Name: "grid-ingest", Tier: "readonly"}
	tok, err := SealClient(ring, c)
	require.NoError(t, err)

	got, err := OpenClient(ring, Record{UserID: "client#4tq8example1client", Claims: tok})
	require.NoError(t, err)
	assert.Equal(t, c, got)

	// Copied to another client's item: refused.
	_, err = OpenClient(ring, Record{UserID: "client#other", Claims: tok})
	assert.ErrorIs(t, err, ErrBoundElsewhere)
	// A user's sealed claims under a client key: not a client record.
	userClaims, err := New([]string{"viewer"}, "viewer", nil)
	require.NoError(t, err)
	plain, err := Seal(userClaims, Binding{UserID: "client#4tq8example1client"})
	require.NoError(t, err)
	userTok, err := ring.Encrypt(plain)
	require.NoError(t, err)
	_, err = OpenClient(ring, Record{UserID: "client#4tq8example1client", Claims: userTok})
	assert.ErrorIs(t, err, ErrInvalid)

	for _, bad := range []Client{
		{ID: "", Name: "n", Tier: "t"},
		{ID: "a/b", Name: "n", Tier: "t"},
		{ID: "abc", Name: "", Tier: "t"},
		{ID: "abc", Name: "n\"x", Tier: "t"},
		{ID: "abc", Name: "n", Tier: "Read Only"},
	} {
		_, err := SealClient(ring, bad)
		assert.ErrorIs(t, err, ErrInvalid, "%+v", bad)
	}
	assert.False(t, IsClientItem("alice@example.com"))
	assert.True(t, IsClientItem(ClientItemID("abc")))
	_, err = NormalizeEmail(ClientItemID("abc"))
	assert.Error(t, err, "a client key can never be a user's email")
}

func TestMachineClaimsCarryTheTierRoleAndTheScopesAsAPostgresArray(t *testing.T) {
	scopes := GrantedScopes([]string{"hasura/Query:Person", "hasura/Mutation:Person:Create", "openid", "other/Query:X", "hasura/Query:Person"})
	assert.Equal(t, []string{"Mutation:Person:Create", "Query:Person"}, scopes)
	c, err := ForClient(Client{ID: "abc", Name: "grid-ingest", Tier: "internal"}, "service", scopes)
	require.NoError(t, err)
	assert.Equal(t, `{"x-hasura-allowed-roles":["service"],"x-hasura-client-id":"abc","x-hasura-client-name":"grid-ingest","x-hasura-default-role":"service","x-hasura-scopes":"{\"Mutation:Person:Create\",\"Query:Person\"}"}`, c.JSON())

	_, err = ForClient(Client{ID: "abc", Name: "n", Tier: "internal", Disabled: true}, "service", scopes)
	assert.ErrorIs(t, err, ErrClientDisabled)

	// A record that lists its scopes narrows what Cognito granted to those (claimsctl client
	// scopes writes the record before the app client).
	c, err = ForClient(Client{ID: "abc", Name: "n", Tier: "internal", Scopes: []string{"Query:Person", "Query:Work"}}, "service", scopes)
	require.NoError(t, err)
	assert.Equal(t, `{"Query:Person"}`, c[ScopesClaim])
	c, err = ForClient(Client{ID: "abc", Name: "n", Tier: "internal", Scopes: []string{"Query:Work"}}, "service", scopes)
	require.NoError(t, err)
	assert.Equal(t, `{}`, c[ScopesClaim])
	k, _ := GenerateKey()
	ring, _ := NewKeyRing(k)
	tok, err := SealClient(ring, Client{ID: "abc", Name: "n", Tier: "internal", Scopes: []string{"Query:Person"}})
	require.NoError(t, err)
	back, err := OpenClient(ring, Record{UserID: ClientItemID("abc"), Claims: tok})
	require.NoError(t, err)
	assert.Equal(t, []string{"Query:Person"}, back.Scopes, "the scopes survive the seal")
	_, err = SealClient(ring, Client{ID: "abc", Name: "n", Tier: "internal", Scopes: []string{"bad scope"}})
	assert.ErrorIs(t, err, ErrInvalid)

	for _, in := range [][]string{{}, {"Query:Person"}, {"a\"b", "c\\d", "{e}", "f,g"}} {
		lit := ScopesLiteral(in)
		back, err := ParseScopesLiteral(lit)
		require.NoError(t, err, lit)
		assert.Equal(t, in, back, lit)
	}
	assert.Equal(t, "{}", ScopesLiteral(nil))
	for _, bad := range []string{"", "{", `{a}`, `{"a"`, `{"a",}`, `{"a""b"}`} {
		_, err := ParseScopesLiteral(bad)
		assert.Error(t, err, bad)
	}
}
