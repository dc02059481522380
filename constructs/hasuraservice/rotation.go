package hasuraservice

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/hasura-auth-cdk/hasuraauth/constructs/golambda"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/nag"
)

// RotationDays is how often Secrets Manager rotates the admin secret and the database password.
const RotationDays = 30

// DatabaseName is the database created for Hasura, and the one its URL names. The database
// rotation keeps the database of the URL in use, so it never needs this name itself.
const DatabaseName = "hasura"

// rotation schedules lambda/rotation for the admin secret and, with a created database, for its
// credentials. The database rotation alternates two logins that share one owner role (the RDS
// master user and <master>_alt, created by the first rotation) and rewrites the URL secret to
// the login it just set. Both end with a new Hasura deployment (docs/security.md).
// Permissions are written out rather than taken from CDK's RotationSchedule, which would add
// secretsmanager:GetRandomPassword on Resource * (the function draws its own randomness).
func (s *Service) rotation(c constructs.Construct, p *Props, dbSG awsec2.ISecurityGroup) {
	env := map[string]*string{"CLUSTER_NAME": s.Cluster.ClusterName(), "SERVICE_NAME": s.Service.ServiceName()}

	admin := golambda.New(c, "AdminSecretRotation", &golambda.Props{
		ModuleRoot: p.ModuleRoot, Package: "lambda/rotation",
		Description: "Rotates HASURA_GRAPHQL_ADMIN_SECRET, then redeploys Hasura",
		Environment: merge(env, map[string]*string{"ROTATION_KIND": jsii.String("hasura-admin")}),
		MemoryMB:    128, Timeout: awscdk.Duration_Minutes(jsii.Number(1)),
		LogRetention: p.LogRetention, RemovalPolicy: p.RemovalPolicy,
	})
	s.schedule(c, "AdminSecretRotationSchedule", admin, s.AdminSecret)
	s.Rotations = map[string]awslambda.IFunction{"admin-secret": admin.Function}
	s.RotatedSecrets = map[string]awssecretsmanager.ISecret{"admin-secret": s.AdminSecret}

	if s.Database == nil {
		return // an existing database's credentials are rotated by whoever owns them
	}
	sg := awsec2.NewSecurityGroup(c, jsii.String("RotationSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc: s.Vpc, Description: jsii.String("Database credential rotation: to PostgreSQL, and HTTPS to AWS APIs"), AllowAllOutbound: jsii.Bool(false),
	})
	sg.AddEgressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)), jsii.String("Secrets Manager and ECS APIs (through NAT)"), nil)
	sg.AddEgressRule(dbSG, awsec2.Port_Tcp(jsii.Number(DatabasePort)), jsii.String("PostgreSQL, to change the password"), nil)
	dbSG.AddIngressRule(sg, awsec2.Port_Tcp(jsii.Number(DatabasePort)), jsii.String("PostgreSQL from the credential rotation"), nil)
	pg := golambda.New(c, "DatabaseRotation", &golambda.Props{
		ModuleRoot: p.ModuleRoot, Package: "lambda/rotation",
		Description: "Rotates the Hasura database login not in use, switches HASURA_GRAPHQL_DATABASE_URL to it, then redeploys Hasura",
		Environment: merge(env, map[string]*string{
			"ROTATION_KIND": jsii.String("postgres"), "DATABASE_URL_SECRET_ID": s.DatabaseURLSecret.SecretArn(), "PGSSLMODE": jsii.String("require"),
		}),
		MemoryMB: 256, Timeout: awscdk.Duration_Minutes(jsii.Number(1)),
		LogRetention: p.LogRetention, RemovalPolicy: p.RemovalPolicy,
		Vpc: s.Vpc, VpcSubnets: &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS},
		SecurityGroups: []awsec2.ISecurityGroup{sg},
	})
	// It reads the URL in use (to keep its host, port, database and parameters) and rewrites its
	// credentials.
	pg.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"),
		Resources: jsii.Strings(*s.DatabaseURLSecret.SecretArn()),
	}))
	s.schedule(c, "DatabaseRotationSchedule", pg, s.Database.Secret())
	s.Rotations["database"] = pg.Function
	s.RotatedSecrets["database"] = s.Database.Secret()
	nag.Suppress(s.DatabaseURLSecret, "AwsSolutions-SMG4", "Derived from the database credentials: their rotation function rewrites this URL after every rotation, so it has no schedule of its own.")
}

// schedule lets fn rotate secret, and only secret, every RotationDays.
func (s *Service) schedule(c constructs.Construct, id string, fn *golambda.Function, secret awssecretsmanager.ISecret) {
	fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
			"secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"),
		Resources: jsii.Strings(*secret.SecretArn()),
	}))
	// finishSecret checks for a deployment newer than the rotation and starts one when missing.
	fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("ecs:DescribeServices", "ecs:UpdateService"), Resources: jsii.Strings(*s.Service.ServiceArn()),
	}))
	fn.Function.AddPermission(jsii.String("SecretsManager"+id), &awslambda.Permission{
		Principal: awsiam.NewServicePrincipal(jsii.String("secretsmanager.amazonaws.com"), nil),
		SourceArn: secret.SecretArn(),
	})
	sched := awssecretsmanager.NewCfnRotationSchedule(c, jsii.String(id), &awssecretsmanager.CfnRotationScheduleProps{
		SecretId:          secret.SecretArn(),
		RotationLambdaArn: fn.Function.FunctionArn(),
		RotationRules: &awssecretsmanager.CfnRotationSchedule_RotationRulesProperty{
			ScheduleExpression: jsii.String(fmt.Sprintf("rate(%d days)", RotationDays)),
		},
		RotateImmediatelyOnUpdate: jsii.Bool(false),
	})
	// Secrets Manager may invoke the function as soon as the schedule exists.
	sched.Node().AddDependency(fn.Role, fn.Function)
}

func merge(a, b map[string]*string) map[string]*string {
	out := map[string]*string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
