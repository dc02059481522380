// Package secretgen defines the custom resources that create secret values inside AWS
// (lambda/secretgen): the values never pass through the template, cdk.out or a response.
package secretgen

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/hasura-auth-cdk/hasuraauth/constructs/golambda"
)

// Props configure the generator function.
type Props struct {
	// Lambdas compiles the generator function. Required.
	Lambdas       golambda.Builder
	LogRetention  awslogs.RetentionDays
	RemovalPolicy awscdk.RemovalPolicy
}

// Generator is one function serving every generated secret of a stack.
type Generator struct {
	Lambda *golambda.Function
}

// New defines the generator function. It starts with no permissions beyond its logs; each
// resource it serves grants exactly what that resource needs.
func New(scope constructs.Construct, id string, p *Props) *Generator {
	fn := golambda.New(scope, id, &golambda.Props{
		Builder:       p.Lambdas,
		Package:       "lambda/secretgen",
		Description:   "Creates secret values inside AWS (event API key, claims key ring)",
		MemoryMB:      128,
		Timeout:       awscdk.Duration_Minutes(jsii.Number(1)),
		LogRetention:  p.LogRetention,
		RemovalPolicy: p.RemovalPolicy,
	})
	return &Generator{Lambda: fn}
}

// KeyRing makes sure secret holds a Fernet key ring, generating the first key on create.
func (g *Generator) KeyRing(scope constructs.Construct, id string, secret awssecretsmanager.ISecret) awscdk.CustomResource {
	g.Lambda.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"),
		Resources: jsii.Strings(*secret.SecretArn()),
	}))
	return g.resource(scope, id, "Custom::FernetKeyRing", map[string]any{"SecretId": secret.SecretArn()})
}

// previousSuffix is stacks/names.EventAPIKeyPreviousSuffix, which claimsctl and the function use
// (constructs import no stack package; TestSecretGeneratorRoleMayWriteExactlyTheKeyRingAndTheAPIKeyParameter
// builds the expected ARN from the names constant, so the two cannot drift apart).
const previousSuffix = "-previous"

// APIKey keeps a SecureString parameter with a random key. retain keeps the parameter when the
// resource is deleted (production).
func (g *Generator) APIKey(scope constructs.Construct, id, parameterName, description string, retain bool) awscdk.CustomResource {
	stack := awscdk.Stack_Of(scope)
	arn := stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("ssm"),
		Resource:     jsii.String("parameter"),
		ResourceName: jsii.String(parameterName[1:]), // the ARN has no leading slash
	})
	g.Lambda.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		// ListTagsForResource and AddTagsToResource (PutParameter with tags): the owner tag that
		// decides what may be adopted or deleted.
		Actions:   jsii.Strings("ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter", "ssm:ListTagsForResource", "ssm:AddTagsToResource"),
		Resources: jsii.Strings(*arn),
	}))
	// The overlap value claimsctl apikey rotate keeps (<parameter>-previous) is deleted with the
	// parameter, so no key of a deleted environment stays accepted. A retained parameter keeps
	// it, so only an environment that deletes gets the permission.
	if retain {
		return g.apiKeyResource(scope, id, parameterName, description, retain)
	}
	g.Lambda.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("ssm:DeleteParameter"),
		Resources: jsii.Strings(*stack.FormatArn(&awscdk.ArnComponents{
			Service:      jsii.String("ssm"),
			Resource:     jsii.String("parameter"),
			ResourceName: jsii.String(parameterName[1:] + previousSuffix),
		})),
	}))
	return g.apiKeyResource(scope, id, parameterName, description, retain)
}

func (g *Generator) apiKeyResource(scope constructs.Construct, id, parameterName, description string, retain bool) awscdk.CustomResource {
	return g.resource(scope, id, "Custom::EventApiKey", map[string]any{
		"ParameterName":  parameterName,
		"Description":    description,
		"RetainOnDelete": fmt.Sprintf("%t", retain),
	})
}

func (g *Generator) resource(scope constructs.Construct, id, typ string, props map[string]any) awscdk.CustomResource {
	cr := awscdk.NewCustomResource(scope, jsii.String(id), &awscdk.CustomResourceProps{
		ServiceToken: g.Lambda.Function.FunctionArn(),
		ResourceType: jsii.String(typ),
		Properties:   &props,
	})
	// The role's policy must exist before CloudFormation calls the function.
	cr.Node().AddDependency(g.Lambda.Role)
	return cr
}
