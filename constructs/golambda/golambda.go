// Package golambda builds Go Lambda functions the one way this project runs them: provided.al2023
// on arm64, compiled locally during synth (no Docker), with their own log group and a role that
// can write to that log group and nothing else until the caller grants more.
package golambda

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/hasura-auth-cdk/hasuraauth/constructs/nag"
	"github.com/hasura-auth-cdk/hasuraauth/internal/gobuild"
)

// MetadataGoPackage is the template metadata key naming a function's Go main package.
const MetadataGoPackage = "GoPackage"

// Props configure one function.
type Props struct {
	// ModuleRoot is the directory holding go.mod; Package is the main package below it, e.g. lambda/pretoken.
	ModuleRoot string
	Package    string

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
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code: awslambda.Code_FromAsset(jsii.String(filepath.Join(p.ModuleRoot, p.Package)), &awss3assets.AssetOptions{
			// The binary also depends on internal/ and go.mod, outside the package directory:
			// hash what was built, which reproducible builds make stable.
			AssetHashType: awscdk.AssetHashType_OUTPUT,
			Bundling: &awscdk.BundlingOptions{
				Image: awscdk.DockerImage_FromRegistry(jsii.String("golang:not-used")),
				Local: &Bundler{ModuleRoot: p.ModuleRoot, Package: p.Package},
			},
		}),
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

// Bundler compiles a Go main package into a reproducible Linux arm64 bootstrap binary.
type Bundler struct {
	ModuleRoot string
	Package    string
}

// built remembers, per module root and package, the first binary this process built: every
// environment deploys the same binary, and reproducible builds make a copy identical to a rebuild.
var (
	builtMu sync.Mutex
	built   = map[string]string{}
)

// TryBundle implements awscdk.ILocalBundling. A build failure stops synth with the compiler's
// message rather than falling back to Docker, which this project does not use.
func (b *Bundler) TryBundle(outputDir *string, _ *awscdk.BundlingOptions) *bool {
	out := filepath.Join(*outputDir, "bootstrap")
	key := b.ModuleRoot + "\x00" + b.Package
	builtMu.Lock()
	defer builtMu.Unlock()
	err := func() error {
		if prev, ok := built[key]; ok {
			return copyFile(prev, out)
		}
		if err := gobuild.Lambda(b.ModuleRoot, b.Package, out); err != nil {
			return err
		}
		built[key] = out
		return nil
	}()
	if err != nil {
		fmt.Fprintf(os.Stderr, "golambda: %v\n", err)
		os.Exit(1)
	}
	return jsii.Bool(true)
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("reuse %s: %w", src, err)
	}
	return os.WriteFile(dst, b, 0o755)
}
