package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

// TestKeyRingChangesAndClaimsWritesInParallelLoseNothing runs key rotate, key import, key retire
// and claims put at once, several times each (the race that lost 131 of 400 items): every run
// either completes or refuses cleanly, and afterwards claims verify finds 0 failures and every
// item gives a token through the Lambda's code path with the key ring the secret holds.
func TestKeyRingChangesAndClaimsWritesInParallelLoseNothing(t *testing.T) {
	d := deploy(t)
	var emails []string
	for i := 0; i < 40; i++ {
		e := fmt.Sprintf("p%02d@example.com", i)
		emails = append(emails, e)
		_, errOut, code := d.ctl(t, "", "claims", "put", e, "--roles", "viewer", "--default-role", "viewer")
		require.Equal(t, exitOK, code, errOut)
	}

	type run struct {
		stdin string
		args  []string
	}
	var runs []run
	for i := 0; i < 3; i++ {
		runs = append(runs, run{args: []string{"key", "rotate", "--workers", "4"}})
		runs = append(runs, run{args: []string{"key", "retire", "--workers", "4"}})
		k, _ := claims.GenerateKey()
		runs = append(runs, run{stdin: k + "\n", args: []string{"key", "import", "--stdin"}})
		for j := 0; j < 2; j++ {
			runs = append(runs, run{args: []string{"claims", "put", emails[i*7+j], "--roles", "viewer,editor", "--default-role", "editor"}})
		}
	}
	type outcome struct {
		args   []string
		code   int
		stderr string
	}
	results := make([]outcome, len(runs))
	var wg sync.WaitGroup
	for i, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errOut, code := d.ctl(t, r.stdin, r.args...)
			results[i] = outcome{r.args, code, errOut}
		}()
	}
	wg.Wait()
	for _, r := range results {
		if r.args[0] == "key" && r.args[1] == "retire" && r.code == exitFailed {
			// Refused because an import or rotation left items under an old key: the safe answer.
			assert.Contains(t, r.stderr, "not retiring", "%v", r.args)
			continue
		}
		assert.Equal(t, exitOK, r.code, "%v: %s", r.args, r.stderr)
	}

	out, errOut, code := d.ctl(t, "", "claims", "verify")
	require.Equal(t, exitOK, code, "%s%s", out, errOut)
	assert.Contains(t, out, "40 items, 0 failed")
	for _, e := range emails {
		_, err := d.tokenClaims(t, e)
		assert.NoError(t, err, "%s is readable by the Lambda's code path", e)
	}
	c, err := d.tokenClaims(t, emails[0])
	require.NoError(t, err)
	assert.Equal(t, "editor", c[claims.DefaultRole], "the parallel claims put was kept")

	lock, err := d.db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(d.table), Key: key(lockID), ConsistentRead: aws.Bool(true)})
	require.NoError(t, err)
	assert.Empty(t, lock.Item, "every run released the key-ring lock")
}

func TestAHeldLockMakesOtherRunsWaitSayingWhoHoldsItThenNameTheHolder(t *testing.T) {
	d := deploy(t)
	st := &store{table: d.table, secretID: d.secretArn, db: d.db, sm: d.sm, lockWait: 0, workers: 1}
	_, l, err := st.lock(context.Background(), "key rotate")
	require.NoError(t, err)
	_, errOut, code := d.ctl(t, "", "claims", "put", "a@example.com", "--roles", "viewer", "--default-role", "viewer", "--lock-wait", "300ms")
	assert.Equal(t, exitFailed, code)
	assert.Regexp(t, `(?m)^claimsctl: another claimsctl run holds the key-ring lock: key rotate by [0-9a-f]{8}@\S+ pid \d+ since 20\d\d-\d\d-\d\dT\S+Z \(the holder's clock\); waiting up to 300ms \(--lock-wait\); a lease not renewed for 30s is taken over$`, errOut,
		"while it waits, it says who holds the lock, since when, and how long it waits")
	assert.Contains(t, errOut, "another claimsctl run holds the key-ring lock (key rotate by ")
	assert.Contains(t, errOut, "retry with --lock-wait of more than 30s")
	assert.Contains(t, errOut, "nothing was changed")
	assert.Equal(t, 0, d.itemCount(t)-1, "only the lock item is in the table")
	l.release()
	_, errOut, code = d.ctl(t, "", "claims", "put", "a@example.com", "--roles", "viewer", "--default-role", "viewer")
	assert.Equal(t, exitOK, code, errOut)
	assert.NotContains(t, errOut, "key-ring lock", "a free lock takes no message")
}

// shortLease shortens the lease TTL for one test, so that a takeover takes a second or two.
func shortLease(t *testing.T) {
	old := leaseTTL
	leaseTTL = 1500 * time.Millisecond
	t.Cleanup(func() { leaseTTL = old })
}

func (d *deployment) lockItem(t *testing.T) map[string]ddbtypes.AttributeValue {
	t.Helper()
	out, err := d.db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(d.table), Key: key(lockID), ConsistentRead: aws.Bool(true)})
	require.NoError(t, err)
	return out.Item
}

