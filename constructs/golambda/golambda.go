// Package golambda defines Go Lambda functions the one way this project runs them: provided.al2023
// on arm64, with their own log group and a role that can write to that log group and nothing else
// until the caller grants more. A Builder supplies the compiled code.
package golambda

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/hasura-auth-cdk/hasuraauth/constructs/nag"
)

// MetadataGoPackage is the template metadata key naming a function's Go main package.
const MetadataGoPackage = "GoPackage"

// Builder supplies the deployment package of a Go main package of this module, such as
// lambda/pretoken, built for provided.al2023 on arm64 with a bootstrap executable.
type Builder interface {
	Code(pkg string) awslambda.Code
}

// Props configure one function.
type Props struct {
	// Builder compiles Package, the main package, e.g. lambda/pretoken. Both required.
	Builder Builder
	Package string

	Description   string
	Environment   map[string]*string
	MemoryMB      int
	Timeout       awscdk.Duration
	LogRetention  awslogs.RetentionDays
	RemovalPolicy awscdk.RemovalPolicy

	// Vpc, when set, runs the function in these subnets with these security groups.
	Vpc            awsec2.IVpc
	VpcSubnets     *awsec2.SubnetSelection
	SecurityGroups []awsec2.ISecurityGroup
}

// ENIActions are what Lambda needs to attach a function to a VPC. The service requires
// Resource "*" for them (the network interfaces do not exist before it creates them).
var ENIActions = []string{
	"ec2:AssignPrivateIpAddresses", "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
	"ec2:DescribeNetworkInterfaces", "ec2:UnassignPrivateIpAddresses",
}

// Function is a built function with the role and log group it owns.
type Function struct {
	Function awslambda.Function
	Role     awsiam.Role
	LogGroup awslogs.LogGroup
}

// New defines the function, its role and its log group.
func New(scope constructs.Construct, id string, p *Props) *Function {
	c := constructs.NewConstruct(scope, jsii.String(id))

	logGroup := awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention:     p.LogRetention,
		RemovalPolicy: p.RemovalPolicy,
	})
	role := awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Runs " + p.Package + "; may write its own log group"),
	})
	// Not AWSLambdaBasicExecutionRole: that allows writing to every log group in the account.
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: jsii.Strings(*logGroup.LogGroupArn()),
	}))

	var sgs *[]awsec2.ISecurityGroup
	if p.Vpc != nil {
		role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings(ENIActions...), Resources: jsii.Strings("*"),
		}))
		nag.Suppress(role.Node().FindChild(jsii.String("DefaultPolicy")), "AwsSolutions-IAM5",
			"Lambda's VPC attachment needs the network-interface actions on Resource * (the interfaces do not exist before the service creates them); every other statement names its resource.",
			"Resource::*")
		sgs = &p.SecurityGroups
	}
	fn := awslambda.NewFunction(c, jsii.String("Function"), &awslambda.FunctionProps{
		Runtime:        awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:   awslambda.Architecture_ARM_64(),
		Handler:        jsii.String("bootstrap"),
		Code:           p.Builder.Code(p.Package),
		Description:    jsii.String(p.Description),
		Environment:    &p.Environment,
		MemorySize:     jsii.Number(float64(p.MemoryMB)),
		Timeout:        p.Timeout,
		Role:           role,
		LogGroup:       logGroup,
		LoggingFormat:  awslambda.LoggingFormat_JSON,
		Vpc:            p.Vpc,
		VpcSubnets:     p.VpcSubnets,
		SecurityGroups: sgs,
	})
	// Reviewers (and the template snapshots) see which Go package the code comes from.
	fn.Node().DefaultChild().(awslambda.CfnFunction).AddMetadata(jsii.String(MetadataGoPackage), jsii.String(p.Package))
	return &Function{Function: fn, Role: role, LogGroup: logGroup}
}
