// Package hasuradb defines Hasura's PostgreSQL database: an encrypted, private RDS instance with
// generated credentials, the HASURA_GRAPHQL_DATABASE_URL secret built from them, and their
// rotation.
package hasuradb

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsrds"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/hasura-auth-cdk/hasuraauth/constructs/golambda"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/nag"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/rotation"
)

// Port is PostgreSQL's port: not the default, so that scans for 5432 find nothing (the
// security group is what actually restricts it).
const Port = 5433

// Name is the database created for Hasura, the one its URL names, and the generated
// credentials' (master) user name. The rotation keeps the database of the URL in use, so it never
// needs this name itself.
const Name = "hasura"

// passwordExcludes keeps generated database passwords URL-safe, so they can sit in the
// postgres:// URL without encoding. What remains: letters, digits, '-', '_', '.', '~'.
const passwordExcludes = " !\"#$%&'()*+,/:;<=>?@[\\]^`{|}"

// Props configure the database. Zero values take the defaults named on each field.
type Props struct {
	// Vpc and Subnets place the instance. Required.
	Vpc     awsec2.IVpc
	Subnets *awsec2.SubnetSelection
	// InstanceIdentifier names the instance (and its log group). Required.
	InstanceIdentifier string
	// CredentialsSecretName and URLSecretName name the generated credentials and the
	// postgres:// URL built from them. Required.
	CredentialsSecretName string
	URLSecretName         string
	// Version is the PostgreSQL engine version. Required.
	Version awsrds.PostgresEngineVersion
	// InstanceType is the instance size. Required.
	InstanceType awsec2.InstanceType
	// AllocatedStorage is the initial storage in GiB (default 20); storage grows automatically
	// up to MaxAllocatedStorage (default 4x AllocatedStorage).
	AllocatedStorage    int
	MaxAllocatedStorage int
	MultiAz             bool
	// BackupRetention is how long automated backups are kept. Default: 7 days.
	BackupRetention    awscdk.Duration
	DeletionProtection bool
	// RemovalPolicy applies to the instance, its secrets and its log group. Default: CDK's.
	RemovalPolicy awscdk.RemovalPolicy
	// LogRetention applies to the PostgreSQL log group. Default: CDK's (never expire).
	LogRetention awslogs.RetentionDays
}

// Database is the instance and what its clients need.
type Database struct {
	Instance      awsrds.DatabaseInstance
	SecurityGroup awsec2.SecurityGroup
	// URLSecret holds HASURA_GRAPHQL_DATABASE_URL.
	URLSecret awssecretsmanager.Secret

	scope   constructs.Construct
	vpc     awsec2.IVpc
	removal awscdk.RemovalPolicy
	logs    awslogs.RetentionDays
}

// New defines the database in scope. It adds no construct level of its own, so the logical IDs
// of deployed resources did not move when the Hasura construct was split.
func New(scope constructs.Construct, p *Props) *Database {
	d := &Database{scope: scope, vpc: p.Vpc, removal: p.RemovalPolicy, logs: p.LogRetention}
	d.SecurityGroup = awsec2.NewSecurityGroup(scope, jsii.String("DatabaseSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc: p.Vpc, Description: jsii.String("Hasura database: PostgreSQL from the Hasura tasks only"), AllowAllOutbound: jsii.Bool(false),
	})
	// RDS would create this log group without retention; creating it first sets retention
	// without CDK's LogRetention custom resource (a Lambda allowed to change any log group).
	logs := awslogs.NewLogGroup(scope, jsii.String("DatabaseLogs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("/aws/rds/instance/" + p.InstanceIdentifier + "/postgresql"),
		Retention:     p.LogRetention,
		RemovalPolicy: p.RemovalPolicy,
	})
	storage := p.AllocatedStorage
	if storage == 0 {
		storage = 20
	}
	maxStorage := p.MaxAllocatedStorage
	if maxStorage == 0 {
		maxStorage = 4 * storage
	}
	backups := p.BackupRetention
	if backups == nil {
		backups = awscdk.Duration_Days(jsii.Number(7))
	}
	db := awsrds.NewDatabaseInstance(scope, jsii.String("Database"), &awsrds.DatabaseInstanceProps{
		InstanceIdentifier: jsii.String(p.InstanceIdentifier),
		Port:               jsii.Number(Port),
		Engine:             awsrds.DatabaseInstanceEngine_Postgres(&awsrds.PostgresInstanceEngineProps{Version: p.Version}),
		InstanceType:       p.InstanceType,
		Vpc:                p.Vpc,
		VpcSubnets:         p.Subnets,
		SecurityGroups:     &[]awsec2.ISecurityGroup{d.SecurityGroup},
		Credentials: awsrds.Credentials_FromGeneratedSecret(jsii.String(Name), &awsrds.CredentialsBaseOptions{
			SecretName:        jsii.String(p.CredentialsSecretName),
			ExcludeCharacters: jsii.String(passwordExcludes),
		}),
		DatabaseName:              jsii.String(Name),
		AllocatedStorage:          jsii.Number(float64(storage)),
		MaxAllocatedStorage:       jsii.Number(float64(maxStorage)),
		StorageEncrypted:          jsii.Bool(true),
		MultiAz:                   jsii.Bool(p.MultiAz),
		BackupRetention:           backups,
		DeletionProtection:        jsii.Bool(p.DeletionProtection),
		RemovalPolicy:             p.RemovalPolicy,
		PubliclyAccessible:        jsii.Bool(false),
		AutoMinorVersionUpgrade:   jsii.Bool(true),
		EnablePerformanceInsights: jsii.Bool(false),
		CloudwatchLogsExports:     jsii.Strings("postgresql"),
		IamAuthentication:         jsii.Bool(false),
	})
	db.Node().AddDependency(logs)
	// CDK does not give the generated credentials the instance's removal policy.
	db.Node().FindChild(jsii.String("Secret")).Node().DefaultChild().(awscdk.CfnResource).ApplyRemovalPolicy(p.RemovalPolicy, nil)
	d.Instance = db

	creds := db.Secret()
	// The URL secret is assembled by CloudFormation from dynamic references to the generated
	// credentials: the template holds {{resolve:...}} references, never the password.
	url := awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("postgres://"),
		creds.SecretValueFromJson(jsii.String("username")).UnsafeUnwrap(), jsii.String(":"),
		creds.SecretValueFromJson(jsii.String("password")).UnsafeUnwrap(), jsii.String("@"),
		db.DbInstanceEndpointAddress(), jsii.String(":"), db.DbInstanceEndpointPort(),
		jsii.String("/" + Name),
	})
	d.URLSecret = awssecretsmanager.NewSecret(scope, jsii.String("DatabaseUrlSecret"), &awssecretsmanager.SecretProps{
		SecretName:        jsii.String(p.URLSecretName),
		Description:       jsii.String("HASURA_GRAPHQL_DATABASE_URL, built at deploy time from the generated database credentials"),
		SecretStringValue: awscdk.NewSecretValue(url, nil),
		RemovalPolicy:     p.RemovalPolicy,
	})
	return d
}

