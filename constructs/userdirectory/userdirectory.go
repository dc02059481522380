// Package userdirectory defines who can sign in: the Cognito user pool, its SPA client, optional
// Microsoft Entra ID single sign-on, and the pre-token trigger that puts Hasura claims in tokens.
package userdirectory

import (
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/hasura-auth-cdk/hasuraauth/config"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/claimsstore"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/golambda"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/nag"
)

// TriggerTimeout is the pre-token Lambda's timeout: Cognito waits 5 s at most (and retries),
// and the handler bounds its own work to 2.5 s.
const TriggerTimeout = 3

// Props configure the directory.
type Props struct {
	ModuleRoot  string
	Prefix      string // names the pool: <prefix>-users
	Cognito     config.Cognito
	KeyCacheTTL string
	// AllowUnboundClaims lets the trigger accept claims not sealed to their item (Moped's).
	AllowUnboundClaims bool
	MemoryMB           int
	Store              *claimsstore.Store
	Production         bool
	RemovalPolicy      awscdk.RemovalPolicy
	LogRetention       awslogs.RetentionDays
}

// Directory is the pool and what other constructs need of it.
type Directory struct {
	Pool     awscognito.UserPool
	Client   awscognito.UserPoolClient
	Provider awscognito.UserPoolIdentityProviderOidc
	PreToken *golambda.Function
}

