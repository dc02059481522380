package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/opsmetrics"
)

// series is one CloudWatch metric data point as CloudWatch Logs extracts it from an EMF line.
type series struct {
	Namespace, Metric, Unit string
	Dims                    map[string]string
	Value                   float64
}

func (s series) key() string {
	var d []string
	for k, v := range s.Dims {
		d = append(d, k+"="+v)
	}
	sort.Strings(d)
	return s.Namespace + " " + s.Metric + " {" + strings.Join(d, ",") + "}"
}

// extractEMF reads a log line the way CloudWatch Logs does (the EMF specification): "_aws" at
// the root with a millisecond Timestamp and CloudWatchMetrics directives; every dimension and
// metric a directive names is a root member of the line, dimensions strings, metrics numbers.
// It fails on anything CloudWatch would reject.
func extractEMF(t *testing.T, line map[string]any) []series {
	t.Helper()
	meta, ok := line["_aws"].(map[string]any)
	require.True(t, ok, "the line carries _aws: %v", line)
	ts, ok := meta["Timestamp"].(float64)
	require.True(t, ok, "_aws.Timestamp is a number")
	assert.InDelta(t, float64(time.Now().UnixMilli()), ts, float64(time.Hour.Milliseconds()), "Timestamp is milliseconds since the epoch")
	directives, ok := meta["CloudWatchMetrics"].([]any)
	require.True(t, ok)
	require.NotEmpty(t, directives)
	var out []series
	for _, d := range directives {
		dir := d.(map[string]any)
		ns := dir["Namespace"].(string)
		for _, set := range dir["Dimensions"].([]any) {
			names := set.([]any)
			require.LessOrEqual(t, len(names), 30, "EMF allows 30 dimensions per set")
			dims := map[string]string{}
			for _, n := range names {
				v, ok := line[n.(string)].(string)
				require.True(t, ok, "dimension %s is a string member of the line", n)
				require.NotEmpty(t, v, "dimension %s has a value", n)
				dims[n.(string)] = v
			}
			for _, m := range dir["Metrics"].([]any) {
				mm := m.(map[string]any)
				name := mm["Name"].(string)
				v, ok := line[name].(float64)
				require.True(t, ok, "metric %s is a number member of the line", name)
				out = append(out, series{ns, name, mm["Unit"].(string), dims, v})
			}
		}
	}
	return out
}

// allLogs parses every log line written so far.
func allLogs(t *testing.T, f *fixture) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(f.logs.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		out = append(out, m)
	}
	return out
}

const functionName = "hasura-auth-test-pretoken"

