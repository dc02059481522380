package main

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
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
	attrs := []ciptypes.AttributeType{{Name: aws.String("email"), Value: aws.String(email)}, {Name: aws.String("email_verified"), Value: aws.String("false")}}
	if legacySub != "" {
		attrs = append(attrs, ciptypes.AttributeType{Name: aws.String(claims.LegacySubAttr), Value: aws.String(legacySub)})
	}
	u, err := d.idp.AdminCreateUser(context.Background(), &cip.AdminCreateUserInput{UserPoolId: aws.String(d.pool), Username: aws.String(email),
		UserAttributes: attrs, MessageAction: ciptypes.MessageActionTypeSuppress})
	require.NoError(t, err)
	return attr(u.User.Attributes, "sub")
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
