package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

// The migration tests run in a directory whose ./cdk.json configures this environment's single
// sign-on as an operator's does: provider EntraID for contoso.com.
const ssoProvider = "EntraID"

func withSSO(t *testing.T, d *deployment) {
	t.Helper()
	dir := t.TempDir()
	cfg := map[string]any{"context": map[string]any{"project": d.project, "environments": map[string]any{
		d.env: map[string]any{"cognito": map[string]any{"sso": map[string]any{
			"providerName": ssoProvider, "tenantId": "11111111-2222-3333-4444-555555555555", "allowedEmailDomains": []string{"contoso.com"},
		}}},
	}}}
	b, _ := json.Marshal(cfg)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cdk.json"), b, 0o600))
	t.Chdir(dir)
}

// migrationPool declares custom:legacy_sub on the pool, as the identity stack does with
// cognito.migrateFrom.
func migrationPool(t *testing.T, d *deployment) {
	t.Helper()
	_, err := d.idp.AddCustomAttributes(context.Background(), &cip.AddCustomAttributesInput{UserPoolId: aws.String(d.pool), CustomAttributes: []ciptypes.SchemaAttributeType{
		{Name: aws.String("legacy_sub"), AttributeDataType: ciptypes.AttributeDataTypeString, Mutable: aws.Bool(false)},
	}})
	require.NoError(t, err)
}

// mopedItem writes an item as Moped's table holds it: bare claims encrypted with a key of the
// ring, cognito_uuid the user's sub in the old pool, database_id beside it.
func (d *deployment) mopedItem(t *testing.T, email, oldSub string) {
	t.Helper()
	tok, err := d.ring(t).Encrypt([]byte(`{"x-hasura-allowed-roles":["viewer","editor"],"x-hasura-default-role":"viewer"}`))
	require.NoError(t, err)
	_, err = d.db.PutItem(context.Background(), putInput(d.table, claims.Record{UserID: email, Claims: tok, CognitoUUID: oldSub, DatabaseID: "12"}.Item()))
	require.NoError(t, err)
}

// migrated creates the user as Cognito does when the UserMigration trigger answers: confirmed,
// email verified, custom:legacy_sub the old pool's sub. It returns their new sub.
func (d *deployment) migrated(t *testing.T, email, legacySub string) string {
	t.Helper()
	return d.adminCreated(t, email, legacySub, true)
}

// adminCreated creates a user by AdminCreateUser (no invitation sent) with the email verified or
// not, and custom:legacy_sub when given; it returns their sub.
func (d *deployment) adminCreated(t *testing.T, email, legacySub string, emailVerified bool) string {
	t.Helper()
	attrs := []ciptypes.AttributeType{{Name: aws.String("email"), Value: aws.String(email)}, {Name: aws.String("email_verified"), Value: aws.String(strconv.FormatBool(emailVerified))}}
	if legacySub != "" {
		attrs = append(attrs, ciptypes.AttributeType{Name: aws.String(claims.LegacySubAttr), Value: aws.String(legacySub)})
	}
	u, err := d.idp.AdminCreateUser(context.Background(), &cip.AdminCreateUserInput{UserPoolId: aws.String(d.pool), Username: aws.String(email),
		UserAttributes: attrs, MessageAction: ciptypes.MessageActionTypeSuppress})
	require.NoError(t, err)
	return attr(u.User.Attributes, "sub")
}

// federated creates the user Cognito creates at a first sign-in through provider. Stand-in:
// moto implements no federation, so the user is made with AdminCreateUser and the identities
// attribute Cognito sets on federated users (what claimsctl reads); moto's pool, which signs
// in by email, also needs the email as the username, where Cognito would use provider_<subject>.
func (d *deployment) federated(t *testing.T, email, provider string) string {
	t.Helper()
	ids := fmt.Sprintf(`[{"userId":"entra-%s","providerName":%q,"providerType":"OIDC","primary":true}]`, email, provider)
	u, err := d.idp.AdminCreateUser(context.Background(), &cip.AdminCreateUserInput{UserPoolId: aws.String(d.pool), Username: aws.String(email),
		UserAttributes: []ciptypes.AttributeType{{Name: aws.String("email"), Value: aws.String(email)}, {Name: aws.String("identities"), Value: aws.String(ids)}},
		MessageAction:  ciptypes.MessageActionTypeSuppress})
	require.NoError(t, err)
	return attr(u.User.Attributes, "sub")
}

