package stacks_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/hasura-auth-cdk/hasuraauth/"

// Config flows one way: cdk.json -> config -> stacks -> construct props. Constructs import no
// project package but each other, so no construct can read config; config reads no stack or
// construct (it may use the domain rules of internal/, such as the claims package's email rule).
func TestConfigFlowsOneWay(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "../config", "../constructs/...").Output()
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.GreaterOrEqual(t, len(lines), 9, "config and every construct package")
	for _, line := range lines {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			imp = strings.TrimPrefix(imp, module)
			if pkg == "config" {
				assert.True(t, strings.HasPrefix(imp, "internal/"), "config imports %s: it may only use internal/ rules", imp)
			} else {
				assert.True(t, strings.HasPrefix(imp, "constructs/"), "%s imports %s: constructs import only each other", pkg, imp)
			}
		}
	}
}
