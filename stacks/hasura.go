package stacks

import (
	"strings"
	"sync"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	elbv2 "github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsrds"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsssm"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/hasura-auth-cdk/hasuraauth/config"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/edge"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/golambda"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/hasuradb"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/hasuraservice"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/monitoring"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/nag"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/network"
	"github.com/hasura-auth-cdk/hasuraauth/stacks/names"
)

// HasuraStackProps configure the Hasura stack of an environment.
type HasuraStackProps struct {
	Common
	Identity *IdentityStack
}

// HasuraStack runs Hasura, trusting the identity stack's user pool.
type HasuraStack struct {
	awscdk.Stack
	Network  *network.Network
	Database *hasuradb.Database // nil with an existing database
	// DatabaseRotation rotates the created database's credentials; nil with an existing database.
	DatabaseRotation *golambda.Function
	Service          *hasuraservice.Service
	Monitoring       *monitoring.Monitoring
	Edge             *edge.Edge // nil without the WAF
}

// secretRotation is how often Secrets Manager rotates the admin secret and the database
// credentials.
var secretRotation = sync.OnceValue(func() awscdk.Duration { return awscdk.Duration_Days(jsii.Number(30)) })

// NewHasuraStack defines the network, database, Hasura service and load balancer.
func NewHasuraStack(scope constructs.Construct, id string, p *HasuraStackProps) *HasuraStack {
	c := p.Common
	stack := awscdk.NewStack(scope, jsii.String(id), c.stackProps("Hasura GraphQL Engine for "+c.Project+" "+c.Env.Name))
	// The event API key parameter is referenced by name; make the order explicit.
	stack.AddStackDependency(p.Identity.Stack, jsii.String("Hasura reads the event API key and trusts the user pool"))
	s := &HasuraStack{Stack: stack}
	// One scope for the network, database and service: their resources keep the logical IDs
	// they had when a single Hasura construct defined them all.
	h := constructs.NewConstruct(stack, jsii.String("Hasura"))

	s.Network = network.New(h, c.networkProps())
	var dbURL awsecs.Secret
	d := c.Env.Database
	if d.Create {
		s.Database = hasuradb.New(h, &hasuradb.Props{
			Vpc:                   s.Network.Vpc,
			Subnets:               s.Network.DatabaseSubnets,
			InstanceIdentifier:    c.resourceName("hasura"),
			CredentialsSecretName: c.secretName("database-credentials"),
			URLSecretName:         c.secretName("hasura-database-url"),
			Version:               awsrds.PostgresEngineVersion_Of(jsii.String(d.PostgresVersion), jsii.String(strings.SplitN(d.PostgresVersion, ".", 2)[0]), nil),
			InstanceType:          awsec2.NewInstanceType(jsii.String(d.InstanceType)),
			AllocatedStorage:      d.AllocatedStorage,
			MaxAllocatedStorage:   d.AllocatedStorage * config.StorageAutoscaling,
			MultiAz:               d.MultiAZ,
			BackupRetention:       awscdk.Duration_Days(jsii.Number(float64(d.BackupDays))),
			DeletionProtection:    c.Env.Production,
			RemovalPolicy:         c.removal(),
			LogRetention:          c.logRetention(),
		})
		if !c.Env.Production {
			nag.Suppress(s.Database.Instance, "AwsSolutions-RDS10", "Deletion protection is on in production; this environment is not production and may be deleted with its stack.")
		}
		if !d.MultiAZ {
			nag.Suppress(s.Database.Instance, "AwsSolutions-RDS3", "Single-AZ by this environment's config (database.multiAz); the production default is Multi-AZ.")
		}
		dbURL = awsecs.Secret_FromSecretsManager(s.Database.URLSecret, nil)
	} else if d.URLParameterName != "" {
		dbURL = awsecs.Secret_FromSsmParameter(awsssm.StringParameter_FromSecureStringParameterAttributes(h, jsii.String("DatabaseUrlParameter"), &awsssm.SecureStringParameterAttributes{
			ParameterName: jsii.String(d.URLParameterName),
		}))
	} else {
		dbURL = awsecs.Secret_FromSecretsManager(awssecretsmanager.Secret_FromSecretCompleteArn(h, jsii.String("DatabaseUrlSecret"), jsii.String(d.ConnectionSecretArn)), nil)
	}

	dir := p.Identity.Directory
	// ID tokens carry aud = the SPA client ID: pin it. Access tokens carry client_id instead.
	var audience *string
	if c.Env.Hasura.JWTToken == config.JWTTokenID {
		audience = dir.Client.UserPoolClientId()
	}
	hc := c.Env.Hasura
	var cert elbv2.IListenerCertificate
	if hc.CertificateArn != "" {
		cert = elbv2.ListenerCertificate_FromArn(jsii.String(hc.CertificateArn))
	}
	s.Service = hasuraservice.New(h, &hasuraservice.Props{
		Lambdas:         c.Lambdas,
		Vpc:             s.Network.Vpc,
		PublicSubnets:   s.Network.PublicSubnets,
		AppSubnets:      s.Network.AppSubnets,
		ClusterName:     c.resourceName("hasura"),
		ServiceName:     c.resourceName("hasura"),
		AdminSecretName: c.secretName("hasura-admin-secret"),
		Image:           awsecs.ContainerImage_FromRegistry(jsii.String(hc.Image), nil),
		Cpu:             hc.CPU,
		MemoryMiB:       hc.MemoryMiB,
		DesiredCount:    hc.DesiredCount,
		MinCount:        hc.MinCount,
		MaxCount:        hc.MaxCount,
		EnableConsole:   hc.EnableConsole,
		CorsOrigins:     c.Env.Cognito.Origins(),
		JwtIssuer: awscdk.Fn_Join(jsii.String(""), jsii.Strings(
			"https://cognito-idp.", *stack.Region(), ".amazonaws.com/", *dir.Pool.UserPoolId())),
		JwtAudience:     audience,
		DatabaseURL:     dbURL,
		Environment:     hc.Environment,
		Secrets:         containerSecrets(h, hc.Secrets),
		CpuArchitecture: cpuArchitecture(hc.CPUArchitecture),
		EventApiKey: awsssm.StringParameter_FromSecureStringParameterAttributes(h, jsii.String("EventApiKey"), &awsssm.SecureStringParameterAttributes{
			ParameterName: jsii.String(p.Identity.EventAPIKey.ParameterName),
		}),
		EventApiKeyEnvVar: c.Env.EventAPIKey.EnvVar,
		Certificate:       cert,
		// At least as long as the environment keeps its logs, and never less than 90 days.
		AccessLogExpiration: awscdk.Duration_Days(jsii.Number(float64(max(90, c.Env.LogRetentionDays)))),
		DeletionProtection:  c.Env.Production,
		AdminSecretRotation: secretRotation(),
		RemovalPolicy:       c.removal(),
		LogRetention:        c.logRetention(),
	})
	if s.Database != nil {
		s.Database.AllowFrom(s.Service.SecurityGroup, "PostgreSQL from Hasura")
		s.DatabaseRotation = s.Database.AddRotation(&hasuradb.RotationProps{
			Lambdas: c.Lambdas, Service: s.Service.Service, Subnets: s.Network.AppSubnets, Every: secretRotation(),
		})
	}

	output(stack, names.OutHasuraURL, s.Service.URL, "Hasura GraphQL endpoint base URL (append /v1/graphql)")
	output(stack, names.OutHasuraServiceName, s.Service.Service.ServiceName(), "ECS service running Hasura")
	output(stack, names.OutClusterName, s.Service.Cluster.ClusterName(), "ECS cluster")
	output(stack, names.OutHasuraAdminSecretArn, s.Service.AdminSecret.SecretArn(), "Secrets Manager secret holding HASURA_GRAPHQL_ADMIN_SECRET")
	s.Monitoring, s.Edge = operations(s, c, p.Identity)
	return s
}

