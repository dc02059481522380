// Package monitoring tells an environment's operators when logins or Hasura fail: CloudWatch
// alarms on the pre-token trigger, Cognito, the claims table, the load balancer, the ECS service,
// the database and the secret rotations, all acting on one encrypted SNS topic (or an existing
// one), and a dashboard with the same signals and every alarm's state.
//
// Props are CDK types and plain numbers; the caller (stacks) translates config into them.
package monitoring

import (
	"fmt"
	"sort"
	"sync"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	elbv2 "github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsrds"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/hasura-auth-cdk/hasuraauth/constructs/golambda"
)

// Threshold is one alarm's threshold (in the unit its Thresholds field names) and how many
// consecutive periods must breach it.
type Threshold struct {
	Value             float64
	EvaluationPeriods float64
}

// Thresholds configure every alarm. All are required; the project's defaults are in config
// (docs/configuration.md lists them).
type Thresholds struct {
	// PreTokenInfrastructureRefusals: refusals of class infrastructure per minute (default 1).
	PreTokenInfrastructureRefusals Threshold
	// PreTokenThrottles: throttled trigger invocations per minute (default 1).
	PreTokenThrottles Threshold
	// PreTokenLatencyP99Ms: the handler's p99 latency over 5 minutes, in ms (default 2000,
	// against its own 2.5 s budget inside Cognito's 5 s).
	PreTokenLatencyP99Ms Threshold
	// CognitoSignInThrottles, CognitoTokenRefreshThrottles: throttled requests per 5 minutes (default 1).
	CognitoSignInThrottles       Threshold
	CognitoTokenRefreshThrottles Threshold
	// ClaimsTableReadThrottles, ClaimsTableSystemErrors: per 5 minutes (default 1).
	ClaimsTableReadThrottles Threshold
	ClaimsTableSystemErrors  Threshold
	// LoadBalancer5xx, Target5xx: 5xx responses per 5 minutes from the ALB itself and from Hasura.
	LoadBalancer5xx Threshold
	Target5xx       Threshold
	// UnhealthyHosts: unhealthy targets (maximum per minute).
	UnhealthyHosts Threshold
	// HealthyHostsBelow: alarm when fewer healthy targets than this (minimum per minute).
	HealthyHostsBelow Threshold
	// TargetResponseTimeP99Seconds: Hasura's p99 response time over 5 minutes, in seconds.
	TargetResponseTimeP99Seconds Threshold
	// ServiceCPUPercent, ServiceMemoryPercent: the service's average utilization over 5 minutes.
	ServiceCPUPercent    Threshold
	ServiceMemoryPercent Threshold
	// RunningTasksBelow: alarm when fewer tasks run than this (the service's minimum count).
	RunningTasksBelow Threshold
	// DatabaseCPUPercent: average over 5 minutes.
	DatabaseCPUPercent Threshold
	// DatabaseFreeStorageGiB, DatabaseFreeableMemoryMiB: alarm below these (minimum over 5 minutes).
	DatabaseFreeStorageGiB    Threshold
	DatabaseFreeableMemoryMiB Threshold
	// DatabaseConnections: alarm above this many connections (maximum over 5 minutes); set it
	// below the instance's max_connections.
	DatabaseConnections Threshold
	// RotationErrors: errors of a rotation function per 5 minutes (default 1).
	RotationErrors Threshold
	// MigrationInfrastructureRefusals: migrations refused because the old pool cannot be asked,
	// per minute (default 1). Used only with Props.Migration, like the two below.
	MigrationInfrastructureRefusals Threshold
	// MigrationErrors: the UserMigration trigger's Lambda errors that are not refusals (init
	// failures, crashes, timeouts), per 5 minutes (default 1).
	MigrationErrors Threshold
	// MigrationThrottles: throttled UserMigration invocations per minute (default 1).
	MigrationThrottles Threshold
	// RotationOverdue: evaluation periods (of CheckInterval) the check must report a secret
	// overdue; its Value is ignored (the check decides, from RotationCheckProps.MaxAge).
	RotationOverdue Threshold
}

// Metrics names what the pre-token Lambda and the rotation check publish in the embedded metric
// format: the stacks pass internal/opsmetrics here, and tests on both sides hold them to it.
type Metrics struct {
	Namespace string
	// Metric names: tokens issued, tokens refused (per reason and per class), latency in ms.
	Issued, Refused, Latency string
	// Dimension names, and the value of ClassDimension for infrastructure refusals.
	FunctionDimension, ReasonDimension, ClassDimension string
	InfrastructureClass, RequestClass                  string

	// The UserMigration trigger's namespace and metrics (users migrated, migrations refused per
	// reason and class); its latency is named Latency too, and it has the same dimensions.
	MigrationNamespace, Migrated, MigrationRefused string

	// The rotation check's namespace, metrics and secret dimension.
	RotationNamespace, RotationOverdue, DaysSinceRotation, SecretDimension string
}

