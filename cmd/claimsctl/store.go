package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

// Items claimsctl keeps in the claims table for itself. Their user_id has no "@", so no email
// (and so no sign-in) ever reads them, and every scan skips them.
const (
	reservedPrefix = "claimsctl:"
	lockID         = reservedPrefix + "key-ring-lock" // the lease that serializes key-ring changes
	rotationID     = reservedPrefix + "rotation"      // which key an unfinished rotation moves to
)

// leaseTTL is how long a waiter must see the same lease unchanged, on its own monotonic clock,
// before it may take the lease over; a live holder renews it at a third of that. It bounds how
// long a crashed run blocks the others. A variable so that tests can shorten it.
var leaseTTL = 30 * time.Second

// pageSize bounds each scan page: progress on a large table, and paging exercised by tests.
const pageSize = 100

// scanProjection is every attribute claims.RecordFromItem reads: a scan carries nothing else
// (names through placeholders, so that no attribute name can collide with a reserved word).
const scanProjection = "#u, #c, #i, #d, #w"

var scanProjectionNames = map[string]string{
	"#u": claims.AttrUserID, "#c": claims.AttrClaims, "#i": claims.AttrCognitoUUID, "#d": claims.AttrDatabaseID, "#w": claims.AttrWorkgroupID,
}

// store is the claims table and its key secret.
type store struct {
	table, secretID string
	db              *dynamodb.Client
	sm              *secretsmanager.Client
	lockWait        time.Duration
	workers         int
	progress        io.Writer
	stderr          io.Writer // lock waiting messages; nil: none
	region          string    // names the resume state of claims list and verify

	// ringVersion is the VersionId of the key secret this run last read or wrote: putRing
	// replaces exactly that version or nothing (see putRing).
	ringMu      sync.Mutex
	ringVersion string
}

func key(e string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{claims.AttrUserID: &ddbtypes.AttributeValueMemberS{Value: e}}
}

func isConditionFailed(err error) bool {
	var cf *ddbtypes.ConditionalCheckFailedException
	return errors.As(err, &cf)
}

// attrIs reports whether the item id's attribute name now holds value (a consistent read; false
// when it cannot tell). After a conditional write fails, it tells this run's own write, whose
// answer was lost and which the SDK retried, from another run's change: the values claimsctl
// writes (a random lock owner, a Fernet token with a random IV) are never written twice.
func (s *store) attrIs(ctx context.Context, id, name, value string) bool {
	out, err := s.db.GetItem(context.WithoutCancel(ctx), &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return false
	}
	v, ok := out.Item[name].(*ddbtypes.AttributeValueMemberS)
	return ok && v.Value == value
}

// swapClaims replaces the item's claims with next only if they are still old, so a write based
// on a stale read never loses another change. swapped is false when the item changed or went
// meanwhile. A write whose answer was lost, and whose SDK retry then failed against the landed
// first attempt, is recognised by reading next back (a Fernet token has a fresh IV, so no other
// run writes the same value).
func (s *store) swapClaims(ctx context.Context, id, old, next string) (swapped bool, err error) {
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(id),
		UpdateExpression:         aws.String("SET #c = :new"),
		ConditionExpression:      aws.String("#c = :old"),
		ExpressionAttributeNames: map[string]string{"#c": claims.AttrClaims},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":new": &ddbtypes.AttributeValueMemberS{Value: next}, ":old": &ddbtypes.AttributeValueMemberS{Value: old},
		},
	})
	if isConditionFailed(err) {
		return s.attrIs(ctx, id, claims.AttrClaims, next), nil
	}
	return err == nil, err
}

// ring reads the claims key ring, the same way the Lambda does.
func (s *store) ring(ctx context.Context) (*claims.KeyRing, error) {
	out, err := s.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.secretID), VersionStage: aws.String("AWSCURRENT")})
	if err != nil {
		return nil, fmt.Errorf("read claims key secret %s: %w (check your credentials can read it)", s.secretID, err)
	}
	ring, err := claims.ParseKeyRing(aws.ToString(out.SecretString))
	if err != nil {
		return nil, fmt.Errorf("claims key secret %s: %w", s.secretID, err)
	}
	s.ringMu.Lock()
	s.ringVersion = aws.ToString(out.VersionId)
	s.ringMu.Unlock()
	return ring, nil
}

