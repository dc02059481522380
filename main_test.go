package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/synth"
)

// app builds the CDK app binary once for the tests that run it the way the CDK CLI does.
func app(t *testing.T) string {
	t.Helper()
	bin, err := synth.TestApp(".", filepath.Join(t.TempDir(), "app"))
	require.NoError(t, err)
	return bin
}

func cdkContext(t *testing.T) map[string]any {
	t.Helper()
	ctx, err := synth.Context(".")
	require.NoError(t, err)
	// Bundling is covered by `make synth` and internal/synth's determinism test.
	ctx["aws:cdk:bundling-stacks"] = []any{}
	return ctx
}

// runApp executes the app as the CDK CLI does: context in CDK_CONTEXT_JSON, output dir in CDK_OUTDIR.
func runApp(t *testing.T, bin string, ctx map[string]any) (outdir string, stderr string, err error) {
	t.Helper()
	outdir = filepath.Join(t.TempDir(), "cdk.out")
	b, _ := json.Marshal(ctx)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "CDK_CONTEXT_JSON="+string(b), "CDK_OUTDIR="+outdir,
		"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20")
	var errBuf strings.Builder
	cmd.Stderr = &errBuf
	err = cmd.Run()
	return outdir, errBuf.String(), err
}

func TestAppRefusesBadConfigAndWritesNothing(t *testing.T) {
	bin := app(t)
	ctx := cdkContext(t)
	envs := ctx["environments"].(map[string]any)
	envs["production"].(map[string]any)["removal"] = "destroy"
	envs["staging"].(map[string]any)["hasura"].(map[string]any)["replicas"] = 3

	outdir, stderr, err := runApp(t, bin, ctx)
	require.Error(t, err, "synth must fail")
	assert.Equal(t, 1, err.(*exec.ExitError).ExitCode())
	assert.Contains(t, stderr, "invalid cdk.json configuration:")
	assert.Contains(t, stderr, `environments.production.removal = "destroy": must be "retain" in production`)
	assert.Contains(t, stderr, "environments.staging.hasura.replicas: unknown field")
	// The CDK creates the (empty) output directory when the app starts; no file may appear in it.
	entries, _ := os.ReadDir(outdir)
	assert.Empty(t, entries, "nothing may be written to the output directory")
}

// Selecting one environment is proven by internal/synth's determinism test, whose second
// synthesis is of staging alone; an unknown one fails before anything is synthesized.
func TestAppRefusesAnUnknownEnvironment(t *testing.T) {
	bin := app(t)
	ctx := cdkContext(t)
	ctx["environment"] = "qa"
	outdir, stderr, err := runApp(t, bin, ctx)
	require.Error(t, err)
	assert.Contains(t, stderr, `environment "qa" is not in cdk.json (have: production, staging)`)
	entries, _ := os.ReadDir(outdir)
	assert.Empty(t, entries)
}
