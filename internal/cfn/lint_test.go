package cfn

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cfn-lint itself decides what is wrong; this proves that its errors fail Lint and come back in
// the report beside its warnings. (That warnings alone pass is shown by the stacks tests, whose
// templates carry W3005 warnings.) One run: cfn-lint takes seconds to load its schemas.
func TestLintFailsOnErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		return p
	}
	// E3002: a property the resource type does not have.
	bad := write("bad.template.json", `{"Resources":{"Q":{"Type":"AWS::SQS::Queue","Properties":{"NoSuchProperty":1}}}}`)
	// W3005: a DependsOn already implied by a Ref.
	warn := write("warn.template.json", `{"Resources":{"A":{"Type":"AWS::SQS::Queue"},"B":{"Type":"AWS::SQS::QueuePolicy","DependsOn":["A"],`+
		`"Properties":{"Queues":[{"Ref":"A"}],"PolicyDocument":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sqs:SendMessage","Resource":"*"}]}}}}}`)

	report, err := Lint(warn, bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cfn-lint reports errors")
	assert.Contains(t, report, "bad.template.json")
	assert.Contains(t, report, "E3002")
	assert.Contains(t, report, "NoSuchProperty")
	assert.Contains(t, report, "warn.template.json")
	assert.Contains(t, report, "W3005")

	_, err = Lint()
	assert.ErrorContains(t, err, "no templates")
}
