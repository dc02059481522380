// Command bootstrap is the Cognito UserMigration trigger of a pool that takes over the users of
// an older pool (config cognito.migrateFrom): when someone unknown to the new pool signs in or
// asks for a password reset, it checks them against the old pool, and Cognito creates them in
// the new pool, confirmed, with the old pool's sub kept as custom:legacy_sub.
//
// Environment: OLD_USER_POOL_ID, OLD_USER_POOL_REGION (the old pool's region, which may differ
// from the function's), OLD_USER_POOL_CLIENT_ID (an app client of the old pool without a secret
// that allows ADMIN_USER_PASSWORD_AUTH), and Lambda's AWS_LAMBDA_FUNCTION_NAME, the dimension of
// the metrics its log lines publish (internal/opsmetrics). The SDK's standard AWS_ENDPOINT_URL* variables point it
// at an emulator; there is no test-only code path.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"

	"github.com/hasura-auth-cdk/hasuraauth/internal/awsclient"
)

// budget bounds one invocation. Cognito waits 5 s at most for a trigger and retries; two
// admin calls to the old pool fit well inside 2.5 s, which leaves room for a retry.
const budget = 2500 * time.Millisecond

var poolIDRe = regexp.MustCompile(`^([a-z0-9-]+)_[0-9A-Za-z]+$`)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	h, err := newHandler(context.Background(), os.Getenv, log)
	if err != nil {
		// An init error makes every invocation fail: nobody migrates, nobody gets in unchecked.
		log.Error("usermigration init failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

func newHandler(ctx context.Context, getenv func(string) string, log *slog.Logger) (*Handler, error) {
	pool, region, client := getenv("OLD_USER_POOL_ID"), getenv("OLD_USER_POOL_REGION"), getenv("OLD_USER_POOL_CLIENT_ID")
	if pool == "" || region == "" || client == "" {
		return nil, fmt.Errorf("OLD_USER_POOL_ID, OLD_USER_POOL_REGION and OLD_USER_POOL_CLIENT_ID must all be set")
	}
	if m := poolIDRe.FindStringSubmatch(pool); m == nil || m[1] != region {
		return nil, fmt.Errorf("OLD_USER_POOL_ID=%q: want a pool ID of region %s (<region>_<id>)", pool, region)
	}
	if strings.ContainsAny(client, " /:") {
		return nil, fmt.Errorf("OLD_USER_POOL_CLIENT_ID=%q: want an app client ID", client)
	}
	cfg, err := awsclient.LambdaConfig(ctx)
	if err != nil {
		return nil, err
	}
	old := cip.NewFromConfig(cfg, func(o *cip.Options) { o.Region = region })
	return &Handler{PoolID: pool, ClientID: client, Old: old, Budget: budget, Log: log, Now: time.Now,
		FunctionName: getenv("AWS_LAMBDA_FUNCTION_NAME")}, nil
}
