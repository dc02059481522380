// Command claimsctl is the operator CLI for a deployed environment: it onboards users, manages
// their Hasura claims and rotates the claims key and the event API key. It finds the
// environment's resources from its CloudFormation stack outputs and uses the standard AWS
// credential chain and AWS_ENDPOINT_URL settings.
//
// Layout: every command is a row of the table in commands.go (name, arguments, help, flags, and
// a run function that turns flags into arguments); run in this file parses the line and loads
// the AWS configuration once; env.go resolves resources; the operations (users.go,
// claimsops.go, keys.go, apikey.go) take plain arguments and can be called directly.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// Exit codes (documented in --help and docs/claimsctl.md).
const (
	exitOK      = 0 // done
	exitFailed  = 1 // an AWS call or a check failed; nothing was left half-done
	exitUsage   = 2 // bad command, flag or input; nothing was changed
	exitPartial = 3 // could not finish and could not undo: the message says what state is left
)

func usageText() string {
	var b strings.Builder
	b.WriteString(`claimsctl: manage users, machine clients, Hasura claims and keys of a deployed environment.

Usage:
  claimsctl [global flags] <command> <subcommand> [arguments] [flags]

Examples:
  claimsctl --env staging user add alice@example.com --roles viewer,editor --default-role editor
  claimsctl --env staging claims verify --workers 16

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-46s %s\n", c.group+" "+c.name+" "+c.synopsis, c.summary())
	}
	b.WriteString(`
Global flags (accepted anywhere on the line, before or after the command):
  --env NAME            environment (stacks <project>-NAME-identity and -hasura)  [required unless every resource flag is given]
  --project NAME        project name (default: "project" in ./cdk.json)
  --region REGION       AWS region (default: the SDK's, e.g. AWS_REGION)
  --profile NAME        AWS shared-config profile
  --json                machine-readable output
  --lock-wait DURATION  how long to wait for another run's key-ring lock (default 2m; 0 = do not wait);
                        while waiting, stderr says who holds it and since when
  --identity-stack, --hasura-stack NAME            stack names to read outputs from
  --user-pool, --table, --key-secret ID            override the identity stack's outputs
  --api-key-parameter, --cluster, --service NAME   override the API key parameter and Hasura service
  --token-endpoint URL  override the identity stack's TokenEndpoint output (client add)

Exit codes:
  0  done
  1  an AWS call or a check failed (claims verify: items failed; user rebind: items refused); nothing was left half-done
  2  bad command, flag or input; nothing was changed
  3  could not finish and could not undo; the message says what state is left and what to run

Secrets: no command prints a key, the event API key or a client secret.
`)
	return b.String()
}

func main() {
	// Ctrl-C or SIGTERM cancels the run's context, so that a command stops between AWS calls
	// and says what state it left (claims list and verify record their progress for --resume);
	// a second Ctrl-C kills the process at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// usageError is a mistake on the command line; nothing was changed.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// partialError means the command stopped in a state it could not undo.
type partialError struct{ msg string }

func (e *partialError) Error() string { return e.msg }

func partialf(format string, a ...any) error { return &partialError{fmt.Sprintf(format, a...)} }

// faultHook is nil in the shipped binary. Tests set it to stop a command, or to break the
// emulator, at a named point between two AWS calls, proving that every interruption leaves a
// consistent state.
var faultHook func(point string) error

func fault(point string) error {
	if faultHook == nil {
		return nil
	}
	return faultHook(point)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprint(stdout, usageText())
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	words, rest := splitCommand(args)
	if len(words) == 0 {
		if hasHelp(rest) {
			fmt.Fprint(stdout, usageText())
			return exitOK
		}
		fmt.Fprintf(stderr, "claimsctl: no command given\n\n%s", usageText())
		return exitUsage
	}
	group := words[0]
	inGroup := groupCommands(group)
	if len(inGroup) == 0 {
		fmt.Fprintf(stderr, "claimsctl: unknown command %q (run claimsctl --help)\n", group)
		return exitUsage
	}
	if len(words) < 2 {
		if hasHelp(rest) {
			groupHelp(stdout, group, inGroup)
			return exitOK
		}
		fmt.Fprintf(stderr, "claimsctl: %s needs a subcommand\n\n", group)
		groupHelp(stderr, group, inGroup)
		return exitUsage
	}
	cmd := findCommand(group, words[1])
	if cmd == nil {
		fmt.Fprintf(stderr, "claimsctl: unknown subcommand %q of %s\n\n", words[1], group)
		groupHelp(stderr, group, inGroup)
		return exitUsage
	}

	fs := flag.NewFlagSet("claimsctl "+cmd.group+" "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g := &globals{}
	g.register(fs)
	o := &options{}
	for _, f := range cmd.flags {
		f(fs, o)
	}
	pos, err := parseInterleaved(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		commandHelp(stdout, cmd, fs)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "claimsctl %s %s: %v\n\n", cmd.group, cmd.name, err)
		commandHelp(stderr, cmd, fs)
		return exitUsage
	}
	err = func() error {
		x, err := newEnv(ctx, g, stdin, stdout, stderr)
		if err != nil {
			return err
		}
		return cmd.run(ctx, x, o, pos)
	}()
	var ue *usageError
	var pe *partialError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "claimsctl %s %s: %v\n", cmd.group, cmd.name, err)
		return exitUsage
	case errors.As(err, &pe):
		fmt.Fprintf(stderr, "claimsctl %s %s: INCOMPLETE: %v\n", cmd.group, cmd.name, err)
		return exitPartial
	default:
		fmt.Fprintf(stderr, "claimsctl %s %s: %v\n", cmd.group, cmd.name, err)
		return exitFailed
	}
}

func isHelp(s string) bool { return s == "-h" || s == "--help" || s == "-help" || s == "help" }

func hasHelp(args []string) bool {
	for _, a := range args {
		if isHelp(a) {
			return true
		}
	}
	return false
}

// splitCommand finds the command words: the first two words that are neither a flag nor the
// value of a global flag that takes one. So `--env staging user add ...` names "user add",
// not "staging". Everything else, in order, is left for the flag set.
func splitCommand(args []string) (words, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			rest = append(rest, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && globalTakesValue[name] && i+1 < len(args) {
				i++
				rest = append(rest, args[i])
			}
			continue
		}
		if len(words) < 2 && !(len(words) == 0 && a == "help") {
			words = append(words, a)
			continue
		}
		rest = append(rest, a)
	}
	return words, rest
}

// parseInterleaved lets flags and positional arguments mix: `user add a@b.c --roles x`.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func groupCommands(group string) []*command {
	var out []*command
	for _, c := range commands {
		if c.group == group {
			out = append(out, c)
		}
	}
	return out
}

func findCommand(group, name string) *command {
	for _, c := range commands {
		if c.group == group && c.name == name {
			return c
		}
	}
	return nil
}

func groupHelp(w io.Writer, group string, cmds []*command) {
	fmt.Fprintf(w, "Usage: claimsctl %s <subcommand> [arguments] [flags]\n\nSubcommands:\n", group)
	width := 6
	for _, c := range cmds {
		width = max(width, len(c.args))
	}
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-16s %-*s %s\n", c.name, width, c.args, c.summary())
	}
	fmt.Fprintf(w, "\nRun claimsctl %s <subcommand> --help for its flags; claimsctl --help for global flags and exit codes.\n", group)
}

func commandHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s [flags]\n\n%s\n", strings.Join(strings.Fields("claimsctl "+c.group+" "+c.name+" "+c.args), " "), c.help)
	if c.example != "" {
		fmt.Fprintf(w, "\nExample:\n  %s\n", c.example)
	}
	fmt.Fprintf(w, "\nFlags (global flags too, see claimsctl --help):\n")
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if !isGlobal(f.Name) {
			names = append(names, f.Name)
		}
	})
	sort.Strings(names)
	for _, n := range names {
		f := fs.Lookup(n)
		def := ""
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			def = " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(w, "  --%-26s %s%s\n", f.Name, f.Usage, def)
	}
}

// positional checks the number of positional arguments.
func positional(pos []string, names ...string) error {
	if len(pos) != len(names) {
		if len(names) == 0 {
			return usagef("takes no arguments, got %q", pos)
		}
		return usagef("want %s, got %d argument(s) %q", strings.Join(names, " "), len(pos), pos)
	}
	return nil
}
