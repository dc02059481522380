package e2e

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

// oldPoolUser creates a confirmed user in the old pool only (Moped's, say) and returns their sub.
func oldPoolUser(t *testing.T, email, password string) string {
	t.Helper()
	ctx := context.Background()
	idp, pool := env.Cognito(), env.Migration.OldPoolID
	_, err := idp.AdminCreateUser(ctx, &cip.AdminCreateUserInput{
		UserPoolId: aws.String(pool), Username: aws.String(email), MessageAction: ciptypes.MessageActionTypeSuppress,
		TemporaryPassword: aws.String("Temporary-Passw0rd!"),
		UserAttributes:    []ciptypes.AttributeType{{Name: aws.String("email_verified"), Value: aws.String("true")}},
	})
	require.NoError(t, err)
	_, err = idp.AdminSetUserPassword(ctx, &cip.AdminSetUserPasswordInput{
		UserPoolId: aws.String(pool), Username: aws.String(email), Password: aws.String(password), Permanent: true,
	})
	require.NoError(t, err)
	u, err := idp.AdminGetUser(ctx, &cip.AdminGetUserInput{UserPoolId: aws.String(pool), Username: aws.String(email)})
	require.NoError(t, err)
	return attr(u.UserAttributes, "sub")
}

func attr(list []ciptypes.AttributeType, name string) string {
	for _, a := range list {
		if aws.ToString(a.Name) == name {
			return aws.ToString(a.Value)
		}
	}
	return ""
}

// newPoolUser returns the new pool's record of email, or nil when it has none.
func newPoolUser(t *testing.T, email string) *cip.AdminGetUserOutput {
	t.Helper()
	u, err := env.Cognito().AdminGetUser(context.Background(), &cip.AdminGetUserInput{UserPoolId: aws.String(env.PoolID), Username: aws.String(email)})
	if err != nil {
		var nf *ciptypes.UserNotFoundException
		require.ErrorAs(t, err, &nf)
		return nil
	}
	return u
}

// mopedItem writes a claims item as Moped's hook reads it: the claims JSON Fernet-encrypted
// with Moped's own key and unbound, the old pool's sub as cognito_uuid, and the database id in
// its own attribute. It returns Moped's key.
func mopedItem(t *testing.T, email, oldSub string) string {
	t.Helper()
	key, err := claims.GenerateKey()
	require.NoError(t, err)
	ring, err := claims.NewKeyRing(key)
	require.NoError(t, err)
	tok, err := ring.Encrypt([]byte(`{"x-hasura-default-role":"editor","x-hasura-allowed-roles":["viewer","editor"]}`))
	require.NoError(t, err)
	_, err = dynamodb.NewFromConfig(env.Moto.Config()).PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName: aws.String(env.Table),
		Item:      claims.Record{UserID: email, Claims: tok, CognitoUUID: oldSub, DatabaseID: "42"}.Item(),
	})
	require.NoError(t, err)
	return key
}

func TestAUserOfTheOldPoolSignsInWithTheirOldPasswordAndKeepsTheirHasuraIdentity(t *testing.T) {
	const email, password = "moped.user@example.com", "Old-Moped-Passw0rd!"
	oldSub := oldPoolUser(t, email, password)
	require.Nil(t, newPoolUser(t, email), "the user exists only in the old pool")

	// Moped's claims item and key, brought over as docs/moving-from-moped.md says: key import,
	// then key rotate, which seals the item to its cognito_uuid (the old sub).
	mopedKey := mopedItem(t, email, oldSub)
	out, err := ctl(t, mopedKey+"\n", "key", "import", "--stdin")
	require.NoError(t, err, out)
	out, err = ctl(t, "", "key", "rotate")
	require.NoError(t, err, out)

	want := map[string]any{
		"x-hasura-user-id":       oldSub,
		"x-hasura-user-db-id":    "42",
		"x-hasura-default-role":  "editor",
		"x-hasura-allowed-roles": []any{"viewer", "editor"},
	}
	before, auths := env.Migration.OldPoolCalls(), env.Migration.OldPoolCallsOf("AdminInitiateAuth")
	first, err := signIn(email, password)
	require.NoError(t, err, "the first sign-in migrates the user (USER_PASSWORD_AUTH with the old password)")
	got, err := verifyAsHasura(t, synthesized, aws.ToString(first.IdToken))
	require.NoError(t, err)
	assert.Equal(t, want, got, "the Hasura user id is the old pool's sub, as Moped's tables hold it")
	assert.Equal(t, auths+1, env.Migration.OldPoolCallsOf("AdminInitiateAuth"), "the password was checked against the old pool once")
	assert.Equal(t, before+2, env.Migration.OldPoolCalls(), "AdminInitiateAuth and AdminGetUser, nothing else")

	u := newPoolUser(t, email)
	require.NotNil(t, u, "Cognito created the user in the new pool")
	assert.Equal(t, ciptypes.UserStatusTypeConfirmed, u.UserStatus)
	assert.Equal(t, oldSub, attr(u.UserAttributes, "custom:legacy_sub"))
	assert.Equal(t, "true", attr(u.UserAttributes, "email_verified"))
	assert.NotEqual(t, oldSub, attr(u.UserAttributes, "sub"), "the new pool's own sub")
	assert.NotEmpty(t, attr(u.UserAttributes, "sub"))

	calls := env.Migration.OldPoolCalls()
	second, err := signIn(email, password)
	require.NoError(t, err)
	got, err = verifyAsHasura(t, synthesized, aws.ToString(second.IdToken))
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Equal(t, calls, env.Migration.OldPoolCalls(), "a migrated user signs in to the new pool alone")

	refreshed, err := refresh(aws.ToString(second.RefreshToken))
	require.NoError(t, err)
	got, err = verifyAsHasura(t, synthesized, aws.ToString(refreshed.IdToken))
	require.NoError(t, err)
	assert.Equal(t, oldSub, got["x-hasura-user-id"], "refreshes keep the old identity")

	_, err = signIn(email, "Not-The-Passw0rd!")
	require.Error(t, err, "once migrated, the new pool checks the password itself")
	assert.Equal(t, calls, env.Migration.OldPoolCalls())
}

func TestAWrongOldPasswordMigratesNobody(t *testing.T) {
	const email = "moped.wrong@example.com"
	oldPoolUser(t, email, "Old-Moped-Passw0rd!")
	before := env.Migration.OldPoolCalls()
	_, err := signIn(email, "Guessed-Passw0rd!")
	require.Error(t, err)
	var na *ciptypes.NotAuthorizedException
	assert.ErrorAs(t, err, &na)
	assert.Greater(t, env.Migration.OldPoolCalls(), before, "the old pool was asked")
	assert.Nil(t, newPoolUser(t, email), "nobody was created in the new pool")

	// The right password still migrates them afterwards: the refusal changed nothing.
	_, err = signIn(email, "Old-Moped-Passw0rd!")
	require.Error(t, err, "no claims item for this user: the pre-token trigger refuses the token")
	assert.NotNil(t, newPoolUser(t, email), "but the user was migrated")
}

func TestAUserUnknownToBothPoolsIsRefused(t *testing.T) {
	email := fmt.Sprintf("stranger%d@example.com", userSeq.Add(1))
	before := env.Migration.OldPoolCalls()
	_, err := signIn(email, "Whatever-Passw0rd!")
	require.Error(t, err)
	var na *ciptypes.NotAuthorizedException
	assert.ErrorAs(t, err, &na)
	assert.Greater(t, env.Migration.OldPoolCalls(), before, "the old pool was asked")
	assert.Nil(t, newPoolUser(t, email))
}
