package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

// Attacks from the review of the client and migration commands (hostile operator, flaky
// network, careless user), each a test that failed before its fix.

// taggedSecret makes a secret under the environment's client prefix with claimsctl's tags, as
// someone who may tag secrets there (or a restore from a copy) could.
func (d *deployment) taggedSecret(t *testing.T, name, nameTag, clientID string) {
	t.Helper()
	_, err := d.sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(d.project + "/" + d.env + "/clients/" + name), SecretString: aws.String("{}"),
		Tags: []smtypes.Tag{{Key: aws.String(managedTag), Value: aws.String(managedBy)}, {Key: aws.String(clientNameTag), Value: aws.String(nameTag)}, {Key: aws.String(clientIDTag), Value: aws.String(clientID)}},
	})
	require.NoError(t, err)
}

func TestClientRemoveDeletesNoAppClientATagPointsAtThatIsNotTheClients(t *testing.T) {
	d := deploy(t)
	ctx := context.Background()
	tr := &transcript{}
	spa, err := d.idp.CreateUserPoolClient(ctx, &cip.CreateUserPoolClientInput{UserPoolId: aws.String(d.pool), ClientName: aws.String("spa")})
	require.NoError(t, err)
	spaID := aws.ToString(spa.UserPoolClient.ClientId)
	gridID := addGrid(t, d, tr)["clientId"].(string)

	// A secret "evil" whose client-id tag names the SPA's app client: remove once deleted it.
	d.taggedSecret(t, "evil", "evil", spaID)
	_, errOut, code := d.ctl(t, "", "client", "remove", "evil")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, `names app client `+spaID+`, which is "spa", not machine-evil: claimsctl leaves both alone`)
	_, err = d.idp.DescribeUserPoolClient(ctx, &cip.DescribeUserPoolClientInput{UserPoolId: aws.String(d.pool), ClientId: aws.String(spaID)})
	assert.NoError(t, err, "the SPA's app client is untouched")
	assert.Nil(t, d.clientSecret(t, "evil").DeletedDate, "nothing was changed")

	// A copy of grid's tags under another name ("alias"): remove alias once deleted grid's
	// record and app client.
	d.taggedSecret(t, "alias", "grid", gridID)
	for _, args := range [][]string{{"client", "remove", "alias"}, {"client", "add", "alias", "--tier", "internal", "--scopes", "*"}} {
		_, errOut, code = d.ctl(t, "", args...)
		assert.Equal(t, exitFailed, code, "%q", args)
		assert.Contains(t, errOut, `/clients/alias is tagged as the secret of client "grid" (hasuraauth:client-name), not of alias: claimsctl leaves it alone; nothing was changed`, "%q", args)
	}
	require.NotNil(t, d.appClient(t, "grid"), "grid's app client is untouched")
	require.NotNil(t, d.client(t, gridID), "grid's record is untouched")
	assert.Nil(t, d.clientSecret(t, "alias").DeletedDate)

	// A tag naming an app client that is gone (an interrupted remove) is still cleaned up.
	d.taggedSecret(t, "gone", "gone", "0000000000000000000000000a")
	_, errOut, code = d.ctl(t, "", "client", "remove", "gone")
	assert.Equal(t, exitOK, code, errOut)
	assert.NotNil(t, d.clientSecret(t, "gone").DeletedDate)
}

// unverified creates a native user as an administrator can (AdminCreateUser) with the email
// not verified, and custom:legacy_sub when given; it returns their sub.
func (d *deployment) unverified(t *testing.T, email, legacySub string) string {
	t.Helper()
	return d.adminCreated(t, email, legacySub, false)
}

