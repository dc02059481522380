// Command bootstrap is the Secrets Manager rotation function for Hasura's secrets: the admin
// secret (ROTATION_KIND=hasura-admin) and the database credentials (ROTATION_KIND=postgres).
//
// The database rotation alternates two logins, the RDS master user and <master>_alt, both members
// of <master>_owner and acting as it: each rotation changes the password of the login Hasura does
// not use, then switches the URL secret Hasura reads to it (host, port, database and parameters
// unchanged), so the login the running tasks use keeps working until the next rotation. The
// first rotation creates the second login and the owner role (see docs/security.md).
//
// finishSecret checks, on every call, that the version is current, that the URL secret matches
// it and that the Hasura service has a deployment newer than both, and does what is missing.
//
// Environment: ROTATION_KIND, CLUSTER_NAME, SERVICE_NAME, and for postgres DATABASE_URL_SECRET_ID
// and PGSSLMODE (default require).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	r, err := newRotator(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("rotation init failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(r.Handle)
}

func newRotator(ctx context.Context, getenv func(string) string, log *slog.Logger) (*Rotator, error) {
	kind := getenv("ROTATION_KIND")
	if kind != KindHasuraAdmin && kind != KindPostgres {
		return nil, fmt.Errorf("ROTATION_KIND=%q: want %s or %s", kind, KindHasuraAdmin, KindPostgres)
	}
	r := &Rotator{Kind: kind, Cluster: getenv("CLUSTER_NAME"), Service: getenv("SERVICE_NAME"), Log: log, PasswordLength: 48}
	if r.Cluster == "" || r.Service == "" {
		return nil, fmt.Errorf("CLUSTER_NAME and SERVICE_NAME must be set")
	}
	if kind == KindPostgres {
		if r.URLSecretID = getenv("DATABASE_URL_SECRET_ID"); r.URLSecretID == "" {
			return nil, fmt.Errorf("DATABASE_URL_SECRET_ID must be set for %s rotation", kind)
		}
		sslMode := getenv("PGSSLMODE")
		if sslMode == "" {
			sslMode = "require"
		}
		r.Database = Postgres{SSLMode: sslMode}
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	r.Secrets = secretsmanager.NewFromConfig(cfg)
	r.Deployer = ecs.NewFromConfig(cfg)
	return r, nil
}
