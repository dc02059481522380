package cfn

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cfn-lint itself decides what is wrong; these cases prove that its errors fail Lint and its
// warnings do not.
func TestLintFailsOnErrorsOnly(t *testing.T) {
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
	report, err := Lint(warn)
	require.NoError(t, err)
	assert.Contains(t, report, "W3005")

	report, err = Lint(warn, bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cfn-lint reports errors")
	assert.Contains(t, report, "bad.template.json")
	assert.Contains(t, report, "NoSuchProperty")

	_, err = Lint()
	assert.ErrorContains(t, err, "no templates")
}
