package cfndiff

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/cfn"
	"github.com/hasura-auth-cdk/hasuraauth/internal/synth"
)

func tmpl(t *testing.T, s string) *cfn.Template {
	t.Helper()
	tp, err := cfn.Parse([]byte(s))
	require.NoError(t, err)
	return tp
}

func find(changes []Change, id string) *Change {
	for i := range changes {
		if changes[i].LogicalID == id {
			return &changes[i]
		}
	}
	return nil
}

func TestClassifiesReplacementDataLossIAMAndNetwork(t *testing.T) {
	old := tmpl(t, `{"Resources":{
		"Table":{"Type":"AWS::DynamoDB::GlobalTable","Properties":{"KeySchema":[{"AttributeName":"user_id","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"},"DeletionPolicy":"Delete"},
		"Kept":{"Type":"AWS::DynamoDB::GlobalTable","Properties":{"KeySchema":[{"AttributeName":"a","KeyType":"HASH"}]},"DeletionPolicy":"Retain"},
		"Pool":{"Type":"AWS::Cognito::UserPool","Properties":{"MfaConfiguration":"OPTIONAL"}},
		"Policy":{"Type":"AWS::IAM::Policy","Properties":{"PolicyDocument":{"Statement":[{"Action":"dynamodb:GetItem","Effect":"Allow","Resource":"*"}]}}},
		"Gone":{"Type":"AWS::SecretsManager::Secret","Properties":{"Name":"s"}},
		"Logs":{"Type":"AWS::Logs::LogGroup","Properties":{"RetentionInDays":30}}
	},"Outputs":{"UserPoolId":{"Value":{"Ref":"Pool"}},"Old":{"Value":"x"}}}`)
	new := tmpl(t, `{"Resources":{
		"Table":{"Type":"AWS::DynamoDB::GlobalTable","Properties":{"KeySchema":[{"AttributeName":"email","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"},"DeletionPolicy":"Delete"},
		"Kept":{"Type":"AWS::DynamoDB::GlobalTable","Properties":{"KeySchema":[{"AttributeName":"b","KeyType":"HASH"}]},"DeletionPolicy":"Retain"},
		"Pool":{"Type":"AWS::Cognito::UserPool","Properties":{"MfaConfiguration":"ON"}},
		"Policy":{"Type":"AWS::IAM::Policy","Properties":{"PolicyDocument":{"Statement":[{"Action":["dynamodb:GetItem","dynamodb:Scan"],"Effect":"Allow","Resource":"*"}]}}},
		"Ingress":{"Type":"AWS::EC2::SecurityGroupIngress","Properties":{"CidrIp":"0.0.0.0/0","FromPort":22,"ToPort":22}},
		"Logs":{"Type":"AWS::Logs::LogGroup","Properties":{"RetentionInDays":90}}
	},"Outputs":{"UserPoolId":{"Value":{"Ref":"Pool"}},"New":{"Value":"y"}}}`)
	changes := Diff("s", old, new)

	table := find(changes, "Table")
	require.NotNil(t, table)
	assert.Equal(t, Replaced, table.Kind)
	assert.True(t, table.DataLoss, "a replaced table that is not retained loses its items")
	assert.Equal(t, "Properties.KeySchema[0].AttributeName", table.Props[0].Path)
	assert.True(t, table.Props[0].Replaces)

	kept := find(changes, "Kept")
	assert.Equal(t, Replaced, kept.Kind)
	assert.False(t, kept.DataLoss, "Retain keeps the old table")

	pool := find(changes, "Pool")
	assert.Equal(t, Modified, pool.Kind)
	assert.False(t, pool.DataLoss, "an in-place update keeps the data")
	assert.Equal(t, []PropChange{{Path: "Properties.MfaConfiguration", Old: `"OPTIONAL"`, New: `"ON"`}}, pool.Props)

	assert.True(t, find(changes, "Policy").IAM)
	assert.Equal(t, Modified, find(changes, "Policy").Kind)
	assert.True(t, find(changes, "Ingress").Network)
	assert.Equal(t, Added, find(changes, "Ingress").Kind)
	gone := find(changes, "Gone")
	assert.Equal(t, Removed, gone.Kind)
	assert.True(t, gone.DataLoss)
	assert.Equal(t, Removed, find(changes, "Old").Kind, "a removed output is listed")
	assert.Equal(t, Added, find(changes, "New").Kind)
	assert.Nil(t, find(changes, "UserPoolId"), "unchanged outputs are not")

	// Data loss first, then IAM, then network, then the rest.
	var order []string
	for _, c := range changes {
		order = append(order, c.LogicalID)
	}
	assert.Equal(t, []string{"Table", "Gone", "Policy", "Ingress"}, order[:4])

	var b strings.Builder
	assert.Equal(t, len(changes), Report(&b, changes))
	out := b.String()
	assert.Contains(t, out, "! replace [DATA LOSS] AWS::DynamoDB::GlobalTable Table")
	assert.Contains(t, out, "Properties.KeySchema[0].AttributeName (requires replacement)")
	assert.Contains(t, out, "+ add     [NETWORK] AWS::EC2::SecurityGroupIngress Ingress")
	assert.Contains(t, Summary(changes), "2 data loss, 1 IAM, 1 network")
	assert.True(t, strings.HasPrefix(out, "\nNeeds attention:\n  DATA LOSS replace ") || strings.HasPrefix(out, "\nNeeds attention:\n  DATA LOSS remove "), out)
}

