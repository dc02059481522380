package stacks_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func container(t *testing.T, tp Template) map[string]any {
	t.Helper()
	_, td := tp.one(t, "AWS::ECS::TaskDefinition")
	defs := td.Properties["ContainerDefinitions"].([]any)
	require.Len(t, defs, 1)
	return defs[0].(map[string]any)
}

func envOf(c map[string]any) map[string]any {
	out := map[string]any{}
	for _, e := range c["Environment"].([]any) {
		kv := e.(map[string]any)
		out[kv["Name"].(string)] = kv["Value"]
	}
	return out
}

func secretsOf(c map[string]any) map[string]string {
	out := map[string]string{}
	for _, e := range c["Secrets"].([]any) {
		kv := e.(map[string]any)
		out[kv["Name"].(string)] = compact(kv["ValueFrom"])
	}
	return out
}

// jwtSecret parses HASURA_GRAPHQL_JWT_SECRET, naming each cross-stack token by the output it reads.
func jwtSecret(t *testing.T, env string) map[string]any {
	t.Helper()
	raw := envOf(container(t, tmpl(t, env, "hasura")))["HASURA_GRAPHQL_JWT_SECRET"]
	s := resolveJoin(t, raw, func(part any) string {
		out := part.(map[string]any)["Fn::GetStackOutput"].(map[string]any)
		assert.Equal(t, "hasura-auth-"+env+"-identity", out["StackName"])
		name := out["OutputName"].(string)
		switch {
		case strings.Contains(name, "SpaClient"):
			return "<client-id>"
		case strings.Contains(name, "UsersPool"):
			return "<pool-id>"
		}
		t.Fatalf("unexpected token in the JWT secret: %s", compact(part))
		return ""
	})
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(s), &v), "the JWT secret must be JSON: %s", s)
	return v
}

func TestHasuraJWTSecretTrustsExactlyThePool(t *testing.T) {
	for env, region := range map[string]string{"staging": "us-east-1", "production": "us-east-1", "sso": "eu-west-1", "legacy": "us-west-2"} {
		t.Run(env, func(t *testing.T) {
			v := jwtSecret(t, env)
			issuer := "https://cognito-idp." + region + ".amazonaws.com/<pool-id>"
			want := map[string]any{
				"type":          "RS256",
				"jwk_url":       issuer + "/.well-known/jwks.json",
				"claims_format": "stringified_json",
				"issuer":        issuer,
			}
			if env != "sso" {
				// ID tokens (the default) carry aud = the client ID: pin it.
				want["audience"] = "<client-id>"
			}
			assert.Equal(t, want, v)
		})
	}
}

