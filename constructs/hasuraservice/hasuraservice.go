// Package hasuraservice defines Hasura GraphQL Engine on ECS Fargate behind an internet-facing
// ALB: the cluster, task, service and its scaling, the load balancer with its access logs, and
// the admin secret with its rotation. Every secret reaches the container as an ECS secret.
package hasuraservice

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapplicationautoscaling"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	elbv2 "github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsssm"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/hasura-auth-cdk/hasuraauth/constructs/golambda"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/nag"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/rotation"
)

// ContainerPort is where graphql-engine listens.
const ContainerPort = 8080

// HealthPath is the health check of the container and of the load balancer: with strict=true,
// graphql-engine answers 500 while its metadata is inconsistent (plain /healthz answers 200 with
// a warning).
const HealthPath = "/healthz?strict=true"

// ProjectVars are the container variables the service sets itself, besides EventApiKeyEnvVar.
var ProjectVars = []string{
	"HASURA_GRAPHQL_ADMIN_SECRET", "HASURA_GRAPHQL_JWT_SECRET", "HASURA_GRAPHQL_DATABASE_URL",
	"HASURA_GRAPHQL_ENABLE_CONSOLE", "HASURA_GRAPHQL_DEV_MODE", "HASURA_GRAPHQL_ENABLE_TELEMETRY",
	"HASURA_GRAPHQL_ENABLED_LOG_TYPES", "HASURA_GRAPHQL_SERVER_PORT", "HASURA_GRAPHQL_CORS_DOMAIN",
}

// Props configure the service. Zero values take the defaults named on each field.
type Props struct {
	// Lambdas compiles the admin secret rotation. Required.
	Lambdas golambda.Builder
	// Vpc holds everything; PublicSubnets the load balancer; AppSubnets the tasks and the
	// rotation function (private, with a route to Docker Hub and AWS APIs). Required.
	Vpc           awsec2.IVpc
	PublicSubnets *awsec2.SubnetSelection
	AppSubnets    *awsec2.SubnetSelection
	// ClusterName, ServiceName and AdminSecretName name those resources. Required.
	ClusterName     string
	ServiceName     string
	AdminSecretName string

	// Image is hasura/graphql-engine at a pinned version. Required.
	Image awsecs.ContainerImage
	// Cpu and MemoryMiB size each task (a Fargate pair). Defaults: 512 and 1024.
	Cpu       int
	MemoryMiB int
	// DesiredCount, MinCount and MaxCount are the task counts; scaling tracks 60% CPU between
	// the last two. Defaults: 1, 1 and 2.
	DesiredCount int
	MinCount     int
	MaxCount     int
	// EnableConsole turns on the Hasura console and dev mode.
	EnableConsole bool
	// CorsOrigins are the origins browsers may call from; empty leaves Hasura's default.
	CorsOrigins []string

	// JwtIssuer is the OIDC issuer whose tokens Hasura accepts; its keys are at
	// <issuer>/.well-known/jwks.json. Required. JwtAudience, when set, must be the tokens' aud.
	JwtIssuer   *string
	JwtAudience *string
	// DatabaseURL is where ECS reads HASURA_GRAPHQL_DATABASE_URL (a postgres:// URL) from: a
	// Secrets Manager secret or an SSM SecureString. Required.
	DatabaseURL awsecs.Secret
	// EventApiKey is injected as EventApiKeyEnvVar, for event triggers' value_from_env. Required.
	EventApiKey       awsssm.IParameter
	EventApiKeyEnvVar string

	// Environment adds plain container variables; Secrets adds variables ECS reads at task
	// start (the execution role may read exactly those). Neither may name a variable the
	// service sets itself (ProjectVars, or EventApiKeyEnvVar): New panics if one does.
	Environment map[string]string
	Secrets     map[string]awsecs.Secret
	// CpuArchitecture is the task's CPU. Default: x86_64.
	CpuArchitecture awsecs.CpuArchitecture

	// Certificate, when set, serves HTTPS with it and redirects HTTP; without one the load
	// balancer serves plain HTTP.
	Certificate elbv2.IListenerCertificate
	// AccessLogExpiration is how long ALB access logs are kept. Default: 90 days.
	AccessLogExpiration awscdk.Duration
	// DeletionProtection protects the load balancer from deletion.
	DeletionProtection bool
	// AdminSecretRotation is the admin secret's rotation schedule. Default: 30 days.
	AdminSecretRotation awscdk.Duration
	// RemovalPolicy applies to the admin secret and the log groups. Default: CDK's.
	RemovalPolicy awscdk.RemovalPolicy
	// LogRetention applies to the container's and the rotation's log groups. Default: CDK's.
	LogRetention awslogs.RetentionDays
}

