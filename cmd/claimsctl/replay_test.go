package main

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

func (d *deployment) rawItem(t *testing.T, email string) map[string]ddbtypes.AttributeValue {
	t.Helper()
	out, err := d.db.GetItem(context.Background(), getInput(d.table, email))
	require.NoError(t, err)
	require.NotEmpty(t, out.Item)
	return out.Item
}

// putBack is the attacker with write access to the claims table only: an item saved earlier
// written back as it was.
func (d *deployment) putBack(t *testing.T, item map[string]ddbtypes.AttributeValue) {
	t.Helper()
	_, err := d.db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(d.table), Item: item})
	require.NoError(t, err)
}

func roles(t *testing.T, d *deployment, email string) []string {
	t.Helper()
	c, err := d.tokenClaims(t, email)
	require.NoError(t, err)
	allowed, _ := c.Roles()
	return allowed
}

// TestAUsersOwnOlderClaimsPutBackAfterANarrowingAreRefused: someone who can write the claims
// table but not the key secret saves a user's item, waits for the operator to take a role away
// (claims put) or the claims altogether (claims delete, user remove), and writes the old item
// back. The narrowing raised the user's floor in the key secret above the old blob's generation,
// so the trigger's code path refuses it; widening needs no floor. key retire keeps the floors;
// key rotate --retire clears them, because every older blob is then undecryptable.
func TestAUsersOwnOlderClaimsPutBackAfterANarrowingAreRefused(t *testing.T) {
	d := deploy(t)
	for _, e := range []string{"ann@example.com", "bob@example.com"} {
		_, errOut, code := d.ctl(t, "", "user", "add", e, "--roles", "viewer,editor,admin", "--default-role", "viewer")
		require.Equal(t, exitOK, code, errOut)
	}
	annBroad, bobOld := d.rawItem(t, "ann@example.com"), d.rawItem(t, "bob@example.com")

	out, errOut, code := d.ctl(t, "", "claims", "put", "ann@example.com", "--roles", "viewer,editor", "--default-role", "viewer")
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "their older claims are revoked")
	ring := d.ring(t)
	assert.Equal(t, 1, ring.Floors())
	assert.Equal(t, d.generation(t, "ann@example.com"), ring.Floor("ann@example.com"), "the floor is the new blob's generation")
	assert.Equal(t, []string{"viewer", "editor"}, roles(t, d, "ann@example.com"))

	d.putBack(t, annBroad)
	_, err := d.tokenClaims(t, "ann@example.com")
	assert.ErrorIs(t, err, claims.ErrSuperseded, "the older, broader blob gives no token")
	out, _, code = d.ctl(t, "", "claims", "verify")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, out, "2 items, 1 failed: ann@example.com")

	// The operator puts the intended claims back: narrower than what the item now holds.
	_, errOut, code = d.ctl(t, "", "claims", "put", "ann@example.com", "--roles", "viewer,editor", "--default-role", "viewer")
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, []string{"viewer", "editor"}, roles(t, d, "ann@example.com"))
	floor := d.ring(t).Floor("ann@example.com")

	// Widening (and a default-role change) raises no floor.
	out, errOut, code = d.ctl(t, "", "claims", "put", "ann@example.com", "--roles", "viewer,editor,reporter", "--default-role", "editor")
	require.Equal(t, exitOK, code, errOut)
	assert.NotContains(t, out, "revoked")
	assert.Equal(t, floor, d.ring(t).Floor("ann@example.com"))
	assert.Greater(t, d.generation(t, "ann@example.com"), floor, "generations keep rising")

	// A changed session variable narrows too (it may scope rows).
	_, errOut, code = d.ctl(t, "", "claims", "put", "bob@example.com", "--roles", "viewer,editor,admin", "--default-role", "viewer", "--set", "x-hasura-org-id=7")
	require.Equal(t, exitOK, code, errOut)
	bobOrg7 := d.rawItem(t, "bob@example.com")
	out, errOut, code = d.ctl(t, "", "claims", "put", "bob@example.com", "--roles", "viewer,editor,admin", "--default-role", "viewer", "--set", "x-hasura-org-id=8")
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "their older claims are revoked")
	d.putBack(t, bobOrg7)
	_, err = d.tokenClaims(t, "bob@example.com")
	assert.ErrorIs(t, err, claims.ErrSuperseded)

	// claims delete leaves a floor above what it deleted: putting it back gives nothing.
	_, errOut, code = d.ctl(t, "", "claims", "delete", "bob@example.com")
	require.Equal(t, exitOK, code, errOut)
	d.putBack(t, bobOld)
	_, err = d.tokenClaims(t, "bob@example.com")
	assert.ErrorIs(t, err, claims.ErrSuperseded)
	_, errOut, code = d.ctl(t, "", "claims", "put", "bob@example.com", "--roles", "viewer", "--default-role", "viewer")
	require.Equal(t, exitOK, code, "claims written after a delete are above the floor: %s", errOut)
	assert.Equal(t, []string{"viewer"}, roles(t, d, "bob@example.com"))

	// key import and key retire keep the floors: a broad blob re-sealed under a key that stays
	// would otherwise become acceptable again.
	k, _ := claims.GenerateKey()
	_, errOut, code = d.ctl(t, k+"\n", "key", "import", "--stdin")
	require.Equal(t, exitOK, code, errOut)
	_, errOut, code = d.ctl(t, "", "key", "rotate")
	require.Equal(t, exitOK, code, errOut)
	_, errOut, code = d.ctl(t, "", "key", "retire")
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, 2, d.ring(t).Floors())

	// The remedy that needs no floor: key rotate --retire makes every older blob undecryptable,
	// and then clears the floors.
	_, errOut, code = d.ctl(t, "", "key", "rotate", "--retire")
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, 0, d.ring(t).Floors())
	assert.Equal(t, []string{"viewer", "editor", "reporter"}, roles(t, d, "ann@example.com"))
	for _, old := range []map[string]ddbtypes.AttributeValue{annBroad, bobOld, bobOrg7} {
		rec, err := claims.RecordFromItem(old)
		require.NoError(t, err)
		_, _, err = claims.Decode(d.ring(t), rec)
		assert.ErrorIs(t, err, claims.ErrDecrypt, "an older blob of %s is undecryptable after key rotate --retire", rec.UserID)
	}
}

