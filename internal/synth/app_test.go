package synth

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests run the app (package main at the repository root) the way the CDK CLI does. They
// live here rather than beside main.go so that no test binary but the stacks tests' links the
// CDK. Bundling is covered by the determinism test; here it only costs time.

// repoRoot is the tree the app is built from.
const repoRoot = "../.."

func app(t *testing.T) string {
	t.Helper()
	bin, err := TestApp(repoRoot, filepath.Join(t.TempDir(), "app"))
	require.NoError(t, err)
	return bin
}

func environments(t *testing.T) map[string]any {
	t.Helper()
	ctx, err := Context(repoRoot)
	require.NoError(t, err)
	return ctx["environments"].(map[string]any)
}

// requireExit1 checks that synthesis failed with exit status 1.
func requireExit1(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err, "synth must fail")
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "the app ran and failed: %v", err)
	assert.Equal(t, 1, exit.ExitCode())
}

func TestAppRefusesBadConfigAndWritesNothing(t *testing.T) {
	t.Parallel()
	bin := app(t)
	envs := environments(t)
	envs["production"].(map[string]any)["removal"] = "destroy"
	envs["staging"].(map[string]any)["hasura"].(map[string]any)["replicas"] = 3
	outdir := filepath.Join(t.TempDir(), "cdk.out")

	err := Run(repoRoot, bin, outdir, Options{SkipBundling: true, Context: map[string]any{"environments": envs}})
	requireExit1(t, err)
	assert.Contains(t, err.Error(), "invalid cdk.json configuration:")
	assert.Contains(t, err.Error(), `environments.production.removal = "destroy": must be "retain" in production`)
	assert.Contains(t, err.Error(), "environments.staging.hasura.replicas: unknown field")
	// The CDK creates the (empty) output directory when the app starts; no file may appear in it.
	entries, _ := os.ReadDir(outdir)
	assert.Empty(t, entries, "nothing may be written to the output directory")
}

func TestAppRefusesAnUnknownEnvironment(t *testing.T) {
	t.Parallel()
	bin := app(t)
	outdir := filepath.Join(t.TempDir(), "cdk.out")
	err := Run(repoRoot, bin, outdir, Options{SkipBundling: true, Environment: "qa"})
	requireExit1(t, err)
	assert.Contains(t, err.Error(), `environment "qa" is not in cdk.json (have: production, staging)`)
	entries, _ := os.ReadDir(outdir)
	assert.Empty(t, entries)
}

func TestAppSynthesizesOnlyTheSelectedEnvironment(t *testing.T) {
	t.Parallel()
	bin := app(t)
	outdir := filepath.Join(t.TempDir(), "cdk.out")
	require.NoError(t, Run(repoRoot, bin, outdir, Options{SkipBundling: true, Environment: "staging"}))
	templates, err := Templates(outdir)
	require.NoError(t, err)
	var names []string
	for name := range templates {
		names = append(names, name)
	}
	sort.Strings(names)
	assert.Equal(t, []string{"hasura-auth-staging-hasura", "hasura-auth-staging-identity"}, names,
		"-c environment=staging synthesizes staging only")
}
