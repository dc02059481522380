package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsrds"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"

	"github.com/hasura-auth-cdk/hasuraauth/config"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/edge"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/monitoring"
	"github.com/hasura-auth-cdk/hasuraauth/internal/opsmetrics"
)

// RunbookURL is where every alarm's description points, followed by #<alarm key>.
const RunbookURL = "docs/operations.md"

// Metrics are the names the pre-token Lambda and the rotation check publish
// (internal/opsmetrics), as the monitoring construct takes them.
var Metrics = monitoring.Metrics{
	Namespace: opsmetrics.Namespace,
	Issued:    opsmetrics.TokensIssued, Refused: opsmetrics.TokensRefused, Latency: opsmetrics.Latency,
	FunctionDimension: opsmetrics.DimFunction, ReasonDimension: opsmetrics.DimReason, ClassDimension: opsmetrics.DimClass,
	InfrastructureClass: opsmetrics.ClassInfrastructure, RequestClass: opsmetrics.ClassRequest,
	MigrationNamespace: opsmetrics.MigrationNamespace, Migrated: opsmetrics.UsersMigrated, MigrationRefused: opsmetrics.MigrationsRefused,
	RotationNamespace: opsmetrics.RotationNamespace, RotationOverdue: opsmetrics.RotationOverdue,
	DaysSinceRotation: opsmetrics.DaysSinceRotation, SecretDimension: opsmetrics.DimSecret,
}

// thresholds translates the operations config into the monitoring construct's thresholds.
func thresholds(e config.Environment) monitoring.Thresholds {
	a := e.Operations.Alarms
	t := func(x config.Alarm) monitoring.Threshold {
		return monitoring.Threshold{Value: x.Threshold, EvaluationPeriods: float64(x.EvaluationPeriods)}
	}
	running := t(a.RunningTasksBelow)
	running.Value = e.RunningTasksThreshold()
	conns := t(a.DatabaseConnections)
	conns.Value = e.DatabaseConnectionsThreshold()
	return monitoring.Thresholds{
		PreTokenInfrastructureRefusals:  t(a.PreTokenInfrastructureRefusals),
		PreTokenThrottles:               t(a.PreTokenThrottles),
		PreTokenLatencyP99Ms:            t(a.PreTokenLatencyP99Ms),
		CognitoSignInThrottles:          t(a.CognitoSignInThrottles),
		CognitoTokenRefreshThrottles:    t(a.CognitoTokenRefreshThrottles),
		ClaimsTableReadThrottles:        t(a.ClaimsTableReadThrottles),
		ClaimsTableSystemErrors:         t(a.ClaimsTableSystemErrors),
		LoadBalancer5xx:                 t(a.LoadBalancer5xx),
		Target5xx:                       t(a.Hasura5xx),
		UnhealthyHosts:                  t(a.UnhealthyHosts),
		HealthyHostsBelow:               t(a.HealthyHostsBelow),
		TargetResponseTimeP99Seconds:    t(a.HasuraLatencyP99Seconds),
		ServiceCPUPercent:               t(a.HasuraCPUPercent),
		ServiceMemoryPercent:            t(a.HasuraMemoryPercent),
		RunningTasksBelow:               running,
		DatabaseCPUPercent:              t(a.DatabaseCPUPercent),
		DatabaseFreeStorageGiB:          t(a.DatabaseFreeStorageGiB),
		DatabaseFreeableMemoryMiB:       t(a.DatabaseFreeableMemoryMiB),
		DatabaseConnections:             conns,
		RotationErrors:                  t(a.RotationErrors),
		MigrationInfrastructureRefusals: t(a.MigrationInfrastructureRefusals),
		MigrationErrors:                 t(a.MigrationErrors),
		MigrationThrottles:              t(a.MigrationThrottles),
		RotationOverdue:                 t(a.RotationOverdue),
	}
}

// operations defines what watches the environment (alarms, topic, dashboard) and, where
// configured, the WAF in front of Hasura. It lives in the Hasura stack, which already depends on
// the identity stack whose resources it also watches.
func operations(s *HasuraStack, c Common, id *IdentityStack) (*monitoring.Monitoring, *edge.Edge) {
	stack, svc := s.Stack, s.Service
	name := c.Project + "-" + c.Env.Name
	o := c.Env.Operations
	var topic awssns.ITopic
	if o.AlarmTopicArn != "" {
		topic = awssns.Topic_FromTopicArn(stack, jsii.String("AlarmTopic"), jsii.String(o.AlarmTopicArn))
	}
	rotations := map[string]awslambda.IFunction{"admin-secret": svc.AdminSecretRotation.Function}
	rotated := map[string]awssecretsmanager.ISecret{"admin-secret": svc.AdminSecret}
	var migration awslambda.IFunction
	if f := id.Directory.Migration; f != nil {
		migration = f.Function
	}
	var db awsrds.IDatabaseInstance
	if s.Database != nil {
		db = s.Database.Instance
		rotations["database"] = s.DatabaseRotation.Function
		rotated["database"] = s.Database.Instance.Secret()
	}
	m := monitoring.New(stack, "Monitoring", &monitoring.Props{
		Name:           name,
		RunbookURL:     RunbookURL,
		Topic:          topic,
		Emails:         o.AlarmEmails,
		RemovalPolicy:  c.removal(),
		PreToken:       id.Directory.PreToken.Function,
		Migration:      migration,
		Metrics:        Metrics,
		UserPool:       id.Directory.Pool,
		UserPoolClient: id.Directory.Client,
		ClaimsTable:    id.Store.Table,
		LoadBalancer:   svc.LoadBalancer,
		TargetGroup:    svc.TargetGroup,
		Service:        svc.Service,
		Database:       db,
		Rotations:      rotations,
		RotationCheck: &monitoring.RotationCheckProps{
			Lambdas: c.Lambdas,
			Secrets: rotated,
			// The schedule, plus the grace from config before an overdue secret alarms.
			MaxAge: awscdk.Duration_Hours(jsii.Number(*secretRotation().ToHours(nil) +
				c.Env.Operations.Alarms.RotationOverdue.Threshold)),
			LogRetention: c.logRetention(), RemovalPolicy: c.removal(),
		},
		Thresholds: thresholds(c.Env),
	})
	var e *edge.Edge
	if o.WAF.Enabled {
		e = edge.New(stack, "Edge", &edge.Props{
			Name:          name + "-hasura",
			LoadBalancer:  svc.LoadBalancer,
			RateLimit:     float64(o.WAF.RateLimit),
			LogRetention:  c.logRetention(),
			RemovalPolicy: c.removal(),
		})
	}
	return m, e
}
