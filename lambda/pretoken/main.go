// Command bootstrap is the Cognito PreTokenGeneration trigger: it puts the signed-in user's
// Hasura claims, decrypted from the claims table, into the token, or refuses the login.
//
// Environment: CLAIMS_TABLE_NAME, CLAIMS_KEY_SECRET_ID (ARN or name), CLAIMS_KEY_CACHE_TTL
// (Go duration, default 5m), CLAIMS_ALLOW_UNBOUND ("true" accepts claims not bound to their
// item; default "false"), SSO_PROVIDER_NAME and SSO_ALLOWED_EMAIL_DOMAINS (comma-separated;
// without them every federated user is refused); AWS_LAMBDA_FUNCTION_NAME (set by Lambda) is the
// dimension of the metrics each log line carries (metrics.go). The SDK's standard AWS_ENDPOINT_URL* variables point it at an
// emulator; there is no test-only code path.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/hasura-auth-cdk/hasuraauth/internal/awsclient"
	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
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
	allowUnbound := false
	switch v := getenv("CLAIMS_ALLOW_UNBOUND"); v {
	case "", "false":
	case "true":
		allowUnbound = true
	default:
		return nil, fmt.Errorf("CLAIMS_ALLOW_UNBOUND=%q: want true or false", v)
	}
	provider, domains := getenv("SSO_PROVIDER_NAME"), map[string]bool{}
	for _, d := range strings.Split(getenv("SSO_ALLOWED_EMAIL_DOMAINS"), ",") {
		if d = strings.TrimSpace(d); d != "" {
			if _, err := claims.NormalizeEmail("x@" + d); err != nil || strings.ToLower(d) != d {
				return nil, fmt.Errorf("SSO_ALLOWED_EMAIL_DOMAINS: %q is not a lower-case ASCII domain", d)
			}
			domains[d] = true
		}
	}
	if provider != "" && len(domains) == 0 {
		return nil, fmt.Errorf("SSO_PROVIDER_NAME is set but SSO_ALLOWED_EMAIL_DOMAINS is empty: federated users would all be refused")
	}
	tiers := map[string]string{}
	if v := getenv("MACHINE_TIERS"); v != "" {
		for _, pair := range strings.Split(v, ",") {
			tier, role, ok := strings.Cut(pair, "=")
			if !ok || tier == "" || role == "" {
				return nil, fmt.Errorf("MACHINE_TIERS=%q: want tier=role pairs separated by commas", v)
			}
			tiers[tier] = role
		}
	}
	cfg, err := awsclient.LambdaConfig(ctx)
	if err != nil {
		return nil, err
	}
	return &Handler{
		Table: table, SecretID: secret, KeyTTL: ttl, Budget: budget,
		DB: awsclient.DynamoDB(cfg), Secrets: awsclient.SecretsManager(cfg),
		Log: log, Now: time.Now, FunctionName: getenv("AWS_LAMBDA_FUNCTION_NAME"),
		AllowUnbound: allowUnbound, SSOProvider: provider, SSODomains: domains, Tiers: tiers,
	}, nil
}
