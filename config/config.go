// Package config turns the cdk.json context into typed, validated per-environment settings.
//
// Config flows one way: cdk.json -> Load -> stack props -> construct props. Nothing below
// this package reads the context or the process environment.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strings"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

// Root is the whole app configuration: a project name and its environments.
type Root struct {
	Project      string
	Environments []Environment // sorted by name, so synth order is stable
}

// Environment is one deployable copy of the architecture.
type Environment struct {
	Name string `json:"-"`

	// Account is the 12-digit AWS account ID; empty synthesizes an account-agnostic template.
	Account string `json:"account"`
	// Region is the AWS region, e.g. us-east-1. Always concrete, so the JWKS URL is a literal.
	Region string `json:"region"`
	// Production turns on the production guard rails (retain, deletion protection, HTTPS,
	// console off). Defaults to true for the environment named "production".
	Production bool `json:"production"`
	// Removal is what happens to stateful resources when the stack is deleted: retain or destroy.
	Removal Removal `json:"removal"`
	// LogRetentionDays applies to every log group the environment creates.
	LogRetentionDays int `json:"logRetentionDays"`
	// Tags are added to every taggable resource of the environment.
	Tags map[string]string `json:"tags"`

	Cognito     Cognito     `json:"cognito"`
	Claims      Claims      `json:"claims"`
	EventAPIKey EventAPIKey `json:"eventApiKey"`
	Hasura      Hasura      `json:"hasura"`
	VPC         VPC         `json:"vpc"`
	Database    Database    `json:"database"`
	Operations  Operations  `json:"operations"`
	// MachineAccess lets services get scoped, expiring access tokens with the client-credentials
	// grant. Nil (the field left out, or null) turns it off.
	MachineAccess *MachineAccess `json:"machineAccess"`
}

// Cognito configures the user pool and its SPA client.
type Cognito struct {
	// PreTokenVersion is the PreTokenGeneration event version: V1_0 (ID token only), V2_0 (also
	// access tokens) or V3_0 (also machine tokens; machineAccess needs it).
	PreTokenVersion PreTokenVersion `json:"preTokenVersion"`
	// MFA is off, optional or required (TOTP).
	MFA MFA `json:"mfa"`
	// DomainPrefix, when set, creates a Cognito hosted domain (needed for SSO redirects).
	DomainPrefix string `json:"domainPrefix"`
	// CallbackURLs and LogoutURLs enable the OAuth code flow on the SPA client.
	CallbackURLs []string `json:"callbackUrls"`
	LogoutURLs   []string `json:"logoutUrls"`
	// Token validities as Go durations in whole minutes, within Cognito's limits.
	AccessTokenValidity  Duration `json:"accessTokenValidity"`
	IDTokenValidity      Duration `json:"idTokenValidity"`
	RefreshTokenValidity Duration `json:"refreshTokenValidity"`
	// ThreatProtection is Cognito's threat protection: off, audit or enforced (needs the Plus plan).
	ThreatProtection ThreatProtection `json:"threatProtection"`
	// SSO adds Microsoft Entra ID as an OIDC identity provider when set.
	SSO *SSO `json:"sso"`
	// MigrateFrom names an existing user pool whose users move into this one at their first
	// sign-in (a UserMigration trigger). Nil (left out, or null) turns migration off.
	MigrateFrom *MigrateFrom `json:"migrateFrom"`
}

// MigrateFrom is the user pool users migrate from. It must be in the environment's own account:
// the trigger's role is granted on arn:<partition>:cognito-idp:<region>:<environment's
// account>:userpool/<UserPoolID>, and Cognito's admin calls do not cross accounts.
type MigrateFrom struct {
	// UserPoolID is the old pool's ID, <region>_<id>, e.g. us-east-1_AbCdEfGhI.
	UserPoolID string `json:"userPoolId"`
	// Region is the old pool's region; it must be the one UserPoolID starts with.
	Region string `json:"region"`
	// ClientID is an app client of the old pool without a client secret that allows
	// ALLOW_ADMIN_USER_PASSWORD_AUTH: the trigger checks the password with it.
	ClientID string `json:"clientId"`
}

