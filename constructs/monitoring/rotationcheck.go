package monitoring

import (
	"fmt"
	"sync"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/hasura-auth-cdk/hasuraauth/constructs/golambda"
)

// RotationCheckProps configure the hourly check that each rotated secret rotated on schedule.
type RotationCheckProps struct {
	// Lambdas compiles lambda/rotationcheck.
	Lambdas golambda.Builder
	// Secrets are the rotated secrets by the short name their alarm carries.
	Secrets map[string]awssecretsmanager.ISecret
	// MaxAge is the rotation schedule plus the grace before the alarm fires.
	MaxAge        awscdk.Duration
	LogRetention  awslogs.RetentionDays
	RemovalPolicy awscdk.RemovalPolicy
}

// CheckInterval is how often the rotation check runs, and the period of its alarms.
var CheckInterval = sync.OnceValue(func() awscdk.Duration { return awscdk.Duration_Hours(jsii.Number(1)) })

// newRotationCheck runs lambda/rotationcheck every CheckInterval(). It may describe exactly these
// secrets (metadata: dates and rotation settings), never read their values.
func newRotationCheck(scope constructs.Construct, id string, p *RotationCheckProps) *golambda.Function {
	c := constructs.NewConstruct(scope, jsii.String(id))
	arns := map[string]*string{}
	var resources []*string
	for _, name := range sortedKeys(p.Secrets) {
		arns[name] = p.Secrets[name].SecretArn()
		resources = append(resources, p.Secrets[name].SecretArn())
	}
	fn := golambda.New(c, "Check", &golambda.Props{
		Builder: p.Lambdas, Package: "lambda/rotationcheck",
		Description: "Checks hourly that each rotated secret rotated within its schedule",
		Environment: map[string]*string{
			"SECRETS":          awscdk.Stack_Of(c).ToJsonString(arns, nil),
			"MAX_ROTATION_AGE": jsii.String(fmt.Sprintf("%gh", *p.MaxAge.ToHours(nil))),
		},
		MemoryMB: 128, Timeout: awscdk.Duration_Minutes(jsii.Number(1)),
		LogRetention: p.LogRetention, RemovalPolicy: p.RemovalPolicy,
	})
	fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("secretsmanager:DescribeSecret"), Resources: &resources,
	}))
	rule := awsevents.NewRule(c, jsii.String("Schedule"), &awsevents.RuleProps{
		Description: jsii.String("Runs the rotation check"),
		Schedule:    awsevents.Schedule_Rate(CheckInterval()),
	})
	rule.AddTarget(&functionTarget{rule: rule, fn: fn.Function})
	return fn
}
