package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

// commandLines returns every claimsctl command line for environment env in text, as a reader
// would copy it: an optional bin/ prefix, a trailing comment removed.
func commandLines(text, env string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimPrefix(strings.TrimSpace(l), "bin/")
		if !strings.HasPrefix(l, "claimsctl ") || !strings.Contains(l, "--env "+env) {
			continue
		}
		if i := strings.Index(l, " #"); i >= 0 {
			l = l[:i]
		}
		out = append(out, strings.TrimSpace(l))
	}
	return out
}

// shellWords splits a command line as sh would for these simple lines: words, and "< file".
func shellWords(t *testing.T, line string) (args []string, stdinFile string) {
	t.Helper()
	f := strings.Fields(line)
	for i := 0; i < len(f); i++ {
		switch {
		case f[i] == "<":
			require.Less(t, i+1, len(f), "redirect without a file: %s", line)
			stdinFile = f[i+1]
			i++
		case len(f[i]) >= 2 && f[i][0] == '\'' && f[i][len(f[i])-1] == '\'' && !strings.Contains(f[i][1:len(f[i])-1], "'"):
			args = append(args, f[i][1:len(f[i])-1]) // single quotes: the word as written
		case strings.ContainsAny(f[i], `"'|&;$*`):
			t.Fatalf("documented line needs a shell this test does not emulate: %s", line)
		default:
			args = append(args, f[i])
		}
	}
	require.Equal(t, "claimsctl", args[0])
	return args[1:], stdinFile
}

// TestEveryDocumentedCommandLineRuns runs, verbatim and in order, every claimsctl line of
// docs/claimsctl.md, docs/machine-access.md, README.md and --help (the overview and every
// command's example) for environment "staging", and of docs/moving-from-moped.md for
// "moped-production", against moto, each source in an environment of its own, found the way an
// operator's shell finds it: the project from ./cdk.json, --env from the line.
func TestEveryDocumentedCommandLineRuns(t *testing.T) {
	var help bytes.Buffer
	run(context.Background(), []string{"--help"}, strings.NewReader(""), &help, &help)
	for _, c := range commands {
		run(context.Background(), []string{c.group, c.name, "--help"}, strings.NewReader(""), &help, &help)
	}
	sources := map[string]string{"--help": help.String()}
	envOf := map[string]string{"--help": "staging", "docs/claimsctl.md": "staging", "docs/machine-access.md": "staging", "README.md": "staging", "docs/moving-from-moped.md": "moped-production"}
	for _, p := range []string{"docs/claimsctl.md", "docs/machine-access.md", "README.md", "docs/moving-from-moped.md"} {
		b, err := os.ReadFile(filepath.Join("..", "..", p))
		require.NoError(t, err)
		sources[p] = string(b)
	}
	helpLines := commandLines(sources["--help"], "staging")
	for _, c := range commands {
		assert.Contains(t, helpLines, c.example, "%s %s has an example that runs", c.group, c.name)
	}
	require.GreaterOrEqual(t, len(commandLines(sources["docs/claimsctl.md"], "staging")), 10)
	require.GreaterOrEqual(t, len(commandLines(sources["docs/moving-from-moped.md"], "moped-production")), 4)

	n := 0
	for _, src := range []string{"docs/claimsctl.md", "docs/machine-access.md", "README.md", "docs/moving-from-moped.md", "--help"} {
		lines := commandLines(sources[src], envOf[src])
		if src == "--help" {
			// The overview repeats some commands' examples: run each once.
			seen := map[string]bool{}
			var uniq []string
			for _, l := range lines {
				if !seen[l] {
					seen[l] = true
					uniq = append(uniq, l)
				}
			}
			lines = uniq
		}
		t.Run(src, func(t *testing.T) {
			n++
			proj := fmt.Sprintf("docs%d", n)
			deployAs(t, proj, envOf[src])
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "cdk.json"), []byte(`{"context":{"project":"`+proj+`"}}`), 0o600))
			k, _ := claims.GenerateKey()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "moped.key"), []byte(k+"\n"), 0o600))
			t.Chdir(dir)
			for _, line := range lines {
				args, stdinFile := shellWords(t, line)
				stdin := ""
				if stdinFile != "" {
					b, err := os.ReadFile(stdinFile)
					require.NoError(t, err)
					stdin = string(b)
				}
				out, errOut, code := ctlRaw(t, stdin, args...)
				assert.Equal(t, exitOK, code, "%s\n%s%s", line, out, errOut)
			}
		})
	}
}

func TestGlobalFlagsAnywhereOnTheLine(t *testing.T) {
	d := deploy(t)
	for i, args := range [][]string{
		{"--project", d.project, "--env", d.env, "claims", "put", "g0@example.com", "--roles", "viewer", "--default-role", "viewer"},
		{"--env=" + d.env, "claims", "--project", d.project, "put", "g1@example.com", "--roles", "viewer", "--default-role", "viewer"},
		{"claims", "put", "--env", d.env, "g2@example.com", "--roles", "viewer", "--project", d.project, "--default-role", "viewer"},
		{"--json", "--project", d.project, "claims", "put", "g3@example.com", "--roles", "viewer", "--default-role", "viewer", "--env", d.env},
	} {
		_, errOut, code := ctlRaw(t, "", args...)
		require.Equal(t, exitOK, code, "%q: %s", args, errOut)
		_, err := d.tokenClaims(t, fmt.Sprintf("g%d@example.com", i))
		assert.NoError(t, err)
	}
	_, errOut, code := ctlRaw(t, "", "--env", "staging", "nosuch", "cmd")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, `unknown command "nosuch"`, "the flag's value is not taken for the command")
}