// signIn returns what the pre-token trigger puts in a token for email's item when who signs
// in, through internal/claims as the Lambda does (unbound items accepted: claims.allowUnbound).
func (d *deployment) signIn(t *testing.T, email string, who claims.Identity) (string, error) {
	t.Helper()
	rec := d.item(t, email)
	stored, bind, err := claims.Decode(d.ring(t), rec)
	require.NoError(t, err)
	c, err := claims.ForToken(stored, bind, rec, who)
	if err != nil {
		return "", err
	}
	assert.Equal(t, "12", c[claims.UserDBID], "Moped's database_id stays in the token")
	return c[claims.UserID].(string), nil
}

func (d *deployment) status(t *testing.T) map[string]any {
	t.Helper()
	out, errOut, code := d.ctl(t, "", "user", "migration-status", "--json")
	require.Equal(t, exitOK, code, errOut)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	return res
}

func (d *deployment) rebind(t *testing.T, args ...string) (map[string]any, string, int) {
	t.Helper()
	out, errOut, code := d.ctl(t, "", append([]string{"user", "rebind", "--json"}, args...)...)
	var res map[string]any
	if out != "" {
		require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	}
	return res, errOut, code
}

func counts(res map[string]any, keys ...string) map[string]any {
	out := map[string]any{}
	for _, k := range keys {
		v := res[k]
		if l, ok := v.([]any); ok {
			v = float64(len(l))
		}
		out[k] = v
	}
	return out
}

var statusKeys = []string{"items", "done", "awaiting_sso_sign_in", "rebind_pending", "not_in_new_pool", "refused", "failed", "unbound", "old_pool_retirable"}