// Props configure the alarms, the topic and the dashboard of one environment.
type Props struct {
	// Name prefixes alarm names and names the dashboard, e.g. <project>-<env>.
	Name string
	// RunbookURL is put in every alarm's description, followed by #<alarm key>.
	RunbookURL string
	// Topic, when set, receives every alarm's ALARM and OK notifications; otherwise the construct
	// creates a topic encrypted with its own KMS key.
	Topic awssns.ITopic
	// Emails subscribe to the topic (each address confirms by email before it receives anything).
	Emails []string
	// RemovalPolicy applies to the created topic's key.
	RemovalPolicy awscdk.RemovalPolicy

	PreToken awslambda.IFunction
	// Migration is the UserMigration trigger (nil without one): its old-pool failures, errors
	// and throttles alarm, and the dashboard shows its migrations.
	Migration      awslambda.IFunction
	Metrics        Metrics
	UserPool       awscognito.IUserPool
	UserPoolClient awscognito.IUserPoolClient
	ClaimsTable    awsdynamodb.ITable

	LoadBalancer elbv2.IApplicationLoadBalancer
	TargetGroup  elbv2.IApplicationTargetGroup
	Service      awsecs.IBaseService
	// Database is nil with an existing database (its owner watches it).
	Database awsrds.IDatabaseInstance
	// Rotations are the secret rotation functions, by a short name (e.g. "admin-secret").
	Rotations map[string]awslambda.IFunction
	// RotationCheck, when set, checks hourly that its secrets rotated on schedule; an alarm per
	// secret fires when one is overdue, has rotation off or cannot be read.
	RotationCheck *RotationCheckProps

	Thresholds Thresholds
}

// Monitoring is the topic, the alarms by key, and the dashboard.
type Monitoring struct {
	Topic     awssns.ITopic
	Key       awskms.Key // nil when Props.Topic is set
	Alarms    map[string]awscloudwatch.Alarm
	Dashboard awscloudwatch.Dashboard
	// RotationCheck is the function of Props.RotationCheck (nil without it).
	RotationCheck *golambda.Function
}

// Durations are made on first use, not at package initialisation: a jsii call at init would start
// Node in every program that imports this package, before its main could do anything else.
var (
	oneMinute   = sync.OnceValue(func() awscdk.Duration { return awscdk.Duration_Minutes(jsii.Number(1)) })
	fiveMinutes = sync.OnceValue(func() awscdk.Duration { return awscdk.Duration_Minutes(jsii.Number(5)) })
)

// alarmSpec is one alarm: its key (alarm name suffix and runbook anchor), metric and rule.
type alarmSpec struct {
	key       string
	what      string
	metric    awscloudwatch.IMetric
	threshold Threshold
	scale     float64 // multiplies the threshold (GiB to bytes, ...); 0 means 1
	op        awscloudwatch.ComparisonOperator
	missing   awscloudwatch.TreatMissingData
}

// New defines the topic, the alarms and the dashboard.
func New(scope constructs.Construct, id string, p *Props) *Monitoring {
	c := constructs.NewConstruct(scope, jsii.String(id))
	m := &Monitoring{Alarms: map[string]awscloudwatch.Alarm{}}
	m.Topic = p.Topic
	if m.Topic == nil {
		m.Key, m.Topic = topic(c, p)
	}
	for _, e := range p.Emails {
		m.Topic.AddSubscription(&emailSubscription{address: e})
	}

	action := &topicAction{topic: m.Topic}
	all := specs(p)
	if rc := p.RotationCheck; rc != nil {
		m.RotationCheck = newRotationCheck(c, "RotationCheck", rc)
		for _, name := range sortedKeys(rc.Secrets) {
			all = append(all, alarmSpec{key: "rotation-overdue-" + name,
				what: fmt.Sprintf("The %s secret did not rotate within its schedule, its rotation is off, or the check cannot read it.", name),
				// The check's function name keeps apart environments sharing an account and region.
				metric: metric(p.Metrics.RotationNamespace, p.Metrics.RotationOverdue, "Maximum", CheckInterval(),
					map[string]*string{p.Metrics.FunctionDimension: m.RotationCheck.Function.FunctionName(), p.Metrics.SecretDimension: jsii.String(name)}),
				// Silence means the check itself stopped: nobody knows whether the secret rotates.
				threshold: Threshold{Value: 1, EvaluationPeriods: p.Thresholds.RotationOverdue.EvaluationPeriods}, op: gte, missing: silent})
		}
	}
	for _, s := range all {
		scale := s.scale
		if scale == 0 {
			scale = 1
		}
		a := awscloudwatch.NewAlarm(c, jsii.String(s.key), &awscloudwatch.AlarmProps{
			AlarmName:          jsii.String(p.Name + "-" + s.key),
			AlarmDescription:   jsii.String(s.what + " Runbook: " + p.RunbookURL + "#" + s.key),
			Metric:             s.metric,
			Threshold:          jsii.Number(s.threshold.Value * scale),
			EvaluationPeriods:  jsii.Number(s.threshold.EvaluationPeriods),
			ComparisonOperator: s.op,
			TreatMissingData:   s.missing,
		})
		a.AddAlarmAction(action)
		a.AddOkAction(action)
		m.Alarms[s.key] = a
	}
	m.Dashboard = dashboard(c, p, m.Alarms)
	return m
}

