// Package edge filters hostile traffic before it reaches Hasura: an AWS WAF web ACL on the
// load balancer with AWS's managed common, known-bad-inputs and IP-reputation rule groups and a
// per-IP rate limit, logging to CloudWatch Logs with secrets redacted.
//
// Props are CDK types and plain numbers; the caller (stacks) translates config into them.
package edge

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	elbv2 "github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awswafv2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// RateWindowSeconds is the window of the per-IP rate rule.
const RateWindowSeconds = 300

// CountedRules are managed rules set to count instead of block, by rule group: they misfire on
// GraphQL. SizeRestrictions_BODY blocks bodies over 8 KB, and GraphQL queries with their
// variables (a mutation with a list of rows, a long query document) routinely exceed that; the
// rule only sees the first 8 KB of a body on an ALB, so it cannot be tuned to a larger size.
var CountedRules = map[string][]string{
	"AWSManagedRulesCommonRuleSet": {"SizeRestrictions_BODY"},
}

// RedactedHeaders never reach the WAF log: bearer tokens and the Hasura admin secret.
var RedactedHeaders = []string{"authorization", "cookie", "x-hasura-admin-secret"}

// Props configure the web ACL.
type Props struct {
	// Name names the web ACL and its metrics; the log group is aws-waf-logs-<Name> (WAF
	// requires that prefix).
	Name string
	// LoadBalancer is what the web ACL protects.
	LoadBalancer elbv2.IApplicationLoadBalancer
	// RateLimit is the most requests one IP may make per RateWindowSeconds before it is
	// blocked (default 2000; WAF accepts 10 to 2,000,000,000).
	RateLimit float64
	// LogRetention and RemovalPolicy apply to the WAF log group.
	LogRetention  awslogs.RetentionDays
	RemovalPolicy awscdk.RemovalPolicy
}

// Edge is the web ACL and its log group.
type Edge struct {
	WebACL   awswafv2.CfnWebACL
	LogGroup awslogs.LogGroup
}

// New defines the web ACL, its association with the load balancer and its logging.
func New(scope constructs.Construct, id string, p *Props) *Edge {
	c := constructs.NewConstruct(scope, jsii.String(id))
	limit := p.RateLimit
	if limit == 0 {
		limit = 2000
	}
	visibility := func(metric string) *awswafv2.CfnWebACL_VisibilityConfigProperty {
		return &awswafv2.CfnWebACL_VisibilityConfigProperty{
			CloudWatchMetricsEnabled: jsii.Bool(true), SampledRequestsEnabled: jsii.Bool(true),
			MetricName: jsii.String(p.Name + "-" + metric),
		}
	}
	managed := func(priority float64, group string) *awswafv2.CfnWebACL_RuleProperty {
		var overrides []*awswafv2.CfnWebACL_RuleActionOverrideProperty
		for _, r := range CountedRules[group] {
			overrides = append(overrides, &awswafv2.CfnWebACL_RuleActionOverrideProperty{
				Name: jsii.String(r), ActionToUse: &awswafv2.CfnWebACL_RuleActionProperty{Count: map[string]any{}},
			})
		}
		stmt := &awswafv2.CfnWebACL_ManagedRuleGroupStatementProperty{VendorName: jsii.String("AWS"), Name: jsii.String(group)}
		if len(overrides) > 0 {
			stmt.RuleActionOverrides = overrides
		}
		return &awswafv2.CfnWebACL_RuleProperty{
			Name: jsii.String(group), Priority: jsii.Number(priority),
			Statement:        &awswafv2.CfnWebACL_StatementProperty{ManagedRuleGroupStatement: stmt},
			OverrideAction:   &awswafv2.CfnWebACL_OverrideActionProperty{None: map[string]any{}},
			VisibilityConfig: visibility(group),
		}
	}
	rules := []*awswafv2.CfnWebACL_RuleProperty{
		// Cheapest and most certain first: known-bad addresses, then the rate limit, then content.
		managed(0, "AWSManagedRulesAmazonIpReputationList"),
		{
			Name: jsii.String("RatePerIp"), Priority: jsii.Number(1),
			Statement: &awswafv2.CfnWebACL_StatementProperty{RateBasedStatement: &awswafv2.CfnWebACL_RateBasedStatementProperty{
				AggregateKeyType: jsii.String("IP"), Limit: jsii.Number(limit), EvaluationWindowSec: jsii.Number(RateWindowSeconds),
			}},
			Action:           &awswafv2.CfnWebACL_RuleActionProperty{Block: map[string]any{}},
			VisibilityConfig: visibility("RatePerIp"),
		},
		managed(2, "AWSManagedRulesKnownBadInputsRuleSet"),
		managed(3, "AWSManagedRulesCommonRuleSet"),
	}
	acl := awswafv2.NewCfnWebACL(c, jsii.String("WebAcl"), &awswafv2.CfnWebACLProps{
		Name:             jsii.String(p.Name),
		Description:      jsii.String("Filters hostile traffic before the Hasura load balancer"),
		Scope:            jsii.String("REGIONAL"),
		DefaultAction:    &awswafv2.CfnWebACL_DefaultActionProperty{Allow: map[string]any{}},
		VisibilityConfig: visibility("WebAcl"),
		Rules:            rules,
	})
	awswafv2.NewCfnWebACLAssociation(c, jsii.String("Association"), &awswafv2.CfnWebACLAssociationProps{
		ResourceArn: p.LoadBalancer.LoadBalancerArn(),
		WebAclArn:   acl.AttrArn(),
	})

	logName := "aws-waf-logs-" + p.Name
	logs := awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		LogGroupName: jsii.String(logName), Retention: p.LogRetention, RemovalPolicy: p.RemovalPolicy,
	})
	var redacted []any
	for _, h := range RedactedHeaders {
		redacted = append(redacted, &awswafv2.CfnLoggingConfiguration_FieldToMatchProperty{
			SingleHeader: map[string]any{"Name": h},
		})
	}
	logging := awswafv2.NewCfnLoggingConfiguration(c, jsii.String("Logging"), &awswafv2.CfnLoggingConfigurationProps{
		ResourceArn: acl.AttrArn(),
		// WAF wants the log group's ARN without the ":*" suffix of its Arn attribute.
		LogDestinationConfigs: &[]any{awscdk.Stack_Of(c).FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("logs"), Resource: jsii.String("log-group"), ResourceName: jsii.String(logName),
			ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
		})},
		RedactedFields: redacted,
	})
	logging.Node().AddDependency(logs)
	return &Edge{WebACL: acl, LogGroup: logs}
}
