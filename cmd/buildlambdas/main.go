// Command buildlambdas cross-compiles every Lambda of this module (the main packages under
// lambda/) for provided.al2023 on arm64 into bin/lambda/, exactly as synth bundles them
// (internal/gobuild). `make test` runs it once before the test packages, several of which
// synthesize with bundling at the same time: on an empty build cache each would otherwise
// compile the standard library and the AWS SDK for arm64 on its own, since the go command does
// not share a build in progress between processes.
package main

import (
	"fmt"
	"os"

	"github.com/hasura-auth-cdk/hasuraauth/internal/gobuild"
)

func main() {
	root, err := os.Getwd()
	if err == nil {
		_, err = os.Stat("go.mod")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "buildlambdas: run it from the module root (where go.mod is):", err)
		os.Exit(2)
	}
	if err := gobuild.AllLambdas(root); err != nil {
		fmt.Fprintln(os.Stderr, "buildlambdas:", err)
		os.Exit(1)
	}
}
