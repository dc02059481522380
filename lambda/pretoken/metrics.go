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

// metricAttrs returns the EMF attributes of one invocation's log line (opsmetrics.Outcome.Attrs):
// its latency, and one issued token or one refusal by reason and by class.
func (h *Handler) metricAttrs(now time.Time, reason string, latencyMs float64) []slog.Attr {
	return opsmetrics.PreToken.Attrs(h.FunctionName, now, reason == ReasonOK, reason, latencyMs)
}
