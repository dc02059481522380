package config

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strings"
)

var (
	emailRe    = regexp.MustCompile(`^[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$`)
	topicArnRe = regexp.MustCompile(`^arn:aws[a-z-]*:sns:([a-z0-9-]+):([0-9]{12}):[A-Za-z0-9_-]{1,256}$`)
)

// maxEvaluationPeriods keeps every alarm's window (at most 60 periods of 5 minutes) inside
// CloudWatch's limits and the runbook's promise that an alarm reacts within hours.
const maxEvaluationPeriods = 60

// alarmRule is what an alarm's threshold may be: [min, max], or 0 where 0 means "derived".
type alarmRule struct {
	min, max  float64
	zeroMeans string // non-empty: 0 is allowed and means this
}

// alarmRules holds each Alarms field's allowed threshold, by JSON name.
func (e Environment) alarmRules() map[string]alarmRule {
	count := alarmRule{min: 1, max: 1e6}
	percent := alarmRule{min: 1, max: 100}
	return map[string]alarmRule{
		"pretokenInfrastructureRefusals": count,
		"pretokenThrottles":              count,
		// Cognito stops waiting after 5 s; above the handler's 2.5 s budget the alarm would be late.
		"pretokenLatencyP99Ms":         {min: 10, max: 2500},
		"cognitoSignInThrottles":       count,
		"cognitoTokenRefreshThrottles": count,
		"claimsTableReadThrottles":     count,
		"claimsTableSystemErrors":      count,
		"loadBalancer5xx":              count,
		"hasura5xx":                    count,
		"unhealthyHosts":               {min: 1, max: float64(e.Hasura.MaxCount)},
		"healthyHostsBelow":            {min: 1, max: float64(e.Hasura.MinCount)},
		// The ALB's idle timeout is 60 s.
		"hasuraLatencyP99Seconds":         {min: 0.01, max: 60},
		"hasuraCpuPercent":                percent,
		"hasuraMemoryPercent":             percent,
		"runningTasksBelow":               {min: 1, max: float64(e.Hasura.MinCount), zeroMeans: "hasura.minCount"},
		"databaseCpuPercent":              percent,
		"databaseFreeStorageGiB":          {min: 1, max: float64(e.Database.AllocatedStorage) - 1},
		"databaseFreeableMemoryMiB":       {min: 1, max: 1 << 20},
		"databaseConnections":             {min: 1, max: 5000, zeroMeans: "80% of the instance class's default max_connections"},
		"rotationErrors":                  count,
		"migrationInfrastructureRefusals": count,
		"migrationErrors":                 count,
		"migrationThrottles":              count,
		// Secrets Manager rotates within a window after the scheduled day; a week is plenty.
		"rotationOverdueHours": {min: 1, max: 168},
	}
}

