package synth

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
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

// The app is a tool, not code under test: it is built in the module's one configuration (no
// cgo, -trimpath) whatever GOFLAGS the developer exports. With GOFLAGS=-race in the
// environment, `cdk synth` and the tests' BuildApp failed with "-race requires cgo; enable cgo
// by setting CGO_ENABLED=1", advice the hard-coded CGO_ENABLED=0 then ignored.
func TestTheAppBuildsWhateverGOFLAGSTheDeveloperExports(t *testing.T) {
	t.Setenv("GOFLAGS", "-race")
	dir := t.TempDir()
	require.NoError(t, BuildApp(repoRoot, filepath.Join(dir, "built")))

	f, err := readCDKJSON(repoRoot)
	require.NoError(t, err)
	build, _, ok := strings.Cut(f.App, " && ")
	require.True(t, ok, "cdk.json's app command builds, then runs: %q", f.App)
	// The build part alone, into a temporary file: bin/app may be in use by other tests.
	require.Contains(t, build, "-o bin/app ")
	cmd := exec.Command("sh", "-c", strings.Replace(build, "-o bin/app ", "-o "+filepath.Join(dir, "cdkjson")+" ", 1))
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	a, err := os.ReadFile(filepath.Join(dir, "built"))
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(dir, "cdkjson"))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(a, b), "BuildApp builds the binary cdk.json's command builds")
}

// The Makefile's one build configuration (no cgo, -trimpath) keeps cgo for a developer who
// asks for the race detector: with CGO_ENABLED forced to 0, `GOFLAGS=-race make test` stopped
// at go vet with "-race requires cgo; enable cgo by setting CGO_ENABLED=1", and setting it in
// the environment changed nothing (the Makefile's value wins).
func TestMakeKeepsCgoForTheRaceDetector(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	for goflags, want := range map[string]string{"": "0 -trimpath", "-race": "1 -trimpath -race", "-mod=mod": "0 -trimpath -mod=mod"} {
		cmd := exec.Command("make", "-s", "--no-print-directory",
			"--eval", "print-build-env: ; @echo $$CGO_ENABLED $$GOFLAGS", "print-build-env")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "GOFLAGS="+goflags, "CGO_ENABLED=", "MAKEFLAGS=", "MAKELEVEL=")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Equal(t, want, strings.TrimSpace(string(out)), "GOFLAGS=%q", goflags)
	}
}