// lease is this run's hold on the key-ring lock: one item, written with a conditional put,
// renewed while the run works and deleted when it ends. Every command that changes the key ring
// or encrypts with it holds the lease, so that no run encrypts with a key another run is
// removing and no two runs write the ring from stale copies.
//
// No wall clock decides anything: the item records the holder, a random token and a renewal
// count (gen). A live holder increments gen every leaseTTL/3, conditional on its token. A waiter
// that sees the same token and gen unchanged for longer than leaseTTL, measured on its own
// monotonic clock, takes the lease over with a put conditional on that token and gen: so a
// client whose clock is ahead cannot take a live lease, an item with any "expires" (an older
// claimsctl's, or a hand-written one far in the future) blocks no run for longer than
// leaseTTL, and of several waiters exactly one wins. The holder's "since" is informational.
type lease struct {
	s      *store
	owner  string
	token  string
	stop   chan struct{}
	done   chan struct{}
	cancel context.CancelCauseFunc
}

// Attributes of the lock item.
const (
	lockOwner = "owner"
	lockToken = "token"
	lockGen   = "gen"
	lockOp    = "op"
	lockSince = "since"
)

// lockSeen is one observation of the lock item by a waiter.
type lockSeen struct {
	owner, op, since string
	token, gen       ddbtypes.AttributeValue // nil: absent (an older claimsctl's item)
	first            time.Time               // when this waiter first saw exactly this token and gen (monotonic)
}

func (o *lockSeen) same(p *lockSeen) bool {
	return p != nil && avEqual(o.token, p.token) && avEqual(o.gen, p.gen) && o.owner == p.owner
}

func avEqual(a, b ddbtypes.AttributeValue) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case *ddbtypes.AttributeValueMemberS:
		y, ok := b.(*ddbtypes.AttributeValueMemberS)
		return ok && x.Value == y.Value
	case *ddbtypes.AttributeValueMemberN:
		y, ok := b.(*ddbtypes.AttributeValueMemberN)
		return ok && x.Value == y.Value
	}
	// Any other type is a hand-written or corrupted item: compared by value, so that it looks
	// unchanged between reads and is taken over after the TTL instead of blocking forever.
	return reflect.DeepEqual(a, b)
}

// avType is the DynamoDB type name of a value, for attribute_type.
func avType(v ddbtypes.AttributeValue) string {
	switch v.(type) {
	case *ddbtypes.AttributeValueMemberB:
		return "B"
	case *ddbtypes.AttributeValueMemberBOOL:
		return "BOOL"
	case *ddbtypes.AttributeValueMemberBS:
		return "BS"
	case *ddbtypes.AttributeValueMemberL:
		return "L"
	case *ddbtypes.AttributeValueMemberM:
		return "M"
	case *ddbtypes.AttributeValueMemberNS:
		return "NS"
	case *ddbtypes.AttributeValueMemberNULL:
		return "NULL"
	case *ddbtypes.AttributeValueMemberSS:
		return "SS"
	}
	return "S"
}

