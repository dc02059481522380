package stacks_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/stacks/names"
)

func TestUserPoolIsOperatorManagedWithStrongPasswordsAndMFA(t *testing.T) {
	for env, want := range map[string]struct {
		mfa, deletion, policy string
	}{
		"staging":    {"OPTIONAL", "INACTIVE", "Delete"},
		"production": {"ON", "ACTIVE", "Retain"},
		"legacy":     {"OFF", "INACTIVE", "Delete"},
	} {
		t.Run(env, func(t *testing.T) {
			_, pool := tmpl(t, env, "identity").one(t, "AWS::Cognito::UserPool")
			p := pool.Properties
			assert.Equal(t, map[string]any{"AllowAdminCreateUserOnly": true}, p["AdminCreateUserConfig"], "self sign-up must be off")
			assert.Equal(t, []any{"email"}, p["UsernameAttributes"], "email is the sign-in name")
			assert.Equal(t, map[string]any{"CaseSensitive": false}, p["UsernameConfiguration"])
			assert.Equal(t, map[string]any{"PasswordPolicy": map[string]any{
				"MinimumLength": 12.0, "RequireLowercase": true, "RequireUppercase": true, "RequireNumbers": true,
				"RequireSymbols": true, "TemporaryPasswordValidityDays": 3.0, "PasswordHistorySize": 5.0,
			}}, p["Policies"])
			assert.Equal(t, want.mfa, p["MfaConfiguration"])
			if want.mfa != "OFF" {
				assert.Equal(t, []any{"SOFTWARE_TOKEN_MFA"}, p["EnabledMfas"], "TOTP only, no SMS")
			}
			assert.Equal(t, want.deletion, p["DeletionProtection"])
			assert.Equal(t, want.policy, pool.DeletionPolicy)
			assert.Equal(t, map[string]any{"AttributesRequireVerificationBeforeUpdate": []any{"email"}}, p["UserAttributeUpdateSettings"],
				"an email change must not take effect before it is verified: claims are keyed by email")
		})
	}
}

func TestPreTokenTriggerIsWiredWithTheConfiguredEventVersion(t *testing.T) {
	for env, version := range map[string]string{"staging": "V2_0", "production": "V2_0", "legacy": "V1_0"} {
		t.Run(env, func(t *testing.T) {
			tp := tmpl(t, env, "identity")
			_, pool := tp.one(t, "AWS::Cognito::UserPool")
			fnID, fn := tp.withPrefix(t, "AWS::Lambda::Function", "UsersPreTokenFunction")
			cfg := pool.Properties["LambdaConfig"].(map[string]any)
			assert.Equal(t, map[string]any{
				"PreTokenGenerationConfig": map[string]any{
					"LambdaArn":     map[string]any{"Fn::GetAtt": []any{fnID, "Arn"}},
					"LambdaVersion": version,
				},
			}, cfg, "the only trigger is pre-token generation, with the configured version")
			if env == "production" {
				assert.Equal(t, "PLUS", pool.Properties["UserPoolTier"], "threat protection needs the Plus plan")
				assert.Equal(t, map[string]any{"AdvancedSecurityMode": "ENFORCED"}, pool.Properties["UserPoolAddOns"])
			} else if version == "V2_0" {
				assert.Equal(t, "ESSENTIALS", pool.Properties["UserPoolTier"], "V2_0 events need the Essentials plan")
			}

			p := fn.Properties
			assert.Equal(t, "provided.al2023", p["Runtime"])
			assert.Equal(t, []any{"arm64"}, p["Architectures"])
			assert.Equal(t, "bootstrap", p["Handler"])
			assert.Less(t, p["Timeout"].(float64), 5.0, "Cognito gives a trigger 5 s")
			assert.Equal(t, 3.0, p["Timeout"])
			tableID, _ := tp.one(t, "AWS::DynamoDB::GlobalTable")
			secretID := tp.ofType("AWS::SecretsManager::Secret")[0]
			assert.Equal(t, map[string]any{"Variables": map[string]any{
				"CLAIMS_TABLE_NAME":    map[string]any{"Ref": tableID},
				"CLAIMS_KEY_SECRET_ID": map[string]any{"Ref": secretID},
				"CLAIMS_KEY_CACHE_TTL": "5m",
				"CLAIMS_ALLOW_UNBOUND": "false",
			}}, p["Environment"], "bindings required and no federated user accepted by default")
			assert.Contains(t, fn.DependsOn, tp.ofType("Custom::FernetKeyRing")[0], "no token before the key ring exists")

			// Cognito may invoke it, from this pool only.
			_, perm := tp.one(t, "AWS::Lambda::Permission")
			assert.Equal(t, "cognito-idp.amazonaws.com", perm.Properties["Principal"])
			assert.Equal(t, "lambda:InvokeFunction", perm.Properties["Action"])
			assert.Equal(t, map[string]any{"Fn::GetAtt": []any{tp.ofType("AWS::Cognito::UserPool")[0], "Arn"}}, perm.Properties["SourceArn"])
		})
	}
}

