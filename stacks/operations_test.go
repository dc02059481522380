package stacks_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/config"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/edge"
	"github.com/hasura-auth-cdk/hasuraauth/internal/opsmetrics"
	"github.com/hasura-auth-cdk/hasuraauth/stacks"
)

// sym names a template value symbolically, so that expectations read like the resources they
// mean: "ref:HasuraCluster", "att:HasuraService.Name", "identity:ref:UsersPreTokenFunction" (a
// weak cross-stack reference, resolved through the identity stack's output).
func sym(t *testing.T, env string, v any) string {
	t.Helper()
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return fmt.Sprint(x)
	case map[string]any:
		if r, ok := x["Ref"].(string); ok {
			if strings.HasPrefix(r, "AWS::") {
				return "ref:" + r
			}
			return "ref:" + trimID(r)
		}
		if a, ok := x["Fn::GetAtt"].([]any); ok {
			return "att:" + trimID(a[0].(string)) + "." + a[1].(string)
		}
		if o, ok := x["Fn::GetStackOutput"].(map[string]any); ok {
			require.Equal(t, "hasura-auth-"+env+"-identity", o["StackName"])
			out, ok := tmpl(t, env, "identity").Outputs[o["OutputName"].(string)]
			require.True(t, ok, "identity output %s", o["OutputName"])
			return "identity:" + sym(t, env, out.Value)
		}
		if c := compact(x); strings.Contains(c, "Fn::Split") {
			// CDK derives a target group's LoadBalancer dimension from its listener's ARN.
			m := regexp.MustCompile(`"Ref":"([A-Za-z0-9]+)"`).FindStringSubmatch(c)
			require.NotNil(t, m, c)
			return "lb-of-listener:" + trimID(m[1])
		}
	}
	t.Fatalf("no symbolic name for %s", compact(v))
	return ""
}

type alarmWant struct {
	namespace, metric string
	dims              map[string]string
	stat              string // Statistic, or a percentile (ExtendedStatistic)
	period            float64
	op                string
	threshold         float64
	periods           float64
	missing           string
}

// wantAlarms is every alarm of an environment, complete.
func wantAlarms(env string) map[string]alarmWant {
	fn := "identity:ref:UsersPreTokenFunction"
	// The rotation check's metrics carry its function name, like the pre-token trigger's: two
	// environments in one account and region publish the same secret names.
	check := "ref:MonitoringRotationCheckFunction"
	cognito := map[string]string{"UserPool": "identity:ref:UsersPool", "UserPoolClient": "identity:ref:UsersPoolSpaClient"}
	listener := "HasuraAlbHttps"
	if env != "production" {
		listener = "HasuraAlbHttp"
	}
	lb := map[string]string{"LoadBalancer": "att:HasuraAlb.LoadBalancerFullName"}
	tg := map[string]string{"LoadBalancer": "lb-of-listener:" + listener, "TargetGroup": "att:HasuraTargets.TargetGroupFullName"}
	svc := map[string]string{"ClusterName": "ref:HasuraCluster", "ServiceName": "att:HasuraService.Name"}
	db := map[string]string{"DBInstanceIdentifier": "ref:HasuraDatabase"}
	const gte, gt, lt = "GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold"
	minTasks := 1.0
	if env == "production" {
		minTasks = 2
	}
	w := map[string]alarmWant{
		"pretoken-infrastructure-refusals": {opsmetrics.Namespace, opsmetrics.TokensRefused, map[string]string{"FunctionName": fn, "Class": "infrastructure"}, "Sum", 60, gte, 1, 1, "notBreaching"},
		"pretoken-throttles":               {"AWS/Lambda", "Throttles", map[string]string{"FunctionName": fn}, "Sum", 60, gte, 1, 1, "notBreaching"},
		"pretoken-latency-p99":             {opsmetrics.Namespace, opsmetrics.Latency, map[string]string{"FunctionName": fn}, "p99", 300, gt, 2000, 3, "notBreaching"},
		"cognito-signin-throttles":         {"AWS/Cognito", "SignInThrottles", cognito, "Sum", 300, gte, 1, 1, "notBreaching"},
		"cognito-token-refresh-throttles":  {"AWS/Cognito", "TokenRefreshThrottles", cognito, "Sum", 300, gte, 1, 1, "notBreaching"},
		"claims-table-read-throttles":      {"AWS/DynamoDB", "ReadThrottleEvents", map[string]string{"TableName": "identity:ref:ClaimsTable"}, "Sum", 300, gte, 1, 1, "notBreaching"},
		"claims-table-system-errors":       {"AWS/DynamoDB", "SystemErrors", map[string]string{"TableName": "identity:ref:ClaimsTable", "Operation": "GetItem"}, "Sum", 300, gte, 1, 1, "notBreaching"},
		"alb-5xx":                          {"AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", lb, "Sum", 300, gte, 10, 1, "notBreaching"},
		"hasura-5xx":                       {"AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", lb, "Sum", 300, gte, 10, 1, "notBreaching"},
		"hasura-unhealthy-hosts":           {"AWS/ApplicationELB", "UnHealthyHostCount", tg, "Maximum", 60, gte, 1, 5, "notBreaching"},
		"hasura-no-healthy-hosts":          {"AWS/ApplicationELB", "HealthyHostCount", tg, "Minimum", 60, lt, 1, 2, "breaching"},
		"hasura-latency-p99":               {"AWS/ApplicationELB", "TargetResponseTime", lb, "p99", 300, gt, 2, 3, "notBreaching"},
		"hasura-cpu":                       {"AWS/ECS", "CPUUtilization", svc, "Average", 300, gt, 80, 3, "notBreaching"},
		"hasura-memory":                    {"AWS/ECS", "MemoryUtilization", svc, "Average", 300, gt, 80, 3, "notBreaching"},
		"hasura-running-tasks":             {"ECS/ContainerInsights", "RunningTaskCount", svc, "Minimum", 60, lt, minTasks, 5, "breaching"},
		"database-cpu":                     {"AWS/RDS", "CPUUtilization", db, "Average", 300, gt, 80, 3, "breaching"},
		"database-free-storage":            {"AWS/RDS", "FreeStorageSpace", db, "Minimum", 300, lt, 2 << 30, 1, "breaching"},
		"database-connections":             {"AWS/RDS", "DatabaseConnections", db, "Maximum", 300, gt, 63, 2, "breaching"},
		"database-freeable-memory":         {"AWS/RDS", "FreeableMemory", db, "Minimum", 300, lt, 100 << 20, 3, "breaching"},
		"rotation-errors-admin-secret":     {"AWS/Lambda", "Errors", map[string]string{"FunctionName": "ref:HasuraAdminSecretRotationFunction"}, "Sum", 300, gte, 1, 1, "notBreaching"},
		"rotation-errors-database":         {"AWS/Lambda", "Errors", map[string]string{"FunctionName": "ref:HasuraDatabaseRotationFunction"}, "Sum", 300, gte, 1, 1, "notBreaching"},
		"rotation-overdue-admin-secret":    {opsmetrics.RotationNamespace, opsmetrics.RotationOverdue, map[string]string{"FunctionName": check, "SecretName": "admin-secret"}, "Maximum", 3600, gte, 1, 1, "breaching"},
		"rotation-overdue-database":        {opsmetrics.RotationNamespace, opsmetrics.RotationOverdue, map[string]string{"FunctionName": check, "SecretName": "database"}, "Maximum", 3600, gte, 1, 1, "breaching"},
	}
	if env == "legacy" {
		// An existing database: its owner watches it and rotates its credentials.
		for k := range w {
			if strings.HasPrefix(k, "database-") || strings.HasSuffix(k, "-database") {
				delete(w, k)
			}
		}
		// Thresholds from config.
		a := w["hasura-5xx"]
		a.threshold, a.periods = 25, 2
		w["hasura-5xx"] = a
	}
	return w
}

