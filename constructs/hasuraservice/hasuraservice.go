// Package hasuraservice defines Hasura GraphQL Engine on ECS Fargate behind an internet-facing
// ALB, with its database and secrets. Every secret reaches the container as an ECS secret.
package hasuraservice

import (
	"net/url"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapplicationautoscaling"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	elbv2 "github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsrds"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsssm"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/hasura-auth-cdk/hasuraauth/config"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/nag"
)

// ContainerPort is where graphql-engine listens.
const ContainerPort = 8080

// DatabasePort is PostgreSQL's port: not the default, so that scans for 5432 find nothing (the
// security group is what actually restricts it).
const DatabasePort = 5433

// dbPasswordExcludes keeps generated database passwords URL-safe, so they can sit in the
// postgres:// URL without encoding. What remains: letters, digits, '-', '_', '.', '~'.
const dbPasswordExcludes = " !\"#$%&'()*+,/:;<=>?@[\\]^`{|}"

// Props configure the service.
type Props struct {
	// ModuleRoot is where go.mod is, for the rotation Lambda's bundling.
	ModuleRoot string
	// Name prefixes resource names (<project>-<env>); SecretPrefix prefixes secret names (<project>/<env>).
	Name         string
	SecretPrefix string
	Hasura       config.Hasura
	VPC          config.VPC
	Database     config.Database
	// JWTSecret is the HASURA_GRAPHQL_JWT_SECRET JSON (see JWTSecret).
	JWTSecret *string
	// EventAPIKeyParameterName is injected as EventAPIKeyEnvVar for value_from_env.
	EventAPIKeyParameterName string
	EventAPIKeyEnvVar        string
	// CORSOrigins are the origins browsers may call from; empty leaves Hasura's default.
	CORSOrigins   []string
	Production    bool
	RemovalPolicy awscdk.RemovalPolicy
	LogRetention  awslogs.RetentionDays
}

// Service is what other constructs and the stack outputs need.
type Service struct {
	Vpc               awsec2.IVpc
	Cluster           awsecs.Cluster
	Service           awsecs.FargateService
	TaskDefinition    awsecs.FargateTaskDefinition
	LoadBalancer      elbv2.ApplicationLoadBalancer
	AdminSecret       awssecretsmanager.Secret
	DatabaseURLSecret awssecretsmanager.ISecret
	Database          awsrds.DatabaseInstance // nil with an existing database
	TargetGroup       elbv2.ApplicationTargetGroup
	// Rotations are the secret rotation functions by what they rotate ("admin-secret",
	// "database"), for the alarms on their errors.
	Rotations map[string]awslambda.IFunction
	// RotatedSecrets are the secrets those functions rotate, by the same names.
	RotatedSecrets map[string]awssecretsmanager.ISecret
	URL            *string
}

// JWTSecret renders Hasura's JWT configuration for a Cognito pool: RS256 keys from the pool's
// JWKS, the issuer pinned to the pool, claims as stringified JSON (Cognito V1 claims must be
// strings). audience, when set, is the app client ID; only ID tokens carry it.
func JWTSecret(scope constructs.Construct, region, poolID, audience *string) *string {
	issuer := awscdk.Fn_Join(jsii.String(""), jsii.Strings("https://cognito-idp.", *region, ".amazonaws.com/", *poolID))
	v := map[string]any{
		"type":          "RS256",
		"jwk_url":       awscdk.Fn_Join(jsii.String(""), jsii.Strings(*issuer, "/.well-known/jwks.json")),
		"claims_format": "stringified_json",
		"issuer":        issuer,
	}
	if audience != nil {
		v["audience"] = audience
	}
	return awscdk.Stack_Of(scope).ToJsonString(v, nil)
}

