package stacks_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"

	"github.com/hasura-auth-cdk/hasuraauth/config"
	"github.com/hasura-auth-cdk/hasuraauth/internal/cfn"
	"github.com/hasura-auth-cdk/hasuraauth/internal/synth"
	"github.com/hasura-auth-cdk/hasuraauth/stacks"
)

// One app for the whole package: the jsii bridge costs seconds per process, and each template
// is rendered once and shared by every test.
var (
	project   string
	envs      map[string]*stacks.Environment
	templates = map[string]Template{}
	cfgs      map[string]config.Environment
	// nagErrors holds, per stack name, the cdk-nag errors the synthesis reported.
	nagErrors = map[string][]string{}
)

// Test-only environments beside the committed staging and production ones, to cover the
// options the defaults leave off.
var extraEnvironments = map[string]any{
	"sso": map[string]any{
		"region": "eu-west-1",
		"cognito": map[string]any{
			"preTokenVersion": "V3_0", "domainPrefix": "hasura-auth-sso-test",
			"callbackUrls": []any{"https://app.example.com/callback", "http://localhost:3000/callback"},
			"sso": map[string]any{
				"providerName": "EntraID", "tenantId": "11111111-2222-3333-4444-555555555555",
				"clientId":            "66666666-7777-8888-9999-000000000000",
				"clientSecretArn":     "arn:aws:secretsmanager:eu-west-1:111111111111:secret:entra-client-AbCdEf",
				"clientSecretField":   "client_secret",
				"allowedEmailDomains": []any{"contoso.com", "fabrikam.com"},
			},
		},
		"hasura":     map[string]any{"jwtToken": "access"},
		"operations": map[string]any{"alarmEmails": []any{"ops@example.com", "oncall@example.com"}},
		// Machine access rides on the same environment: it needs the domain, V3_0 and access tokens.
		"machineAccess": map[string]any{
			"scopes": []any{"Query:Person", "Mutation:Person:Create", "Mutation:Work:Create"},
			"tiers":  map[string]any{"internal": "service", "readonly": "service_readonly"},
		},
		// The smallest network config validation accepts for two zones: CDK must fit the subnets in it.
		"vpc": map[string]any{"cidr": "10.20.0.0/20"},
	},
	"legacy": map[string]any{
		"region":  "us-west-2",
		"account": "222222222222",
		"cognito": map[string]any{"preTokenVersion": "V1_0", "mfa": "off"},
		"vpc": map[string]any{
			"create": false, "vpcId": "vpc-0123456789abcdef0",
			"availabilityZones": []any{"us-west-2a", "us-west-2b"},
			"publicSubnetIds":   []any{"subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"},
			"privateSubnetIds":  []any{"subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"},
		},
		"database": map[string]any{
			"create":              false,
			"connectionSecretArn": "arn:aws:secretsmanager:us-west-2:222222222222:secret:legacy-db-url-XyZ123",
		},
		"eventApiKey": map[string]any{"parameterName": "/legacy/event-key", "envVar": "BACKEND_API_KEY"},
		// The Secrets Manager forms of hasura.secrets (Moped's environment has the SSM ones), on arm64.
		"hasura": map[string]any{"cpuArchitecture": "arm64", "secrets": map[string]any{
			"BACKEND_URL": "arn:aws:secretsmanager:us-west-2:222222222222:secret:legacy-backend-AbC123:url",
			"HOOK_TOKEN":  "arn:aws:secretsmanager:us-west-2:222222222222:secret:legacy-hook-DeF456",
		}},
		"operations": map[string]any{
			"alarmTopicArn": "arn:aws:sns:us-west-2:222222222222:ops-alarms",
			"waf":           map[string]any{"enabled": true, "rateLimit": 500},
			"alarms": map[string]any{
				"hasura5xx":         map[string]any{"threshold": 25, "evaluationPeriods": 2},
				"runningTasksBelow": map[string]any{"threshold": 1},
			},
		},
	},
}

