package stacks_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/cfn"
)

// roleDependency is the one warning left, cfn-lint's W3005 on a Lambda function's role:
// aws-cdk-lib's Function makes itself depend on its whole role construct (the role, which its
// Role property already names, and the role's policy, which it must wait for), and no prop
// turns that off.
var roleDependency = regexp.MustCompile(`:W3005:'[A-Za-z0-9]+' dependency already enforced by a 'GetAtt' at 'Resources/[A-Za-z0-9]+/Properties/Role'$`)

// TestTemplatesPassCfnLint runs cfn-lint over every template this package synthesizes (the
// committed environments and the test-only ones): any error fails, and so does any warning
// but the role dependency above.
func TestTemplatesPassCfnLint(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for name, tp := range templates {
		p := filepath.Join(dir, strings.ReplaceAll(name, "/", "-")+".template.json")
		require.NoError(t, os.WriteFile(p, tp.raw, 0o644))
		files = append(files, p)
	}
	report, err := cfn.Lint(files...)
	require.NoError(t, err)
	for _, line := range strings.Split(report, "\n") {
		if line != "" && !roleDependency.MatchString(line) {
			t.Errorf("cfn-lint: %s", line)
		}
	}
}