// topic creates the alarm topic, encrypted with a key CloudWatch may use: alarms cannot publish
// to a topic encrypted with the AWS-managed SNS key, whose policy cannot be changed.
func topic(c constructs.Construct, p *Props) (awskms.Key, awssns.ITopic) {
	key := awskms.NewKey(c, jsii.String("TopicKey"), &awskms.KeyProps{
		Description:       jsii.String("Encrypts the alarm topic of " + p.Name),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     p.RemovalPolicy,
	})
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublishToTheEncryptedTopic"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		// The actions AWS documents for CloudWatch alarm actions on an encrypted topic.
		Actions:   jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources: jsii.Strings("*"), // in a key policy, "*" is this key
	}), nil)
	t := awssns.NewTopic(c, jsii.String("Topic"), &awssns.TopicProps{
		TopicName:   jsii.String(p.Name + "-alarms"),
		DisplayName: jsii.String(p.Name + " alarms"),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	// The topic policy replaces SNS's default one: let this account's alarms publish, and no one else.
	t.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsOfThisAccount"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  jsii.Strings(*t.TopicArn()),
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Stack_Of(c).Account()},
			"ArnLike": map[string]any{"aws:SourceArn": awscdk.Stack_Of(c).FormatArn(&awscdk.ArnComponents{
				Service: jsii.String("cloudwatch"), Resource: jsii.String("alarm"), ResourceName: jsii.String(p.Name + "-*"),
				ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
			})},
		},
	}))
	return key, t
}

func metric(namespace, name, statistic string, period awscdk.Duration, dims map[string]*string) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(namespace), MetricName: jsii.String(name),
		Statistic: jsii.String(statistic), Period: period, DimensionsMap: &dims,
	})
}

func opts(statistic string, period awscdk.Duration) *awscloudwatch.MetricOptions {
	return &awscloudwatch.MetricOptions{Statistic: jsii.String(statistic), Period: period}
}

const (
	gte = awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD
	gt  = awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD
	lt  = awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD
	// No data where no data means all is well: no logins, no requests, no errors published.
	quiet = awscloudwatch.TreatMissingData_NOT_BREACHING
	// No data where the resource always reports while it is up: silence is the failure.
	silent = awscloudwatch.TreatMissingData_BREACHING
)