// The pre-token trigger refuses a native user whose email Cognito has not verified
// (email_unverified): such a user has not shown they own the address. user rebind used to bind
// an item to them anyway, when the item named no identity or when their custom:legacy_sub (which
// only an administrator, or the UserMigration trigger, can set) matched.
func TestUserRebindDoesNotBindAnItemToAUserWhoseEmailIsUnverified(t *testing.T) {
	d := deploy(t)
	migrationPool(t, d)
	withSSO(t, d)
	d.mopedItem(t, "noid@example.com", "")
	noidSub := d.unverified(t, "noid@example.com", "")
	d.mopedItem(t, "forged@example.com", "old-forged")
	forgedSub := d.unverified(t, "forged@example.com", "old-forged")
	before := map[string]string{"noid@example.com": d.item(t, "noid@example.com").Claims, "forged@example.com": d.item(t, "forged@example.com").Claims}

	st := d.status(t)
	assert.Equal(t, map[string]any{"items": 2.0, "done": 0.0, "awaiting_sso_sign_in": 0.0, "rebind_pending": 0.0, "not_in_new_pool": 0.0,
		"refused": 2.0, "failed": 0.0, "unbound": 2.0, "old_pool_retirable": false}, counts(st, statusKeys...))
	res, errOut, code := d.rebind(t, "--all")
	assert.Equal(t, exitFailed, code, errOut)
	assert.Equal(t, []any{
		"forged@example.com: the new pool's user " + forgedSub + " has not verified this email (email_verified is not true), and the trigger refuses them (email_unverified): verify their email or remove them, then rerun",
		"noid@example.com: the new pool's user " + noidSub + " has not verified this email (email_verified is not true), and the trigger refuses them (email_unverified): verify their email or remove them, then rerun",
	}, res["refused"])
	for e, c := range before {
		assert.Equal(t, c, d.item(t, e).Claims, "%s is not rewritten", e)
	}
}

// loseAnswers puts a proxy in front of moto's DynamoDB for the rest of the test: the first n
// requests of operation op reach moto, but their answer is replaced by a 500, as when a
// connection drops after DynamoDB applied the write. The SDK retries them, so a conditional
// write meets its own landed first attempt. (Not a fake of DynamoDB: every request is moto's.)
func loseAnswers(t *testing.T, op string, n int) *atomic.Int64 {
	t.Helper()
	return loseAnswersOf(t, "AWS_ENDPOINT_URL_DYNAMODB", moto.URL, op, n)
}

// loseAnswersOf is loseAnswers for any service: the proxy goes in front of upstream and the
// SDK finds it through the service's endpoint variable.
func loseAnswersOf(t *testing.T, endpointVar, upstream, op string, n int) *atomic.Int64 {
	t.Helper()
	target, err := url.Parse(upstream)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var lost atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), "."+op) && lost.Load() < int64(n) {
			rec := httptest.NewRecorder()
			proxy.ServeHTTP(rec, r)
			if rec.Code == http.StatusOK {
				lost.Add(1)
				w.Header().Set("Content-Type", "application/x-amz-json-1.0")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(`{"__type":"InternalServerError","message":"injected: the answer was lost"}`))
				return
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Setenv(endpointVar, srv.URL)
	return &lost
}

