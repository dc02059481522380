package stacks_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/constructs/nag"
)

func TestCdkNagReportsNoUnsuppressedErrors(t *testing.T) {
	require.Len(t, envs, 5)
	for _, e := range envs {
		for _, st := range []awscdk.Stack{e.Identity.Stack, e.Hasura.Stack} {
			assert.Empty(t, nagErrors[*st.StackName()], "%s: cdk-nag errors", *st.StackName())
		}
	}
}

// suppression is one cdk-nag suppression as the template records it.
type suppression struct{ resource, rule, appliesTo string }

// wantSuppressions lists every suppression, per environment and stack. A new one fails this
// test until it is listed here, where a reviewer sees it; its reason is in the template.
func wantSuppressions(env string) map[string][]suppression {
	id := []suppression{{"ClaimsKeySecret", "AwsSolutions-SMG4", ""}}
	h := []suppression{
		{"HasuraAlbSecurityGroup", "AwsSolutions-EC23", ""},
		{"HasuraTask", "AwsSolutions-ECS2", ""},
		{"HasuraAccessLogs", "AwsSolutions-S1", ""},
		{"HasuraDatabaseUrlSecret", "AwsSolutions-SMG4", ""},
		{"HasuraDatabaseRotationRoleDefaultPolicy", "AwsSolutions-IAM5", "Resource::*"},
	}
	switch env {
	case "production":
	case "staging":
		id = append(id, suppression{"UsersPool", "AwsSolutions-COG8", ""})
		h = append(h, suppression{"HasuraDatabase", "AwsSolutions-RDS10", ""}, suppression{"HasuraDatabase", "AwsSolutions-RDS3", ""})
	case "sso":
		id = append(id, suppression{"UsersPool", "AwsSolutions-COG8", ""})
		h = append(h, suppression{"HasuraDatabase", "AwsSolutions-RDS10", ""}, suppression{"HasuraDatabase", "AwsSolutions-RDS3", ""})
	case "legacy":
		id = append(id, suppression{"UsersPool", "AwsSolutions-COG8", ""})
		// An existing database: no database, URL or rotation resources of ours.
		h = []suppression{{"HasuraAlbSecurityGroup", "AwsSolutions-EC23", ""}, {"HasuraTask", "AwsSolutions-ECS2", ""}, {"HasuraAccessLogs", "AwsSolutions-S1", ""}}
	case "moped":
		// Production with an existing database (its URL in SSM): nothing beyond the service's own.
		h = []suppression{{"HasuraAlbSecurityGroup", "AwsSolutions-EC23", ""}, {"HasuraTask", "AwsSolutions-ECS2", ""}, {"HasuraAccessLogs", "AwsSolutions-S1", ""}}
	}
	return map[string][]suppression{"identity": id, "hasura": h}
}

func TestEverySuppressionIsListedJustifiedAndOnOneResource(t *testing.T) {
	for env := range envs {
		for stack, want := range wantSuppressions(env) {
			t.Run(env+"/"+stack, func(t *testing.T) {
				tp := tmpl(t, env, stack)
				assert.NotContains(t, tp.Metadata, "cdk_nag", "no stack-wide suppressions")
				var got []suppression
				for id, r := range tp.Resources {
					nagMD, _ := r.Metadata["cdk_nag"].(map[string]any)
					for _, s := range list(nagMD["rules_to_suppress"]) {
						sm := s.(map[string]any)
						reason, _ := sm["reason"].(string)
						assert.GreaterOrEqual(t, len(strings.TrimSpace(reason)), nag.MinReasonLength, "%s %s: the reason must say why", id, sm["id"])
						applies := ""
						for _, a := range list(sm["applies_to"]) {
							applies += fmt.Sprint(a)
						}
						got = append(got, suppression{trimID(id), sm["id"].(string), applies})
					}
				}
				sortSup(got)
				sortSup(want)
				assert.Equal(t, want, got)
			})
		}
	}
}

func trimID(id string) string {
	// Logical IDs end in an 8-hex-digit hash; suppressions are listed by construct path prefix.
	if len(id) > 8 {
		return id[:len(id)-8]
	}
	return id
}

