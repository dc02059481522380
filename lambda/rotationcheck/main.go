// Command bootstrap checks, every hour, that each rotated secret of the environment rotated as
// its schedule says: Secrets Manager publishes no metric for that, and a rotation that silently
// stopped (disabled, or failing before its function ran) would otherwise go unnoticed. It
// publishes per secret DaysSinceRotation and RotationOverdue (internal/opsmetrics) through its
// log lines in the embedded metric format; the rotation-overdue alarms read them.
//
// Environment: SECRETS (a JSON object of name to secret ARN), MAX_ROTATION_AGE (Go duration:
// the schedule plus the grace the alarm allows).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	c, err := newChecker(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("rotation check init failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(func(ctx context.Context) error { return c.Check(ctx) })
}

func newChecker(ctx context.Context, getenv func(string) string, log *slog.Logger) (*Checker, error) {
	var secrets map[string]string
	if err := json.Unmarshal([]byte(getenv("SECRETS")), &secrets); err != nil || len(secrets) == 0 {
		return nil, fmt.Errorf("SECRETS=%q: want a JSON object of name to secret ARN", getenv("SECRETS"))
	}
	maxAge, err := time.ParseDuration(getenv("MAX_ROTATION_AGE"))
	if err != nil || maxAge <= 0 {
		return nil, fmt.Errorf("MAX_ROTATION_AGE=%q: want a positive Go duration such as 744h", getenv("MAX_ROTATION_AGE"))
	}
	// Off Cognito's path: the SDK's default timeouts and retries suit an hourly check.
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return &Checker{
		Secrets: secrets, MaxAge: maxAge, SM: secretsmanager.NewFromConfig(cfg),
		Log: log, Now: time.Now, Timeout: 5 * time.Second,
	}, nil
}
