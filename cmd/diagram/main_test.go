package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The committed snapshots are synthesized templates: draw them and check the connections a
// reviewer relies on are there.
func TestDiagramShowsTriggerReadsSecretsAndNetworkPath(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "snapshots", name+".template.json"))
		require.NoError(t, err)
		return b
	}
	for env, ports := range map[string][]string{"staging": {"tcp/80"}, "production": {"tcp/80", "tcp/443"}} {
		dot, err := build(env, read("hasura-auth-"+env+"-identity"), read("hasura-auth-"+env+"-hasura"))
		require.NoError(t, err)
		for _, want := range []string{
			`label="PreTokenGeneration V2_0"`, `label="GetItem"`, `label="GetSecretValue"`,
			`label="GetSecretValue, PutSecretValue"`, `label="ECS secret HASURA_GRAPHQL_ADMIN_SECRET"`,
			`label="ECS secret HASURA_GRAPHQL_DATABASE_URL"`, `label="ECS secret EVENT_API_KEY"`,
			`label="JWKS (RS256, issuer pinned)"`, `label="tcp/8080"`, `label="tcp/5433"`,
			`label="rotates (30 days)"`, `label="DescribeServices, UpdateService"`,
			"subgraph cluster_identity", "subgraph cluster_hasura",
			`label="ALARM / OK"`, `label="Alarm topic (SNS, KMS)\n0 email subscriptions"`, `label="DescribeSecret"`,
		} {
			assert.Contains(t, dot, want, env)
		}
		if env == "production" {
			// The WAF in front of the load balancer, and Cognito's sign-in events.
			assert.Contains(t, dot, `label="filters requests to"`)
			assert.Contains(t, dot, `WAF web ACL\nAWSManagedRulesAmazonIpReputationList\nRatePerIp`)
			assert.Contains(t, dot, `label="delivers sign-in events"`)
		} else {
			assert.NotContains(t, dot, "WAF web ACL", "no WAF by default outside production")
		}
		for _, p := range ports {
			assert.Contains(t, dot, `"internet" -> `, env)
			assert.Contains(t, dot, `label="`+p+`"`, env)
		}
	}
}