func sortSup(s []suppression) {
	sort.Slice(s, func(i, j int) bool { return fmt.Sprint(s[i]) < fmt.Sprint(s[j]) })
}

// roleWant is a role's complete permissions: its policy statements and managed policies.
type roleWant struct {
	statements func(tp Template) []Statement
	managed    []string
	why        string // for any managed policy or wildcard
}

func ownLogs(tp Template, prefix string) Statement {
	id := firstWithPrefix(tp, "AWS::Logs::LogGroup", prefix)
	return Statement{"Allow", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, []string{getAtt(id, "Arn")}}
}

// hasuraRoles are the Hasura stack's roles other than the task roles (asserted in hasura_test.go).
func hasuraRoles(createdDB bool) map[string]roleWant {
	rotate := func(tp Template, secret string) Statement {
		return Statement{"Allow", []string{"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"}, []string{secret}}
	}
	service := func(tp Template) Statement {
		return Statement{"Allow", []string{"ecs:DescribeServices", "ecs:UpdateService"}, []string{ref(firstWithPrefix(tp, "AWS::ECS::Service", "HasuraService"))}}
	}
	roles := map[string]roleWant{
		"HasuraFlowLogIAMRole": {statements: func(tp Template) []Statement {
			return []Statement{{"Allow", []string{"logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"}, []string{getAtt(firstWithPrefix(tp, "AWS::Logs::LogGroup", "HasuraFlowLogs"), "Arn")}}}
		}},
		"HasuraAdminSecretRotationRole": {statements: func(tp Template) []Statement {
			return []Statement{service(tp), ownLogs(tp, "HasuraAdminSecretRotationLogs"), rotate(tp, ref(firstWithPrefix(tp, "AWS::SecretsManager::Secret", "HasuraAdminSecret")))}
		}},
		"CustomVpcRestrictDefaultSGCustomResourceProviderRole": {
			statements: func(tp Template) []Statement { return nil },
			managed:    []string{`{"Fn::Sub":"arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}`},
			why:        "CDK's provider for restrictDefaultSecurityGroup writes its logs through this managed policy (logs on *); CDK offers no way to scope it. Its inline policy may only revoke/authorize rules on the VPC's default security group (asserted below).",
		},
	}
	roles["MonitoringRotationCheckRole"] = roleWant{statements: func(tp Template) []Statement {
		secrets := []string{ref(firstWithPrefix(tp, "AWS::SecretsManager::Secret", "HasuraAdminSecret"))}
		if createdDB {
			secrets = append(secrets, ref(firstWithPrefix(tp, "AWS::SecretsManager::SecretTargetAttachment", "HasuraDatabaseSecretAttachment")))
		}
		sort.Strings(secrets)
		return []Statement{ownLogs(tp, "MonitoringRotationCheckLogs"), {"Allow", []string{"secretsmanager:DescribeSecret"}, secrets}}
	}}
	if createdDB {
		roles["HasuraDatabaseRotationRole"] = roleWant{statements: func(tp Template) []Statement {
			return []Statement{
				{"Allow", []string{"ec2:AssignPrivateIpAddresses", "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:UnassignPrivateIpAddresses"}, []string{"*"}},
				service(tp), ownLogs(tp, "HasuraDatabaseRotationLogs"),
				{"Allow", []string{"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"}, []string{ref(firstWithPrefix(tp, "AWS::SecretsManager::Secret", "HasuraDatabaseUrlSecret"))}},
				rotate(tp, ref(firstWithPrefix(tp, "AWS::SecretsManager::SecretTargetAttachment", "HasuraDatabaseSecretAttachment"))),
			}
		}, why: "Lambda's VPC attachment requires the network-interface actions on Resource * (the interfaces do not exist before Lambda creates them)."}
	} else {
		delete(roles, "CustomVpcRestrictDefaultSGCustomResourceProviderRole") // an imported VPC is not ours to restrict
	}
	return roles
}

