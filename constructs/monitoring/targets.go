package monitoring

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawsevents"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// The three bindings below do what aws-cdk-lib's EmailSubscription, SnsAction and LambdaFunction
// (aws-sns-subscriptions, aws-cloudwatch-actions, aws-events-targets) do for this package, and
// render the same resources under the same logical IDs. Their Go packages are not used because
// importing them compiles about 48 more aws-cdk-go packages (API Gateway, Step Functions,
// SageMaker, Glue, AppSync, ... that their other targets reference), a third of the CDK code
// every build and every test binary of this module compiles on an empty cache.

// emailSubscription subscribes an address to a topic, as EmailSubscription does: the address is
// the subscription's construct ID under the topic.
type emailSubscription struct{ address string }

func (e *emailSubscription) Bind(awssns.ITopic) *awssns.TopicSubscriptionConfig {
	return &awssns.TopicSubscriptionConfig{
		SubscriberId: jsii.String(e.address),
		Endpoint:     jsii.String(e.address),
		Protocol:     awssns.SubscriptionProtocol_EMAIL,
	}
}

// topicAction notifies a topic, as SnsAction does.
type topicAction struct{ topic awssns.ITopic }

func (a *topicAction) Bind(constructs.Construct, awscloudwatch.IAlarm) *awscloudwatch.AlarmActionConfig {
	return &awscloudwatch.AlarmActionConfig{AlarmActionArn: a.topic.TopicArn()}
}

// functionTarget invokes a function from a rule, as LambdaFunction does: EventBridge may invoke
// it for this rule alone, by a permission placed under the rule.
type functionTarget struct {
	rule awsevents.Rule
	fn   awslambda.IFunction
}

func (t *functionTarget) Bind(interfacesawsevents.IRuleRef, *string) *awsevents.RuleTargetConfig {
	id := "AllowEventRule" + *awscdk.Names_NodeUniqueId(t.fn.Node())
	if t.rule.Node().TryFindChild(jsii.String(id)) == nil {
		t.fn.AddPermission(jsii.String(id), &awslambda.Permission{
			Scope:     t.rule,
			Action:    jsii.String("lambda:InvokeFunction"),
			Principal: awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), nil),
			SourceArn: awsevents.CfnRule_ArnForRule(t.rule),
		})
	}
	return &awsevents.RuleTargetConfig{Arn: t.fn.FunctionArn(), TargetResource: t.fn}
}