func TestHasuraSecretsAreInjectedByECSNeverPlainEnvironment(t *testing.T) {
	for _, env := range []string{"staging", "production", "legacy"} {
		t.Run(env, func(t *testing.T) {
			tp := tmpl(t, env, "hasura")
			c := container(t, tp)
			secrets := secretsOf(c)
			apiKeyVar, param := "EVENT_API_KEY", "hasura-auth/"+env+"/event-api-key"
			region := cfgs[env].Region
			paramArn := compact(map[string]any{"Fn::Join": []any{"", []any{"arn:aws:ssm:" + region + ":", map[string]any{"Ref": "AWS::AccountId"}, ":parameter/" + param}}})
			if env == "legacy" {
				apiKeyVar = "BACKEND_API_KEY"
				paramArn = "arn:aws:ssm:us-west-2:222222222222:parameter/legacy/event-key"
			}
			adminID, _ := tp.withPrefix(t, "AWS::SecretsManager::Secret", "HasuraAdminSecret")
			dbURL := ref(firstWithPrefix(tp, "AWS::SecretsManager::Secret", "HasuraDatabaseUrlSecret"))
			want := map[string]string{
				"HASURA_GRAPHQL_ADMIN_SECRET": ref(adminID),
				"HASURA_GRAPHQL_DATABASE_URL": dbURL,
				apiKeyVar:                     paramArn,
			}
			readable := []string{ref(adminID), dbURL}
			if env == "legacy" {
				dbURL = "arn:aws:secretsmanager:us-west-2:222222222222:secret:legacy-db-url-XyZ123"
				// hasura.secrets: a JSON key of one secret (ECS's valueFrom syntax), the whole of another.
				backend, hook := "arn:aws:secretsmanager:us-west-2:222222222222:secret:legacy-backend-AbC123", "arn:aws:secretsmanager:us-west-2:222222222222:secret:legacy-hook-DeF456"
				want["HASURA_GRAPHQL_DATABASE_URL"] = dbURL
				want["BACKEND_URL"] = backend + ":url::"
				want["HOOK_TOKEN"] = hook
				readable = []string{ref(adminID), dbURL, backend, hook}
			}
			assert.Equal(t, want, secrets)
			for name := range envOf(c) {
				assert.NotContains(t, secrets, name, "%s is both a secret and a plain value", name)
				assert.NotContains(t, []string{"HASURA_GRAPHQL_ADMIN_SECRET", "HASURA_GRAPHQL_DATABASE_URL", apiKeyVar}, name)
			}

			// The execution role reads exactly those, and writes exactly its log group.
			task := tp.Resources[tp.ofType("AWS::ECS::TaskDefinition")[0]].Properties
			roleID := task["ExecutionRoleArn"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
			logsID, _ := tp.withPrefix(t, "AWS::Logs::LogGroup", "HasuraLogs")
			assert.Equal(t, []Statement{
				{"Allow", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, []string{getAtt(logsID, "Arn")}},
				// CDK's grantRead: read-only actions, on exactly the secrets the container names.
				{"Allow", []string{"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"}, sortedStrings(readable...)},
				{"Allow", []string{"ssm:DescribeParameters", "ssm:GetParameter", "ssm:GetParameterHistory", "ssm:GetParameters"}, []string{paramArn}},
			}, tp.policyOf(t, roleID))

			// Hasura itself calls no AWS API: the task role has no permissions at all.
			taskRole := task["TaskRoleArn"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
			assert.Empty(t, tp.policyOf(t, taskRole))
			assert.Nil(t, tp.Resources[taskRole].Properties["ManagedPolicyArns"])
		})
	}
}

func firstWithPrefix(tp Template, typ, prefix string) string {
	for _, id := range tp.ofType(typ) {
		if strings.HasPrefix(id, prefix) {
			return id
		}
	}
	return ""
}

func sortedStrings(s ...string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func TestHasuraContainerSettings(t *testing.T) {
	for env, console := range map[string]string{"staging": "true", "production": "false", "legacy": "false"} {
		t.Run(env, func(t *testing.T) {
			tp := tmpl(t, env, "hasura")
			c := container(t, tp)
			e := envOf(c)
			assert.Equal(t, "hasura/graphql-engine:v2.50.0", c["Image"], "the image is pinned to a version")
			assert.Equal(t, console, e["HASURA_GRAPHQL_ENABLE_CONSOLE"])
			assert.Equal(t, console, e["HASURA_GRAPHQL_DEV_MODE"])
			assert.Equal(t, "false", e["HASURA_GRAPHQL_ENABLE_TELEMETRY"])
			assert.Equal(t, []any{map[string]any{"ContainerPort": 8080.0, "Protocol": "tcp"}}, c["PortMappings"])
			logs := c["LogConfiguration"].(map[string]any)
			assert.Equal(t, "awslogs", logs["LogDriver"])
			logsID, group := tp.withPrefix(t, "AWS::Logs::LogGroup", "HasuraLogs")
			assert.Equal(t, map[string]any{"Ref": logsID}, logs["Options"].(map[string]any)["awslogs-group"])
			assert.Equal(t, float64(cfgs[env].LogRetentionDays), group.Properties["RetentionInDays"])
		})
	}
	// CORS follows the SPA's callback origins when they are configured.
	assert.Equal(t, "http://localhost:3000,https://app.example.com", envOf(container(t, tmpl(t, "sso", "hasura")))["HASURA_GRAPHQL_CORS_DOMAIN"])
}

func TestHasuraServiceDeploysSafelyInPrivateSubnets(t *testing.T) {
	for env, want := range map[string]struct{ desired, min, max float64 }{
		"staging": {1, 1, 2}, "production": {2, 2, 4},
	} {
		t.Run(env, func(t *testing.T) {
			tp := tmpl(t, env, "hasura")
			_, svc := tp.one(t, "AWS::ECS::Service")
			p := svc.Properties
			assert.Equal(t, want.desired, p["DesiredCount"])
			assert.Equal(t, map[string]any{
				"DeploymentCircuitBreaker": map[string]any{"Enable": true, "Rollback": true},
				"MaximumPercent":           200.0, "MinimumHealthyPercent": 100.0,
			}, p["DeploymentConfiguration"])
			net := p["NetworkConfiguration"].(map[string]any)["AwsvpcConfiguration"].(map[string]any)
			assert.Equal(t, "DISABLED", net["AssignPublicIp"])
			for _, s := range net["Subnets"].([]any) {
				assert.Contains(t, compact(s), "appSubnet", "tasks run in the private app subnets")
			}
			_, scaling := tp.one(t, "AWS::ApplicationAutoScaling::ScalableTarget")
			assert.Equal(t, want.min, scaling.Properties["MinCapacity"])
			assert.Equal(t, want.max, scaling.Properties["MaxCapacity"])
			_, tg := tp.one(t, "AWS::ElasticLoadBalancingV2::TargetGroup")
			assert.Equal(t, "/healthz?strict=true", tg.Properties["HealthCheckPath"], "inconsistent metadata is unhealthy to the ALB too")
			assert.Equal(t, "200", tg.Properties["Matcher"].(map[string]any)["HttpCode"])
			assert.Equal(t, "ip", tg.Properties["TargetType"])
			_, cluster := tp.one(t, "AWS::ECS::Cluster")
			assert.Equal(t, "hasura-auth-"+env+"-hasura", cluster.Properties["ClusterName"])
			assert.Equal(t, []any{map[string]any{"Name": "containerInsights", "Value": "enabled"}}, cluster.Properties["ClusterSettings"])
		})
	}
}

func TestLoadBalancerServesHTTPSInProductionAndRedirectsHTTP(t *testing.T) {
	tp := tmpl(t, "production", "hasura")
	albID, alb := tp.one(t, "AWS::ElasticLoadBalancingV2::LoadBalancer")
	assert.Equal(t, "internet-facing", alb.Properties["Scheme"])
	assert.Contains(t, alb.Properties["LoadBalancerAttributes"], map[string]any{"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"})
	assert.Contains(t, alb.Properties["LoadBalancerAttributes"], map[string]any{"Key": "deletion_protection.enabled", "Value": "true"})
	tgID := tp.ofType("AWS::ElasticLoadBalancingV2::TargetGroup")[0]
	listeners := map[float64]map[string]any{}
	for _, id := range tp.ofType("AWS::ElasticLoadBalancingV2::Listener") {
		p := tp.Resources[id].Properties
		assert.Equal(t, map[string]any{"Ref": albID}, p["LoadBalancerArn"])
		listeners[p["Port"].(float64)] = p
	}
	require.Len(t, listeners, 2)
	assert.Equal(t, "HTTPS", listeners[443]["Protocol"])
	assert.Equal(t, "ELBSecurityPolicy-TLS13-1-2-2021-06", listeners[443]["SslPolicy"])
	assert.Equal(t, []any{map[string]any{"CertificateArn": cfgs["production"].Hasura.CertificateArn}}, listeners[443]["Certificates"])
	assert.Equal(t, []any{map[string]any{"Type": "forward", "TargetGroupArn": map[string]any{"Ref": tgID}}}, listeners[443]["DefaultActions"])
	assert.Equal(t, []any{map[string]any{"Type": "redirect", "RedirectConfig": map[string]any{
		"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}}, listeners[80]["DefaultActions"])
	assert.Equal(t, `{"Fn::Join":["",["https://",{"Fn::GetAtt":["`+albID+`","DNSName"]}]]}`, compact(tp.Outputs["HasuraUrl"].Value))

	// Staging without a certificate: plain HTTP, forwarding.
	st := tmpl(t, "staging", "hasura")
	_, l := st.one(t, "AWS::ElasticLoadBalancingV2::Listener")
	assert.Equal(t, 80.0, l.Properties["Port"])
	assert.Equal(t, "forward", l.Properties["DefaultActions"].([]any)[0].(map[string]any)["Type"])
	assert.True(t, strings.HasPrefix(compact(st.Outputs["HasuraUrl"].Value), `{"Fn::Join":["",["http://"`))
}

func TestSecurityGroupsAdmitOnlyTheNextHop(t *testing.T) {
	tp := tmpl(t, "production", "hasura")
	albSG, alb := tp.withPrefix(t, "AWS::EC2::SecurityGroup", "HasuraAlbSecurityGroup")
	svcSG, _ := tp.withPrefix(t, "AWS::EC2::SecurityGroup", "HasuraServiceSecurityGroup")
	dbSG, _ := tp.withPrefix(t, "AWS::EC2::SecurityGroup", "HasuraDatabaseSecurityGroup")
	rotSG, rot := tp.withPrefix(t, "AWS::EC2::SecurityGroup", "HasuraRotationSecurityGroup")
	var ports []float64
	for _, r := range alb.Properties["SecurityGroupIngress"].([]any) {
		rule := r.(map[string]any)
		assert.Equal(t, "0.0.0.0/0", rule["CidrIp"])
		assert.Equal(t, rule["FromPort"], rule["ToPort"])
		ports = append(ports, rule["FromPort"].(float64))
	}
	assert.ElementsMatch(t, []float64{443, 80}, ports, "the internet reaches the ALB on 443 and 80 (redirect) only")

	type rule struct {
		to, from string
		port     float64
	}
	var rules []rule
	for _, id := range tp.ofType("AWS::EC2::SecurityGroupIngress") {
		p := tp.Resources[id].Properties
		rules = append(rules, rule{compact(p["GroupId"]), compact(p["SourceSecurityGroupId"]), p["FromPort"].(float64)})
		assert.Equal(t, p["FromPort"], p["ToPort"])
	}
	assert.ElementsMatch(t, []rule{
		{getAtt(svcSG, "GroupId"), getAtt(albSG, "GroupId"), 8080},
		{getAtt(dbSG, "GroupId"), getAtt(svcSG, "GroupId"), 5433},
		{getAtt(dbSG, "GroupId"), getAtt(rotSG, "GroupId"), 5433},
	}, rules, "Hasura only from the ALB, the database only from Hasura and its credential rotation")
	// The rotation function reaches the database and HTTPS APIs, nothing else.
	var egress []string
	for _, e := range rot.Properties["SecurityGroupEgress"].([]any) {
		egress = append(egress, compact(e))
	}
	for _, id := range tp.ofType("AWS::EC2::SecurityGroupEgress") {
		p := tp.Resources[id].Properties
		if compact(p["GroupId"]) == getAtt(rotSG, "GroupId") {
			egress = append(egress, fmt.Sprintf("to %s port %v", compact(p["DestinationSecurityGroupId"]), p["FromPort"]))
		}
	}
	assert.ElementsMatch(t, []string{
		`{"CidrIp":"0.0.0.0/0","Description":"Secrets Manager and ECS APIs (through NAT)","FromPort":443,"IpProtocol":"tcp","ToPort":443}`,
		"to " + getAtt(dbSG, "GroupId") + " port 5433",
	}, egress)
}

func TestDatabaseIsEncryptedPrivateAndItsURLNeverInTheTemplate(t *testing.T) {
	for env, prod := range map[string]bool{"staging": false, "production": true} {
		t.Run(env, func(t *testing.T) {
			tp := tmpl(t, env, "hasura")
			dbID, db := tp.one(t, "AWS::RDS::DBInstance")
			p := db.Properties
			assert.Equal(t, true, p["StorageEncrypted"])
			assert.Equal(t, false, p["PubliclyAccessible"])
			assert.Equal(t, prod, p["MultiAZ"])
			assert.Equal(t, prod, p["DeletionProtection"])
			assert.Equal(t, map[bool]string{true: "Retain", false: "Delete"}[prod], db.DeletionPolicy)
			assert.Equal(t, "16.13", p["EngineVersion"])
			assert.Equal(t, "hasura-auth-"+env+"-hasura", p["DBInstanceIdentifier"])
			assert.Empty(t, tp.ofType("Custom::LogRetention"), "log retention without CDK's account-wide LogRetention Lambda")
			_, logs := tp.withPrefix(t, "AWS::Logs::LogGroup", "HasuraDatabaseLogs")
			assert.Equal(t, "/aws/rds/instance/hasura-auth-"+env+"-hasura/postgresql", logs.Properties["LogGroupName"])

			_, url := tp.withPrefix(t, "AWS::SecretsManager::Secret", "HasuraDatabaseUrlSecret")
			s := resolveJoin(t, url.Properties["SecretString"], func(part any) string {
				if att, ok := part.(map[string]any)["Fn::GetAtt"].([]any); ok && att[0] == dbID {
					return "<" + att[1].(string) + ">"
				}
				return "<" + compact(part) + ">"
			})
			assert.Regexp(t, `^postgres://\{\{resolve:secretsmanager:<\{"Ref":"[^"]+"\}>:SecretString:username::\}\}:\{\{resolve:secretsmanager:<\{"Ref":"[^"]+"\}>:SecretString:password::\}\}@<Endpoint.Address>:<Endpoint.Port>/hasura$`, s)

			_, admin := tp.withPrefix(t, "AWS::SecretsManager::Secret", "HasuraAdminSecret")
			assert.Equal(t, map[string]any{"ExcludePunctuation": true, "PasswordLength": 48.0}, admin.Properties["GenerateSecretString"])
			assert.NotContains(t, admin.Properties, "SecretString")
		})
	}
}

// Config validation accepts a VPC only when CDK can lay out its subnets; the sso environment uses
// the smallest network it accepts for two zones.
func TestSmallestAcceptedVPCHoldsItsSubnets(t *testing.T) {
	tp := tmpl(t, "sso", "hasura")
	_, vpc := tp.one(t, "AWS::EC2::VPC")
	assert.Equal(t, "10.20.0.0/20", vpc.Properties["CidrBlock"])
	var cidrs []string
	for _, id := range tp.ofType("AWS::EC2::Subnet") {
		cidrs = append(cidrs, tp.Resources[id].Properties["CidrBlock"].(string))
	}
	assert.ElementsMatch(t, []string{"10.20.0.0/24", "10.20.1.0/24", "10.20.4.0/22", "10.20.8.0/22", "10.20.12.0/24", "10.20.13.0/24"}, cidrs)
}

func TestImportedVPCAndExistingDatabase(t *testing.T) {
	tp := tmpl(t, "legacy", "hasura")
	assert.Empty(t, tp.ofType("AWS::EC2::VPC"), "the VPC is imported by ID")
	assert.Empty(t, tp.ofType("AWS::RDS::DBInstance"), "the database exists already")
	_, svc := tp.one(t, "AWS::ECS::Service")
	net := svc.Properties["NetworkConfiguration"].(map[string]any)["AwsvpcConfiguration"].(map[string]any)
	assert.Equal(t, []any{"subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"}, net["Subnets"])
	_, alb := tp.one(t, "AWS::ElasticLoadBalancingV2::LoadBalancer")
	assert.Equal(t, []any{"subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"}, alb.Properties["Subnets"])
}

func TestHasuraOutputs(t *testing.T) {
	tp := tmpl(t, "staging", "hasura")
	svcID := tp.ofType("AWS::ECS::Service")[0]
	clusterID := tp.ofType("AWS::ECS::Cluster")[0]
	assert.Equal(t, getAtt(svcID, "Name"), compact(tp.Outputs["HasuraServiceName"].Value))
	assert.Equal(t, ref(clusterID), compact(tp.Outputs["ClusterName"].Value))
	assert.Contains(t, tp.Outputs, "HasuraUrl")
	assert.Contains(t, tp.Outputs, "HasuraAdminSecretArn")
}

// The stack exposes the rotation functions and the target group for what watches them (alarms),
// and each handle is the template's resource of that role.
func TestHasuraStackExposesItsRotationsAndTargets(t *testing.T) {
	logicalID := func(s awscdk.Stack, c constructs.IConstruct) string {
		return *s.GetLogicalId(c.Node().DefaultChild().(awscdk.CfnElement))
	}
	h := envs["production"].Hasura
	assert.Equal(t, "HasuraAdminSecretRotationFunction", trimID(logicalID(h.Stack, h.Service.AdminSecretRotation.Function)))
	assert.Equal(t, "HasuraDatabaseRotationFunction", trimID(logicalID(h.Stack, h.DatabaseRotation.Function)))
	assert.Equal(t, "HasuraTargets", trimID(logicalID(h.Stack, h.Service.TargetGroup)))
	assert.Nil(t, envs["legacy"].Hasura.DatabaseRotation, "an existing database is rotated by whoever owns it")
}