// SSO is Microsoft Entra ID single sign-on through OIDC.
type SSO struct {
	// ProviderName is how the provider is named in Cognito (and in the hosted UI).
	ProviderName string `json:"providerName"`
	// TenantID is the Entra tenant (GUID); the issuer is pinned to it.
	TenantID string `json:"tenantId"`
	// ClientID is the Entra application (client) ID.
	ClientID string `json:"clientId"`
	// ClientSecretArn is the Secrets Manager secret holding the Entra client secret. It is
	// resolved by CloudFormation at deploy time and never appears in the template.
	ClientSecretArn string `json:"clientSecretArn"`
	// ClientSecretField selects a JSON field of that secret; empty uses the whole SecretString.
	ClientSecretField string `json:"clientSecretField"`
	// AllowedEmailDomains are the only email domains a federated user may have (exact match,
	// lower-case ASCII). The provider asserts the email, so this bounds which accounts it can
	// claim. Required.
	AllowedEmailDomains []string `json:"allowedEmailDomains"`
}

// Claims configures the claims store and the pre-token Lambda.
type Claims struct {
	// KeyCacheTTL is how long the Lambda keeps the key ring in memory (Go duration).
	KeyCacheTTL Duration `json:"keyCacheTtl"`
	// LambdaMemoryMB sizes the pre-token Lambda (CPU scales with memory).
	LambdaMemoryMB int `json:"lambdaMemoryMb"`
	// AllowUnbound lets the trigger accept claims not sealed to their item (what Moped wrote),
	// until claimsctl key rotate binds them. Default false: bindings required.
	AllowUnbound bool `json:"allowUnbound"`
}

// EventAPIKey configures the SecureString that Hasura event triggers send to the backend API.
type EventAPIKey struct {
	// ParameterName defaults to /<project>/<env>/event-api-key; no two environments share one.
	ParameterName string `json:"parameterName"`
	// EnvVar is the container environment variable Hasura reads it from (value_from_env).
	EnvVar string `json:"envVar"`
}

// Hasura configures the Fargate service and its load balancer.
type Hasura struct {
	// Image is hasura/graphql-engine pinned to a version tag.
	Image        string `json:"image"`
	DesiredCount int    `json:"desiredCount"`
	MinCount     int    `json:"minCount"`
	MaxCount     int    `json:"maxCount"`
	CPU          int    `json:"cpu"`
	MemoryMiB    int    `json:"memoryMiB"`
	// CertificateArn is the ACM certificate of the HTTPS listener; staging may omit it (HTTP only).
	CertificateArn string `json:"certificateArn"`
	// EnableConsole turns on the Hasura console and dev mode; refused in production.
	EnableConsole bool `json:"enableConsole"`
	// JWTToken is the Cognito token clients send to Hasura: "id" pins the JWT audience to the
	// SPA client (ID tokens carry aud); "access" sets no audience (access tokens carry client_id,
	// not aud) and needs preTokenVersion V2_0 or V3_0, the versions that put claims in access tokens.
	JWTToken JWTToken `json:"jwtToken"`
	// CPUArchitecture is the task's CPU: x86_64 or arm64 (the graphql-engine image has both).
	CPUArchitecture CPUArchitecture `json:"cpuArchitecture"`
	// Environment adds plain container variables, e.g. the URL an action's handler is at
	// (Hasura's webhook_from_env). Never secrets: names that look secret are refused.
	Environment map[string]string `json:"environment"`
	// Secrets adds container variables that ECS reads at task start with the execution role:
	// variable name to an SSM parameter name or a Secrets Manager ARN (optionally ":<json key>").
	// This is how event triggers and actions get their keys (value_from_env).
	Secrets map[string]SecretRef `json:"secrets"`
}

// HasuraProjectVars are the container variables the project sets itself (besides the event
// API key's eventApiKey.envVar): hasura.environment and hasura.secrets may not name them. The
// stacks tests check this list against the synthesized container.
var HasuraProjectVars = []string{
	"HASURA_GRAPHQL_ADMIN_SECRET", "HASURA_GRAPHQL_JWT_SECRET", "HASURA_GRAPHQL_DATABASE_URL",
	"HASURA_GRAPHQL_ENABLE_CONSOLE", "HASURA_GRAPHQL_DEV_MODE", "HASURA_GRAPHQL_ENABLE_TELEMETRY",
	"HASURA_GRAPHQL_ENABLED_LOG_TYPES", "HASURA_GRAPHQL_SERVER_PORT", "HASURA_GRAPHQL_CORS_DOMAIN",
}

