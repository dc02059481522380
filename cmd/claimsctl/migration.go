package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

// The user migration (cognito.migrateFrom) moves users into the new pool at their first
// sign-in; the trigger then accepts their item through their old pool's sub (custom:legacy_sub)
// and keeps it as x-hasura-user-id. user rebind makes each item record the new pool's sub
// instead, so that the old pool, and the legacy_sub path, can be retired; user
// migration-status says how far that is. Neither ever changes the x-hasura-user-id a user's
// token carries: only which Cognito identity may have it.

// Fault points of user rebind, one before each AWS call it makes (tests fail each in turn).
const (
	faultListUsers = "migration:list-users" // before each ListUsers page of the new pool
	faultReadRing  = "rebind:read-ring"     // before GetSecretValue of the key ring
	faultReadItem  = "rebind:read-item"     // before GetItem of a named user's item
	faultWrite     = "rebind:write"         // before the conditional UpdateItem of one item
	faultWritten   = "rebind:written"       // after it succeeded (the answer lost on the way back)
)

// ssoConfig is the environment's single sign-on as ./cdk.json configures it (cognito.sso): the
// one provider federated users may come through and their allowed email domains, exactly what
// the pre-token trigger is deployed with.
type ssoConfig struct {
	provider string
	domains  map[string]bool
}

func (s ssoConfig) allows(email string) bool {
	return s.provider != "" && s.domains[claims.EmailDomain(email)]
}

