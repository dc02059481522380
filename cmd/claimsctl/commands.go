package main

import (
	"bufio"
	"context"
	"flag"
	"io"
	"os"
	"strings"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

// command is one row of the command table: its words, arguments, help, flags, and run, which
// only turns flags and arguments into an operation's parameters.
type command struct {
	group, name string
	args        string // positional arguments, for help
	synopsis    string // arguments and main flags, for the overview in --help
	help        string // the first sentence is the summary
	example     string // one command line, run verbatim by the tests against the emulator
	flags       []func(*flag.FlagSet, *options)
	run         func(ctx context.Context, x *env, o *options, pos []string) error
}

func (c *command) summary() string {
	s, _, _ := strings.Cut(c.help, ". ")
	return strings.TrimSuffix(s, ".")
}

// options holds the values of every command's own flags.
type options struct {
	roles, defaultRole, file string
	set                      multiFlag
	tempPasswordStdin        bool
	retire, resume           bool
	stdin, primary           bool
	all                      bool
	workers                  int
	tier, scopes, validity   string
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func claimsFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.roles, "roles", "", "allowed roles, comma-separated (x-hasura-allowed-roles)")
	fs.StringVar(&o.defaultRole, "default-role", "", "default role, one of --roles (x-hasura-default-role)")
	fs.Var(&o.set, "set", "extra session variable x-hasura-NAME=VALUE (repeatable; not x-hasura-user-id, which the trigger sets)")
	fs.StringVar(&o.file, "file", "", "read the claims JSON object from this file (- for stdin) instead of --roles")
}

func tempPasswordFlag(fs *flag.FlagSet, o *options) {
	fs.BoolVar(&o.tempPasswordStdin, "temporary-password-stdin", false, "read a temporary password from stdin and send no invitation email (default: Cognito emails an invitation with a generated temporary password)")
}

func clientAddFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.tier, "tier", "", "the client's tier (machineAccess.tiers), which selects its Hasura role")
	scopesFlag(fs, o)
	fs.StringVar(&o.validity, "validity", "", "access token validity, whole minutes from 5m to 24h (default: machineAccess.defaultValidity)")
}

func scopesFlag(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.scopes, "scopes", "", "allowed scopes, comma-separated; '*' matches any characters (Mutation:*:Create, Query:*, *), expanded against the environment's scopes")
}

// clientCommand is the opening of every client command but add and list: NAME, then the
// environment's machine access.
func clientCommand(ctx context.Context, x *env, pos []string) (*machine, string, error) {
	name, err := clientNameArg(pos)
	if err != nil {
		return nil, "", err
	}
	m, err := x.machine(ctx)
	return m, name, err
}

// onClient is the run of a client command whose one argument is the client's NAME: it resolves
// the name and the environment's machine-access settings, then calls op.
func onClient(op func(ctx context.Context, m *machine, out *printer, name string) error) func(context.Context, *env, *options, []string) error {
	return func(ctx context.Context, x *env, _ *options, pos []string) error {
		m, name, err := clientCommand(ctx, x, pos)
		if err != nil {
			return err
		}
		return op(ctx, m, x.out, name)
	}
}

// defaultWorkers keeps a scan well inside a table's on-demand limits while hiding most of the
// round-trip latency.
const defaultWorkers = 8

func workersFlag(fs *flag.FlagSet, o *options) {
	fs.IntVar(&o.workers, "workers", defaultWorkers, "parallel scan segments and writers (1 = sequential)")
}

func resumeScanFlag(fs *flag.FlagSet, o *options) {
	fs.BoolVar(&o.resume, "resume", false, "continue an interrupted run from its recorded progress (in the user's cache directory) instead of starting over")
}

func rotateFlags(fs *flag.FlagSet, o *options) {
	fs.BoolVar(&o.retire, "retire", false, "remove the old keys after verifying every item decrypts with the new key")
	fs.BoolVar(&o.resume, "resume", false, "finish an interrupted rotation, moving to the key it recorded, instead of drawing a new key")
}

func rebindFlags(fs *flag.FlagSet, o *options) {
	fs.BoolVar(&o.all, "all", false, "every user item of the table (instead of the EMAILs named)")
}

func importFlags(fs *flag.FlagSet, o *options) {
	fs.BoolVar(&o.stdin, "stdin", false, "read the key from stdin (required)")
	fs.BoolVar(&o.primary, "primary", false, "make the imported key the one that encrypts")
}

