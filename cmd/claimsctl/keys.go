package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

// Rotation steps, in order. Tests stop the rotation after each of them (see fault); whatever the
// stop, every item stays decryptable by the secret's key ring and key rotate --resume completes
// the work.
const (
	stepRecorded    = "recorded"     // the rotation state names the new key; the ring does not hold it yet
	stepKeyAdded    = "key-added"    // the new key is first in the secret
	stepReencrypted = "re-encrypted" // one item now uses the new key (once per item)
	stepVerified    = "verified"     // every item decrypts with the new key
	stepRetired     = "retired"      // the old keys are gone
)

// keyRotate moves every item to a newly drawn primary key, binding unbound items on the way.
// With resume it finishes the rotation recorded by an interrupted run instead: the recorded
// fingerprint says which key, so a rotation never silently "resumes" onto an old key.
func keyRotate(ctx context.Context, st *store, out *printer, resume, retire bool) error {
	ctx, l, err := st.lock(ctx, "key rotate")
	if err != nil {
		return err
	}
	defer l.release()
	ring, err := st.ring(ctx)
	if err != nil {
		return err
	}
	state, err := st.rotation(ctx)
	if err != nil {
		return err
	}
	superseded := ""
	if resume {
		if state == nil {
			return fmt.Errorf("no interrupted rotation is recorded in %s: run claimsctl key rotate (without --resume); nothing was changed", st.table)
		}
		if state.target != ring.Fingerprint() {
			for _, k := range ring.Keys() {
				if claims.Fingerprint(k) == state.target {
					return fmt.Errorf("the recorded rotation moves to key %s, but the primary key is now %s (a key was imported as primary since): run claimsctl key rotate to move to a new key; nothing was changed", state.target, ring.Fingerprint())
				}
			}
			return fmt.Errorf("the recorded rotation (started %s) never added its key %s to the ring: run claimsctl key rotate to start a new one; nothing was changed", state.started, state.target)
		}
	} else {
		if state != nil {
			superseded = fmt.Sprintf(" (an unfinished rotation started %s was superseded; its items move to the new key too)", state.started)
		}
		k, err := claims.GenerateKey()
		if err != nil {
			return err
		}
		if err := st.recordRotation(ctx, claims.Fingerprint(k)); err != nil {
			return fmt.Errorf("%w; nothing was changed", err)
		}
		if err := fault(stepRecorded); err != nil {
			return partialf("%v: the rotation is recorded but its key was never added; every item decrypts as before: run claimsctl key rotate", err)
		}
		if ring, err = ring.WithNewPrimary(k); err != nil {
			return err
		}
		// The new key goes in first: from here on every reader can decrypt items under either key.
		if err := st.putRing(ctx, l, ring); err != nil {
			return partialf("%v: the rotation is recorded but its key may not be in the ring; every item decrypts as before: run claimsctl key rotate", err)
		}
		if err := fault(stepKeyAdded); err != nil {
			return partialf("%v: the new key is first in the ring and no item has moved yet; every item decrypts: run claimsctl key rotate --resume", err)
		}
	}
	m, err := moveAll(ctx, st, ring)
	if err != nil {
		return partialf("%v; %d items moved so far, every item still decrypts with the key ring: run claimsctl key rotate --resume to finish", err, m.moved.Load())
	}
	result := map[string]any{"items": m.total.Load(), "reencrypted": m.moved.Load(), "bound": m.bound.Load(), "resumed": resume,
		"keys": ring.Len(), "undecryptable": m.broken, "primary": ring.Fingerprint()}
	if len(m.broken) > 0 {
		out.result(result, "re-encrypted %d of %d items; %d items fail to decrypt or validate: %s", m.moved.Load(), m.total.Load(), len(m.broken), list(m.broken))
		return partialf("%d items cannot be decrypted or validated (fix or delete them: claimsctl claims verify), then run claimsctl key rotate --resume; the old keys were kept and every other item uses the new key", len(m.broken))
	}
	if err := st.clearRotation(ctx); err != nil {
		return partialf("%v: every item uses the new key; run claimsctl key rotate --resume to finish", err)
	}
	if retire {
		if ring, err = retireOld(ctx, st, l, ring, !resume); err != nil {
			var pe *partialError
			if errors.As(err, &pe) {
				return err
			}
			return partialf("%v: the rotation is complete and every item uses the new key, but the old keys may still be in the ring: run claimsctl key retire", err)
		}
		result["keys"] = 1
	}
	verb := "rotated to a new key"
	if resume {
		verb = "resumed the interrupted rotation"
	}
	out.result(result, "%s (%s): re-encrypted %d of %d items (%d newly bound); the key ring holds %d key(s)%s%s", verb, ring.Fingerprint(), m.moved.Load(), m.total.Load(), m.bound.Load(), ring.Len(),
		map[bool]string{true: " (old keys retired)", false: "; run claimsctl key retire to remove the old ones"}[retire], superseded)
	return nil
}

