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
	"strconv"
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

// leaseTTL bounds how long a crashed run blocks the others; a live run renews its lease at a
// third of it.
const leaseTTL = 30 * time.Second

// pageSize bounds each scan page: progress on a large table, and paging exercised by tests.
const pageSize = 100

// store is the claims table and its key secret.
type store struct {
	table, secretID string
	db              *dynamodb.Client
	sm              *secretsmanager.Client
	lockWait        time.Duration
	workers         int
	progress        io.Writer
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

// ring reads the claims key ring, the same way the Lambda does.
func (s *store) ring(ctx context.Context) (*claims.KeyRing, error) {
	out, err := s.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.secretID)})
	if err != nil {
		return nil, fmt.Errorf("read claims key secret %s: %w (check your credentials can read it)", s.secretID, err)
	}
	ring, err := claims.ParseKeyRing(aws.ToString(out.SecretString))
	if err != nil {
		return nil, fmt.Errorf("claims key secret %s: %w", s.secretID, err)
	}
	return ring, nil
}

// lease is this run's hold on the key-ring lock: a conditional put of one item, renewed while
// the run works and deleted when it ends. Every command that changes the key ring or encrypts
// with it holds the lease, so that no run encrypts with a key another run is removing and no
// two runs write the ring from stale copies.
type lease struct {
	s      *store
	owner  string
	stop   chan struct{}
	done   chan struct{}
	cancel context.CancelCauseFunc
}

// lock takes the key-ring lock for op, waiting up to lockWait for another run to finish. The
// returned context is cancelled if the lease is lost.
func (s *store) lock(ctx context.Context, op string) (context.Context, *lease, error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	host, _ := os.Hostname()
	l := &lease{s: s, owner: hex.EncodeToString(b) + "@" + host, stop: make(chan struct{}), done: make(chan struct{})}
	deadline := time.Now().Add(s.lockWait)
	backoff := 20 * time.Millisecond
	for {
		now := time.Now()
		_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(s.table),
			Item: map[string]ddbtypes.AttributeValue{
				claims.AttrUserID: &ddbtypes.AttributeValueMemberS{Value: lockID},
				"owner":           &ddbtypes.AttributeValueMemberS{Value: l.owner},
				"op":              &ddbtypes.AttributeValueMemberS{Value: op},
				"since":           &ddbtypes.AttributeValueMemberS{Value: now.UTC().Format(time.RFC3339)},
				"expires":         &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(now.Add(leaseTTL).UnixMilli(), 10)},
			},
			ConditionExpression:       aws.String("attribute_not_exists(user_id) OR expires < :now"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":now": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(now.UnixMilli(), 10)}},
		})
		if err == nil {
			break
		}
		if !isConditionFailed(err) {
			return nil, nil, fmt.Errorf("take the key-ring lock (item %s in %s): %w; nothing was changed", lockID, s.table, err)
		}
		// The SDK retries a put whose answer was lost; the retry then fails against the first
		// attempt, which landed: this run holds the lock already.
		if s.attrIs(ctx, lockID, "owner", l.owner) {
			break
		}
		if now.After(deadline) {
			return nil, nil, fmt.Errorf("another claimsctl run holds the key-ring lock (%s); waited %s: retry when it is done (a crashed run's lock expires %s after its last renewal); nothing was changed",
				s.holder(ctx), s.lockWait, leaseTTL)
		}
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(backoff)))
		time.Sleep(backoff + time.Duration(n.Int64()))
		backoff = min(2*backoff, time.Second)
	}
	lctx, cancel := context.WithCancelCause(ctx)
	l.cancel = cancel
	go l.heartbeat(lctx)
	return lctx, l, nil
}

func (s *store) holder(ctx context.Context) string {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(lockID), ConsistentRead: aws.Bool(true)})
	if err != nil || len(out.Item) == 0 {
		return "holder unknown"
	}
	get := func(n string) string {
		if v, ok := out.Item[n].(*ddbtypes.AttributeValueMemberS); ok {
			return v.Value
		}
		return "?"
	}
	return fmt.Sprintf("%s by %s since %s", get("op"), get("owner"), get("since"))
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

// renew extends the lease, and fails if another run has taken it (this run stalled past the TTL).
func (l *lease) renew(ctx context.Context) error {
	_, err := l.s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(l.s.table), Key: key(lockID),
		UpdateExpression:         aws.String("SET expires = :e"),
		ConditionExpression:      aws.String("#o = :me"),
		ExpressionAttributeNames: map[string]string{"#o": "owner"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":e":  &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(time.Now().Add(leaseTTL).UnixMilli(), 10)},
			":me": &ddbtypes.AttributeValueMemberS{Value: l.owner},
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

// release ends the lease. A failure only delays the next run until the lease expires.
func (l *lease) release() {
	close(l.stop)
	<-l.done
	l.cancel(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = l.s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(l.s.table), Key: key(lockID),
		ConditionExpression:       aws.String("#o = :me"),
		ExpressionAttributeNames:  map[string]string{"#o": "owner"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":me": &ddbtypes.AttributeValueMemberS{Value: l.owner}},
	})
}

// putRing writes the key ring while holding the lease, then reads it back to prove the write
// is what every reader now gets.
func (s *store) putRing(ctx context.Context, l *lease, ring *claims.KeyRing) error {
	if err := l.renew(ctx); err != nil {
		return err
	}
	_, err := s.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(s.secretID), SecretString: aws.String(ring.SecretString())})
	if err != nil {
		return fmt.Errorf("write key ring to %s: %w", s.secretID, err)
	}
	back, err := s.ring(ctx)
	if err != nil {
		return err
	}
	if back.SecretString() != ring.SecretString() {
		return fmt.Errorf("key ring in %s is not what was just written: another writer bypassed the lock", s.secretID)
	}
	return nil
}

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
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p := s.startProgress(ctx, what)
	defer p.finish()
	var wg sync.WaitGroup
	for seg := 0; seg < s.workers; seg++ {
		wg.Add(1)
		go func(seg int) {
			defer wg.Done()
			in := &dynamodb.ScanInput{TableName: aws.String(s.table), ConsistentRead: aws.Bool(true), Limit: aws.Int32(pageSize)}
			if s.workers > 1 {
				in.Segment, in.TotalSegments = aws.Int32(int32(seg)), aws.Int32(int32(s.workers))
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
					if err := fn(ctx, it); err != nil {
						cancel(err)
						return
					}
					p.done.Add(1)
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
