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
		} {
			assert.Contains(t, dot, want, env)
		}
		for _, p := range ports {
			assert.Contains(t, dot, `"internet" -> `, env)
			assert.Contains(t, dot, `label="`+p+`"`, env)
		}
	}
}
