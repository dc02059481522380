// Package synth runs this repository's CDK app the way the CDK CLI does, without the CLI: it
// builds the app, passes the tree's cdk.json context in CDK_CONTEXT_JSON and writes the cloud
// assembly to a directory of the caller's choosing. Tests, the determinism check and the
// offline diff use it.
package synth

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Options select what to synthesize.
type Options struct {
	// Environment limits synthesis to one environment ("" for all).
	Environment string
	// SkipBundling leaves the Lambdas unbuilt (their asset hashes are then meaningless).
	SkipBundling bool
	// Context is merged over the tree's cdk.json context.
	Context map[string]any
}

// cdkJSON is what this package reads of a tree's cdk.json.
type cdkJSON struct {
	App     string         `json:"app"`
	Context map[string]any `json:"context"`
}

func readCDKJSON(root string) (cdkJSON, error) {
	var f cdkJSON
	b, err := os.ReadFile(filepath.Join(root, "cdk.json"))
	if err != nil {
		return f, fmt.Errorf("read cdk.json: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("parse %s/cdk.json: %w", root, err)
	}
	return f, nil
}

// Context reads a tree's cdk.json context.
func Context(root string) (map[string]any, error) {
	f, err := readCDKJSON(root)
	return f.Context, err
}

// BuildApp compiles the app of the tree at root into bin, with the flags and environment
// cdk.json's app command uses (so `make test` can reuse the binary `make synth` built). The
// developer's GOFLAGS are not the app's: -race, for one, needs cgo, which this build has off.
func BuildApp(root, bin string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build the CDK app in %s: %w\n%s", root, err, out)
	}
	return nil
}

// Run synthesizes the tree at root with the app binary bin into outdir. The app's stderr is
// returned with any error.
func Run(root, bin, outdir string, o Options) error {
	ctx, err := Context(root)
	if err != nil {
		return err
	}
	for k, v := range o.Context {
		ctx[k] = v
	}
	if o.Environment != "" {
		ctx["environment"] = o.Environment
	}
	if o.SkipBundling {
		ctx["aws:cdk:bundling-stacks"] = []any{}
	}
	b, err := json.Marshal(ctx)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin)
	cmd.Dir = root
	// CDK_VALIDATION=false, as the CLI's --no-validation sets it, skips the CDK's built-in
	// CloudFormation rules, about half of the app's synth time: the stacks tests run them (and
	// cfn-lint) over every environment's templates already.
	cmd.Env = append(os.Environ(), "CDK_CONTEXT_JSON="+string(b), "CDK_OUTDIR="+outdir,
		"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20", "CDK_VALIDATION=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("synthesize %s: %w\n%s", root, err, out)
	}
	return nil
}

// Templates reads every template of a cloud assembly, by stack name.
func Templates(outdir string) (map[string][]byte, error) {
	paths, err := filepath.Glob(filepath.Join(outdir, "*.template.json"))
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		name := filepath.Base(p)
		out[name[:len(name)-len(".template.json")]] = b
	}
	return out, nil
}

// AppEnv names a prebuilt app binary of the working tree: `make test` builds the app once and
// sets it, so test packages do not each link the (large) CDK app again.
const AppEnv = "HASURAAUTH_TEST_APP"

// TestApp returns the app binary of the tree at root for tests: the prebuilt one when AppEnv
// names an existing file, else one built into bin.
func TestApp(root, bin string) (string, error) {
	if p := os.Getenv(AppEnv); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return bin, BuildApp(root, bin)
}
