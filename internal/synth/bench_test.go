package synth

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// emptyApp is the synth floor: a Go CDK app with one empty stack. What it costs is Node starting,
// loading aws-cdk-lib through jsii and the CLI reading the assembly; anything this app's synth
// costs beyond it is ours.
const emptyApp = `package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	awscdk.NewStack(app, jsii.String("Empty"), nil)
	app.Synth(nil)
}
`

// writeEmptyApp writes the empty app into dir as a module with this repository's requirements
// (so the same aws-cdk-go, constructs and jsii runtime from the module cache), and a cdk.json
// that starts it the way this repository's cdk.json starts the app.
func writeEmptyApp(b *testing.B, root, dir string) {
	b.Helper()
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(b, err)
	mod = regexp.MustCompile(`(?m)^module .*$`).ReplaceAll(mod, []byte("module emptyapp"))
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	require.NoError(b, err)
	appCmd, err := appCommand(root)
	require.NoError(b, err)
	for name, body := range map[string][]byte{
		"go.mod": mod, "go.sum": sum, "main.go": []byte(emptyApp),
		"cdk.json": []byte(fmt.Sprintf(`{"app": %q, "versionReporting": false}`, appCmd)),
	} {
		require.NoError(b, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
}

// appCommand is the "app" of the tree's cdk.json.
func appCommand(root string) (string, error) {
	ctx, err := readCDKJSON(root)
	if err != nil {
		return "", err
	}
	return ctx.App, nil
}

// BenchmarkSynthAgainstEmptyApp (make bench-synth) times a warm `make synth` of this repository
// (every environment) against a synth of the empty app through the same pinned CDK CLI,
// interleaved so that load on the machine falls on both alike, and prints both medians and
// their ratio. BENCH_SYNTH_RUNS sets the number of runs of each (default 5).
func BenchmarkSynthAgainstEmptyApp(b *testing.B) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(b, err)
	runs := 5
	if n, err := strconv.Atoi(os.Getenv("BENCH_SYNTH_RUNS")); err == nil && n > 0 {
		runs = n
	}
	empty := b.TempDir()
	writeEmptyApp(b, root, empty)
	cdk := filepath.Join(root, "node_modules", ".bin", "cdk")
	// CPU time (user + system, of the command and every process it waited for) is reported
	// beside wall time: on a machine other jobs load, it is the steadier measure.
	var cpu time.Duration
	timed := func(dir string, name string, args ...string) time.Duration {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20")
		start := time.Now()
		out, err := cmd.CombinedOutput()
		require.NoError(b, err, "%s %v in %s:\n%s", name, args, dir, out)
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		return time.Since(start)
	}
	// With the flags make synth passes: --no-validation skips the CDK's built-in CloudFormation
	// rules, whose loading alone costs an empty app more than it spends on anything else.
	synthEmpty := func() time.Duration { return timed(empty, cdk, "synth", "--quiet", "--no-validation") }
	synthThis := func() time.Duration { return timed(root, "make", "-s", "synth") }
	// Warm up: build both apps and fill the caches; not counted.
	synthEmpty()
	synthThis()
	b.ResetTimer()
	var floor, this, floorCPU, thisCPU []time.Duration
	for i := 0; i < runs; i++ {
		floor = append(floor, synthEmpty())
		floorCPU = append(floorCPU, cpu)
		this = append(this, synthThis())
		thisCPU = append(thisCPU, cpu)
	}
	b.StopTimer()
	mf, mt := median(floor), median(this)
	ratio := mt.Seconds() / mf.Seconds()
	fmt.Printf("empty Go CDK app (one empty stack), cdk synth: median %.2f s  runs %v; CPU median %.2f s\n", mf.Seconds(), rounded(floor), median(floorCPU).Seconds())
	fmt.Printf("this app, make synth (every environment):      median %.2f s  runs %v; CPU median %.2f s\n", mt.Seconds(), rounded(this), median(thisCPU).Seconds())
	fmt.Printf("ratio %.2fx wall (target <= 1.3x), %.2fx CPU\n", ratio, median(thisCPU).Seconds()/median(floorCPU).Seconds())
	b.ReportMetric(mf.Seconds(), "floor-s")
	b.ReportMetric(mt.Seconds(), "synth-s")
	b.ReportMetric(ratio, "ratio")
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func rounded(d []time.Duration) []string {
	var out []string
	for _, x := range d {
		out = append(out, fmt.Sprintf("%.2f", x.Seconds()))
	}
	return out
}
