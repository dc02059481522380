package synth

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/secretscan"
)

// copyTree copies the files git knows (tracked, and untracked but not ignored) of the checkout
// at root, so a test can synthesize the same commit from another path.
func copyTree(t *testing.T, root, dst string) {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	require.NoError(t, err)
	for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, rel)
		st, err := os.Lstat(src)
		if err != nil || !st.Mode().IsRegular() {
			continue // deleted in the working tree, or not a file
		}
		require.NoError(t, os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755))
		in, err := os.Open(src)
		require.NoError(t, err)
		f, err := os.OpenFile(filepath.Join(dst, rel), os.O_CREATE|os.O_WRONLY, st.Mode().Perm())
		require.NoError(t, err)
		_, err = io.Copy(f, in)
		require.NoError(t, err)
		in.Close()
		f.Close()
	}
}

// TestSynthIsDeterministicAcrossCheckoutPaths synthesizes every environment from two checkout
// paths, with the Lambdas really built, and requires byte-identical templates and asset
// manifests (what a reviewer approves is what deploys, whoever synthesized it) and no secret
// material in any file of the output.
func TestSynthIsDeterministicAcrossCheckoutPaths(t *testing.T) {
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	tmp := t.TempDir()
	bin, err := TestApp(root, filepath.Join(tmp, "app"))
	require.NoError(t, err)
	trees := []string{filepath.Join(tmp, "checkout-a", "repo"), filepath.Join(tmp, "elsewhere", "b", "repo")}
	outs := []string{filepath.Join(tmp, "out-a"), filepath.Join(tmp, "out-b")}
	// Every environment from the first checkout (all of it is secret-scanned below); the
	// second synthesizes staging, whose files must match byte for byte.
	opts := []Options{{}, {Environment: "staging"}}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range trees {
		copyTree(t, root, trees[i])
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = Run(trees[i], bin, outs[i], opts[i]) }()
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])

	files, err := filepath.Glob(filepath.Join(outs[1], "*.json"))
	require.NoError(t, err)
	compared := 0
	for _, a := range files {
		name := filepath.Base(a)
		if !strings.HasSuffix(name, ".template.json") && !strings.HasSuffix(name, ".assets.json") {
			continue // tree.json and manifest.json describe the run, not what deploys
		}
		bb, _ := os.ReadFile(a)
		ab, err := os.ReadFile(filepath.Join(outs[0], name))
		require.NoError(t, err, "%s missing from the first synth", name)
		assert.True(t, bytes.Equal(ab, bb), "%s differs between checkout paths", name)
		for _, p := range append(trees, tmp, root) {
			assert.NotContains(t, string(ab), p, "%s holds an absolute path", name)
		}
		compared++
	}
	assert.Equal(t, 4, compared, "a template and an asset manifest for each staging stack")
	all, _ := filepath.Glob(filepath.Join(outs[0], "*.template.json"))
	assert.Len(t, all, 4, "the first synth has every environment's stacks")
	staging, _ := filepath.Glob(filepath.Join(outs[1], "*.template.json"))
	var names []string
	for _, p := range staging {
		names = append(names, filepath.Base(p))
	}
	assert.ElementsMatch(t, []string{"hasura-auth-staging-hasura.template.json", "hasura-auth-staging-identity.template.json"}, names,
		"-c environment=staging synthesizes staging only")

	// No secret material anywhere in the cloud assembly: templates, manifests, tree, binaries.
	found, err := secretscan.Dir(outs[0])
	require.NoError(t, err)
	assert.Empty(t, found, "secret material in cdk.out")

	// The Lambda assets themselves: same binaries, so the same asset directories.
	assets, _ := filepath.Glob(filepath.Join(outs[1], "asset.*"))
	require.NotEmpty(t, assets)
	for _, a := range assets {
		_, err := os.Stat(filepath.Join(outs[0], filepath.Base(a)))
		assert.NoError(t, err, "asset %s only in one synth", filepath.Base(a))
	}
}