func (o *lockSeen) String() string {
	since := o.since
	if since == "" {
		since = "an unknown time"
	}
	return fmt.Sprintf("%s by %s since %s (the holder's clock)", o.op, o.owner, since)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// lock takes the key-ring lock for op, waiting up to lockWait for another run to finish (or
// for a stale lease to become takeable). While it waits it says on stderr who holds the lock,
// since when, and how long it will wait. The returned context is cancelled if the lease is lost.
func (s *store) lock(ctx context.Context, op string) (context.Context, *lease, error) {
	host, _ := os.Hostname()
	l := &lease{s: s, owner: fmt.Sprintf("%s@%s pid %d", randomHex(4), host, os.Getpid()), token: randomHex(16), stop: make(chan struct{}), done: make(chan struct{})}
	start := time.Now()
	backoff := 20 * time.Millisecond
	var seen *lockSeen
	for {
		cond := "attribute_not_exists(user_id)"
		names := map[string]string{}
		values := map[string]ddbtypes.AttributeValue{}
		if seen != nil && time.Since(seen.first) > leaseTTL {
			// The same lease, unrenewed for longer than its TTL on this run's own clock: its
			// holder stopped. Take it over, only if it is still exactly that lease.
			cond = "attribute_not_exists(user_id) OR (" + seenCond(seen, names, values) + ")"
		}
		in := &dynamodb.PutItemInput{
			TableName: aws.String(s.table),
			Item: map[string]ddbtypes.AttributeValue{
				claims.AttrUserID: &ddbtypes.AttributeValueMemberS{Value: lockID},
				lockOwner:         &ddbtypes.AttributeValueMemberS{Value: l.owner},
				lockToken:         &ddbtypes.AttributeValueMemberS{Value: l.token},
				lockGen:           &ddbtypes.AttributeValueMemberN{Value: "0"},
				lockOp:            &ddbtypes.AttributeValueMemberS{Value: op},
				lockSince:         &ddbtypes.AttributeValueMemberS{Value: time.Now().UTC().Format(time.RFC3339)},
			},
			ConditionExpression: aws.String(cond),
			ReturnValues:        ddbtypes.ReturnValueAllOld, // an old item: this put took a stale lease over
		}
		if len(names) > 0 {
			in.ExpressionAttributeNames, in.ExpressionAttributeValues = names, values
		}
		put, err := s.db.PutItem(ctx, in)
		if err == nil {
			if len(put.Attributes) > 0 && seen != nil {
				s.say("took over the key-ring lock from %s: it was not renewed for %s", seen, time.Since(seen.first).Round(time.Second))
			}
			break
		}
		if !isConditionFailed(err) {
			return nil, nil, fmt.Errorf("take the key-ring lock (item %s in %s): %w; nothing was changed", lockID, s.table, err)
		}
		now, err := s.observe(ctx)
		if err != nil {
			return nil, nil, err
		}
		// The SDK retries a put whose answer was lost; the retry then fails against the first
		// attempt, which landed: this run holds the lock already.
		if now != nil && avEqual(now.token, &ddbtypes.AttributeValueMemberS{Value: l.token}) {
			break
		}
		switch {
		case now == nil: // released meanwhile: try again at once
			seen = nil
			continue
		case now.same(seen):
		default:
			now.first = time.Now()
			if seen == nil {
				s.say("another claimsctl run holds the key-ring lock: %s; waiting up to %s (--lock-wait); a lease not renewed for %s is taken over", now, s.lockWait, leaseTTL)
			} else if now.token == nil || !avEqual(now.token, seen.token) {
				s.say("the key-ring lock is now held by %s; still waiting", now)
			}
			seen = now
		}
		if time.Since(start) >= s.lockWait {
			hint := "retry when it is done"
			if s.lockWait < leaseTTL {
				hint = fmt.Sprintf("a crashed run's lease is taken over after %s without renewal: retry with --lock-wait of more than %s", leaseTTL, leaseTTL)
			}
			return nil, nil, fmt.Errorf("another claimsctl run holds the key-ring lock (%s); waited %s: %s; nothing was changed",
				seen, s.lockWait, hint)
		}
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(backoff)))
		time.Sleep(backoff + time.Duration(n.Int64()))
		backoff = min(2*backoff, time.Second, leaseTTL/4)
	}
	lctx, cancel := context.WithCancelCause(ctx)
	l.cancel = cancel
	go l.heartbeat(lctx)
	return lctx, l, nil
}