// assertedElsewhere are roles whose complete policies other tests assert.
var assertedElsewhere = map[string]string{
	"UsersPreTokenRole":       "TestPreTokenRoleMayReadExactlyTheClaimsTableAndKeySecret",
	"UsersUserMigrationRole":  "TestUserMigrationRoleMayCallExactlyTheOldPoolsAdminAuthAndRead",
	"SecretGeneratorRole":     "TestSecretGeneratorRoleMayWriteExactlyTheKeyRingAndTheAPIKeyParameter",
	"HasuraTaskExecutionRole": "TestHasuraSecretsAreInjectedByECSNeverPlainEnvironment",
	"HasuraTaskTaskRole":      "TestHasuraSecretsAreInjectedByECSNeverPlainEnvironment",
}

func TestEveryRoleHasExactlyItsListedPermissions(t *testing.T) {
	for env := range envs {
		created := cfgs[env].Database.Create
		for _, stack := range []string{"identity", "hasura"} {
			tp := tmpl(t, env, stack)
			for _, roleID := range tp.ofType("AWS::IAM::Role") {
				t.Run(env+"/"+roleID, func(t *testing.T) {
					prefix := trimID(roleID)
					if test, ok := assertedElsewhere[prefix]; ok {
						assert.NotEmpty(t, test)
						return
					}
					want, ok := hasuraRoles(created)[prefix]
					require.True(t, ok, "role %s is not listed: add its complete permissions to this test", roleID)
					expected := want.statements(tp)
					sort.Slice(expected, func(i, j int) bool { return expected[i].String() < expected[j].String() })
					assert.Equal(t, expected, tp.policyOf(t, roleID))
					var managed []string
					for _, m := range list(tp.Resources[roleID].Properties["ManagedPolicyArns"]) {
						managed = append(managed, compact(m))
					}
					assert.Equal(t, want.managed, managed)
					if len(want.managed) > 0 {
						assert.NotEmpty(t, want.why)
					}
				})
			}
		}
	}
	// The CDK provider's inline policy: only the default security group.
	tp := tmpl(t, "staging", "hasura")
	role := tp.Resources[firstWithPrefix(tp, "AWS::IAM::Role", "CustomVpcRestrictDefaultSGCustomResourceProviderRole")]
	inline := role.Properties["Policies"].([]any)
	require.Len(t, inline, 1)
	st := inline[0].(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any)
	require.Len(t, st, 1)
	assert.Contains(t, compact(st[0].(map[string]any)["Resource"]), `"DefaultSecurityGroup"`)
}

// TestWildcardsOnlyWhereAServiceRequiresThem scans every Allow statement of every policy for
// "*" in a resource or an action.
func TestWildcardsOnlyWhereAServiceRequiresThem(t *testing.T) {
	allowed := map[string]string{
		"HasuraDatabaseRotationRoleDefaultPolicy": "ec2 network-interface actions for Lambda's VPC attachment: the service requires Resource *",
	}
	for env := range envs {
		for _, stack := range []string{"identity", "hasura"} {
			tp := tmpl(t, env, stack)
			for _, id := range tp.ofType("AWS::IAM::Policy") {
				for _, st := range tp.Resources[id].Properties["PolicyDocument"].(map[string]any)["Statement"].([]any) {
					s := normalize(st.(map[string]any))
					if s.Effect != "Allow" {
						continue
					}
					wild := false
					for _, r := range s.Resources {
						wild = wild || r == "*"
					}
					for _, a := range s.Actions {
						wild = wild || strings.Contains(a, "*")
					}
					if wild {
						reason, ok := allowed[trimID(id)]
						assert.True(t, ok, "%s/%s %s: %s has a wildcard", env, stack, id, s)
						assert.NotEmpty(t, reason)
						for _, a := range s.Actions {
							assert.True(t, strings.HasPrefix(a, "ec2:") && strings.Contains(a, "NetworkInterface") || strings.Contains(a, "PrivateIpAddresses"), "only ENI actions may use Resource *: %s", a)
						}
					}
				}
			}
		}
	}
}

