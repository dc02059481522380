// Package awsclient builds AWS SDK clients with the time bounds this project needs. Endpoints
// come from the SDK's standard settings (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>), which
// is how tests point the real clients at a local emulator.
package awsclient

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// LambdaConfig is for code on Cognito's synchronous path: every attempt is short and there are
// few of them, so that a hanging dependency costs at most a fraction of the 5 s Cognito waits.
// The caller's context deadline bounds the total.
func LambdaConfig(ctx context.Context) (aws.Config, error) {
	// The SDK's buildable client, so AWS_CA_BUNDLE and the SDK's own transport defaults still apply.
	httpClient := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = 300 * time.Millisecond }).
		WithTransportOptions(func(tr *http.Transport) {
			tr.TLSHandshakeTimeout = 500 * time.Millisecond
			tr.ResponseHeaderTimeout = time.Second
		})
	cfg, err := awsconfig.LoadDefaultConfig(ctx,
		awsconfig.WithHTTPClient(httpClient),
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 2
				o.MaxBackoff = 100 * time.Millisecond
			})
		}),
	)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS config: %w", err)
	}
	return cfg, nil
}

// DynamoDB returns a DynamoDB client for cfg.
func DynamoDB(cfg aws.Config) *dynamodb.Client { return dynamodb.NewFromConfig(cfg) }

// SecretsManager returns a Secrets Manager client for cfg.
func SecretsManager(cfg aws.Config) *secretsmanager.Client { return secretsmanager.NewFromConfig(cfg) }
