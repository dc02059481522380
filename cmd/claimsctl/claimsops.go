package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

// claimsPut writes one user's claims, sealed to their item. The binding keeps the identity and
// Hasura user id the item already records, unless the Cognito user now holding the email has
// another sub (the email was reused): then the claims are bound to the new user alone.
//
// Every write carries a higher generation. When the new claims are narrower than the current
// ones (a role or session variable removed or changed, or the binding changed), the user's floor
// in the key secret is raised to the new generation first: an older, broader blob put back by
// someone with write access to the table only is then refused (see claims.KeyRing.Floor).
func claimsPut(ctx context.Context, t *target, out *printer, c claims.Claims) error {
	st := t.st
	ctx, l, err := st.lock(ctx, "claims put")
	if err != nil {
		return err
	}
	defer l.release()
	ring, err := st.ring(ctx)
	if err != nil {
		return err
	}
	bind := claims.Binding{UserID: t.email}
	got, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.table), Key: key(t.email), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("read claims table %s: %w; nothing was changed", st.table, err)
	}
	var old claims.Claims
	var oldBind *claims.Binding
	readable := false
	if len(got.Item) > 0 {
		if rec, err := claims.RecordFromItem(got.Item); err == nil {
			// Whatever the item holds now, even a blob below the floor: it is what is replaced.
			if stored, b, err := claims.DecodeAnyGeneration(ring, rec); err == nil && b != nil {
				bind, old, oldBind, readable = *b, stored, b, true
			} else if err == nil {
				old, readable = stored, true
				_, bind = claims.BindingFor(stored, rec)
			}
		}
	}
	sub, legacySub := "", ""
	if t.pool != "" {
		u, err := t.idp.AdminGetUser(ctx, &cip.AdminGetUserInput{UserPoolId: aws.String(t.pool), Username: aws.String(t.email)})
		switch {
		case err == nil:
			sub, legacySub = attr(u.UserAttributes, "sub"), attr(u.UserAttributes, claims.LegacySubAttr)
		case !cognitoNotFound(err):
			return fmt.Errorf("look up %s in %s: %w; nothing was changed", t.email, t.pool, err)
		}
	}
	rebound := false
	if sub != "" && bind.Identity != sub {
		hasuraID := bind.HasuraUserID
		if hasuraID == "" {
			hasuraID = bind.Identity
		}
		if legacySub != "" && legacySub == hasuraID {
			// Moved from the old pool (only Cognito sets custom:legacy_sub): the same person, who
			// keeps their Hasura user id, as user rebind binds them.
			bind = claims.Binding{UserID: t.email, Identity: sub, HasuraUserID: hasuraID}
		} else {
			rebound = bind.Identity != ""
			bind = claims.Binding{UserID: t.email, Identity: sub}
		}
	}
	bind.Gen = claims.NextGen(bind.Gen, ring.Floor(t.email), time.Now().UnixMilli())
	// Narrower than what the item held (or than an unreadable or unbound blob, or one bound to
	// another identity): revoke every older blob first. Broader or equal claims need no floor:
	// putting back an older blob would only narrow them.
	narrowed := len(got.Item) > 0 && (!readable || oldBind == nil || oldBind.Identity != bind.Identity || narrows(old, c))
	if narrowed {
		if err := raiseFloor(ctx, st, l, ring, t.email, bind.Gen); err != nil {
			return err
		}
		if err := fault("claims-put:floor-raised"); err != nil {
			return partialf("raised the floor of %s to generation %d but did not write their new claims (%v): their current claims are refused until you rerun claimsctl claims put %s", t.email, bind.Gen, err, t.email)
		}
	}
	token, err := claims.SealFor(ring, c, bind)
	if err != nil {
		return err
	}
	update := "SET #c = :c"
	values := map[string]ddbtypes.AttributeValue{":c": &ddbtypes.AttributeValueMemberS{Value: token}}
	if bind.Identity != "" {
		// Informational for people reading the table; the trigger trusts the sealed copy only.
		update += ", cognito_uuid = :u"
		values[":u"] = &ddbtypes.AttributeValueMemberS{Value: bind.Identity}
	}
	_, err = st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(st.table), Key: key(t.email), UpdateExpression: aws.String(update),
		ExpressionAttributeNames: map[string]string{"#c": claims.AttrClaims}, ExpressionAttributeValues: values,
	})
	if err != nil {
		if narrowed {
			return partialf("raised the floor of %s to generation %d but writing their new claims to %s failed (%v): their current claims are refused until you rerun claimsctl claims put %s", t.email, bind.Gen, st.table, err, t.email)
		}
		return fmt.Errorf("write claims of %s to %s: %w; nothing was changed", t.email, st.table, err)
	}
	allowed, def := c.Roles()
	note := ""
	if rebound {
		note = "; the item was bound to another Cognito identity (the email was reused) and is now bound to the current user"
	}
	if narrowed {
		note += "; their older claims are revoked (a floor in the key secret; the trigger applies it within its key cache time, 5 minutes)"
	}
	out.result(map[string]any{"email": t.email, "allowed_roles": allowed, "default_role": def, "identity": bind.Identity, "rebound": rebound, "generation": bind.Gen, "older_revoked": narrowed},
		"wrote claims of %s: roles %s, default %s (effective at their next sign-in or token refresh)%s", t.email, strings.Join(allowed, ","), def, note)
	return nil
}