func TestPreTokenRoleMayReadExactlyTheClaimsTableAndKeySecret(t *testing.T) {
	for _, env := range []string{"staging", "production"} {
		t.Run(env, func(t *testing.T) {
			tp := tmpl(t, env, "identity")
			roleID, role := tp.withPrefix(t, "AWS::IAM::Role", "UsersPreTokenRole")
			assert.Nil(t, role.Properties["ManagedPolicyArns"], "no managed policies (AWSLambdaBasicExecutionRole allows every log group)")
			assert.Nil(t, role.Properties["Policies"])
			assertLambdaTrust(t, role)
			tableID := tp.ofType("AWS::DynamoDB::GlobalTable")[0]
			secretID := tp.ofType("AWS::SecretsManager::Secret")[0]
			logsID, _ := tp.withPrefix(t, "AWS::Logs::LogGroup", "UsersPreTokenLogs")
			assert.Equal(t, []Statement{
				{"Allow", []string{"dynamodb:GetItem"}, []string{getAtt(tableID, "Arn")}},
				{"Allow", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, []string{getAtt(logsID, "Arn")}},
				{"Allow", []string{"secretsmanager:GetSecretValue"}, []string{ref(secretID)}},
			}, tp.policyOf(t, roleID))
		})
	}
}

func TestSecretGeneratorRoleMayWriteExactlyTheKeyRingAndTheAPIKeyParameter(t *testing.T) {
	for env, param := range map[string]string{"staging": "hasura-auth/staging/event-api-key", "legacy": "legacy/event-key", "production": "hasura-auth/production/event-api-key"} {
		t.Run(env, func(t *testing.T) {
			tp := tmpl(t, env, "identity")
			roleID, role := tp.withPrefix(t, "AWS::IAM::Role", "SecretGeneratorRole")
			assert.Nil(t, role.Properties["ManagedPolicyArns"])
			assertLambdaTrust(t, role)
			secretID := tp.ofType("AWS::SecretsManager::Secret")[0]
			logsID, _ := tp.withPrefix(t, "AWS::Logs::LogGroup", "SecretGeneratorLogs")
			region := cfgs[env].Region
			arnOf := func(param string) string {
				if acct := cfgs[env].Account; acct != "" {
					return fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/%s", region, acct, param)
				}
				return compact(map[string]any{"Fn::Join": []any{"", []any{"arn:aws:ssm:" + region + ":", map[string]any{"Ref": "AWS::AccountId"}, ":parameter/" + param}}})
			}
			paramArn, previousArn := arnOf(param), arnOf(param+names.EventAPIKeyPreviousSuffix)
			want := []Statement{
				{"Allow", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, []string{getAtt(logsID, "Arn")}},
				{"Allow", []string{"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"}, []string{ref(secretID)}},
				{"Allow", []string{"ssm:AddTagsToResource", "ssm:DeleteParameter", "ssm:GetParameter", "ssm:ListTagsForResource", "ssm:PutParameter"}, []string{paramArn}},
			}
			if cfgs[env].Removal != "retain" {
				// The overlap value claimsctl apikey rotate keeps goes with a deleted parameter.
				want = append(want, Statement{"Allow", []string{"ssm:DeleteParameter"}, []string{previousArn}})
			}
			assert.Equal(t, want, tp.policyOf(t, roleID))
		})
	}
}

func assertLambdaTrust(t *testing.T, role Resource) {
	t.Helper()
	assert.Equal(t, map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Action": "sts:AssumeRole", "Effect": "Allow",
			"Principal": map[string]any{"Service": "lambda.amazonaws.com"},
		}},
	}, role.Properties["AssumeRolePolicyDocument"])
}