// seenCond is the condition that the lock item is still exactly the lease a waiter observed.
func seenCond(o *lockSeen, names map[string]string, values map[string]ddbtypes.AttributeValue) string {
	var parts []string
	for _, a := range []struct {
		name string
		v    ddbtypes.AttributeValue
	}{{lockToken, o.token}, {lockGen, o.gen}} {
		names["#"+a.name] = a.name
		if a.v == nil {
			parts = append(parts, "attribute_not_exists(#"+a.name+")")
			continue
		}
		switch a.v.(type) {
		case *ddbtypes.AttributeValueMemberS, *ddbtypes.AttributeValueMemberN:
		default:
			// A mistyped field (a hand-written item): match its type, since equality is not
			// defined for every type. A takeover writes a string token, so of several waiters
			// still only the first wins.
			values[":"+a.name+"T"] = &ddbtypes.AttributeValueMemberS{Value: avType(a.v)}
			parts = append(parts, "attribute_type(#"+a.name+", :"+a.name+"T)")
			continue
		}
		values[":"+a.name] = a.v
		parts = append(parts, "#"+a.name+" = :"+a.name)
	}
	names["#"+lockOwner] = lockOwner
	if o.owner == "?" {
		// Absent or not a string (observe shows either as "?").
		parts = append(parts, "(attribute_not_exists(#"+lockOwner+") OR NOT attribute_type(#"+lockOwner+", :ownerS))")
		values[":ownerS"] = &ddbtypes.AttributeValueMemberS{Value: "S"}
	} else {
		values[":"+lockOwner] = &ddbtypes.AttributeValueMemberS{Value: o.owner}
		parts = append(parts, "#"+lockOwner+" = :"+lockOwner)
	}
	return strings.Join(parts, " AND ")
}

// observe reads the lock item; nil when there is none.
func (s *store) observe(ctx context.Context) (*lockSeen, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(lockID), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read the key-ring lock (item %s in %s): %w; nothing was changed", lockID, s.table, err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	get := func(n string) string {
		if v, ok := out.Item[n].(*ddbtypes.AttributeValueMemberS); ok {
			return v.Value
		}
		return "?"
	}
	o := &lockSeen{owner: get(lockOwner), op: get(lockOp), since: get(lockSince), token: out.Item[lockToken], gen: out.Item[lockGen]}
	if o.since == "?" {
		o.since = ""
	}
	return o, nil
}

// say writes one line about the lock to stderr (not to stdout, which --json keeps for results).
func (s *store) say(format string, a ...any) {
	if s.stderr != nil {
		fmt.Fprintf(s.stderr, "claimsctl: "+format+"\n", a...)
	}
}

func (l *lease) heartbeat(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(leaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			if err := l.renew(ctx); err != nil {
				l.cancel(err)
				return
			}
		}
	}
}

// renew bumps the lease's renewal count, and fails if another run has taken it over (this run
// stalled for longer than the lease TTL): that conditional write is what proves, before every
// key-ring write, that this run still holds the lease.
func (l *lease) renew(ctx context.Context) error {
	_, err := l.s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(l.s.table), Key: key(lockID),
		UpdateExpression:         aws.String("SET #g = #g + :one"),
		ConditionExpression:      aws.String("#t = :me"),
		ExpressionAttributeNames: map[string]string{"#g": lockGen, "#t": lockToken},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":one": &ddbtypes.AttributeValueMemberN{Value: "1"},
			":me":  &ddbtypes.AttributeValueMemberS{Value: l.token},
		},
	})
	if isConditionFailed(err) {
		return errors.New("lost the key-ring lock to another run (this run stalled longer than the lease)")
	}
	if err != nil {
		return fmt.Errorf("renew the key-ring lock: %w", err)
	}
	return nil
}

// release ends the lease. A failure only delays the next run until a waiter takes it over.
func (l *lease) release() {
	close(l.stop)
	<-l.done
	l.cancel(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = l.s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(l.s.table), Key: key(lockID),
		ConditionExpression:       aws.String("#t = :me"),
		ExpressionAttributeNames:  map[string]string{"#t": lockToken},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":me": &ddbtypes.AttributeValueMemberS{Value: l.token}},
	})
}

