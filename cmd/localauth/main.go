// Command localauth (make local) brings the whole auth chain up on this machine for a person to
// try, with no AWS account: moto, the real pre-token Lambda under a local Runtime API, and
// cognito-local calling it. It creates a demo user with claims, prints the endpoints and a
// ready-to-paste sign-in command, and stops everything on Ctrl-C.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/hasura-auth-cdk/hasuraauth/internal/localauth"
)

func main() {
	email := flag.String("email", "demo@example.com", "the demo user's email")
	roles := flag.String("roles", "viewer,editor", "the demo user's allowed roles")
	def := flag.String("default-role", "editor", "the demo user's default role")
	verbose := flag.Bool("v", false, "show the emulators' and the Lambda's logs")
	// machineAccess's default tiers, as the stack renders them for the trigger (MACHINE_TIERS).
	tiers := flag.String("machine-tiers", "internal=internal,readonly=readonly,syndication=syndication", "the trigger's machine tiers (tier=role,...); empty turns machine access off")
	flag.Parse()
	if err := run(*email, *roles, *def, *tiers, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "make local:", err)
		os.Exit(1)
	}
}

func run(email, roles, def, tiers string, verbose bool) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	opts := localauth.Options{ModuleRoot: root, MachineTiers: tiers}
	if verbose {
		opts.Logs = &localauth.Lines{W: os.Stderr, Prefix: "  | "}
	}
	fmt.Println("starting moto, the pre-token Lambda and cognito-local ...")
	env, err := localauth.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer env.Stop()

	// The demo user goes through claimsctl, exactly as an operator would onboard one.
	tmp, err := os.MkdirTemp("", "claimsctl-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ctl := filepath.Join(tmp, "claimsctl")
	if out, err := exec.Command("go", "build", "-o", ctl, "./cmd/claimsctl").CombinedOutput(); err != nil {
		return fmt.Errorf("build claimsctl: %w\n%s", err, out)
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	password := "Local-" + base64.RawURLEncoding.EncodeToString(b) + "1!"
	add := exec.Command(ctl, append([]string{"user", "add", email, "--roles", roles, "--default-role", def, "--temporary-password-stdin"}, env.ClaimsctlFlags()...)...)
	add.Env = append(os.Environ(), env.ClaimsctlEnv()...)
	add.Stdin = stdinString(password + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		return fmt.Errorf("claimsctl user add: %w\n%s", err, out)
	}
	if err := setPermanent(ctx, env, email, password); err != nil {
		return err
	}

	fmt.Printf(`
The auth chain is up (all on 127.0.0.1; Ctrl-C stops everything):

  Cognito (cognito-local)   %s
    user pool               %s
    app client              %s
    JWKS                    %s/.well-known/jwks.json
  Lambda Invoke API         %s  (runs lambda/pretoken's bootstrap)
  Token endpoint            %s  (stand-in: client-credentials grant only; tiers %s)
  DynamoDB / Secrets (moto) %s
    claims table            %s
    claims key secret       %s

Demo user: %s  password: %s  roles: %s (default %s)

Sign in (prints an IdToken carrying "https://hasura.io/jwt/claims"):

  %s

Manage users and claims with claimsctl against this chain:

  %s go run ./cmd/claimsctl claims list %s

`, env.CognitoURL, env.PoolID, env.ClientID, env.Issuer(), env.InvokeURL, env.TokenURL, tiers, env.Moto.URL, env.Table, env.SecretArn,
		email, password, roles, def, env.SignInCommand(email, password), envPrefix(env.ClaimsctlEnv()), flags(env.ClaimsctlFlags()))
	<-ctx.Done()
	fmt.Println("\nstopping ...")
	return nil
}