func specs(p *Props) []alarmSpec {
	t, pm := p.Thresholds, p.Metrics
	fn := p.PreToken.FunctionName()
	lambdaDims := func(f awslambda.IFunction) map[string]*string {
		return map[string]*string{"FunctionName": f.FunctionName()}
	}
	cognito := func(name string) awscloudwatch.Metric {
		return metric("AWS/Cognito", name, "Sum", fiveMinutes(), map[string]*string{
			"UserPool": p.UserPool.UserPoolId(), "UserPoolClient": p.UserPoolClient.UserPoolClientId(),
		})
	}
	service := map[string]*string{"ClusterName": p.Service.Cluster().ClusterName(), "ServiceName": p.Service.ServiceName()}
	s := []alarmSpec{
		{key: "pretoken-infrastructure-refusals", what: "Logins are refused because the claims table or key secret is unavailable, the key ring is invalid or stored claims do not decrypt.",
			metric:    metric(pm.Namespace, pm.Refused, "Sum", oneMinute(), map[string]*string{pm.FunctionDimension: fn, pm.ClassDimension: jsii.String(pm.InfrastructureClass)}),
			threshold: t.PreTokenInfrastructureRefusals, op: gte, missing: quiet},
		{key: "pretoken-throttles", what: "Cognito's calls to the pre-token trigger are throttled: those logins fail.",
			metric:    metric("AWS/Lambda", "Throttles", "Sum", oneMinute(), lambdaDims(p.PreToken)),
			threshold: t.PreTokenThrottles, op: gte, missing: quiet},
		{key: "pretoken-latency-p99", what: "The pre-token trigger's p99 latency (ms) nears its budget inside Cognito's 5 s limit.",
			metric:    metric(pm.Namespace, pm.Latency, "p99", fiveMinutes(), map[string]*string{pm.FunctionDimension: fn}),
			threshold: t.PreTokenLatencyP99Ms, op: gt, missing: quiet},
		{key: "cognito-signin-throttles", what: "Cognito throttles sign-ins of the SPA client.",
			metric: cognito("SignInThrottles"), threshold: t.CognitoSignInThrottles, op: gte, missing: quiet},
		{key: "cognito-token-refresh-throttles", what: "Cognito throttles token refreshes of the SPA client.",
			metric: cognito("TokenRefreshThrottles"), threshold: t.CognitoTokenRefreshThrottles, op: gte, missing: quiet},
		{key: "claims-table-read-throttles", what: "Reads of the claims table are throttled: the trigger refuses those logins.",
			metric:    metric("AWS/DynamoDB", "ReadThrottleEvents", "Sum", fiveMinutes(), map[string]*string{"TableName": p.ClaimsTable.TableName()}),
			threshold: t.ClaimsTableReadThrottles, op: gte, missing: quiet},
		{key: "claims-table-system-errors", what: "DynamoDB fails the trigger's GetItem on the claims table with server errors.",
			metric:    metric("AWS/DynamoDB", "SystemErrors", "Sum", fiveMinutes(), map[string]*string{"TableName": p.ClaimsTable.TableName(), "Operation": jsii.String("GetItem")}),
			threshold: t.ClaimsTableSystemErrors, op: gte, missing: quiet},
		{key: "alb-5xx", what: "The load balancer itself answers 5xx (no target, target unreachable or timing out).",
			metric:    p.LoadBalancer.Metrics().HttpCodeElb(elbv2.HttpCodeElb_ELB_5XX_COUNT, opts("Sum", fiveMinutes())),
			threshold: t.LoadBalancer5xx, op: gte, missing: quiet},
		{key: "hasura-5xx", what: "Hasura answers 5xx.",
			metric:    p.LoadBalancer.Metrics().HttpCodeTarget(elbv2.HttpCodeTarget_TARGET_5XX_COUNT, opts("Sum", fiveMinutes())),
			threshold: t.Target5xx, op: gte, missing: quiet},
		{key: "hasura-unhealthy-hosts", what: "Hasura tasks fail the load balancer's /healthz check.",
			metric:    p.TargetGroup.Metrics().UnhealthyHostCount(opts("Maximum", oneMinute())),
			threshold: t.UnhealthyHosts, op: gte, missing: quiet},
		{key: "hasura-no-healthy-hosts", what: "Fewer healthy Hasura tasks than the threshold behind the load balancer (none: Hasura is down).",
			metric:    p.TargetGroup.Metrics().HealthyHostCount(opts("Minimum", oneMinute())),
			threshold: t.HealthyHostsBelow, op: lt, missing: silent},
		{key: "hasura-latency-p99", what: "Hasura's p99 response time (s) is high.",
			metric:    p.LoadBalancer.Metrics().TargetResponseTime(opts("p99", fiveMinutes())),
			threshold: t.TargetResponseTimeP99Seconds, op: gt, missing: quiet},
		// The running-tasks alarm covers tasks that report nothing; CPU and memory stay quiet then.
		{key: "hasura-cpu", what: "The Hasura service's average CPU (%) is high.",
			metric:    metric("AWS/ECS", "CPUUtilization", "Average", fiveMinutes(), service),
			threshold: t.ServiceCPUPercent, op: gt, missing: quiet},
		{key: "hasura-memory", what: "The Hasura service's average memory (%) is high.",
			metric:    metric("AWS/ECS", "MemoryUtilization", "Average", fiveMinutes(), service),
			threshold: t.ServiceMemoryPercent, op: gt, missing: quiet},
		{key: "hasura-running-tasks", what: "Fewer Hasura tasks run than the service's minimum.",
			metric:    metric("ECS/ContainerInsights", "RunningTaskCount", "Minimum", oneMinute(), service),
			threshold: t.RunningTasksBelow, op: lt, missing: silent},
	}
	if db := p.Database; db != nil {
		dims := map[string]*string{"DBInstanceIdentifier": db.InstanceIdentifier()}
		s = append(s,
			alarmSpec{key: "database-cpu", what: "The database's average CPU (%) is high.",
				metric: metric("AWS/RDS", "CPUUtilization", "Average", fiveMinutes(), dims), threshold: t.DatabaseCPUPercent, op: gt, missing: silent},
			alarmSpec{key: "database-free-storage", what: "The database's free storage (GiB) is low.",
				metric: metric("AWS/RDS", "FreeStorageSpace", "Minimum", fiveMinutes(), dims), threshold: t.DatabaseFreeStorageGiB, scale: 1 << 30, op: lt, missing: silent},
			alarmSpec{key: "database-connections", what: "The database's connections near its max_connections.",
				metric: metric("AWS/RDS", "DatabaseConnections", "Maximum", fiveMinutes(), dims), threshold: t.DatabaseConnections, op: gt, missing: silent},
			alarmSpec{key: "database-freeable-memory", what: "The database's freeable memory (MiB) is low.",
				metric: metric("AWS/RDS", "FreeableMemory", "Minimum", fiveMinutes(), dims), threshold: t.DatabaseFreeableMemoryMiB, scale: 1 << 20, op: lt, missing: silent},
		)
	}
	if mf := p.Migration; mf != nil {
		s = append(s, migrationSpecs(p, mf)...)
	}
	for _, name := range sortedKeys(p.Rotations) {
		s = append(s, alarmSpec{key: "rotation-errors-" + name, what: fmt.Sprintf("The %s rotation function failed: the secret may be left mid-rotation.", name),
			metric: metric("AWS/Lambda", "Errors", "Sum", fiveMinutes(), lambdaDims(p.Rotations[name])), threshold: t.RotationErrors, op: gte, missing: quiet})
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// migrationSpecs are the UserMigration trigger's alarms. Every refusal (a wrong password too)
// is a Lambda error, so Lambda's Errors alone would page on strangers: the old-pool alarm reads
// the trigger's infrastructure-class refusals, and the errors alarm only errors that are not
// refusals (Errors minus MigrationsRefused of both classes), which no log line reports.
func migrationSpecs(p *Props, mf awslambda.IFunction) []alarmSpec {
	t, pm := p.Thresholds, p.Metrics
	refused := func(class string) awscloudwatch.Metric {
		return metric(pm.MigrationNamespace, pm.MigrationRefused, "Sum", fiveMinutes(),
			map[string]*string{pm.FunctionDimension: mf.FunctionName(), pm.ClassDimension: jsii.String(class)})
	}
	unexpected := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String("errors - FILL(infrastructure, 0) - FILL(request, 0)"),
		UsingMetrics: &map[string]awscloudwatch.IMetric{
			"errors":         metric("AWS/Lambda", "Errors", "Sum", fiveMinutes(), map[string]*string{"FunctionName": mf.FunctionName()}),
			"infrastructure": refused(pm.InfrastructureClass),
			"request":        refused(pm.RequestClass),
		},
		Label:  jsii.String("errors that are not refusals"),
		Period: fiveMinutes(),
	})
	infra := metric(pm.MigrationNamespace, pm.MigrationRefused, "Sum", oneMinute(),
		map[string]*string{pm.FunctionDimension: mf.FunctionName(), pm.ClassDimension: jsii.String(pm.InfrastructureClass)})
	return []alarmSpec{
		{key: "usermigration-old-pool-failures", what: "Users of the old pool cannot migrate: the UserMigration trigger cannot reach or is refused by the old pool (throttled, pool or client gone, role denied, network).",
			metric: infra, threshold: t.MigrationInfrastructureRefusals, op: gte, missing: quiet},
		{key: "usermigration-errors", what: "The UserMigration trigger fails other than by refusing a user (init error, crash, timeout): old users cannot sign in.",
			metric: unexpected, threshold: t.MigrationErrors, op: gte, missing: quiet},
		{key: "usermigration-throttles", what: "Cognito's calls to the UserMigration trigger are throttled: those old users cannot sign in.",
			metric:    metric("AWS/Lambda", "Throttles", "Sum", oneMinute(), map[string]*string{"FunctionName": mf.FunctionName()}),
			threshold: t.MigrationThrottles, op: gte, missing: quiet},
	}
}
