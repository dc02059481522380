// Package rotation defines a Secrets Manager rotation of one secret by lambda/rotation, which
// ends each rotation with a new deployment of the ECS service that reads the secret.
package rotation

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/hasura-auth-cdk/hasuraauth/constructs/golambda"
)

// Props configure one rotation. Zero values take the defaults named on each field.
type Props struct {
	// Lambdas compiles the function. Required.
	Lambdas golambda.Builder
	// Secret is the secret rotated. Required.
	Secret awssecretsmanager.ISecret
	// Service is redeployed after each rotation so that its tasks read the new value. Required.
	Service awsecs.IBaseService
	// Kind selects the rotation lambda/rotation performs (its ROTATION_KIND). Required.
	Kind string
	// Environment adds variables to the function's (CLUSTER_NAME, SERVICE_NAME, ROTATION_KIND).
	Environment map[string]*string
	Description string
	// MemoryMB sizes the function. Default: 128.
	MemoryMB int
	// Every is the rotation schedule, in whole days. Default: 30 days.
	Every awscdk.Duration
	// Vpc, Subnets and SecurityGroups, when Vpc is set, run the function in the VPC.
	Vpc            awsec2.IVpc
	Subnets        *awsec2.SubnetSelection
	SecurityGroups []awsec2.ISecurityGroup
	// LogRetention and RemovalPolicy apply to the function's log group. Defaults: CDK's.
	LogRetention  awslogs.RetentionDays
	RemovalPolicy awscdk.RemovalPolicy
}

// New defines the function (as id) and the schedule (as id+"Schedule") in scope.
// Permissions are written out rather than taken from CDK's RotationSchedule, which would add
// secretsmanager:GetRandomPassword on Resource * (the function draws its own randomness).
// grants, when given, are added to the function's role before the rotation's own statements.
func New(scope constructs.Construct, id string, p *Props, grants ...awsiam.PolicyStatement) *golambda.Function {
	env := map[string]*string{
		"CLUSTER_NAME":  p.Service.Cluster().ClusterName(),
		"SERVICE_NAME":  p.Service.ServiceName(),
		"ROTATION_KIND": jsii.String(p.Kind),
	}
	for k, v := range p.Environment {
		env[k] = v
	}
	memory := p.MemoryMB
	if memory == 0 {
		memory = 128
	}
	fn := golambda.New(scope, id, &golambda.Props{
		Builder: p.Lambdas, Package: "lambda/rotation",
		Description: p.Description, Environment: env,
		MemoryMB: memory, Timeout: awscdk.Duration_Minutes(jsii.Number(1)),
		LogRetention: p.LogRetention, RemovalPolicy: p.RemovalPolicy,
		Vpc: p.Vpc, VpcSubnets: p.Subnets, SecurityGroups: p.SecurityGroups,
	})
	for _, g := range grants {
		fn.Role.AddToPolicy(g)
	}
	// The function may rotate this secret, and only it, and redeploy this service.
	fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
			"secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"),
		Resources: jsii.Strings(*p.Secret.SecretArn()),
	}))
	// finishSecret checks for a deployment newer than the rotation and starts one when missing.
	fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("ecs:DescribeServices", "ecs:UpdateService"), Resources: jsii.Strings(*p.Service.ServiceArn()),
	}))
	fn.Function.AddPermission(jsii.String("SecretsManager"+id+"Schedule"), &awslambda.Permission{
		Principal: awsiam.NewServicePrincipal(jsii.String("secretsmanager.amazonaws.com"), nil),
		SourceArn: p.Secret.SecretArn(),
	})
	every := p.Every
	if every == nil {
		every = awscdk.Duration_Days(jsii.Number(30))
	}
	sched := awssecretsmanager.NewCfnRotationSchedule(scope, jsii.String(id+"Schedule"), &awssecretsmanager.CfnRotationScheduleProps{
		SecretId:          p.Secret.SecretArn(),
		RotationLambdaArn: fn.Function.FunctionArn(),
		RotationRules: &awssecretsmanager.CfnRotationSchedule_RotationRulesProperty{
			ScheduleExpression: jsii.String(fmt.Sprintf("rate(%v days)", *every.ToDays(nil))),
		},
		RotateImmediatelyOnUpdate: jsii.Bool(false),
	})
	// Secrets Manager may invoke the function as soon as the schedule exists: wait for its role,
	// policy and invoke permission (the function itself is implied by RotationLambdaArn; naming it
	// again is cfn-lint's W3005).
	sched.Node().AddDependency(fn.Role, fn.Function.Node().FindChild(jsii.String("SecretsManager"+id+"Schedule")))
	return fn
}