func alarmsOf(tp Template) map[string]Resource {
	out := map[string]Resource{}
	for _, id := range tp.ofType("AWS::CloudWatch::Alarm") {
		r := tp.Resources[id]
		out[r.Properties["AlarmName"].(string)] = r
	}
	return out
}

func TestEveryAlarmWatchesItsMetricWithItsRuleAndNotifiesOnAlarmAndOK(t *testing.T) {
	for _, env := range []string{"production", "staging", "legacy"} {
		tp := tmpl(t, env, "hasura")
		got := alarmsOf(tp)
		want := wantAlarms(env)
		var gotNames, wantNames []string
		for n := range got {
			gotNames = append(gotNames, n)
		}
		for k := range want {
			wantNames = append(wantNames, "hasura-auth-"+env+"-"+k)
		}
		sort.Strings(gotNames)
		sort.Strings(wantNames)
		require.Equal(t, wantNames, gotNames, env)

		topic := compact(map[string]any{"Ref": firstWithPrefix(tp, "AWS::SNS::Topic", "MonitoringTopic")})
		if env == "legacy" {
			topic = "arn:aws:sns:us-west-2:222222222222:ops-alarms" // the existing topic from config
		}
		for key, w := range want {
			t.Run(env+"/"+key, func(t *testing.T) {
				p := got["hasura-auth-"+env+"-"+key].Properties
				assert.Equal(t, w.namespace, p["Namespace"])
				assert.Equal(t, w.metric, p["MetricName"])
				dims := map[string]string{}
				for _, d := range p["Dimensions"].([]any) {
					dm := d.(map[string]any)
					dims[dm["Name"].(string)] = sym(t, env, dm["Value"])
				}
				assert.Equal(t, w.dims, dims)
				if strings.HasPrefix(w.stat, "p") {
					assert.Equal(t, w.stat, p["ExtendedStatistic"])
					assert.NotContains(t, p, "Statistic")
				} else {
					assert.Equal(t, w.stat, p["Statistic"])
				}
				assert.Equal(t, w.period, p["Period"])
				assert.Equal(t, w.op, p["ComparisonOperator"])
				assert.Equal(t, w.threshold, p["Threshold"])
				assert.Equal(t, w.periods, p["EvaluationPeriods"])
				assert.Equal(t, w.missing, p["TreatMissingData"])
				assert.Equal(t, []string{topic}, compactAll(p["AlarmActions"]), "ALARM notifies the topic")
				assert.Equal(t, []string{topic}, compactAll(p["OKActions"]), "OK notifies the topic")
				assert.NotContains(t, p, "InsufficientDataActions")
				assert.True(t, strings.HasSuffix(p["AlarmDescription"].(string), "Runbook: "+stacks.RunbookURL+"#"+key), p["AlarmDescription"])
			})
		}
	}
}