// MachineAccess configures machine clients: confidential app clients, made at run time by
// claimsctl client add, that trade their id and secret for an access token at the Cognito
// domain's token endpoint (client-credentials grant).
type MachineAccess struct {
	// Scopes are the names the resource server declares (TROMPA's Operation:Type:Action form,
	// e.g. "Mutation:Person:Create"). claimsctl expands globs such as "Mutation:*:Create" against
	// them, so a scope may not itself contain '*' (nor ',', which separates scopes on the command
	// line). At most 100 (Cognito's limit per resource server).
	Scopes []string `json:"scopes"`
	// Tiers name what a client may do, each mapped to the Hasura role its tokens carry.
	// Default: internal, readonly and syndication, each the role of the same name.
	Tiers map[string]string `json:"tiers"`
	// DefaultValidity is a new client's access token validity unless claimsctl client add says
	// otherwise: 5 minutes to 1 day in whole minutes (Cognito's limits). Default 1 hour.
	DefaultValidity Duration `json:"defaultValidity"`
}

// MachineResourceServer is the identifier of the resource server that declares the machine
// scopes; a token's scopes read "<identifier>/<scope>".
const MachineResourceServer = claims.MachineResourceServer

// MaxMachineScopes is Cognito's limit of scopes per resource server.
const MaxMachineScopes = 100

// DefaultTiers are the tiers of the Grid's API keys, each mapped to the Hasura role of the same
// name: internal (anything), readonly (reads only), syndication (a narrow set). What each role
// may do is up to Hasura's permissions.
func DefaultTiers() map[string]string {
	return map[string]string{"internal": "internal", "readonly": "readonly", "syndication": "syndication"}
}

// VPC says whether to create the network or import an existing one by IDs (no lookups).
type VPC struct {
	Create            bool     `json:"create"`
	CIDR              string   `json:"cidr"`
	MaxAZs            int      `json:"maxAzs"`
	NATGateways       int      `json:"natGateways"`
	VpcID             string   `json:"vpcId"`
	AvailabilityZones []string `json:"availabilityZones"`
	PublicSubnetIDs   []string `json:"publicSubnetIds"`
	PrivateSubnetIDs  []string `json:"privateSubnetIds"`
}

// Database says whether to create an RDS PostgreSQL instance or use an existing connection string.
type Database struct {
	Create           bool   `json:"create"`
	InstanceType     string `json:"instanceType"`
	PostgresVersion  string `json:"postgresVersion"`
	AllocatedStorage int    `json:"allocatedStorageGiB"`
	MultiAZ          bool   `json:"multiAz"`
	BackupDays       int    `json:"backupRetentionDays"`
	// ConnectionSecretArn is a secret whose SecretString is a postgres:// URL (when Create is false).
	ConnectionSecretArn string `json:"connectionSecretArn"`
	// URLParameterName is an SSM SecureString parameter holding the postgres:// URL (when Create
	// is false), the alternative to ConnectionSecretArn: where Moped keeps it.
	URLParameterName string `json:"urlParameterName"`
}

// Operations configures what watches the environment: alarms, where they go, and the WAF.
type Operations struct {
	// AlarmEmails subscribe to the environment's alarm topic (each address confirms by email).
	AlarmEmails []string `json:"alarmEmails"`
	// AlarmTopicArn sends alarms to an existing SNS topic (same region) instead of creating one.
	AlarmTopicArn string `json:"alarmTopicArn"`
	WAF           WAF    `json:"waf"`
	Alarms        Alarms `json:"alarms"`
}

// WAF configures the web ACL on Hasura's load balancer.
type WAF struct {
	// Enabled defaults to true in production.
	Enabled bool `json:"enabled"`
	// RateLimit is the most requests one IP may make in 5 minutes before it is blocked.
	RateLimit int `json:"rateLimit"`
}

// Alarm is one alarm's threshold and the number of consecutive periods that must breach it.
type Alarm struct {
	Threshold         float64 `json:"threshold"`
	EvaluationPeriods int     `json:"evaluationPeriods"`
}

