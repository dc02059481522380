// Command cfndiff (make diff-offline) shows what a change does to the infrastructure without AWS
// credentials: it synthesizes a base git ref and the working tree, each with its own cdk.json,
// and lists per environment and stack the resources added, removed, modified and replaced, with
// data loss, IAM and network changes first. Given two directories, it compares two existing
// cloud assemblies instead.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/hasura-auth-cdk/hasuraauth/internal/cfndiff"
	"github.com/hasura-auth-cdk/hasuraauth/internal/synth"
)

func main() {
	base := flag.String("base", "HEAD", "git ref to compare the working tree with")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: cfndiff [--base REF]          synthesize REF and the working tree, then diff\n"+
			"       cfndiff OLD_CDK_OUT NEW_CDK_OUT   diff two synthesized cloud assemblies\n")
	}
	flag.Parse()
	var err error
	var changes int
	switch flag.NArg() {
	case 0:
		changes, err = diffRef(os.Stdout, *base)
	case 2:
		changes, err = diffDirs(os.Stdout, flag.Arg(0), flag.Arg(1))
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cfndiff:", err)
		os.Exit(1)
	}
	if changes == 0 {
		fmt.Println("no infrastructure changes")
	}
}

func diffDirs(w io.Writer, oldDir, newDir string) (int, error) {
	old, err := synth.Templates(oldDir)
	if err != nil {
		return 0, err
	}
	nw, err := synth.Templates(newDir)
	if err != nil {
		return 0, err
	}
	if len(old) == 0 && len(nw) == 0 {
		return 0, fmt.Errorf("no templates in %s or %s", oldDir, newDir)
	}
	changes, err := cfndiff.DiffTrees(old, nw)
	if err != nil {
		return 0, err
	}
	if len(changes) > 0 {
		fmt.Fprintf(w, "%s\n", cfndiff.Summary(changes))
		cfndiff.Report(w, changes)
	}
	return len(changes), nil
}

// diffRef extracts ref into a temporary directory (git archive: committed files only), then
// synthesizes both trees, with Lambda bundling so code changes show as changed assets.
func diffRef(w io.Writer, ref string) (int, error) {
	root, err := os.Getwd()
	if err != nil {
		return 0, err
	}
	tmp, err := os.MkdirTemp("", "cfndiff-*")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	baseTree := filepath.Join(tmp, "base")
	if err := os.MkdirAll(baseTree, 0o755); err != nil {
		return 0, err
	}
	archive := exec.Command("sh", "-c", fmt.Sprintf("git archive --format=tar %q | tar -x -C %q", ref, baseTree))
	archive.Dir = root
	if out, err := archive.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("extract %s: %w\n%s", ref, err, out)
	}
	fmt.Fprintf(os.Stderr, "synthesizing %s and the working tree ...\n", ref)
	trees := []struct{ root, out string }{{baseTree, filepath.Join(tmp, "base.out")}, {root, filepath.Join(tmp, "head.out")}}
	errs := make([]error, len(trees))
	var wg sync.WaitGroup
	for i, t := range trees {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bin := filepath.Join(tmp, fmt.Sprintf("app%d", i))
			if errs[i] = synth.BuildApp(t.root, bin); errs[i] == nil {
				errs[i] = synth.Run(t.root, bin, t.out, synth.Options{})
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return 0, fmt.Errorf("%s: %w", []string{ref, "working tree"}[i], err)
		}
	}
	fmt.Fprintf(w, "infrastructure changes from %s to the working tree: ", ref)
	return diffDirs(w, trees[0].out, trees[1].out)
}
