// Package claimsstore defines where users' Hasura claims live: the claims table and the secret
// holding the Fernet key ring that encrypts them.
package claimsstore

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/hasura-auth-cdk/hasuraauth/constructs/nag"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/secretgen"
)

// Props configure the store.
type Props struct {
	// PartitionKey is the table's string partition key attribute (the claims record's user ID). Required.
	PartitionKey string
	// KeySecretName names the key ring secret. Required.
	KeySecretName string
	// Generator writes the first key inside AWS. Required.
	Generator *secretgen.Generator
	// RemovalPolicy applies to the table and the secret. Default: CDK's (RETAIN).
	RemovalPolicy awscdk.RemovalPolicy
	// DeletionProtection protects the table from deletion.
	DeletionProtection bool
}

// Store is the claims table and key secret.
type Store struct {
	Table     awsdynamodb.TableV2
	KeySecret awssecretsmanager.Secret
	// KeyRing is the custom resource that writes the first key; readers depend on it.
	KeyRing awscdk.CustomResource
}

// New defines the table and the key secret, and generates the first key inside AWS.
func New(scope constructs.Construct, id string, p *Props) *Store {
	c := constructs.NewConstruct(scope, jsii.String(id))
	table := awsdynamodb.NewTableV2(c, jsii.String("Table"), &awsdynamodb.TablePropsV2{
		PartitionKey:                     &awsdynamodb.Attribute{Name: jsii.String(p.PartitionKey), Type: awsdynamodb.AttributeType_STRING},
		Billing:                          awsdynamodb.Billing_OnDemand(nil),
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: jsii.Bool(true)},
		Encryption:                       awsdynamodb.TableEncryptionV2_AwsManagedKey(),
		DeletionProtection:               jsii.Bool(p.DeletionProtection),
		RemovalPolicy:                    p.RemovalPolicy,
	})
	secret := awssecretsmanager.NewSecret(c, jsii.String("KeySecret"), &awssecretsmanager.SecretProps{
		SecretName:  jsii.String(p.KeySecretName),
		Description: jsii.String(`Fernet key ring for the claims table: {"keys": [newest, ...]}. Rotate with claimsctl key rotate.`),
		// A random placeholder until the key ring resource replaces it: it is not a key ring, so the
		// pre-token Lambda refuses logins rather than use it.
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{ExcludePunctuation: jsii.Bool(true), PasswordLength: jsii.Number(32)},
		RemovalPolicy:        p.RemovalPolicy,
	})
	nag.Suppress(secret, "AwsSolutions-SMG4", "The claims key is rotated by operators with claimsctl key rotate: a rotation must re-encrypt every table item, which a Secrets Manager rotation function cannot do safely (see README, Security).")
	ring := p.Generator.KeyRing(c, "KeyRing", secret)
	return &Store{Table: table, KeySecret: secret, KeyRing: ring}
}
