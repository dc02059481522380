package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
	"github.com/hasura-auth-cdk/hasuraauth/internal/emulator"
)

var users = []string{"ann@example.com", "ben@example.com", "cat@example.com"}

func withUsers(t *testing.T) *deployment {
	t.Helper()
	d := deploy(t)
	for _, u := range users {
		_, errOut, code := d.ctl(t, "", "user", "add", u, "--roles", "viewer,editor", "--default-role", "viewer")
		require.Equal(t, exitOK, code, errOut)
	}
	return d
}

// allReadable asserts every item gives a token through the Lambda's code path, with the key ring
// the secret holds right now.
func allReadable(t *testing.T, d *deployment, emails ...string) {
	t.Helper()
	for _, e := range emails {
		c, err := d.tokenClaims(t, e)
		if assert.NoError(t, err, "%s must stay readable", e) {
			assert.Equal(t, "viewer", c[claims.DefaultRole])
		}
	}
}

func onPrimary(t *testing.T, d *deployment, emails ...string) {
	t.Helper()
	ring := d.ring(t)
	for _, e := range emails {
		item := d.item(t, e)
		assert.True(t, ring.DecryptsWithPrimary(item.Claims), "%s is under the primary key", e)
	}
}

func (d *deployment) item(t *testing.T, e string) claims.Record {
	t.Helper()
	out, err := d.db.GetItem(t.Context(), getInput(d.table, e))
	require.NoError(t, err)
	rec, err := claims.RecordFromItem(out.Item)
	require.NoError(t, err)
	return rec
}

func TestKeyRotateThenRetire(t *testing.T) {
	d := withUsers(t)
	before := d.ring(t).Keys()
	out, errOut, code := d.ctl(t, "", "key", "rotate", "--json")
	require.Equal(t, exitOK, code, errOut)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	assert.Equal(t, 3.0, res["reencrypted"])
	ring := d.ring(t)
	require.Equal(t, 2, ring.Len())
	assert.Equal(t, before[0], ring.Keys()[1], "the old key stays, second")
	assert.NotContains(t, out, ring.Keys()[0], "keys are never printed")
	onPrimary(t, d, users...)

	_, errOut, code = d.ctl(t, "", "key", "retire")
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, []string{ring.Keys()[0]}, d.ring(t).Keys())
	allReadable(t, d, users...)

	// Written after the rotation: under the new key, readable by the Lambda's code path.
	_, errOut, code = d.ctl(t, "", "user", "add", "after@example.com", "--roles", "viewer", "--default-role", "viewer")
	require.Equal(t, exitOK, code, errOut)
	onPrimary(t, d, "after@example.com")
	allReadable(t, d, "after@example.com")

	out, _, code = d.ctl(t, "", "key", "retire")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "nothing to retire")
}

