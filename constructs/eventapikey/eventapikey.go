// Package eventapikey defines the key Hasura event triggers send to the backend API: an SSM
// SecureString created inside AWS by the secret generator (CloudFormation cannot create one).
package eventapikey

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"

	"github.com/hasura-auth-cdk/hasuraauth/constructs/secretgen"
)

// Props configure the key.
type Props struct {
	Generator     *secretgen.Generator
	ParameterName string
	// Retain keeps the parameter when the stack is deleted (production), so the backend API and a
	// re-created stack keep agreeing on the key.
	Retain bool
}

// Key is the parameter holding the event API key.
type Key struct {
	ParameterName string
	Resource      awscdk.CustomResource
}

// New defines the parameter's custom resource.
func New(scope constructs.Construct, id string, p *Props) *Key {
	cr := p.Generator.APIKey(scope, id, p.ParameterName,
		"Event API key sent by Hasura event triggers (value_from_env). Rotate with claimsctl apikey rotate.", p.Retain)
	return &Key{ParameterName: p.ParameterName, Resource: cr}
}
