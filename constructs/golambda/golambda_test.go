package golambda

import (
	"debug/elf"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// module writes a one-package Go module whose main.go is src.
func module(t *testing.T, src string) string {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/fn\n\ngo 1.26\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "fn"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "fn", "main.go"), []byte(src), 0o644))
	return root
}

func TestBundlerBuildsALinuxArm64Bootstrap(t *testing.T) {
	root := module(t, "package main\n\nfunc main() {}\n")
	out := t.TempDir()
	assert.True(t, *(&Bundler{ModuleRoot: root, Package: "fn"}).TryBundle(&out, nil))
	f, err := elf.Open(filepath.Join(out, "bootstrap"))
	require.NoError(t, err)
	defer f.Close()
	assert.Equal(t, elf.EM_AARCH64, f.Machine)
	assert.Equal(t, elf.ELFOSABI_NONE, f.OSABI, "a Linux (System V ABI) executable")
}

// A compile error stops synth with the compiler's message: the panic reaches the CDK through jsii
// as the callback's error.
func TestBundlerPanicsWithTheCompilerMessage(t *testing.T) {
	root := module(t, "package main\n\nfunc main() { undefinedThing() }\n")
	out := t.TempDir()
	defer func() {
		r := recover()
		err, ok := r.(error)
		require.True(t, ok, "panics with an error, got %v", r)
		assert.Contains(t, err.Error(), "golambda: bundle fn:")
		assert.Contains(t, err.Error(), "undefined: undefinedThing")
		_, statErr := os.Stat(filepath.Join(out, "bootstrap"))
		assert.True(t, os.IsNotExist(statErr), "no binary is left behind")
	}()
	(&Bundler{ModuleRoot: root, Package: "fn"}).TryBundle(&out, nil)
	t.Fatal("TryBundle returned after a failed build")
}