// Alarms are every alarm's settings; docs/configuration.md gives each one's unit and period.
type Alarms struct {
	PreTokenInfrastructureRefusals Alarm `json:"pretokenInfrastructureRefusals"`
	PreTokenThrottles              Alarm `json:"pretokenThrottles"`
	PreTokenLatencyP99Ms           Alarm `json:"pretokenLatencyP99Ms"`
	CognitoSignInThrottles         Alarm `json:"cognitoSignInThrottles"`
	CognitoTokenRefreshThrottles   Alarm `json:"cognitoTokenRefreshThrottles"`
	ClaimsTableReadThrottles       Alarm `json:"claimsTableReadThrottles"`
	ClaimsTableSystemErrors        Alarm `json:"claimsTableSystemErrors"`
	LoadBalancer5xx                Alarm `json:"loadBalancer5xx"`
	Hasura5xx                      Alarm `json:"hasura5xx"`
	UnhealthyHosts                 Alarm `json:"unhealthyHosts"`
	HealthyHostsBelow              Alarm `json:"healthyHostsBelow"`
	HasuraLatencyP99Seconds        Alarm `json:"hasuraLatencyP99Seconds"`
	HasuraCPUPercent               Alarm `json:"hasuraCpuPercent"`
	HasuraMemoryPercent            Alarm `json:"hasuraMemoryPercent"`
	// RunningTasksBelow's threshold 0 means hasura.minCount.
	RunningTasksBelow         Alarm `json:"runningTasksBelow"`
	DatabaseCPUPercent        Alarm `json:"databaseCpuPercent"`
	DatabaseFreeStorageGiB    Alarm `json:"databaseFreeStorageGiB"`
	DatabaseFreeableMemoryMiB Alarm `json:"databaseFreeableMemoryMiB"`
	// DatabaseConnections' threshold 0 means 80% of the instance class's default max_connections.
	DatabaseConnections Alarm `json:"databaseConnections"`
	RotationErrors      Alarm `json:"rotationErrors"`
	// The UserMigration trigger's alarms, only with cognito.migrateFrom.
	MigrationInfrastructureRefusals Alarm `json:"migrationInfrastructureRefusals"`
	MigrationErrors                 Alarm `json:"migrationErrors"`
	MigrationThrottles              Alarm `json:"migrationThrottles"`
	// RotationOverdue's threshold is the grace, in hours past the 30-day schedule, before a
	// secret that has not rotated alarms.
	RotationOverdue Alarm `json:"rotationOverdueHours"`
}

// DefaultAlarms are the alarm settings every environment starts from.
func DefaultAlarms() Alarms {
	return Alarms{
		PreTokenInfrastructureRefusals:  Alarm{1, 1},
		PreTokenThrottles:               Alarm{1, 1},
		PreTokenLatencyP99Ms:            Alarm{2000, 3},
		CognitoSignInThrottles:          Alarm{1, 1},
		CognitoTokenRefreshThrottles:    Alarm{1, 1},
		ClaimsTableReadThrottles:        Alarm{1, 1},
		ClaimsTableSystemErrors:         Alarm{1, 1},
		LoadBalancer5xx:                 Alarm{10, 1},
		Hasura5xx:                       Alarm{10, 1},
		UnhealthyHosts:                  Alarm{1, 5},
		HealthyHostsBelow:               Alarm{1, 2},
		HasuraLatencyP99Seconds:         Alarm{2, 3},
		HasuraCPUPercent:                Alarm{80, 3},
		HasuraMemoryPercent:             Alarm{80, 3},
		RunningTasksBelow:               Alarm{0, 5},
		DatabaseCPUPercent:              Alarm{80, 3},
		DatabaseFreeStorageGiB:          Alarm{2, 1},
		DatabaseFreeableMemoryMiB:       Alarm{100, 3},
		DatabaseConnections:             Alarm{0, 2},
		RotationErrors:                  Alarm{1, 1},
		MigrationInfrastructureRefusals: Alarm{1, 1},
		MigrationErrors:                 Alarm{1, 1},
		MigrationThrottles:              Alarm{1, 1},
		RotationOverdue:                 Alarm{24, 1},
	}
}

// The subnets a created VPC gets in each availability zone, as CIDR prefix lengths: a public one
// (ALB, NAT), a private one for the app (tasks, rotation) and an isolated one for the database.
// Validation checks that vpc.cidr holds them; the stack lays them out.
const (
	PublicSubnetPrefix   = 24
	AppSubnetPrefix      = 22
	DatabaseSubnetPrefix = 24
)

// DefaultHasuraImage is the newest graphql-engine release confirmed in use: Moped's development
// task definition runs it (its production runs v2.49.5).
const DefaultHasuraImage = "hasura/graphql-engine:v2.50.0"