func compactAll(v any) []string {
	var out []string
	for _, x := range list(v) {
		out = append(out, compact(x))
	}
	return out
}

// The runbook has an entry for every alarm key the alarms point to.
func TestEveryAlarmHasARunbookEntry(t *testing.T) {
	doc := readRepoFile(t, "docs/operations.md")
	keys := []string{"usermigration-old-pool-failures", "usermigration-errors", "usermigration-throttles"}
	for key := range wantAlarms("production") {
		keys = append(keys, key)
	}
	for _, key := range keys {
		assert.True(t, strings.Contains(doc, `<a id="`+key+`"></a>`), "docs/operations.md needs a runbook entry for %s", key)
	}
}

func TestAlarmTopicIsEncryptedAndOnlyThisAccountsAlarmsPublish(t *testing.T) {
	for _, env := range []string{"production", "staging", "sso"} {
		tp := tmpl(t, env, "hasura")
		keyID, key := tp.one(t, "AWS::KMS::Key")
		topicID, topic := tp.one(t, "AWS::SNS::Topic")
		assert.Equal(t, "hasura-auth-"+env+"-alarms", topic.Properties["TopicName"])
		assert.Equal(t, getAtt(keyID, "Arn"), compact(topic.Properties["KmsMasterKeyId"]), "encrypted with its own key")
		assert.Equal(t, true, key.Properties["EnableKeyRotation"])
		wantRemoval := "Delete"
		if env == "production" {
			wantRemoval = "Retain"
		}
		assert.Equal(t, wantRemoval, key.DeletionPolicy)

		// The complete key policy: the account administers the key (CDK's default, so IAM
		// policies can grant it), CloudWatch may encrypt alarm notifications with it.
		assert.Equal(t, []any{
			map[string]any{"Action": "kms:*", "Effect": "Allow", "Principal": map[string]any{"AWS": map[string]any{"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"}, ":iam::", map[string]any{"Ref": "AWS::AccountId"}, ":root"}}}}, "Resource": "*"},
			map[string]any{"Action": []any{"kms:Decrypt", "kms:GenerateDataKey*"}, "Effect": "Allow", "Principal": map[string]any{"Service": "cloudwatch.amazonaws.com"}, "Resource": "*", "Sid": "CloudWatchAlarmsPublishToTheEncryptedTopic"},
		}, normalizePartition(key.Properties["KeyPolicy"].(map[string]any)["Statement"]))

		// The complete topic policy: TLS only; this account's alarms of this environment publish.
		_, pol := tp.one(t, "AWS::SNS::TopicPolicy")
		topicRef := map[string]any{"Ref": topicID}
		assert.Equal(t, []any{topicRef}, pol.Properties["Topics"])
		assert.Equal(t, []any{
			map[string]any{"Action": "sns:Publish", "Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}, "Effect": "Deny", "Principal": "*", "Resource": topicRef, "Sid": "AllowPublishThroughSSLOnly"},
			map[string]any{"Action": "sns:Publish", "Condition": map[string]any{
				"ArnLike":      map[string]any{"aws:SourceArn": map[string]any{"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"}, ":cloudwatch:" + cfgs[env].Region + ":", map[string]any{"Ref": "AWS::AccountId"}, ":alarm:hasura-auth-" + env + "-*"}}}},
				"StringEquals": map[string]any{"aws:SourceAccount": map[string]any{"Ref": "AWS::AccountId"}},
			}, "Effect": "Allow", "Principal": map[string]any{"Service": "cloudwatch.amazonaws.com"}, "Resource": topicRef, "Sid": "CloudWatchAlarmsOfThisAccount"},
		}, normalizePartition(pol.Properties["PolicyDocument"].(map[string]any)["Statement"]))

		// Subscriptions: exactly the configured addresses.
		var subs []string
		for _, id := range tp.ofType("AWS::SNS::Subscription") {
			p := tp.Resources[id].Properties
			assert.Equal(t, "email", p["Protocol"])
			assert.Equal(t, map[string]any{"Ref": topicID}, p["TopicArn"])
			subs = append(subs, p["Endpoint"].(string))
		}
		sort.Strings(subs)
		if env == "sso" {
			assert.Equal(t, []string{"oncall@example.com", "ops@example.com"}, subs)
		} else {
			assert.Empty(t, subs, "the committed environments name no addresses")
		}
	}
	// An existing topic from config: nothing of ours to encrypt or subscribe.
	tp := tmpl(t, "legacy", "hasura")
	for _, typ := range []string{"AWS::SNS::Topic", "AWS::SNS::TopicPolicy", "AWS::SNS::Subscription", "AWS::KMS::Key"} {
		assert.Empty(t, tp.ofType(typ), "legacy: %s", typ)
	}
}

