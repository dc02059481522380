package config

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/synth"
)

// committed returns the project and environments of the committed cdk.json.
func committed(t *testing.T) (any, map[string]any) {
	t.Helper()
	ctx, err := synth.Context("..")
	require.NoError(t, err)
	return ctx["project"], ctx["environments"].(map[string]any)
}

func TestCommittedConfigLoadsWithDefaults(t *testing.T) {
	project, envs := committed(t)
	root, err := Load(project, envs)
	require.NoError(t, err)
	assert.Equal(t, []string{"production", "staging"}, root.Names())

	prod, staging := root.Environments[0], root.Environments[1]
	assert.True(t, prod.Production)
	assert.False(t, staging.Production)
	assert.Equal(t, RemovalRetain, prod.Removal)
	assert.Equal(t, PreTokenV2, staging.Cognito.PreTokenVersion)
	assert.Equal(t, MFARequired, prod.Cognito.MFA)
	assert.Equal(t, 5*time.Minute, staging.Claims.KeyCacheTTL.Duration, "default from Defaults, not from cdk.json")
	assert.Equal(t, 720*time.Hour, staging.Cognito.RefreshTokenValidity.Duration)
	assert.Equal(t, "EVENT_API_KEY", staging.EventAPIKey.EnvVar)
	assert.Equal(t, "/hasura-auth/staging/event-api-key", staging.EventAPIKey.ParameterName)
	assert.Equal(t, "/hasura-auth/production/event-api-key", prod.EventAPIKey.ParameterName)
	assert.Equal(t, 365, prod.LogRetentionDays)
	assert.True(t, staging.VPC.Create)
}

func TestSelect(t *testing.T) {
	project, envs := committed(t)
	root, err := Load(project, envs)
	require.NoError(t, err)
	got, err := root.Select("staging")
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "staging", got[0].Name)
	all, err := root.Select("")
	require.NoError(t, err)
	assert.Len(t, all, 2)
	_, err = root.Select("qa")
	assert.EqualError(t, err, `config: environment "qa" is not in cdk.json (have: production, staging)`)
}

// withChange returns the committed environments with one environment's settings changed by
// applying a JSON merge of patch.
func withChange(t *testing.T, env, patch string) map[string]any {
	t.Helper()
	_, envs := committed(t)
	var p map[string]any
	require.NoError(t, json.Unmarshal([]byte(patch), &p), "patch %s", patch)
	base, _ := envs[env].(map[string]any)
	if base == nil {
		base = map[string]any{}
	}
	envs[env] = merge(base, p)
	return envs
}