// Defaults returns the settings an environment of project has before its cdk.json entry is
// applied. They synthesize as they are; production gets the safe choices.
func Defaults(project, name string) Environment {
	prod := name == "production"
	e := Environment{
		Name:             name,
		Region:           "us-east-1",
		Production:       prod,
		Removal:          RemovalDestroy,
		LogRetentionDays: 30,
		Cognito: Cognito{
			PreTokenVersion:      PreTokenV2,
			MFA:                  MFAOptional,
			AccessTokenValidity:  ParseDuration("1h"),
			IDTokenValidity:      ParseDuration("1h"),
			RefreshTokenValidity: ParseDuration("720h"),
			ThreatProtection:     ThreatProtectionOff,
		},
		Claims:      Claims{KeyCacheTTL: ParseDuration("5m"), LambdaMemoryMB: 512},
		EventAPIKey: EventAPIKey{ParameterName: "/" + project + "/" + name + "/event-api-key", EnvVar: "EVENT_API_KEY"},
		Hasura: Hasura{
			Image:        DefaultHasuraImage,
			DesiredCount: 1, MinCount: 1, MaxCount: 2,
			CPU: 512, MemoryMiB: 1024, JWTToken: JWTTokenID,
			CPUArchitecture: CPUX86_64,
		},
		VPC: VPC{Create: true, CIDR: "10.0.0.0/16", MaxAZs: 2, NATGateways: 1},
		Database: Database{
			Create: true, InstanceType: "t4g.micro", PostgresVersion: "16.13",
			AllocatedStorage: 20, BackupDays: 7,
		},
		Operations: Operations{WAF: WAF{Enabled: prod, RateLimit: 2000}, Alarms: DefaultAlarms()},
	}
	if prod {
		e.Removal = RemovalRetain
		e.LogRetentionDays = 365
		e.Cognito.MFA = MFARequired
		e.Cognito.ThreatProtection = ThreatProtectionEnforced
		e.Hasura.DesiredCount, e.Hasura.MinCount, e.Hasura.MaxCount = 2, 2, 4
		e.VPC.NATGateways = 2
		e.Database.MultiAZ = true
		e.Database.BackupDays = 14
	}
	return e
}

// Load parses the two context values the app uses: "project" (a string) and "environments"
// (an object of environment name to settings). Values come as the CDK gives them: decoded JSON.
// Every error names the environment and the field.
func Load(project any, environments any) (*Root, error) {
	p, ok := project.(string)
	if !ok || p == "" {
		return nil, fmt.Errorf("config: context %q must be a non-empty string (got %v)", "project", project)
	}
	if !nameRe.MatchString(p) {
		return nil, fmt.Errorf("config: context %q = %q: use 2-20 lower-case letters, digits or hyphens, starting with a letter", "project", p)
	}
	envs, ok := environments.(map[string]any)
	if !ok || len(envs) == 0 {
		return nil, fmt.Errorf("config: context %q must be an object with at least one environment (got %T)", "environments", environments)
	}
	names := make([]string, 0, len(envs))
	for n := range envs {
		names = append(names, n)
	}
	sort.Strings(names)

	root := &Root{Project: p}
	var errs []error
	for _, n := range names {
		e, err := parseEnvironment(p, n, envs[n])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := e.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		root.Environments = append(root.Environments, e)
	}
	if len(errs) == 0 {
		errs = append(errs, root.checkShared()...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return root, nil
}

// checkShared refuses settings that two environments may not share: each environment's event
// API key must be its own (a stack deletion in one would otherwise delete the other's key), and
// a Cognito domain prefix names one domain in a region.
func (r *Root) checkShared() []error {
	var errs []error
	params, domains := map[string]string{}, map[string]string{}
	for _, e := range r.Environments {
		if other, ok := params[e.EventAPIKey.ParameterName]; ok {
			errs = append(errs, fmt.Errorf("config: environments.%s.eventApiKey.parameterName = %q: must be unique: environment %s uses it too (each environment needs its own key)",
				e.Name, e.EventAPIKey.ParameterName, other))
		}
		params[e.EventAPIKey.ParameterName] = e.Name
		if p := e.Cognito.DomainPrefix; p != "" {
			key := e.Region + "/" + p
			if other, ok := domains[key]; ok {
				errs = append(errs, fmt.Errorf("config: environments.%s.cognito.domainPrefix = %q: must be unique in %s: environment %s uses it too",
					e.Name, p, e.Region, other))
			}
			domains[key] = e.Name
		}
	}
	return errs
}

// Select returns the environments named in only (comma-separated), or all when only is empty.
func (r *Root) Select(only string) ([]Environment, error) {
	if only == "" {
		return r.Environments, nil
	}
	var out []Environment
	for _, want := range strings.Split(only, ",") {
		want = strings.TrimSpace(want)
		found := false
		for _, e := range r.Environments {
			if e.Name == want {
				out = append(out, e)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("config: environment %q is not in cdk.json (have: %s)", want, strings.Join(r.Names(), ", "))
		}
	}
	return out, nil
}

// Names lists the environment names in synth order.
func (r *Root) Names() []string {
	out := make([]string, len(r.Environments))
	for i, e := range r.Environments {
		out[i] = e.Name
	}
	return out
}

func parseEnvironment(project, name string, raw any) (Environment, error) {
	where := "environments." + name
	if !nameRe.MatchString(name) {
		return Environment{}, fmt.Errorf("config: %s: environment name must be 2-20 lower-case letters, digits or hyphens, starting with a letter", where)
	}
	if _, ok := raw.(map[string]any); !ok {
		return Environment{}, fmt.Errorf("config: %s: must be an object, got %s", where, jsonType(raw))
	}
	if err := checkFields("", raw, reflect.TypeOf(Environment{})); err != nil {
		return Environment{}, fmt.Errorf("config: %s%s", where, err.Error())
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return Environment{}, fmt.Errorf("config: %s: %w", where, err)
	}
	e := Defaults(project, name)
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&e); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Environment{}, fmt.Errorf("config: %s.%s: must be %s, got %s", where, te.Field, goTypeName(te.Type), te.Value)
		}
		return Environment{}, fmt.Errorf("config: %s: %w", where, err)
	}
	e.Name = name
	// Defaults of a section that is off unless present: applied only once it is.
	if m := e.MachineAccess; m != nil {
		if m.Tiers == nil {
			m.Tiers = DefaultTiers()
		}
		if m.DefaultValidity.String() == "" && m.DefaultValidity.err == nil {
			m.DefaultValidity = ParseDuration("1h")
		}
	}
	return e, nil
}

