package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/emulator"
	"github.com/hasura-auth-cdk/hasuraauth/internal/opsmetrics"
)

var moto *emulator.Moto

func TestMain(m *testing.M) { os.Exit(emulator.RunWithMoto(m, &moto)) }

// secrets creates, in moto, a secret rotated on a 30-day schedule and one without rotation.
func secrets(t *testing.T) (rotated, unrotated string) {
	t.Helper()
	ctx := context.Background()
	sm := secretsmanager.NewFromConfig(moto.Config())
	create := func(name string) string {
		out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name + "-" + t.Name()), SecretString: aws.String("v1")})
		require.NoError(t, err)
		return aws.ToString(out.ARN)
	}
	rotated, unrotated = create("rotated"), create("unrotated")
	// moto completes a rotation without a function and records it, as a finished rotation does.
	_, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(rotated),
		RotationRules: &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}})
	require.NoError(t, err)
	return rotated, unrotated
}

type line map[string]any

func run(t *testing.T, c *Checker) ([]line, error) {
	t.Helper()
	var buf bytes.Buffer
	c.Log = slog.New(slog.NewJSONHandler(&buf, nil))
	err := c.Check(context.Background())
	var out []line
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m line
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		out = append(out, m)
	}
	return out, err
}

// published reads a line as CloudWatch's EMF extraction does and returns secret -> metric -> value.
func published(t *testing.T, lines []line) map[string]map[string]float64 {
	t.Helper()
	out := map[string]map[string]float64{}
	for _, l := range lines {
		meta := l["_aws"].(map[string]any)
		require.IsType(t, float64(0), meta["Timestamp"])
		dirs := meta["CloudWatchMetrics"].([]any)
		require.Len(t, dirs, 1)
		d := dirs[0].(map[string]any)
		assert.Equal(t, opsmetrics.RotationNamespace, d["Namespace"])
		assert.Equal(t, []any{[]any{opsmetrics.DimSecret}}, d["Dimensions"])
		name := l[opsmetrics.DimSecret].(string)
		out[name] = map[string]float64{}
		for _, m := range d["Metrics"].([]any) {
			n := m.(map[string]any)["Name"].(string)
			v, ok := l[n].(float64)
			require.True(t, ok, "metric %s is a number member of the line", n)
			out[name][n] = v
		}
	}
	return out
}

func TestReportsEachSecretsAgeAndWhetherItIsOverdue(t *testing.T) {
	rotated, unrotated := secrets(t)
	sm := secretsmanager.NewFromConfig(moto.Config())
	for _, c := range []struct {
		name        string
		later       time.Duration
		wantRotated float64
	}{
		{"within the schedule", 10 * 24 * time.Hour, 0},
		{"past schedule and grace", 32 * 24 * time.Hour, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			lines, err := run(t, &Checker{
				Secrets: map[string]string{"admin-secret": rotated, "unrotated": unrotated},
				MaxAge:  31 * 24 * time.Hour, SM: sm, Timeout: 5 * time.Second,
				Now: func() time.Time { return time.Now().Add(c.later) },
			})
			require.NoError(t, err)
			got := published(t, lines)
			assert.Equal(t, c.wantRotated, got["admin-secret"][opsmetrics.RotationOverdue])
			assert.InDelta(t, c.later.Hours()/24, got["admin-secret"][opsmetrics.DaysSinceRotation], 0.1)
			assert.Equal(t, 1.0, got["unrotated"][opsmetrics.RotationOverdue], "rotation off counts as overdue")
			assert.Equal(t, "rotation disabled", lines[1]["result"])
		})
	}
}

func TestASecretItCannotReadIsOverdueAndFailsTheRun(t *testing.T) {
	rotated, _ := secrets(t)
	missing := strings.Replace(rotated, "rotated-", "deleted-", 1)
	lines, err := run(t, &Checker{
		Secrets: map[string]string{"database": missing, "admin-secret": rotated},
		MaxAge:  31 * 24 * time.Hour, SM: secretsmanager.NewFromConfig(moto.Config()), Timeout: 5 * time.Second, Now: time.Now,
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "database: describe secret:")
	got := published(t, lines)
	assert.Equal(t, 1.0, got["database"][opsmetrics.RotationOverdue])
	assert.Equal(t, 0.0, got["admin-secret"][opsmetrics.RotationOverdue], "the other secrets are still checked")
	for _, l := range lines {
		assert.NotContains(t, l, "SecretString", "metadata only: no value is read")
	}
}

func TestInitRefusesIncompleteConfiguration(t *testing.T) {
	log := slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil))
	for _, env := range []map[string]string{
		{"MAX_ROTATION_AGE": "744h"},
		{"SECRETS": "{}", "MAX_ROTATION_AGE": "744h"},
		{"SECRETS": `{"a":"arn"}`},
		{"SECRETS": `{"a":"arn"}`, "MAX_ROTATION_AGE": "31 days"},
	} {
		_, err := newChecker(context.Background(), func(k string) string { return env[k] }, log)
		assert.Error(t, err, "%v", env)
	}
}
