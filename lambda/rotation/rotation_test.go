package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/testenv"
)

// Rotation runs against moto's Secrets Manager and ECS, and a real PostgreSQL server.
var (
	moto *testenv.Moto
	pg   *testenv.Postgres
)

const initialPassword = "Initial0Password0For0Tests0Only"

func TestMain(m *testing.M) {
	var err error
	if moto, err = testenv.StartMoto(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if pg, err = testenv.StartPostgres("hasura", initialPassword); err != nil {
		moto.Stop()
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	pg.Stop()
	moto.Stop()
	os.Exit(code)
}

var seq atomic.Int64

type fixture struct {
	sm      *secretsmanager.Client
	ecs     *ecs.Client
	secret  string
	url     string
	cluster string
	logs    *bytes.Buffer
	r       *Rotator
}

func newFixture(t *testing.T, kind, initial string) *fixture {
	t.Helper()
	ctx := context.Background()
	n := seq.Add(1)
	f := &fixture{sm: secretsmanager.NewFromConfig(moto.Config()), ecs: ecs.NewFromConfig(moto.Config()), logs: &bytes.Buffer{}}
	out, err := f.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(fmt.Sprintf("rot-%d", n)), SecretString: aws.String(initial)})
	require.NoError(t, err)
	f.secret = aws.ToString(out.ARN)
	urlOut, err := f.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(fmt.Sprintf("rot-url-%d", n)), SecretString: aws.String("postgres://stale")})
	require.NoError(t, err)
	f.url = aws.ToString(urlOut.ARN)
	f.cluster = fmt.Sprintf("c%d", n)
	_, err = f.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(f.cluster)})
	require.NoError(t, err)
	td, err := f.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String(f.cluster),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("hasura"), Image: aws.String("hasura/graphql-engine:v2.48.9"), Memory: aws.Int32(512)}}})
	require.NoError(t, err)
	_, err = f.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(f.cluster), ServiceName: aws.String("hasura"), TaskDefinition: td.TaskDefinition.TaskDefinitionArn, DesiredCount: aws.Int32(1)})
	require.NoError(t, err)
	f.r = &Rotator{Kind: kind, Secrets: f.sm, Deployer: f.ecs, Database: Postgres{SSLMode: "disable"}, URLSecretID: f.url,
		Cluster: f.cluster, Service: "hasura", Log: slog.New(slog.NewJSONHandler(f.logs, nil)), PasswordLength: 48}
	return f
}

func (f *fixture) current(t *testing.T, id string) string {
	t.Helper()
	// AWSCURRENT by name: moto's stage-less read does not follow a moved AWSCURRENT label.
	out, err := f.sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionStage: aws.String("AWSCURRENT")})
	require.NoError(t, err)
	return aws.ToString(out.SecretString)
}

// rotate runs the four steps as Secrets Manager does, stopping early after stop steps if stop > 0.
func (f *fixture) rotate(t *testing.T, token string, stop int) error {
	t.Helper()
	for i, step := range []string{"createSecret", "setSecret", "testSecret", "finishSecret"} {
		if stop > 0 && i == stop {
			return nil
		}
		if err := f.r.Handle(context.Background(), Event{SecretID: f.secret, ClientRequestToken: token, Step: step}); err != nil {
			return fmt.Errorf("%s: %w", step, err)
		}
	}
	return nil
}

func TestAdminSecretRotation(t *testing.T) {
	f := newFixture(t, KindHasuraAdmin, "OldAdminSecretValue0123456789abcdefghij")
	require.NoError(t, f.rotate(t, "11111111-1111-4111-8111-111111111111", 0))
	next := f.current(t, f.secret)
	assert.NotEqual(t, "OldAdminSecretValue0123456789abcdefghij", next)
	assert.Regexp(t, `^[A-Za-z0-9]{48}$`, next, "letters and digits only")
	assert.NotContains(t, f.logs.String(), next, "no value in the log")

	// Every step is safe to repeat: Secrets Manager retries.
	require.NoError(t, f.rotate(t, "11111111-1111-4111-8111-111111111111", 0))
	assert.Equal(t, next, f.current(t, f.secret))
}