// checkFields walks decoded JSON against the struct's json tags, so that a misspelt field fails
// with its full path instead of being silently ignored.
func checkFields(path string, raw any, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := raw.(map[string]any)
		if !ok {
			return nil // a type mismatch; the decoder reports it with its path
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("json"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			fields[tag] = f.Type
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				return fmt.Errorf("%s.%s: unknown field (known: %s)", path, k, strings.Join(sortedKeys(fields), ", "))
			}
			if err := checkFields(path+"."+k, obj[k], ft); err != nil {
				return err
			}
		}
	case reflect.Map:
		// The decoder names the map but not the key when a value has the wrong type: name it here.
		obj, ok := raw.(map[string]any)
		if !ok {
			return nil
		}
		for _, k := range sortedKeys(obj) {
			if _, isString := obj[k].(string); !isString && t.Elem().Kind() == reflect.String || !isString && t.Elem() == reflect.TypeOf(SecretRef{}) {
				return fmt.Errorf("%s.%s: must be %s, got %s", path, k, goTypeName(t.Elem()), strings.TrimPrefix(strings.TrimPrefix(jsonType(obj[k]), "a "), "an "))
			}
		}
	case reflect.Slice:
		if arr, ok := raw.([]any); ok {
			for i, v := range arr {
				if err := checkFields(fmt.Sprintf("%s[%d]", path, i), v, t.Elem()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func goTypeName(t reflect.Type) string {
	if t == reflect.TypeOf(Duration{}) {
		return `a Go duration string such as "1h" or "90m"`
	}
	if t == reflect.TypeOf(SecretRef{}) {
		return "a string: an SSM parameter name or a Secrets Manager ARN"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "an array"
	case reflect.Map, reflect.Struct, reflect.Pointer:
		return "an object"
	}
	return t.String()
}

// Origins returns the distinct scheme://host[:port] of the callback URLs, sorted: the origins
// the SPA calls Hasura from (its CORS list).
func (c Cognito) Origins() []string {
	seen := map[string]bool{}
	for _, u := range c.CallbackURLs {
		parsed, err := url.Parse(u)
		if err != nil || parsed.Host == "" {
			continue // validated already; nothing to add
		}
		seen[parsed.Scheme+"://"+parsed.Host] = true
	}
	return sortedKeys(seen)
}
