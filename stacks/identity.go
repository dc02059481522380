package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/hasura-auth-cdk/hasuraauth/constructs/claimsstore"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/eventapikey"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/monitoring"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/secretgen"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/userdirectory"
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
		ModuleRoot: c.ModuleRoot, LogRetention: c.logRetention(), RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	s.Store = claimsstore.New(stack, "Claims", &claimsstore.Props{
		Prefix: c.Project + "/" + c.Env.Name, Generator: s.Generator,
		RemovalPolicy: c.removal(), Production: c.Env.Production,
	})
	s.Directory = userdirectory.New(stack, "Users", &userdirectory.Props{
		ModuleRoot:         c.ModuleRoot,
		Prefix:             c.prefix(),
		Cognito:            c.Env.Cognito,
		KeyCacheTTL:        c.Env.Claims.KeyCacheTTL,
		AllowUnboundClaims: c.Env.Claims.AllowUnbound,
		MemoryMB:           c.Env.Claims.LambdaMemoryMB,
		Store:              s.Store,
		Production:         c.Env.Production,
		RemovalPolicy:      c.removal(),
		LogRetention:       c.logRetention(),
	})
	if c.Env.Cognito.ThreatProtection != "off" {
		// Threat protection (Plus plan) is what makes Cognito export user-authentication events.
		s.AuthLogs = monitoring.NewUserAuthLogs(stack, "UserAuthLogs", &monitoring.UserAuthLogsProps{
			UserPool: s.Directory.Pool, Name: c.prefix(),
			LogRetention: c.logRetention(), RemovalPolicy: c.removal(),
		})
	}
	s.EventAPIKey = eventapikey.New(stack, "EventApiKey", &eventapikey.Props{
		Generator:     s.Generator,
		ParameterName: c.Env.EventAPIKeyParameterName(c.Project),
		Retain:        c.Env.Removal == "retain",
	})

	pool := s.Directory.Pool
	output(stack, OutUserPoolID, pool.UserPoolId(), "Cognito user pool ID")
	output(stack, OutUserPoolClientID, s.Directory.Client.UserPoolClientId(), "SPA app client ID (public, SRP)")
	output(stack, OutJwksURL, jsii.String("https://cognito-idp."+c.Env.Region+".amazonaws.com/"+*pool.UserPoolId()+"/.well-known/jwks.json"), "JWKS URL Hasura verifies tokens with")
	output(stack, OutClaimsTableName, s.Store.Table.TableName(), "DynamoDB table of encrypted Hasura claims, keyed by lower-cased email")
	output(stack, OutClaimsKeySecretArn, s.Store.KeySecret.SecretArn(), "Secrets Manager secret holding the Fernet key ring")
	output(stack, OutEventAPIKeyParameterName, s.EventAPIKey.Resource.Ref(), "SSM SecureString parameter holding the event API key")
	return s
}
