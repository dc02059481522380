// Package userdirectory defines who can sign in: the Cognito user pool, its SPA client, optional
// Microsoft Entra ID single sign-on, the pre-token trigger that puts Hasura claims in tokens, and
// optionally the UserMigration trigger that brings users over from an older pool.
package userdirectory

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/hasura-auth-cdk/hasuraauth/constructs/claimsstore"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/golambda"
)

// TriggerTimeout is the pre-token Lambda's timeout: Cognito waits 5 s at most (and retries),
// and the handler bounds its own work to 2.5 s.
const TriggerTimeout = 3

// Props configure the directory. Zero values take the defaults named on each field.
type Props struct {
	// Lambdas compiles the pre-token Lambda. Required.
	Lambdas golambda.Builder
	// PoolName and ClientName name the user pool and its SPA app client. Required.
	PoolName   string
	ClientName string
	// Store is the claims table and key ring the trigger reads. Required.
	Store *claimsstore.Store

	// Mfa is the pool's MFA setting, TOTP only. Default: awscognito.Mfa_OPTIONAL.
	Mfa awscognito.Mfa
	// ThreatProtection is the standard threat protection mode; anything but NO_ENFORCEMENT
	// selects the Plus feature plan. Default: NO_ENFORCEMENT (Essentials plan).
	ThreatProtection awscognito.StandardThreatProtectionMode
	// TriggerVersion is the pre-token event version. Default: awscognito.LambdaVersion_V2_0.
	// Machines need LambdaVersion_V3_0, the only version Cognito sends client-credentials events with.
	TriggerVersion awscognito.LambdaVersion
	// DomainPrefix, when set, creates a Cognito hosted domain (needed for SSO redirects).
	DomainPrefix string
	// CallbackUrls enable the OAuth code flow on the SPA client; LogoutUrls default to them.
	CallbackUrls []string
	LogoutUrls   []string
	// Token validities, in whole minutes. Defaults: 1 hour, 1 hour, 30 days.
	AccessTokenValidity  awscdk.Duration
	IdTokenValidity      awscdk.Duration
	RefreshTokenValidity awscdk.Duration
	// Entra, when set, adds Microsoft Entra ID as an OIDC identity provider.
	Entra *EntraProps
	// Machines, when set, declares the resource server whose scopes machine clients (app clients
	// made at run time with the client-credentials grant) may be granted. Needs DomainPrefix
	// (the token endpoint) and TriggerVersion V3_0 (so the trigger sees their token requests).
	Machines *MachineProps
	// Migration, when set, adds the UserMigration trigger that moves users of an older pool into
	// this one at their first sign-in or password reset, and lets the SPA client send passwords
	// (USER_PASSWORD_AUTH), which the trigger needs and SRP never sends.
	Migration *MigrationProps

	// KeyCacheTTL is how long the trigger keeps the key ring in memory. Default: 5 minutes.
	KeyCacheTTL awscdk.Duration
	// AllowUnboundClaims lets the trigger accept claims not sealed to their item (what Moped
	// wrote). Default: false, bindings required.
	AllowUnboundClaims bool
	// MemoryMB sizes the trigger (CPU scales with memory). Default: 512.
	MemoryMB int
	// DeletionProtection protects the pool from deletion.
	DeletionProtection bool
	// RemovalPolicy applies to the pool and the trigger's log group. Default: CDK's (RETAIN).
	RemovalPolicy awscdk.RemovalPolicy
	// LogRetention applies to the trigger's log group. Default: CDK's (never expire).
	LogRetention awslogs.RetentionDays
}

