package synth

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
// paths at once, with the Lambdas really built, and requires every file of the two cloud
// assemblies to be byte-identical and free of the checkout paths (what a reviewer approves is
// what deploys, whoever synthesized it, wherever), and no secret material in any file.
// Two files are left out: tree.json describes the construct tree of the run, and the cdk-nag
// reports list findings for people. (The CDK CLI also writes performance-counters.json, its
// timings; the app run alone, as here, does not.)
func TestSynthIsDeterministicAcrossCheckoutPaths(t *testing.T) {
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	tmp := t.TempDir()
	bin, err := TestApp(root, filepath.Join(tmp, "app"))
	require.NoError(t, err)
	trees := []string{filepath.Join(tmp, "checkout-a", "repo"), filepath.Join(tmp, "elsewhere", "b", "repo")}
	outs := []string{filepath.Join(tmp, "out-a"), filepath.Join(tmp, "out-b")}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range trees {
		copyTree(t, root, trees[i])
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = Run(trees[i], bin, outs[i], Options{}) }()
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])

	files := assemblyFiles(t, outs[0])
	assert.ElementsMatch(t, files, assemblyFiles(t, outs[1]), "both synths write the same files")
	compared := 0
	for _, rel := range files {
		base := filepath.Base(rel)
		if base == "tree.json" || strings.HasPrefix(base, "AwsSolutions-") {
			continue
		}
		ab, err := os.ReadFile(filepath.Join(outs[0], rel))
		require.NoError(t, err)
		bb, err := os.ReadFile(filepath.Join(outs[1], rel))
		require.NoError(t, err, "%s missing from the second synth", rel)
		assert.True(t, bytes.Equal(ab, bb), "%s differs between checkout paths", rel)
		for _, p := range append(trees, tmp, root, "jsii-kernel-") {
			assert.NotContains(t, string(ab), p, "%s holds a machine path", rel)
		}
		compared++
	}
	templates, _ := filepath.Glob(filepath.Join(outs[0], "*.template.json"))
	assert.Len(t, templates, 4, "every environment's stacks")
	// Per stack a template, asset manifest and metadata; per Lambda a bootstrap; the manifest.
	assert.GreaterOrEqual(t, compared, 4*3+4+1, "files compared: %v", files)

	// No secret material anywhere in the cloud assembly: templates, manifests, tree, binaries.
	found, err := scanSecrets(outs[0])
	require.NoError(t, err)
	assert.Empty(t, found, "secret material in cdk.out")
}

// assemblyFiles lists every regular file below dir, relative to it, sorted.
func assemblyFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		out = append(out, rel)
		return err
	}))
	sort.Strings(out)
	return out
}