func TestUserRebindRecordsTheNewSubAndKeepsTheOldOneAsHasuraUserID(t *testing.T) {
	d := deploy(t)
	migrationPool(t, d)
	withSSO(t, d)
	ctx := context.Background()

	d.mopedItem(t, "mig@example.com", "old-mig")
	migSub := d.migrated(t, "mig@example.com", "old-mig")
	d.mopedItem(t, "wait@example.com", "old-wait")
	d.mopedItem(t, "sso@contoso.com", "old-sso")
	ssoSub := d.federated(t, "sso@contoso.com", ssoProvider)
	d.mopedItem(t, "ssonew@contoso.com", "old-ssonew")
	d.mopedItem(t, "evil@example.com", "old-evil")
	evilSub := d.migrated(t, "evil@example.com", "someone-else")
	d.mopedItem(t, "plain@example.com", "old-plain")
	d.migrated(t, "plain@example.com", "")
	_, errOut, code := d.ctl(t, "", "user", "add", "fresh@example.com", "--roles", "viewer", "--default-role", "viewer")
	require.Equal(t, exitOK, code, errOut)
	// A machine client's item is no user's: never read as one (its claims do not even decrypt).
	_, err := d.db.PutItem(ctx, putInput(d.table, claims.Record{UserID: claims.ClientPrefix + "abc", Claims: "not-fernet"}.Item()))
	require.NoError(t, err)

	// Before: a Moped item names the old sub, so a federated user's first sign-in is refused.
	_, err = d.signIn(t, "ssonew@contoso.com", claims.Identity{Sub: "first-federated-sub"})
	assert.ErrorIs(t, err, claims.ErrIdentityMismatch)
	// ... and a migrated user gets in through their legacy_sub, keeping the old id.
	id, err := d.signIn(t, "mig@example.com", claims.Identity{Sub: migSub, LegacySub: "old-mig"})
	require.NoError(t, err)
	assert.Equal(t, "old-mig", id)

	assert.Equal(t, map[string]any{"items": 7.0, "done": 1.0, "awaiting_sso_sign_in": 0.0, "rebind_pending": 3.0, "not_in_new_pool": 1.0,
		"refused": 2.0, "failed": 0.0, "unbound": 6.0, "old_pool_retirable": false}, counts(d.status(t), statusKeys...))
	// fresh@ is bound to its sub by user add, but moto's user has no custom:legacy_sub and that
	// is fine: done means bound to the identity of the user holding the email.
	evilBefore := d.item(t, "evil@example.com").Claims

	res, errOut, code := d.rebind(t, "--all")
	assert.Equal(t, exitFailed, code, "refused items make the run fail: %s", errOut)
	assert.Contains(t, errOut, "2 items not rebound (2 refused, 0 failed, 0 changed meanwhile")
	assert.Equal(t, map[string]any{"items": 7.0, "rebound": 2.0, "prebound_sso": 1.0, "already_bound": 1.0, "awaiting_sso_sign_in": 0.0,
		"not_in_new_pool": 1.0, "refused": 2.0, "failed": 0.0, "changed_meanwhile": 0.0}, counts(res, "items", "rebound", "prebound_sso", "already_bound",
		"awaiting_sso_sign_in", "not_in_new_pool", "refused", "failed", "changed_meanwhile"))
	assert.Equal(t, []any{
		"evil@example.com: the new pool's user " + evilSub + " has custom:legacy_sub someone-else, not the item's Hasura user id old-evil: possible takeover of the email; check who holds it",
		"plain@example.com: the new pool's user " + d.sub(t, "plain@example.com") + " was not migrated from the old pool (no custom:legacy_sub) and is not the identity the item records: possible takeover of the email; check who holds it",
	}, res["refused"])
	assert.Equal(t, evilBefore, d.item(t, "evil@example.com").Claims, "a refused item is not rewritten")

	// The migrated user: bound to the new sub, the old one stays their Hasura user id.
	assert.Equal(t, &claims.Binding{UserID: "mig@example.com", Identity: migSub, HasuraUserID: "old-mig"}, d.binding(t, "mig@example.com"))
	id, err = d.signIn(t, "mig@example.com", claims.Identity{Sub: migSub, LegacySub: "old-mig"})
	require.NoError(t, err)
	assert.Equal(t, "old-mig", id)
	for _, who := range []claims.Identity{{Sub: "other-sub"}, {Sub: "other-sub", LegacySub: "old-mig"}, {Sub: "old-mig"}} {
		_, err = d.signIn(t, "mig@example.com", who)
		assert.ErrorIs(t, err, claims.ErrIdentityMismatch, "only the new sub holds the item now: %+v", who)
	}
	// The federated user already in the pool: bound to their sub.
	assert.Equal(t, &claims.Binding{UserID: "sso@contoso.com", Identity: ssoSub, HasuraUserID: "old-sso"}, d.binding(t, "sso@contoso.com"))
	id, err = d.signIn(t, "sso@contoso.com", claims.Identity{Sub: ssoSub})
	require.NoError(t, err)
	assert.Equal(t, "old-sso", id)
	// The single sign-on user not in the pool yet: bound by email; their first sign-in (any
	// new sub; the trigger checks provider and domain) gets the old id.
	assert.Equal(t, &claims.Binding{UserID: "ssonew@contoso.com", HasuraUserID: "old-ssonew"}, d.binding(t, "ssonew@contoso.com"))
	id, err = d.signIn(t, "ssonew@contoso.com", claims.Identity{Sub: "first-federated-sub"})
	require.NoError(t, err)
	assert.Equal(t, "old-ssonew", id)
	// Not in the new pool yet: left as Moped wrote it.
	assert.Nil(t, d.binding(t, "wait@example.com"))

	assert.Equal(t, map[string]any{"items": 7.0, "done": 3.0, "awaiting_sso_sign_in": 1.0, "rebind_pending": 0.0, "not_in_new_pool": 1.0,
		"refused": 2.0, "failed": 0.0, "unbound": 3.0, "old_pool_retirable": false}, counts(d.status(t), statusKeys...))

	// wait@ migrates, ssonew@ signs in through the provider, the two suspicious items are dealt with.
	waitSub := d.migrated(t, "wait@example.com", "old-wait")
	ssonewSub := d.federated(t, "ssonew@contoso.com", ssoProvider)
	for _, e := range []string{"evil@example.com", "plain@example.com"} {
		_, errOut, code := d.ctl(t, "", "claims", "delete", e)
		require.Equal(t, exitOK, code, errOut)
	}
	res, errOut, code = d.rebind(t, "wait@example.com", "ssonew@contoso.com", "mig@example.com")
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, map[string]any{"items": 3.0, "rebound": 2.0, "already_bound": 1.0}, counts(res, "items", "rebound", "already_bound"))
	assert.Equal(t, &claims.Binding{UserID: "wait@example.com", Identity: waitSub, HasuraUserID: "old-wait"}, d.binding(t, "wait@example.com"))
	assert.Equal(t, &claims.Binding{UserID: "ssonew@contoso.com", Identity: ssonewSub, HasuraUserID: "old-ssonew"}, d.binding(t, "ssonew@contoso.com"))
	st := d.status(t)
	assert.Equal(t, map[string]any{"items": 5.0, "done": 5.0, "awaiting_sso_sign_in": 0.0, "rebind_pending": 0.0, "not_in_new_pool": 0.0,
		"refused": 0.0, "failed": 0.0, "unbound": 0.0, "old_pool_retirable": true}, counts(st, statusKeys...))

	// Idempotent: a rerun changes nothing.
	before := map[string]string{}
	for _, e := range []string{"mig@example.com", "wait@example.com", "sso@contoso.com", "ssonew@contoso.com", "fresh@example.com"} {
		before[e] = d.item(t, e).Claims
	}
	res, errOut, code = d.rebind(t, "--all")
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, map[string]any{"items": 5.0, "rebound": 0.0, "prebound_sso": 0.0, "already_bound": 5.0}, counts(res, "items", "rebound", "prebound_sso", "already_bound"))
	for e, c := range before {
		assert.Equal(t, c, d.item(t, e).Claims, "%s is not rewritten by a rerun", e)
	}

	out, _, code := d.ctl(t, "", "user", "migration-status")
	require.Equal(t, exitOK, code)
	assert.Contains(t, out, "5 user items: 5 bound to the new pool's identity")
	assert.Contains(t, out, "the old pool can be retired")
	assert.Contains(t, out, "single sign-on through EntraID for contoso.com")
}