// normalizePartition renders "arn:aws:" literals the way CDK renders them where the partition is
// not known (the test environments differ), so one expectation covers both.
func normalizePartition(v any) any {
	b, _ := json.Marshal(v)
	s := strings.ReplaceAll(string(b), `"arn:aws:iam::"`, `"arn:",{"Ref":"AWS::Partition"},":iam::"`)
	s = regexp.MustCompile(`"arn:aws:cloudwatch:([a-z0-9-]+):"`).ReplaceAllString(s, `"arn:",{"Ref":"AWS::Partition"},":cloudwatch:$1:"`)
	var out any
	_ = json.Unmarshal([]byte(s), &out)
	return out
}

// dashboardOf parses the dashboard body, naming each token symbolically.
func dashboardOf(t *testing.T, env string) map[string]any {
	t.Helper()
	tp := tmpl(t, env, "hasura")
	_, d := tp.one(t, "AWS::CloudWatch::Dashboard")
	assert.Equal(t, "hasura-auth-"+env, d.Properties["DashboardName"])
	body := resolveJoin(t, d.Properties["DashboardBody"], func(part any) string { return sym(t, env, part) })
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &v), body)
	return v
}

func TestDashboardShowsTheSignalsAndEveryAlarm(t *testing.T) {
	// What each namespace publishes (AWS's documented metrics, and the Lambda's own).
	exists := map[string][]string{
		opsmetrics.Namespace:    {opsmetrics.TokensIssued, opsmetrics.TokensRefused, opsmetrics.Latency},
		"AWS/Cognito":           {"SignInSuccesses", "SignInThrottles", "TokenRefreshSuccesses", "TokenRefreshThrottles"},
		"AWS/ApplicationELB":    {"RequestCount", "HTTPCode_ELB_5XX_Count", "HTTPCode_Target_5XX_Count", "TargetResponseTime", "HealthyHostCount", "UnHealthyHostCount"},
		"AWS/ECS":               {"CPUUtilization", "MemoryUtilization"},
		"ECS/ContainerInsights": {"RunningTaskCount"},
		"AWS/RDS":               {"CPUUtilization", "DatabaseConnections", "FreeStorageSpace", "FreeableMemory"},
	}
	for _, env := range []string{"production", "legacy"} {
		v := dashboardOf(t, env)
		var titles []string
		var plotted []string
		var alarmsShown []string
		for _, w := range v["widgets"].([]any) {
			props := w.(map[string]any)["properties"].(map[string]any)
			titles = append(titles, props["title"].(string))
			for _, a := range list(props["alarms"]) {
				alarmsShown = append(alarmsShown, a.(string))
			}
			for _, m := range list(props["metrics"]) {
				row := m.([]any)
				if e, ok := row[0].(map[string]any); ok {
					// The refusals-by-reason search: the Lambda's namespace, dimensions and metric.
					want := fmt.Sprintf(`SEARCH('{%s,%s,%s} MetricName="%s" %s="identity:ref:UsersPreTokenFunction"', 'Sum', 300)`,
						opsmetrics.Namespace, opsmetrics.DimFunction, opsmetrics.DimReason, opsmetrics.TokensRefused, opsmetrics.DimFunction)
					assert.Equal(t, want, e["expression"])
					plotted = append(plotted, "search:"+opsmetrics.TokensRefused)
					continue
				}
				ns, name := row[0].(string), row[1].(string)
				assert.Contains(t, exists[ns], name, "%s: %s/%s is not a metric that namespace publishes", env, ns, name)
				plotted = append(plotted, ns+"/"+name)
			}
		}
		wantTitles := []string{"Tokens issued and refused by reason", "Pre-token trigger latency (ms)", "Cognito sign-ins",
			"Hasura requests", "Hasura 5xx", "Hasura latency (s)", "Hasura CPU (%)", "Hasura memory (%)", "Hasura tasks"}
		if env != "legacy" {
			wantTitles = append(wantTitles, "Database CPU (%)", "Database connections", "Database free storage (bytes)")
		}
		wantTitles = append(wantTitles, "Alarms")
		assert.Equal(t, wantTitles, titles, env)
		for _, m := range []string{opsmetrics.Namespace + "/" + opsmetrics.TokensIssued, "search:" + opsmetrics.TokensRefused, opsmetrics.Namespace + "/" + opsmetrics.Latency,
			"AWS/Cognito/SignInSuccesses", "AWS/ApplicationELB/RequestCount", "AWS/ApplicationELB/HTTPCode_Target_5XX_Count", "AWS/ApplicationELB/TargetResponseTime",
			"AWS/ECS/CPUUtilization", "AWS/ECS/MemoryUtilization", "ECS/ContainerInsights/RunningTaskCount"} {
			assert.Contains(t, plotted, m, env)
		}
		// Every alarm's state, and nothing else.
		var wantAlarms []string
		for _, id := range tmpl(t, env, "hasura").ofType("AWS::CloudWatch::Alarm") {
			wantAlarms = append(wantAlarms, "att:"+trimID(id)+".Arn")
		}
		sort.Strings(wantAlarms)
		sort.Strings(alarmsShown)
		assert.Equal(t, wantAlarms, alarmsShown, env)
	}
}