// putRing writes the key ring while holding the lease, as a compare-and-swap on the secret's
// AWSCURRENT version, then reads it back to prove the write is what every reader now gets.
//
// The renewal first proves the lease was held a moment ago, but a run can stall after it (a GC
// pause, a laptop asleep) for longer than the TTL while another run takes the lease over and
// writes the ring: a plain PutSecretValue would then overwrite that write from a stale copy and
// drop a key. So the new ring goes in as a version labelled ringPendingStage only, and
// UpdateSecretVersionStage moves AWSCURRENT to it from the version this run last read or wrote:
// Secrets Manager refuses the move when AWSCURRENT is no longer on that version.
func (s *store) putRing(ctx context.Context, l *lease, ring *claims.KeyRing) error {
	if err := l.renew(ctx); err != nil {
		return err
	}
	if afterRenewHook != nil {
		afterRenewHook()
	}
	s.ringMu.Lock()
	base := s.ringVersion
	s.ringMu.Unlock()
	if base == "" {
		return fmt.Errorf("write key ring to %s: this run has not read it (a bug); nothing was changed", s.secretID)
	}
	put, err := s.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(s.secretID), SecretString: aws.String(ring.SecretString()),
		VersionStages: []string{ringPendingStage}})
	if err != nil {
		return fmt.Errorf("write key ring to %s: %w", s.secretID, err)
	}
	_, moveErr := s.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(s.secretID),
		VersionStage: aws.String("AWSCURRENT"), RemoveFromVersionId: aws.String(base), MoveToVersionId: put.VersionId})
	cur, err := s.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.secretID), VersionStage: aws.String("AWSCURRENT")})
	if err != nil {
		return fmt.Errorf("read back the key ring from %s: %w (check your credentials can read it)", s.secretID, err)
	}
	if aws.ToString(cur.VersionId) != aws.ToString(put.VersionId) {
		// The move failed (a lost answer to a move that happened is told apart by the read).
		if moveErr == nil {
			moveErr = errors.New("another version is current")
		}
		return fmt.Errorf("key ring in %s changed since this run read it (another run took the lease over while this one stalled, or a writer bypassed the lock): %w; this run's change was not made current", s.secretID, moveErr)
	}
	if aws.ToString(cur.SecretString) != ring.SecretString() {
		return fmt.Errorf("key ring in %s is not what was just written: another writer bypassed the lock", s.secretID)
	}
	s.ringMu.Lock()
	s.ringVersion = aws.ToString(put.VersionId)
	s.ringMu.Unlock()
	return nil
}

// afterRenewHook lets a test stall a run between its last renewal and its write (nil: none).
var afterRenewHook func()

// ringPendingStage labels the version putRing writes before it makes it current; Secrets
// Manager moves the label on each write, so at most one such version is kept.
const ringPendingStage = "CLAIMSCTL_PENDING"

// rotationState is what an unfinished rotation recorded: the fingerprint of the key it moves
// every item to.
type rotationState struct {
	target, started string
}

func (s *store) rotation(ctx context.Context) (*rotationState, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(rotationID), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read rotation state from %s: %w", s.table, err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	st := &rotationState{}
	if v, ok := out.Item["target"].(*ddbtypes.AttributeValueMemberS); ok {
		st.target = v.Value
	}
	if v, ok := out.Item["started"].(*ddbtypes.AttributeValueMemberS); ok {
		st.started = v.Value
	}
	return st, nil
}

func (s *store) recordRotation(ctx context.Context, target string) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: map[string]ddbtypes.AttributeValue{
		claims.AttrUserID: &ddbtypes.AttributeValueMemberS{Value: rotationID},
		"target":          &ddbtypes.AttributeValueMemberS{Value: target},
		"started":         &ddbtypes.AttributeValueMemberS{Value: time.Now().UTC().Format(time.RFC3339)},
	}})
	if err != nil {
		return fmt.Errorf("record the rotation in %s: %w", s.table, err)
	}
	return nil
}

func (s *store) clearRotation(ctx context.Context) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: key(rotationID)})
	if err != nil {
		return fmt.Errorf("clear the rotation state in %s: %w", s.table, err)
	}
	return nil
}

// each calls fn for every claims item (not claimsctl's own), from s.workers parallel scan
// segments; fn must be safe for concurrent use. A progress line goes to a terminal.
func (s *store) each(ctx context.Context, what string, fn func(ctx context.Context, item map[string]ddbtypes.AttributeValue) error) error {
	return s.scan(ctx, what, nil, func(ctx context.Context, _ int, item map[string]ddbtypes.AttributeValue) error { return fn(ctx, item) })
}