func (e Environment) validateOperations(v *validator) {
	o := e.Operations
	for i, m := range o.AlarmEmails {
		v.check(emailRe.MatchString(m), fmt.Sprintf("operations.alarmEmails[%d]", i), m, "an email address")
	}
	if o.AlarmTopicArn != "" {
		m := topicArnRe.FindStringSubmatch(o.AlarmTopicArn)
		v.check(m != nil, "operations.alarmTopicArn", o.AlarmTopicArn, "an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)")
		if m != nil {
			v.check(m[1] == e.Region, "operations.alarmTopicArn", o.AlarmTopicArn, "a topic in the environment's region "+e.Region+" (CloudWatch alarms act on topics of their own region)")
			v.check(e.Account == "" || m[2] == e.Account, "operations.alarmTopicArn", o.AlarmTopicArn, "a topic in the environment's account "+e.Account)
		}
		v.check(len(o.AlarmEmails) == 0, "operations.alarmEmails", o.AlarmEmails, "empty when operations.alarmTopicArn is set (subscribe to the existing topic where it is managed)")
	}
	v.check(o.WAF.RateLimit >= 10 && o.WAF.RateLimit <= 2_000_000_000, "operations.waf.rateLimit", o.WAF.RateLimit, "10-2000000000 requests per IP per 5 minutes")

	rules := e.alarmRules()
	val := reflect.ValueOf(o.Alarms)
	for i := 0; i < val.NumField(); i++ {
		name := strings.Split(val.Type().Field(i).Tag.Get("json"), ",")[0]
		a := val.Field(i).Interface().(Alarm)
		field := "operations.alarms." + name
		v.check(a.EvaluationPeriods >= 1 && a.EvaluationPeriods <= maxEvaluationPeriods, field+".evaluationPeriods", a.EvaluationPeriods, fmt.Sprintf("1-%d", maxEvaluationPeriods))
		r, ok := rules[name]
		if !ok {
			panic("config: no threshold rule for " + field) // caught by the tests
		}
		if a.Threshold == 0 && r.zeroMeans != "" {
			continue
		}
		want := fmt.Sprintf("%g-%g", r.min, r.max)
		if r.zeroMeans != "" {
			want += ", or 0 for " + r.zeroMeans
		}
		v.check(a.Threshold >= r.min && a.Threshold <= r.max, field+".threshold", a.Threshold, want)
	}
	if d := e.Database; d.Create && o.Alarms.DatabaseConnections.Threshold == 0 {
		_, ok := DefaultMaxConnections(d.InstanceType)
		v.check(ok, "operations.alarms.databaseConnections.threshold", 0, "set for instance type "+d.InstanceType+": its max_connections is not known here")
	}
}

// RunningTasksThreshold is the running-tasks alarm's threshold: fewer tasks than this alarm.
func (e Environment) RunningTasksThreshold() float64 {
	if t := e.Operations.Alarms.RunningTasksBelow.Threshold; t != 0 {
		return t
	}
	return float64(e.Hasura.MinCount)
}

// DatabaseConnectionsThreshold is the connections alarm's threshold: more connections than this alarm.
func (e Environment) DatabaseConnectionsThreshold() float64 {
	if t := e.Operations.Alarms.DatabaseConnections.Threshold; t != 0 {
		return t
	}
	max, _ := DefaultMaxConnections(e.Database.InstanceType)
	return math.Floor(0.8 * float64(max))
}

// instanceMemoryGiB is the memory of RDS instance sizes, per family kind: general purpose and
// burstable (m, t) and memory optimized (r) classes.
var instanceMemoryGiB = map[string]map[string]float64{
	"t": {"micro": 1, "small": 2, "medium": 4, "large": 8, "xlarge": 16, "2xlarge": 32},
	"m": {"large": 8, "xlarge": 16, "2xlarge": 32, "4xlarge": 64, "8xlarge": 128, "12xlarge": 192, "16xlarge": 256},
	"r": {"large": 16, "xlarge": 32, "2xlarge": 64, "4xlarge": 128, "8xlarge": 256, "12xlarge": 384, "16xlarge": 512},
}

var instanceFamilyRe = regexp.MustCompile(`^([tmr])[0-9]+[a-z]*\.([0-9]*x?[a-z]+)$`)

// DefaultMaxConnections approximates RDS PostgreSQL's default max_connections for an instance
// type (t4g.micro, m6g.large, ...): LEAST(DBInstanceClassMemory/9531392, 5000), where
// DBInstanceClassMemory is the class's memory less what RDS keeps for itself, taken here as
// 300 MiB (t4g.micro: 79). An approximation: an operator who knows the real figure sets the
// threshold. ok is false for a class this table does not know.
func DefaultMaxConnections(instanceType string) (int, bool) {
	m := instanceFamilyRe.FindStringSubmatch(instanceType)
	if m == nil {
		return 0, false
	}
	gib, ok := instanceMemoryGiB[m[1]][m[2]]
	if !ok {
		return 0, false
	}
	n := int((gib*1024 - 300) * (1 << 20) / 9531392)
	return min(n, 5000), true
}