func TestWebACLFiltersTrafficToTheLoadBalancerWhereEnabled(t *testing.T) {
	for _, env := range []string{"staging", "sso"} {
		for _, typ := range []string{"AWS::WAFv2::WebACL", "AWS::WAFv2::WebACLAssociation", "AWS::WAFv2::LoggingConfiguration"} {
			assert.Empty(t, tmpl(t, env, "hasura").ofType(typ), "%s: WAF is off by default outside production", env)
		}
	}
	for env, c := range map[string]struct {
		limit     float64
		retention float64
	}{"production": {2000, 365}, "legacy": {500, 30}} {
		tp := tmpl(t, env, "hasura")
		aclID, acl := tp.one(t, "AWS::WAFv2::WebACL")
		p := acl.Properties
		name := "hasura-auth-" + env + "-hasura"
		assert.Equal(t, name, p["Name"])
		assert.Equal(t, "REGIONAL", p["Scope"])
		assert.Equal(t, map[string]any{"Allow": map[string]any{}}, p["DefaultAction"])
		vis := func(m string) map[string]any {
			return map[string]any{"CloudWatchMetricsEnabled": true, "SampledRequestsEnabled": true, "MetricName": name + "-" + m}
		}
		group := func(prio float64, g string, overrides ...any) map[string]any {
			stmt := map[string]any{"VendorName": "AWS", "Name": g}
			if len(overrides) > 0 {
				stmt["RuleActionOverrides"] = overrides
			}
			return map[string]any{"Name": g, "Priority": prio, "Statement": map[string]any{"ManagedRuleGroupStatement": stmt},
				"OverrideAction": map[string]any{"None": map[string]any{}}, "VisibilityConfig": vis(g)}
		}
		assert.Equal(t, []any{
			group(0, "AWSManagedRulesAmazonIpReputationList"),
			map[string]any{"Name": "RatePerIp", "Priority": 1.0, "Action": map[string]any{"Block": map[string]any{}}, "VisibilityConfig": vis("RatePerIp"),
				"Statement": map[string]any{"RateBasedStatement": map[string]any{"AggregateKeyType": "IP", "Limit": c.limit, "EvaluationWindowSec": 300.0}}},
			group(2, "AWSManagedRulesKnownBadInputsRuleSet"),
			// GraphQL bodies routinely exceed 8 KB: the size rule counts instead of blocking.
			group(3, "AWSManagedRulesCommonRuleSet", map[string]any{"Name": "SizeRestrictions_BODY", "ActionToUse": map[string]any{"Count": map[string]any{}}}),
		}, p["Rules"], env)
		assert.Equal(t, map[string][]string{"AWSManagedRulesCommonRuleSet": {"SizeRestrictions_BODY"}}, edge.CountedRules)

		_, assoc := tp.one(t, "AWS::WAFv2::WebACLAssociation")
		assert.Equal(t, map[string]any{"Ref": firstWithPrefix(tp, "AWS::ElasticLoadBalancingV2::LoadBalancer", "HasuraAlb")}, assoc.Properties["ResourceArn"])
		assert.Equal(t, getAtt(aclID, "Arn"), compact(assoc.Properties["WebACLArn"]))

		logID, logs := tp.withPrefix(t, "AWS::Logs::LogGroup", "EdgeLogs")
		assert.Equal(t, "aws-waf-logs-"+name, logs.Properties["LogGroupName"])
		assert.Equal(t, c.retention, logs.Properties["RetentionInDays"], "the environment's retention")
		_, lc := tp.one(t, "AWS::WAFv2::LoggingConfiguration")
		assert.Equal(t, getAtt(aclID, "Arn"), compact(lc.Properties["ResourceArn"]))
		dest, ok := lc.Properties["LogDestinationConfigs"].([]any)[0].(string) // literal where the account is known
		if !ok {
			dest = resolveJoin(t, lc.Properties["LogDestinationConfigs"].([]any)[0], func(part any) string { return sym(t, env, part) })
		}
		assert.Regexp(t, `^arn:(aws|ref:AWS::Partition):logs:`+cfgs[env].Region+`:(ref:AWS::AccountId|`+cfgs[env].Account+`):log-group:aws-waf-logs-`+name+`$`, dest, "the log group's ARN without :*")
		assert.Equal(t, []any{
			map[string]any{"SingleHeader": map[string]any{"Name": "authorization"}},
			map[string]any{"SingleHeader": map[string]any{"Name": "cookie"}},
			map[string]any{"SingleHeader": map[string]any{"Name": "x-hasura-admin-secret"}},
		}, lc.Properties["RedactedFields"], "tokens and the admin secret never reach the WAF log")
		assert.Contains(t, tp.Resources[firstWithPrefix(tp, "AWS::WAFv2::LoggingConfiguration", "EdgeLogging")].DependsOn, logID)
	}
}