// narrows reports whether next grants less than prev: an allowed role dropped, or any other
// session variable (row-level scoping, for instance) removed or changed. The default role alone
// is not a grant: the user may request any allowed role.
func narrows(prev, next claims.Claims) bool {
	prevRoles, _ := prev.Roles()
	nextRoles, _ := next.Roles()
	have := map[string]bool{}
	for _, r := range nextRoles {
		have[r] = true
	}
	for _, r := range prevRoles {
		if !have[r] {
			return true
		}
	}
	for k, v := range prev {
		if k == claims.AllowedRoles || k == claims.DefaultRole {
			continue
		}
		if nv, ok := next[k]; !ok || nv != v {
			return true
		}
	}
	return false
}

// raiseFloor records in the key secret that user's claims below generation gen are refused.
func raiseFloor(ctx context.Context, st *store, l *lease, ring *claims.KeyRing, user string, gen uint64) error {
	next := ring.WithFloor(user, gen)
	if n := len(next.SecretString()); n > claims.MaxSecretBytes-4096 {
		return fmt.Errorf("the key secret would grow to %d bytes with another floor (Secrets Manager allows %d): run claimsctl key rotate --retire, which makes every older claims blob undecryptable and clears the floors, then rerun; nothing was changed", n, claims.MaxSecretBytes)
	}
	if err := st.putRing(ctx, l, next); err != nil {
		return fmt.Errorf("raise the floor of %s: %w; their claims are unchanged", user, err)
	}
	return nil
}

func claimsGet(ctx context.Context, t *target, out *printer) error {
	st := t.st
	ring, err := st.ring(ctx)
	if err != nil {
		return err
	}
	got, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.table), Key: key(t.email), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("read claims table %s: %w", st.table, err)
	}
	if len(got.Item) == 0 {
		return fmt.Errorf("no claims for %s in %s", t.email, st.table)
	}
	rec, err := claims.RecordFromItem(got.Item)
	if err != nil {
		return fmt.Errorf("claims of %s: %w", t.email, err)
	}
	c, _, err := claims.Decode(ring, rec)
	if err != nil {
		return fmt.Errorf("claims of %s: %w", t.email, err)
	}
	(&printer{w: out.w, json: true}).result(c, "") // the claims are JSON either way
	return nil
}

// claimsDelete removes one user's claims. It first raises the user's floor above the blob it
// deletes, so that putting that blob (or any older one) back gives no token.
func claimsDelete(ctx context.Context, t *target, out *printer) error {
	st := t.st
	ctx, l, err := st.lock(ctx, "claims delete")
	if err != nil {
		return err
	}
	defer l.release()
	got, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.table), Key: key(t.email), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("read claims table %s: %w; nothing was changed", st.table, err)
	}
	if len(got.Item) == 0 {
		return fmt.Errorf("no claims for %s in %s", t.email, st.table)
	}
	if err := tombstone(ctx, st, l, t.email, got.Item, "claimsctl claims delete "+t.email); err != nil {
		return err
	}
	_, err = st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(st.table), Key: key(t.email),
		ConditionExpression: aws.String("attribute_exists(user_id)")})
	if err != nil && !isConditionFailed(err) {
		return partialf("revoked the claims of %s (a floor in the key secret) but could not delete the item from %s (%v): they can no longer get a token; rerun claimsctl claims delete %s", t.email, st.table, err, t.email)
	}
	out.result(map[string]any{"email": t.email, "deleted": true}, "deleted the claims of %s: their next sign-in or refresh is refused", t.email)
	return nil
}