// ssoFromCDKJSON reads environments.<env>.cognito.sso from path leniently: the deployed
// trigger has the same values (synth validated them), and claimsctl needs only these two. No
// file, environment or sso section means no single sign-on.
func ssoFromCDKJSON(path, project, envName string) (ssoConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil || envName == "" {
		return ssoConfig{}, nil
	}
	var f struct {
		Context struct {
			Project      string `json:"project"`
			Environments map[string]struct {
				Cognito struct {
					SSO *struct {
						ProviderName        string   `json:"providerName"`
						AllowedEmailDomains []string `json:"allowedEmailDomains"`
					} `json:"sso"`
				} `json:"cognito"`
			} `json:"environments"`
		} `json:"context"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return ssoConfig{}, usagef("%s: %v (claimsctl reads environments.%s.cognito.sso from it)", path, err, envName)
	}
	// Another project's file (claimsctl run with --project from the wrong directory) would lend
	// this deployment its single sign-on: items of its domains bound by email.
	if project != "" && f.Context.Project != "" && f.Context.Project != project {
		return ssoConfig{}, usagef("./%s is project %q, not %s (--project): its cognito.sso is not this deployment's; run claimsctl from %s's directory; nothing was changed", path, f.Context.Project, project, project)
	}
	e, ok := f.Context.Environments[envName]
	if !ok || e.Cognito.SSO == nil || e.Cognito.SSO.ProviderName == "" {
		return ssoConfig{}, nil
	}
	s := ssoConfig{provider: e.Cognito.SSO.ProviderName, domains: map[string]bool{}}
	for _, d := range e.Cognito.SSO.AllowedEmailDomains {
		s.domains[strings.ToLower(d)] = true
	}
	return s, nil
}

func (s ssoConfig) describe() string {
	if s.provider == "" {
		return "no single sign-on (no cognito.sso for this environment in ./cdk.json)"
	}
	ds := make([]string, 0, len(s.domains))
	for d := range s.domains {
		ds = append(ds, d)
	}
	sort.Strings(ds)
	return fmt.Sprintf("single sign-on through %s for %s", s.provider, strings.Join(ds, ", "))
}

// poolUser is what a migration decision needs of one user of the new pool.
type poolUser struct {
	username, sub, legacySub string
	// providers are the identity providers of a federated user (Cognito's identities
	// attribute, or status EXTERNAL_PROVIDER); empty for a native user.
	providers []string
	federated bool
	// verified: Cognito verified a native user's email (email_verified), which the pre-token
	// trigger requires of them at every sign-in.
	verified bool
}

// poolUsers lists every user of the new pool by normalized email (ListUsers, paginated). The
// whole pool is read even for named users: a federated user's username is not the email, and
// a migrated user's email keeps the old pool's letter case.
func poolUsers(ctx context.Context, idp *cip.Client, pool string) (map[string][]poolUser, error) {
	byEmail := map[string][]poolUser{}
	in := &cip.ListUsersInput{UserPoolId: aws.String(pool), Limit: aws.Int32(60)}
	for {
		if err := fault(faultListUsers); err != nil {
			return nil, fmt.Errorf("list the users of %s: %w; nothing was changed by this step", pool, err)
		}
		page, err := idp.ListUsers(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list the users of %s: %w; nothing was changed by this step", pool, err)
		}
		for _, u := range page.Users {
			email, err := claims.NormalizeEmail(attr(u.Attributes, "email"))
			if err != nil {
				continue // no item can name a user without a plain email
			}
			pu := poolUser{username: aws.ToString(u.Username), sub: attr(u.Attributes, "sub"), legacySub: attr(u.Attributes, claims.LegacySubAttr),
				verified: attr(u.Attributes, "email_verified") == "true"}
			ids := attr(u.Attributes, "identities")
			pu.federated = u.UserStatus == ciptypes.UserStatusTypeExternalProvider || (ids != "" && ids != "[]")
			if pu.federated {
				var list []struct {
					ProviderName string `json:"providerName"`
				}
				_ = json.Unmarshal([]byte(ids), &list) // unreadable: no provider, so refused below
				for _, p := range list {
					pu.providers = append(pu.providers, p.ProviderName)
				}
			}
			byEmail[email] = append(byEmail[email], pu)
		}
		if aws.ToString(page.PaginationToken) == "" {
			return byEmail, nil
		}
		in.PaginationToken = page.PaginationToken
	}
}

// state is where one user item stands in the migration.
type state string

const (
	stDone        state = "done"         // bound to the sub of its user in the new pool
	stRebind      state = "rebind"       // its user is in the new pool: user rebind records their sub
	stPrebind     state = "prebind"      // a single sign-on user not in the new pool yet: user rebind binds the item by email
	stAwaitingSSO state = "awaiting_sso" // bound by email (single sign-on), waiting for the first sign-in
	stNotInPool   state = "not_in_pool"  // not in the new pool yet: migrates at their first sign-in
	stRefused     state = "refused"      // the user holding the email may not be the item's: never rewritten
	stFailed      state = "failed"       // does not decrypt or validate
)

// decision is what user rebind does with one item, and why.
type decision struct {
	id      string
	state   state
	why     string // for refused and failed
	bound   bool   // the item carries a binding (else Moped's)
	gen     uint64 // the generation of the blob the item holds (0: none)
	rec     claims.Record
	claims  claims.Claims  // what to seal (for an unbound item, with its attributes moved inside)
	binding claims.Binding // the binding to seal, for rebind and prebind
}

// decide classifies one item. The Hasura user id H is the binding's HasuraUserID, else its
// Identity, else (Moped's items) the cognito_uuid; it is kept as is. The item's user is whoever
// holds its email in the new pool, and gets the item only on proof that they are its owner:
// their sub is the identity the item records; or they are a native user with a verified email
// whom the UserMigration trigger created with custom:legacy_sub = H (Cognito, or an
// administrator, sets it; users cannot); or they are federated
// through the configured provider with an allowed email domain (what the trigger requires of
// them at every sign-in). A single sign-on user not in the new pool yet gets a binding without
// identity (HasuraUserID H): the provider and domain check is the proof at their first sign-in,
// which a Moped item's old sub would otherwise refuse (identity_mismatch) forever.
func decide(ring *claims.KeyRing, item map[string]ddbtypes.AttributeValue, users map[string][]poolUser, sso ssoConfig) decision {
	d := decision{}
	if v, ok := item[claims.AttrUserID].(*ddbtypes.AttributeValueMemberS); ok {
		d.id = v.Value
	}
	rec, err := claims.RecordFromItem(item)
	if err != nil {
		d.state, d.why = stFailed, err.Error()
		return d
	}
	d.rec = rec
	stored, b, err := claims.Decode(ring, rec)
	if err != nil {
		d.state, d.why = stFailed, err.Error()
		return d
	}
	var recorded, h string
	if b != nil {
		d.bound, d.claims, d.gen = true, stored, b.Gen
		recorded, h = b.Identity, b.HasuraUserID
		if h == "" {
			h = b.Identity
		}
	} else {
		d.claims, _ = claims.BindingFor(stored, rec)
		recorded, h = rec.CognitoUUID, rec.CognitoUUID
	}
	matches := users[rec.UserID]
	if b != nil && b.Identity != "" {
		for _, u := range matches {
			if u.sub == b.Identity {
				d.state = stDone
				return d
			}
		}
	}
	switch len(matches) {
	case 0:
		if sso.allows(rec.UserID) && (recorded == "" || recorded == h) {
			if b != nil && b.Identity == "" {
				d.state = stAwaitingSSO
				return d
			}
			d.state, d.binding = stPrebind, claims.Binding{UserID: rec.UserID, HasuraUserID: h}
			return d
		}
		d.state = stNotInPool
		return d
	case 1:
	default:
		d.state, d.why = stRefused, fmt.Sprintf("%d users of the new pool have this email; remove the wrong one, then rerun", len(matches))
		return d
	}
	u := matches[0]
	ok := false
	switch {
	case recorded != "" && u.sub == recorded:
		ok = true
	case u.federated:
		switch {
		case sso.provider == "":
			d.why = "a federated user, and this environment has no single sign-on in ./cdk.json (cognito.sso)"
		case len(u.providers) == 0 || !allEqual(u.providers, sso.provider):
			d.why = fmt.Sprintf("federated through %q, not the configured provider %q", strings.Join(u.providers, ","), sso.provider)
		case !sso.allows(rec.UserID):
			d.why = "federated with an email domain cognito.sso.allowedEmailDomains does not list"
		default:
			ok = true
		}
	case !u.verified:
		// The trigger refuses them (email_unverified) until they prove the address is theirs;
		// neither an item naming no identity nor a custom:legacy_sub (an administrator can set
		// one with AdminCreateUser) may hand them the item before that.
		d.why = fmt.Sprintf("the new pool's user %s has not verified this email (email_verified is not true), and the trigger refuses them (email_unverified): verify their email or remove them, then rerun", u.sub)
	case u.legacySub != "" && u.legacySub == h:
		ok = true
	case h == "" && recorded == "":
		ok = true // the item names no identity: the email, verified by Cognito, is the proof, as in the trigger
	case u.legacySub == "":
		d.why = fmt.Sprintf("the new pool's user %s was not migrated from the old pool (no %s) and is not the identity the item records: possible takeover of the email; check who holds it", u.sub, claims.LegacySubAttr)
	default:
		d.why = fmt.Sprintf("the new pool's user %s has %s %s, not the item's Hasura user id %s: possible takeover of the email; check who holds it", u.sub, claims.LegacySubAttr, u.legacySub, h)
	}
	if !ok {
		d.state = stRefused
		return d
	}
	d.state, d.binding = stRebind, claims.Binding{UserID: rec.UserID, Identity: u.sub, HasuraUserID: h}
	return d
}

func allEqual(list []string, want string) bool {
	for _, s := range list {
		if s != want {
			return false
		}
	}
	return true
}

// migrationTarget is what both migration commands work on.
type migrationTarget struct {
	st   *store
	idp  *cip.Client
	pool string
	sso  ssoConfig
}

func (x *env) migrationTarget(ctx context.Context, o *options) (*migrationTarget, error) {
	if o.workers < 1 || o.workers > 256 {
		return nil, usagef("--workers %d: want 1 to 256", o.workers)
	}
	pool, err := x.userPool(ctx)
	if err != nil {
		return nil, err
	}
	st, err := x.store(ctx, o.workers)
	if err != nil {
		return nil, err
	}
	sso, err := ssoFromCDKJSON("cdk.json", x.g.project, x.g.env)
	if err != nil {
		return nil, err
	}
	return &migrationTarget{st: st, idp: x.idp, pool: pool, sso: sso}, nil
}

// isUserItem says whether an item is a person's: claimsctl's own items are skipped by every
// scan already; machine clients' (client#<id>) have no Cognito user to migrate.
func isUserItem(id string) bool { return !strings.HasPrefix(id, claims.ClientPrefix) }

// rebindResult counts what one user rebind did.
type rebindResult struct {
	mu                                     sync.Mutex
	items, rebound, prebound, done, notYet int
	awaiting                               int
	refused, failed, changed               []string // "user_id: why" / user_ids
}

func (r *rebindResult) add(f func(r *rebindResult)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

// userRebind records the new pool's sub in every item (or the named ones) whose user has
// migrated, under the key-ring lock like every writer that encrypts, each write conditional on
// the claims value it read. Idempotent: items already bound are left alone, so a rerun after
// any failure does the rest.
func userRebind(ctx context.Context, m *migrationTarget, out *printer, emails []string) error {
	st := m.st
	ctx, l, err := st.lock(ctx, "user rebind")
	if err != nil {
		return err
	}
	defer l.release()
	// Listed under the lease, not before waiting for it: a pool read while another run held the
	// lease could be minutes old, and an item rebound to a sub deleted meanwhile.
	users, err := poolUsers(ctx, m.idp, m.pool)
	if err != nil {
		return err
	}
	if err := fault(faultReadRing); err != nil {
		return fmt.Errorf("read claims key secret %s: %w; nothing was changed", st.secretID, err)
	}
	ring, err := st.ring(ctx)
	if err != nil {
		return err
	}
	r := &rebindResult{}
	one := func(ctx context.Context, item map[string]ddbtypes.AttributeValue) error {
		if id, ok := item[claims.AttrUserID].(*ddbtypes.AttributeValueMemberS); ok && !isUserItem(id.Value) {
			return nil
		}
		d := decide(ring, item, users, m.sso)
		r.add(func(r *rebindResult) { r.items++ })
		switch d.state {
		case stDone:
			r.add(func(r *rebindResult) { r.done++ })
			return nil
		case stAwaitingSSO:
			r.add(func(r *rebindResult) { r.awaiting++ })
			return nil
		case stNotInPool:
			r.add(func(r *rebindResult) { r.notYet++ })
			return nil
		case stRefused:
			r.add(func(r *rebindResult) { r.refused = append(r.refused, d.id+": "+d.why) })
			return nil
		case stFailed:
			r.add(func(r *rebindResult) { r.failed = append(r.failed, d.id+": "+d.why) })
			return nil
		}
		// A rebind changes who may hold the claims, not what they grant: no floor, but a higher
		// generation, at least the user's floor (a lower one would be refused).
		d.binding.Gen = claims.NextGen(d.gen, ring.Floor(d.rec.UserID), time.Now().UnixMilli())
		tok, err := claims.SealFor(ring, d.claims, d.binding)
		if err != nil {
			r.add(func(r *rebindResult) { r.failed = append(r.failed, d.id+": "+err.Error()) })
			return nil
		}
		if err := fault(faultWrite); err != nil {
			return fmt.Errorf("rebind %s: %w", d.id, err)
		}
		swapped, err := st.swapClaims(ctx, d.rec.UserID, d.rec.Claims, tok)
		if err != nil {
			return fmt.Errorf("rebind %s in %s: %w", d.id, st.table, err)
		}
		if !swapped {
			// Changed or deleted since it was read: never overwrite that; the next run decides again.
			r.add(func(r *rebindResult) { r.changed = append(r.changed, d.id) })
			return nil
		}
		r.add(func(r *rebindResult) {
			if d.state == stPrebind {
				r.prebound++
			} else {
				r.rebound++
			}
		})
		return fault(faultWritten)
	}
	if len(emails) == 0 {
		err = st.each(ctx, "user rebind", one)
	} else {
		for _, e := range emails {
			if err = fault(faultReadItem); err != nil {
				err = fmt.Errorf("read the item of %s: %w", e, err)
				break
			}
			got, gerr := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.table), Key: key(e), ConsistentRead: aws.Bool(true)})
			if gerr != nil {
				err = fmt.Errorf("read the item of %s from %s: %w", e, st.table, gerr)
				break
			}
			if len(got.Item) == 0 {
				r.add(func(r *rebindResult) { r.failed = append(r.failed, e+": no claims item") })
				continue
			}
			if err = one(ctx, got.Item); err != nil {
				break
			}
		}
	}
	if err != nil {
		return fmt.Errorf("%w; %d items rebound and %d bound for single sign-on before it, each whole, every item valid as before: rerun claimsctl user rebind to do the rest", err, r.rebound, r.prebound)
	}
	sort.Strings(r.refused)
	sort.Strings(r.failed)
	sort.Strings(r.changed)
	out.result(map[string]any{
		"items": r.items, "rebound": r.rebound, "prebound_sso": r.prebound, "already_bound": r.done,
		"awaiting_sso_sign_in": r.awaiting, "not_in_new_pool": r.notYet,
		"refused": nonNil(r.refused), "failed": nonNil(r.failed), "changed_meanwhile": nonNil(r.changed),
	},
		"%d items: %d rebound to their new pool identity, %d bound for their first single sign-on, %d already bound, %d awaiting their first single sign-on, %d not in the new pool yet (they move at their first sign-in; rerun later); %d refused%s; %d failed%s; %d changed meanwhile%s\n(%s)",
		r.items, r.rebound, r.prebound, r.done, r.awaiting, r.notYet, len(r.refused), list(r.refused), len(r.failed), list(r.failed), len(r.changed), list(r.changed), m.sso.describe())
	if n := len(r.refused) + len(r.failed) + len(r.changed); n > 0 {
		return fmt.Errorf("%d items not rebound (%d refused, %d failed, %d changed meanwhile: rerun for those); none of them was rewritten", n, len(r.refused), len(r.failed), len(r.changed))
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// migrationStatus counts the user items by state; it writes nothing.
func migrationStatus(ctx context.Context, m *migrationTarget, out *printer) error {
	st := m.st
	users, err := poolUsers(ctx, m.idp, m.pool)
	if err != nil {
		return err
	}
	ring, err := st.ring(ctx)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	counts := map[state]int{}
	unbound, items := 0, 0
	var refused, failed []string
	err = st.each(ctx, "user migration-status", func(_ context.Context, item map[string]ddbtypes.AttributeValue) error {
		if id, ok := item[claims.AttrUserID].(*ddbtypes.AttributeValueMemberS); ok && !isUserItem(id.Value) {
			return nil
		}
		d := decide(ring, item, users, m.sso)
		mu.Lock()
		defer mu.Unlock()
		items++
		counts[d.state]++
		if d.state != stFailed && !d.bound {
			unbound++
		}
		switch d.state {
		case stRefused:
			refused = append(refused, d.id+": "+d.why)
		case stFailed:
			failed = append(failed, d.id+": "+d.why)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(refused)
	sort.Strings(failed)
	pending := counts[stRebind] + counts[stPrebind]
	retirable := pending == 0 && counts[stNotInPool] == 0 && len(refused) == 0 && len(failed) == 0
	verdict := "the old pool can be retired: every item is bound to the new pool's identity, or waits for a single sign-on that needs no old pool"
	if !retirable {
		verdict = "keep the old pool:"
		if pending > 0 {
			verdict += fmt.Sprintf(" run claimsctl user rebind --all for %d;", pending)
		}
		if n := counts[stNotInPool]; n > 0 {
			verdict += fmt.Sprintf(" %d have not signed in to the new pool yet (or delete the items of those who left);", n)
		}
		if len(refused)+len(failed) > 0 {
			verdict += fmt.Sprintf(" resolve %d refused and %d failed items (listed);", len(refused), len(failed))
		}
		verdict = strings.TrimSuffix(verdict, ";")
	}
	out.result(map[string]any{
		"items": items, "done": counts[stDone], "awaiting_sso_sign_in": counts[stAwaitingSSO],
		"rebind_pending": pending, "not_in_new_pool": counts[stNotInPool], "refused": nonNil(refused), "failed": nonNil(failed),
		"unbound": unbound, "old_pool_retirable": retirable,
	},
		"%d user items: %d bound to the new pool's identity, %d awaiting their first single sign-on, %d in the new pool but not rebound yet, %d not in the new pool yet, %d refused%s, %d failed%s; %d still unbound (Moped's)\n%s\n(%s)",
		items, counts[stDone], counts[stAwaitingSSO], pending, counts[stNotInPool], len(refused), list(refused), len(failed), list(failed), unbound, verdict, m.sso.describe())
	return nil
}
