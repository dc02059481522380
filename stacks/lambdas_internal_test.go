package stacks

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/gobuild"
)

// tinyModule writes a module whose main package cmd/fn holds src, so that builds take a second.
func tinyModule(t *testing.T, src string) string { return tinyModuleAt(t, "cmd/fn", src) }

// tinyModuleAt writes a module whose main package pkg holds src.
func tinyModuleAt(t *testing.T, pkg, src string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module tiny\n\ngo 1.25\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, pkg), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, pkg, "main.go"), []byte(src), 0o644))
	return dir
}

// bundlingApp is an app that bundles assets (the shared test app skips bundling).
func bundlingApp(t *testing.T) awscdk.App {
	return awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
}

func function(stack awscdk.Stack, id string, code awslambda.Code) {
	awslambda.NewFunction(stack, jsii.String(id), &awslambda.FunctionProps{
		Runtime: awslambda.Runtime_PROVIDED_AL2023(), Architecture: awslambda.Architecture_ARM_64(),
		Handler: jsii.String("bootstrap"), Code: code,
	})
}

func TestGoLambdasBuildEachPackageOncePerApp(t *testing.T) {
	root := tinyModule(t, "package main\n\nfunc main() {}\n")
	g := GoLambdas(root).(*goLambdas)
	app := bundlingApp(t)
	for _, env := range []string{"a", "b"} {
		function(awscdk.NewStack(app, jsii.String("Env-"+env), nil), "Fn", g.Code("cmd/fn"))
	}
	assert.Len(t, g.built, 1, "one build for both environments")
	asm := app.Synth(nil)
	var hashes []string
	for _, s := range []string{"Env-a", "Env-b"} {
		tp := asm.GetStackByName(jsii.String(s)).Template()
		for _, r := range tp.(map[string]any)["Resources"].(map[string]any) {
			if res := r.(map[string]any); res["Type"] == "AWS::Lambda::Function" {
				hashes = append(hashes, fmt.Sprint(res["Properties"].(map[string]any)["Code"].(map[string]any)["S3Key"]))
			}
		}
	}
	require.Len(t, hashes, 2)
	assert.Equal(t, hashes[0], hashes[1], "both environments deploy the same binary")
}

func TestALambdaThatDoesNotCompileStopsSynthWithTheCompilersMessage(t *testing.T) {
	root := tinyModule(t, "package main\n\nfunc main() { undefinedThing() }\n")
	stack := awscdk.NewStack(bundlingApp(t), jsii.String("Broken"), nil)
	var got any
	func() {
		defer func() { got = recover() }()
		function(stack, "Fn", GoLambdas(root).Code("cmd/fn"))
	}()
	require.NotNil(t, got, "synth must stop")
	msg := fmt.Sprint(got)
	assert.Contains(t, msg, "build cmd/fn")
	assert.Contains(t, msg, "undefined: undefinedThing", "the compiler's message")
}

// The app's Lambdas (main.go): linked by one go command started before the construct tree, then
// copied into each environment's asset; a package that does not compile still stops synth with
// the compiler's message naming it.
func TestPrebuiltGoLambdasAreTheAssetsAndABrokenOneIsNamed(t *testing.T) {
	root := tinyModuleAt(t, "lambda/fn", "package main\n\nfunc main() {}\n")
	b, wait := PrebuiltGoLambdas(root)
	app := bundlingApp(t)
	for _, env := range []string{"a", "b"} {
		function(awscdk.NewStack(app, jsii.String("Env-"+env), nil), "Fn", b.Code("lambda/fn"))
	}
	wait()
	g := b.(*goLambdas)
	require.NoError(t, g.prebuildErr)
	require.Len(t, g.built, 1)
	want, err := os.ReadFile(gobuild.Cached(root, "lambda/fn"))
	require.NoError(t, err)
	staged, err := filepath.Glob(filepath.Join(*app.Outdir(), "asset.*", "bootstrap"))
	require.NoError(t, err)
	require.Len(t, staged, 1, "one asset for both environments")
	got, err := os.ReadFile(staged[0])
	require.NoError(t, err)
	assert.Equal(t, want, got, "the asset holds the prebuilt binary")

	broken := tinyModuleAt(t, "lambda/fn", "package main\n\nfunc main() { undefinedThing() }\n")
	b, wait = PrebuiltGoLambdas(broken)
	defer wait()
	stack := awscdk.NewStack(bundlingApp(t), jsii.String("Broken"), nil)
	var panicked any
	func() {
		defer func() { panicked = recover() }()
		function(stack, "Fn", b.Code("lambda/fn"))
	}()
	require.NotNil(t, panicked, "synth must stop")
	msg := fmt.Sprint(panicked)
	assert.Contains(t, msg, "build lambda/fn")
	assert.Contains(t, msg, "undefined: undefinedThing", "the compiler's message")
	require.Error(t, b.(*goLambdas).prebuildErr, "the one go command failed first")
}