func (d *deployment) sub(t *testing.T, email string) string {
	t.Helper()
	u, ok := d.user(t, email)
	require.True(t, ok)
	return attr(u.UserAttributes, "sub")
}

func TestUserRebindRefusesFederatedUsersItCannotVouchFor(t *testing.T) {
	d := deploy(t)
	migrationPool(t, d)
	// No ./cdk.json here: this environment has no single sign-on as far as claimsctl knows.
	d.mopedItem(t, "sso@contoso.com", "old-sso")
	d.federated(t, "sso@contoso.com", ssoProvider)
	d.mopedItem(t, "ssonew@contoso.com", "old-ssonew")
	res, errOut, code := d.rebind(t, "--all")
	assert.Equal(t, exitFailed, code, errOut)
	assert.Equal(t, []any{"sso@contoso.com: a federated user, and this environment has no single sign-on in ./cdk.json (cognito.sso)"}, res["refused"])
	assert.Equal(t, 1.0, res["not_in_new_pool"], "without single sign-on, nobody is bound by email")
	assert.Nil(t, d.binding(t, "sso@contoso.com"))
	assert.Nil(t, d.binding(t, "ssonew@contoso.com"))

	// Through another provider, or with a domain outside the allowed ones: refused too.
	e := deploy(t)
	migrationPool(t, e)
	withSSO(t, e)
	e.mopedItem(t, "other@contoso.com", "old-other")
	e.federated(t, "other@contoso.com", "Google")
	e.mopedItem(t, "out@example.com", "old-out")
	e.federated(t, "out@example.com", ssoProvider)
	e.mopedItem(t, "outnew@example.com", "old-outnew")
	res, errOut, code = e.rebind(t, "--all")
	assert.Equal(t, exitFailed, code, errOut)
	assert.Equal(t, []any{
		`other@contoso.com: federated through "Google", not the configured provider "EntraID"`,
		"out@example.com: federated with an email domain cognito.sso.allowedEmailDomains does not list",
	}, res["refused"])
	assert.Equal(t, 1.0, res["not_in_new_pool"], "an email outside the allowed domains is not bound for single sign-on")

	_, errOut, code = e.ctl(t, "", "user", "rebind")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "name the users (EMAIL ...) or pass --all")
	_, errOut, code = e.ctl(t, "", "user", "rebind", "a@example.com", "--all")
	assert.Equal(t, exitUsage, code)
	_, errOut, code = e.ctl(t, "", "user", "rebind", "nobody@example.com")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "1 items not rebound (0 refused, 1 failed")
}