func TestEveryInvocationPublishesItsOutcomeAndLatencyAsMetrics(t *testing.T) {
	assert.ElementsMatch(t, []string{ReasonTableError, ReasonSecretError, ReasonKeyRingInvalid, ReasonUndecryptable}, opsmetrics.InfrastructureReasons,
		"the infrastructure class is exactly the handler's reasons that mean the environment is broken")

	f := newFixture(t)
	f.put(t, item{email: "ok@example.com", claimsJSON: editorClaims, uuid: uuid})
	f.putRaw(t, item{email: "garbled@example.com"}, "gAAAAABfa8G-garbled-not-a-fernet-token==")
	withName := map[string]string{"AWS_LAMBDA_FUNCTION_NAME": functionName}
	h := f.handler(t, withName)
	noTable := f.handler(t, map[string]string{"AWS_LAMBDA_FUNCTION_NAME": functionName, "CLAIMS_TABLE_NAME": "no-such-table"})
	noSecret := f.handler(t, map[string]string{"AWS_LAMBDA_FUNCTION_NAME": functionName, "CLAIMS_KEY_SECRET_ID": "no-such-secret"})

	cases := []struct {
		name    string
		h       *Handler
		email   string
		before  func()
		reason  string
		wantErr bool
	}{
		{"issued", h, "ok@example.com", nil, ReasonOK, false},
		{"unknown user", h, "nobody@example.com", nil, ReasonUnknownUser, true},
		{"undecryptable", h, "garbled@example.com", nil, ReasonUndecryptable, true},
		{"table unavailable", noTable, "ok@example.com", nil, ReasonTableError, true},
		{"secret unavailable", noSecret, "ok@example.com", nil, ReasonSecretError, true},
		{"key ring invalid", f.handler(t, withName), "ok@example.com", func() { f.setSecret(t, `{"keys":"not a list"}`) }, ReasonKeyRingInvalid, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.before != nil {
				c.before()
			}
			_, err, _ := invoke(t, c.h, event("2", "TokenGeneration_Authentication", nativeUser(c.email, sub)))
			assert.Equal(t, c.wantErr, err != nil)
			line := f.logs.lastLog(t)
			require.Equal(t, c.reason, line["reason"])
			got := map[string]series{}
			for _, s := range extractEMF(t, line) {
				got[s.key()] = s
			}
			fn := map[string]string{opsmetrics.DimFunction: functionName}
			want := []series{{opsmetrics.Namespace, opsmetrics.Latency, opsmetrics.UnitMilliseconds, fn, line["latency_ms"].(float64)}}
			if c.reason == ReasonOK {
				want = append(want, series{opsmetrics.Namespace, opsmetrics.TokensIssued, opsmetrics.UnitCount, fn, 1})
			} else {
				class := opsmetrics.ClassRequest
				if c.reason != ReasonUnknownUser {
					class = opsmetrics.ClassInfrastructure
				}
				want = append(want,
					series{opsmetrics.Namespace, opsmetrics.TokensRefused, opsmetrics.UnitCount, map[string]string{opsmetrics.DimFunction: functionName, opsmetrics.DimReason: c.reason}, 1},
					series{opsmetrics.Namespace, opsmetrics.TokensRefused, opsmetrics.UnitCount, map[string]string{opsmetrics.DimFunction: functionName, opsmetrics.DimClass: class}, 1},
				)
			}
			wantByKey := map[string]series{}
			for _, s := range want {
				wantByKey[s.key()] = s
			}
			assert.Equal(t, wantByKey, got)
		})
	}
}

func TestWithoutAFunctionNameLinesCarryNoMetrics(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, map[string]string{"AWS_LAMBDA_FUNCTION_NAME": ""})
	_, _, _ = invoke(t, h, event("2", "TokenGeneration_Authentication", nativeUser("nobody@example.com", sub)))
	line := f.logs.lastLog(t)
	assert.Equal(t, ReasonUnknownUser, line["reason"])
	assert.NotContains(t, line, "_aws", "no dimension to publish under outside Lambda")
}

// readMetric is a metric an alarm or a dashboard widget of the synthesized template reads from
// the trigger's namespace: its name and dimensions, with the function's name (a cross-stack
// token in the template) written as "<function>".
type readMetric struct {
	what   string
	metric string
	dims   map[string]string
}

