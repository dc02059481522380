package config

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOperationsDefaults(t *testing.T) {
	project, envs := committed(t)
	root, err := Load(project, envs)
	require.NoError(t, err)
	prod, staging := root.Environments[0], root.Environments[1]

	assert.True(t, prod.Operations.WAF.Enabled, "WAF on by default in production")
	assert.False(t, staging.Operations.WAF.Enabled, "WAF off by default elsewhere")
	assert.Equal(t, 2000, prod.Operations.WAF.RateLimit)
	assert.Equal(t, DefaultAlarms(), staging.Operations.Alarms)
	assert.Empty(t, staging.Operations.AlarmEmails)
	assert.Empty(t, staging.Operations.AlarmTopicArn)

	// Derived thresholds: the service's minimum, and 80% of the instance's max_connections.
	assert.Equal(t, 2.0, prod.RunningTasksThreshold())
	assert.Equal(t, 1.0, staging.RunningTasksThreshold())
	assert.Equal(t, 63.0, staging.DatabaseConnectionsThreshold(), "t4g.micro: 80% of 79")

	// A partial alarm setting keeps the other half of its default.
	root, err = Load(project, withChange(t, "staging", `{"operations": {"alarms": {"hasuraCpuPercent": {"threshold": 90}, "databaseConnections": {"threshold": 50}}, "waf": {"enabled": true}}}`))
	require.NoError(t, err)
	s := root.Environments[1]
	assert.Equal(t, Alarm{90, 3}, s.Operations.Alarms.HasuraCPUPercent)
	assert.Equal(t, 50.0, s.DatabaseConnectionsThreshold())
	assert.True(t, s.Operations.WAF.Enabled)
	assert.Equal(t, 2000, s.Operations.WAF.RateLimit)
}

func TestDefaultMaxConnections(t *testing.T) {
	for typ, want := range map[string]int{"t4g.micro": 79, "t3.medium": 417, "m6g.large": 868, "r6g.16xlarge": 5000} {
		got, ok := DefaultMaxConnections(typ)
		assert.True(t, ok, typ)
		assert.Equal(t, want, got, typ)
	}
	for _, typ := range []string{"x2g.large", "t4g.nano9", "m6g", ""} {
		_, ok := DefaultMaxConnections(typ)
		assert.False(t, ok, typ)
	}
}

// Every Alarms field has a validation rule, a default and a row in docs/configuration.md.
func TestEveryAlarmFieldIsValidatedAndDocumented(t *testing.T) {
	doc := readDoc(t)
	rules := Defaults("p", "x").alarmRules()
	typ := reflect.TypeOf(Alarms{})
	require.Equal(t, typ.NumField(), len(rules))
	defaults := reflect.ValueOf(DefaultAlarms())
	for i := 0; i < typ.NumField(); i++ {
		name := strings.Split(typ.Field(i).Tag.Get("json"), ",")[0]
		_, ok := rules[name]
		assert.True(t, ok, "%s has no threshold rule", name)
		assert.NotZero(t, defaults.Field(i).Interface().(Alarm).EvaluationPeriods, "%s has no default", name)
		assert.True(t, strings.Contains(doc, "`"+name+"`"), "docs/configuration.md must list %s", name)
	}
}