// rebindFixture is a table mid-migration: a migrated user, a federated one, a single sign-on
// user not in the pool yet, and one who has not migrated.
func rebindFixture(t *testing.T) (*deployment, map[string]string) {
	t.Helper()
	d := deploy(t)
	migrationPool(t, d)
	withSSO(t, d)
	d.mopedItem(t, "mig@example.com", "old-mig")
	d.mopedItem(t, "sso@contoso.com", "old-sso")
	d.mopedItem(t, "ssonew@contoso.com", "old-ssonew")
	d.mopedItem(t, "wait@example.com", "old-wait")
	return d, map[string]string{"mig@example.com": d.migrated(t, "mig@example.com", "old-mig"), "sso@contoso.com": d.federated(t, "sso@contoso.com", ssoProvider)}
}

// wanted are the bindings a complete rebind of rebindFixture leaves.
func wanted(subs map[string]string) map[string]*claims.Binding {
	return map[string]*claims.Binding{
		"mig@example.com":    {UserID: "mig@example.com", Identity: subs["mig@example.com"], HasuraUserID: "old-mig"},
		"sso@contoso.com":    {UserID: "sso@contoso.com", Identity: subs["sso@contoso.com"], HasuraUserID: "old-sso"},
		"ssonew@contoso.com": {UserID: "ssonew@contoso.com", HasuraUserID: "old-ssonew"},
		"wait@example.com":   nil,
	}
}

// beforeOrAfter asserts that every item is either as Moped wrote it or as a complete rebind
// leaves it, never anything else, and that each owner signs in as that state allows: the
// migrated user either way (through their legacy_sub before), the federated ones once rebound.
func beforeOrAfter(t *testing.T, d *deployment, subs map[string]string) {
	t.Helper()
	for e, want := range wanted(subs) {
		got := d.binding(t, e)
		if got != nil {
			assert.Equal(t, want, got, e)
		}
		who := map[string]claims.Identity{
			"mig@example.com": {Sub: subs["mig@example.com"], LegacySub: "old-mig"}, "sso@contoso.com": {Sub: subs["sso@contoso.com"]},
			"ssonew@contoso.com": {Sub: "first-federated-sub"},
		}
		if w, ok := who[e]; ok && (got != nil || e == "mig@example.com") {
			id, err := d.signIn(t, e, w)
			if assert.NoError(t, err, e) {
				assert.Equal(t, "old-"+e[:strings.Index(e, "@")], id)
			}
		}
	}
}

func finalBindings(t *testing.T, d *deployment, subs map[string]string) {
	t.Helper()
	for e, want := range wanted(subs) {
		assert.Equal(t, want, d.binding(t, e), e)
	}
	beforeOrAfter(t, d, subs)
}

