package main

import (
	"log/slog"
	"time"

	"github.com/hasura-auth-cdk/hasuraauth/internal/opsmetrics"
)

// The log line of every invocation doubles as a CloudWatch embedded metric format (EMF) record:
// CloudWatch Logs turns its "_aws" directives into the metrics the alarms and the dashboard read
// (internal/opsmetrics names them). Refusals are ordinary Lambda errors, so Lambda's own Errors
// metric cannot tell an outage from a stranger; these metrics can.

// metricAttrs returns the EMF attributes of one invocation's log line: its latency, and one
// issued token or one refusal by reason and by class. Outside Lambda (no function name) there is
// nothing to attribute metrics to, and the line stays a plain log line.
func (h *Handler) metricAttrs(now time.Time, reason string, latencyMs float64) []slog.Attr {
	if h.FunctionName == "" {
		return nil
	}
	byFunction := [][]string{{opsmetrics.DimFunction}}
	directives := []opsmetrics.EMFDirective{{
		Namespace: opsmetrics.Namespace, Dimensions: byFunction,
		Metrics: []opsmetrics.EMFMetric{{Name: opsmetrics.Latency, Unit: opsmetrics.UnitMilliseconds}},
	}}
	values := []slog.Attr{
		slog.String(opsmetrics.DimFunction, h.FunctionName),
		slog.Float64(opsmetrics.Latency, latencyMs),
	}
	if reason == ReasonOK {
		directives[0].Metrics = append(directives[0].Metrics, opsmetrics.EMFMetric{Name: opsmetrics.TokensIssued, Unit: opsmetrics.UnitCount})
		values = append(values, slog.Int(opsmetrics.TokensIssued, 1))
	} else {
		// One refusal, counted per reason (the dashboard) and per class (the alarm).
		directives = append(directives, opsmetrics.EMFDirective{
			Namespace: opsmetrics.Namespace,
			Dimensions: [][]string{
				{opsmetrics.DimFunction, opsmetrics.DimReason},
				{opsmetrics.DimFunction, opsmetrics.DimClass},
			},
			Metrics: []opsmetrics.EMFMetric{{Name: opsmetrics.TokensRefused, Unit: opsmetrics.UnitCount}},
		})
		values = append(values,
			slog.Int(opsmetrics.TokensRefused, 1),
			slog.String(opsmetrics.DimReason, reason),
			slog.String(opsmetrics.DimClass, opsmetrics.ClassOf(reason)),
		)
	}
	meta := opsmetrics.EMFMetadata{Timestamp: now.UnixMilli(), CloudWatchMetrics: directives}
	return append([]slog.Attr{slog.Any("_aws", meta)}, values...)
}
