// Package stacks wires the constructs into the two stacks each environment deploys:
// <project>-<env>-identity (stateful: users, claims, keys) and <project>-<env>-hasura.
package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/hasura-auth-cdk/hasuraauth/config"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/golambda"
	"github.com/hasura-auth-cdk/hasuraauth/stacks/names"
)

// Common is what both stacks of an environment take.
type Common struct {
	Project string
	Env     config.Environment
	// Lambdas compiles the Go Lambdas (GoLambdas); every environment of an app shares one.
	Lambdas golambda.Builder
}

// resourceName names a resource of the environment: <project>-<env>-<what>.
func (c Common) resourceName(what string) string { return c.Project + "-" + c.Env.Name + "-" + what }

// secretName names a secret or parameter of the environment: <project>/<env>/<what>, a path, so
// that IAM policies and operators can select an environment's secrets by prefix.
func (c Common) secretName(what string) string { return c.Project + "/" + c.Env.Name + "/" + what }

func (c Common) stackProps(description string) *awscdk.StackProps {
	env := &awscdk.Environment{Region: jsii.String(c.Env.Region)}
	if c.Env.Account != "" {
		env.Account = jsii.String(c.Env.Account)
	}
	return &awscdk.StackProps{
		Env:                   env,
		Description:           jsii.String(description),
		TerminationProtection: jsii.Bool(c.Env.Production),
		Tags:                  c.tags(),
	}
}

func (c Common) tags() *map[string]*string {
	t := map[string]*string{"project": jsii.String(c.Project), "environment": jsii.String(c.Env.Name)}
	for k, v := range c.Env.Tags {
		t[k] = jsii.String(v)
	}
	return &t
}

func (c Common) removal() awscdk.RemovalPolicy {
	if c.Env.Removal == config.RemovalRetain {
		return awscdk.RemovalPolicy_RETAIN
	}
	return awscdk.RemovalPolicy_DESTROY
}

var retentions = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
	7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
	150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
	1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
	2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS, 3288: awslogs.RetentionDays_NINE_YEARS,
	3653: awslogs.RetentionDays_TEN_YEARS,
}

func (c Common) logRetention() awslogs.RetentionDays { return retentions[c.Env.LogRetentionDays] }

func output(stack awscdk.Stack, name string, value *string, description string) {
	awscdk.NewCfnOutput(stack, jsii.String(name), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(description)})
}

// Environment is both stacks of one environment.
type Environment struct {
	Identity *IdentityStack
	Hasura   *HasuraStack
}

// NewEnvironment defines both stacks of one environment; the Hasura stack depends on the identity stack.
func NewEnvironment(app awscdk.App, c Common) *Environment {
	id := NewIdentityStack(app, names.IdentityStack(c.Project, c.Env.Name), &IdentityStackProps{Common: c})
	h := NewHasuraStack(app, names.HasuraStack(c.Project, c.Env.Name), &HasuraStackProps{Common: c, Identity: id})
	return &Environment{Identity: id, Hasura: h}
}
