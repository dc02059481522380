// Command hasuraauth is the CDK app: it reads the environments from the cdk.json context,
// validates them, and defines both stacks of each. Select environments with -c environment=NAME[,NAME].
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/hasura-auth-cdk/hasuraauth/config"
	"github.com/hasura-auth-cdk/hasuraauth/constructs/golambda"
	"github.com/hasura-auth-cdk/hasuraauth/stacks"
)

func main() {
	defer jsii.Close()
	wait := func() {}
	err := run(&wait)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	// After the error: on an empty build cache the Lambdas' go command may still be compiling,
	// and it is left to finish (stacks.PrebuiltGoLambdas).
	wait()
	if err != nil {
		os.Exit(1)
	}
}

// run defines and synthesizes the app; it sets *waitLambdas to what waits for the Lambdas' go
// command, which main calls before exiting.
func run(waitLambdas *func()) (err error) {
	// Synth panics (through jsii) when cdk-nag or CDK validation reports an error; say so plainly.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("synth failed: %v\n(cdk-nag or CDK validation errors are listed above; fix them or add a justified suppression on the resource)", r)
		}
	}()
	moduleRoot, err := findModuleRoot()
	if err != nil {
		return err
	}
	// The Lambdas' go command starts before the first jsii call starts Node.
	var lambdas golambda.Builder
	if bundlingSkipped() {
		lambdas = stacks.GoLambdas(moduleRoot)
	} else {
		lambdas, *waitLambdas = stacks.PrebuiltGoLambdas(moduleRoot)
	}
	app := awscdk.NewApp(nil)
	node := app.Node()
	root, err := config.Load(node.TryGetContext(jsii.String("project")), node.TryGetContext(jsii.String("environments")))
	if err != nil {
		// Nothing has been defined yet, so nothing is written to cdk.out.
		return fmt.Errorf("invalid cdk.json configuration:\n%w", err)
	}
	only, _ := node.TryGetContext(jsii.String("environment")).(string)
	envs, err := root.Select(only)
	if err != nil {
		return err
	}
	for _, e := range envs {
		stacks.NewEnvironment(app, stacks.Common{Project: root.Project, Env: e, Lambdas: lambdas})
	}
	stacks.ApplySecurityChecks(app)
	app.Synth(nil)
	return nil
}

// bundlingSkipped says whether the CLI (or internal/synth) asked for no asset bundling
// (--exclusively with no bundled stacks, or synth.Options.SkipBundling): the context key
// aws:cdk:bundling-stacks is then an empty list. The CLI passes the context in CDK_CONTEXT_JSON;
// when it moved it to a file instead, the answer is no, which only costs a background go command.
func bundlingSkipped() bool {
	var ctx struct {
		Stacks *[]any `json:"aws:cdk:bundling-stacks"`
	}
	if err := json.Unmarshal([]byte(os.Getenv("CDK_CONTEXT_JSON")), &ctx); err != nil || ctx.Stacks == nil {
		return false
	}
	return len(*ctx.Stacks) == 0
}

// findModuleRoot walks up from the working directory to go.mod: the Lambda bundler builds there.
func findModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s: run the app from the repository", dir)
		}
	}
}