func TestIdenticalTemplatesHaveNoChanges(t *testing.T) {
	s := `{"Resources":{"A":{"Type":"AWS::SQS::Queue","Properties":{"X":[1,2]}}}}`
	assert.Empty(t, Diff("s", tmpl(t, s), tmpl(t, s)))
}

// TestDiffOfTwoSynthesizedTrees synthesizes the committed configuration and a changed one with
// the real app, and checks that the diff names what a reviewer must see.
func TestDiffOfTwoSynthesizedTrees(t *testing.T) {
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	tmp := t.TempDir()
	bin, err := synth.TestApp(root, filepath.Join(tmp, "app"))
	require.NoError(t, err)
	ctx, err := synth.Context(root)
	require.NoError(t, err)
	envs := ctx["environments"].(map[string]any)
	staging := envs["staging"].(map[string]any)
	staging["eventApiKey"] = map[string]any{"parameterName": "/renamed/event-api-key"} // replaces a stateful resource
	staging["vpc"].(map[string]any)["cidr"] = "10.1.0.0/16"                            // replaces the network
	staging["hasura"].(map[string]any)["certificateArn"] = "arn:aws:acm:us-east-1:111111111111:certificate/00000000-0000-4000-8000-000000000001"

	// The base tree is the committed configuration as synthesized: the template snapshots, which
	// the stacks tests keep equal to a fresh synthesis.
	changed := filepath.Join(tmp, "changed")
	require.NoError(t, synth.Run(root, bin, changed, synth.Options{Environment: "staging", SkipBundling: true, Context: map[string]any{"environments": envs}}))
	old := map[string][]byte{}
	for _, name := range []string{"hasura-auth-staging-identity", "hasura-auth-staging-hasura"} {
		b, err := os.ReadFile(filepath.Join(root, "testdata", "snapshots", name+".template.json"))
		require.NoError(t, err)
		old[name] = b
	}
	nw, err := synth.Templates(changed)
	require.NoError(t, err)
	changes, err := DiffTrees(old, nw)
	require.NoError(t, err)

	byType := func(stack, typ string) []Change {
		var out []Change
		for _, c := range changes {
			if c.Stack == stack && c.Type == typ {
				out = append(out, c)
			}
		}
		return out
	}
	key := byType("hasura-auth-staging-identity", "Custom::EventApiKey")
	require.Len(t, key, 1)
	assert.Equal(t, Replaced, key[0].Kind)
	assert.True(t, key[0].DataLoss, "renaming the parameter deletes the old key")
	var first *Change
	for i := range changes {
		if changes[i].Stack == "hasura-auth-staging-identity" {
			first = &changes[i]
			break
		}
	}
	require.NotNil(t, first)
	assert.True(t, first.DataLoss, "within a stack, data loss comes first")
	var b strings.Builder
	Report(&b, changes)
	report := b.String()
	assert.True(t, strings.HasPrefix(report, "\nNeeds attention:\n  DATA LOSS replace Custom::EventApiKey EventApiKey (hasura-auth-staging-identity)"),
		"across stacks, data loss is called out before anything else:\n%s", report[:min(len(report), 400)])

	vpc := byType("hasura-auth-staging-hasura", "AWS::EC2::VPC")
	require.Len(t, vpc, 1)
	assert.Equal(t, Replaced, vpc[0].Kind)

	iam := byType("hasura-auth-staging-identity", "AWS::IAM::Policy")
	require.NotEmpty(t, iam, "the generator's policy names the new parameter")
	assert.True(t, iam[0].IAM)

	listeners := byType("hasura-auth-staging-hasura", "AWS::ElasticLoadBalancingV2::Listener")
	require.NotEmpty(t, listeners, "HTTPS listener added")
	assert.True(t, listeners[0].Network)

	var sg []Change
	for _, c := range changes {
		if c.Type == "AWS::EC2::SecurityGroup" && c.Stack == "hasura-auth-staging-hasura" {
			sg = append(sg, c)
		}
	}
	require.NotEmpty(t, sg)
	assert.True(t, sg[0].Network)

	for _, c := range changes {
		assert.NotContains(t, c.Stack, "production", "only staging changed")
	}
}