// AllowFrom admits peer to PostgreSQL.
func (d *Database) AllowFrom(peer awsec2.ISecurityGroup, description string) {
	d.SecurityGroup.AddIngressRule(peer, awsec2.Port_Tcp(jsii.Number(Port)), jsii.String(description), nil)
}

// RotationProps configure the credentials' rotation. Zero values take the defaults named.
type RotationProps struct {
	// Lambdas compiles the rotation function. Required.
	Lambdas golambda.Builder
	// Service reads the URL secret; each rotation ends with a new deployment of it. Required.
	Service awsecs.IBaseService
	// Subnets run the function; they need a route to the Secrets Manager and ECS APIs. Required.
	Subnets *awsec2.SubnetSelection
	// Every is the schedule. Default: 30 days.
	Every awscdk.Duration
}

// AddRotation rotates the generated credentials with lambda/rotation. It alternates two logins
// that share one owner role (the RDS master user and <master>_alt, created by the first
// rotation), rewrites the URL secret to the login it just set, and redeploys the service
// (docs/security.md). It returns the rotation function.
func (d *Database) AddRotation(p *RotationProps) *golambda.Function {
	sg := awsec2.NewSecurityGroup(d.scope, jsii.String("RotationSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc: d.vpc, Description: jsii.String("Database credential rotation: to PostgreSQL, and HTTPS to AWS APIs"), AllowAllOutbound: jsii.Bool(false),
	})
	sg.AddEgressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)), jsii.String("Secrets Manager and ECS APIs (through NAT)"), nil)
	sg.AddEgressRule(d.SecurityGroup, awsec2.Port_Tcp(jsii.Number(Port)), jsii.String("PostgreSQL, to change the password"), nil)
	d.AllowFrom(sg, "PostgreSQL from the credential rotation")
	fn := rotation.New(d.scope, "DatabaseRotation", &rotation.Props{
		Lambdas:     p.Lambdas,
		Secret:      d.Instance.Secret(),
		Service:     p.Service,
		Kind:        "postgres",
		Description: "Rotates the Hasura database login not in use, switches HASURA_GRAPHQL_DATABASE_URL to it, then redeploys Hasura",
		Environment: map[string]*string{
			"DATABASE_URL_SECRET_ID": d.URLSecret.SecretArn(), "PGSSLMODE": jsii.String("require"),
		},
		MemoryMB:       256,
		Every:          p.Every,
		Vpc:            d.vpc,
		Subnets:        p.Subnets,
		SecurityGroups: []awsec2.ISecurityGroup{sg},
		LogRetention:   d.logs,
		RemovalPolicy:  d.removal,
	},
		// It reads the URL in use (to keep its host, port, database and parameters) and rewrites
		// its credentials.
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"),
			Resources: jsii.Strings(*d.URLSecret.SecretArn()),
		}))
	nag.Suppress(d.URLSecret, "AwsSolutions-SMG4", "Derived from the database credentials: their rotation function rewrites this URL after every rotation, so it has no schedule of its own.")
	return fn
}