// TestUserRebindSurvivesAFailureAtEveryAWSCall fails each AWS call of a rebind in turn (the
// pool listing, the key secret read, each item's conditional write, and the answer of each
// write lost after it succeeded): every item stays usable by its owner, and a rerun finishes.
func TestUserRebindSurvivesAFailureAtEveryAWSCall(t *testing.T) {
	var points []string
	d, subs := rebindFixture(t)
	faultHook = func(p string) error { points = append(points, p); return nil }
	_, errOut, code := d.rebind(t, "--all", "--workers", "1")
	faultHook = nil
	require.Equal(t, exitOK, code, errOut)
	finalBindings(t, d, subs)
	require.Equal(t, []string{faultListUsers, faultReadRing, faultWrite, faultWritten, faultWrite, faultWritten, faultWrite, faultWritten}, points)

	for stop := range points {
		t.Run(fmt.Sprintf("%d %s", stop, points[stop]), func(t *testing.T) {
			d, subs := rebindFixture(t)
			n := 0
			faultHook = func(p string) error {
				defer func() { n++ }()
				if n == stop {
					return errors.New("injected: throttled at " + p)
				}
				return nil
			}
			_, errOut, code := d.rebind(t, "--all", "--workers", "1")
			faultHook = nil
			assert.Equal(t, exitFailed, code, "every item is whole either way, so it is not exit 3: %s", errOut)
			assert.Contains(t, errOut, "injected: throttled at "+points[stop])
			if points[stop] == faultWrite || points[stop] == faultWritten {
				assert.Contains(t, errOut, "every item valid as before: rerun claimsctl user rebind")
			} else {
				assert.Contains(t, errOut, "nothing was changed")
			}
			beforeOrAfter(t, d, subs)

			_, errOut, code = d.rebind(t, "--all", "--workers", "1")
			require.Equal(t, exitOK, code, errOut)
			finalBindings(t, d, subs)
		})
	}

	t.Run("named users", func(t *testing.T) {
		d, subs := rebindFixture(t)
		faultHook = func(p string) error {
			if p == faultReadItem {
				return errors.New("injected: throttled at " + p)
			}
			return nil
		}
		_, errOut, code := d.rebind(t, "mig@example.com")
		faultHook = nil
		assert.Equal(t, exitFailed, code)
		assert.Contains(t, errOut, "read the item of mig@example.com: injected")
		_, errOut, code = d.rebind(t, "mig@example.com", "sso@contoso.com", "ssonew@contoso.com", "wait@example.com")
		require.Equal(t, exitOK, code, errOut)
		finalBindings(t, d, subs)
	})
}

// TestUserRebindDoesNotOverwriteAnItemChangedMeanwhile: the write is conditional on the claims
// value read; an item changed in between is left for the next run.
func TestUserRebindDoesNotOverwriteAnItemChangedMeanwhile(t *testing.T) {
	d, subs := rebindFixture(t)
	faultHook = func(p string) error {
		if p == faultWrite {
			faultHook = nil
			// Someone rewrites mig@'s item (as Moped's tools might) between the read and the write.
			d.mopedItem(t, "mig@example.com", "old-mig")
		}
		return nil
	}
	res, errOut, code := d.rebind(t, "mig@example.com")
	faultHook = nil
	assert.Equal(t, exitFailed, code, errOut)
	assert.Equal(t, []any{"mig@example.com"}, res["changed_meanwhile"])
	assert.Nil(t, d.binding(t, "mig@example.com"), "the newer write stays")
	_, errOut, code = d.rebind(t, "mig@example.com")
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, &claims.Binding{UserID: "mig@example.com", Identity: subs["mig@example.com"], HasuraUserID: "old-mig"}, d.binding(t, "mig@example.com"))
}

