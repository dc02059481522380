package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/hasura-auth-cdk/hasuraauth/internal/opsmetrics"
)

// SecretDescriber is the one Secrets Manager call the check makes: it reads metadata, never a value.
type SecretDescriber interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
}

// Checker reports, per secret, the age of its current value and whether it is overdue.
type Checker struct {
	// Secrets maps the name the alarms use to the secret's ARN.
	Secrets map[string]string
	// FunctionName is the check's own Lambda name (AWS_LAMBDA_FUNCTION_NAME), a dimension of its
	// metrics: every environment names its secrets alike, and two environments in one account
	// and region would otherwise publish into, and alarm on, each other's metrics.
	FunctionName string
	// MaxAge is the rotation schedule plus the grace the alarm allows.
	MaxAge  time.Duration
	SM      SecretDescriber
	Log     *slog.Logger
	Now     func() time.Time
	Timeout time.Duration
}

// Check describes every secret and writes one log line per secret that is also an embedded
// metric format record. A secret it cannot describe counts as overdue (nobody can tell it is
// not), and the invocation fails, so the check's own Errors show too.
func (c *Checker) Check(ctx context.Context) error {
	names := make([]string, 0, len(c.Secrets))
	for n := range c.Secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		age, overdue, why, err := c.one(ctx, c.Secrets[name])
		attrs := []slog.Attr{slog.String("secret", c.Secrets[name]), slog.String("result", why)}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			attrs = append(attrs, slog.String("error", err.Error()))
		}
		level := slog.LevelInfo
		if overdue {
			level = slog.LevelWarn
		}
		c.Log.LogAttrs(ctx, level, "rotation check", append(attrs, c.metricAttrs(name, age, overdue)...)...)
	}
	return errors.Join(errs...)
}

func (c *Checker) one(ctx context.Context, arn string) (age time.Duration, overdue bool, why string, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	out, err := c.SM.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		return 0, true, "unreadable", fmt.Errorf("describe secret: %w", err)
	}
	// A secret never rotated is as old as the secret itself.
	last := aws.ToTime(out.CreatedDate)
	if out.LastRotatedDate != nil {
		last = *out.LastRotatedDate
	}
	age = c.Now().Sub(last)
	switch {
	case !aws.ToBool(out.RotationEnabled):
		return age, true, "rotation disabled", nil
	case age > c.MaxAge:
		return age, true, "overdue", nil
	}
	return age, false, "on schedule", nil
}

func (c *Checker) metricAttrs(name string, age time.Duration, overdue bool) []slog.Attr {
	flag := 0
	if overdue {
		flag = 1
	}
	meta := opsmetrics.EMFMetadata{Timestamp: c.Now().UnixMilli(), CloudWatchMetrics: []opsmetrics.EMFDirective{{
		Namespace:  opsmetrics.RotationNamespace,
		Dimensions: [][]string{{opsmetrics.DimFunction, opsmetrics.DimSecret}},
		Metrics:    []opsmetrics.EMFMetric{{Name: opsmetrics.DaysSinceRotation, Unit: opsmetrics.UnitNone}, {Name: opsmetrics.RotationOverdue, Unit: opsmetrics.UnitCount}},
	}}}
	return []slog.Attr{
		slog.Any("_aws", meta),
		slog.String(opsmetrics.DimFunction, c.FunctionName),
		slog.String(opsmetrics.DimSecret, name),
		slog.Float64(opsmetrics.DaysSinceRotation, age.Hours()/24),
		slog.Int(opsmetrics.RotationOverdue, flag),
	}
}