func creds(password string) string {
	return fmt.Sprintf(`{"username":"hasura","password":%q,"host":"127.0.0.1","port":%d,"dbname":"postgres","engine":"postgres","dbInstanceIdentifier":"db1"}`, password, pg.Port)
}

func TestPostgresRotationChangesThePasswordAndRewritesTheURL(t *testing.T) {
	f := newFixture(t, KindPostgres, creds(initialPassword))
	require.NoError(t, f.rotate(t, "22222222-2222-4222-8222-222222222222", 0))

	c, err := parseCredentials(f.current(t, f.secret))
	require.NoError(t, err)
	assert.NotEqual(t, initialPassword, c.Password)
	assert.Contains(t, f.current(t, f.secret), `"dbInstanceIdentifier":"db1"`, "other fields are kept")
	db := Postgres{SSLMode: "disable"}
	require.NoError(t, db.Check(context.Background(), c), "the new password logs in")
	old := c
	old.Password = initialPassword
	assert.Error(t, db.Check(context.Background(), old), "the old one no longer does")
	assert.Equal(t, c.URL(), f.current(t, f.url), "Hasura's URL secret follows the new password")
	assert.True(t, strings.HasPrefix(c.URL(), "postgres://hasura:"+c.Password+"@127.0.0.1:"))
	assert.NotContains(t, f.logs.String(), c.Password)

	// Restore the server's password for other tests.
	require.NoError(t, db.SetPassword(context.Background(), c, initialPassword))
}

func TestPostgresRotationResumesAfterAnInterruption(t *testing.T) {
	f := newFixture(t, KindPostgres, creds(initialPassword))
	token := "33333333-3333-4333-8333-333333333333"
	// Stopped after setSecret: the database has the new password, the secret still the old one.
	require.NoError(t, f.rotate(t, token, 2))
	cur, _ := parseCredentials(f.current(t, f.secret))
	assert.Equal(t, initialPassword, cur.Password, "not yet current")
	// Secrets Manager retries the whole rotation: set logs in with the pending password already set.
	require.NoError(t, f.rotate(t, token, 0))
	c, _ := parseCredentials(f.current(t, f.secret))
	require.NoError(t, Postgres{SSLMode: "disable"}.Check(context.Background(), c))
	require.NoError(t, Postgres{SSLMode: "disable"}.SetPassword(context.Background(), c, initialPassword))
}

func TestRotationRefusesWhatItCannotDoSafely(t *testing.T) {
	f := newFixture(t, KindPostgres, `not json`)
	err := f.rotate(t, "44444444-4444-4444-8444-444444444444", 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "credentials secret is not JSON")
	assert.NotContains(t, err.Error(), "not json", "the secret's content is never quoted")

	err = f.r.Handle(context.Background(), Event{SecretID: f.secret, ClientRequestToken: "55555555-5555-4555-8555-555555555555", Step: "setSecret"})
	assert.ErrorContains(t, err, "is not a version of the secret")

	assert.ErrorContains(t, Postgres{}.SetPassword(context.Background(), Credentials{}, "short"), "refusing a password")
	assert.ErrorContains(t, Postgres{}.SetPassword(context.Background(), Credentials{}, "quote'injection0123456789"), "refusing a password")
}

func TestInitNeedsItsConfiguration(t *testing.T) {
	log := slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil))
	for name, env := range map[string]map[string]string{
		"no kind":    {"CLUSTER_NAME": "c", "SERVICE_NAME": "s"},
		"no service": {"ROTATION_KIND": "hasura-admin", "CLUSTER_NAME": "c"},
		"no url":     {"ROTATION_KIND": "postgres", "CLUSTER_NAME": "c", "SERVICE_NAME": "s"},
	} {
		_, err := newRotator(context.Background(), func(k string) string { return env[k] }, log)
		assert.Error(t, err, name)
	}
}