// TestANarrowingInterruptedAfterTheFloorFailsClosedAndARerunFinishes: the floor goes first, so
// an interruption leaves the user with no accepted claims (never with the broader ones), and
// claims put again completes; a failure writing the floor changes nothing.
func TestANarrowingInterruptedAfterTheFloorFailsClosedAndARerunFinishes(t *testing.T) {
	d := deploy(t)
	_, errOut, code := d.ctl(t, "", "user", "add", "cy@example.com", "--roles", "viewer,admin", "--default-role", "viewer")
	require.Equal(t, exitOK, code, errOut)

	faultHook = func(p string) error {
		if p == "claims-put:floor-raised" {
			return errors.New("injected: connection reset")
		}
		return nil
	}
	_, errOut, code = d.ctl(t, "", "claims", "put", "cy@example.com", "--roles", "viewer", "--default-role", "viewer")
	faultHook = nil
	assert.Equal(t, exitPartial, code)
	assert.Contains(t, errOut, "their current claims are refused until you rerun claimsctl claims put cy@example.com")
	_, err := d.tokenClaims(t, "cy@example.com")
	assert.ErrorIs(t, err, claims.ErrSuperseded, "fail closed: the broader claims are refused")

	_, errOut, code = d.ctl(t, "", "claims", "put", "cy@example.com", "--roles", "viewer", "--default-role", "viewer")
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, []string{"viewer"}, roles(t, d, "cy@example.com"))

	// The key secret cannot be written: nothing changes.
	_, errOut, code = d.ctl(t, "", "claims", "put", "cy@example.com", "--roles", "viewer", "--default-role", "viewer", "--set", "x-hasura-org-id=1",
		"--key-secret", "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf")
	assert.Equal(t, exitFailed, code)
	assert.Equal(t, []string{"viewer"}, roles(t, d, "cy@example.com"))
	assert.NotContains(t, errOut, "INCOMPLETE")
}

// TestUserRebindAfterANarrowingSealsAboveTheFloor: user rebind rewrites an item whose user has
// a floor; the rebound blob carries a generation at least the floor, so the trigger accepts it.
func TestUserRebindAfterANarrowingSealsAboveTheFloor(t *testing.T) {
	d := deploy(t)
	migrationPool(t, d)
	d.mopedItem(t, "mig@example.com", "old-mig")
	out, errOut, code := d.ctl(t, "", "claims", "put", "mig@example.com", "--roles", "viewer", "--default-role", "viewer")
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "their older claims are revoked", "replacing an unbound Moped blob raises the floor: putting it back is refused")
	floor := d.ring(t).Floor("mig@example.com")
	require.Positive(t, floor)

	sub := d.migrated(t, "mig@example.com", "old-mig")
	_, errOut, code = d.rebind(t, "mig@example.com")
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, &claims.Binding{UserID: "mig@example.com", Identity: sub, HasuraUserID: "old-mig"}, d.binding(t, "mig@example.com"))
	assert.Greater(t, d.generation(t, "mig@example.com"), floor)
	c, err := d.tokenClaims(t, "mig@example.com")
	require.NoError(t, err)
	assert.Equal(t, "old-mig", c[claims.UserID])
}