func TestTwoUserRebindsAtOnceRebindEachItemOnce(t *testing.T) {
	d := deploy(t)
	migrationPool(t, d)
	subs := map[string]string{}
	for i := 0; i < 30; i++ {
		e := fmt.Sprintf("m%02d@example.com", i)
		d.mopedItem(t, e, "old-"+e)
		subs[e] = d.migrated(t, e, "old-"+e)
	}
	var wg sync.WaitGroup
	results := make([]map[string]any, 3)
	codes := make([]int, 3)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var errOut string
			results[i], errOut, codes[i] = d.rebind(t, "--all", "--workers", "4")
			assert.Equal(t, exitOK, codes[i], errOut)
		}()
	}
	wg.Wait()
	total := 0.0
	for _, r := range results {
		total += r["rebound"].(float64)
		assert.Equal(t, 30.0, r["rebound"].(float64)+r["already_bound"].(float64))
	}
	assert.Equal(t, 30.0, total, "the key-ring lock serializes the runs: each item is rebound once")
	for e, sub := range subs {
		assert.Equal(t, &claims.Binding{UserID: e, Identity: sub, HasuraUserID: "old-" + e}, d.binding(t, e))
	}
	assert.Equal(t, true, d.status(t)["old_pool_retirable"])
}

// TestMigrationStatusPagesThroughThePool: more users than one ListUsers page, and items over
// several scan pages.
func TestMigrationStatusPagesThroughThePool(t *testing.T) {
	d := deploy(t)
	migrationPool(t, d)
	var reqs []*dynamodb.PutItemInput
	ring := d.ring(t)
	for i := 0; i < 130; i++ {
		e := fmt.Sprintf("u%03d@example.com", i)
		tok, err := ring.Encrypt([]byte(`{"x-hasura-allowed-roles":["viewer"],"x-hasura-default-role":"viewer"}`))
		require.NoError(t, err)
		reqs = append(reqs, putInput(d.table, claims.Record{UserID: e, Claims: tok, CognitoUUID: "old-" + e}.Item()))
		if i%2 == 0 {
			d.migrated(t, e, "old-"+e)
		}
	}
	for _, r := range reqs {
		_, err := d.db.PutItem(context.Background(), r)
		require.NoError(t, err)
	}
	assert.Equal(t, map[string]any{"items": 130.0, "done": 0.0, "rebind_pending": 65.0, "not_in_new_pool": 65.0, "unbound": 130.0},
		counts(d.status(t), "items", "done", "rebind_pending", "not_in_new_pool", "unbound"))
	_, errOut, code := d.rebind(t, "--all")
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, map[string]any{"items": 130.0, "done": 65.0, "rebind_pending": 0.0, "not_in_new_pool": 65.0, "unbound": 65.0},
		counts(d.status(t), "items", "done", "rebind_pending", "not_in_new_pool", "unbound"))
}

// TestClaimsPutKeepsAMigratedUsersHasuraUserID: claims put on the item of a user the
// UserMigration trigger created (custom:legacy_sub = the item's old sub) is no reused email: it
// binds the item to their new sub and keeps the old one as their Hasura user id, as user
// rebind does, instead of handing the item to "the current user" with a new Hasura id.
func TestClaimsPutKeepsAMigratedUsersHasuraUserID(t *testing.T) {
	d := deploy(t)
	migrationPool(t, d)
	d.mopedItem(t, "mig@example.com", "old-mig")
	sub := d.migrated(t, "mig@example.com", "old-mig")
	out, errOut, code := d.ctl(t, "", "claims", "put", "mig@example.com", "--roles", "viewer,editor", "--default-role", "editor", "--set", "x-hasura-user-db-id=12")
	require.Equal(t, exitOK, code, errOut)
	assert.NotContains(t, out, "now bound to the current user")
	assert.Equal(t, &claims.Binding{UserID: "mig@example.com", Identity: sub, HasuraUserID: "old-mig"}, d.binding(t, "mig@example.com"))
	id, err := d.signIn(t, "mig@example.com", claims.Identity{Sub: sub, LegacySub: "old-mig"})
	require.NoError(t, err)
	assert.Equal(t, "old-mig", id)

	// A user whose legacy_sub is another: the email was reused, the item goes to them alone.
	d.mopedItem(t, "evil@example.com", "old-evil")
	evil := d.migrated(t, "evil@example.com", "someone-else")
	out, errOut, code = d.ctl(t, "", "claims", "put", "evil@example.com", "--roles", "viewer", "--default-role", "viewer")
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "now bound to the current user")
	assert.Equal(t, &claims.Binding{UserID: "evil@example.com", Identity: evil}, d.binding(t, "evil@example.com"))
}