func TestProductionIsHardened(t *testing.T) {
	id := tmpl(t, "production", "identity")
	h := tmpl(t, "production", "hasura")

	// Nothing stateful goes with a stack deletion.
	for _, c := range []struct {
		tp    Template
		types []string
	}{
		{id, []string{"AWS::Cognito::UserPool", "AWS::DynamoDB::GlobalTable", "AWS::SecretsManager::Secret"}},
		{h, []string{"AWS::RDS::DBInstance", "AWS::SecretsManager::Secret", "AWS::S3::Bucket"}},
	} {
		for _, typ := range c.types {
			ids := c.tp.ofType(typ)
			require.NotEmpty(t, ids, typ)
			for _, rid := range ids {
				assert.Equal(t, "Retain", c.tp.Resources[rid].DeletionPolicy, "%s %s", typ, rid)
			}
		}
	}
	_, pool := id.one(t, "AWS::Cognito::UserPool")
	assert.Equal(t, "ACTIVE", pool.Properties["DeletionProtection"])
	assert.Equal(t, map[string]any{"AdvancedSecurityMode": "ENFORCED"}, pool.Properties["UserPoolAddOns"], "threat protection from config")
	_, db := h.one(t, "AWS::RDS::DBInstance")
	assert.Equal(t, true, db.Properties["DeletionProtection"])
	assert.Equal(t, "5433", fmt.Sprint(db.Properties["Port"]))

	// ALB access logs: to a private, encrypted, TLS-only bucket.
	bucketID, bucket := h.one(t, "AWS::S3::Bucket")
	assert.Equal(t, map[string]any{"ServerSideEncryptionConfiguration": []any{map[string]any{"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "AES256"}}}}, bucket.Properties["BucketEncryption"])
	assert.Equal(t, map[string]any{"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true}, bucket.Properties["PublicAccessBlockConfiguration"])
	_, policy := h.one(t, "AWS::S3::BucketPolicy")
	assert.Contains(t, compact(policy.Properties["PolicyDocument"]), `{"Action":"s3:*","Condition":{"Bool":{"aws:SecureTransport":"false"}},"Effect":"Deny"`)
	_, alb := h.one(t, "AWS::ElasticLoadBalancingV2::LoadBalancer")
	attrs := alb.Properties["LoadBalancerAttributes"]
	assert.Contains(t, attrs, map[string]any{"Key": "access_logs.s3.enabled", "Value": "true"})
	assert.Contains(t, attrs, map[string]any{"Key": "access_logs.s3.bucket", "Value": map[string]any{"Ref": bucketID}})

	// VPC flow logs, of all traffic, to a log group with retention.
	_, flow := h.one(t, "AWS::EC2::FlowLog")
	vpcID, _ := h.one(t, "AWS::EC2::VPC")
	assert.Equal(t, map[string]any{"Ref": vpcID}, flow.Properties["ResourceId"])
	assert.Equal(t, "ALL", flow.Properties["TrafficType"])
	_, flowLogs := h.withPrefix(t, "AWS::Logs::LogGroup", "HasuraFlowLogs")
	assert.Equal(t, 365.0, flowLogs.Properties["RetentionInDays"])
}

func TestHasuraSecretsRotateAndRedeploy(t *testing.T) {
	tp := tmpl(t, "production", "hasura")
	schedules := map[string]Resource{}
	for _, id := range tp.ofType("AWS::SecretsManager::RotationSchedule") {
		schedules[trimID(id)] = tp.Resources[id]
	}
	require.Len(t, schedules, 2)
	admin := schedules["HasuraAdminSecretRotationSchedule"]
	assert.Equal(t, map[string]any{"Ref": firstWithPrefix(tp, "AWS::SecretsManager::Secret", "HasuraAdminSecret")}, admin.Properties["SecretId"])
	dbs := schedules["HasuraDatabaseRotationSchedule"]
	assert.Equal(t, map[string]any{"Ref": firstWithPrefix(tp, "AWS::SecretsManager::SecretTargetAttachment", "HasuraDatabaseSecretAttachment")}, dbs.Properties["SecretId"])
	for name, s := range schedules {
		assert.Equal(t, map[string]any{"ScheduleExpression": "rate(30 days)"}, s.Properties["RotationRules"], name)
		assert.Equal(t, false, s.Properties["RotateImmediatelyOnUpdate"], name)
		// Secrets Manager may invoke the function once the schedule exists: it waits for the
		// function's invoke permission, role and policy. The function itself is implied by the
		// GetAtt, and naming it again is what cfn-lint's W3005 flags.
		fnID := s.Properties["RotationLambdaARN"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
		roleID := tp.Resources[fnID].Properties["Role"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
		var want []string
		for _, id := range tp.ofType("AWS::Lambda::Permission") {
			if assert.ObjectsAreEqual(map[string]any{"Fn::GetAtt": []any{fnID, "Arn"}}, tp.Resources[id].Properties["FunctionName"]) {
				want = append(want, id)
			}
		}
		for _, id := range tp.ofType("AWS::IAM::Policy") {
			if assert.ObjectsAreEqual([]any{map[string]any{"Ref": roleID}}, tp.Resources[id].Properties["Roles"]) {
				want = append(want, id)
			}
		}
		require.Len(t, want, 2, name)
		assert.ElementsMatch(t, append(want, roleID), s.DependsOn, name)
	}
	// Secrets Manager may invoke each function, for its own secret only.
	for _, id := range tp.ofType("AWS::Lambda::Permission") {
		if strings.HasPrefix(id, "MonitoringRotationCheck") {
			continue // the rotation check's schedule (TestRotationCheckRunsHourlyOverExactlyTheRotatedSecrets)
		}
		p := tp.Resources[id].Properties
		assert.Equal(t, "secretsmanager.amazonaws.com", p["Principal"])
		assert.NotEmpty(t, p["SourceArn"], "scoped to one secret")
	}
	// Each function knows exactly the service it redeploys, and the database one the URL secret
	// it rewrites; nothing else (no value, no database name: it keeps the URL's).
	cluster := map[string]any{"Ref": firstWithPrefix(tp, "AWS::ECS::Cluster", "HasuraCluster")}
	service := map[string]any{"Fn::GetAtt": []any{firstWithPrefix(tp, "AWS::ECS::Service", "HasuraService"), "Name"}}
	_, adminFn := tp.withPrefix(t, "AWS::Lambda::Function", "HasuraAdminSecretRotationFunction")
	assert.Equal(t, map[string]any{"Variables": map[string]any{"ROTATION_KIND": "hasura-admin", "CLUSTER_NAME": cluster, "SERVICE_NAME": service}},
		adminFn.Properties["Environment"])
	_, fn := tp.withPrefix(t, "AWS::Lambda::Function", "HasuraDatabaseRotationFunction")
	assert.Equal(t, map[string]any{"Variables": map[string]any{"ROTATION_KIND": "postgres", "CLUSTER_NAME": cluster, "SERVICE_NAME": service,
		"DATABASE_URL_SECRET_ID": map[string]any{"Ref": firstWithPrefix(tp, "AWS::SecretsManager::Secret", "HasuraDatabaseUrlSecret")},
		"PGSSLMODE":              "require"}}, fn.Properties["Environment"])
	assert.Contains(t, compact(fn.Properties["VpcConfig"]), "appSubnet", "in the private app subnets, to reach the database")
}

// TestHasuraURLNamesTheDatabaseRDSCreates: the URL Hasura starts with (which every rotation
// keeps, changing only its credentials) names the database the instance creates, from one value.
func TestHasuraURLNamesTheDatabaseRDSCreates(t *testing.T) {
	for _, env := range []string{"staging", "production"} {
		tp := tmpl(t, env, "hasura")
		_, db := tp.withPrefix(t, "AWS::RDS::DBInstance", "HasuraDatabase")
		assert.Equal(t, "hasura", db.Properties["DBName"], env)
		_, urlSecret := tp.withPrefix(t, "AWS::SecretsManager::Secret", "HasuraDatabaseUrlSecret")
		parts := list(list(urlSecret.Properties["SecretString"].(map[string]any)["Fn::Join"])[1])
		assert.Equal(t, "/"+db.Properties["DBName"].(string), parts[len(parts)-1], "%s: the URL's last part is its database", env)
		// The generated credentials hold the master user only: what RDS and the attachment expect.
		// Changing this template would make CloudFormation generate a new password.
		_, creds := tp.withPrefix(t, "AWS::SecretsManager::Secret", "hasuraauth"+env+"hasuraHasuraDatabaseSecret")
		assert.Equal(t, `{"username":"hasura"}`, creds.Properties["GenerateSecretString"].(map[string]any)["SecretStringTemplate"], env)
	}
}
