package monitoring

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	elbv2 "github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// dashboard shows, top to bottom: logins, user migrations (with a UserMigration trigger), Hasura, its tasks, the database, and every alarm's state.
func dashboard(c constructs.Construct, p *Props, alarms map[string]awscloudwatch.Alarm) awscloudwatch.Dashboard {
	pm := p.Metrics
	fn := p.PreToken.FunctionName()
	fnDims := map[string]*string{pm.FunctionDimension: fn}
	graph := func(title string, left ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{Title: jsii.String(title), Left: &left, Width: jsii.Number(8)})
	}
	label := func(m awscloudwatch.Metric, l string) awscloudwatch.IMetric {
		return m.With(&awscloudwatch.MetricOptions{Label: jsii.String(l)})
	}
	// Refusals by reason: a search, so that every reason the trigger reports shows without this
	// code listing them (the reason codes belong to the Lambda).
	byReason := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String(fmt.Sprintf(`SEARCH('{%s,%s,%s} MetricName="%s" %s="%s"', 'Sum', 300)`,
			pm.Namespace, pm.FunctionDimension, pm.ReasonDimension, pm.Refused, pm.FunctionDimension, *fn)),
		Label:  jsii.String("refused:"),
		Period: fiveMinutes(),
	})
	cognito := func(name string) awscloudwatch.IMetric {
		return label(metric("AWS/Cognito", name, "Sum", fiveMinutes(), map[string]*string{
			"UserPool": p.UserPool.UserPoolId(), "UserPoolClient": p.UserPoolClient.UserPoolClientId(),
		}), name)
	}
	service := map[string]*string{"ClusterName": p.Service.Cluster().ClusterName(), "ServiceName": p.Service.ServiceName()}
	lb := p.LoadBalancer.Metrics()

	rows := [][]awscloudwatch.IWidget{
		{
			graph("Tokens issued and refused by reason",
				label(metric(pm.Namespace, pm.Issued, "Sum", fiveMinutes(), fnDims), "issued"), byReason),
			graph("Pre-token trigger latency (ms)",
				label(metric(pm.Namespace, pm.Latency, "p50", fiveMinutes(), fnDims), "p50"),
				label(metric(pm.Namespace, pm.Latency, "p99", fiveMinutes(), fnDims), "p99")),
			graph("Cognito sign-ins", cognito("SignInSuccesses"), cognito("TokenRefreshSuccesses"), cognito("SignInThrottles")),
		},
		{
			graph("Hasura requests", label(lb.RequestCount(opts("Sum", fiveMinutes())), "requests")),
			graph("Hasura 5xx",
				label(lb.HttpCodeElb(elbv2.HttpCodeElb_ELB_5XX_COUNT, opts("Sum", fiveMinutes())), "load balancer 5xx"),
				label(lb.HttpCodeTarget(elbv2.HttpCodeTarget_TARGET_5XX_COUNT, opts("Sum", fiveMinutes())), "Hasura 5xx")),
			graph("Hasura latency (s)",
				label(lb.TargetResponseTime(opts("p50", fiveMinutes())), "p50"),
				label(lb.TargetResponseTime(opts("p99", fiveMinutes())), "p99")),
		},
		{
			graph("Hasura CPU (%)", label(metric("AWS/ECS", "CPUUtilization", "Average", fiveMinutes(), service), "average")),
			graph("Hasura memory (%)", label(metric("AWS/ECS", "MemoryUtilization", "Average", fiveMinutes(), service), "average")),
			graph("Hasura tasks",
				label(metric("ECS/ContainerInsights", "RunningTaskCount", "Minimum", oneMinute(), service), "running"),
				label(p.TargetGroup.Metrics().HealthyHostCount(opts("Minimum", oneMinute())), "healthy")),
		},
	}
	if mf := p.Migration; mf != nil {
		dims := map[string]*string{pm.FunctionDimension: mf.FunctionName()}
		lambda := map[string]*string{"FunctionName": mf.FunctionName()}
		rows = append(rows[:1], append([][]awscloudwatch.IWidget{{
			graph("Users migrated and refused by reason",
				label(metric(pm.MigrationNamespace, pm.Migrated, "Sum", fiveMinutes(), dims), "migrated"),
				awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
					Expression: jsii.String(fmt.Sprintf(`SEARCH('{%s,%s,%s} MetricName="%s" %s="%s"', 'Sum', 300)`,
						pm.MigrationNamespace, pm.FunctionDimension, pm.ReasonDimension, pm.MigrationRefused, pm.FunctionDimension, *mf.FunctionName())),
					Label:  jsii.String("refused:"),
					Period: fiveMinutes(),
				})),
			graph("User migration latency (ms)",
				label(metric(pm.MigrationNamespace, pm.Latency, "p50", fiveMinutes(), dims), "p50"),
				label(metric(pm.MigrationNamespace, pm.Latency, "p99", fiveMinutes(), dims), "p99")),
			graph("User migration trigger errors and throttles",
				label(metric("AWS/Lambda", "Errors", "Sum", fiveMinutes(), lambda), "errors (refusals included)"),
				label(metric("AWS/Lambda", "Throttles", "Sum", fiveMinutes(), lambda), "throttles")),
		}}, rows[1:]...)...)
	}
	if db := p.Database; db != nil {
		dims := map[string]*string{"DBInstanceIdentifier": db.InstanceIdentifier()}
		rows = append(rows, []awscloudwatch.IWidget{
			graph("Database CPU (%)", label(metric("AWS/RDS", "CPUUtilization", "Average", fiveMinutes(), dims), "average")),
			graph("Database connections", label(metric("AWS/RDS", "DatabaseConnections", "Maximum", fiveMinutes(), dims), "maximum")),
			graph("Database free storage (bytes)", label(metric("AWS/RDS", "FreeStorageSpace", "Minimum", fiveMinutes(), dims), "minimum")),
		})
	}
	var refs []interfacesawscloudwatch.IAlarmRef
	for _, k := range sortedKeys(alarms) {
		refs = append(refs, alarms[k])
	}
	rows = append(rows, []awscloudwatch.IWidget{awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
		Title: jsii.String("Alarms"), Alarms: &refs, Width: jsii.Number(24), Height: jsii.Number(6),
	})})

	widgets := make([]*[]awscloudwatch.IWidget, len(rows))
	for i := range rows {
		widgets[i] = &rows[i]
	}
	return awscloudwatch.NewDashboard(c, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName: jsii.String(p.Name),
		Widgets:       &widgets,
	})
}