// tombstone raises a user's floor above the blob their item holds, before the item is deleted.
// rerun is the command that finishes the work if it stops after the floor was raised.
func tombstone(ctx context.Context, st *store, l *lease, email string, item map[string]ddbtypes.AttributeValue, rerun string) error {
	ring, err := st.ring(ctx)
	if err != nil {
		return fmt.Errorf("%w; nothing was changed", err)
	}
	cur := uint64(0)
	if rec, err := claims.RecordFromItem(item); err == nil {
		if _, b, err := claims.DecodeAnyGeneration(ring, rec); err == nil && b != nil {
			cur = b.Gen
		}
	}
	if err := raiseFloor(ctx, st, l, ring, email, claims.NextGen(cur, ring.Floor(email), time.Now().UnixMilli())); err != nil {
		return err
	}
	if err := fault("tombstone:floor-raised"); err != nil {
		return partialf("revoked the claims of %s (a floor in the key secret) but did not delete them (%v): they can no longer get a token; rerun %s", email, err, rerun)
	}
	return nil
}

// itemStatus is what verify and list learn of one item, through the trigger's code path.
type itemStatus struct {
	id      string
	claims  claims.Claims
	bound   bool
	err     error
	primary bool // decrypts with the primary key alone
	client  bool // a machine client's record (client#<id>), checked as the trigger checks it
}

func inspect(ring *claims.KeyRing, item map[string]ddbtypes.AttributeValue) itemStatus {
	s := itemStatus{}
	if v, ok := item[claims.AttrUserID].(*ddbtypes.AttributeValueMemberS); ok {
		s.id = v.Value
	}
	rec, err := claims.RecordFromItem(item)
	if err != nil {
		s.err = err
		return s
	}
	if claims.IsClientItem(rec.UserID) {
		// Sealed to its item and client ID by construction: always bound.
		s.client, s.bound = true, true
		_, s.err = claims.OpenClient(ring, rec)
		s.primary = s.err == nil && ring.DecryptsWithPrimary(rec.Claims)
		return s
	}
	var b *claims.Binding
	s.claims, b, s.primary, s.err = claims.Inspect(ring, rec)
	s.bound = b != nil
	return s
}

// census inspects every item with s.workers parallel scan segments. Without keepClaims only
// the status is kept, so that 100,000 items stay small in memory.
func census(ctx context.Context, st *store, ring *claims.KeyRing, what string, keepClaims bool) ([]itemStatus, error) {
	var mu sync.Mutex
	var all []itemStatus
	err := st.each(ctx, what, func(_ context.Context, item map[string]ddbtypes.AttributeValue) error {
		s := inspect(ring, item)
		if !keepClaims {
			s.claims = nil
		}
		mu.Lock()
		all = append(all, s)
		mu.Unlock()
		return nil
	})
	sort.Slice(all, func(i, j int) bool { return all[i].id < all[j].id })
	return all, err
}

func claimsList(ctx context.Context, st *store, out *printer, resume bool) error {
	ring, err := st.ring(ctx)
	if err != nil {
		return err
	}
	all, err := resumableCensus(ctx, st, ring, "claims list", true, resume)
	if err != nil {
		return err
	}
	rows := make([][]string, 0, len(all))
	for _, s := range all {
		if s.client {
			continue // machine clients' records: claimsctl client list shows them
		}
		binding := map[bool]string{true: "bound", false: "unbound"}[s.bound]
		if s.err != nil {
			rows = append(rows, []string{s.id, "", "", "", "ERROR: " + s.err.Error()})
			continue
		}
		allowed, def := s.claims.Roles()
		rows = append(rows, []string{s.id, def, strings.Join(allowed, ","), binding, "ok"})
	}
	out.table([]string{"USER_ID", "DEFAULT_ROLE", "ALLOWED_ROLES", "BINDING", "STATUS"}, rows)
	return nil
}

func claimsVerify(ctx context.Context, st *store, out *printer, resume bool) error {
	ring, err := st.ring(ctx)
	if err != nil {
		return err
	}
	all, err := resumableCensus(ctx, st, ring, "claims verify", false, resume)
	if err != nil {
		return err
	}
	var failed, unbound []string
	clients := 0
	for _, s := range all {
		if s.client {
			clients++
		}
		switch {
		case s.err != nil:
			failed = append(failed, s.id)
		case !s.bound:
			unbound = append(unbound, s.id)
		}
	}
	hint := ""
	if len(unbound) > 0 {
		hint = " (unbound items sign in only where claims.allowUnbound is true; claimsctl key rotate binds them)"
	}
	out.result(map[string]any{"items": len(all), "failed": len(failed), "failed_user_ids": failed, "unbound": len(unbound), "clients": clients},
		"%d items, %d failed%s; %d unbound%s; %d machine client records among them", len(all), len(failed), list(failed), len(unbound), hint, clients)
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d items fail to decrypt or validate: %s", len(failed), len(all), strings.Join(failed, ", "))
	}
	return nil
}

func list(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	if len(ids) > 100 {
		return fmt.Sprintf(": %s and %d more (--json lists all)", strings.Join(ids[:100], ", "), len(ids)-100)
	}
	return ": " + strings.Join(ids, ", ")
}
