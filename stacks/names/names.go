// Package names holds the stack and output names the app deploys and claimsctl reads. It imports
// nothing from the CDK, so the CLI stays small.
package names

// Output names: stable, read by claimsctl and operators.
const (
	OutUserPoolID               = "UserPoolId"
	OutUserPoolClientID         = "UserPoolClientId"
	OutJwksURL                  = "JwksUrl"
	OutClaimsTableName          = "ClaimsTableName"
	OutClaimsKeySecretArn       = "ClaimsKeySecretArn"
	OutEventAPIKeyParameterName = "EventApiKeyParameterName"
	OutHasuraURL                = "HasuraUrl"
	OutHasuraServiceName        = "HasuraServiceName"
	OutClusterName              = "ClusterName"
	OutHasuraAdminSecretArn     = "HasuraAdminSecretArn"
	// Only in environments with machineAccess.
	OutMachineResourceServer = "MachineResourceServer"
	OutTokenEndpoint         = "TokenEndpoint"
	// The tiers as tier=role pairs, sorted, comma-separated (the trigger's MACHINE_TIERS), the
	// default token validity (a Go duration), and the Secrets Manager name prefix of the machine
	// clients' secrets: what claimsctl client add checks and uses.
	OutMachineTiers              = "MachineTiers"
	OutMachineDefaultValidity    = "MachineDefaultValidity"
	OutMachineClientSecretPrefix = "MachineClientSecretPrefix"
)

// IdentityStack is the stateful stack of an environment.
func IdentityStack(project, env string) string { return project + "-" + env + "-identity" }

// HasuraStack is the Hasura stack of an environment.
func HasuraStack(project, env string) string { return project + "-" + env + "-hasura" }

// EventAPIKeyPreviousSuffix names the parameter that holds the event API key of before the last
// claimsctl apikey rotate (<parameter><suffix>), until apikey retire-previous. The secret
// generator deletes it together with the parameter.
const EventAPIKeyPreviousSuffix = "-previous"