func TestCognitoUserAuthEventsAreDeliveredWhereThreatProtectionIsOn(t *testing.T) {
	tp := tmpl(t, "production", "identity")
	logID, logs := tp.withPrefix(t, "AWS::Logs::LogGroup", "UserAuthLogs")
	name := "/aws/vendedlogs/cognito/hasura-auth-production/user-auth-events"
	assert.Equal(t, name, logs.Properties["LogGroupName"])
	assert.Equal(t, 365.0, logs.Properties["RetentionInDays"])
	assert.NotContains(t, logs.Properties, "KmsKeyId", "Cognito cannot deliver to a KMS-encrypted log group")
	_, d := tp.one(t, "AWS::Cognito::LogDeliveryConfiguration")
	assert.Equal(t, map[string]any{"Ref": firstWithPrefix(tp, "AWS::Cognito::UserPool", "UsersPool")}, d.Properties["UserPoolId"])
	cfgsList := d.Properties["LogConfigurations"].([]any)
	require.Len(t, cfgsList, 1)
	lc := cfgsList[0].(map[string]any)
	assert.Equal(t, "userAuthEvents", lc["EventSource"])
	assert.Equal(t, "INFO", lc["LogLevel"])
	arn := resolveJoin(t, lc["CloudWatchLogsConfiguration"].(map[string]any)["LogGroupArn"], func(part any) string { return sym(t, "production", part) })
	assert.Equal(t, "arn:aws:logs:us-east-1:ref:AWS::AccountId:log-group:"+name, arn)
	assert.Contains(t, tp.Resources[firstWithPrefix(tp, "AWS::Cognito::LogDeliveryConfiguration", "UserAuthLogsDelivery")].DependsOn, logID)

	for _, env := range []string{"staging", "sso", "legacy"} {
		require.Equal(t, config.ThreatProtectionOff, cfgs[env].Cognito.ThreatProtection)
		assert.Empty(t, tmpl(t, env, "identity").ofType("AWS::Cognito::LogDeliveryConfiguration"), "%s: no threat protection, no user-auth events", env)
	}
}

func TestMetricNamesAreTheLambdasOwn(t *testing.T) {
	m := stacks.Metrics
	assert.Equal(t, []string{opsmetrics.Namespace, opsmetrics.TokensIssued, opsmetrics.TokensRefused, opsmetrics.Latency, opsmetrics.DimFunction, opsmetrics.DimReason, opsmetrics.DimClass, opsmetrics.ClassInfrastructure, opsmetrics.ClassRequest,
		opsmetrics.MigrationNamespace, opsmetrics.UsersMigrated, opsmetrics.MigrationsRefused,
		opsmetrics.RotationNamespace, opsmetrics.RotationOverdue, opsmetrics.DaysSinceRotation, opsmetrics.DimSecret},
		[]string{m.Namespace, m.Issued, m.Refused, m.Latency, m.FunctionDimension, m.ReasonDimension, m.ClassDimension, m.InfrastructureClass, m.RequestClass,
			m.MigrationNamespace, m.Migrated, m.MigrationRefused,
			m.RotationNamespace, m.RotationOverdue, m.DaysSinceRotation, m.SecretDimension})
}

func TestRotationCheckRunsHourlyOverExactlyTheRotatedSecrets(t *testing.T) {
	for env, want := range map[string]map[string]string{
		"production": {"admin-secret": "ref:HasuraAdminSecret", "database": "ref:HasuraDatabaseSecretAttachment"},
		"legacy":     {"admin-secret": "ref:HasuraAdminSecret"},
	} {
		tp := tmpl(t, env, "hasura")
		fnID, fn := tp.withPrefix(t, "AWS::Lambda::Function", "MonitoringRotationCheckFunction")
		vars := fn.Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
		assert.Equal(t, "744h", vars["MAX_ROTATION_AGE"], "30 days + 24 hours of grace")
		secrets := map[string]string{}
		raw := resolveJoin(t, vars["SECRETS"], func(part any) string { return sym(t, env, part) })
		var parsed map[string]string
		require.NoError(t, json.Unmarshal([]byte(raw), &parsed), raw)
		for k, v := range parsed {
			secrets[k] = v
		}
		assert.Equal(t, want, secrets, env)
		_, rule := tp.withPrefix(t, "AWS::Events::Rule", "MonitoringRotationCheckSchedule")
		assert.Equal(t, "rate(1 hour)", rule.Properties["ScheduleExpression"])
		targets := rule.Properties["Targets"].([]any)
		require.Len(t, targets, 1)
		assert.Equal(t, getAtt(fnID, "Arn"), compact(targets[0].(map[string]any)["Arn"]))
		// Only that rule may invoke the function.
		_, perm := tp.withPrefix(t, "AWS::Lambda::Permission", "MonitoringRotationCheck")
		assert.Equal(t, "events.amazonaws.com", perm.Properties["Principal"])
		assert.Equal(t, getAtt(firstWithPrefix(tp, "AWS::Events::Rule", "MonitoringRotationCheckSchedule"), "Arn"), compact(perm.Properties["SourceArn"]))
		assert.Equal(t, getAtt(fnID, "Arn"), compact(perm.Properties["FunctionName"]))
	}
}

func readRepoFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", path))
	require.NoError(t, err)
	return string(b)
}

// The runbook finds the pre-token trigger's log group by the logical ID prefix of the group the
// function really logs to (its LoggingConfig), not under /aws/lambda/, where it writes nothing.
func TestRunbookNamesThePreTokenLogGroup(t *testing.T) {
	doc := readRepoFile(t, "docs/operations.md")
	tp := tmpl(t, "production", "identity")
	_, fn := tp.withPrefix(t, "AWS::Lambda::Function", "UsersPreTokenFunction")
	group := fn.Properties["LoggingConfig"].(map[string]any)["LogGroup"].(map[string]any)["Ref"].(string)
	prefix := trimID(group)
	assert.Equal(t, "AWS::Logs::LogGroup", tp.Resources[group].Type)
	assert.Contains(t, doc, "starts_with(LogicalResourceId,'"+prefix+"')")
	assert.NotContains(t, doc, "/aws/lambda/")
}

// The runbook's WAF query names the rule inside a managed group that blocked a request, since
// terminatingRuleId is only the group's name and CountedRules wants the rule's. The line has the
// shape of AWS WAF's documented log record for a block by a managed rule group.
func TestRunbookWAFQueryFindsTheBlockingRuleInsideItsGroup(t *testing.T) {
	doc := readRepoFile(t, "docs/operations.md")
	m := regexp.MustCompile(`\| parse @message /(.+)/\n`).FindStringSubmatch(doc)
	require.NotNil(t, m, "the WAF query parses the group's terminating rule")
	re := regexp.MustCompile(m[1])
	line := `{"timestamp":1700000000000,"formatVersion":1,"webaclId":"arn:aws:wafv2:us-east-1:111111111111:regional/webacl/hasura-auth-production-hasura/x",` +
		`"terminatingRuleId":"AWSManagedRulesCommonRuleSet","terminatingRuleType":"MANAGED_RULE_GROUP","action":"BLOCK",` +
		`"terminatingRuleMatchDetails":[],"httpSourceName":"ALB","httpSourceId":"x","ruleGroupList":[` +
		`{"ruleGroupId":"AWS#AWSManagedRulesAmazonIpReputationList","terminatingRule":null,"nonTerminatingMatchingRules":[],"excludedRules":null},` +
		`{"ruleGroupId":"AWS#AWSManagedRulesCommonRuleSet","terminatingRule":{"ruleId":"CrossSiteScripting_BODY","action":"BLOCK","ruleMatchDetails":null},"nonTerminatingMatchingRules":[],"excludedRules":null}],` +
		`"rateBasedRuleList":[],"nonTerminatingMatchingRules":[],"httpRequest":{"clientIp":"192.0.2.1","country":"US","headers":[],"uri":"/v1/graphql","args":"","httpVersion":"HTTP/1.1","httpMethod":"POST","requestId":"x"}}`
	got := re.FindStringSubmatch(line)
	require.NotNil(t, got)
	assert.Equal(t, "CrossSiteScripting_BODY", got[re.SubexpIndex("groupRule")])
	_, counted := edge.CountedRules["AWSManagedRulesCommonRuleSet"]
	assert.True(t, counted, "CountedRules is keyed by the group the query shows as terminatingRuleId")
}

