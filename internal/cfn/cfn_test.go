package cfn

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// snapshot reads a committed, synthesized template.
func snapshot(t *testing.T, name string) *Template {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "snapshots", name+".template.json"))
	require.NoError(t, err)
	tp, err := Parse(b)
	require.NoError(t, err)
	return tp
}

func TestReadsASynthesizedTemplate(t *testing.T) {
	tp := snapshot(t, "hasura-auth-staging-identity")
	fns := tp.WithPrefix("AWS::Lambda::Function", "UsersPreTokenFunction")
	require.Len(t, fns, 1)
	fn := tp.Resources[fns[0]]
	role := First(Refs(fn.Properties["Role"]))
	assert.Equal(t, tp.WithPrefix("AWS::IAM::Role", "UsersPreTokenRole"), []string{role})
	assert.Contains(t, []string(fn.DependsOn), role)
	tableID := tp.OfType("AWS::DynamoDB::GlobalTable")[0]
	assert.Equal(t, "Delete", tp.Resources[tableID].DeletionPolicy, "staging is not retained")
	assert.Equal(t, "Delete", tp.Resources[tableID].UpdateReplacePolicy)

	// The pre-token role's complete policy, normalized: single actions become lists, resources
	// render as JSON, everything sorted.
	table, secret, logs := tableID, tp.OfType("AWS::SecretsManager::Secret")[0],
		tp.WithPrefix("AWS::Logs::LogGroup", "UsersPreTokenLogs")[0]
	assert.Equal(t, []Statement{
		{"Allow", []string{"dynamodb:GetItem"}, []string{`{"Fn::GetAtt":["` + table + `","Arn"]}`}},
		{"Allow", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, []string{`{"Fn::GetAtt":["` + logs + `","Arn"]}`}},
		{"Allow", []string{"secretsmanager:GetSecretValue"}, []string{`{"Ref":"` + secret + `"}`}},
	}, tp.PolicyOf(role))
	assert.Empty(t, tp.PolicyOf("NoSuchRole"))

	out := tp.Outputs["ClaimsTableName"]
	assert.Equal(t, map[string]any{"Ref": table}, out.Value)
	assert.Equal(t, map[string]any{"Value": out.Value, "Description": out.Description}, out.Fields())
}

func TestDependsOnTakesOneIDOrAList(t *testing.T) {
	tp, err := Parse([]byte(`{"Resources":{"A":{"Type":"T","DependsOn":"B"},"C":{"Type":"T","DependsOn":["A","B"]},"D":{"Type":"T"}}}`))
	require.NoError(t, err)
	assert.Equal(t, DependsOn{"B"}, tp.Resources["A"].DependsOn)
	assert.Equal(t, DependsOn{"A", "B"}, tp.Resources["C"].DependsOn)
	assert.Empty(t, tp.Resources["D"].DependsOn)

	_, err = Parse([]byte(`{"Resources":{"A":{"Type":"T","DependsOn":{"Ref":"B"}}}}`))
	assert.ErrorContains(t, err, "DependsOn must be a logical ID or a list of them")
}

func TestRefsFindsResourcesNotPseudoParameters(t *testing.T) {
	v := map[string]any{"Fn::Join": []any{"", []any{
		"arn:", map[string]any{"Ref": "AWS::Partition"}, ":", map[string]any{"Fn::GetAtt": []any{"Table", "Arn"}},
		map[string]any{"Ref": "Secret"}, map[string]any{"Fn::Select": []any{0, map[string]any{"Fn::GetAZs": ""}}},
	}}}
	assert.Equal(t, []string{"Table", "Secret"}, Refs(v))
	assert.Empty(t, Refs("plain"))
	assert.Equal(t, "", First(nil))
}

func TestValuesRenderAsTheTemplateWritesThem(t *testing.T) {
	assert.Equal(t, []any{"a"}, List("a"))
	assert.Equal(t, []any{"a", "b"}, List([]any{"a", "b"}))
	assert.Nil(t, List(nil))
	assert.Equal(t, "", JSON(nil))
	assert.Equal(t, `"a&b"`, JSON("a&b"), "no HTML escaping")
	assert.Equal(t, `{"Ref":"X"}`, JSON(map[string]any{"Ref": "X"}))
	assert.Equal(t, "a&b", Text("a&b"))
	assert.Equal(t, `["<x>"]`, Text([]any{"<x>"}))
	assert.Equal(t, Statement{Effect: "Deny", Actions: []string{"a:A", "b:B"}, Resources: []string{"*", `{"Ref":"R"}`}},
		Normalize(map[string]any{"Effect": "Deny", "Action": []any{"b:B", "a:A"}, "Resource": []any{map[string]any{"Ref": "R"}, "*"}}))
}