type moveResult struct {
	total, moved, bound atomic.Int64
	mu                  sync.Mutex
	broken              []string
}

// moveAll re-encrypts, with the primary key, every item that is not both under it and bound;
// an item is written only if nobody changed it since it was read.
func moveAll(ctx context.Context, st *store, ring *claims.KeyRing) (*moveResult, error) {
	m := &moveResult{}
	err := st.each(ctx, "key rotate", func(ctx context.Context, item map[string]ddbtypes.AttributeValue) error {
		m.total.Add(1)
		rec, err := claims.RecordFromItem(item)
		if err == nil && claims.IsClientItem(rec.UserID) {
			return m.moveClient(ctx, st, ring, rec)
		}
		var stored claims.Claims
		var b *claims.Binding
		primary := false
		if err == nil {
			stored, b, primary, err = claims.Inspect(ring, rec)
		}
		if err != nil {
			id := rec.UserID
			if v, ok := item[claims.AttrUserID].(*ddbtypes.AttributeValueMemberS); ok {
				id = v.Value
			}
			m.mu.Lock()
			m.broken = append(m.broken, id)
			m.mu.Unlock()
			return nil
		}
		if b != nil && primary {
			return nil
		}
		bind := b
		if bind == nil {
			var nb claims.Binding
			stored, nb = claims.BindingFor(stored, rec)
			bind = &nb
		}
		tok, err := claims.SealFor(ring, stored, *bind)
		if err != nil {
			return fmt.Errorf("seal %s: %w", rec.UserID, err)
		}
		swapped, err := st.swapClaims(ctx, rec.UserID, rec.Claims, tok)
		if err != nil {
			return fmt.Errorf("re-encrypt %s: %w", rec.UserID, err)
		}
		if !swapped {
			return nil // rewritten meanwhile: the census before any retirement looks at it again
		}
		m.moved.Add(1)
		if b == nil {
			m.bound.Add(1)
		}
		return fault(stepReencrypted)
	})
	return m, err
}

// moveClient re-encrypts a machine client's record with the primary key, sealed again to its
// item and client ID (a user's binding does not apply to it).
func (m *moveResult) moveClient(ctx context.Context, st *store, ring *claims.KeyRing, rec claims.Record) error {
	c, err := claims.OpenClient(ring, rec)
	if err != nil {
		m.mu.Lock()
		m.broken = append(m.broken, rec.UserID)
		m.mu.Unlock()
		return nil
	}
	if ring.DecryptsWithPrimary(rec.Claims) {
		return nil
	}
	tok, err := claims.SealClient(ring, c)
	if err != nil {
		return fmt.Errorf("seal %s: %w", rec.UserID, err)
	}
	swapped, err := st.swapClaims(ctx, rec.UserID, rec.Claims, tok)
	if err != nil {
		return fmt.Errorf("re-encrypt %s: %w", rec.UserID, err)
	}
	if !swapped {
		return nil // rewritten meanwhile (under the lock, only by a delete): nothing to move
	}
	m.moved.Add(1)
	return fault(stepReencrypted)
}