// The UserMigration trigger's alarms and dashboard row exist exactly where cognito.migrateFrom
// is set (moped), with these metrics and rules; every other environment has none of them.
func TestUserMigrationTriggerAlarmsAndDashboardOnlyWithMigrateFrom(t *testing.T) {
	const env = "moped"
	fn := "identity:ref:UsersUserMigrationFunction"
	tp := tmpl(t, env, "hasura")
	got := alarmsOf(tp)
	topic := compact(map[string]any{"Ref": firstWithPrefix(tp, "AWS::SNS::Topic", "MonitoringTopic")})
	dimsOf := func(v any) map[string]string {
		dims := map[string]string{}
		for _, d := range list(v) {
			dm := d.(map[string]any)
			dims[dm["Name"].(string)] = sym(t, env, dm["Value"])
		}
		return dims
	}
	rule := func(p map[string]any, key string, threshold, periods float64) {
		assert.Equal(t, "GreaterThanOrEqualToThreshold", p["ComparisonOperator"], key)
		assert.Equal(t, threshold, p["Threshold"], key)
		assert.Equal(t, periods, p["EvaluationPeriods"], key)
		assert.Equal(t, "notBreaching", p["TreatMissingData"], key)
		assert.Equal(t, []string{topic}, compactAll(p["AlarmActions"]), key)
		assert.Equal(t, []string{topic}, compactAll(p["OKActions"]), key)
		assert.True(t, strings.HasSuffix(p["AlarmDescription"].(string), "Runbook: "+stacks.RunbookURL+"#"+key), p["AlarmDescription"])
	}

	old := got["hasura-auth-moped-usermigration-old-pool-failures"].Properties
	require.NotNil(t, old)
	assert.Equal(t, opsmetrics.MigrationNamespace, old["Namespace"])
	assert.Equal(t, opsmetrics.MigrationsRefused, old["MetricName"])
	assert.Equal(t, map[string]string{opsmetrics.DimFunction: fn, opsmetrics.DimClass: opsmetrics.ClassInfrastructure}, dimsOf(old["Dimensions"]))
	assert.Equal(t, "Sum", old["Statistic"])
	assert.Equal(t, 60.0, old["Period"])
	rule(old, "usermigration-old-pool-failures", 1, 1)

	thr := got["hasura-auth-moped-usermigration-throttles"].Properties
	require.NotNil(t, thr)
	assert.Equal(t, "AWS/Lambda", thr["Namespace"])
	assert.Equal(t, "Throttles", thr["MetricName"])
	assert.Equal(t, map[string]string{"FunctionName": fn}, dimsOf(thr["Dimensions"]))
	assert.Equal(t, "Sum", thr["Statistic"])
	assert.Equal(t, 60.0, thr["Period"])
	rule(thr, "usermigration-throttles", 1, 1)

	// Errors minus refusals of both classes: a wrong password (a refusal, so a Lambda error)
	// must not page, an init failure or a crash (no refusal logged) must.
	errs := got["hasura-auth-moped-usermigration-errors"].Properties
	require.NotNil(t, errs)
	rule(errs, "usermigration-errors", 1, 1)
	queries := map[string]string{}
	var expr string
	for _, q := range list(errs["Metrics"]) {
		qm := q.(map[string]any)
		if e, ok := qm["Expression"].(string); ok {
			assert.NotEqual(t, false, qm["ReturnData"], "the expression is what the alarm reads")
			expr = e
			continue
		}
		assert.Equal(t, false, qm["ReturnData"])
		ms := qm["MetricStat"].(map[string]any)
		m := ms["Metric"].(map[string]any)
		assert.Equal(t, "Sum", ms["Stat"])
		assert.Equal(t, 300.0, ms["Period"])
		d := dimsOf(m["Dimensions"])
		queries[qm["Id"].(string)] = fmt.Sprintf("%s/%s %v", m["Namespace"], m["MetricName"], d)
	}
	assert.Equal(t, "errors - FILL(infrastructure, 0) - FILL(request, 0)", expr)
	assert.Equal(t, map[string]string{
		"errors":         fmt.Sprintf("AWS/Lambda/Errors %v", map[string]string{"FunctionName": fn}),
		"infrastructure": fmt.Sprintf("%s/%s %v", opsmetrics.MigrationNamespace, opsmetrics.MigrationsRefused, map[string]string{opsmetrics.DimFunction: fn, opsmetrics.DimClass: opsmetrics.ClassInfrastructure}),
		"request":        fmt.Sprintf("%s/%s %v", opsmetrics.MigrationNamespace, opsmetrics.MigrationsRefused, map[string]string{opsmetrics.DimFunction: fn, opsmetrics.DimClass: opsmetrics.ClassRequest}),
	}, queries)

	// The dashboard's second row: migrations and refusals by reason, latency, errors and throttles.
	v := dashboardOf(t, env)
	var titles []string
	var plotted []string
	for _, w := range v["widgets"].([]any) {
		props := w.(map[string]any)["properties"].(map[string]any)
		titles = append(titles, props["title"].(string))
		for _, m := range list(props["metrics"]) {
			row := m.([]any)
			if e, ok := row[0].(map[string]any); ok {
				plotted = append(plotted, e["expression"].(string))
				continue
			}
			plotted = append(plotted, row[0].(string)+"/"+row[1].(string))
		}
	}
	require.GreaterOrEqual(t, len(titles), 6)
	assert.Equal(t, []string{"Users migrated and refused by reason", "User migration latency (ms)", "User migration trigger errors and throttles"}, titles[3:6])
	assert.Contains(t, plotted, fmt.Sprintf(`SEARCH('{%s,%s,%s} MetricName="%s" %s="%s"', 'Sum', 300)`,
		opsmetrics.MigrationNamespace, opsmetrics.DimFunction, opsmetrics.DimReason, opsmetrics.MigrationsRefused, opsmetrics.DimFunction, fn))
	for _, m := range []string{opsmetrics.MigrationNamespace + "/" + opsmetrics.UsersMigrated, opsmetrics.MigrationNamespace + "/" + opsmetrics.Latency, "AWS/Lambda/Errors", "AWS/Lambda/Throttles"} {
		assert.Contains(t, plotted, m)
	}

	for _, other := range []string{"production", "staging", "legacy", "sso"} {
		for name := range alarmsOf(tmpl(t, other, "hasura")) {
			assert.NotContains(t, name, "usermigration", other)
		}
		assert.NotContains(t, compact(dashboardOf(t, other)), opsmetrics.MigrationNamespace, other)
	}
}