// scanResume lets a scan start each segment where an earlier run stopped, and learn where each
// segment is after every page.
type scanResume struct {
	segments int                                                                    // TotalSegments to use (the recorded run's)
	start    func(seg int) (startKey map[string]ddbtypes.AttributeValue, done bool) // where segment seg starts
	page     func(seg int, last map[string]ddbtypes.AttributeValue) error           // after every item of a page went through fn; last nil: segment done
	done     int64                                                                  // items counted before this run, for the progress line
}

// scan is each with the segment of every item, and optionally resumable (r).
func (s *store) scan(ctx context.Context, what string, r *scanResume, fn func(ctx context.Context, seg int, item map[string]ddbtypes.AttributeValue) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	segments := s.workers
	if r != nil {
		segments = r.segments
	}
	p := s.startProgress(ctx, what)
	defer p.finish()
	if r != nil {
		p.done.Add(r.done)
	}
	var wg sync.WaitGroup
	for seg := 0; seg < segments; seg++ {
		var startKey map[string]ddbtypes.AttributeValue
		if r != nil {
			var done bool
			if startKey, done = r.start(seg); done {
				continue
			}
		}
		wg.Add(1)
		go func(seg int) {
			defer wg.Done()
			// The page size bounds progress granularity and what a resume repeats; the scan reads
			// only the attributes an item's checks use.
			in := &dynamodb.ScanInput{TableName: aws.String(s.table), ConsistentRead: aws.Bool(true), Limit: aws.Int32(pageSize), ExclusiveStartKey: startKey,
				ProjectionExpression: aws.String(scanProjection), ExpressionAttributeNames: scanProjectionNames}
			if segments > 1 {
				in.Segment, in.TotalSegments = aws.Int32(int32(seg)), aws.Int32(int32(segments))
			}
			pages := dynamodb.NewScanPaginator(s.db, in)
			for pages.HasMorePages() {
				page, err := pages.NextPage(ctx)
				if err != nil {
					cancel(fmt.Errorf("scan claims table %s: %w", s.table, err))
					return
				}
				for _, it := range page.Items {
					if id, ok := it[claims.AttrUserID].(*ddbtypes.AttributeValueMemberS); ok && strings.HasPrefix(id.Value, reservedPrefix) {
						continue
					}
					if err := fn(ctx, seg, it); err != nil {
						cancel(err)
						return
					}
					p.done.Add(1)
				}
				if r != nil {
					if err := r.page(seg, page.LastEvaluatedKey); err != nil {
						cancel(err)
						return
					}
				}
			}
		}(seg)
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && ctx.Err() != nil {
		return err
	}
	return nil
}

// progress prints done/total, rate and time left on one terminal line, once a second.
type progress struct {
	done  atomic.Int64
	stop  chan struct{}
	ended chan struct{}
}

func (s *store) startProgress(ctx context.Context, what string) *progress {
	p := &progress{stop: make(chan struct{}), ended: make(chan struct{})}
	if s.progress == nil {
		close(p.ended)
		return p
	}
	total := int64(0)
	if out, err := s.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table)}); err == nil {
		total = aws.ToInt64(out.Table.ItemCount) // DynamoDB updates it about every six hours: an estimate
	}
	start := time.Now()
	go func() {
		defer close(p.ended)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				fmt.Fprint(s.progress, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprint(s.progress, "\r\033[K"+progressLine(what, p.done.Load(), total, time.Since(start)))
			}
		}
	}()
	return p
}

// progressLine renders done/total, the rate so far and the time left at that rate.
func progressLine(what string, done, total int64, elapsed time.Duration) string {
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed.Seconds()
	}
	left := "?"
	if total >= done && rate > 0 {
		left = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("%s: %d/%d items, %.0f/s, %s left", what, done, total, rate, left)
}

func (p *progress) finish() {
	select {
	case <-p.ended:
	default:
		close(p.stop)
		<-p.ended
	}
}