// A synth that ends while the prebuild is still compiling (a bad cdk.json, --exclusively on a
// stack without Lambdas, a panic) must not leave the go command's work behind: killing the go
// command mid-build orphans the compilers it started and leaves its work directory behind for
// ever. wait lets the go command finish (its build is the next synth's cache).
func TestPrebuildWaitLeavesNoCompilerNorWorkDirectoryBehind(t *testing.T) {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skip("needs /proc to look for orphaned compilers")
	}
	// Enough code that compiling it takes a while, and new each run (the temporary directory's
	// name is in it), so the build cache cannot skip the compile.
	var src strings.Builder
	fmt.Fprintf(&src, "package main\n\nvar id = %q\n\nfunc main() { println(id, f0()) }\n", t.TempDir())
	for i := range 3000 {
		fmt.Fprintf(&src, "func f%d() int { return len(id) * %d }\n", i, i)
	}
	root := tinyModuleAt(t, "lambda/fn", src.String())
	gotmp := filepath.Join(root, "bin", ".gotmp") // where gobuild has the go command work

	b, wait := PrebuiltGoLambdas(root)
	// Wait for the go command's work directory, which it makes before compiling: the synth ends
	// while the build is under way. (A bound on a wait, not a timed assertion.)
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Millisecond) {
		if entries, _ := os.ReadDir(gotmp); len(entries) > 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the go command never made its work directory")
	}
	wait()

	entries, err := os.ReadDir(gotmp)
	require.NoError(t, err)
	assert.Empty(t, entries, "the go command's work directory is left behind")
	assert.Empty(t, processesMentioning(t, gotmp), "compilers of the prebuild still run after wait")
	require.NoError(t, b.(*goLambdas).prebuildErr, "the prebuild ran to the end")
	assert.FileExists(t, gobuild.Cached(root, "lambda/fn"))
}

// processesMentioning lists the command lines in /proc that contain s.
func processesMentioning(t *testing.T, s string) []string {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	require.NoError(t, err)
	var found []string
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(b), s) {
			found = append(found, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return found
}

// Two main packages whose paths end alike (lambda/users/handler, lambda/machines/handler): go
// build -o DIR/ writes both to DIR/handler, the last one winning without an error, so the
// prebuild once deployed one function's binary as the other's. Each asset must hold its own.
func TestPrebuiltLambdasWithTheSameLastPathElementKeepTheirOwnBinaries(t *testing.T) {
	root := tinyModuleAt(t, "lambda/users/handler", "package main\n\nfunc main() { println(\"users-binary\") }\n")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "lambda", "machines", "handler"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "lambda", "machines", "handler", "main.go"),
		[]byte("package main\n\nfunc main() { println(\"machines-binary\") }\n"), 0o644))

	b, wait := PrebuiltGoLambdas(root)
	defer wait()
	app := bundlingApp(t)
	stack := awscdk.NewStack(app, jsii.String("Env"), nil)
	function(stack, "Users", b.Code("lambda/users/handler"))
	function(stack, "Machines", b.Code("lambda/machines/handler"))
	wait()

	staged, err := filepath.Glob(filepath.Join(*app.Outdir(), "asset.*", "bootstrap"))
	require.NoError(t, err)
	require.Len(t, staged, 2, "two different binaries, two assets")
	var found []string
	for _, f := range staged {
		bin, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, marker := range []string{"users-binary", "machines-binary"} {
			if strings.Contains(string(bin), marker) {
				found = append(found, marker)
			}
		}
	}
	assert.ElementsMatch(t, []string{"users-binary", "machines-binary"}, found)
}
