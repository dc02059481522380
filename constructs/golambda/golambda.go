// Package golambda builds Go Lambda functions the one way this project runs them: provided.al2023
// on arm64, compiled locally during synth (no Docker), with their own log group and a role that
// can write to that log group and nothing else until the caller grants more.
package golambda

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

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
		Description:   jsii.String(p.Description),
		Environment:   &p.Environment,
		MemorySize:    jsii.Number(float64(p.MemoryMB)),
		Timeout:       p.Timeout,
		Role:          role,
		LogGroup:      logGroup,
		LoggingFormat: awslambda.LoggingFormat_JSON,
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

// TryBundle implements awscdk.ILocalBundling. A build failure stops synth with the compiler's
// message rather than falling back to Docker, which this project does not use.
func (b *Bundler) TryBundle(outputDir *string, _ *awscdk.BundlingOptions) *bool {
	if err := gobuild.Lambda(b.ModuleRoot, b.Package, filepath.Join(*outputDir, "bootstrap")); err != nil {
		fmt.Fprintf(os.Stderr, "golambda: %v\n", err)
		os.Exit(1)
	}
	return jsii.Bool(true)
}