// A write whose answer is lost is retried by the SDK; the retry's condition then fails against
// the first attempt, which landed. Each command must recognise its own write instead of
// reporting a change by someone else (rebind: "changed meanwhile", exit 1; client commands:
// "changed while this run read it; nothing was changed" although it was changed), or waiting
// for its own lock until --lock-wait runs out.
func TestALostAnswerToAConditionalWriteIsRecognisedAsThisRunsWrite(t *testing.T) {
	d := deploy(t)
	migrationPool(t, d)
	d.mopedItem(t, "mig@example.com", "old-mig")
	sub := d.migrated(t, "mig@example.com", "old-mig")
	tr := &transcript{}
	id := addGrid(t, d, tr)["clientId"].(string)

	lost := loseAnswers(t, "UpdateItem", 1)
	res, errOut, code := d.rebind(t, "--all")
	require.Equal(t, int64(1), lost.Load())
	assert.Equal(t, exitOK, code, errOut)
	assert.Equal(t, map[string]any{"rebound": 1.0, "changed_meanwhile": 0.0}, counts(res, "rebound", "changed_meanwhile"))
	assert.Equal(t, &claims.Binding{UserID: "mig@example.com", Identity: sub, HasuraUserID: "old-mig"}, d.binding(t, "mig@example.com"))

	// PutItem: the first is the lock's, the second the record's.
	for i, args := range [][]string{{"client", "disable", "grid", "--lock-wait", "1s"}, {"client", "enable", "grid", "--lock-wait", "1s"}} {
		lost := loseAnswers(t, "PutItem", i+1)
		_, errOut, code := tr.ctl(t, d, args...)
		require.Equal(t, int64(i+1), lost.Load())
		assert.Equal(t, exitOK, code, "%q: %s", args, errOut)
		assert.Equal(t, i == 0, d.client(t, id).Disabled, "%q", args)
	}
	lost = loseAnswers(t, "PutItem", 2)
	_, errOut, code = tr.ctl(t, d, "client", "add", "feed", "--tier", "readonly", "--scopes", "Query:*", "--lock-wait", "1s")
	require.Equal(t, int64(2), lost.Load())
	require.Equal(t, exitOK, code, errOut)
	feed := d.appClient(t, "feed")
	require.NotNil(t, feed)
	assert.Equal(t, "feed", d.client(t, aws.ToString(feed.ClientId)).Name)
	tr.noSecrets(t, d, "feed")
}

// Two different commands at once on one client: the lease serializes them, so the end state is
// that of one order or the other, never a mix (a secret rotated onto a removed client, a
// record whose scopes or flag the other run's write lost).
func TestTwoDifferentClientCommandsAtOnce(t *testing.T) {
	d := deploy(t)
	tr := &transcript{}
	both := func(a, b []string) (ca, cb int, ea, eb string) {
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); _, ea, ca = d.ctl(t, "", a...) }()
		go func() { defer wg.Done(); _, eb, cb = d.ctl(t, "", b...) }()
		wg.Wait()
		return
	}

	// scopes + disable: both land.
	id := addGrid(t, d, tr)["clientId"].(string)
	ca, cb, ea, eb := both([]string{"client", "scopes", "grid", "--scopes", "Query:Person"}, []string{"client", "disable", "grid"})
	require.Equal(t, exitOK, ca, ea)
	require.Equal(t, exitOK, cb, eb)
	c := d.client(t, id)
	assert.True(t, c.Disabled)
	assert.Equal(t, []string{"Query:Person"}, c.Scopes)
	assert.Equal(t, []string{"hasura/Query:Person"}, d.appClient(t, "grid").AllowedOAuthScopes)

	// rotate-secret + remove: whichever runs second sees the other's result; nothing is left.
	ca, cb, ea, eb = both([]string{"client", "rotate-secret", "grid"}, []string{"client", "remove", "grid"})
	require.Equal(t, exitOK, cb, eb)
	if ca != exitOK {
		assert.Equal(t, exitFailed, ca)
		assert.Contains(t, ea, "no machine client grid")
	}
	assert.Nil(t, d.appClient(t, "grid"))
	assert.Nil(t, d.client(t, id))
	assert.NotNil(t, d.clientSecret(t, "grid").DeletedDate)

	// add + remove of a new name: either remove finds nothing (and add made it whole) or it
	// removes the whole client.
	ca, cb, ea, eb = both([]string{"client", "add", "feed", "--tier", "readonly", "--scopes", "Query:*"}, []string{"client", "remove", "feed"})
	require.Equal(t, exitOK, ca, ea)
	if app := d.appClient(t, "feed"); app != nil {
		assert.Equal(t, exitFailed, cb, eb)
		assert.Contains(t, eb, "nothing to remove")
		assert.NotNil(t, d.client(t, aws.ToString(app.ClientId)))
		assert.Nil(t, d.clientSecret(t, "feed").DeletedDate)
		assert.Equal(t, 1, d.itemCount(t), "feed's record only: no orphan, the lock released")
	} else {
		assert.Equal(t, exitOK, cb, eb)
		assert.NotNil(t, d.clientSecret(t, "feed").DeletedDate)
		assert.Equal(t, 0, d.itemCount(t), "no orphan record, the lock released")
	}
}

