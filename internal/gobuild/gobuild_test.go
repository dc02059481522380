package gobuild

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Reproducibility across checkout paths is proven by internal/synth's determinism test; here,
// a build from scratch (no cached binary) gives the same bytes as the one before it.
func TestLambdaBinariesAreLinuxArm64AndReproducible(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	for _, pkg := range []string{"lambda/pretoken", "lambda/secretgen"} {
		t.Run(pkg, func(t *testing.T) {
			dir := t.TempDir()
			a, b := filepath.Join(dir, "a", "bootstrap"), filepath.Join(dir, "b", "bootstrap")
			require.NoError(t, os.MkdirAll(filepath.Dir(a), 0o755))
			require.NoError(t, os.MkdirAll(filepath.Dir(b), 0o755))
			require.NoError(t, Lambda(root, pkg, a))
			require.NoError(t, os.Remove(Cached(root, pkg)))
			require.NoError(t, Lambda(root, pkg, b))

			f, err := elf.Open(a)
			require.NoError(t, err)
			defer f.Close()
			assert.Equal(t, elf.EM_AARCH64, f.Machine, "Lambda runs it on arm64")
			assert.Equal(t, elf.ELFOSABI_NONE, f.OSABI)
			assert.Nil(t, f.Section(".interp"), "static: provided.al2023 needs no dynamic loader")

			ba, _ := os.ReadFile(a)
			bb, _ := os.ReadFile(b)
			assert.True(t, bytes.Equal(ba, bb), "two builds of the same source must be byte-identical")
			assert.False(t, bytes.Contains(ba, []byte(root)), "no checkout path in the binary")
		})
	}
}

func TestLambdaBuildFailureNamesThePackage(t *testing.T) {
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	err := Lambda(root, "lambda/does-not-exist", filepath.Join(t.TempDir(), "bootstrap"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "go build ./lambda/does-not-exist")
}

func TestSourceFingerprintFollowsTheCodeNotThePath(t *testing.T) {
	abs, _ := filepath.Abs(filepath.Join("..", ".."))
	a, err := SourceFingerprint(filepath.Join("..", ".."), "lambda/pretoken")
	require.NoError(t, err)
	b, err := SourceFingerprint(abs, "lambda/pretoken")
	require.NoError(t, err)
	assert.Equal(t, a, b, "however the module root is spelled")
	c, err := SourceFingerprint(abs, "lambda/secretgen")
	require.NoError(t, err)
	assert.NotEqual(t, a, c, "each package has its own inputs")
	assert.Len(t, a, 16)
}

// A synth of unchanged Lambdas links nothing: the cached binary stays the same file (a link
// would write a new one) and is copied; a change to the source relinks it.
func TestLambdaRelinksOnlyWhenTheSourceChanges(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/fn\n\ngo 1.26\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "fn"), 0o755))
	src := filepath.Join(root, "fn", "main.go")
	require.NoError(t, os.WriteFile(src, []byte("package main\n\nfunc main() { println(1) }\n"), 0o644))
	cached := Cached(root, "fn")
	out := t.TempDir()

	require.NoError(t, Lambda(root, "fn", filepath.Join(out, "1")))
	first, err := os.Stat(cached)
	require.NoError(t, err)
	require.NoError(t, Lambda(root, "fn", filepath.Join(out, "2")))
	again, err := os.Stat(cached)
	require.NoError(t, err)
	assert.True(t, os.SameFile(first, again), "an up-to-date binary is not relinked")
	b1, _ := os.ReadFile(filepath.Join(out, "1"))
	b2, _ := os.ReadFile(filepath.Join(out, "2"))
	assert.True(t, bytes.Equal(b1, b2), "the copy is the cached binary")

	require.NoError(t, os.WriteFile(src, []byte("package main\n\nfunc main() { println(2) }\n"), 0o644))
	require.NoError(t, Lambda(root, "fn", filepath.Join(out, "3")))
	b3, _ := os.ReadFile(filepath.Join(out, "3"))
	assert.False(t, bytes.Equal(b1, b3), "a changed source is rebuilt")
	changed, err := os.Stat(cached)
	require.NoError(t, err)
	assert.False(t, os.SameFile(first, changed), "relinked into a new file")
}

