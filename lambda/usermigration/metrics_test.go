package main

import (
	"context"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/emulator"
	"github.com/hasura-auth-cdk/hasuraauth/internal/opsmetrics"
)

// emf reads a log line's metrics the way CloudWatch Logs does (the EMF specification): for
// each directive's dimension set and metric, "namespace metric unit {dim=value,...} value",
// taking dimension values and metric values from the line's root members.
func emf(t *testing.T, line map[string]any) []string {
	t.Helper()
	meta, ok := line["_aws"].(map[string]any)
	require.True(t, ok, "no _aws member: %v", line)
	require.IsType(t, float64(0), meta["Timestamp"])
	var out []string
	for _, d := range meta["CloudWatchMetrics"].([]any) {
		dir := d.(map[string]any)
		for _, set := range dir["Dimensions"].([]any) {
			dims := ""
			for i, n := range set.([]any) {
				v, ok := line[n.(string)].(string)
				require.True(t, ok, "dimension %s is not a string member of the line", n)
				if i > 0 {
					dims += ","
				}
				dims += n.(string) + "=" + v
			}
			for _, m := range dir["Metrics"].([]any) {
				mm := m.(map[string]any)
				v, ok := line[mm["Name"].(string)].(float64)
				require.True(t, ok, "metric %s is not a number member of the line", mm["Name"])
				if mm["Name"] == opsmetrics.Latency {
					v = -1 // its value is the time taken; that it is the line's latency_ms is checked below
					assert.Equal(t, line["latency_ms"], line[opsmetrics.Latency])
				}
				out = append(out, dir["Namespace"].(string)+" "+mm["Name"].(string)+" "+mm["Unit"].(string)+" {"+dims+"} "+fmtNum(v))
			}
		}
	}
	sort.Strings(out)
	return out
}

func fmtNum(v float64) string {
	if v == -1 {
		return "latency"
	}
	return map[float64]string{1: "1"}[v]
}

func TestEveryInvocationPublishesItsOutcomeAndAnOldPoolOutageIsInfrastructure(t *testing.T) {
	require.Equal(t, []string{ReasonOldPoolError}, opsmetrics.MigrationInfrastructureReasons,
		"the alarm's class: only an old pool that cannot be asked stops every migration")
	refused, err := emulator.Refusing()
	require.NoError(t, err)
	p := newOldPool(t)
	p.addUser(t, "jane@example.com", password, nil)
	const fn = "hasura-auth-moped-UserMigration"
	ns := opsmetrics.MigrationNamespace
	latency := ns + " Latency Milliseconds {FunctionName=" + fn + "} latency"
	refusal := func(reason, class string) []string {
		return []string{
			ns + " MigrationsRefused Count {FunctionName=" + fn + ",Class=" + class + "} 1",
			ns + " MigrationsRefused Count {FunctionName=" + fn + ",Reason=" + reason + "} 1",
			latency,
		}
	}
	for _, c := range []struct {
		name, password, endpoint string
		want                     []string
	}{
		{"migrated", password, "", []string{latency, ns + " UsersMigrated Count {FunctionName=" + fn + "} 1"}},
		{"wrong password", "Wrong-Passw0rd!", "", refusal(ReasonNotAuthorized, opsmetrics.ClassRequest)},
		{"old pool unreachable", password, refused, refusal(ReasonOldPoolError, opsmetrics.ClassInfrastructure)},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.endpoint != "" {
				t.Setenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", c.endpoint)
			}
			t.Setenv("AWS_LAMBDA_FUNCTION_NAME", fn)
			h := p.handler(t)
			require.Equal(t, fn, h.FunctionName, "from Lambda's AWS_LAMBDA_FUNCTION_NAME")
			_, _ = h.Handle(context.Background(), event(SourceAuthentication, "jane@example.com", c.password))
			line := p.logs.lastLog(t)
			sort.Strings(c.want)
			assert.Equal(t, c.want, emf(t, line))
			assertNothingSecretLogged(t, p, "jane@example.com")
		})
	}
}

func TestWithoutAFunctionNameLinesCarryNoMetrics(t *testing.T) {
	p := newOldPool(t)
	h := p.handler(t)
	require.Empty(t, h.FunctionName)
	_, err := h.Handle(context.Background(), event(SourceAuthentication, "nobody@example.com", password))
	require.Error(t, err)
	line := p.logs.lastLog(t)
	assert.NotContains(t, line, "_aws")
	assert.NotContains(t, line, opsmetrics.MigrationsRefused)
}
