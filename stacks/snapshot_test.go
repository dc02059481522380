package stacks_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/constructs/golambda"
	"github.com/hasura-auth-cdk/hasuraauth/internal/cfn"
	"github.com/hasura-auth-cdk/hasuraauth/internal/cfndiff"
	"github.com/hasura-auth-cdk/hasuraauth/internal/gobuild"
)

// snapshotDir holds one template per stack of every committed environment. `make snapshots`
// rewrites them (UPDATE_SNAPSHOTS=1); every other run checks them.
var snapshotDir = filepath.Join("..", "testdata", "snapshots")

// normalized renders a template for the snapshot: indented with sorted keys, and with each Go
// Lambda's asset hash (a hash of the built binary, which also moves with the Go toolchain)
// replaced by the fingerprint of its Go sources, which moves exactly when the code does.
func normalized(t *testing.T, raw map[string]any, fingerprints map[string]string) []byte {
	t.Helper()
	for _, r := range raw["Resources"].(map[string]any) {
		res := r.(map[string]any)
		meta, _ := res["Metadata"].(map[string]any)
		pkg, ok := meta[golambda.MetadataGoPackage].(string)
		if !ok {
			continue
		}
		code := res["Properties"].(map[string]any)["Code"].(map[string]any)
		code["S3Key"] = fmt.Sprintf("<go:%s source:%s>.zip", pkg, fingerprints[pkg])
		delete(meta, "aws:asset:path")
		delete(meta, "aws:asset:is-bundled")
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	require.NoError(t, enc.Encode(raw))
	return b.Bytes()
}

func TestTemplateSnapshots(t *testing.T) {
	root, _ := filepath.Abs("..")
	fingerprints := map[string]string{}
	for _, pkg := range []string{"lambda/pretoken", "lambda/secretgen", "lambda/rotation", "lambda/rotationcheck"} {
		fp, err := gobuild.SourceFingerprint(root, pkg)
		require.NoError(t, err)
		fingerprints[pkg] = fp
	}
	update := os.Getenv("UPDATE_SNAPSHOTS") == "1"
	committed := committedEnvironments(t)
	require.NotEmpty(t, committed)
	want := map[string]bool{}
	for _, name := range committed {
		e := envs[name]
		for _, s := range []awscdk.Stack{e.Identity.Stack, e.Hasura.Stack} {
			stack := *s.StackName()
			want[stack+".template.json"] = true
			got := normalized(t, *assertions.Template_FromStack(s, nil).ToJSON(), fingerprints)
			path := filepath.Join(snapshotDir, stack+".template.json")
			if update {
				require.NoError(t, os.MkdirAll(snapshotDir, 0o755))
				require.NoError(t, os.WriteFile(path, got, 0o644))
				continue
			}
			old, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("no snapshot for %s (%v): run make snapshots and commit testdata/snapshots", stack, err)
				continue
			}
			if bytes.Equal(old, got) {
				continue
			}
			ot, err := cfn.Parse(old)
			require.NoError(t, err)
			nt, err := cfn.Parse(got)
			require.NoError(t, err)
			changes := cfndiff.Diff(stack, ot, nt)
			var report strings.Builder
			cfndiff.Report(&report, changes)
			if len(changes) == 0 {
				report.WriteString("\n(no resource or output changed: metadata or formatting only)\n")
			}
			t.Errorf("the %s template differs from its snapshot (%s):\n%s\nIf this change is intended, run: make snapshots (and commit testdata/snapshots)",
				stack, cfndiff.Summary(changes), report.String())
		}
	}
	if update {
		return
	}
	// A snapshot of a stack that no longer exists is stale.
	files, _ := filepath.Glob(filepath.Join(snapshotDir, "*.template.json"))
	for _, f := range files {
		if !want[filepath.Base(f)] {
			t.Errorf("stale snapshot %s: the stack is gone; run make snapshots", f)
		}
	}
}

// committedEnvironments are the environments of cdk.json (not the test-only ones).
func committedEnvironments(t *testing.T) []string {
	var names []string
	for name := range CDKContext(t)["environments"].(map[string]any) {
		names = append(names, name)
	}
	return names
}