// remove then add of the same name. The removed client's secret, scheduled for deletion, names
// an app client that is gone, so restoring it could never give anyone a working secret; yet it
// held the name for 7 days ("choose another name, or wait"). add now deletes it for good and
// goes on, retrying the create while Secrets Manager finishes the deletion in the background.
func TestClientRemoveThenAddOfTheSameName(t *testing.T) {
	d := deploy(t)
	tr := &transcript{}
	oldID := addGrid(t, d, tr)["clientId"].(string)
	oldSecret := d.stored(t, "grid", "AWSCURRENT")
	_, errOut, code := tr.ctl(t, d, "client", "remove", "grid")
	require.Equal(t, exitOK, code, errOut)
	require.NotNil(t, d.clientSecret(t, "grid").DeletedDate)

	// A failure before the purge changes nothing; the removed secret stays scheduled.
	faultAt(t, "client-add:purge-secret")
	_, errOut, code = tr.ctl(t, d, "client", "add", "grid", "--tier", "internal", "--scopes", "*")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "delete the secret "+d.project+"/"+d.env+"/clients/grid of the removed client grid for good: injected: connection reset at client-add:purge-secret; nothing was changed")
	assert.Nil(t, d.appClient(t, "grid"))
	assert.NotNil(t, d.clientSecret(t, "grid").DeletedDate)
	assert.Equal(t, 0, d.itemCount(t))

	// Secrets Manager still finishing the deletion: the create is refused once, then retried.
	refusals := 0
	faultHook = func(p string) error {
		if p == "client-add:create-secret" && refusals == 0 {
			refusals++
			return &smtypes.InvalidRequestException{Message: aws.String("You can't create this secret because a secret with this name is already scheduled for deletion.")}
		}
		return nil
	}
	res := addGrid(t, d, tr)
	assert.Equal(t, 1, refusals)
	id := res["clientId"].(string)
	assert.NotEqual(t, oldID, id)
	sec := d.clientSecret(t, "grid")
	assert.Nil(t, sec.DeletedDate)
	assert.Equal(t, id, tag(sec.Tags, clientIDTag))
	cur := d.stored(t, "grid", "AWSCURRENT")
	assert.Equal(t, id, cur.ClientID)
	assert.True(t, d.works(t, cur))
	assert.False(t, d.works(t, oldSecret), "the removed client's secret works nowhere")
	assert.NotNil(t, d.client(t, id))
	tr.noSecrets(t, d, "grid")

	// A scheduled secret whose app client still exists is not purged.
	spa, err := d.idp.CreateUserPoolClient(context.Background(), &cip.CreateUserPoolClientInput{UserPoolId: aws.String(d.pool), ClientName: aws.String("spa")})
	require.NoError(t, err)
	d.taggedSecret(t, "feed", "feed", aws.ToString(spa.UserPoolClient.ClientId))
	_, err = d.sm.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(d.project + "/" + d.env + "/clients/feed"), RecoveryWindowInDays: aws.Int64(7)})
	require.NoError(t, err)
	_, errOut, code = tr.ctl(t, d, "client", "add", "feed", "--tier", "internal", "--scopes", "*")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "still exists: run claimsctl client remove feed; nothing was changed")
	assert.NotNil(t, d.clientSecret(t, "feed").DeletedDate)
}