// networkProps translates the environment's VPC settings: a created VPC, or one imported by IDs.
func (c Common) networkProps() *network.Props {
	v := c.Env.VPC
	p := &network.Props{LogRetention: c.logRetention(), RemovalPolicy: c.removal()}
	if !v.Create {
		p.Import = &awsec2.VpcAttributes{
			VpcId:             jsii.String(v.VpcID),
			AvailabilityZones: jsii.Strings(v.AvailabilityZones...),
			PublicSubnetIds:   jsii.Strings(v.PublicSubnetIDs...),
			PrivateSubnetIds:  jsii.Strings(v.PrivateSubnetIDs...),
		}
		return p
	}
	p.Cidr, p.MaxAzs, p.NatGateways = v.CIDR, v.MaxAZs, v.NATGateways
	p.PublicSubnetPrefix, p.AppSubnetPrefix, p.DatabaseSubnetPrefix = config.PublicSubnetPrefix, config.AppSubnetPrefix, config.DatabaseSubnetPrefix
	return p
}

// containerSecrets translates hasura.secrets: each variable reads an SSM parameter by name or a
// Secrets Manager secret by its complete ARN (and JSON key), so the execution role's grant names
// exactly that parameter or secret.
func containerSecrets(scope constructs.Construct, refs map[string]config.SecretRef) map[string]awsecs.Secret {
	out := map[string]awsecs.Secret{}
	for name, r := range refs {
		if r.Parameter != "" {
			out[name] = awsecs.Secret_FromSsmParameter(awsssm.StringParameter_FromSecureStringParameterAttributes(scope, jsii.String("Secret"+name), &awsssm.SecureStringParameterAttributes{
				ParameterName: jsii.String(r.Parameter),
			}))
			continue
		}
		var field *string
		if r.Field != "" {
			field = jsii.String(r.Field)
		}
		out[name] = awsecs.Secret_FromSecretsManager(awssecretsmanager.Secret_FromSecretCompleteArn(scope, jsii.String("Secret"+name), jsii.String(r.SecretArn)), field)
	}
	return out
}

// cpuArchitecture is the config's CPU in the CDK's terms (a function: the CDK values are jsii
// calls, which package initialization must not make).
func cpuArchitecture(a config.CPUArchitecture) awsecs.CpuArchitecture {
	if a == config.CPUARM64 {
		return awsecs.CpuArchitecture_ARM64()
	}
	return awsecs.CpuArchitecture_X86_64()
}