// TestKeyRotateSurvivesAnInterruptionAfterEveryStep stops `key rotate --retire` after each of
// its steps in turn: the table stays fully readable, and a rerun completes the rotation.
func TestKeyRotateSurvivesAnInterruptionAfterEveryStep(t *testing.T) {
	// Count the steps of an uninterrupted run first.
	var steps []string
	d := withUsers(t)
	faultHook = func(p string) error { steps = append(steps, p); return nil }
	_, errOut, code := d.ctl(t, "", "key", "rotate", "--retire", "--workers", "1")
	faultHook = nil
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, []string{stepRecorded, stepKeyAdded, stepReencrypted, stepReencrypted, stepReencrypted, stepVerified, stepRetired}, steps)

	for stop := range steps {
		t.Run(fmt.Sprintf("after %d %s", stop, steps[stop]), func(t *testing.T) {
			d := withUsers(t)
			original := d.ring(t).Keys()[0]
			n := 0
			faultHook = func(p string) error {
				defer func() { n++ }()
				if n == stop {
					return errors.New("injected interruption after " + p)
				}
				return nil
			}
			_, errOut, code := d.ctl(t, "", "key", "rotate", "--retire", "--workers", "1")
			faultHook = nil
			assert.Equal(t, exitPartial, code, "an interrupted rotation is never reported as 'nothing left half-done': %s", errOut)
			assert.Contains(t, errOut, "injected interruption")
			allReadable(t, d, users...)
			interrupted := d.ring(t).Keys()[0]

			// The message says what to run; a resume moves to the key the interrupted run recorded.
			rerun := []string{"key", "rotate", "--retire"}
			if strings.Contains(errOut, "key rotate --resume") {
				rerun = append(rerun, "--resume")
			}
			if steps[stop] == stepVerified || steps[stop] == stepRetired {
				rerun = []string{"key", "retire"}
				assert.Contains(t, errOut, "claimsctl key retire")
			}
			_, errOut, code = d.ctl(t, "", rerun...)
			require.Equal(t, exitOK, code, "a rerun completes: %s", errOut)
			ring := d.ring(t)
			if stop > 0 {
				assert.Equal(t, interrupted, ring.Keys()[0], "the rerun finishes the interrupted rotation's key instead of drawing another")
			}
			assert.Equal(t, 1, ring.Len(), "old keys retired")
			assert.NotEqual(t, original, ring.Keys()[0], "the original key is gone")
			onPrimary(t, d, users...)
			allReadable(t, d, users...)
		})
	}
}

func TestClaimsWrittenDuringARotationWaitForItAndStayReadable(t *testing.T) {
	d := withUsers(t)
	var once sync.Once
	done := make(chan [2]int, 1)
	faultHook = func(p string) error {
		if p == stepReencrypted {
			once.Do(func() {
				// Another operator changes and adds claims mid-rotation: they wait for the key-ring lock.
				go func() {
					_, _, c1 := d.ctl(t, "", "claims", "put", "ben@example.com", "--roles", "viewer", "--default-role", "viewer")
					_, _, c2 := d.ctl(t, "", "user", "add", "dee@example.com", "--roles", "viewer", "--default-role", "viewer")
					done <- [2]int{c1, c2}
				}()
			})
		}
		return nil
	}
	_, errOut, code := d.ctl(t, "", "key", "rotate", "--retire", "--workers", "1")
	require.Equal(t, exitOK, code, errOut)
	codes := <-done
	faultHook = nil
	assert.Equal(t, [2]int{exitOK, exitOK}, codes, "the concurrent writes completed once the rotation released the lock")
	assert.Equal(t, 1, d.ring(t).Len())
	allReadable(t, d, append(users, "dee@example.com")...)
	onPrimary(t, d, append(users, "dee@example.com")...)
	c, _ := d.tokenClaims(t, "ben@example.com")
	assert.Equal(t, []string{"viewer"}, c[claims.AllowedRoles], "the concurrent change was kept, not overwritten by the rotation")
}

func TestRetireIsRefusedWhileAnItemNeedsAnOldKey(t *testing.T) {
	d := withUsers(t)
	_, _, code := d.ctl(t, "", "key", "rotate")
	require.Equal(t, exitOK, code)
	// An item written with the old key after the rotation (e.g. by an old tool).
	old, _ := claims.NewKeyRing(d.ring(t).Keys()[1])
	tok, _ := old.Encrypt([]byte(`{"x-hasura-default-role":"viewer","x-hasura-allowed-roles":["viewer"]}`))
	d.putToken(t, "late@example.com", tok)
	_, errOut, code := d.ctl(t, "", "key", "retire")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "not retiring: 1 items do not decrypt with the primary key")
	assert.Equal(t, 2, d.ring(t).Len(), "unchanged")
	allReadable(t, d, append(users, "late@example.com")...)
}