func TestClaimsTableMatchesTheMopedContractAndIsProtected(t *testing.T) {
	for env, prod := range map[string]bool{"staging": false, "production": true} {
		t.Run(env, func(t *testing.T) {
			_, table := tmpl(t, env, "identity").one(t, "AWS::DynamoDB::GlobalTable")
			p := table.Properties
			assert.Equal(t, []any{map[string]any{"AttributeName": "user_id", "KeyType": "HASH"}}, p["KeySchema"])
			assert.Equal(t, []any{map[string]any{"AttributeName": "user_id", "AttributeType": "S"}}, p["AttributeDefinitions"])
			assert.Equal(t, "PAY_PER_REQUEST", p["BillingMode"])
			assert.Equal(t, map[string]any{"SSEEnabled": true, "SSEType": "KMS"}, p["SSESpecification"])
			replicas := p["Replicas"].([]any)
			require.Len(t, replicas, 1)
			r := replicas[0].(map[string]any)
			assert.Equal(t, map[string]any{"PointInTimeRecoveryEnabled": true}, r["PointInTimeRecoverySpecification"])
			assert.Equal(t, prod, r["DeletionProtectionEnabled"])
			assert.Equal(t, map[bool]string{true: "Retain", false: "Delete"}[prod], table.DeletionPolicy)
		})
	}
}

func TestClaimsKeySecretIsGeneratedInsideAWS(t *testing.T) {
	for env, prod := range map[string]bool{"staging": false, "production": true} {
		t.Run(env, func(t *testing.T) {
			tp := tmpl(t, env, "identity")
			secretID, secret := tp.one(t, "AWS::SecretsManager::Secret")
			assert.NotContains(t, secret.Properties, "SecretString", "no secret value in the template")
			assert.Equal(t, "hasura-auth/"+env+"/claims-key", secret.Properties["Name"])
			assert.Equal(t, map[bool]string{true: "Retain", false: "Delete"}[prod], secret.DeletionPolicy)

			_, ring := tp.one(t, "Custom::FernetKeyRing")
			genID, _ := tp.withPrefix(t, "AWS::Lambda::Function", "SecretGeneratorFunction")
			assert.Equal(t, map[string]any{
				"ServiceToken": map[string]any{"Fn::GetAtt": []any{genID, "Arn"}},
				"SecretId":     map[string]any{"Ref": secretID},
			}, ring.Properties)
			policyID, _ := tp.withPrefix(t, "AWS::IAM::Policy", "SecretGeneratorRoleDefaultPolicy")
			assert.Contains(t, ring.DependsOn, policyID, "the function may only run once its policy exists")
		})
	}
}

func TestEventAPIKeyIsASecureStringMadeByTheGenerator(t *testing.T) {
	for env, want := range map[string]struct{ name, retain string }{
		"staging":    {"/hasura-auth/staging/event-api-key", "false"},
		"production": {"/hasura-auth/production/event-api-key", "true"},
		"legacy":     {"/legacy/event-key", "false"},
	} {
		t.Run(env, func(t *testing.T) {
			tp := tmpl(t, env, "identity")
			id, key := tp.one(t, "Custom::EventApiKey")
			assert.Equal(t, want.name, key.Properties["ParameterName"])
			assert.Equal(t, want.retain, key.Properties["RetainOnDelete"], "production keeps the key when the stack is deleted")
			assert.Empty(t, tp.ofType("AWS::SSM::Parameter"), "CloudFormation cannot create SecureStrings; no plain String parameter either")
			assert.Equal(t, map[string]any{"Ref": id}, tp.Outputs["EventApiKeyParameterName"].Value)
		})
	}
}