// Service is what other constructs and the stack outputs need.
type Service struct {
	Cluster        awsecs.Cluster
	Service        awsecs.FargateService
	TaskDefinition awsecs.FargateTaskDefinition
	// SecurityGroup is the tasks'; a database admits it.
	SecurityGroup awsec2.SecurityGroup
	LoadBalancer  elbv2.ApplicationLoadBalancer
	TargetGroup   elbv2.ApplicationTargetGroup
	AdminSecret   awssecretsmanager.Secret
	// AdminSecretRotation is the function rotating AdminSecret.
	AdminSecretRotation *golambda.Function
	URL                 *string
}

// New defines the service in scope. It adds no construct level of its own, so the logical IDs
// of deployed resources did not move when the Hasura construct was split.
func New(scope constructs.Construct, p *Props) *Service {
	c := scope
	s := &Service{}

	albSG := awsec2.NewSecurityGroup(c, jsii.String("AlbSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc: p.Vpc, Description: jsii.String("Hasura ALB: HTTPS (and HTTP for the redirect) from the internet"),
		AllowAllOutbound: jsii.Bool(false),
	})
	s.SecurityGroup = awsec2.NewSecurityGroup(c, jsii.String("ServiceSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc: p.Vpc, Description: jsii.String(fmt.Sprintf("Hasura tasks: port %d from the ALB only", ContainerPort)),
		// Tasks pull the image from Docker Hub, reach Cognito's JWKS and call event webhooks.
		AllowAllOutbound: jsii.Bool(true),
	})
	https := p.Certificate != nil
	if https {
		albSG.AddIngressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)), jsii.String("HTTPS from the internet"), nil)
	}
	albSG.AddIngressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(80)), jsii.String("HTTP from the internet (redirected to HTTPS when a certificate is set)"), nil)
	nag.Suppress(albSG, "AwsSolutions-EC23", "The internet-facing ALB must accept the internet, on 443 and on 80 (which only redirects to HTTPS when a certificate is set); nothing else is open (stacks tests).")
	s.SecurityGroup.AddIngressRule(albSG, awsec2.Port_Tcp(jsii.Number(ContainerPort)), jsii.String("Hasura from the ALB"), nil)
	albSG.AddEgressRule(s.SecurityGroup, awsec2.Port_Tcp(jsii.Number(ContainerPort)), jsii.String("ALB to Hasura"), nil)

	s.AdminSecret = awssecretsmanager.NewSecret(c, jsii.String("AdminSecret"), &awssecretsmanager.SecretProps{
		SecretName:  jsii.String(p.AdminSecretName),
		Description: jsii.String("HASURA_GRAPHQL_ADMIN_SECRET"),
		// Letters and digits only: safe in headers, shells and URLs.
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{ExcludePunctuation: jsii.Bool(true), PasswordLength: jsii.Number(48)},
		RemovalPolicy:        p.RemovalPolicy,
	})

	s.Cluster = awsecs.NewCluster(c, jsii.String("Cluster"), &awsecs.ClusterProps{
		Vpc:                            p.Vpc,
		ClusterName:                    jsii.String(p.ClusterName),
		ContainerInsightsV2:            awsecs.ContainerInsights_ENABLED,
		EnableFargateCapacityProviders: jsii.Bool(true),
	})
	arch := p.CpuArchitecture
	if arch == nil {
		arch = awsecs.CpuArchitecture_X86_64()
	}
	s.TaskDefinition = awsecs.NewFargateTaskDefinition(c, jsii.String("Task"), &awsecs.FargateTaskDefinitionProps{
		Cpu:            jsii.Number(float64(or(p.Cpu, 512))),
		MemoryLimitMiB: jsii.Number(float64(or(p.MemoryMiB, 1024))),
		RuntimePlatform: &awsecs.RuntimePlatform{
			CpuArchitecture:       arch,
			OperatingSystemFamily: awsecs.OperatingSystemFamily_LINUX(),
		},
	})
	logGroup := awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention: p.LogRetention, RemovalPolicy: p.RemovalPolicy,
	})
	console := strconv.FormatBool(p.EnableConsole)
	env := map[string]*string{
		"HASURA_GRAPHQL_JWT_SECRET":        jwtSecret(c, p.JwtIssuer, p.JwtAudience),
		"HASURA_GRAPHQL_ENABLE_CONSOLE":    jsii.String(console),
		"HASURA_GRAPHQL_DEV_MODE":          jsii.String(console),
		"HASURA_GRAPHQL_ENABLE_TELEMETRY":  jsii.String("false"),
		"HASURA_GRAPHQL_ENABLED_LOG_TYPES": jsii.String("startup, http-log, webhook-log, websocket-log"),
		"HASURA_GRAPHQL_SERVER_PORT":       jsii.String(strconv.Itoa(ContainerPort)),
	}
	if len(p.CorsOrigins) > 0 {
		env["HASURA_GRAPHQL_CORS_DOMAIN"] = jsii.String(strings.Join(p.CorsOrigins, ","))
	}
	// ECS reads these at task start with the execution role; they are never in the template.
	secrets := map[string]awsecs.Secret{
		"HASURA_GRAPHQL_ADMIN_SECRET": awsecs.Secret_FromSecretsManager(s.AdminSecret, nil),
		"HASURA_GRAPHQL_DATABASE_URL": p.DatabaseURL,
		p.EventApiKeyEnvVar:           awsecs.Secret_FromSsmParameter(p.EventApiKey),
	}
	for _, name := range sortedKeys(p.Environment) {
		if reserved(name, p.EventApiKeyEnvVar) {
			panic(fmt.Sprintf("hasuraservice: Environment may not set %s: the service sets it", name))
		}
		env[name] = jsii.String(p.Environment[name])
	}
	for _, name := range sortedKeys(p.Secrets) {
		if _, plain := p.Environment[name]; plain || reserved(name, p.EventApiKeyEnvVar) {
			panic(fmt.Sprintf("hasuraservice: Secrets may not set %s: the service or Environment sets it", name))
		}
		secrets[name] = p.Secrets[name]
	}
	s.TaskDefinition.AddContainer(jsii.String("hasura"), &awsecs.ContainerDefinitionOptions{
		Image:        p.Image,
		Essential:    jsii.Bool(true),
		PortMappings: &[]*awsecs.PortMapping{{ContainerPort: jsii.Number(ContainerPort), Protocol: awsecs.Protocol_TCP}},
		Environment:  &env,
		Secrets:      &secrets,
		// Strict: metadata inconsistent with the database counts as unhealthy, so a deployment
		// that breaks it rolls back (circuit breaker) instead of serving a partial schema. The
		// graphql-engine image has curl (Moped's task definition checks the same way).
		HealthCheck: &awsecs.HealthCheck{
			Command:     jsii.Strings("CMD-SHELL", "curl -fsS http://localhost:"+strconv.Itoa(ContainerPort)+HealthPath+" || exit 1"),
			Interval:    awscdk.Duration_Seconds(jsii.Number(15)),
			Timeout:     awscdk.Duration_Seconds(jsii.Number(5)),
			Retries:     jsii.Number(3),
			StartPeriod: awscdk.Duration_Seconds(jsii.Number(60)),
		},
		Logging: awsecs.LogDriver_AwsLogs(&awsecs.AwsLogDriverProps{
			StreamPrefix: jsii.String("hasura"), LogGroup: logGroup,
		}),
		ReadonlyRootFilesystem: jsii.Bool(false),
	})
	nag.Suppress(s.TaskDefinition, "AwsSolutions-ECS2", "The plain environment holds only non-secret settings (the JWT config of public JWKS URLs, console and log flags, and hasura.environment values, which config refuses when their names look secret); every secret is an ECS secret (stacks tests).")
	s.Service = awsecs.NewFargateService(c, jsii.String("Service"), &awsecs.FargateServiceProps{
		Cluster:                s.Cluster,
		TaskDefinition:         s.TaskDefinition,
		ServiceName:            jsii.String(p.ServiceName),
		DesiredCount:           jsii.Number(float64(or(p.DesiredCount, 1))),
		MinHealthyPercent:      jsii.Number(100),
		MaxHealthyPercent:      jsii.Number(200),
		CircuitBreaker:         &awsecs.DeploymentCircuitBreaker{Enable: jsii.Bool(true), Rollback: jsii.Bool(true)},
		AssignPublicIp:         jsii.Bool(false),
		VpcSubnets:             p.AppSubnets,
		SecurityGroups:         &[]awsec2.ISecurityGroup{s.SecurityGroup},
		HealthCheckGracePeriod: awscdk.Duration_Seconds(jsii.Number(60)),
		EnableExecuteCommand:   jsii.Bool(false),
	})
	s.AdminSecretRotation = rotation.New(c, "AdminSecretRotation", &rotation.Props{
		Lambdas:       p.Lambdas,
		Secret:        s.AdminSecret,
		Service:       s.Service,
		Kind:          "hasura-admin",
		Description:   "Rotates HASURA_GRAPHQL_ADMIN_SECRET, then redeploys Hasura",
		Every:         p.AdminSecretRotation,
		LogRetention:  p.LogRetention,
		RemovalPolicy: p.RemovalPolicy,
	})
	scaling := s.Service.AutoScaleTaskCount(&awsapplicationautoscaling.EnableScalingProps{
		MinCapacity: jsii.Number(float64(or(p.MinCount, 1))),
		MaxCapacity: jsii.Number(float64(or(p.MaxCount, 2))),
	})
	scaling.ScaleOnCpuUtilization(jsii.String("Cpu"), &awsecs.CpuUtilizationScalingProps{TargetUtilizationPercent: jsii.Number(60)})

	s.LoadBalancer = elbv2.NewApplicationLoadBalancer(c, jsii.String("Alb"), &elbv2.ApplicationLoadBalancerProps{
		Vpc:                     p.Vpc,
		InternetFacing:          jsii.Bool(true),
		SecurityGroup:           albSG,
		VpcSubnets:              p.PublicSubnets,
		DropInvalidHeaderFields: jsii.Bool(true),
		DeletionProtection:      jsii.Bool(p.DeletionProtection),
	})
	expiration := p.AccessLogExpiration
	if expiration == nil {
		expiration = awscdk.Duration_Days(jsii.Number(90))
	}
	accessLogs := awss3.NewBucket(c, jsii.String("AccessLogs"), &awss3.BucketProps{
		// ALB access logs support SSE-S3 only.
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		LifecycleRules:    &[]*awss3.LifecycleRule{{Expiration: expiration}},
		// Logs are evidence: a stack deletion keeps them (they expire by the lifecycle rule).
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	nag.Suppress(accessLogs, "AwsSolutions-S1", "This bucket receives the ALB's access logs; logging its own accesses to another bucket would only move the same finding there.")
	s.LoadBalancer.LogAccessLogs(accessLogs, jsii.String("alb"))
	s.TargetGroup = elbv2.NewApplicationTargetGroup(c, jsii.String("Targets"), &elbv2.ApplicationTargetGroupProps{
		Vpc:        p.Vpc,
		Port:       jsii.Number(ContainerPort),
		Protocol:   elbv2.ApplicationProtocol_HTTP,
		TargetType: elbv2.TargetType_IP,
		Targets:    &[]elbv2.IApplicationLoadBalancerTarget{s.Service},
		HealthCheck: &elbv2.HealthCheck{
			Path: jsii.String(HealthPath), HealthyHttpCodes: jsii.String("200"),
			Interval: awscdk.Duration_Seconds(jsii.Number(15)), HealthyThresholdCount: jsii.Number(2),
		},
		DeregistrationDelay: awscdk.Duration_Seconds(jsii.Number(30)),
	})
	target := s.TargetGroup
	if https {
		s.LoadBalancer.AddListener(jsii.String("Https"), &elbv2.BaseApplicationListenerProps{
			Port: jsii.Number(443), Protocol: elbv2.ApplicationProtocol_HTTPS, Open: jsii.Bool(false),
			Certificates:        &[]elbv2.IListenerCertificate{p.Certificate},
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
		s.LoadBalancer.AddListener(jsii.String("Http"), &elbv2.BaseApplicationListenerProps{
			Port: jsii.Number(80), Protocol: elbv2.ApplicationProtocol_HTTP, Open: jsii.Bool(false),
			DefaultTargetGroups: &[]elbv2.IApplicationTargetGroup{target},
		})
		s.URL = jsii.String("http://" + *s.LoadBalancer.LoadBalancerDnsName())
	}
	return s
}

// jwtSecret renders HASURA_GRAPHQL_JWT_SECRET: RS256 keys from the issuer's JWKS, the issuer
// pinned, claims as stringified JSON (Cognito V1 claims must be strings), and the audience when
// the tokens Hasura receives carry one.
func jwtSecret(scope constructs.Construct, issuer, audience *string) *string {
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

func reserved(name, eventAPIKeyVar string) bool {
	return slices.Contains(ProjectVars, name) || name == eventAPIKeyVar
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func or(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