func merge(dst, src map[string]any) map[string]any {
	for k, v := range src {
		if sub, ok := v.(map[string]any); ok {
			if d, ok := dst[k].(map[string]any); ok {
				dst[k] = merge(d, sub)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

func TestBadConfigFailsWithEnvironmentAndField(t *testing.T) {
	const cert = "arn:aws:acm:us-east-1:111111111111:certificate/00000000-0000-4000-8000-000000000000"
	cases := []struct {
		name, env, patch string
		want             []string // every string must appear in the error
	}{
		{"unknown top-level field", "staging", `{"regoin": "us-east-1"}`, []string{"environments.staging.regoin: unknown field"}},
		{"unknown nested field", "staging", `{"hasura": {"imageTag": "v2"}}`, []string{"environments.staging.hasura.imageTag: unknown field", "known: certificateArn, cpu"}},
		{"unknown field in sso", "staging", `{"cognito": {"sso": {"secret": "x"}}}`, []string{"environments.staging.cognito.sso.secret: unknown field"}},
		{"wrong type", "staging", `{"hasura": {"desiredCount": "two"}}`, []string{"environments.staging.hasura.desiredCount: must be a whole number, got string"}},
		{"wrong type bool", "production", `{"vpc": {"create": "yes"}}`, []string{"environments.production.vpc.create: must be true or false"}},
		{"environment not an object", "staging", `{}`, nil}, // placeholder replaced below
		{"bad region", "staging", `{"region": "us-east"}`, []string{`environments.staging.region = "us-east": must be an AWS region`}},
		{"bad account", "staging", `{"account": "12345"}`, []string{`environments.staging.account = "12345": must be a 12-digit AWS account ID`}},
		{"bad removal", "staging", `{"removal": "snapshot"}`, []string{`environments.staging.removal = "snapshot": must be "retain" or "destroy"`}},
		{"production destroy", "production", `{"removal": "destroy"}`, []string{`environments.production.removal = "destroy": must be "retain" in production`}},
		{"production without certificate", "production", `{"hasura": {"certificateArn": ""}}`, []string{`environments.production.hasura.certificateArn = "": must be an ACM certificate ARN in production`}},
		{"production console", "production", `{"hasura": {"enableConsole": true}}`, []string{`environments.production.hasura.enableConsole = true: must be false in production`}},
		{"production MFA off", "production", `{"cognito": {"mfa": "off"}}`, []string{`environments.production.cognito.mfa = "off"`}},
		{"production threat protection off", "production", `{"cognito": {"threatProtection": "off"}}`, []string{`environments.production.cognito.threatProtection = "off": must be "audit" or "enforced" in production`}},
		{"bad threat protection", "staging", `{"cognito": {"threatProtection": "full"}}`, []string{`environments.staging.cognito.threatProtection = "full": must be "off", "audit" or "enforced"`}},
		{"production short backups", "production", `{"database": {"backupRetentionDays": 3}}`, []string{"environments.production.database.backupRetentionDays = 3: must be at least 7 in production"}},
		{"production flag on another env", "staging", `{"production": true}`, []string{`environments.staging.removal = "destroy": must be "retain" in production`, "environments.staging.hasura.certificateArn"}},
		{"malformed certificate ARN", "staging", `{"hasura": {"certificateArn": "arn:aws:acm:us-east-1:1111:cert/x"}}`, []string{"environments.staging.hasura.certificateArn", "must be an ACM certificate ARN"}},
		{"unpinned image", "staging", `{"hasura": {"image": "hasura/graphql-engine:latest"}}`, []string{`environments.staging.hasura.image = "hasura/graphql-engine:latest": must be hasura/graphql-engine pinned to a version tag`}},
		{"other image", "staging", `{"hasura": {"image": "nginx:1.27.0"}}`, []string{"environments.staging.hasura.image"}},
		{"counts out of order", "staging", `{"hasura": {"minCount": 3, "desiredCount": 2, "maxCount": 4}}`, []string{"environments.staging.hasura.desiredCount", "1 <= minCount <= desiredCount <= maxCount"}},
		{"bad fargate size", "staging", `{"hasura": {"cpu": 512, "memoryMiB": 512}}`, []string{"environments.staging.hasura.memoryMiB = 512: must be a Fargate memory size for cpu 512"}},
		{"bad jwt token", "staging", `{"hasura": {"jwtToken": "both"}}`, []string{`environments.staging.hasura.jwtToken = "both"`}},
		{"access token with V1", "staging", `{"hasura": {"jwtToken": "access"}, "cognito": {"preTokenVersion": "V1_0"}}`, []string{`environments.staging.hasura.jwtToken = "access": must be "id" when cognito.preTokenVersion is V1_0`}},
		{"bad pre-token version", "staging", `{"cognito": {"preTokenVersion": "V4_0"}}`, []string{`environments.staging.cognito.preTokenVersion = "V4_0": must be "V1_0", "V2_0" or "V3_0"`}},
		{"bad mfa", "staging", `{"cognito": {"mfa": "sms"}}`, []string{`environments.staging.cognito.mfa = "sms"`}},
		{"bad callback URL", "staging", `{"cognito": {"callbackUrls": ["http://app.example.com/cb"]}}`, []string{`environments.staging.cognito.callbackUrls[0] = "http://app.example.com/cb": must be an https:// URL`}},
		{"relative callback URL", "staging", `{"cognito": {"callbackUrls": ["/cb"]}}`, []string{`environments.staging.cognito.callbackUrls[0] = "/cb": must be an absolute URL`}},
		{"token validity too long", "staging", `{"cognito": {"idTokenValidity": "48h"}}`, []string{`environments.staging.cognito.idTokenValidity = "48h": must be a Go duration from 5m0s to 24h0m0s in whole minutes`}},
		{"token validity not a duration", "staging", `{"cognito": {"accessTokenValidity": "1 hour"}}`, []string{`environments.staging.cognito.accessTokenValidity = "1 hour": must be a Go duration`}},
		{"token validity as a number", "staging", `{"cognito": {"accessTokenValidity": 60}}`, []string{`environments.staging.cognito.accessTokenValidity: must be a Go duration string such as "1h" or "90m", got number`}},
		{"refresh shorter than access", "staging", `{"cognito": {"refreshTokenValidity": "1h", "accessTokenValidity": "2h"}}`, []string{"environments.staging.cognito.refreshTokenValidity", "longer than the access and ID token validities"}},
		{"sso secret in plain", "staging", `{"cognito": {"domainPrefix": "x-auth", "callbackUrls": ["https://a.example.com/"], "sso": {"providerName": "EntraID", "tenantId": "11111111-2222-3333-4444-555555555555", "clientId": "66666666-7777-8888-9999-000000000000", "clientSecretArn": "s3cr3t-value"}}}`, []string{`environments.staging.cognito.sso.clientSecretArn = "s3cr3t-value": must be the complete ARN`}},
		{"sso bad tenant", "staging", `{"cognito": {"domainPrefix": "x-auth", "callbackUrls": ["https://a.example.com/"], "sso": {"providerName": "EntraID", "tenantId": "contoso", "clientId": "66666666-7777-8888-9999-000000000000", "clientSecretArn": "arn:aws:secretsmanager:us-east-1:111111111111:secret:entra-AbCdEf"}}}`, []string{`environments.staging.cognito.sso.tenantId = "contoso"`}},
		{"sso without domain", "staging", `{"cognito": {"callbackUrls": ["https://a.example.com/"], "sso": {"providerName": "EntraID", "tenantId": "11111111-2222-3333-4444-555555555555", "clientId": "66666666-7777-8888-9999-000000000000", "clientSecretArn": "arn:aws:secretsmanager:us-east-1:111111111111:secret:entra-AbCdEf"}}}`, []string{"environments.staging.cognito.domainPrefix", "set when cognito.sso is set"}},
		{"sso without allowed email domains", "staging", `{"cognito": {"domainPrefix": "x-auth", "callbackUrls": ["https://a.example.com/"], "sso": {"providerName": "EntraID", "tenantId": "11111111-2222-3333-4444-555555555555", "clientId": "66666666-7777-8888-9999-000000000000", "clientSecretArn": "arn:aws:secretsmanager:us-east-1:111111111111:secret:entra-AbCdEf"}}}`, []string{"environments.staging.cognito.sso.allowedEmailDomains", "at least one email domain"}},
		{"sso allowed domain not ASCII", "staging", `{"cognito": {"domainPrefix": "x-auth", "callbackUrls": ["https://a.example.com/"], "sso": {"providerName": "EntraID", "tenantId": "11111111-2222-3333-4444-555555555555", "clientId": "66666666-7777-8888-9999-000000000000", "clientSecretArn": "arn:aws:secretsmanager:us-east-1:111111111111:secret:entra-AbCdEf", "allowedEmailDomains": ["contoso.com", "cont\u043eso.com"]}}}`, []string{"environments.staging.cognito.sso.allowedEmailDomains[1]", "lower-case ASCII DNS domain"}},
		{"bad cache ttl", "staging", `{"claims": {"keyCacheTtl": "5 minutes"}}`, []string{`environments.staging.claims.keyCacheTtl = "5 minutes"`}},
		{"bad CIDR", "staging", `{"vpc": {"cidr": "10.0.0.0/33"}}`, []string{`environments.staging.vpc.cidr = "10.0.0.0/33": must be an IPv4 network in CIDR form`}},
		{"non-canonical CIDR", "staging", `{"vpc": {"cidr": "10.0.0.1/16"}}`, []string{`environments.staging.vpc.cidr = "10.0.0.1/16"`}},
		{"too many NAT gateways", "staging", `{"vpc": {"natGateways": 3}}`, []string{"environments.staging.vpc.natGateways = 3"}},
		{"import without IDs", "staging", `{"vpc": {"create": false}}`, []string{`environments.staging.vpc.vpcId = "": must be a VPC ID`, "environments.staging.vpc.availabilityZones"}},
		{"import bad subnet", "staging", `{"vpc": {"create": false, "vpcId": "vpc-0123456789abcdef0", "availabilityZones": ["us-east-1a", "us-east-1b"], "publicSubnetIds": ["subnet-1", "subnet-0aaaaaaaaaaaaaaa2"], "privateSubnetIds": ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"]}}`, []string{`environments.staging.vpc.publicSubnetIds[0] = "subnet-1": must be a subnet ID`}},
		{"import AZ of other region", "staging", `{"vpc": {"create": false, "vpcId": "vpc-0123456789abcdef0", "availabilityZones": ["eu-west-1a", "us-east-1b"], "publicSubnetIds": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"], "privateSubnetIds": ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"]}}`, []string{`environments.staging.vpc.availabilityZones[0] = "eu-west-1a": must be an availability zone of us-east-1`}},
		{"existing db without secret", "staging", `{"database": {"create": false}}`, []string{`environments.staging.database.connectionSecretArn = ""`}},
		{"bad postgres version", "staging", `{"database": {"postgresVersion": "9.6"}}`, []string{`environments.staging.database.postgresVersion = "9.6"`}},
		{"bad log retention", "staging", `{"logRetentionDays": 10}`, []string{"environments.staging.logRetentionDays = 10: must be one of CloudWatch's retention periods"}},
		{"bad env var", "staging", `{"eventApiKey": {"envVar": "HASURA_GRAPHQL_ADMIN_SECRET"}}`, []string{`environments.staging.eventApiKey.envVar = "HASURA_GRAPHQL_ADMIN_SECRET"`}},
		{"bad parameter name", "staging", `{"eventApiKey": {"parameterName": "no-slash"}}`, []string{`environments.staging.eventApiKey.parameterName = "no-slash": must be an SSM parameter path starting with /`}},
		{"bad environment name", "Prod_1", `{}`, []string{"environments.Prod_1: environment name must be"}},

		// Issue 11 item 7: values that were accepted, or failed later inside CDK without naming the field.
		{"production environment not production", "production", `{"production": false}`, []string{`environments.production.production = false: must be true for the environment named "production"`}},
		{"localhost callback in production", "production", `{"cognito": {"callbackUrls": ["http://localhost:3000/cb"]}}`, []string{`environments.production.cognito.callbackUrls[0] = "http://localhost:3000/cb": must be an https:// URL in production`}},
		{"localhost logout in production", "production", `{"cognito": {"callbackUrls": ["https://app.example.com/cb"], "logoutUrls": ["http://127.0.0.1/out"]}}`, []string{`environments.production.cognito.logoutUrls[0] = "http://127.0.0.1/out": must be an https:// URL in production`}},
		{"certificate of another region", "production", `{"hasura": {"certificateArn": "arn:aws:acm:eu-west-1:111111111111:certificate/00000000-0000-4000-8000-000000000000"}}`, []string{`environments.production.hasura.certificateArn = "arn:aws:acm:eu-west-1:111111111111:certificate/00000000-0000-4000-8000-000000000000": must be a certificate in the environment's region us-east-1`}},
		{"certificate of another account", "production", `{"account": "222222222222", "hasura": {"certificateArn": "` + cert + `"}}`, []string{`environments.production.hasura.certificateArn = "` + cert + `": must be a certificate of the environment's account 222222222222`}},
		{"China region", "staging", `{"region": "cn-north-1"}`, []string{`environments.staging.region = "cn-north-1": must be an AWS region of the aws or aws-us-gov partition`}},
		{"ISO region", "staging", `{"region": "us-iso-east-1"}`, []string{`environments.staging.region = "us-iso-east-1"`}},
		{"parameter under /aws", "staging", `{"eventApiKey": {"parameterName": "/aws/service/key"}}`, []string{`environments.staging.eventApiKey.parameterName = "/aws/service/key": must be a path whose first part does not start with aws or ssm`}},
		{"parameter under /ssm", "staging", `{"eventApiKey": {"parameterName": "/SSM-keys/key"}}`, []string{`environments.staging.eventApiKey.parameterName = "/SSM-keys/key"`}},
		{"parameter too deep", "staging", `{"eventApiKey": {"parameterName": "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p"}}`, []string{"environments.staging.eventApiKey.parameterName", "at most 15 levels"}},
		{"env var PATH", "staging", `{"eventApiKey": {"envVar": "PATH"}}`, []string{`environments.staging.eventApiKey.envVar = "PATH": must be a name the container does not otherwise use`}},
		{"env var LD_PRELOAD", "staging", `{"eventApiKey": {"envVar": "LD_PRELOAD"}}`, []string{`environments.staging.eventApiKey.envVar = "LD_PRELOAD": must be a name the container does not otherwise use`}},
		{"env var of the runtime", "staging", `{"eventApiKey": {"envVar": "GHCRTS"}}`, []string{`environments.staging.eventApiKey.envVar = "GHCRTS"`}},
		{"env var of AWS", "staging", `{"eventApiKey": {"envVar": "AWS_REGION"}}`, []string{`environments.staging.eventApiKey.envVar = "AWS_REGION"`}},
		{"invalid tag value", "staging", `{"tags": {"team": "a;b"}}`, []string{`environments.staging.tags.team = "a;b": must be a tag value`}},
		{"tag value too long", "staging", `{"tags": {"team": "` + strings.Repeat("x", 257) + `"}}`, []string{"environments.staging.tags.team", "must be a tag value of at most 256"}},
		{"tag overriding project", "staging", `{"tags": {"project": "other"}}`, []string{`environments.staging.tags.project = "project": must be another key: project and environment are set by the app`}},
		{"tag overriding environment", "staging", `{"tags": {"Environment": "prod"}}`, []string{`environments.staging.tags.Environment = "Environment": must be another key`}},
		{"storage above the RDS maximum", "staging", `{"database": {"allocatedStorageGiB": 20000}}`, []string{"environments.staging.database.allocatedStorageGiB = 20000: must be 20-16384 (storage may grow to 4x this, and RDS allows at most 65536 GiB)"}},
		{"client secret field with a colon", "staging", `{"cognito": {"domainPrefix": "x-auth", "callbackUrls": ["https://a.example.com/"], "sso": {"providerName": "EntraID", "tenantId": "11111111-2222-3333-4444-555555555555", "clientId": "66666666-7777-8888-9999-000000000000", "clientSecretArn": "arn:aws:secretsmanager:us-east-1:111111111111:secret:entra-AbCdEf", "clientSecretField": "a:b"}}}`, []string{`environments.staging.cognito.sso.clientSecretField = "a:b": must be empty, or a JSON field name`}},
		{"VPC too small for its subnets", "staging", `{"vpc": {"cidr": "10.0.0.0/24"}}`, []string{`environments.staging.vpc.cidr = "10.0.0.0/24": must be a /20 network or larger for 2 zones`}},
		{"VPC too small for six zones", "staging", `{"vpc": {"cidr": "10.0.0.0/19", "maxAzs": 6}}`, []string{`environments.staging.vpc.cidr = "10.0.0.0/19": must be a /18 network or larger for 6 zones`}},
		{"token validity not whole minutes", "staging", `{"cognito": {"accessTokenValidity": "5m30s"}}`, []string{`environments.staging.cognito.accessTokenValidity = "5m30s": must be a Go duration from 5m0s to 24h0m0s in whole minutes`}},
		{"refresh validity not whole minutes", "staging", `{"cognito": {"refreshTokenValidity": "2h30s"}}`, []string{`environments.staging.cognito.refreshTokenValidity = "2h30s"`}},

		// Issue 13: Hasura's extra settings, CPU architecture, the database URL in SSM.
		{"bad cpu architecture", "staging", `{"hasura": {"cpuArchitecture": "amd64"}}`, []string{`environments.staging.hasura.cpuArchitecture = "amd64": must be "x86_64" or "arm64"`}},
		{"extra env replaces the admin secret", "staging", `{"hasura": {"environment": {"HASURA_GRAPHQL_ADMIN_SECRET": "x"}}}`, []string{`environments.staging.hasura.environment.HASURA_GRAPHQL_ADMIN_SECRET = "HASURA_GRAPHQL_ADMIN_SECRET": must be a name the project does not set itself`}},
		{"extra env replaces the JWT config", "staging", `{"hasura": {"environment": {"HASURA_GRAPHQL_JWT_SECRET": "{}"}}}`, []string{`environments.staging.hasura.environment.HASURA_GRAPHQL_JWT_SECRET = "HASURA_GRAPHQL_JWT_SECRET": must be a name the project does not set itself`}},
		{"extra secret replaces the database URL", "staging", `{"hasura": {"secrets": {"HASURA_GRAPHQL_DATABASE_URL": "/db/url"}}}`, []string{`environments.staging.hasura.secrets.HASURA_GRAPHQL_DATABASE_URL = "HASURA_GRAPHQL_DATABASE_URL": must be a name the project does not set itself`}},
		{"extra secret replaces the event API key", "staging", `{"hasura": {"secrets": {"EVENT_API_KEY": "/other/key"}}}`, []string{`environments.staging.hasura.secrets.EVENT_API_KEY = "EVENT_API_KEY": must be a name the project does not set itself`, "the event API key's EVENT_API_KEY (eventApiKey.envVar)"}},
		{"extra secret replaces a renamed event API key", "staging", `{"eventApiKey": {"envVar": "MOPED_API_APIKEY"}, "hasura": {"secrets": {"MOPED_API_APIKEY": "/other/key"}}}`, []string{`environments.staging.hasura.secrets.MOPED_API_APIKEY = "MOPED_API_APIKEY": must be a name the project does not set itself`}},
		{"extra env of the platform", "staging", `{"hasura": {"environment": {"LD_PRELOAD": "/x.so"}}}`, []string{`environments.staging.hasura.environment.LD_PRELOAD = "LD_PRELOAD": must be a name the container does not otherwise use`}},
		{"extra env lower case", "staging", `{"hasura": {"environment": {"api_url": "https://x"}}}`, []string{`environments.staging.hasura.environment.api_url = "api_url": must be an upper-case environment variable name`}},
		{"plain value named secret", "staging", `{"hasura": {"environment": {"ACTIVITY_LOG_API_SECRET": "x"}}}`, []string{`environments.staging.hasura.environment.ACTIVITY_LOG_API_SECRET = "ACTIVITY_LOG_API_SECRET": must be in hasura.secrets, not hasura.environment: "SECRET" says it is secret`}},
		{"plain value named key", "staging", `{"hasura": {"environment": {"MOPED_API_APIKEY": "x"}}}`, []string{`environments.staging.hasura.environment.MOPED_API_APIKEY`, `"APIKEY" says it is secret`}},
		{"plain database URL", "staging", `{"hasura": {"environment": {"HASURA_GRAPHQL_METADATA_DATABASE_URL": "postgres://h/db"}}}`, []string{`environments.staging.hasura.environment.HASURA_GRAPHQL_METADATA_DATABASE_URL`, "a database URL carries its password"}},
		{"plain URL with a password", "staging", `{"hasura": {"environment": {"UPSTREAM": "https://u:hunter2@api.example.com"}}}`, []string{`environments.staging.hasura.environment.UPSTREAM = "(value not shown)": must be a value without credentials`}},
		{"variable both plain and secret", "staging", `{"hasura": {"environment": {"API_URL": "https://x"}, "secrets": {"API_URL": "/app/url"}}}`, []string{`environments.staging.hasura.environment.API_URL = "API_URL": must be set in hasura.environment or in hasura.secrets, not both`}},
		{"plain value as a number", "staging", `{"hasura": {"environment": {"RETRIES": 3}}}`, []string{"environments.staging.hasura.environment.RETRIES: must be a string, got number"}},
		{"secret as a number", "staging", `{"hasura": {"secrets": {"API_KEY": 1}}}`, []string{"environments.staging.hasura.secrets.API_KEY: must be a string: an SSM parameter name or a Secrets Manager ARN, got number"}},
		{"secret value instead of reference", "staging", `{"hasura": {"secrets": {"API_KEY": "s3cr3t value!"}}}`, []string{`environments.staging.hasura.secrets.API_KEY = "s3cr3t value!": must be an SSM parameter name`}},
		{"secret under /aws", "staging", `{"hasura": {"secrets": {"API_KEY": "/aws/reference/x"}}}`, []string{`environments.staging.hasura.secrets.API_KEY = "/aws/reference/x": must be a path whose first part does not start with aws or ssm`}},
		{"secret flat name under ssm", "staging", `{"hasura": {"secrets": {"API_KEY": "ssm-key"}}}`, []string{`environments.staging.hasura.secrets.API_KEY = "ssm-key": must be a name that does not start with aws or ssm`}},
		{"secret partial ARN", "staging", `{"hasura": {"secrets": {"API_KEY": "arn:aws:secretsmanager:us-east-1:111111111111:secret:api"}}}`, []string{`environments.staging.hasura.secrets.API_KEY = "arn:aws:secretsmanager:us-east-1:111111111111:secret:api": must be the complete ARN (with its 6-character suffix)`}},
		{"secret JSON key with a colon", "staging", `{"hasura": {"secrets": {"API_KEY": "arn:aws:secretsmanager:us-east-1:111111111111:secret:api-AbCdEf:a:b"}}}`, []string{`environments.staging.hasura.secrets.API_KEY`, "optionally followed by :<json key>"}},
		{"secret as SSM ARN", "staging", `{"hasura": {"secrets": {"API_KEY": "arn:aws:ssm:us-east-1:111111111111:parameter/api"}}}`, []string{`environments.staging.hasura.secrets.API_KEY`, "an SSM parameter goes by its name, not its ARN"}},
		{"database URL in both places", "staging", `{"database": {"create": false, "urlParameterName": "/db/url", "connectionSecretArn": "arn:aws:secretsmanager:us-east-1:111111111111:secret:db-AbCdEf"}}`, []string{`environments.staging.database.connectionSecretArn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:db-AbCdEf": must be empty when database.urlParameterName is set`}},
		{"database URL parameter with a created database", "staging", `{"database": {"urlParameterName": "/db/url"}}`, []string{`environments.staging.database.urlParameterName = "/db/url": must be empty when database.create is true`}},
		{"migrateFrom pool of another region", "staging", `{"cognito": {"migrateFrom": {"userPoolId": "us-west-2_AbCdEfGhI", "region": "us-east-1", "clientId": "1example23456789abcdefghij"}}}`, []string{`environments.staging.cognito.migrateFrom.userPoolId = "us-west-2_AbCdEfGhI": must be a pool of cognito.migrateFrom.region "us-east-1"`}},
		{"migrateFrom in another partition", "staging", `{"region": "us-gov-west-1", "cognito": {"migrateFrom": {"userPoolId": "us-east-1_AbCdEfGhI", "region": "us-east-1", "clientId": "1example23456789abcdefghij"}}}`, []string{`environments.staging.cognito.migrateFrom.region = "us-east-1": must be a region of the environment's partition aws-us-gov (region us-gov-west-1): the trigger's role cannot reach another partition`}},
		{"migrateFrom malformed pool ID", "staging", `{"cognito": {"migrateFrom": {"userPoolId": "AbCdEfGhI", "region": "us-east-1", "clientId": "1example23456789abcdefghij"}}}`, []string{`environments.staging.cognito.migrateFrom.userPoolId = "AbCdEfGhI": must be a user pool ID of the form <region>_<id>`}},
		{"migrateFrom pool ARN instead of ID", "staging", `{"cognito": {"migrateFrom": {"userPoolId": "arn:aws:cognito-idp:us-east-1:111111111111:userpool/us-east-1_AbCdEfGhI", "region": "us-east-1", "clientId": "1example23456789abcdefghij"}}}`, []string{`environments.staging.cognito.migrateFrom.userPoolId`, "must be a user pool ID of the form <region>_<id>"}},
		{"migrateFrom without region", "staging", `{"cognito": {"migrateFrom": {"userPoolId": "us-east-1_AbCdEfGhI", "clientId": "1example23456789abcdefghij"}}}`, []string{`environments.staging.cognito.migrateFrom.region = "": must be the AWS region of the pool users migrate from`}},
		{"migrateFrom bad client ID", "staging", `{"cognito": {"migrateFrom": {"userPoolId": "us-east-1_AbCdEfGhI", "region": "us-east-1", "clientId": "moped client"}}}`, []string{`environments.staging.cognito.migrateFrom.clientId = "moped client": must be an app client ID of that pool`}},
		{"migrateFrom without client", "production", `{"cognito": {"migrateFrom": {"userPoolId": "us-east-1_AbCdEfGhI", "region": "us-east-1"}}}`, []string{`environments.production.cognito.migrateFrom.clientId = "": must be an app client ID`}},
		{"migrateFrom unknown field", "staging", `{"cognito": {"migrateFrom": {"poolId": "us-east-1_AbCdEfGhI"}}}`, []string{"environments.staging.cognito.migrateFrom.poolId: unknown field (known: clientId, region, userPoolId)"}},
		{"database URL parameter malformed", "staging", `{"database": {"create": false, "urlParameterName": "db url"}}`, []string{`environments.staging.database.urlParameterName = "db url": must be an SSM parameter name`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			project, _ := committed(t)
			envs := withChange(t, c.env, c.patch)
			if c.name == "environment not an object" {
				envs["staging"] = "us-east-1"
				c.want = []string{"environments.staging: must be an object, got a string"}
			}
			root, err := Load(project, envs)
			require.Error(t, err, "config should be refused")
			assert.Nil(t, root)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.True(t, strings.HasPrefix(err.Error(), "config: "), "error %q", err)
		})
	}
}

func TestHasuraExtraSettingsParse(t *testing.T) {
	project, _ := committed(t)
	envs := withChange(t, "staging", `{"hasura": {"cpuArchitecture": "arm64",
		"environment": {"HASURA_ENDPOINT": "https://graphql.example.com/v1/graphql", "HASURA_GRAPHQL_UNAUTHORIZED_ROLE": "anonymous"},
		"secrets": {"ACTIONS_URL": "MOPED_ACTIONS_URL", "HOOK_KEY": "/app/hook-key",
			"WHOLE": "arn:aws:secretsmanager:us-east-1:111111111111:secret:app-AbCdEf",
			"FIELD": "arn:aws:secretsmanager:us-east-1:111111111111:secret:app-AbCdEf:api.key"}},
		"database": {"create": false, "urlParameterName": "MOPED_DATABASE_URL"}}`)
	root, err := Load(project, envs)
	require.NoError(t, err)
	h := root.Environments[1].Hasura
	assert.Equal(t, CPUARM64, h.CPUArchitecture)
	assert.Equal(t, "anonymous", h.Environment["HASURA_GRAPHQL_UNAUTHORIZED_ROLE"])
	assert.Equal(t, SecretRef{Parameter: "MOPED_ACTIONS_URL", text: "MOPED_ACTIONS_URL"}, h.Secrets["ACTIONS_URL"])
	assert.Equal(t, SecretRef{Parameter: "/app/hook-key", text: "/app/hook-key"}, h.Secrets["HOOK_KEY"])
	assert.Equal(t, "arn:aws:secretsmanager:us-east-1:111111111111:secret:app-AbCdEf", h.Secrets["WHOLE"].SecretArn)
	assert.Empty(t, h.Secrets["WHOLE"].Field)
	assert.Equal(t, "arn:aws:secretsmanager:us-east-1:111111111111:secret:app-AbCdEf", h.Secrets["FIELD"].SecretArn)
	assert.Equal(t, "api.key", h.Secrets["FIELD"].Field)
	assert.Equal(t, "MOPED_DATABASE_URL", root.Environments[1].Database.URLParameterName)
	// The defaults: x86_64 (what Moped runs) and the newest confirmed image.
	assert.Equal(t, CPUX86_64, root.Environments[0].Hasura.CPUArchitecture)
	assert.Equal(t, "hasura/graphql-engine:v2.50.0", Defaults("p", "qa").Hasura.Image)
}

func TestMigrateFromIsOffByDefaultAndParses(t *testing.T) {
	project, envs := committed(t)
	root, err := Load(project, envs)
	require.NoError(t, err)
	for _, e := range root.Environments {
		assert.Nil(t, e.Cognito.MigrateFrom, e.Name)
	}
	// The old pool may be in another region than the environment.
	root, err = Load(project, withChange(t, "staging", `{"cognito": {"migrateFrom": {"userPoolId": "us-west-2_AbCdEfGhI", "region": "us-west-2", "clientId": "1example23456789abcdefghij"}}}`))
	require.NoError(t, err)
	assert.Equal(t, &MigrateFrom{UserPoolID: "us-west-2_AbCdEfGhI", Region: "us-west-2", ClientID: "1example23456789abcdefghij"}, root.Environments[1].Cognito.MigrateFrom)
	root, err = Load(project, withChange(t, "staging", `{"cognito": {"migrateFrom": null}}`))
	require.NoError(t, err)
	assert.Nil(t, root.Environments[1].Cognito.MigrateFrom, "null turns migration off")
}

// machineOn is the smallest machineAccess setup that loads; the cases below change one thing.
const machineOn = `"cognito": {"preTokenVersion": "V3_0", "domainPrefix": "acme-auth"}, "hasura": {"jwtToken": "access"}`

func TestMachineAccessIsOffByDefaultAndTakesItsDefaultsWhenOn(t *testing.T) {
	project, envs := committed(t)
	root, err := Load(project, envs)
	require.NoError(t, err)
	for _, e := range root.Environments {
		assert.Nil(t, e.MachineAccess, e.Name)
	}

	root, err = Load(project, withChange(t, "staging", `{`+machineOn+`, "machineAccess": {"scopes": ["Query:Person", "Mutation:Person:Create"]}}`))
	require.NoError(t, err)
	m := root.Environments[1].MachineAccess
	require.NotNil(t, m)
	assert.Equal(t, []string{"Query:Person", "Mutation:Person:Create"}, m.Scopes)
	assert.Equal(t, map[string]string{"internal": "internal", "readonly": "readonly", "syndication": "syndication"}, m.Tiers)
	assert.Equal(t, time.Hour, m.DefaultValidity.Duration)

	// Tiers given replace the defaults rather than adding to them.
	root, err = Load(project, withChange(t, "staging", `{`+machineOn+`, "machineAccess": {"scopes": ["*:*"], "tiers": {"partner": "partner_service"}, "defaultValidity": "24h"}}`))
	require.Error(t, err, "a declared scope may not contain the glob character")
	root, err = Load(project, withChange(t, "staging", `{`+machineOn+`, "machineAccess": {"scopes": ["Query:Work"], "tiers": {"partner": "partner_service"}, "defaultValidity": "24h"}}`))
	require.NoError(t, err)
	m = root.Environments[1].MachineAccess
	assert.Equal(t, map[string]string{"partner": "partner_service"}, m.Tiers)
	assert.Equal(t, 24*time.Hour, m.DefaultValidity.Duration)

	// Exactly Cognito's limit is accepted.
	hundred := make([]string, MaxMachineScopes)
	for i := range hundred {
		hundred[i] = fmt.Sprintf("%q", fmt.Sprintf("Query:Type%d", i))
	}
	_, err = Load(project, withChange(t, "staging", `{`+machineOn+`, "machineAccess": {"scopes": [`+strings.Join(hundred, ",")+`]}}`))
	assert.NoError(t, err)
}

func TestMachineAccessRefusesWhatCannotWork(t *testing.T) {
	hundredOne := make([]string, MaxMachineScopes+1)
	for i := range hundredOne {
		hundredOne[i] = fmt.Sprintf("%q", fmt.Sprintf("Query:Type%d", i))
	}
	cases := []struct {
		name, patch string
		want        string
	}{
		{"no domain", `{"cognito": {"preTokenVersion": "V3_0"}, "hasura": {"jwtToken": "access"}, "machineAccess": {"scopes": ["Query:Person"]}}`,
			`environments.staging.cognito.domainPrefix = "": must be set when machineAccess is set: machines get their tokens from the Cognito domain's token endpoint`},
		{"V2 events", `{"cognito": {"preTokenVersion": "V2_0", "domainPrefix": "acme-auth"}, "hasura": {"jwtToken": "access"}, "machineAccess": {"scopes": ["Query:Person"]}}`,
			`environments.staging.cognito.preTokenVersion = "V2_0": must be "V3_0" when machineAccess is set`},
		{"V1 events", `{"cognito": {"preTokenVersion": "V1_0", "domainPrefix": "acme-auth"}, "machineAccess": {"scopes": ["Query:Person"]}}`,
			`environments.staging.cognito.preTokenVersion = "V1_0": must be "V3_0" when machineAccess is set`},
		{"ID tokens to Hasura", `{"cognito": {"preTokenVersion": "V3_0", "domainPrefix": "acme-auth"}, "machineAccess": {"scopes": ["Query:Person"]}}`,
			`environments.staging.hasura.jwtToken = "id": must be "access" when machineAccess is set: machine tokens are access tokens (no aud)`},
		{"no scopes", `{` + machineOn + `, "machineAccess": {}}`, `environments.staging.machineAccess.scopes = 0: must be 1-100 scopes (Cognito's limit per resource server)`},
		{"101 scopes", `{` + machineOn + `, "machineAccess": {"scopes": [` + strings.Join(hundredOne, ",") + `]}}`, `environments.staging.machineAccess.scopes = 101: must be 1-100 scopes`},
		{"glob in a scope", `{` + machineOn + `, "machineAccess": {"scopes": ["Query:Person", "Mutation:*:Create"]}}`, `environments.staging.machineAccess.scopes[1] = "Mutation:*:Create": must be a scope name of 1-256 printable ASCII characters`},
		{"space in a scope", `{` + machineOn + `, "machineAccess": {"scopes": ["Query Person"]}}`, `environments.staging.machineAccess.scopes[0] = "Query Person": must be a scope name`},
		{"slash in a scope", `{` + machineOn + `, "machineAccess": {"scopes": ["Query/Person"]}}`, `environments.staging.machineAccess.scopes[0] = "Query/Person": must be a scope name`},
		{"quote in a scope", `{` + machineOn + `, "machineAccess": {"scopes": ["Query:\"Person\""]}}`, `environments.staging.machineAccess.scopes[0] = "Query:\"Person\"": must be a scope name`},
		{"backslash in a scope", `{` + machineOn + `, "machineAccess": {"scopes": ["Query\\Person"]}}`, `environments.staging.machineAccess.scopes[0] = "Query\\Person": must be a scope name`},
		{"comma in a scope", `{` + machineOn + `, "machineAccess": {"scopes": ["Query:A,B"]}}`, `environments.staging.machineAccess.scopes[0] = "Query:A,B": must be a scope name`},
		{"non-ASCII scope", `{` + machineOn + `, "machineAccess": {"scopes": ["Query:Persön"]}}`, `environments.staging.machineAccess.scopes[0] = "Query:Persön": must be a scope name`},
		{"empty scope", `{` + machineOn + `, "machineAccess": {"scopes": [""]}}`, `environments.staging.machineAccess.scopes[0] = "": must be a scope name`},
		{"scope too long", `{` + machineOn + `, "machineAccess": {"scopes": ["` + strings.Repeat("x", 257) + `"]}}`, `environments.staging.machineAccess.scopes[0]`},
		{"duplicate scope", `{` + machineOn + `, "machineAccess": {"scopes": ["Query:Person", "Query:Work", "Query:Person"]}}`, `environments.staging.machineAccess.scopes[2] = "Query:Person": must be unique: machineAccess.scopes[0] declares it too`},
		{"no tiers", `{` + machineOn + `, "machineAccess": {"scopes": ["Query:Person"], "tiers": {}}}`, `environments.staging.machineAccess.tiers = map[]: must be at least one tier`},
		{"bad tier name", `{` + machineOn + `, "machineAccess": {"scopes": ["Query:Person"], "tiers": {"Read Only": "readonly"}}}`, `environments.staging.machineAccess.tiers.Read Only = "Read Only": must be a tier name`},
		{"bad role", `{` + machineOn + `, "machineAccess": {"scopes": ["Query:Person"], "tiers": {"readonly": "read only"}}}`, `environments.staging.machineAccess.tiers.readonly = "read only": must be a Hasura role name`},
		{"role starting with a hyphen", `{` + machineOn + `, "machineAccess": {"scopes": ["Query:Person"], "tiers": {"readonly": "-reader"}}}`, `environments.staging.machineAccess.tiers.readonly = "-reader": must be a Hasura role name`},
		{"admin role", `{` + machineOn + `, "machineAccess": {"scopes": ["Query:Person"], "tiers": {"internal": "Admin"}}}`, `environments.staging.machineAccess.tiers.internal = "Admin": must be a role other than admin`},
		{"validity too short", `{` + machineOn + `, "machineAccess": {"scopes": ["Query:Person"], "defaultValidity": "1m"}}`, `environments.staging.machineAccess.defaultValidity = "1m": must be a Go duration from 5m0s to 24h0m0s in whole minutes`},
		{"validity too long", `{` + machineOn + `, "machineAccess": {"scopes": ["Query:Person"], "defaultValidity": "48h"}}`, `environments.staging.machineAccess.defaultValidity = "48h"`},
		{"validity not a duration", `{` + machineOn + `, "machineAccess": {"scopes": ["Query:Person"], "defaultValidity": "1 day"}}`, `environments.staging.machineAccess.defaultValidity = "1 day": must be a Go duration`},
		{"validity empty", `{` + machineOn + `, "machineAccess": {"scopes": ["Query:Person"], "defaultValidity": ""}}`, `environments.staging.machineAccess.defaultValidity = "": must be a Go duration`},
		{"unknown field", `{` + machineOn + `, "machineAccess": {"scope": ["Query:Person"]}}`, `environments.staging.machineAccess.scope: unknown field (known: defaultValidity, scopes, tiers)`},
		{"scopes not a list", `{` + machineOn + `, "machineAccess": {"scopes": "Query:Person"}}`, `environments.staging.machineAccess.scopes: must be`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			project, _ := committed(t)
			root, err := Load(project, withChange(t, "staging", c.patch))
			require.Error(t, err)
			assert.Nil(t, root)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func TestEveryProblemIsReportedAtOnce(t *testing.T) {
	project, _ := committed(t)
	envs := withChange(t, "staging", `{"region": "mars-1", "removal": "never"}`)
	envs = merge(envs, map[string]any{"production": map[string]any{"removal": "destroy"}})
	_, err := Load(project, envs)
	require.Error(t, err)
	for _, w := range []string{"environments.staging.region", "environments.staging.removal", "environments.production.removal"} {
		assert.Contains(t, err.Error(), w)
	}
}

func TestBadProjectAndEnvironments(t *testing.T) {
	_, envs := committed(t)
	_, err := Load(nil, envs)
	assert.ErrorContains(t, err, `context "project" must be a non-empty string`)
	_, err = Load("Bad Project", envs)
	assert.ErrorContains(t, err, `context "project" = "Bad Project"`)
	_, err = Load("p1", map[string]any{})
	assert.ErrorContains(t, err, `context "environments" must be an object with at least one environment`)
	_, err = Load("p1", "staging")
	assert.ErrorContains(t, err, `context "environments" must be an object`)
}

func TestAnyNewEnvironmentGetsWorkingDefaults(t *testing.T) {
	root, err := Load("proj", map[string]any{"qa": map[string]any{}})
	require.NoError(t, err)
	qa := root.Environments[0]
	assert.Equal(t, Defaults("proj", "qa"), qa)
	assert.Equal(t, "/proj/qa/event-api-key", qa.EventAPIKey.ParameterName)
	assert.False(t, qa.Production)
	assert.NoError(t, qa.Validate())
}

func TestEnvironmentsMayNotShareTheEventAPIKeyParameter(t *testing.T) {
	project, _ := committed(t)
	// Production names staging's default parameter explicitly.
	envs := withChange(t, "production", `{"eventApiKey": {"parameterName": "/hasura-auth/staging/event-api-key"}}`)
	root, err := Load(project, envs)
	require.Error(t, err)
	assert.Nil(t, root)
	assert.EqualError(t, err, `config: environments.staging.eventApiKey.parameterName = "/hasura-auth/staging/event-api-key": must be unique: environment production uses it too (each environment needs its own key)`)

	// Two explicit names.
	envs = withChange(t, "staging", `{"eventApiKey": {"parameterName": "/shared/key"}}`)
	envs = merge(envs, map[string]any{"production": map[string]any{"eventApiKey": map[string]any{"parameterName": "/shared/key"}}})
	_, err = Load(project, envs)
	assert.ErrorContains(t, err, `environments.staging.eventApiKey.parameterName = "/shared/key": must be unique: environment production uses it too`)

	// Different names are fine.
	envs = withChange(t, "staging", `{"eventApiKey": {"parameterName": "/shared/staging-key"}}`)
	_, err = Load(project, envs)
	assert.NoError(t, err)
}

func TestEnvironmentsMayNotShareACognitoDomainInARegion(t *testing.T) {
	project, _ := committed(t)
	envs := withChange(t, "staging", `{"cognito": {"domainPrefix": "acme-login"}}`)
	envs = merge(envs, map[string]any{"production": map[string]any{"cognito": map[string]any{"domainPrefix": "acme-login"}}})
	_, err := Load(project, envs)
	assert.EqualError(t, err, `config: environments.staging.cognito.domainPrefix = "acme-login": must be unique in us-east-1: environment production uses it too`)
}

// The subnet layout check must agree with how CDK allocates: the largest refused and the
// smallest accepted network for each zone count (the stacks tests synthesize a /20 VPC).
func TestSubnetLayoutPrefix(t *testing.T) {
	assert.Equal(t, 20, subnetLayoutPrefix(2)) // 2x/24 at 0, 2x/22 from 1024, 2x/24 from 3072: 3584 addresses
	assert.Equal(t, 19, subnetLayoutPrefix(3)) // publics to 768, apps 1024-4096, dbs to 4864
	assert.Equal(t, 18, subnetLayoutPrefix(6)) // publics to 1536, apps 2048-8192, dbs to 9728
}

func TestOriginsAreTheDistinctSortedOriginsOfTheCallbackURLs(t *testing.T) {
	c := Cognito{CallbackURLs: []string{"https://app.example.com/callback", "http://localhost:3000/cb", "https://app.example.com/other", "https://admin.example.com:8443/x"}}
	assert.Equal(t, []string{"http://localhost:3000", "https://admin.example.com:8443", "https://app.example.com"}, c.Origins())
	assert.Empty(t, Cognito{}.Origins())
}
