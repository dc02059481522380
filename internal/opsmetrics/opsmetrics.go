// Package opsmetrics is the contract between the pre-token Lambda, which publishes CloudWatch
// metrics through its JSON log line in the embedded metric format (EMF), and the alarms and
// dashboard that read them. It is plain Go with no CDK import, so the Lambda can use it; the
// stacks pass these names to constructs/monitoring, and tests on both sides assert them.
package opsmetrics

import (
	"log/slog"
	"time"
)

// Namespace is the CloudWatch namespace of the pre-token trigger's metrics.
const Namespace = "HasuraAuth/PreToken"

// Metric names.
const (
	// TokensIssued counts tokens the trigger allowed (1 per issued token).
	TokensIssued = "TokensIssued"
	// TokensRefused counts refused logins (1 per refusal), per Reason and per Class.
	TokensRefused = "TokensRefused"
	// Latency is the handler's own time per invocation, in milliseconds.
	Latency = "Latency"
)

// Dimension names. Every metric carries FunctionName (the Lambda's name, from
// AWS_LAMBDA_FUNCTION_NAME), so environments sharing an account and region stay apart.
const (
	DimFunction = "FunctionName"
	// DimReason is the refusal's reason code, as in the log line's "reason" field.
	DimReason = "Reason"
	// DimClass says whose problem a refusal is: ClassInfrastructure or ClassRequest.
	DimClass = "Class"
)

// Refusal classes.
const (
	// ClassInfrastructure refusals mean the environment is broken (the table or key secret is
	// unreachable, the key ring is invalid, stored claims do not decrypt): every login fails.
	ClassInfrastructure = "infrastructure"
	// ClassRequest refusals are about one login (an unknown user, an unverified email, ...):
	// refused by design, and no reason to wake anyone.
	ClassRequest = "request"
)

// Units, as EMF spells them.
const (
	UnitCount        = "Count"
	UnitMilliseconds = "Milliseconds"
)

// InfrastructureReasons are the reason codes of ClassInfrastructure. The pre-token tests assert
// they are exactly the handler's infrastructure reason codes.
var InfrastructureReasons = []string{
	"table_unavailable",
	"key_secret_unavailable",
	"key_secret_invalid",
	"claims_undecryptable",
}

// ClassOf returns the class of a reason code.
func ClassOf(reason string) string { return PreToken.Class(reason) }

// The rotation check (lambda/rotationcheck) publishes, per rotated secret, how long ago it last
// rotated and whether that is longer than its schedule allows.
const (
	RotationNamespace = "HasuraAuth/Rotation"
	// DaysSinceRotation is the age of the secret's current value, in days.
	DaysSinceRotation = "DaysSinceRotation"
	// RotationOverdue is 1 when the secret is older than allowed, its rotation is off, or it
	// cannot be read; 0 otherwise.
	RotationOverdue = "RotationOverdue"
	// DimSecret is the short name the stack gives the secret (e.g. "admin-secret"); the metrics
	// also carry DimFunction, the check's own function name, to keep environments apart.
	DimSecret = "SecretName"
	UnitNone  = "None"
)

// The "_aws" member of an EMF log line, as CloudWatch Logs reads it: one shape for every Lambda
// that publishes metrics through its log line.
type (
	// EMFMetric names one metric of a directive and its unit.
	EMFMetric struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	// EMFDirective is one CloudWatchMetrics entry: a namespace, its dimension sets and metrics.
	EMFDirective struct {
		Namespace  string      `json:"Namespace"`
		Dimensions [][]string  `json:"Dimensions"`
		Metrics    []EMFMetric `json:"Metrics"`
	}
	// EMFMetadata is the whole "_aws" member.
	EMFMetadata struct {
		Timestamp         int64          `json:"Timestamp"` // milliseconds since the epoch
		CloudWatchMetrics []EMFDirective `json:"CloudWatchMetrics"`
	}
)

// The UserMigration trigger (lambda/usermigration, only where cognito.migrateFrom is set)
// publishes the same shape as the pre-token trigger in its own namespace: one migrated user or
// one refusal per Reason and per Class, and its latency, all per FunctionName.
const (
	MigrationNamespace = "HasuraAuth/UserMigration"
	// UsersMigrated counts users the trigger let Cognito create (1 per migration).
	UsersMigrated = "UsersMigrated"
	// MigrationsRefused counts refused migrations (1 per refusal), per Reason and per Class.
	MigrationsRefused = "MigrationsRefused"
)

// MigrationInfrastructureReasons are the UserMigration trigger's reason codes of
// ClassInfrastructure: the old pool cannot be asked (throttled, gone, the role denied, the
// network down), so no old user can migrate. The usermigration tests assert the handler's code.
var MigrationInfrastructureReasons = []string{"old_pool_unavailable"}

// Outcome names the metrics of one trigger's invocations: in Namespace, Done counts successes,
// Refused refusals (per DimReason and per DimClass, the class from InfrastructureReasons), and
// Latency the handler's own time.
type Outcome struct {
	Namespace, Done, Refused, Latency string
	InfrastructureReasons             []string
}

// PreToken and Migration are the two triggers' metrics.
var (
	PreToken  = Outcome{Namespace, TokensIssued, TokensRefused, Latency, InfrastructureReasons}
	Migration = Outcome{MigrationNamespace, UsersMigrated, MigrationsRefused, Latency, MigrationInfrastructureReasons}
)

// Class returns the class of one of this trigger's reason codes.
func (o Outcome) Class(reason string) string {
	for _, r := range o.InfrastructureReasons {
		if r == reason {
			return ClassInfrastructure
		}
	}
	return ClassRequest
}

// Attrs returns the embedded metric format attributes of one invocation's log line: its latency,
// and one success (ok) or one refusal by reason and by class. CloudWatch Logs turns the line's
// "_aws" directives into metrics, so the line the handler logs anyway publishes them. Without a
// function name (outside Lambda) there is nothing to attribute metrics to: it returns nil, and
// the line stays a plain log line.
func (o Outcome) Attrs(functionName string, now time.Time, ok bool, reason string, latencyMs float64) []slog.Attr {
	if functionName == "" {
		return nil
	}
	directives := []EMFDirective{{
		Namespace: o.Namespace, Dimensions: [][]string{{DimFunction}},
		Metrics: []EMFMetric{{Name: o.Latency, Unit: UnitMilliseconds}},
	}}
	values := []slog.Attr{
		slog.String(DimFunction, functionName),
		slog.Float64(o.Latency, latencyMs),
	}
	if ok {
		directives[0].Metrics = append(directives[0].Metrics, EMFMetric{Name: o.Done, Unit: UnitCount})
		values = append(values, slog.Int(o.Done, 1))
	} else {
		// One refusal, counted per reason (the dashboard) and per class (the alarm).
		directives = append(directives, EMFDirective{
			Namespace:  o.Namespace,
			Dimensions: [][]string{{DimFunction, DimReason}, {DimFunction, DimClass}},
			Metrics:    []EMFMetric{{Name: o.Refused, Unit: UnitCount}},
		})
		values = append(values,
			slog.Int(o.Refused, 1),
			slog.String(DimReason, reason),
			slog.String(DimClass, o.Class(reason)),
		)
	}
	meta := EMFMetadata{Timestamp: now.UnixMilli(), CloudWatchMetrics: directives}
	return append([]slog.Attr{slog.Any("_aws", meta)}, values...)
}