// mopedEnvironment is configured like Moped's production (cityofaustin/atd-moped,
// moped-database/ecs_task_definitions/production.graphql-engine.ecs-td.json): an existing VPC
// and database (its URL in an SSM SecureString), its extra container settings, 4 vCPU and 8 GiB
// on x86_64, its image. Account and IDs are made up.
var mopedEnvironment = map[string]any{
	"production": true, "region": "us-east-1", "account": "333333333333", "removal": "retain",
	"cognito": map[string]any{"mfa": "optional", "threatProtection": "audit"},
	"hasura": map[string]any{
		"image": "hasura/graphql-engine:v2.49.5", "cpu": 4096, "memoryMiB": 8192, "cpuArchitecture": "x86_64",
		"certificateArn": "arn:aws:acm:us-east-1:333333333333:certificate/00000000-0000-4000-8000-000000000003",
		"environment":    map[string]any{"HASURA_ENDPOINT": "https://moped-graphql.example.com/v1/graphql"},
		"secrets": map[string]any{
			"ACTIVITY_LOG_API_SECRET": "MOPED_PRODUCTION_FARGATE_HASURA_GRAPHQL_ADMIN_SECRET",
			"MOPED_API_ACTIONS_URL":   "MOPED_PRODUCTION_FARGATE_HASURA_ACTIONS_URL",
		},
	},
	"eventApiKey": map[string]any{"parameterName": "/moped/production/event-api-key", "envVar": "MOPED_API_APIKEY"},
	"vpc": map[string]any{
		"create": false, "vpcId": "vpc-0333333333333333a",
		"availabilityZones": []any{"us-east-1a", "us-east-1b"},
		"publicSubnetIds":   []any{"subnet-0333333333333333a", "subnet-0333333333333333b"},
		"privateSubnetIds":  []any{"subnet-0333333333333333c", "subnet-0333333333333333d"},
	},
	"database": map[string]any{"create": false, "urlParameterName": "MOPED_PRODUCTION_FARGATE_HASURA_GRAPHQL_DATABASE_URL"},
}

// mopedMigrateFrom is the Moped pool its users move from (cognito.migrateFrom), in another
// region than the environment to show that the trigger's grant follows the old pool's region.
var mopedMigrateFrom = map[string]any{"userPoolId": "us-west-2_MopedPool1", "region": "us-west-2", "clientId": "4mopedmigration0client0id0"}

func init() { mopedEnvironment["cognito"].(map[string]any)["migrateFrom"] = mopedMigrateFrom }