// AllLambdas links every main package under lambda/ in one go command, into the files Lambda
// links: a Lambda call after it links nothing and copies the same bytes.
func TestAllLambdasLinksWhatLambdaWouldAndLambdaReusesIt(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/fns\n\ngo 1.26\n"), 0o644))
	for _, name := range []string{"a", "b"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, "lambda", name), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, "lambda", name, "main.go"),
			[]byte("package main\n\nfunc main() { println(\""+name+"\") }\n"), 0o644))
	}
	// A library package beside them is compiled, not linked.
	require.NoError(t, os.MkdirAll(filepath.Join(root, "lambda", "shared"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "lambda", "shared", "shared.go"), []byte("package shared\n"), 0o644))

	require.NoError(t, AllLambdas(root))
	for _, name := range []string{"a", "b"} {
		f, err := elf.Open(Cached(root, "lambda/"+name))
		require.NoError(t, err, name)
		assert.Equal(t, elf.EM_AARCH64, f.Machine, name)
		f.Close()
	}
	assert.NoFileExists(t, Cached(root, "lambda/shared"))

	before, err := os.Stat(Cached(root, "lambda/a"))
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), "bootstrap")
	require.NoError(t, Lambda(root, "lambda/a", out))
	after, err := os.Stat(Cached(root, "lambda/a"))
	require.NoError(t, err)
	assert.True(t, os.SameFile(before, after), "Lambda found AllLambdas' binary up to date")
	want, _ := os.ReadFile(Cached(root, "lambda/a"))
	got, _ := os.ReadFile(out)
	assert.Equal(t, want, got)

}

// Each package has its own cached binary: AllLambdas' name for those directly under lambda/,
// the whole package path for the others, which may end alike.
func TestCachedIsOnePathPerPackage(t *testing.T) {
	root := filepath.FromSlash("/m")
	paths := map[string]string{}
	for _, pkg := range []string{"lambda/fn", "lambda/a/fn", "lambda/b/fn", "cmd/fn", "fn"} {
		p := Cached(root, pkg)
		for other, q := range paths {
			assert.NotEqual(t, q, p, "%s and %s", other, pkg)
		}
		paths[pkg] = p
	}
	assert.Equal(t, filepath.FromSlash("/m/bin/lambda/fn"), paths["lambda/fn"])
	assert.Equal(t, filepath.FromSlash("/m/bin/lambda/.pkg/lambda/a/fn/bootstrap"), paths["lambda/a/fn"])
	assert.True(t, Prebuilt("lambda/fn"))
	assert.False(t, Prebuilt("lambda/a/fn"))
	assert.False(t, Prebuilt("cmd/fn"))
}

// Two synths at once in one checkout both link into bin/lambda/ and copy from it. The go command
// moves a linked binary into place by a rename, which readers see whole, only when its work
// directory is on the same file system; otherwise (a tmpfs /tmp, the default on Debian 13) it
// removes the file and writes it again, and the other synth can copy half a binary into its
// asset. So the go command works under bin/, whatever GOTMPDIR says.
func TestTheGoCommandWorksBesideTheCache(t *testing.T) {
	elsewhere := t.TempDir()
	t.Setenv("GOTMPDIR", elsewhere)
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/fns\n\ngo 1.26\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "lambda", "fn"), 0o755))
	// Enough code to compile for a while, new each run so that the build cache cannot skip it.
	var src strings.Builder
	fmt.Fprintf(&src, "package main\n\nvar id = %q\n\nfunc main() { println(id, f0()) }\n", root)
	for i := range 3000 {
		fmt.Fprintf(&src, "func f%d() int { return len(id) * %d }\n", i, i)
	}
	require.NoError(t, os.WriteFile(filepath.Join(root, "lambda", "fn", "main.go"), []byte(src.String()), 0o644))

	done := make(chan error, 1)
	go func() { done <- AllLambdas(root) }()
	var besideCache, inGOTMPDIR bool
	for running := true; running; {
		select {
		case err := <-done:
			require.NoError(t, err)
			running = false
		default:
			time.Sleep(time.Millisecond)
		}
		if e, _ := os.ReadDir(filepath.Join(root, "bin", ".gotmp")); len(e) > 0 {
			besideCache = true
		}
		if e, _ := os.ReadDir(elsewhere); len(e) > 0 {
			inGOTMPDIR = true
		}
	}
	assert.True(t, besideCache, "the go command's work directory was not seen under bin/.gotmp")
	assert.False(t, inGOTMPDIR, "the go command worked in GOTMPDIR")
	assert.FileExists(t, Cached(root, "lambda/fn"))
}