// TestALockItemWithAFarFutureExpiresBlocksNoRunForLongerThanTheTTL: an older claimsctl's lock
// item (or a hand-written one) whose expires lies in the year 3000 used to block every run until
// deleted by hand. A waiter takes it over once it has seen it unchanged for the lease TTL, and
// says so.
func TestALockItemWithAFarFutureExpiresBlocksNoRunForLongerThanTheTTL(t *testing.T) {
	shortLease(t)
	d := deploy(t)
	_, err := d.db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(d.table), Item: map[string]ddbtypes.AttributeValue{
		"user_id": &ddbtypes.AttributeValueMemberS{Value: lockID}, "owner": &ddbtypes.AttributeValueMemberS{Value: "old@laptop"},
		"op": &ddbtypes.AttributeValueMemberS{Value: "key rotate"}, "since": &ddbtypes.AttributeValueMemberS{Value: "2999-12-31T00:00:00Z"},
		"expires": &ddbtypes.AttributeValueMemberN{Value: "32503680000000"}, // year 3000, in ms
	}})
	require.NoError(t, err)
	_, errOut, code := d.ctl(t, "", "claims", "put", "a@example.com", "--roles", "viewer", "--default-role", "viewer", "--lock-wait", "20s")
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, errOut, "another claimsctl run holds the key-ring lock: key rotate by old@laptop since 2999-12-31T00:00:00Z (the holder's clock); waiting up to 20s")
	assert.Contains(t, errOut, "took over the key-ring lock from key rotate by old@laptop")
	assert.Empty(t, d.lockItem(t), "released at the end")
	_, err = d.tokenClaims(t, "a@example.com")
	assert.NoError(t, err)
}

// TestALiveLeaseIsNotTakenOverWhateverItsRecordedTimes: the waiter decides on its own monotonic
// clock and the holder's renewals, never on a wall-clock time. A live lease whose recorded times
// say it expired long ago (what a holder whose clock is behind, or a waiter whose clock is
// ahead, saw before) keeps its holder through several TTLs of waiting.
func TestALiveLeaseIsNotTakenOverWhateverItsRecordedTimes(t *testing.T) {
	shortLease(t)
	d := deploy(t)
	st := &store{table: d.table, secretID: d.secretArn, db: d.db, sm: d.sm, workers: 1}
	lctx, l, err := st.lock(context.Background(), "key rotate")
	require.NoError(t, err)
	_, err = d.db.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{TableName: aws.String(d.table), Key: key(lockID),
		UpdateExpression: aws.String("SET since = :s, expires = :e"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":s": &ddbtypes.AttributeValueMemberS{Value: "1999-01-01T00:00:00Z"}, ":e": &ddbtypes.AttributeValueMemberN{Value: "1"},
		}})
	require.NoError(t, err)
	_, errOut, code := d.ctl(t, "", "claims", "put", "a@example.com", "--roles", "viewer", "--default-role", "viewer", "--lock-wait", "5s")
	assert.Equal(t, exitFailed, code, "the holder renews: waiting 5s (more than three TTLs) never takes its lease")
	assert.Contains(t, errOut, "another claimsctl run holds the key-ring lock (key rotate by ")
	assert.NotContains(t, errOut, "took over")
	assert.NoError(t, lctx.Err(), "the holder still holds its lease")
	assert.NoError(t, l.renew(context.Background()))
	l.release()
	assert.Empty(t, d.lockItem(t))
}

// TestACrashedHoldersLeaseIsTakenOverAndTheHolderLearnsItLostIt: a run that stops renewing (a
// crash, a laptop lid closed) loses its lease to a waiter after the TTL; if it wakes up, its
// next renewal (which every key-ring write makes first) fails instead of writing.
func TestACrashedHoldersLeaseIsTakenOverAndTheHolderLearnsItLostIt(t *testing.T) {
	shortLease(t)
	d := deploy(t)
	st := &store{table: d.table, secretID: d.secretArn, db: d.db, sm: d.sm, workers: 1}
	_, l, err := st.lock(context.Background(), "key import")
	require.NoError(t, err)
	close(l.stop) // the heartbeat stops, the item stays: a crash
	<-l.done

	_, errOut, code := d.ctl(t, "", "claims", "put", "a@example.com", "--roles", "viewer", "--default-role", "viewer", "--lock-wait", "20s")
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, errOut, "took over the key-ring lock from key import by "+l.owner)
	err = l.renew(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "lost the key-ring lock to another run")
	ring := d.ring(t)
	err = st.putRing(context.Background(), l, ring)
	require.Error(t, err, "a holder that lost its lease writes no key ring")
	assert.Contains(t, err.Error(), "lost the key-ring lock")
}

