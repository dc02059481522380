package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/hasura-auth-cdk/hasuraauth/constructs/edge"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/hasuraservice"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/monitoring"
)

// HasuraStackProps configure the Hasura stack of an environment.
type HasuraStackProps struct {
	Common
	Identity *IdentityStack
}

// HasuraStack runs Hasura, trusting the identity stack's user pool.
type HasuraStack struct {
	awscdk.Stack
	Service    *hasuraservice.Service
	Monitoring *monitoring.Monitoring
	Edge       *edge.Edge // nil without the WAF
}

// NewHasuraStack defines the network, database, Hasura service and load balancer.
func NewHasuraStack(scope constructs.Construct, id string, p *HasuraStackProps) *HasuraStack {
	c := p.Common
	stack := awscdk.NewStack(scope, jsii.String(id), c.stackProps("Hasura GraphQL Engine for "+c.Project+" "+c.Env.Name))
	// The event API key parameter is referenced by name; make the order explicit.
	stack.AddStackDependency(p.Identity.Stack, jsii.String("Hasura reads the event API key and trusts the user pool"))

	dir := p.Identity.Directory
	var audience *string
	if c.Env.Hasura.JWTToken == "id" {
		audience = dir.Client.UserPoolClientId()
	}
	svc := hasuraservice.New(stack, "Hasura", &hasuraservice.Props{
		ModuleRoot:               c.ModuleRoot,
		Name:                     c.prefix(),
		SecretPrefix:             c.Project + "/" + c.Env.Name,
		Hasura:                   c.Env.Hasura,
		VPC:                      c.Env.VPC,
		Database:                 c.Env.Database,
		JWTSecret:                hasuraservice.JWTSecret(stack, stack.Region(), dir.Pool.UserPoolId(), audience),
		EventAPIKeyParameterName: p.Identity.EventAPIKey.ParameterName,
		EventAPIKeyEnvVar:        c.Env.EventAPIKey.EnvVar,
		CORSOrigins:              hasuraservice.Origins(c.Env.Cognito.CallbackURLs),
		Production:               c.Env.Production,
		RemovalPolicy:            c.removal(),
		LogRetention:             c.logRetention(),
	})
	output(stack, OutHasuraURL, svc.URL, "Hasura GraphQL endpoint base URL (append /v1/graphql)")
	output(stack, OutHasuraServiceName, svc.Service.ServiceName(), "ECS service running Hasura")
	output(stack, OutClusterName, svc.Cluster.ClusterName(), "ECS cluster")
	output(stack, OutHasuraAdminSecretArn, svc.AdminSecret.SecretArn(), "Secrets Manager secret holding HASURA_GRAPHQL_ADMIN_SECRET")
	mon, waf := operations(stack, c, p.Identity, svc)
	return &HasuraStack{Stack: stack, Service: svc, Monitoring: mon, Edge: waf}
}
