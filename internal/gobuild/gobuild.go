// Package gobuild compiles this repository's Lambda binaries the one way they are deployed.
package gobuild

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// Lambda cross-compiles a main package for provided.al2023 on arm64 into out, reproducibly: no
// paths or VCS stamps in the binary, and Go's build ID, which is a hash of the inputs, so the same
// source gives the same bytes (and the same CDK asset hash) on every machine. It links into a
// cache under bin/lambda/ (Cached) and copies that to out: the go command skips the link when
// the cached binary's build ID says its inputs did not change, so a synth of unchanged Lambdas
// compiles and links nothing.
func Lambda(moduleRoot, pkg, out string) error {
	if err := Link(moduleRoot, pkg); err != nil {
		return err
	}
	return CopyCached(moduleRoot, pkg, out)
}

// Link is Lambda without the copy: it makes the cached binary of pkg current.
func Link(moduleRoot, pkg string) error {
	return build(moduleRoot, Cached(moduleRoot, pkg), "arm64", "./"+filepath.ToSlash(pkg))
}

// AllLambdas links every main package directly under lambda/ (Prebuilt) into the cache as Lambda
// would, in one go command: one package graph load and one staleness check for all of them,
// where a Lambda call each costs a go command start and a load of the module's packages. The
// binaries are the same bytes Lambda links (same flags, same build IDs), so each skips what the
// other linked. Deeper packages are left to Lambda: go build -o DIR/ names each binary after
// the last element of its path and, when two end alike (lambda/a/fn, lambda/b/fn), silently
// writes one over the other.
// It cannot be stopped half-way on purpose: the go command removes its work directory only when
// it exits by itself, and killing it leaves the compilers it started running as orphans.
func AllLambdas(moduleRoot string) error {
	entries, err := os.ReadDir(filepath.Join(moduleRoot, "lambda"))
	if err != nil {
		return fmt.Errorf("list the Lambdas: %w", err)
	}
	var pkgs []string
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") || strings.HasPrefix(e.Name(), "_") || e.Name() == "testdata" {
			continue // what the go command's ./... leaves out
		}
		if files, _ := filepath.Glob(filepath.Join(moduleRoot, "lambda", e.Name(), "*.go")); len(files) > 0 {
			pkgs = append(pkgs, "./lambda/"+e.Name())
		}
	}
	if len(pkgs) == 0 {
		return fmt.Errorf("no package under %s", filepath.Join(moduleRoot, "lambda"))
	}
	dir := filepath.Join(moduleRoot, "bin", "lambda") + string(filepath.Separator)
	return build(moduleRoot, dir, "arm64", pkgs...)
}

// Prebuilt says whether AllLambdas links pkg: a package directly under lambda/.
func Prebuilt(pkg string) bool {
	return path.Dir(path.Clean(filepath.ToSlash(pkg))) == "lambda"
}

// Cached is where Lambda and AllLambdas link pkg. A package directly under lambda/ is linked to
// bin/lambda/<name>, the name go build -o DIR/ gives it. Any other is linked by Lambda alone, to
// a path holding its whole package path, under bin/lambda/.pkg/: no package's name starts with
// a dot, so it cannot meet AllLambdas' binaries, and two packages that end alike stay apart.
func Cached(moduleRoot, pkg string) string {
	if Prebuilt(pkg) {
		return filepath.Join(moduleRoot, "bin", "lambda", path.Base(filepath.ToSlash(pkg)))
	}
	return filepath.Join(moduleRoot, "bin", "lambda", ".pkg", filepath.FromSlash(path.Clean(filepath.ToSlash(pkg))), "bootstrap")
}

// CopyCached copies the cached binary of pkg to out.
func CopyCached(moduleRoot, pkg, out string) error {
	b, err := os.ReadFile(Cached(moduleRoot, pkg))
	if err != nil {
		return fmt.Errorf("read the built %s: %w", pkg, err)
	}
	if err := os.WriteFile(out, b, 0o755); err != nil {
		return fmt.Errorf("copy the built %s: %w", pkg, err)
	}
	return nil
}

// LambdaForHost builds the same binary for this machine's architecture, so that tests and
// `make local` can run it under a local Lambda Runtime API.
func LambdaForHost(moduleRoot, pkg, out string) error {
	return build(moduleRoot, out, runtime.GOARCH, "./"+filepath.ToSlash(pkg))
}

func build(moduleRoot, out, goarch string, pkgs ...string) error {
	args := append([]string{"build", "-tags", "lambda.norpc", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w", "-o", out}, pkgs...)
	// The go command moves a linked binary into place by a rename, which a synth copying it at
	// the same time sees whole, only from a work directory on the same file system; from
	// elsewhere (a tmpfs /tmp) it removes the file and writes it again.
	// Absolute: the go command runs in moduleRoot, which may be given relative to here.
	work, err := filepath.Abs(filepath.Join(moduleRoot, "bin", ".gotmp"))
	if err == nil {
		err = os.MkdirAll(work, 0o755)
	}
	if err != nil {
		return fmt.Errorf("go build %s: %w", strings.Join(pkgs, " "), err)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0", "GOFLAGS=-mod=readonly", "GOTMPDIR="+work)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", strings.Join(pkgs, " "), err, msg)
	}
	return nil
}

// SourceFingerprint hashes what a main package is built from inside this module: the Go files of
// every module package it imports (transitively), go.mod and go.sum. It changes exactly when the
// code or the dependencies change, independent of the machine, the checkout path and the Go
// toolchain, which is what a reviewer needs to see in a template snapshot.
func SourceFingerprint(moduleRoot, pkg string) (string, error) {
	moduleRoot, err := filepath.Abs(moduleRoot)
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{end}}{{end}}", "./"+filepath.ToSlash(pkg))
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "GOFLAGS=-tags=lambda.norpc")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list ./%s: %w", pkg, err)
	}
	var files []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		for _, f := range fields[1:] {
			files = append(files, filepath.Join(fields[0], f))
		}
	}
	files = append(files, filepath.Join(moduleRoot, "go.mod"), filepath.Join(moduleRoot, "go.sum"))
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("fingerprint %s: %w", f, err)
		}
		rel, _ := filepath.Rel(moduleRoot, f)
		fmt.Fprintf(h, "%s %d\n", filepath.ToSlash(rel), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