// Two users of the new pool whose emails differ only in letter case (Cognito keeps the case a
// migrated user's email had in the old pool) both claim one item: neither gets it.
func TestUserRebindRefusesAnItemTwoUsersClaimByEmailCase(t *testing.T) {
	d := deploy(t)
	migrationPool(t, d)
	withSSO(t, d)
	d.mopedItem(t, "bob@example.com", "old-bob")
	d.migrated(t, "Bob@Example.com", "old-bob")
	d.migrated(t, "bob@example.com", "old-bob")
	before := d.item(t, "bob@example.com").Claims
	res, errOut, code := d.rebind(t, "--all")
	assert.Equal(t, exitFailed, code, errOut)
	assert.Equal(t, []any{"bob@example.com: 2 users of the new pool have this email; remove the wrong one, then rerun"}, res["refused"])
	assert.Equal(t, before, d.item(t, "bob@example.com").Claims)
	res, _, code = d.rebind(t, "BOB@example.COM")
	assert.Equal(t, exitFailed, code)
	assert.Equal(t, []any{"bob@example.com: 2 users of the new pool have this email; remove the wrong one, then rerun"}, res["refused"], "a named EMAIL is normalized")
}

// user rebind decides from the new pool's users as they are when it holds the key-ring lease:
// it used to list them before waiting for the lease (up to --lock-wait behind another run), so
// a user deleted and re-created meanwhile was rebound to their old, deleted sub.
func TestUserRebindListsThePoolWhileItHoldsTheLease(t *testing.T) {
	d := deploy(t)
	migrationPool(t, d)
	d.mopedItem(t, "mig@example.com", "old-mig")
	d.migrated(t, "mig@example.com", "old-mig")
	listed := 0
	faultHook = func(p string) error {
		if p != faultListUsers {
			return nil
		}
		listed++
		got, err := d.db.GetItem(context.Background(), getInput(d.table, lockID))
		require.NoError(t, err)
		assert.NotEmpty(t, got.Item, "the pool is listed under the lease")
		return nil
	}
	t.Cleanup(func() { faultHook = nil })
	_, errOut, code := d.rebind(t, "--all")
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, 1, listed)
}

// user rebind and migration-status take single sign-on from ./cdk.json. Run with --project from
// another project's directory, they used that project's cognito.sso for this deployment: items
// of its domains were bound by email, dropping the identity check their old sub gave.
func TestMigrationCommandsRefuseAnotherProjectsCDKJSON(t *testing.T) {
	d := deploy(t)
	migrationPool(t, d)
	dir := t.TempDir()
	cfg := map[string]any{"context": map[string]any{"project": "other", "environments": map[string]any{
		d.env: map[string]any{"cognito": map[string]any{"sso": map[string]any{"providerName": ssoProvider, "allowedEmailDomains": []string{"example.com"}}}},
	}}}
	b, _ := json.Marshal(cfg)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cdk.json"), b, 0o600))
	t.Chdir(dir)
	d.mopedItem(t, "ann@example.com", "old-ann")
	before := d.item(t, "ann@example.com").Claims
	for _, args := range [][]string{{"user", "rebind", "--all"}, {"user", "migration-status"}} {
		_, errOut, code := d.ctl(t, "", args...)
		assert.Equal(t, exitUsage, code, "%q: %s", args, errOut)
		assert.Contains(t, errOut, `./cdk.json is project "other", not `+d.project+` (--project): its cognito.sso is not this deployment's; run claimsctl from `+d.project+`'s directory; nothing was changed`, "%q", args)
	}
	assert.Equal(t, before, d.item(t, "ann@example.com").Claims)
}