// TestTwoWaitersOnAStaleLeaseBothFinishOneTakesItOver: both see the same stale lease; the
// takeover is conditional on its token and renewal count, so exactly one wins, and the other
// waits for that one to finish.
func TestTwoWaitersOnAStaleLeaseBothFinishOneTakesItOver(t *testing.T) {
	shortLease(t)
	d := deploy(t)
	st := &store{table: d.table, secretID: d.secretArn, db: d.db, sm: d.sm, workers: 1}
	_, l, err := st.lock(context.Background(), "key rotate")
	require.NoError(t, err)
	close(l.stop)
	<-l.done

	var wg sync.WaitGroup
	errs := make([]string, 2)
	codes := make([]int, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i], codes[i] = d.ctl(t, "", "claims", "put", fmt.Sprintf("w%d@example.com", i), "--roles", "viewer", "--default-role", "viewer", "--lock-wait", "30s")
		}()
	}
	wg.Wait()
	assert.Equal(t, []int{exitOK, exitOK}, codes, "%v", errs)
	took := 0
	for _, e := range errs {
		took += strings.Count(e, "took over the key-ring lock from key rotate by "+l.owner)
	}
	assert.Equal(t, 1, took, "exactly one waiter takes the stale lease over: %v", errs)
	assert.Empty(t, d.lockItem(t))
	out, errOut, code := d.ctl(t, "", "claims", "verify")
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "2 items, 0 failed")
}

func TestProgressLineShowsDoneTotalRateAndTimeLeft(t *testing.T) {
	assert.Equal(t, "claims verify: 2500/10000 items, 1250/s, 6s left", progressLine("claims verify", 2500, 10000, 2*time.Second))
	assert.Equal(t, "key rotate: 0/0 items, 0/s, ? left", progressLine("key rotate", 0, 0, 0))
	assert.Equal(t, "claims list: 120/100 items, 120/s, ? left", progressLine("claims list", 120, 100, time.Second), "ItemCount is an estimate: more items than it says")
}

// TestAHolderThatStallsAfterItsLastRenewalWritesNoKeyRingOverATakeover: a run renews its lease
// (as putRing does first) and then stalls for longer than the TTL (a GC pause, a laptop lid
// closed) before its PutSecretValue. Another run takes the lease over and imports a key. When
// the first run wakes up its write must be refused: written over the other's, it would drop the
// imported key, and every item sealed with it would stop decrypting.
func TestAHolderThatStallsAfterItsLastRenewalWritesNoKeyRingOverATakeover(t *testing.T) {
	shortLease(t)
	d := deploy(t)
	st := &store{table: d.table, secretID: d.secretArn, db: d.db, sm: d.sm, workers: 1}
	ctx, l, err := st.lock(context.Background(), "key rotate")
	require.NoError(t, err)
	ring, err := st.ring(ctx)
	require.NoError(t, err)
	k1, _ := claims.GenerateKey()
	next, err := ring.WithNewPrimary(k1)
	require.NoError(t, err)

	stalled, wake := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	afterRenewHook = func() {
		if first.CompareAndSwap(false, true) {
			close(l.stop) // the whole process stalls: the heartbeat too
			<-l.done
			close(stalled)
			<-wake
		}
	}
	t.Cleanup(func() { afterRenewHook = nil })
	errc := make(chan error, 1)
	go func() { errc <- st.putRing(ctx, l, next) }()
	<-stalled

	k2, _ := claims.GenerateKey()
	_, errOut, code := d.ctl(t, k2+"\n", "key", "import", "--stdin", "--lock-wait", "20s")
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, errOut, "took over the key-ring lock")
	close(wake)
	err = <-errc
	require.Error(t, err, "the stalled holder's write is refused")
	assert.Contains(t, err.Error(), "changed since this run read it")
	assert.Contains(t, d.ring(t).Keys(), k2, "the key imported by the run that took over is still in the ring")
	assert.NotContains(t, d.ring(t).Keys(), k1, "the stalled run's key was not written")
}

// TestALockItemWithMistypedFieldsIsTakenOverAfterTheTTL: a lock item written by hand (or by a
// tool gone wrong) whose token and gen are not a string and a number must block no run for
// longer than the TTL, like any other stale lease: it used to look "changed" at every read, so
// no waiter ever saw it unchanged for the TTL and every run waited out its --lock-wait.
func TestALockItemWithMistypedFieldsIsTakenOverAfterTheTTL(t *testing.T) {
	shortLease(t)
	d := deploy(t)
	_, err := d.db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(d.table), Item: map[string]ddbtypes.AttributeValue{
		"user_id": &ddbtypes.AttributeValueMemberS{Value: lockID},
		"owner":   &ddbtypes.AttributeValueMemberBOOL{Value: true},
		"token":   &ddbtypes.AttributeValueMemberBOOL{Value: true},
		"gen":     &ddbtypes.AttributeValueMemberL{Value: []ddbtypes.AttributeValue{&ddbtypes.AttributeValueMemberS{Value: "x"}}},
	}})
	require.NoError(t, err)
	_, errOut, code := d.ctl(t, "", "claims", "put", "a@example.com", "--roles", "viewer", "--default-role", "viewer", "--lock-wait", "15s")
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, errOut, "took over the key-ring lock")
	assert.Empty(t, d.lockItem(t), "released at the end")
}
