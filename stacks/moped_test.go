package stacks_test

import (
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/config"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/hasuraservice"
)

// Every environment's container runs the strict health check Moped's task definition runs.
func TestContainerHealthCheckIsStrict(t *testing.T) {
	for _, env := range []string{"staging", "production", "legacy", "moped"} {
		t.Run(env, func(t *testing.T) {
			c := container(t, tmpl(t, env, "hasura"))
			assert.Equal(t, map[string]any{
				"Command":     []any{"CMD-SHELL", "curl -fsS http://localhost:8080/healthz?strict=true || exit 1"},
				"Interval":    15.0,
				"Timeout":     5.0,
				"Retries":     3.0,
				"StartPeriod": 60.0,
			}, c["HealthCheck"])
		})
	}
}

// config refuses extra variables by its own list of the names the service sets: the two lists
// are one, and the containers set nothing else of their own.
func TestConfigKnowsEveryVariableTheServiceSets(t *testing.T) {
	assert.Equal(t, hasuraservice.ProjectVars, config.HasuraProjectVars)
	for env, cfg := range cfgs {
		c := container(t, tmpl(t, env, "hasura"))
		for _, name := range append(sortedKeysOf(envOf(c)), sortedKeysOf(secretsOf(c))...) {
			_, plain := cfg.Hasura.Environment[name]
			_, secret := cfg.Hasura.Secrets[name]
			if !plain && !secret && name != cfg.EventAPIKey.EnvVar {
				assert.Contains(t, config.HasuraProjectVars, name, "%s: the container sets %s, which config does not reserve", env, name)
			}
		}
	}
}

func sortedKeysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// The Moped-like environment's task definition, setting by setting against Moped's own
// production task definition (cityofaustin/atd-moped,
// moped-database/ecs_task_definitions/production.graphql-engine.ecs-td.json).
func TestMopedTaskDefinitionMatchesMopedsSettings(t *testing.T) {
	tp := tmpl(t, "moped", "hasura")
	_, td := tp.one(t, "AWS::ECS::TaskDefinition")
	p := td.Properties
	// "cpu": "4096", "memory": "8192", runtimePlatform X86_64 / LINUX, FARGATE, awsvpc.
	assert.Equal(t, "4096", p["Cpu"])
	assert.Equal(t, "8192", p["Memory"])
	assert.Equal(t, map[string]any{"CpuArchitecture": "X86_64", "OperatingSystemFamily": "LINUX"}, p["RuntimePlatform"])
	assert.Equal(t, []any{"FARGATE"}, p["RequiresCompatibilities"])
	assert.Equal(t, "awsvpc", p["NetworkMode"])

	c := container(t, tp)
	assert.Equal(t, "hasura/graphql-engine:v2.49.5", c["Image"])
	assert.Equal(t, true, c["Essential"])
	assert.Equal(t, []any{map[string]any{"ContainerPort": 8080.0, "Protocol": "tcp"}}, c["PortMappings"])
	e := envOf(c)
	assert.Equal(t, "https://moped-graphql.example.com/v1/graphql", e["HASURA_ENDPOINT"])
	assert.Equal(t, "false", e["HASURA_GRAPHQL_ENABLE_TELEMETRY"])
	assert.Equal(t, "false", e["HASURA_GRAPHQL_ENABLE_CONSOLE"])

	// Moped's secrets, each from the same place: its SSM parameters by name. The admin secret is
	// this project's (generated and rotated); the JWT config is a plain value built from the pool
	// (it holds no secret: public JWKS URL and issuer), where Moped keeps it in a parameter.
	param := func(name string) string { return "arn:aws:ssm:us-east-1:333333333333:parameter/" + name }
	adminID, _ := tp.withPrefix(t, "AWS::SecretsManager::Secret", "HasuraAdminSecret")
	assert.Equal(t, map[string]string{
		"ACTIVITY_LOG_API_SECRET":     param("MOPED_PRODUCTION_FARGATE_HASURA_GRAPHQL_ADMIN_SECRET"),
		"HASURA_GRAPHQL_ADMIN_SECRET": ref(adminID),
		"HASURA_GRAPHQL_DATABASE_URL": param("MOPED_PRODUCTION_FARGATE_HASURA_GRAPHQL_DATABASE_URL"),
		"MOPED_API_ACTIONS_URL":       param("MOPED_PRODUCTION_FARGATE_HASURA_ACTIONS_URL"),
		"MOPED_API_APIKEY":            param("moped/production/event-api-key"),
	}, secretsOf(c))
	assert.Contains(t, e, "HASURA_GRAPHQL_JWT_SECRET")
	for name := range e {
		assert.NotContains(t, secretsOf(c), name)
	}
	assert.Equal(t, map[string]any{
		"Command":  []any{"CMD-SHELL", "curl -fsS http://localhost:8080/healthz?strict=true || exit 1"},
		"Interval": 15.0, "Timeout": 5.0, "Retries": 3.0, "StartPeriod": 60.0,
	}, c["HealthCheck"], "Moped's check, with a start period as long as the service's grace period")

	// The execution role reads exactly those parameters and the admin secret, nothing else.
	roleID := p["ExecutionRoleArn"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
	logsID, _ := tp.withPrefix(t, "AWS::Logs::LogGroup", "HasuraLogs")
	ssmRead := []string{"ssm:DescribeParameters", "ssm:GetParameter", "ssm:GetParameterHistory", "ssm:GetParameters"}
	got := tp.policyOf(t, roleID)
	want := []Statement{
		{"Allow", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, []string{getAtt(logsID, "Arn")}},
		{"Allow", []string{"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"}, []string{ref(adminID)}},
	}
	// CDK merges the four parameter grants into one statement.
	want = append(want, Statement{"Allow", ssmRead, sortedStrings(
		param("MOPED_PRODUCTION_FARGATE_HASURA_GRAPHQL_ADMIN_SECRET"), param("MOPED_PRODUCTION_FARGATE_HASURA_GRAPHQL_DATABASE_URL"),
		param("MOPED_PRODUCTION_FARGATE_HASURA_ACTIONS_URL"), param("moped/production/event-api-key"))})
	sort.Slice(want, func(i, j int) bool { return want[i].String() < want[j].String() })
	assert.Equal(t, want, got)

	// Existing VPC and database: nothing created for them.
	assert.Empty(t, tp.ofType("AWS::EC2::VPC"))
	assert.Empty(t, tp.ofType("AWS::RDS::DBInstance"))
	_, svc := tp.one(t, "AWS::ECS::Service")
	net := svc.Properties["NetworkConfiguration"].(map[string]any)["AwsvpcConfiguration"].(map[string]any)
	assert.Equal(t, []any{"subnet-0333333333333333c", "subnet-0333333333333333d"}, net["Subnets"])
	_, tg := tp.one(t, "AWS::ElasticLoadBalancingV2::TargetGroup")
	assert.Equal(t, "/healthz?strict=true", tg.Properties["HealthCheckPath"])
}

func TestArm64TaskWhenConfigured(t *testing.T) {
	_, td := tmpl(t, "legacy", "hasura").one(t, "AWS::ECS::TaskDefinition")
	require.Equal(t, map[string]any{"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}, td.Properties["RuntimePlatform"])
	_, td = tmpl(t, "staging", "hasura").one(t, "AWS::ECS::TaskDefinition")
	assert.Equal(t, map[string]any{"CpuArchitecture": "X86_64", "OperatingSystemFamily": "LINUX"}, td.Properties["RuntimePlatform"])
}