// New defines the network (or imports it), database, secrets, cluster, service and load balancer.
func New(scope constructs.Construct, id string, p *Props) *Service {
	c := constructs.NewConstruct(scope, jsii.String(id))
	s := &Service{}
	s.Vpc = network(c, p.VPC)
	flowLogs := awslogs.NewLogGroup(c, jsii.String("FlowLogs"), &awslogs.LogGroupProps{
		Retention: p.LogRetention, RemovalPolicy: p.RemovalPolicy,
	})
	awsec2.NewFlowLog(c, jsii.String("FlowLog"), &awsec2.FlowLogProps{
		ResourceType: awsec2.FlowLogResourceType_FromVpc(s.Vpc),
		Destination:  awsec2.FlowLogDestination_ToCloudWatchLogs(flowLogs, nil),
		TrafficType:  awsec2.FlowLogTrafficType_ALL,
	})

	appSubnets := &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS}
	dbSubnets := appSubnets
	if p.VPC.Create {
		dbSubnets = &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED}
	}

	albSG := awsec2.NewSecurityGroup(c, jsii.String("AlbSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc: s.Vpc, Description: jsii.String("Hasura ALB: HTTPS (and HTTP for the redirect) from the internet"),
		AllowAllOutbound: jsii.Bool(false),
	})
	svcSG := awsec2.NewSecurityGroup(c, jsii.String("ServiceSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc: s.Vpc, Description: jsii.String("Hasura tasks: port 8080 from the ALB only"),
		// Tasks pull the image from Docker Hub, reach Cognito's JWKS and call event webhooks.
		AllowAllOutbound: jsii.Bool(true),
	})
	https := p.Hasura.CertificateArn != ""
	if https {
		albSG.AddIngressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)), jsii.String("HTTPS from the internet"), nil)
	}
	albSG.AddIngressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(80)), jsii.String("HTTP from the internet (redirected to HTTPS when a certificate is set)"), nil)
	nag.Suppress(albSG, "AwsSolutions-EC23", "The internet-facing ALB must accept the internet, on 443 and on 80 (which only redirects to HTTPS when a certificate is set); nothing else is open (stacks tests).")
	svcSG.AddIngressRule(albSG, awsec2.Port_Tcp(jsii.Number(ContainerPort)), jsii.String("Hasura from the ALB"), nil)
	albSG.AddEgressRule(svcSG, awsec2.Port_Tcp(jsii.Number(ContainerPort)), jsii.String("ALB to Hasura"), nil)

	// Secrets.
	s.AdminSecret = awssecretsmanager.NewSecret(c, jsii.String("AdminSecret"), &awssecretsmanager.SecretProps{
		SecretName:  jsii.String(p.SecretPrefix + "/hasura-admin-secret"),
		Description: jsii.String("HASURA_GRAPHQL_ADMIN_SECRET"),
		// Letters and digits only: safe in headers, shells and URLs.
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{ExcludePunctuation: jsii.Bool(true), PasswordLength: jsii.Number(48)},
		RemovalPolicy:        p.RemovalPolicy,
	})
	var dbSG awsec2.ISecurityGroup
	if p.Database.Create {
		s.Database, s.DatabaseURLSecret, dbSG = database(c, p, s.Vpc, dbSubnets, svcSG)
	} else {
		s.DatabaseURLSecret = awssecretsmanager.Secret_FromSecretCompleteArn(c, jsii.String("DatabaseUrlSecret"), jsii.String(p.Database.ConnectionSecretArn))
	}
	apiKey := awsssm.StringParameter_FromSecureStringParameterAttributes(c, jsii.String("EventApiKey"), &awsssm.SecureStringParameterAttributes{
		ParameterName: jsii.String(p.EventAPIKeyParameterName),
	})

	// Cluster, task, service.
	s.Cluster = awsecs.NewCluster(c, jsii.String("Cluster"), &awsecs.ClusterProps{
		Vpc:                            s.Vpc,
		ClusterName:                    jsii.String(p.Name + "-hasura"),
		ContainerInsightsV2:            awsecs.ContainerInsights_ENABLED,
		EnableFargateCapacityProviders: jsii.Bool(true),
	})
	s.TaskDefinition = awsecs.NewFargateTaskDefinition(c, jsii.String("Task"), &awsecs.FargateTaskDefinitionProps{
		Cpu:            jsii.Number(float64(p.Hasura.CPU)),
		MemoryLimitMiB: jsii.Number(float64(p.Hasura.MemoryMiB)),
		RuntimePlatform: &awsecs.RuntimePlatform{
			CpuArchitecture:       awsecs.CpuArchitecture_X86_64(),
			OperatingSystemFamily: awsecs.OperatingSystemFamily_LINUX(),
		},
	})
	logGroup := awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention: p.LogRetention, RemovalPolicy: p.RemovalPolicy,
	})
	console := "false"
	if p.Hasura.EnableConsole && !p.Production {
		console = "true"
	}
	env := map[string]*string{
		"HASURA_GRAPHQL_JWT_SECRET":        p.JWTSecret,
		"HASURA_GRAPHQL_ENABLE_CONSOLE":    jsii.String(console),
		"HASURA_GRAPHQL_DEV_MODE":          jsii.String(console),
		"HASURA_GRAPHQL_ENABLE_TELEMETRY":  jsii.String("false"),
		"HASURA_GRAPHQL_ENABLED_LOG_TYPES": jsii.String("startup, http-log, webhook-log, websocket-log"),
		"HASURA_GRAPHQL_SERVER_PORT":       jsii.String("8080"),
	}
	if len(p.CORSOrigins) > 0 {
		env["HASURA_GRAPHQL_CORS_DOMAIN"] = jsii.String(strings.Join(p.CORSOrigins, ","))
	}
	s.TaskDefinition.AddContainer(jsii.String("hasura"), &awsecs.ContainerDefinitionOptions{
		Image:        awsecs.ContainerImage_FromRegistry(jsii.String(p.Hasura.Image), nil),
		Essential:    jsii.Bool(true),
		PortMappings: &[]*awsecs.PortMapping{{ContainerPort: jsii.Number(ContainerPort), Protocol: awsecs.Protocol_TCP}},
		Environment:  &env,
		// ECS reads these at task start with the execution role; they are never in the template.
		Secrets: &map[string]awsecs.Secret{
			"HASURA_GRAPHQL_ADMIN_SECRET": awsecs.Secret_FromSecretsManager(s.AdminSecret, nil),
			"HASURA_GRAPHQL_DATABASE_URL": awsecs.Secret_FromSecretsManager(s.DatabaseURLSecret, nil),
			p.EventAPIKeyEnvVar:           awsecs.Secret_FromSsmParameter(apiKey),
		},
		Logging: awsecs.LogDriver_AwsLogs(&awsecs.AwsLogDriverProps{
			StreamPrefix: jsii.String("hasura"), LogGroup: logGroup,
		}),
		ReadonlyRootFilesystem: jsii.Bool(false),
	})
	nag.Suppress(s.TaskDefinition, "AwsSolutions-ECS2", "The plain environment holds only non-secret settings (the JWT config of public JWKS URLs, console and log flags); every secret is an ECS secret (stacks tests).")
	s.Service = awsecs.NewFargateService(c, jsii.String("Service"), &awsecs.FargateServiceProps{
		Cluster:                s.Cluster,
		TaskDefinition:         s.TaskDefinition,
		ServiceName:            jsii.String(p.Name + "-hasura"),
		DesiredCount:           jsii.Number(float64(p.Hasura.DesiredCount)),
		MinHealthyPercent:      jsii.Number(100),
		MaxHealthyPercent:      jsii.Number(200),
		CircuitBreaker:         &awsecs.DeploymentCircuitBreaker{Enable: jsii.Bool(true), Rollback: jsii.Bool(true)},
		AssignPublicIp:         jsii.Bool(false),
		VpcSubnets:             appSubnets,
		SecurityGroups:         &[]awsec2.ISecurityGroup{svcSG},
		HealthCheckGracePeriod: awscdk.Duration_Seconds(jsii.Number(60)),
		EnableExecuteCommand:   jsii.Bool(false),
	})
	s.rotation(c, p, dbSG)
	scaling := s.Service.AutoScaleTaskCount(&awsapplicationautoscaling.EnableScalingProps{
		MinCapacity: jsii.Number(float64(p.Hasura.MinCount)),
		MaxCapacity: jsii.Number(float64(p.Hasura.MaxCount)),
	})
	scaling.ScaleOnCpuUtilization(jsii.String("Cpu"), &awsecs.CpuUtilizationScalingProps{TargetUtilizationPercent: jsii.Number(60)})

	// Load balancer.
	s.LoadBalancer = elbv2.NewApplicationLoadBalancer(c, jsii.String("Alb"), &elbv2.ApplicationLoadBalancerProps{
		Vpc:                     s.Vpc,
		InternetFacing:          jsii.Bool(true),
		SecurityGroup:           albSG,
		VpcSubnets:              &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PUBLIC},
		DropInvalidHeaderFields: jsii.Bool(true),
		DeletionProtection:      jsii.Bool(p.Production),
	})
	accessLogs := awss3.NewBucket(c, jsii.String("AccessLogs"), &awss3.BucketProps{
		// ALB access logs support SSE-S3 only.
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		LifecycleRules:    &[]*awss3.LifecycleRule{{Expiration: awscdk.Duration_Days(jsii.Number(accessLogDays(p)))}},
		// Logs are evidence: a stack deletion keeps them (they expire by the lifecycle rule).
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	nag.Suppress(accessLogs, "AwsSolutions-S1", "This bucket receives the ALB's access logs; logging its own accesses to another bucket would only move the same finding there.")
	s.LoadBalancer.LogAccessLogs(accessLogs, jsii.String("alb"))
	s.TargetGroup = elbv2.NewApplicationTargetGroup(c, jsii.String("Targets"), &elbv2.ApplicationTargetGroupProps{
		Vpc:        s.Vpc,
		Port:       jsii.Number(ContainerPort),
		Protocol:   elbv2.ApplicationProtocol_HTTP,
		TargetType: elbv2.TargetType_IP,
		Targets:    &[]elbv2.IApplicationLoadBalancerTarget{s.Service},
		HealthCheck: &elbv2.HealthCheck{
			Path: jsii.String("/healthz"), HealthyHttpCodes: jsii.String("200"),
			Interval: awscdk.Duration_Seconds(jsii.Number(15)), HealthyThresholdCount: jsii.Number(2),
		},
		DeregistrationDelay: awscdk.Duration_Seconds(jsii.Number(30)),
	})
	target := s.TargetGroup
	if https {
		s.LoadBalancer.AddListener(jsii.String("Https"), &elbv2.BaseApplicationListenerProps{
			Port: jsii.Number(443), Protocol: elbv2.ApplicationProtocol_HTTPS, Open: jsii.Bool(false),
			Certificates:        &[]elbv2.IListenerCertificate{elbv2.ListenerCertificate_FromArn(jsii.String(p.Hasura.CertificateArn))},
			SslPolicy:           elbv2.SslPolicy_RECOMMENDED_TLS,
			DefaultTargetGroups: &[]elbv2.IApplicationTargetGroup{target},
		})
		s.LoadBalancer.AddListener(jsii.String("Http"), &elbv2.BaseApplicationListenerProps{
			Port: jsii.Number(80), Protocol: elbv2.ApplicationProtocol_HTTP, Open: jsii.Bool(false),
			DefaultAction: elbv2.ListenerAction_Redirect(&elbv2.RedirectOptions{
				Protocol: jsii.String("HTTPS"), Port: jsii.String("443"), Permanent: jsii.Bool(true),
			}),
		})
		s.URL = jsii.String("https://" + *s.LoadBalancer.LoadBalancerDnsName())
	} else {
		// Staging without a certificate only (production requires one: config validation).
		s.LoadBalancer.AddListener(jsii.String("Http"), &elbv2.BaseApplicationListenerProps{
			Port: jsii.Number(80), Protocol: elbv2.ApplicationProtocol_HTTP, Open: jsii.Bool(false),
			DefaultTargetGroups: &[]elbv2.IApplicationTargetGroup{target},
		})
		s.URL = jsii.String("http://" + *s.LoadBalancer.LoadBalancerDnsName())
	}
	return s
}

// accessLogDays keeps ALB access logs at least as long as the environment's log retention.
func accessLogDays(p *Props) float64 {
	if p.Production {
		return 365
	}
	return 90
}

func network(c constructs.Construct, v config.VPC) awsec2.IVpc {
	if !v.Create {
		// By IDs from config: no context lookup, so synth needs no credentials.
		vpc := awsec2.Vpc_FromVpcAttributes(c, jsii.String("Vpc"), &awsec2.VpcAttributes{
			VpcId:             jsii.String(v.VpcID),
			AvailabilityZones: jsii.Strings(v.AvailabilityZones...),
			PublicSubnetIds:   jsii.Strings(v.PublicSubnetIDs...),
			PrivateSubnetIds:  jsii.Strings(v.PrivateSubnetIDs...),
		})
		awscdk.Annotations_Of(vpc).AcknowledgeWarning(jsii.String("@aws-cdk/aws-ec2:noSubnetRouteTableId"),
			jsii.String("the stack places resources in imported subnets and never reads their route tables"))
		return vpc
	}
	return awsec2.NewVpc(c, jsii.String("Vpc"), &awsec2.VpcProps{
		IpAddresses: awsec2.IpAddresses_Cidr(jsii.String(v.CIDR)),
		MaxAzs:      jsii.Number(float64(v.MaxAZs)),
		NatGateways: jsii.Number(float64(v.NATGateways)),
		SubnetConfiguration: &[]*awsec2.SubnetConfiguration{
			{Name: jsii.String("public"), SubnetType: awsec2.SubnetType_PUBLIC, CidrMask: jsii.Number(24)},
			{Name: jsii.String("app"), SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS, CidrMask: jsii.Number(22)},
			{Name: jsii.String("db"), SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED, CidrMask: jsii.Number(24)},
		},
		RestrictDefaultSecurityGroup: jsii.Bool(true),
	})
}

func database(c constructs.Construct, p *Props, vpc awsec2.IVpc, subnets *awsec2.SubnetSelection, clients awsec2.ISecurityGroup) (awsrds.DatabaseInstance, awssecretsmanager.ISecret, awsec2.ISecurityGroup) {
	major := strings.SplitN(p.Database.PostgresVersion, ".", 2)[0]
	sg := awsec2.NewSecurityGroup(c, jsii.String("DatabaseSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc: vpc, Description: jsii.String("Hasura database: PostgreSQL from the Hasura tasks only"), AllowAllOutbound: jsii.Bool(false),
	})
	sg.AddIngressRule(clients, awsec2.Port_Tcp(jsii.Number(DatabasePort)), jsii.String("PostgreSQL from Hasura"), nil)
	removal := p.RemovalPolicy
	identifier := p.Name + "-hasura"
	// RDS would create this log group without retention; creating it first sets retention
	// without CDK's LogRetention custom resource (a Lambda allowed to change any log group).
	logs := awslogs.NewLogGroup(c, jsii.String("DatabaseLogs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("/aws/rds/instance/" + identifier + "/postgresql"),
		Retention:     p.LogRetention,
		RemovalPolicy: removal,
	})
	db := awsrds.NewDatabaseInstance(c, jsii.String("Database"), &awsrds.DatabaseInstanceProps{
		InstanceIdentifier: jsii.String(identifier),
		Port:               jsii.Number(DatabasePort),
		Engine: awsrds.DatabaseInstanceEngine_Postgres(&awsrds.PostgresInstanceEngineProps{
			Version: awsrds.PostgresEngineVersion_Of(jsii.String(p.Database.PostgresVersion), jsii.String(major), nil),
		}),
		InstanceType:   awsec2.NewInstanceType(jsii.String(p.Database.InstanceType)),
		Vpc:            vpc,
		VpcSubnets:     subnets,
		SecurityGroups: &[]awsec2.ISecurityGroup{sg},
		Credentials: awsrds.Credentials_FromGeneratedSecret(jsii.String("hasura"), &awsrds.CredentialsBaseOptions{
			SecretName:        jsii.String(p.SecretPrefix + "/database-credentials"),
			ExcludeCharacters: jsii.String(dbPasswordExcludes),
		}),
		DatabaseName:              jsii.String(DatabaseName),
		AllocatedStorage:          jsii.Number(float64(p.Database.AllocatedStorage)),
		MaxAllocatedStorage:       jsii.Number(float64(p.Database.AllocatedStorage * 4)),
		StorageEncrypted:          jsii.Bool(true),
		MultiAz:                   jsii.Bool(p.Database.MultiAZ),
		BackupRetention:           awscdk.Duration_Days(jsii.Number(float64(p.Database.BackupDays))),
		DeletionProtection:        jsii.Bool(p.Production),
		RemovalPolicy:             removal,
		PubliclyAccessible:        jsii.Bool(false),
		AutoMinorVersionUpgrade:   jsii.Bool(true),
		EnablePerformanceInsights: jsii.Bool(false),
		CloudwatchLogsExports:     jsii.Strings("postgresql"),
		IamAuthentication:         jsii.Bool(false),
	})
	db.Node().AddDependency(logs)
	// CDK does not give the generated credentials the instance's removal policy.
	db.Node().FindChild(jsii.String("Secret")).Node().DefaultChild().(awscdk.CfnResource).ApplyRemovalPolicy(removal, nil)
	if !p.Production {
		nag.Suppress(db, "AwsSolutions-RDS10", "Deletion protection is on in production; this environment is not production and may be deleted with its stack.")
	}
	if !p.Database.MultiAZ {
		nag.Suppress(db, "AwsSolutions-RDS3", "Single-AZ by this environment's config (database.multiAz); the production default is Multi-AZ.")
	}
	creds := db.Secret()
	// The URL secret is assembled by CloudFormation from dynamic references to the generated
	// credentials: the template holds {{resolve:...}} references, never the password.
	url := awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("postgres://"),
		creds.SecretValueFromJson(jsii.String("username")).UnsafeUnwrap(), jsii.String(":"),
		creds.SecretValueFromJson(jsii.String("password")).UnsafeUnwrap(), jsii.String("@"),
		db.DbInstanceEndpointAddress(), jsii.String(":"), db.DbInstanceEndpointPort(),
		jsii.String("/" + DatabaseName),
	})
	urlSecret := awssecretsmanager.NewSecret(c, jsii.String("DatabaseUrlSecret"), &awssecretsmanager.SecretProps{
		SecretName:        jsii.String(p.SecretPrefix + "/hasura-database-url"),
		Description:       jsii.String("HASURA_GRAPHQL_DATABASE_URL, built at deploy time from the generated database credentials"),
		SecretStringValue: awscdk.NewSecretValue(url, nil),
		RemovalPolicy:     removal,
	})
	return db, urlSecret, sg
}

// Origins returns the distinct scheme://host[:port] of urls, sorted: Hasura's CORS list.
func Origins(urls []string) []string {
	seen := map[string]bool{}
	for _, u := range urls {
		parsed, err := url.Parse(u)
		if err != nil || parsed.Host == "" {
			continue
		}
		seen[parsed.Scheme+"://"+parsed.Host] = true
	}
	out := make([]string, 0, len(seen))
	for o := range seen {
		out = append(out, o)
	}
	sort.Strings(out)
	return out
}