// CDKContext reads the committed cdk.json context: NewApp(nil) does not read cdk.json.
func CDKContext(t testing.TB) map[string]any {
	ctx, err := synth.Context("..")
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

func TestMain(m *testing.M) {
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	code := func() (code int) {
		defer jsii.Close()
		defer func() {
			// Synthesis panics through jsii when cdk-nag or CDK validation reports an error.
			if r := recover(); r != nil {
				fmt.Fprintf(os.Stderr, "synthesis failed (cdk-nag or validation errors above): %v\n", r)
				code = 1
			}
		}()
		ctx := CDKContext(&testing.T{})
		all := map[string]any{}
		for k, v := range ctx["environments"].(map[string]any) {
			all[k] = v
		}
		for k, v := range extraEnvironments {
			all[k] = v
		}
		all["moped"] = mopedEnvironment
		ctx["environments"] = all
		// Lambda bundling is proven by `make synth` and lambdas_internal_test.go; here it only costs time.
		ctx["aws:cdk:bundling-stacks"] = []any{}
		app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
		root, err := config.Load(ctx["project"], ctx["environments"])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		project = root.Project
		envs = map[string]*stacks.Environment{}
		cfgs = map[string]config.Environment{}
		wd, _ := os.Getwd()
		lambdas := stacks.GoLambdas(filepath.Dir(wd))
		for _, e := range root.Environments {
			cfgs[e.Name] = e
			envs[e.Name] = stacks.NewEnvironment(app, stacks.Common{Project: root.Project, Env: e, Lambdas: lambdas})
		}
		stacks.ApplySecurityChecks(app)
		for name, e := range envs {
			templates[name+"/identity"] = render(e.Identity.Stack)
			templates[name+"/hasura"] = render(e.Hasura.Stack)
		}
		// The synthesis above ran cdk-nag; read its messages once from the cloud assembly.
		asm := app.Synth(nil)
		for _, e := range envs {
			for _, st := range []awscdk.Stack{e.Identity.Stack, e.Hasura.Stack} {
				for _, m := range *asm.GetStackArtifact(st.ArtifactId()).Messages() {
					data := fmt.Sprint(m.Entry.Data)
					if m.Level == cxapi.SynthesisMessageLevel_ERROR && strings.Contains(data, "AwsSolutions-") {
						nagErrors[*st.StackName()] = append(nagErrors[*st.StackName()], *m.Id+": "+data)
					}
				}
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

func render(s awscdk.Stack) Template {
	b, err := json.Marshal(assertions.Template_FromStack(s, nil).ToJSON())
	if err != nil {
		panic(err)
	}
	tp, err := cfn.Parse(b)
	if err != nil {
		panic(err)
	}
	return Template{Template: tp, raw: b}
}

// Template is a synthesized CloudFormation template read through internal/cfn, with the
// lookups the tests share.
type Template struct {
	*cfn.Template
	raw []byte // the template as synthesized, for cfn-lint
}

// Resource is one template resource.
type Resource = cfn.Resource

// Statement is a normalized IAM statement (cfn.Statement), declared here so that the tests can
// write the expected ones as unkeyed literals.
type Statement struct {
	Effect    string
	Actions   []string
	Resources []string
}

func (s Statement) String() string { return cfn.Statement(s).String() }

func tmpl(t *testing.T, env, stack string) Template {
	t.Helper()
	tp, ok := templates[env+"/"+stack]
	if !ok {
		t.Fatalf("no template for %s/%s", env, stack)
	}
	return tp
}

// ofType returns the logical IDs of every resource of a type, sorted.
func (tp Template) ofType(typ string) []string { return tp.OfType(typ) }

// one returns the single resource of a type, failing if there is not exactly one.
func (tp Template) one(t *testing.T, typ string) (string, Resource) {
	t.Helper()
	ids := tp.OfType(typ)
	if len(ids) != 1 {
		t.Fatalf("want exactly one %s, found %d: %v", typ, len(ids), ids)
	}
	return ids[0], tp.Resources[ids[0]]
}

// withPrefix returns the single resource whose logical ID starts with prefix.
func (tp Template) withPrefix(t *testing.T, typ, prefix string) (string, Resource) {
	t.Helper()
	found := tp.WithPrefix(typ, prefix)
	if len(found) != 1 {
		t.Fatalf("want one %s with logical ID prefix %q, found %v", typ, prefix, found)
	}
	return found[0], tp.Resources[found[0]]
}

// policyOf returns the normalized statements of every AWS::IAM::Policy attached to a role.
func (tp Template) policyOf(t *testing.T, roleID string) []Statement {
	t.Helper()
	var out []Statement
	for _, s := range tp.PolicyOf(roleID) {
		out = append(out, Statement(s))
	}
	return out
}

func normalize(st map[string]any) Statement { return Statement(cfn.Normalize(st)) }
func list(v any) []any                      { return cfn.List(v) }
func compact(v any) string                  { return cfn.Text(v) }
func ref(id string) string                  { return compact(map[string]any{"Ref": id}) }
func getAtt(id, attr string) string         { return compact(map[string]any{"Fn::GetAtt": []any{id, attr}}) }

// resolveJoin renders an Fn::Join with every non-string part replaced by name(part), so that
// JSON built from tokens can be parsed and checked field by field.
func resolveJoin(t *testing.T, v any, name func(part any) string) string {
	t.Helper()
	join, ok := v.(map[string]any)["Fn::Join"].([]any)
	if !ok {
		t.Fatalf("want an Fn::Join, got %s", compact(v))
	}
	var b strings.Builder
	for _, part := range join[1].([]any) {
		if s, ok := part.(string); ok {
			b.WriteString(s)
		} else {
			b.WriteString(name(part))
		}
	}
	return b.String()
}
