// Command bootstrap is the CloudFormation custom resource that creates secret values inside
// AWS: the event API key (an SSM SecureString, which CloudFormation cannot create) and the
// first Fernet key of the claims key ring.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("load AWS config", slog.String("error", err.Error()))
		os.Exit(1)
	}
	h := &Handler{SSM: ssm.NewFromConfig(cfg), Secrets: secretsmanager.NewFromConfig(cfg), Log: log}
	lambda.Start(cfn.LambdaWrap(h.Handle))
}