// EntraProps configure Microsoft Entra ID single sign-on through OIDC.
type EntraProps struct {
	// ProviderName names the provider in Cognito (and in the hosted UI).
	ProviderName string
	// TenantID is the Entra tenant (GUID); the issuer is pinned to it.
	TenantID string
	// ClientID is the Entra application (client) ID.
	ClientID string
	// AllowedEmailDomains are the only email domains a federated user may have; the trigger
	// refuses others, and federated users of any other provider. Required.
	AllowedEmailDomains []string
	// ClientSecret is the application's secret. Pass a reference (awscdk.SecretValue_SecretsManager),
	// which CloudFormation resolves at deploy time: a plain value would be written into the template.
	ClientSecret awscdk.SecretValue
}

// MachineProps declare the machine scopes.
type MachineProps struct {
	// Identifier names the resource server; granted scopes read "<Identifier>/<scope>".
	Identifier string
	// Name is the resource server's display name.
	Name string
	// Scopes are the scope names (at most 100, Cognito's limit).
	Scopes []string
	// Tiers map a client's tier to the Hasura role its tokens carry; the trigger refuses tokens
	// of clients whose tier is not here.
	Tiers map[string]string
}

// MigrationProps name the pool users migrate from. It must be in the stack's account.
type MigrationProps struct {
	// PoolID is the old pool's ID and Region its region.
	PoolID string
	Region string
	// ClientID is an app client of the old pool, without a secret, that allows
	// ADMIN_USER_PASSWORD_AUTH.
	ClientID string
}

// LegacySubAttribute is the custom attribute (custom:legacy_sub to Cognito and the triggers) in
// which the UserMigration trigger records the sub a user had in the old pool.
const LegacySubAttribute = "legacy_sub"

// Directory is the pool and what other constructs need of it.
type Directory struct {
	Pool     awscognito.UserPool
	Client   awscognito.UserPoolClient
	Provider awscognito.UserPoolIdentityProviderOidc
	PreToken *golambda.Function
	// Migration is the UserMigration trigger (nil without MigrationProps).
	Migration *golambda.Function
	// Domain is the hosted domain (nil without DomainPrefix); ResourceServer declares the
	// machine scopes (nil without Machines).
	Domain         awscognito.UserPoolDomain
	ResourceServer awscognito.UserPoolResourceServer
}

