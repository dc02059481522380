package main

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