// New defines the pool, client, optional SSO provider and the pre-token trigger.
func New(scope constructs.Construct, id string, p *Props) *Directory {
	c := constructs.NewConstruct(scope, jsii.String(id))
	d := &Directory{}

	mfa := map[string]awscognito.Mfa{"off": awscognito.Mfa_OFF, "optional": awscognito.Mfa_OPTIONAL, "required": awscognito.Mfa_REQUIRED}[p.Cognito.MFA]
	var second *awscognito.MfaSecondFactor
	if p.Cognito.MFA != "off" {
		second = &awscognito.MfaSecondFactor{Otp: jsii.Bool(true), Sms: jsii.Bool(false)}
	}
	plan, threat := awscognito.FeaturePlan_ESSENTIALS, awscognito.StandardThreatProtectionMode_NO_ENFORCEMENT
	switch p.Cognito.ThreatProtection {
	case "audit":
		plan, threat = awscognito.FeaturePlan_PLUS, awscognito.StandardThreatProtectionMode_AUDIT_ONLY
	case "enforced":
		plan, threat = awscognito.FeaturePlan_PLUS, awscognito.StandardThreatProtectionMode_FULL_FUNCTION
	}
	d.Pool = awscognito.NewUserPool(c, jsii.String("Pool"), &awscognito.UserPoolProps{
		UserPoolName: jsii.String(p.Prefix + "-users"),
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
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength: jsii.Number(12), RequireLowercase: jsii.Bool(true), RequireUppercase: jsii.Bool(true),
			RequireDigits: jsii.Bool(true), RequireSymbols: jsii.Bool(true),
			TempPasswordValidity: awscdk.Duration_Days(jsii.Number(3)),
			PasswordHistorySize:  jsii.Number(5),
		},
		Mfa:             mfa,
		MfaSecondFactor: second,
		AccountRecovery: awscognito.AccountRecovery_EMAIL_ONLY,
		// Essentials at least: V2_0 pre-token events and password history need it; Plus for threat protection.
		FeaturePlan:                  plan,
		StandardThreatProtectionMode: threat,
		DeletionProtection:           jsii.Bool(p.Production),
		RemovalPolicy:                p.RemovalPolicy,
	})

	if p.Cognito.ThreatProtection == "off" {
		nag.Suppress(d.Pool, "AwsSolutions-COG8", "Threat protection (Plus plan) is off by this environment's config (cognito.threatProtection); production cannot turn it off (config validation).")
	}

	env := map[string]*string{
		"CLAIMS_TABLE_NAME":    p.Store.Table.TableName(),
		"CLAIMS_KEY_SECRET_ID": p.Store.KeySecret.SecretArn(),
		"CLAIMS_KEY_CACHE_TTL": jsii.String(p.KeyCacheTTL),
		"CLAIMS_ALLOW_UNBOUND": jsii.String(strconv.FormatBool(p.AllowUnboundClaims)),
	}
	if s := p.Cognito.SSO; s != nil {
		// Federated users are accepted only through this provider and these domains.
		env["SSO_PROVIDER_NAME"] = jsii.String(s.ProviderName)
		env["SSO_ALLOWED_EMAIL_DOMAINS"] = jsii.String(strings.Join(s.AllowedEmailDomains, ","))
	}
	d.PreToken = golambda.New(c, "PreToken", &golambda.Props{
		ModuleRoot:    p.ModuleRoot,
		Package:       "lambda/pretoken",
		Description:   "Cognito pre-token trigger: adds the user's Hasura claims or refuses the token",
		Environment:   env,
		MemoryMB:      p.MemoryMB,
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
	version := awscognito.LambdaVersion_V2_0
	if p.Cognito.PreTokenVersion == "V1_0" {
		version = awscognito.LambdaVersion_V1_0
	}
	d.Pool.AddTrigger(awscognito.UserPoolOperation_PRE_TOKEN_GENERATION_CONFIG(), d.PreToken.Function, version)

	providers := []awscognito.UserPoolClientIdentityProvider{awscognito.UserPoolClientIdentityProvider_COGNITO()}
	if s := p.Cognito.SSO; s != nil {
		secret := awscdk.SecretValue_SecretsManager(jsii.String(s.ClientSecretArn), &awscdk.SecretsManagerSecretOptions{
			JsonField: optional(s.ClientSecretField),
		})
		d.Provider = awscognito.NewUserPoolIdentityProviderOidc(c, jsii.String("EntraId"), &awscognito.UserPoolIdentityProviderOidcProps{
			UserPool: d.Pool,
			Name:     jsii.String(s.ProviderName),
			ClientId: jsii.String(s.ClientID),
			// A {{resolve:secretsmanager:...}} reference: CloudFormation reads the secret at deploy
			// time, so the value is in neither the template nor cdk.out.
			ClientSecret: secret.UnsafeUnwrap(),
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
	if p.Cognito.DomainPrefix != "" {
		d.Pool.AddDomain(jsii.String("Domain"), &awscognito.UserPoolDomainOptions{
			CognitoDomain: &awscognito.CognitoDomainOptions{DomainPrefix: jsii.String(p.Cognito.DomainPrefix)},
		})
	}

	// Users may not rewrite their own attributes; attributes mapped from Entra must be writable
	// by the client, so with SSO only the mapped ones are (and an email change needs verifying).
	write := awscognito.NewClientAttributes()
	if p.Cognito.SSO != nil {
		write = write.WithStandardAttributes(&awscognito.StandardAttributesMask{Email: jsii.Bool(true), Fullname: jsii.Bool(true)})
	}
	opts := &awscognito.UserPoolClientOptions{
		UserPoolClientName:         jsii.String(p.Prefix + "-spa"),
		GenerateSecret:             jsii.Bool(false),
		AuthFlows:                  &awscognito.AuthFlow{UserSrp: jsii.Bool(true)},
		AccessTokenValidity:        awscdk.Duration_Minutes(jsii.Number(config.Duration(p.Cognito.AccessTokenValidity).Minutes())),
		IdTokenValidity:            awscdk.Duration_Minutes(jsii.Number(config.Duration(p.Cognito.IDTokenValidity).Minutes())),
		RefreshTokenValidity:       awscdk.Duration_Minutes(jsii.Number(config.Duration(p.Cognito.RefreshTokenValidity).Minutes())),
		EnableTokenRevocation:      jsii.Bool(true),
		PreventUserExistenceErrors: jsii.Bool(true),
		SupportedIdentityProviders: &providers,
		ReadAttributes: awscognito.NewClientAttributes().WithStandardAttributes(&awscognito.StandardAttributesMask{
			Email: jsii.Bool(true), EmailVerified: jsii.Bool(true), Fullname: jsii.Bool(true),
		}),
		WriteAttributes: write,
	}
	if len(p.Cognito.CallbackURLs) > 0 {
		logout := p.Cognito.LogoutURLs
		if len(logout) == 0 {
			logout = p.Cognito.CallbackURLs
		}
		opts.OAuth = &awscognito.OAuthSettings{
			Flows: &awscognito.OAuthFlows{AuthorizationCodeGrant: jsii.Bool(true)},
			// No aws.cognito.signin.user.admin: it would let users call Cognito's self-service APIs.
			Scopes:       &[]awscognito.OAuthScope{awscognito.OAuthScope_OPENID(), awscognito.OAuthScope_EMAIL(), awscognito.OAuthScope_PROFILE()},
			CallbackUrls: jsii.Strings(p.Cognito.CallbackURLs...),
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

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return jsii.String(s)
}