func TestSPAClientIsPublicSRPWithoutSelfServiceAdminScope(t *testing.T) {
	for _, env := range []string{"staging", "production", "sso"} {
		t.Run(env, func(t *testing.T) {
			_, client := tmpl(t, env, "identity").one(t, "AWS::Cognito::UserPoolClient")
			p := client.Properties
			assert.Equal(t, false, p["GenerateSecret"])
			assert.Equal(t, []any{"ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"}, p["ExplicitAuthFlows"])
			assert.Equal(t, "ENABLED", p["PreventUserExistenceErrors"])
			assert.Equal(t, true, p["EnableTokenRevocation"])
			assert.Equal(t, 60.0, p["AccessTokenValidity"])
			assert.Equal(t, 60.0, p["IdTokenValidity"])
			assert.Equal(t, 43200.0, p["RefreshTokenValidity"])
			assert.Equal(t, map[string]any{"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "minutes"}, p["TokenValidityUnits"])
			for _, s := range list(p["AllowedOAuthScopes"]) {
				assert.NotEqual(t, "aws.cognito.signin.user.admin", s)
			}
			// Cognito makes every standard attribute writable when WriteAttributes is empty or
			// missing: the list must be explicit, non-empty and minimal.
			if env == "sso" {
				assert.Equal(t, []any{"email", "name"}, p["WriteAttributes"], "only the attributes Entra maps")
			} else {
				assert.Equal(t, []any{"name"}, p["WriteAttributes"], "users may change their display name only, never their email")
				assert.Equal(t, false, p["AllowedOAuthFlowsUserPoolClient"], "no OAuth without callback URLs")
			}
		})
	}
}

// Every environment's SPA client, not only the ones above, names its writable attributes.
func TestEverySPAClientHasAnExplicitWritableAttributeList(t *testing.T) {
	for env := range envs {
		_, client := tmpl(t, env, "identity").one(t, "AWS::Cognito::UserPoolClient")
		write := list(client.Properties["WriteAttributes"])
		assert.NotEmpty(t, write, "%s: an empty list makes every attribute writable", env)
		for _, a := range write {
			assert.Contains(t, []any{"name", "email"}, a, "%s", env)
			if a == "email" {
				assert.NotNil(t, cfgs[env].Cognito.SSO, "%s: email is writable only for federated sign-in", env)
			}
		}
	}
}

func TestEntraIDSingleSignOn(t *testing.T) {
	tp := tmpl(t, "sso", "identity")
	idpID, idp := tp.one(t, "AWS::Cognito::UserPoolIdentityProvider")
	p := idp.Properties
	assert.Equal(t, "OIDC", p["ProviderType"])
	assert.Equal(t, "EntraID", p["ProviderName"])
	assert.Equal(t, map[string]any{"email": "email", "name": "name"}, p["AttributeMapping"])
	details := p["ProviderDetails"].(map[string]any)
	assert.Equal(t, "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0", details["oidc_issuer"], "issuer pinned to the tenant")
	assert.Equal(t, "66666666-7777-8888-9999-000000000000", details["client_id"])
	assert.Equal(t, "openid email profile", details["authorize_scopes"])
	assert.Equal(t, "GET", details["attributes_request_method"])
	assert.Equal(t,
		"{{resolve:secretsmanager:arn:aws:secretsmanager:eu-west-1:111111111111:secret:entra-client-AbCdEf:SecretString:client_secret::}}",
		details["client_secret"], "the client secret is a deploy-time reference, never a value")

	_, client := tp.one(t, "AWS::Cognito::UserPoolClient")
	assert.Contains(t, client.DependsOn, idpID, "the client names the provider, so it must be created after it")

	_, fn := tp.withPrefix(t, "AWS::Lambda::Function", "UsersPreToken")
	vars := fn.Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	assert.Equal(t, "EntraID", vars["SSO_PROVIDER_NAME"], "federated users only through the configured provider")
	assert.Equal(t, "contoso.com,fabrikam.com", vars["SSO_ALLOWED_EMAIL_DOMAINS"], "and only with the configured email domains")
	c := client.Properties
	assert.Equal(t, []any{"COGNITO", "EntraID"}, c["SupportedIdentityProviders"])
	assert.Equal(t, []any{"code"}, c["AllowedOAuthFlows"])
	assert.Equal(t, []any{"openid", "email", "profile"}, c["AllowedOAuthScopes"])
	assert.Equal(t, []any{"https://app.example.com/callback", "http://localhost:3000/callback"}, c["CallbackURLs"])

	_, domain := tp.one(t, "AWS::Cognito::UserPoolDomain")
	assert.Equal(t, "hasura-auth-sso-test", domain.Properties["Domain"])
}

func TestMachineAccessDeclaresTheScopesAndRunsTheTriggerWithV3(t *testing.T) {
	tp := tmpl(t, "sso", "identity")
	poolID, pool := tp.one(t, "AWS::Cognito::UserPool")
	fnID, fn := tp.withPrefix(t, "AWS::Lambda::Function", "UsersPreTokenFunction")
	vars := fn.Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	assert.Equal(t, "internal=service,readonly=service_readonly", vars["MACHINE_TIERS"], "the configured tiers and their roles, sorted")
	for _, env := range []string{"staging", "production", "legacy"} {
		_, other := tmpl(t, env, "identity").withPrefix(t, "AWS::Lambda::Function", "UsersPreTokenFunction")
		assert.NotContains(t, other.Properties["Environment"].(map[string]any)["Variables"], "MACHINE_TIERS", "without machineAccess the trigger refuses every machine token")
	}
	assert.Equal(t, map[string]any{"PreTokenGenerationConfig": map[string]any{
		"LambdaArn":     map[string]any{"Fn::GetAtt": []any{fnID, "Arn"}},
		"LambdaVersion": "V3_0",
	}}, pool.Properties["LambdaConfig"], "only V3_0 events reach the trigger for client-credentials tokens")
	assert.Equal(t, "ESSENTIALS", pool.Properties["UserPoolTier"], "V3_0 events need the Essentials plan")

	_, rs := tp.one(t, "AWS::Cognito::UserPoolResourceServer")
	assert.Equal(t, map[string]any{
		"UserPoolId": map[string]any{"Ref": poolID},
		"Identifier": "hasura",
		"Name":       "hasura-auth-sso-machines",
		"Scopes": []any{
			map[string]any{"ScopeName": "Query:Person", "ScopeDescription": "Query:Person"},
			map[string]any{"ScopeName": "Mutation:Person:Create", "ScopeDescription": "Mutation:Person:Create"},
			map[string]any{"ScopeName": "Mutation:Work:Create", "ScopeDescription": "Mutation:Work:Create"},
		},
	}, rs.Properties, "exactly the configured scopes, in order")

	domainID, domain := tp.one(t, "AWS::Cognito::UserPoolDomain")
	assert.Equal(t, "hasura-auth-sso-test", domain.Properties["Domain"], "the token endpoint's domain")

	// Machine clients are made at run time (claimsctl client add), never in the template: the
	// SPA client stays the only one.
	assert.Len(t, tp.ofType("AWS::Cognito::UserPoolClient"), 1)

	assert.Equal(t, "hasura", tp.Outputs["MachineResourceServer"].Value)
	assert.Equal(t, compact(map[string]any{"Fn::Join": []any{"", []any{"https://", map[string]any{"Ref": domainID}, ".auth.eu-west-1.amazoncognito.com/oauth2/token"}}}),
		compact(tp.Outputs["TokenEndpoint"].Value))
	assert.NotEmpty(t, tp.Outputs["TokenEndpoint"].Description)
	// What claimsctl client add reads: the tiers in the trigger's own form, the default validity
	// and where client secrets go (under the environment's secret prefix).
	assert.Equal(t, vars["MACHINE_TIERS"], tp.Outputs["MachineTiers"].Value)
	assert.Equal(t, "1h", tp.Outputs["MachineDefaultValidity"].Value)
	assert.Equal(t, "hasura-auth/sso/clients/", tp.Outputs["MachineClientSecretPrefix"].Value)

	// Without machineAccess: no resource server, no machine outputs.
	for _, env := range []string{"staging", "production", "legacy"} {
		other := tmpl(t, env, "identity")
		assert.Empty(t, other.ofType("AWS::Cognito::UserPoolResourceServer"), env)
		assert.NotContains(t, other.Outputs, "TokenEndpoint", env)
		assert.NotContains(t, other.Outputs, "MachineResourceServer", env)
		assert.NotContains(t, other.Outputs, "MachineTiers", env)
		assert.NotContains(t, other.Outputs, "MachineClientSecretPrefix", env)
	}
}

func TestIdentityOutputs(t *testing.T) {
	tp := tmpl(t, "staging", "identity")
	poolID := tp.ofType("AWS::Cognito::UserPool")[0]
	clientID := tp.ofType("AWS::Cognito::UserPoolClient")[0]
	tableID := tp.ofType("AWS::DynamoDB::GlobalTable")[0]
	secretID := tp.ofType("AWS::SecretsManager::Secret")[0]
	want := map[string]string{
		"UserPoolId":         ref(poolID),
		"UserPoolClientId":   ref(clientID),
		"ClaimsTableName":    ref(tableID),
		"ClaimsKeySecretArn": ref(secretID),
		"JwksUrl": compact(map[string]any{"Fn::Join": []any{"", []any{
			"https://cognito-idp.us-east-1.amazonaws.com/", map[string]any{"Ref": poolID}, "/.well-known/jwks.json"}}}),
	}
	for name, v := range want {
		out, ok := tp.Outputs[name]
		if assert.True(t, ok, "output %s", name) {
			assert.Equal(t, v, compact(out.Value), "output %s", name)
			assert.NotEmpty(t, out.Description, "output %s", name)
		}
	}
}

func TestStackNamesAndEnvironments(t *testing.T) {
	for name, e := range envs {
		assert.Equal(t, project+"-"+name+"-identity", *e.Identity.Stack.StackName())
		assert.Equal(t, project+"-"+name+"-hasura", *e.Hasura.Stack.StackName())
		assert.Equal(t, cfgs[name].Region, *e.Identity.Stack.Region())
		assert.Equal(t, cfgs[name].Production, *e.Identity.Stack.TerminationProtection(), "termination protection in production only")
		if cfgs[name].Account == "" {
			assert.True(t, strings.HasPrefix(*e.Identity.Stack.Account(), "${Token["), "account-agnostic without an account")
		} else {
			assert.Equal(t, cfgs[name].Account, *e.Identity.Stack.Account())
		}
	}
}