func TestBadOperationsConfig(t *testing.T) {
	cases := []struct {
		name, env, patch string
		want             []string
	}{
		{"unknown alarm", "staging", `{"operations": {"alarms": {"cpu": {"threshold": 1}}}}`, []string{"environments.staging.operations.alarms.cpu: unknown field"}},
		{"unknown alarm field", "staging", `{"operations": {"alarms": {"hasuraCpuPercent": {"period": 60}}}}`, []string{"environments.staging.operations.alarms.hasuraCpuPercent.period: unknown field", "known: evaluationPeriods, threshold"}},
		{"threshold not a number", "staging", `{"operations": {"alarms": {"hasuraCpuPercent": {"threshold": "high"}}}}`, []string{"environments.staging.operations.alarms.hasuraCpuPercent.threshold: must be a number, got string"}},
		{"percent above 100", "staging", `{"operations": {"alarms": {"hasuraMemoryPercent": {"threshold": 120}}}}`, []string{"environments.staging.operations.alarms.hasuraMemoryPercent.threshold = 120: must be 1-100"}},
		{"zero count threshold", "production", `{"operations": {"alarms": {"pretokenInfrastructureRefusals": {"threshold": 0}}}}`, []string{"environments.production.operations.alarms.pretokenInfrastructureRefusals.threshold = 0: must be 1-1e+06"}},
		{"latency over the budget", "staging", `{"operations": {"alarms": {"pretokenLatencyP99Ms": {"threshold": 5000}}}}`, []string{"environments.staging.operations.alarms.pretokenLatencyP99Ms.threshold = 5000: must be 10-2500"}},
		{"evaluation periods zero", "staging", `{"operations": {"alarms": {"hasura5xx": {"evaluationPeriods": 0}}}}`, []string{"environments.staging.operations.alarms.hasura5xx.evaluationPeriods = 0: must be 1-60"}},
		{"evaluation periods too many", "staging", `{"operations": {"alarms": {"rotationErrors": {"evaluationPeriods": 61}}}}`, []string{"environments.staging.operations.alarms.rotationErrors.evaluationPeriods = 61: must be 1-60"}},
		{"running tasks above the minimum", "production", `{"operations": {"alarms": {"runningTasksBelow": {"threshold": 3}}}}`, []string{"environments.production.operations.alarms.runningTasksBelow.threshold = 3: must be 1-2, or 0 for hasura.minCount"}},
		{"healthy hosts above the minimum", "staging", `{"operations": {"alarms": {"healthyHostsBelow": {"threshold": 2}}}}`, []string{"environments.staging.operations.alarms.healthyHostsBelow.threshold = 2: must be 1-1"}},
		{"free storage above allocated", "staging", `{"operations": {"alarms": {"databaseFreeStorageGiB": {"threshold": 20}}}}`, []string{"environments.staging.operations.alarms.databaseFreeStorageGiB.threshold = 20: must be 1-19"}},
		{"connections of an unknown class", "staging", `{"database": {"instanceType": "x2g.large"}}`, []string{"environments.staging.operations.alarms.databaseConnections.threshold = 0: must be set for instance type x2g.large"}},
		{"bad email", "staging", `{"operations": {"alarmEmails": ["ops@example.com", "not-an-address"]}}`, []string{`environments.staging.operations.alarmEmails[1] = "not-an-address": must be an email address`}},
		{"emails not a list", "staging", `{"operations": {"alarmEmails": "ops@example.com"}}`, []string{"environments.staging.operations.alarmEmails: must be an array, got string"}},
		{"bad topic ARN", "staging", `{"operations": {"alarmTopicArn": "arn:aws:sqs:us-east-1:111111111111:q"}}`, []string{`environments.staging.operations.alarmTopicArn = "arn:aws:sqs:us-east-1:111111111111:q": must be an SNS topic ARN`}},
		{"topic in another region", "staging", `{"operations": {"alarmTopicArn": "arn:aws:sns:eu-west-1:111111111111:ops"}}`, []string{"must be a topic in the environment's region us-east-1"}},
		{"topic in another account", "staging", `{"account": "222222222222", "operations": {"alarmTopicArn": "arn:aws:sns:us-east-1:111111111111:ops"}}`, []string{"must be a topic in the environment's account 222222222222"}},
		{"topic and emails", "staging", `{"operations": {"alarmTopicArn": "arn:aws:sns:us-east-1:111111111111:ops", "alarmEmails": ["ops@example.com"]}}`, []string{`environments.staging.operations.alarmEmails = ["ops@example.com"]: must be empty when operations.alarmTopicArn is set`}},
		{"rate limit too low", "production", `{"operations": {"waf": {"rateLimit": 5}}}`, []string{"environments.production.operations.waf.rateLimit = 5: must be 10-2000000000"}},
		{"waf not a bool", "production", `{"operations": {"waf": {"enabled": "yes"}}}`, []string{"environments.production.operations.waf.enabled: must be true or false"}},
		{"unknown waf field", "production", `{"operations": {"waf": {"rules": []}}}`, []string{"environments.production.operations.waf.rules: unknown field"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			project, _ := committed(t)
			root, err := Load(project, withChange(t, c.env, c.patch))
			require.Error(t, err, "config should be refused")
			assert.Nil(t, root)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func readDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../docs/configuration.md")
	require.NoError(t, err)
	return string(b)
}

// Every alarm field refuses a threshold below its range and evaluation periods of 0, naming itself.
func TestEveryAlarmFieldRefusesOutOfRangeValues(t *testing.T) {
	project, _ := committed(t)
	typ := reflect.TypeOf(Alarms{})
	for i := 0; i < typ.NumField(); i++ {
		name := strings.Split(typ.Field(i).Tag.Get("json"), ",")[0]
		t.Run(name, func(t *testing.T) {
			_, err := Load(project, withChange(t, "staging", `{"operations": {"alarms": {"`+name+`": {"threshold": -1, "evaluationPeriods": 0}}}}`))
			require.Error(t, err)
			assert.Contains(t, err.Error(), "environments.staging.operations.alarms."+name+".threshold = -1: must be ")
			assert.Contains(t, err.Error(), "environments.staging.operations.alarms."+name+".evaluationPeriods = 0: must be 1-60")
		})
	}
}
