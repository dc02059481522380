// Command claimsctl is the operator CLI for a deployed environment: it onboards users, manages
// their Hasura claims and rotates the claims key and the event API key. It finds the
// environment's resources from its CloudFormation stack outputs and uses the standard AWS
// credential chain and AWS_ENDPOINT_URL settings.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Exit codes (documented in --help and the README).
const (
	exitOK      = 0 // done
	exitFailed  = 1 // an AWS call or a check failed; nothing was left half-done
	exitUsage   = 2 // bad command, flag or input; nothing was changed
	exitPartial = 3 // could not finish and could not undo: the message says what state is left
)

const usageText = `claimsctl: manage users, Hasura claims and keys of a deployed environment.

Usage:
  claimsctl [global flags] <command> <subcommand> [arguments] [flags]

Commands:
  user add EMAIL --roles a,b --default-role a   create the Cognito user and write their claims
  user disable|enable|remove EMAIL              keep the Cognito user and their claims consistent
  claims put EMAIL --roles a,b --default-role a write one user's claims (validated as the Lambda does)
  claims get EMAIL                              print one user's claims, decrypted, as JSON
  claims delete EMAIL                           remove one user's claims (they can no longer get a token)
  claims list                                   every user with their roles
  claims verify                                 decrypt and validate every item
  key rotate [--retire]                         put a new Fernet key first and re-encrypt every item
  key retire                                    drop the old keys once every item uses the primary key
  key import --stdin [--primary]                add an existing (Moped) Fernet key to the key ring
  apikey rotate                                 new event API key, then a new Hasura deployment

Global flags (accepted anywhere on the line):
  --env NAME            environment (stacks <project>-NAME-identity and -hasura)  [required unless every resource flag is given]
  --project NAME        project name (default: "project" in ./cdk.json)
  --region REGION       AWS region (default: the SDK's, e.g. AWS_REGION)
  --profile NAME        AWS shared-config profile
  --json                machine-readable output
  --identity-stack, --hasura-stack NAME            stack names to read outputs from
  --user-pool, --table, --key-secret ID            override the identity stack's outputs
  --api-key-parameter, --cluster, --service NAME   override the API key parameter and Hasura service

Exit codes:
  0  done
  1  an AWS call or a check failed (claims verify: items failed); nothing was left half-done
  2  bad command, flag or input; nothing was changed
  3  could not finish and could not undo; the message says what state is left and what to run

Secrets: no command prints a key or the event API key.
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// usageError is a mistake on the command line; nothing was changed.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// partialError means the command stopped in a state it could not undo.
type partialError struct{ msg string }

func (e *partialError) Error() string { return e.msg }

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

// command is one subcommand: its flags are registered by setup, its work done by run.
type command struct {
	group, name, args, help string
	setup                   func(fs *flag.FlagSet) func(ctx context.Context, a *app, pos []string) error
}

var commands []command

func register(c command) { commands = append(commands, c) }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprint(stdout, usageText)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	// Global flags may come first; the first two words that are not flags name the command.
	var words []string
	rest := []string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(words) < 2 && !strings.HasPrefix(a, "-") {
			words = append(words, a)
			continue
		}
		rest = append(rest, a)
	}
	if len(words) == 0 {
		fmt.Fprintf(stderr, "claimsctl: no command given\n\n%s", usageText)
		return exitUsage
	}
	group := words[0]
	var inGroup []command
	for _, c := range commands {
		if c.group == group {
			inGroup = append(inGroup, c)
		}
	}
	if len(inGroup) == 0 {
		fmt.Fprintf(stderr, "claimsctl: unknown command %q (run claimsctl --help)\n", group)
		return exitUsage
	}
	if len(words) < 2 {
		if len(rest) > 0 && isHelp(rest[0]) {
			groupHelp(stdout, group, inGroup)
			return exitOK
		}
		fmt.Fprintf(stderr, "claimsctl: %s needs a subcommand\n\n", group)
		groupHelp(stderr, group, inGroup)
		return exitUsage
	}
	var cmd *command
	for i := range inGroup {
		if inGroup[i].name == words[1] {
			cmd = &inGroup[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "claimsctl: unknown subcommand %q of %s\n\n", words[1], group)
		groupHelp(stderr, group, inGroup)
		return exitUsage
	}

	fs := flag.NewFlagSet("claimsctl "+cmd.group+" "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g := &globals{}
	g.register(fs)
	do := cmd.setup(fs)
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
	a := &app{g: g, stdin: stdin, out: newPrinter(stdout, g.json), stderr: stderr}
	err = do(ctx, a, pos)
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

func groupHelp(w io.Writer, group string, cmds []command) {
	fmt.Fprintf(w, "Usage: claimsctl %s <subcommand> [arguments] [flags]\n\nSubcommands:\n", group)
	for _, c := range cmds {
		summary, _, _ := strings.Cut(c.help, ". ") // the first sentence; --help on the subcommand has it all
		fmt.Fprintf(w, "  %-8s %-6s %s\n", c.name, c.args, strings.TrimSuffix(summary, "."))
	}
	fmt.Fprintf(w, "\nRun claimsctl %s <subcommand> --help for its flags; claimsctl --help for global flags and exit codes.\n", group)
}

func commandHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: claimsctl %s %s %s [flags]\n\n%s\n\nFlags (global flags too, see claimsctl --help):\n", c.group, c.name, c.args, c.help)
	fs.VisitAll(func(f *flag.Flag) {
		if globalFlag[f.Name] {
			return
		}
		def := ""
		if f.DefValue != "" && f.DefValue != "false" {
			def = " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(w, "  --%-22s %s%s\n", f.Name, f.Usage, def)
	})
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