// CreateUserPoolClient's answer lost: the SDK's retry made a second app client of the name, so
// add succeeded, yet every later command on the client failed ("2 app clients are named
// machine-grid ... remove the extra ones in the Cognito console"), and client list showed the
// extra one as an error row.
func TestClientAddLeavesNoSecondAppClientWhenTheCreatesAnswerIsLost(t *testing.T) {
	d := deploy(t)
	tr := &transcript{}
	lost := loseAnswersOf(t, "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", clientSecrets.URL, "CreateUserPoolClient", 1)
	id := addGrid(t, d, tr)["clientId"].(string)
	require.Equal(t, int64(1), lost.Load())
	app := d.appClient(t, "grid") // fails on more than one
	require.NotNil(t, app)
	assert.Equal(t, id, aws.ToString(app.ClientId))
	_, errOut, code := tr.ctl(t, d, "client", "scopes", "grid", "--scopes", "Query:Person")
	assert.Equal(t, exitOK, code, errOut)
	tr.noSecrets(t, d, "grid")
}

// Cognito's secret calls with their answer lost. rotate-secret: the retried add hits Cognito's
// limit of two and the command said "nothing was changed" while a secret nobody has stayed
// active. retire-secret: the retried delete finds the secret gone and the command said "it
// still works" (exit 1) about a secret that no longer did.
func TestClientSecretCallsWhoseAnswerIsLost(t *testing.T) {
	d := deploy(t)
	tr := &transcript{}
	id := addGrid(t, d, tr)["clientId"].(string)
	cur := d.stored(t, "grid", "AWSCURRENT")

	lost := loseAnswersOf(t, "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", clientSecrets.URL, "AddUserPoolClientSecret", 1)
	_, errOut, code := tr.ctl(t, d, "client", "rotate-secret", "grid")
	require.Equal(t, int64(1), lost.Load())
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "LimitExceededException")
	assert.Contains(t, errOut, "; nothing was changed")
	assert.Equal(t, []string{cur.ClientSecretID}, d.cognitoSecrets(t, id), "the landed secret nobody has is deleted")
	assert.Equal(t, cur, d.stored(t, "grid", "AWSCURRENT"))

	_, errOut, code = tr.ctl(t, d, "client", "rotate-secret", "grid")
	require.Equal(t, exitOK, code, errOut)
	next := d.stored(t, "grid", "AWSCURRENT")
	lost = loseAnswersOf(t, "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", clientSecrets.URL, "DeleteUserPoolClientSecret", 1)
	out, errOut, code := tr.ctl(t, d, "client", "retire-secret", "grid")
	require.Equal(t, int64(1), lost.Load())
	assert.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "retired 1 old secret(s) of client grid")
	assert.Equal(t, []string{next.ClientSecretID}, d.cognitoSecrets(t, id))
	assert.Nil(t, d.stored(t, "grid", "AWSPREVIOUS"))
	assert.False(t, d.works(t, cur))
	assert.True(t, d.works(t, next))
	tr.noSecrets(t, d, "grid")
}

// user add writes its claims with attribute_not_exists: when that put lands but its answer is
// lost, the SDK's retry fails against it. The run must recognise its own item, not report
// "ConditionalCheckFailedException ... the new Cognito user was removed again, nothing was
// changed" while leaving the item behind for a user it deleted (a flake of
// TestClaimsWrittenDuringARotationWaitForItAndStayReadable under load).
func TestUserAddRecognisesItsOwnClaimsWriteWhoseAnswerWasLost(t *testing.T) {
	d := deploy(t)
	lost := loseAnswers(t, "PutItem", 2) // the first is the lock's, the second the claims'
	_, errOut, code := d.ctl(t, "", "user", "add", "lost@example.com", "--roles", "viewer", "--default-role", "viewer", "--lock-wait", "1s")
	require.Equal(t, int64(2), lost.Load())
	require.Equal(t, exitOK, code, errOut)
	u, ok := d.user(t, "lost@example.com")
	require.True(t, ok, "the Cognito user is kept")
	assert.Equal(t, attr(u.UserAttributes, "sub"), d.item(t, "lost@example.com").CognitoUUID)
	c, err := d.tokenClaims(t, "lost@example.com")
	require.NoError(t, err)
	assert.Equal(t, []string{"viewer"}, c[claims.AllowedRoles])
}