func TestImportAMopedKeyAndMigrateItsItems(t *testing.T) {
	key, items, err := emulator.MopedFixture(filepath.Join("..", ".."))
	require.NoError(t, err)
	fx := struct{ Key string }{key}

	d := deploy(t)
	var emails []string
	for _, it := range items {
		emails = append(emails, it.Item["user_id"].(*types.AttributeValueMemberS).Value)
		_, err := d.db.PutItem(t.Context(), putInput(d.table, it.Item))
		require.NoError(t, err)
	}
	_, _, code := d.ctl(t, "", "claims", "verify")
	require.Equal(t, exitFailed, code, "Moped's items are unreadable before the import")

	out, errOut, code := d.ctl(t, fx.Key+"\n", "key", "import", "--stdin")
	require.Equal(t, exitOK, code, errOut)
	assert.NotContains(t, out, fx.Key)
	assert.Equal(t, fx.Key, d.ring(t).Keys()[1], "imported as a decrypt-only key")
	_, errOut, code = d.ctl(t, "", "claims", "verify")
	require.Equal(t, exitOK, code, "Moped's items decrypt after the import: %s", errOut)

	out, _, code = d.ctl(t, fx.Key+"\n", "key", "import", "--stdin")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "already in the key ring")

	for _, e := range emails {
		assert.Nil(t, d.binding(t, e), "Moped's items carry no binding")
	}
	out, _, _ = d.ctl(t, "", "claims", "verify")
	assert.Contains(t, out, fmt.Sprintf("%d unbound", len(emails)))

	// Moving off the Moped key: rotate draws a new key, binds every item, then retires.
	_, errOut, code = d.ctl(t, "", "key", "rotate", "--retire")
	require.Equal(t, exitOK, code, errOut)
	assert.NotContains(t, d.ring(t).Keys(), fx.Key)
	out, _, _ = d.ctl(t, "", "claims", "verify")
	assert.Contains(t, out, "0 unbound", "key rotate binds every item it re-encrypts")
	for _, it := range items {
		id := it.Item["user_id"].(*types.AttributeValueMemberS).Value
		b := d.binding(t, id)
		require.NotNil(t, b)
		assert.Equal(t, claims.Binding{UserID: id, Identity: attrOf(it.Item, "cognito_uuid")}, *b)
		stored, bind, err := claims.Decode(d.ring(t), d.item(t, id))
		require.NoError(t, err)
		c, err := claims.ForToken(stored, bind, d.item(t, id), claims.Identity{Sub: it.Sub})
		require.NoError(t, err)
		var got map[string]any
		require.NoError(t, json.Unmarshal([]byte(c.JSON()), &got))
		assert.Equal(t, it.Want, got, "the bound item gives the token Moped's gave, compatibility attributes included")
	}
	_, errOut, code = d.ctl(t, "", "claims", "verify")
	assert.Equal(t, exitOK, code, errOut)
	for _, e := range emails {
		_, err := d.tokenClaims(t, e)
		assert.NoError(t, err)
	}
}

func attrOf(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// TestImportPrimaryOfAKeyAlreadyInTheRingMakesItPrimary: `key import --primary` of a key the
// ring already holds as decrypt-only must not answer "nothing was changed" with exit 0 while the
// operator believes it now encrypts: it moves the key first.
func TestImportPrimaryOfAKeyAlreadyInTheRingMakesItPrimary(t *testing.T) {
	d := withUsers(t)
	k, err := claims.GenerateKey()
	require.NoError(t, err)
	_, errOut, code := d.ctl(t, k+"\n", "key", "import", "--stdin")
	require.Equal(t, exitOK, code, errOut)
	old := d.ring(t).Keys()[0]
	require.Equal(t, []string{old, k}, d.ring(t).Keys())

	out, errOut, code := d.ctl(t, k+"\n", "key", "import", "--stdin", "--primary")
	require.Equal(t, exitOK, code, errOut)
	assert.NotContains(t, out+errOut, k)
	assert.NotContains(t, out, "nothing was changed")
	assert.Equal(t, []string{k, old}, d.ring(t).Keys(), "the key now encrypts; the old primary still decrypts")
	allReadable(t, d, users...)

	out, errOut, code = d.ctl(t, k+"\n", "key", "import", "--stdin", "--primary")
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "already the primary key")
	assert.Equal(t, []string{k, old}, d.ring(t).Keys())
}
