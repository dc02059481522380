package stacks

import (
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/hasura-auth-cdk/hasuraauth/config"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/claimsstore"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/eventapikey"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/monitoring"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/nag"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/secretgen"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/userdirectory"
	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
	"github.com/hasura-auth-cdk/hasuraauth/stacks/names"
)

// IdentityStackProps configure the stateful stack of an environment.
type IdentityStackProps struct {
	Common
}

// IdentityStack holds users, their claims and the keys: everything a stack deletion must not lose
// in production.
type IdentityStack struct {
	awscdk.Stack
	Directory   *userdirectory.Directory
	Store       *claimsstore.Store
	EventAPIKey *eventapikey.Key
	Generator   *secretgen.Generator
	// AuthLogs receives Cognito's user-authentication events; nil without threat protection.
	AuthLogs *monitoring.UserAuthLogs
}

// NewIdentityStack defines the user pool, claims store, pre-token trigger and event API key.
func NewIdentityStack(scope constructs.Construct, id string, p *IdentityStackProps) *IdentityStack {
	c := p.Common
	stack := awscdk.NewStack(scope, jsii.String(id), c.stackProps(
		"Users, Hasura claims and keys for "+c.Project+" "+c.Env.Name+" (stateful)"))
	s := &IdentityStack{Stack: stack}

	s.Generator = secretgen.New(stack, "SecretGenerator", &secretgen.Props{
		Lambdas: c.Lambdas, LogRetention: c.logRetention(), RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	s.Store = claimsstore.New(stack, "Claims", &claimsstore.Props{
		PartitionKey:       claims.AttrUserID,
		KeySecretName:      c.secretName("claims-key"),
		Generator:          s.Generator,
		RemovalPolicy:      c.removal(),
		DeletionProtection: c.Env.Production,
	})
	s.Directory = userdirectory.New(stack, "Users", c.directoryProps(s.Store))
	if c.Env.Cognito.ThreatProtection == config.ThreatProtectionOff {
		nag.Suppress(s.Directory.Pool, "AwsSolutions-COG8", "Threat protection (Plus plan) is off by this environment's config (cognito.threatProtection); production cannot turn it off (config validation).")
	} else {
		// Threat protection (Plus plan) is what makes Cognito export user-authentication events.
		s.AuthLogs = monitoring.NewUserAuthLogs(stack, "UserAuthLogs", &monitoring.UserAuthLogsProps{
			UserPool: s.Directory.Pool, Name: c.Project + "-" + c.Env.Name,
			LogRetention: c.logRetention(), RemovalPolicy: c.removal(),
		})
	}
	s.EventAPIKey = eventapikey.New(stack, "EventApiKey", &eventapikey.Props{
		Generator:     s.Generator,
		ParameterName: c.Env.EventAPIKey.ParameterName,
		Retain:        c.Env.Removal == config.RemovalRetain,
	})

	pool := s.Directory.Pool
	output(stack, names.OutUserPoolID, pool.UserPoolId(), "Cognito user pool ID")
	output(stack, names.OutUserPoolClientID, s.Directory.Client.UserPoolClientId(), "SPA app client ID (public, SRP)")
	output(stack, names.OutJwksURL, jsii.String("https://cognito-idp."+c.Env.Region+".amazonaws.com/"+*pool.UserPoolId()+"/.well-known/jwks.json"), "JWKS URL Hasura verifies tokens with")
	output(stack, names.OutClaimsTableName, s.Store.Table.TableName(), "DynamoDB table of encrypted Hasura claims, keyed by lower-cased email")
	output(stack, names.OutClaimsKeySecretArn, s.Store.KeySecret.SecretArn(), "Secrets Manager secret holding the Fernet key ring")
	output(stack, names.OutEventAPIKeyParameterName, s.EventAPIKey.Resource.Ref(), "SSM SecureString parameter holding the event API key")
	if s.Directory.ResourceServer != nil {
		output(stack, names.OutMachineResourceServer, jsii.String(config.MachineResourceServer), "Resource server declaring the machine scopes (granted scopes read <identifier>/<scope>)")
		output(stack, names.OutTokenEndpoint, jsii.String(*s.Directory.Domain.BaseUrl(nil)+"/oauth2/token"), "OAuth token endpoint where machine clients get access tokens (client-credentials grant)")
		m := c.Env.MachineAccess
		tiers := make([]string, 0, len(m.Tiers))
		for t, role := range m.Tiers {
			tiers = append(tiers, t+"="+role)
		}
		sort.Strings(tiers)
		output(stack, names.OutMachineTiers, jsii.String(strings.Join(tiers, ",")), "Machine client tiers and their Hasura roles (tier=role), for claimsctl client add")
		output(stack, names.OutMachineDefaultValidity, jsii.String(m.DefaultValidity.String()), "Access token validity of a new machine client unless claimsctl client add --validity says otherwise")
		output(stack, names.OutMachineClientSecretPrefix, jsii.String(c.secretName("clients/")), "Name prefix of the Secrets Manager secrets claimsctl keeps machine client secrets in")
	}
	return s
}

// directoryProps translates the environment's Cognito and claims settings.
func (c Common) directoryProps(store *claimsstore.Store) *userdirectory.Props {
	cg := c.Env.Cognito
	p := &userdirectory.Props{
		Lambdas:              c.Lambdas,
		PoolName:             c.resourceName("users"),
		ClientName:           c.resourceName("spa"),
		Store:                store,
		Mfa:                  mfa[cg.MFA],
		ThreatProtection:     threatProtection[cg.ThreatProtection],
		TriggerVersion:       triggerVersion[cg.PreTokenVersion],
		DomainPrefix:         cg.DomainPrefix,
		CallbackUrls:         cg.CallbackURLs,
		LogoutUrls:           cg.LogoutURLs,
		AccessTokenValidity:  minutes(cg.AccessTokenValidity),
		IdTokenValidity:      minutes(cg.IDTokenValidity),
		RefreshTokenValidity: minutes(cg.RefreshTokenValidity),
		KeyCacheTTL:          awscdk.Duration_Millis(jsii.Number(float64(c.Env.Claims.KeyCacheTTL.Milliseconds()))),
		AllowUnboundClaims:   c.Env.Claims.AllowUnbound,
		MemoryMB:             c.Env.Claims.LambdaMemoryMB,
		DeletionProtection:   c.Env.Production,
		RemovalPolicy:        c.removal(),
		LogRetention:         c.logRetention(),
	}
	if m := c.Env.MachineAccess; m != nil {
		p.Machines = &userdirectory.MachineProps{
			Identifier: config.MachineResourceServer,
			Name:       c.resourceName("machines"),
			Scopes:     m.Scopes,
			Tiers:      m.Tiers,
		}
	}
	if m := cg.MigrateFrom; m != nil {
		p.Migration = &userdirectory.MigrationProps{PoolID: m.UserPoolID, Region: m.Region, ClientID: m.ClientID}
	}
	if s := cg.SSO; s != nil {
		var field *string
		if s.ClientSecretField != "" {
			field = jsii.String(s.ClientSecretField)
		}
		p.Entra = &userdirectory.EntraProps{
			ProviderName:        s.ProviderName,
			TenantID:            s.TenantID,
			ClientID:            s.ClientID,
			AllowedEmailDomains: s.AllowedEmailDomains,
			ClientSecret:        awscdk.SecretValue_SecretsManager(jsii.String(s.ClientSecretArn), &awscdk.SecretsManagerSecretOptions{JsonField: field}),
		}
	}
	return p
}

// The config vocabulary in the CDK's terms (config validation admits no other values).
var (
	mfa = map[config.MFA]awscognito.Mfa{
		config.MFAOff: awscognito.Mfa_OFF, config.MFAOptional: awscognito.Mfa_OPTIONAL, config.MFARequired: awscognito.Mfa_REQUIRED,
	}
	threatProtection = map[config.ThreatProtection]awscognito.StandardThreatProtectionMode{
		config.ThreatProtectionOff:      awscognito.StandardThreatProtectionMode_NO_ENFORCEMENT,
		config.ThreatProtectionAudit:    awscognito.StandardThreatProtectionMode_AUDIT_ONLY,
		config.ThreatProtectionEnforced: awscognito.StandardThreatProtectionMode_FULL_FUNCTION,
	}
	triggerVersion = map[config.PreTokenVersion]awscognito.LambdaVersion{
		config.PreTokenV1: awscognito.LambdaVersion_V1_0, config.PreTokenV2: awscognito.LambdaVersion_V2_0,
		config.PreTokenV3: awscognito.LambdaVersion_V3_0,
	}
)

// minutes converts a validated token validity (whole minutes) to the CDK's Duration.
func minutes(d config.Duration) awscdk.Duration {
	return awscdk.Duration_Minutes(jsii.Number(d.Minutes()))
}
