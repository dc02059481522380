// Command bootstrap is the Cognito PreTokenGeneration trigger: it puts the signed-in user's
// Hasura claims, decrypted from the claims table, into the token, or refuses the login.
//
// Environment: CLAIMS_TABLE_NAME, CLAIMS_KEY_SECRET_ID (ARN or name), CLAIMS_KEY_CACHE_TTL
// (Go duration, default 5m); AWS_LAMBDA_FUNCTION_NAME (set by Lambda) is the dimension of the
// metrics each log line carries (metrics.go). The SDK's standard AWS_ENDPOINT_URL* variables point it at an
// emulator; there is no test-only code path.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/hasura-auth-cdk/hasuraauth/internal/awsclient"
)

// budget bounds one invocation. Cognito waits 5 s at most and retries; answering (or refusing)
// within 2.5 s leaves room for a retry to succeed.
const budget = 2500 * time.Millisecond

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	h, err := newHandler(context.Background(), os.Getenv, log)
	if err != nil {
		// An init error makes every invocation fail: the trigger fails closed.
		log.Error("pretoken init failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

func newHandler(ctx context.Context, getenv func(string) string, log *slog.Logger) (*Handler, error) {
	table, secret := getenv("CLAIMS_TABLE_NAME"), getenv("CLAIMS_KEY_SECRET_ID")
	if table == "" || secret == "" {
		return nil, fmt.Errorf("CLAIMS_TABLE_NAME and CLAIMS_KEY_SECRET_ID must both be set")
	}
	ttl := 5 * time.Minute
	if s := getenv("CLAIMS_KEY_CACHE_TTL"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("CLAIMS_KEY_CACHE_TTL=%q: want a Go duration such as 5m", s)
		}
		ttl = d
	}
	cfg, err := awsclient.LambdaConfig(ctx)
	if err != nil {
		return nil, err
	}
	return &Handler{
		Table: table, SecretID: secret, KeyTTL: ttl, Budget: budget,
		DB: awsclient.DynamoDB(cfg), Secrets: awsclient.SecretsManager(cfg),
		Log: log, Now: time.Now, FunctionName: getenv("AWS_LAMBDA_FUNCTION_NAME"),
	}, nil
}
