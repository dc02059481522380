package gobuild

import (
	"bytes"
	"debug/elf"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Reproducibility across checkout paths is proven by internal/synth's determinism test; here,
// two builds in a row give the same bytes.
func TestLambdaBinariesAreLinuxArm64AndReproducible(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	for _, pkg := range []string{"lambda/pretoken", "lambda/secretgen"} {
		t.Run(pkg, func(t *testing.T) {
			dir := t.TempDir()
			a, b := filepath.Join(dir, "a", "bootstrap"), filepath.Join(dir, "b", "bootstrap")
			require.NoError(t, Lambda(root, pkg, a))
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