// New defines the pool, client, optional SSO provider and the pre-token trigger.
func New(scope constructs.Construct, id string, p *Props) *Directory {
	c := constructs.NewConstruct(scope, jsii.String(id))
	d := &Directory{}

	mfa := p.Mfa
	if mfa == "" {
		mfa = awscognito.Mfa_OPTIONAL
	}
	var second *awscognito.MfaSecondFactor
	if mfa != awscognito.Mfa_OFF {
		second = &awscognito.MfaSecondFactor{Otp: jsii.Bool(true), Sms: jsii.Bool(false)}
	}
	threat := p.ThreatProtection
	if threat == "" {
		threat = awscognito.StandardThreatProtectionMode_NO_ENFORCEMENT
	}
	// Essentials at least: V2_0 pre-token events and password history need it; Plus for threat protection.
	plan := awscognito.FeaturePlan_ESSENTIALS
	if threat != awscognito.StandardThreatProtectionMode_NO_ENFORCEMENT {
		plan = awscognito.FeaturePlan_PLUS
	}
	d.Pool = awscognito.NewUserPool(c, jsii.String("Pool"), &awscognito.UserPoolProps{
		UserPoolName: jsii.String(p.PoolName),
		// Operators create users (claimsctl user add); nobody signs themselves up.
		SelfSignUpEnabled:   jsii.Bool(false),
		SignInAliases:       &awscognito.SignInAliases{Email: jsii.Bool(true)},
		SignInCaseSensitive: jsii.Bool(false),
		AutoVerify:          &awscognito.AutoVerifiedAttrs{Email: jsii.Bool(true)},
		// An email change takes effect only once verified: the claims are looked up by email.
		KeepOriginal: &awscognito.KeepOriginalAttrs{Email: jsii.Bool(true)},
		StandardAttributes: &awscognito.StandardAttributes{
			Email: &awscognito.StandardAttribute{Required: jsii.Bool(true), Mutable: jsii.Bool(true)},
		},
		// Every pool declares it, migrating or not: a custom attribute can never be removed from a
		// pool, so it must not come and go with config. Immutable, so only Cognito sets it, when
		// it creates a user from the UserMigration trigger's answer; no app client may write it.
		CustomAttributes: &map[string]awscognito.ICustomAttribute{
			LegacySubAttribute: awscognito.NewStringAttribute(&awscognito.StringAttributeProps{Mutable: jsii.Bool(false)}),
		},
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength: jsii.Number(12), RequireLowercase: jsii.Bool(true), RequireUppercase: jsii.Bool(true),
			RequireDigits: jsii.Bool(true), RequireSymbols: jsii.Bool(true),
			TempPasswordValidity: awscdk.Duration_Days(jsii.Number(3)),
			PasswordHistorySize:  jsii.Number(5),
		},
		Mfa:                          mfa,
		MfaSecondFactor:              second,
		AccountRecovery:              awscognito.AccountRecovery_EMAIL_ONLY,
		FeaturePlan:                  plan,
		StandardThreatProtectionMode: threat,
		DeletionProtection:           jsii.Bool(p.DeletionProtection),
		RemovalPolicy:                p.RemovalPolicy,
	})

	memory := p.MemoryMB
	if memory == 0 {
		memory = 512
	}
	env := map[string]*string{
		"CLAIMS_TABLE_NAME":    p.Store.Table.TableName(),
		"CLAIMS_KEY_SECRET_ID": p.Store.KeySecret.SecretArn(),
		"CLAIMS_KEY_CACHE_TTL": jsii.String(goDuration(orDefault(p.KeyCacheTTL, awscdk.Duration_Minutes(jsii.Number(5))))),
		"CLAIMS_ALLOW_UNBOUND": jsii.String(strconv.FormatBool(p.AllowUnboundClaims)),
	}
	if s := p.Entra; s != nil {
		// Federated users are accepted only through this provider and these domains.
		env["SSO_PROVIDER_NAME"] = jsii.String(s.ProviderName)
		env["SSO_ALLOWED_EMAIL_DOMAINS"] = jsii.String(strings.Join(s.AllowedEmailDomains, ","))
	}
	if m := p.Machines; m != nil {
		tiers := make([]string, 0, len(m.Tiers))
		for t, role := range m.Tiers {
			tiers = append(tiers, t+"="+role)
		}
		sort.Strings(tiers) // a stable template
		env["MACHINE_TIERS"] = jsii.String(strings.Join(tiers, ","))
	}
	d.PreToken = golambda.New(c, "PreToken", &golambda.Props{
		Builder:       p.Lambdas,
		Package:       "lambda/pretoken",
		Description:   "Cognito pre-token trigger: adds the user's Hasura claims or refuses the token",
		Environment:   env,
		MemoryMB:      memory,
		Timeout:       awscdk.Duration_Seconds(jsii.Number(TriggerTimeout)),
		LogRetention:  p.LogRetention,
		RemovalPolicy: p.RemovalPolicy,
	})
	// Exactly the two reads the handler makes, on exactly these resources.
	d.PreToken.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("dynamodb:GetItem"),
		Resources: jsii.Strings(*p.Store.Table.TableArn()),
	}))
	d.PreToken.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
		Resources: jsii.Strings(*p.Store.KeySecret.SecretArn()),
	}))
	// Tokens can only be issued once the key ring exists.
	d.PreToken.Function.Node().AddDependency(p.Store.KeyRing)
	version := p.TriggerVersion
	if version == "" {
		version = awscognito.LambdaVersion_V2_0
	}
	d.Pool.AddTrigger(awscognito.UserPoolOperation_PRE_TOKEN_GENERATION_CONFIG(), d.PreToken.Function, version)

	if m := p.Migration; m != nil {
		d.Migration = newMigration(c, p, m)
		// Only pre-token generation has event versions; "" leaves it unset.
		d.Pool.AddTrigger(awscognito.UserPoolOperation_USER_MIGRATION(), d.Migration.Function, "")
	}

	providers := []awscognito.UserPoolClientIdentityProvider{awscognito.UserPoolClientIdentityProvider_COGNITO()}
	if s := p.Entra; s != nil {
		d.Provider = awscognito.NewUserPoolIdentityProviderOidc(c, jsii.String("EntraId"), &awscognito.UserPoolIdentityProviderOidcProps{
			UserPool: d.Pool,
			Name:     jsii.String(s.ProviderName),
			ClientId: jsii.String(s.ClientID),
			// A {{resolve:secretsmanager:...}} reference: CloudFormation reads the secret at deploy
			// time, so the value is in neither the template nor cdk.out.
			ClientSecret: s.ClientSecret.UnsafeUnwrap(),
			IssuerUrl:    jsii.String("https://login.microsoftonline.com/" + s.TenantID + "/v2.0"),
			Scopes:       jsii.Strings("openid", "email", "profile"),
			AttributeMapping: &awscognito.AttributeMapping{
				Email:    awscognito.ProviderAttribute_Other(jsii.String("email")),
				Fullname: awscognito.ProviderAttribute_Other(jsii.String("name")),
			},
			AttributeRequestMethod: awscognito.OidcAttributeRequestMethod_GET,
		})
		providers = append(providers, awscognito.UserPoolClientIdentityProvider_Custom(jsii.String(s.ProviderName)))
	}
	if p.DomainPrefix != "" {
		d.Domain = d.Pool.AddDomain(jsii.String("Domain"), &awscognito.UserPoolDomainOptions{
			CognitoDomain: &awscognito.CognitoDomainOptions{DomainPrefix: jsii.String(p.DomainPrefix)},
		})
	}

	if m := p.Machines; m != nil {
		scopes := make([]awscognito.ResourceServerScope, len(m.Scopes))
		for i, name := range m.Scopes {
			scopes[i] = awscognito.NewResourceServerScope(&awscognito.ResourceServerScopeProps{
				ScopeName: jsii.String(name),
				// Cognito requires a description; the name is what operators grant.
				ScopeDescription: jsii.String(name),
			})
		}
		d.ResourceServer = d.Pool.AddResourceServer(jsii.String("MachineScopes"), &awscognito.UserPoolResourceServerOptions{
			Identifier:                 jsii.String(m.Identifier),
			UserPoolResourceServerName: jsii.String(m.Name),
			Scopes:                     &scopes,
		})
	}

	opts := &awscognito.UserPoolClientOptions{
		UserPoolClientName: jsii.String(p.ClientName),
		GenerateSecret:     jsii.Bool(false),
		// Passwords reach Cognito (over TLS) only while users migrate: the UserMigration trigger
		// needs the password, which SRP never sends.
		AuthFlows:                  &awscognito.AuthFlow{UserSrp: jsii.Bool(true), UserPassword: jsii.Bool(p.Migration != nil)},
		AccessTokenValidity:        orDefault(p.AccessTokenValidity, awscdk.Duration_Hours(jsii.Number(1))),
		IdTokenValidity:            orDefault(p.IdTokenValidity, awscdk.Duration_Hours(jsii.Number(1))),
		RefreshTokenValidity:       orDefault(p.RefreshTokenValidity, awscdk.Duration_Days(jsii.Number(30))),
		EnableTokenRevocation:      jsii.Bool(true),
		PreventUserExistenceErrors: jsii.Bool(true),
		SupportedIdentityProviders: &providers,
		// legacy_sub is readable: it is a migrated user's Hasura user id, which their tokens carry
		// anyway, and a readable attribute cannot be missing from what a trigger is given.
		ReadAttributes: awscognito.NewClientAttributes().WithStandardAttributes(&awscognito.StandardAttributesMask{
			Email: jsii.Bool(true), EmailVerified: jsii.Bool(true), Fullname: jsii.Bool(true),
		}).WithCustomAttributes(jsii.String(LegacySubAttribute)),
		WriteAttributes: awscognito.NewClientAttributes().WithStandardAttributes(WritableAttributes(p.Entra != nil)),
	}
	if len(p.CallbackUrls) > 0 {
		logout := p.LogoutUrls
		if len(logout) == 0 {
			logout = p.CallbackUrls
		}
		opts.OAuth = &awscognito.OAuthSettings{
			Flows: &awscognito.OAuthFlows{AuthorizationCodeGrant: jsii.Bool(true)},
			// No aws.cognito.signin.user.admin: it would let users call Cognito's self-service APIs.
			Scopes:       &[]awscognito.OAuthScope{awscognito.OAuthScope_OPENID(), awscognito.OAuthScope_EMAIL(), awscognito.OAuthScope_PROFILE()},
			CallbackUrls: jsii.Strings(p.CallbackUrls...),
			LogoutUrls:   jsii.Strings(logout...),
		}
	} else {
		opts.DisableOAuth = jsii.Bool(true)
	}
	d.Client = d.Pool.AddClient(jsii.String("SpaClient"), opts)
	if d.Provider != nil {
		// CloudFormation must create the provider before a client can name it.
		d.Client.Node().AddDependency(d.Provider)
	}
	return d
}