// commands is every command of claimsctl, in the order --help lists them.
var commands = []*command{
	{group: "user", name: "add", args: "EMAIL", synopsis: "EMAIL --roles a,b --default-role a",
		help:    "Create the Cognito user (email verified) and write their claims, sealed to the user's item and Cognito identity. Undone if the second step fails.",
		example: "claimsctl --env staging user add alice@example.com --roles viewer,editor --default-role editor",
		flags:   []func(*flag.FlagSet, *options){claimsFlags, tempPasswordFlag},
		run: func(ctx context.Context, x *env, o *options, pos []string) error {
			c, err := o.claims(x.stdin)
			if err != nil {
				return err
			}
			temp, err := o.tempPassword(x.stdin)
			if err != nil {
				return err
			}
			t, err := x.resolve(ctx, pos, true)
			if err != nil {
				return err
			}
			return userAdd(ctx, t, x.out, c, temp)
		}},
	{group: "user", name: "disable", args: "EMAIL", synopsis: "EMAIL",
		help:    "Disable the user's sign-in and sign them out everywhere (their refresh tokens stop working). Their claims are kept for enable.",
		example: "claimsctl --env staging user disable alice@example.com",
		run: func(ctx context.Context, x *env, o *options, pos []string) error {
			t, err := x.resolve(ctx, pos, true)
			if err != nil {
				return err
			}
			return userDisable(ctx, t, x.out)
		}},
	{group: "user", name: "enable", args: "EMAIL", synopsis: "EMAIL",
		help:    "Enable a disabled user. Refused when they have no claims.",
		example: "claimsctl --env staging user enable alice@example.com",
		run: func(ctx context.Context, x *env, o *options, pos []string) error {
			t, err := x.resolve(ctx, pos, true)
			if err != nil {
				return err
			}
			return userEnable(ctx, t, x.out)
		}},
	{group: "user", name: "remove", args: "EMAIL", synopsis: "EMAIL",
		help:    "Delete the user's claims, sign the user out everywhere (their refresh tokens stop working), then delete the Cognito user. Refused when neither exists; rerunnable.",
		example: "claimsctl --env staging user remove alice@example.com",
		run: func(ctx context.Context, x *env, o *options, pos []string) error {
			t, err := x.resolve(ctx, pos, true)
			if err != nil {
				return err
			}
			return userRemove(ctx, t, x.out)
		}},
	{group: "user", name: "rebind", args: "[EMAIL ...]", synopsis: "[EMAIL ...] [--all]",
		help: "Bind each item whose user has moved to the new pool (cognito.migrateFrom) to their new sub, keeping their Hasura user id (the old pool's sub). " +
			"A single sign-on user not in the new pool yet is bound by email, so their first sign-in through the provider works; an item whose email is held by a user who cannot be its owner is refused, not rewritten (exit 1). Single sign-on settings come from ./cdk.json (cognito.sso). Rerun it until user migration-status says done.",
		example: "claimsctl --env staging user rebind --all",
		flags:   []func(*flag.FlagSet, *options){rebindFlags, workersFlag},
		run: func(ctx context.Context, x *env, o *options, pos []string) error {
			if o.all == (len(pos) > 0) {
				return usagef("name the users (EMAIL ...) or pass --all, not both")
			}
			var emails []string
			for _, p := range pos {
				e, err := claims.NormalizeEmail(p)
				if err != nil {
					return usagef("%v", err)
				}
				emails = append(emails, e)
			}
			m, err := x.migrationTarget(ctx, o)
			if err != nil {
				return err
			}
			return userRebind(ctx, m, x.out, emails)
		}},
	{group: "user", name: "migration-status", synopsis: "[--workers N]",
		help:    "Count the user items bound to the new pool's identity, waiting for user rebind, not in the new pool yet, and still unbound (Moped's), and say whether the old pool can be retired. Reads only.",
		example: "claimsctl --env staging user migration-status --json",
		flags:   []func(*flag.FlagSet, *options){workersFlag},
		run: func(ctx context.Context, x *env, o *options, pos []string) error {
			if err := positional(pos); err != nil {
				return err
			}
			m, err := x.migrationTarget(ctx, o)
			if err != nil {
				return err
			}
			return migrationStatus(ctx, m, x.out)
		}},
	{group: "claims", name: "put", args: "EMAIL", synopsis: "EMAIL --roles a,b --default-role a",
		help:    "Write one user's claims, validated exactly as the pre-token Lambda validates them and sealed to the user's item (and Cognito identity, when the user exists).",
		example: "claimsctl --env staging claims put alice@example.com --roles viewer --default-role viewer --set x-hasura-org-id=7",
		flags:   []func(*flag.FlagSet, *options){claimsFlags},
		run: func(ctx context.Context, x *env, o *options, pos []string) error {
			c, err := o.claims(x.stdin)
			if err != nil {
				return err
			}
			t, err := x.resolve(ctx, pos, false)
			if err != nil {
				return err
			}
			// The pool is optional here: claims may be written before the user exists.
			if x.g.userPool != "" || x.g.env != "" || x.g.identityStack != "" {
				if t.pool, err = x.userPool(ctx); err != nil {
					return err
				}
			}
			return claimsPut(ctx, t, x.out, c)
		}},
	{group: "claims", name: "get", args: "EMAIL", synopsis: "EMAIL",
		help:    "Print one user's claims, decrypted, as JSON.",
		example: "claimsctl --env staging claims get alice@example.com",
		run: func(ctx context.Context, x *env, o *options, pos []string) error {
			t, err := x.resolve(ctx, pos, false)
			if err != nil {
				return err
			}
			return claimsGet(ctx, t, x.out)
		}},
	{group: "claims", name: "delete", args: "EMAIL", synopsis: "EMAIL",
		help:    "Remove one user's claims: they can no longer get a token.",
		example: "claimsctl --env staging claims delete alice@example.com",
		run: func(ctx context.Context, x *env, o *options, pos []string) error {
			t, err := x.resolve(ctx, pos, false)
			if err != nil {
				return err
			}
			return claimsDelete(ctx, t, x.out)
		}},
	{group: "claims", name: "list", synopsis: "[--workers N] [--resume]",
		help:    "List every user with their roles and binding (pages through the whole table with parallel scan segments). An interrupted run continues with --resume.",
		example: "claimsctl --env staging claims list --json",
		flags:   []func(*flag.FlagSet, *options){workersFlag, resumeScanFlag},
		run: func(ctx context.Context, x *env, o *options, pos []string) error {
			st, err := storeFor(ctx, x, o, pos)
			if err != nil {
				return err
			}
			return claimsList(ctx, st, x.out, o.resume)
		}},
	{group: "claims", name: "verify", synopsis: "[--workers N] [--resume]",
		help:    "Decrypt and validate every item as the trigger does, and count those not yet bound to their item. Exit 1 with the count and user_ids of those that fail. An interrupted run continues with --resume.",
		example: "claimsctl --env staging claims verify --workers 16",
		flags:   []func(*flag.FlagSet, *options){workersFlag, resumeScanFlag},
		run: func(ctx context.Context, x *env, o *options, pos []string) error {
			st, err := storeFor(ctx, x, o, pos)
			if err != nil {
				return err
			}
			return claimsVerify(ctx, st, x.out, o.resume)
		}},
	{group: "key", name: "rotate", synopsis: "[--retire] [--resume]",
		help: "Draw a new Fernet key, put it first in the claims key secret and re-encrypt (and bind) every item with it. " +
			"Every rotation draws a new key; after an interruption, --resume finishes the recorded one instead. --retire then removes the old keys once every item decrypts with the new one.",
		example: "claimsctl --env staging key rotate --retire",
		flags:   []func(*flag.FlagSet, *options){rotateFlags, workersFlag},
		run: func(ctx context.Context, x *env, o *options, pos []string) error {
			st, err := storeFor(ctx, x, o, pos)
			if err != nil {
				return err
			}
			return keyRotate(ctx, st, x.out, o.resume, o.retire)
		}},
	{group: "key", name: "retire",
		help:    "Remove every key but the primary from the key ring, after verifying that every item decrypts with the primary key.",
		example: "claimsctl --env staging key retire",
		flags:   []func(*flag.FlagSet, *options){workersFlag},
		run: func(ctx context.Context, x *env, o *options, pos []string) error {
			st, err := storeFor(ctx, x, o, pos)
			if err != nil {
				return err
			}
			return keyRetire(ctx, st, x.out)
		}},
	{group: "key", name: "import", synopsis: "--stdin [--primary]",
		help: "Add an existing Fernet key (Moped's, for instance) to the key ring, read from stdin so it stays out of shell history. " +
			"It decrypts only, unless --primary makes it the encrypting key; claimsctl key rotate then moves every item to a new key.",
		example: "claimsctl --env staging key import --stdin < moped.key",
		flags:   []func(*flag.FlagSet, *options){importFlags},
		run: func(ctx context.Context, x *env, o *options, pos []string) error {
			if err := positional(pos); err != nil {
				return err
			}
			if !o.stdin {
				return usagef("pass --stdin and the key on standard input (keys are never taken as arguments)")
			}
			line, _ := bufio.NewReader(x.stdin).ReadString('\n')
			k := strings.TrimSpace(line)
			if err := claims.CheckKey(k); err != nil {
				return usagef("the key on stdin is %v; nothing was changed", err)
			}
			st, err := x.store(ctx, 1)
			if err != nil {
				return err
			}
			return keyImport(ctx, st, x.out, k, o.primary)
		}},
	{group: "client", name: "add", args: "NAME", synopsis: "NAME --tier T --scopes a,b [--validity 24h]",
		help: "Create a machine client: a confidential Cognito app client with only the client-credentials grant and the expanded scopes, its record in the claims table, and a Secrets Manager secret holding its id and secret. " +
			"Prints the client id, the secret's ARN and the token endpoint, never the secret. Undone if a later step fails.",
		example: "claimsctl --env staging client add grid-ingest --tier internal --scopes Query:Person,Mutation:Person:Create --validity 24h",
		flags:   []func(*flag.FlagSet, *options){clientAddFlags},
		run: func(ctx context.Context, x *env, o *options, pos []string) error {
			m, name, err := clientCommand(ctx, x, pos)
			if err != nil {
				return err
			}
			if err := m.checkTier(o.tier); err != nil {
				return err
			}
			validity, err := m.parseValidity(o.validity)
			if err != nil {
				return err
			}
			declared, err := m.declaredScopes(ctx)
			if err != nil {
				return err
			}
			scopes, err := expandScopes(o.scopes, declared)
			if err != nil {
				return err
			}
			return clientAdd(ctx, m, x.out, name, o.tier, scopes, validity)
		}},
	{group: "client", name: "list",
		help:    "List the machine clients: name, client id, tier, scopes, token validity, number of active secrets (2 during a rotation) and status.",
		example: "claimsctl --env staging client list",
		run: func(ctx context.Context, x *env, o *options, pos []string) error {
			if err := positional(pos); err != nil {
				return err
			}
			m, err := x.machine(ctx)
			if err != nil {
				return err
			}
			return clientList(ctx, m, x.out)
		}},
	{group: "client", name: "scopes", args: "NAME", synopsis: "NAME --scopes a,b",
		help:    "Replace a client's scopes (globs expanded again): its record first, then its app client. Effective for its next token.",
		example: "claimsctl --env staging client scopes grid-ingest --scopes Query:Person",
		flags:   []func(*flag.FlagSet, *options){scopesFlag},
		run: func(ctx context.Context, x *env, o *options, pos []string) error {
			m, name, err := clientCommand(ctx, x, pos)
			if err != nil {
				return err
			}
			declared, err := m.declaredScopes(ctx)
			if err != nil {
				return err
			}
			scopes, err := expandScopes(o.scopes, declared)
			if err != nil {
				return err
			}
			return clientScopes(ctx, m, x.out, name, scopes)
		}},
	{group: "client", name: "rotate-secret", args: "NAME", synopsis: "NAME",
		help: "Add a second Cognito secret to the client and store it in its Secrets Manager secret as AWSCURRENT, keeping the old one as AWSPREVIOUS: both work until claimsctl client retire-secret. " +
			"Refused while a rotation is open.",
		example: "claimsctl --env staging client rotate-secret grid-ingest",
		run:     onClient(clientRotateSecret)},
	{group: "client", name: "retire-secret", args: "NAME", synopsis: "NAME",
		help:    "End a rotation: delete the client's Cognito secrets other than the one its Secrets Manager secret holds as AWSCURRENT, then drop AWSPREVIOUS.",
		example: "claimsctl --env staging client retire-secret grid-ingest",
		run:     onClient(clientRetireSecret)},
	{group: "client", name: "disable", args: "NAME", synopsis: "NAME",
		help:    "Refuse the client's next tokens (client_disabled) by setting its record's disabled flag. Tokens already issued stay valid until they expire.",
		example: "claimsctl --env staging client disable grid-ingest",
		run: onClient(func(ctx context.Context, m *machine, out *printer, name string) error {
			return clientSetDisabled(ctx, m, out, name, true)
		})},
	{group: "client", name: "enable", args: "NAME", synopsis: "NAME",
		help:    "Let a disabled client get tokens again.",
		example: "claimsctl --env staging client enable grid-ingest",
		run: onClient(func(ctx context.Context, m *machine, out *printer, name string) error {
			return clientSetDisabled(ctx, m, out, name, false)
		})},
	{group: "client", name: "remove", args: "NAME", synopsis: "NAME",
		help: "Remove a machine client: its record (its next token is refused), its app client, and its secret (scheduled for deletion in 7 days; client add of the same name deletes it at once). " +
			"Also finishes what an interrupted add or remove left.",
		example: "claimsctl --env staging client remove grid-ingest",
		run:     onClient(clientRemove)},
	{group: "apikey", name: "rotate",
		help: "Rotate the event API key with an overlap: copy the current value to <parameter>-previous, write a new random value, then force a new deployment of the Hasura service. " +
			"The backend accepts either value until claimsctl apikey retire-previous; until then a second rotate is refused. The key is never printed.",
		example: "claimsctl --env staging apikey rotate",
		run: func(ctx context.Context, x *env, o *options, pos []string) error {
			if err := positional(pos); err != nil {
				return err
			}
			k, err := x.apiKeyTarget(ctx, true)
			if err != nil {
				return err
			}
			return apiKeyRotate(ctx, k, x.out)
		}},
	{group: "apikey", name: "retire-previous",
		help:    "End the overlap window of the last apikey rotate: delete <parameter>-previous, so only the current key is accepted.",
		example: "claimsctl --env staging apikey retire-previous",
		run: func(ctx context.Context, x *env, o *options, pos []string) error {
			if err := positional(pos); err != nil {
				return err
			}
			k, err := x.apiKeyTarget(ctx, false)
			if err != nil {
				return err
			}
			return apiKeyRetirePrevious(ctx, k, x.out)
		}},
}