// retireOld drops every key but the primary, after verifying from the table itself (not from
// what this run wrote) that every item decrypts with the primary.
//
// With clearFloors (a rotation that drew its key after every floor was set, holding the lease
// since) the floors go too: every blob from before a floor was under a retired key.
func retireOld(ctx context.Context, st *store, l *lease, ring *claims.KeyRing, clearFloors bool) (*claims.KeyRing, error) {
	all, err := census(ctx, st, ring, "key retire: verify", false)
	if err != nil {
		return nil, err
	}
	stale, broken := 0, 0
	for _, s := range all {
		switch {
		case s.err != nil:
			broken++
		case !s.primary:
			stale++
		}
	}
	if stale > 0 || broken > 0 {
		return nil, fmt.Errorf("not retiring: %d items do not decrypt with the primary key (%d with an old key: run claimsctl key rotate; %d fail: claimsctl claims verify); the key ring is unchanged",
			stale+broken, stale, broken)
	}
	if err := fault(stepVerified); err != nil {
		return nil, err
	}
	primary, err := ring.WithKeys(ring.Keys()[0])
	if err != nil {
		return nil, err
	}
	if clearFloors {
		primary = primary.WithoutFloors()
	}
	if err := st.putRing(ctx, l, primary); err != nil {
		return nil, partialf("%v; every item uses the primary key and the old keys may still be in the ring: rerun claimsctl key retire", err)
	}
	if err := fault(stepRetired); err != nil {
		return nil, err
	}
	return primary, nil
}

func keyRetire(ctx context.Context, st *store, out *printer) error {
	ctx, l, err := st.lock(ctx, "key retire")
	if err != nil {
		return err
	}
	defer l.release()
	ring, err := st.ring(ctx)
	if err != nil {
		return err
	}
	if ring.Len() == 1 {
		out.result(map[string]any{"keys": 1, "retired": 0}, "the key ring holds only the primary key; nothing to retire")
		return nil
	}
	if _, err := retireOld(ctx, st, l, ring, false); err != nil {
		return err
	}
	out.result(map[string]any{"keys": 1, "retired": ring.Len() - 1}, "retired %d old key(s); the key ring holds the primary key only", ring.Len()-1)
	return nil
}

func keyImport(ctx context.Context, st *store, out *printer, k string, primary bool) error {
	ctx, l, err := st.lock(ctx, "key import")
	if err != nil {
		return err
	}
	defer l.release()
	ring, err := st.ring(ctx)
	if err != nil {
		return err
	}
	held := false
	for i, have := range ring.Keys() {
		if have != k {
			continue
		}
		held = true
		if !primary || i == 0 {
			what := "the key is already in the key ring"
			if primary {
				what = "the key is already the primary key"
			}
			out.result(map[string]any{"imported": false, "primary": i == 0, "keys": ring.Len()}, "%s; nothing was changed", what)
			return nil
		}
	}
	// --primary of a key the ring holds as decrypt-only moves it first (NewKeyRing drops the
	// later duplicate); answering "already there" would leave the operator believing it encrypts.
	keys := append(append([]string{}, ring.Keys()...), k)
	if primary {
		keys = append([]string{k}, ring.Keys()...)
	}
	next, err := ring.WithKeys(keys...)
	if err != nil {
		return err
	}
	if err := st.putRing(ctx, l, next); err != nil {
		return fmt.Errorf("%w; nothing was changed", err)
	}
	role := "decrypts only"
	if primary {
		role = "is now the encrypting key; run claimsctl key rotate to move every item to a new key"
	}
	verb := "imported the key"
	if held {
		verb = "moved the key already in the ring to first place:"
	}
	out.result(map[string]any{"imported": !held, "primary": primary, "keys": next.Len(), "fingerprint": claims.Fingerprint(k)},
		"%s %s: it %s; the key ring holds %d keys", verb, claims.Fingerprint(k), role, next.Len())
	return nil
}