// metricsReadFromTemplate collects, from the committed production snapshot (what `make
// snapshots` wrote from the real synthesis), every alarm and dashboard metric of the trigger's
// namespace.
func metricsReadFromTemplate(t *testing.T) []readMetric {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "snapshots", "hasura-auth-production-hasura.template.json"))
	require.NoError(t, err)
	var tpl struct {
		Resources map[string]struct {
			Type       string         `json:"Type"`
			Properties map[string]any `json:"Properties"`
		} `json:"Resources"`
	}
	require.NoError(t, json.Unmarshal(b, &tpl))
	val := func(v any) string {
		if s, ok := v.(string); ok {
			return s
		}
		return "<function>"
	}
	var out []readMetric
	for id, r := range tpl.Resources {
		p := r.Properties
		switch r.Type {
		case "AWS::CloudWatch::Alarm":
			if p["Namespace"] != opsmetrics.Namespace {
				continue
			}
			dims := map[string]string{}
			for _, d := range p["Dimensions"].([]any) {
				dm := d.(map[string]any)
				dims[dm["Name"].(string)] = val(dm["Value"])
			}
			out = append(out, readMetric{"alarm " + p["AlarmName"].(string), p["MetricName"].(string), dims})
		case "AWS::CloudWatch::Dashboard":
			// The body is an Fn::Join of JSON text and tokens; tokens become "<function>".
			var body strings.Builder
			for _, part := range p["DashboardBody"].(map[string]any)["Fn::Join"].([]any)[1].([]any) {
				body.WriteString(val(part))
			}
			var dash struct {
				Widgets []struct {
					Properties struct {
						Title   string  `json:"title"`
						Metrics [][]any `json:"metrics"`
					} `json:"properties"`
				} `json:"widgets"`
			}
			require.NoError(t, json.Unmarshal([]byte(body.String()), &dash), id)
			search := regexp.MustCompile(`^SEARCH\('\{([^}]*)\} MetricName="([^"]+)" ([A-Za-z]+)="([^"]+)"'`)
			for _, w := range dash.Widgets {
				for _, row := range w.Properties.Metrics {
					if e, ok := row[0].(map[string]any); ok {
						m := search.FindStringSubmatch(e["expression"].(string))
						require.NotNil(t, m, "a search expression: %v", e["expression"])
						schema := strings.Split(m[1], ",")
						require.Equal(t, opsmetrics.Namespace, schema[0])
						dims := map[string]string{}
						for _, d := range schema[1:] {
							dims[d] = "*" // a search matches any value
						}
						dims[m[3]] = m[4]
						out = append(out, readMetric{"dashboard " + w.Properties.Title, m[2], dims})
						continue
					}
					if row[0] != opsmetrics.Namespace {
						continue
					}
					dims := map[string]string{}
					for i := 2; i+1 < len(row); i += 2 {
						if name, ok := row[i].(string); ok {
							dims[name] = val(row[i+1])
						}
					}
					out = append(out, readMetric{"dashboard " + w.Properties.Title, row[1].(string), dims})
				}
			}
		}
	}
	return out
}

// TestTheAlarmsAndDashboardReadWhatTheTriggerPublishes is the contract between the Lambda and
// the monitoring: every metric the synthesized alarms and dashboard read from the trigger's
// namespace is one that the trigger's log lines publish, with exactly those dimensions.
func TestTheAlarmsAndDashboardReadWhatTheTriggerPublishes(t *testing.T) {
	f := newFixture(t)
	f.putRaw(t, item{email: "garbled@example.com"}, "gAAAAABfa8G-garbled-not-a-fernet-token==")
	f.put(t, item{email: "ok@example.com", claimsJSON: editorClaims, uuid: uuid})
	h := f.handler(t, map[string]string{"AWS_LAMBDA_FUNCTION_NAME": functionName})
	for _, email := range []string{"ok@example.com", "nobody@example.com", "garbled@example.com"} {
		_, _, _ = invoke(t, h, event("2", "TokenGeneration_Authentication", nativeUser(email, sub)))
	}
	var published []series
	for _, line := range allLogs(t, f) {
		published = append(published, extractEMF(t, line)...)
	}

	read := metricsReadFromTemplate(t)
	var alarms, widgets int
	for _, r := range read {
		if strings.HasPrefix(r.what, "alarm") {
			alarms++
		} else {
			widgets++
		}
		found := false
		for _, s := range published {
			if s.Namespace != opsmetrics.Namespace || s.Metric != r.metric || len(s.Dims) != len(r.dims) {
				continue
			}
			match := true
			for k, v := range r.dims {
				got, ok := s.Dims[k]
				switch {
				case !ok:
					match = false
				case v == "<function>":
					match = match && got == functionName
				case v != "*":
					match = match && got == v
				}
			}
			found = found || match
		}
		assert.True(t, found, "%s reads %s %v, which no log line publishes", r.what, r.metric, r.dims)
	}
	assert.Equal(t, 2, alarms, "the infrastructure-refusals and latency alarms read the trigger's metrics")
	assert.Equal(t, 4, widgets, "issued, refused by reason, latency p50 and p99")
}