func storeFor(ctx context.Context, x *env, o *options, pos []string) (*store, error) {
	if err := positional(pos); err != nil {
		return nil, err
	}
	if o.workers < 1 || o.workers > maxWorkers {
		return nil, usagef("--workers %d: want 1 to %d", o.workers, maxWorkers)
	}
	return x.store(ctx, o.workers)
}

// claims returns validated claims from the flags, checked exactly as the Lambda checks them.
func (o *options) claims(stdin io.Reader) (claims.Claims, error) {
	var c claims.Claims
	if o.file != "" {
		if o.roles != "" || o.defaultRole != "" || len(o.set) > 0 {
			return nil, usagef("--file cannot be combined with --roles, --default-role or --set")
		}
		var b []byte
		var err error
		if o.file == "-" {
			b, err = io.ReadAll(stdin)
		} else {
			b, err = os.ReadFile(o.file)
		}
		if err != nil {
			return nil, usagef("read claims file %s: %v", o.file, err)
		}
		if c, err = claims.Parse(b); err != nil {
			return nil, usagef("claims in %s: %v", o.file, err)
		}
	} else {
		if o.roles == "" {
			return nil, usagef("--roles is required (e.g. --roles viewer,editor --default-role viewer)")
		}
		if o.defaultRole == "" {
			return nil, usagef("--default-role is required: one of --roles")
		}
		var roles []string
		for _, r := range strings.Split(o.roles, ",") {
			if r = strings.TrimSpace(r); r != "" {
				roles = append(roles, r)
			}
		}
		extra := map[string]string{}
		for _, kv := range o.set {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, usagef("--set %q: want x-hasura-NAME=VALUE", kv)
			}
			extra[k] = v
		}
		var err error
		if c, err = claims.New(roles, o.defaultRole, extra); err != nil {
			return nil, usagef("%v", err)
		}
	}
	if err := claims.CheckWritable(c); err != nil {
		return nil, usagef("%v", err)
	}
	return c, nil
}

func (o *options) tempPassword(stdin io.Reader) (string, error) {
	if !o.tempPasswordStdin {
		return "", nil
	}
	if o.file == "-" {
		return "", usagef("--temporary-password-stdin and --file - both read stdin")
	}
	line, _ := bufio.NewReader(stdin).ReadString('\n')
	temp := strings.TrimRight(line, "\r\n")
	if temp == "" {
		return "", usagef("--temporary-password-stdin: stdin held no password")
	}
	return temp, nil
}
