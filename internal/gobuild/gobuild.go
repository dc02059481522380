// Package gobuild compiles this repository's Lambda binaries the one way they are deployed.
package gobuild

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Lambda cross-compiles a main package for provided.al2023 on arm64, reproducibly: no paths,
// VCS stamps or build IDs in the binary, so the same source gives the same bytes (and the same
// CDK asset hash) on every machine.
func Lambda(moduleRoot, pkg, out string) error {
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid=", "-o", out, "./"+filepath.ToSlash(pkg))
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./%s: %w\n%s", pkg, err, msg)
	}
	return nil
}