// newMigration defines the UserMigration trigger and grants it exactly the two admin calls it
// makes, on the old pool only.
func newMigration(c constructs.Construct, p *Props, m *MigrationProps) *golambda.Function {
	fn := golambda.New(c, "UserMigration", &golambda.Props{
		Builder:     p.Lambdas,
		Package:     "lambda/usermigration",
		Description: "Cognito UserMigration trigger: moves a user of pool " + m.PoolID + " into this pool at sign-in or password reset",
		Environment: map[string]*string{
			"OLD_USER_POOL_ID":        jsii.String(m.PoolID),
			"OLD_USER_POOL_REGION":    jsii.String(m.Region),
			"OLD_USER_POOL_CLIENT_ID": jsii.String(m.ClientID),
		},
		// Two small API calls: memory buys CPU for TLS setup on a cold start, nothing more.
		MemoryMB:      256,
		Timeout:       awscdk.Duration_Seconds(jsii.Number(TriggerTimeout)),
		LogRetention:  p.LogRetention,
		RemovalPolicy: p.RemovalPolicy,
	})
	stack := awscdk.Stack_Of(c)
	fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("cognito-idp:AdminGetUser", "cognito-idp:AdminInitiateAuth"),
		// The old pool is in this account (config says so); its region may differ.
		Resources: jsii.Strings(*stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("cognito-idp"), Region: jsii.String(m.Region),
			Resource: jsii.String("userpool"), ResourceName: jsii.String(m.PoolID),
		})),
	}))
	return fn
}

// WritableAttributes is what users may change through the SPA client, written out because
// Cognito makes every standard attribute writable when the list is empty or missing. Users sign
// in with SRP, whose access tokens let them call UpdateUserAttributes themselves, so the list is
// one attribute, the display name, which no authorization decision reads. email stays read-only (claims are keyed by it),
// except with SSO, where Cognito writes the attributes mapped from Entra (email and name) through
// the client at each federated sign-in.
func WritableAttributes(federated bool) *awscognito.StandardAttributesMask {
	return &awscognito.StandardAttributesMask{Fullname: jsii.Bool(true), Email: jsii.Bool(federated)}
}

func orDefault(d, def awscdk.Duration) awscdk.Duration {
	if d == nil {
		return def
	}
	return d
}

// goDuration renders d the way the trigger parses it (a Go duration), in its shortest form:
// "5m" rather than "5m0s".
func goDuration(d awscdk.Duration) string {
	s := (time.Duration(*d.ToMilliseconds(nil)) * time.Millisecond).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
