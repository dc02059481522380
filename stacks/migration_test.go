package stacks_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every pool, migrating or not, declares custom:legacy_sub: a custom attribute can never be
// removed from a pool, so it must not depend on config. Immutable, so only Cognito sets it (at
// migration), and no app client may write it.
func TestEveryPoolDeclaresAnImmutableLegacySubThatNoClientWrites(t *testing.T) {
	for env := range envs {
		t.Run(env, func(t *testing.T) {
			tp := tmpl(t, env, "identity")
			_, pool := tp.one(t, "AWS::Cognito::UserPool")
			var custom []any
			for _, a := range list(pool.Properties["Schema"]) {
				if a.(map[string]any)["Name"] != "email" {
					custom = append(custom, a)
				}
			}
			assert.Equal(t, []any{map[string]any{"Name": "legacy_sub", "AttributeDataType": "String", "Mutable": false}}, custom,
				"one custom attribute, a string nobody can change after creation")
			_, client := tp.one(t, "AWS::Cognito::UserPoolClient")
			assert.NotContains(t, list(client.Properties["WriteAttributes"]), "custom:legacy_sub", "no client may write it")
			assert.Equal(t, []any{"custom:legacy_sub", "email", "email_verified", "name"}, list(client.Properties["ReadAttributes"]))
		})
	}
}

func TestSPAClientAllowsPasswordsOnlyWhileUsersMigrate(t *testing.T) {
	for env := range envs {
		t.Run(env, func(t *testing.T) {
			_, client := tmpl(t, env, "identity").one(t, "AWS::Cognito::UserPoolClient")
			if cfgs[env].Cognito.MigrateFrom != nil {
				assert.Equal(t, []any{"ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"}, client.Properties["ExplicitAuthFlows"],
					"the UserMigration trigger needs the password, which SRP never sends")
			} else {
				assert.Equal(t, []any{"ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"}, client.Properties["ExplicitAuthFlows"],
					"no password leaves the browser without migrateFrom")
			}
		})
	}
}

func TestUserMigrationTriggerOnlyWhenMigrateFromIsSet(t *testing.T) {
	for env := range envs {
		t.Run(env, func(t *testing.T) {
			tp := tmpl(t, env, "identity")
			_, pool := tp.one(t, "AWS::Cognito::UserPool")
			cfg := pool.Properties["LambdaConfig"].(map[string]any)
			if cfgs[env].Cognito.MigrateFrom == nil {
				assert.NotContains(t, cfg, "UserMigration")
				assert.Empty(t, tp.WithPrefix("AWS::Lambda::Function", "UsersUserMigration"))
				return
			}
			fnID, fn := tp.withPrefix(t, "AWS::Lambda::Function", "UsersUserMigrationFunction")
			assert.Equal(t, map[string]any{"Fn::GetAtt": []any{fnID, "Arn"}}, cfg["UserMigration"])
			assert.Contains(t, cfg, "PreTokenGenerationConfig", "the pre-token trigger stays")

			p := fn.Properties
			assert.Equal(t, "provided.al2023", p["Runtime"])
			assert.Equal(t, []any{"arm64"}, p["Architectures"])
			assert.Equal(t, 3.0, p["Timeout"], "inside Cognito's 5 s")
			assert.Equal(t, 256.0, p["MemorySize"])
			assert.Equal(t, map[string]any{"Variables": map[string]any{
				"OLD_USER_POOL_ID": "us-west-2_MopedPool1", "OLD_USER_POOL_REGION": "us-west-2", "OLD_USER_POOL_CLIENT_ID": "4mopedmigration0client0id0",
			}}, p["Environment"])
			logsID, _ := tp.withPrefix(t, "AWS::Logs::LogGroup", "UsersUserMigrationLogs")
			assert.Equal(t, map[string]any{"LogGroup": map[string]any{"Ref": logsID}, "LogFormat": "JSON"}, p["LoggingConfig"])

			// Cognito may invoke it, from this pool only.
			var perms []Resource
			for _, id := range tp.ofType("AWS::Lambda::Permission") {
				if r := tp.Resources[id]; compact(r.Properties["FunctionName"]) == getAtt(fnID, "Arn") {
					perms = append(perms, r)
				}
			}
			require.Len(t, perms, 1)
			assert.Equal(t, "cognito-idp.amazonaws.com", perms[0].Properties["Principal"])
			assert.Equal(t, "lambda:InvokeFunction", perms[0].Properties["Action"])
			assert.Equal(t, map[string]any{"Fn::GetAtt": []any{tp.ofType("AWS::Cognito::UserPool")[0], "Arn"}}, perms[0].Properties["SourceArn"])
		})
	}
}

func TestUserMigrationRoleMayCallExactlyTheOldPoolsAdminAuthAndRead(t *testing.T) {
	tp := tmpl(t, "moped", "identity")
	roleID, role := tp.withPrefix(t, "AWS::IAM::Role", "UsersUserMigrationRole")
	assert.Nil(t, role.Properties["ManagedPolicyArns"])
	assert.Nil(t, role.Properties["Policies"])
	assertLambdaTrust(t, role)
	logsID, _ := tp.withPrefix(t, "AWS::Logs::LogGroup", "UsersUserMigrationLogs")
	// The environment's account (333333333333), the old pool's region and ID; the partition is
	// the region's (CDK knows it for a concrete region).
	oldPool := "arn:aws:cognito-idp:us-west-2:333333333333:userpool/us-west-2_MopedPool1"
	assert.Equal(t, []Statement{
		{"Allow", []string{"cognito-idp:AdminGetUser", "cognito-idp:AdminInitiateAuth"}, []string{oldPool}},
		{"Allow", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, []string{getAtt(logsID, "Arn")}},
	}, tp.policyOf(t, roleID))
}
