// Package e2e proves the whole chain with real local components: a user created by claimsctl
// signs in to cognito-local, whose PreTokenGeneration trigger runs the real pre-token bootstrap
// against moto, and the ID token is verified exactly as Hasura would verify it with the
// HASURA_GRAPHQL_JWT_SECRET this app synthesizes.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hasura-auth-cdk/hasuraauth/internal/localauth"
	"github.com/hasura-auth-cdk/hasuraauth/internal/synth"
)

var (
	env         *localauth.Env
	claimsctl   string    // the built CLI
	synthesized jwtSecret // HASURA_GRAPHQL_JWT_SECRET from cdk.out, pointed at the emulator
	rawSecret   jwtSecret // as synthesized, before pointing it at the emulator
)

// jwtSecret is Hasura's JWT configuration (the fields this app sets).
type jwtSecret struct {
	Type         string `json:"type"`
	JwkURL       string `json:"jwk_url"`
	ClaimsFormat string `json:"claims_format"`
	Issuer       string `json:"issuer"`
	Audience     string `json:"audience"`
}

func TestMain(m *testing.M) {
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	code, err := func() (int, error) {
		root, err := filepath.Abs("..")
		if err != nil {
			return 1, err
		}
		tmp, err := os.MkdirTemp("", "e2e-*")
		if err != nil {
			return 1, err
		}
		defer os.RemoveAll(tmp)

		claimsctl = filepath.Join(tmp, "claimsctl")
		if out, err := exec.Command("go", "build", "-o", claimsctl, "../cmd/claimsctl").CombinedOutput(); err != nil {
			return 1, fmt.Errorf("build claimsctl: %w\n%s", err, out)
		}
		var logs strings.Builder
		env, err = localauth.Start(context.Background(), localauth.Options{ModuleRoot: root, Logs: &logs, Migration: true})
		if err != nil {
			return 1, fmt.Errorf("start the local auth chain: %w\n%s", err, logs.String())
		}
		defer env.Stop()
		if err := synthesize(root, tmp); err != nil {
			return 1, err
		}
		return m.Run(), nil
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
	}
	os.Exit(code)
}

// synthesize runs the CDK app as the CLI does (staging only, no Lambda bundling) and reads the JWT
// secret from the Hasura stack's template in the output directory.
func synthesize(root, tmp string) error {
	app, err := synth.TestApp(root, filepath.Join(tmp, "app"))
	if err != nil {
		return err
	}
	outdir := filepath.Join(tmp, "cdk.out")
	if err := synth.Run(root, app, outdir, synth.Options{Environment: "staging", SkipBundling: true}); err != nil {
		return err
	}
	templates, err := synth.Templates(outdir)
	if err != nil {
		return err
	}
	tb, ok := templates["hasura-auth-staging-hasura"]
	if !ok {
		return fmt.Errorf("no hasura-auth-staging-hasura template in %s", outdir)
	}
	var tmpl struct {
		Resources map[string]struct {
			Type       string
			Properties map[string]any
		}
	}
	if err := json.Unmarshal(tb, &tmpl); err != nil {
		return err
	}
	for _, r := range tmpl.Resources {
		if r.Type != "AWS::ECS::TaskDefinition" {
			continue
		}
		for _, c := range r.Properties["ContainerDefinitions"].([]any) {
			for _, e := range c.(map[string]any)["Environment"].([]any) {
				kv := e.(map[string]any)
				if kv["Name"] == "HASURA_GRAPHQL_JWT_SECRET" {
					return resolveSecret(kv["Value"])
				}
			}
		}
	}
	return fmt.Errorf("no HASURA_GRAPHQL_JWT_SECRET in the synthesized task definition")
}

// resolveSecret fills the deploy-time tokens (the pool and client IDs the identity stack outputs)
// with the emulator's, then points the Cognito URLs at cognito-local.
func resolveSecret(v any) error {
	join, ok := v.(map[string]any)["Fn::Join"].([]any)
	if !ok {
		return fmt.Errorf("HASURA_GRAPHQL_JWT_SECRET is not an Fn::Join: %v", v)
	}
	var b strings.Builder
	for _, part := range join[1].([]any) {
		switch p := part.(type) {
		case string:
			b.WriteString(p)
		case map[string]any:
			out, _ := p["Fn::GetStackOutput"].(map[string]any)
			name, _ := out["OutputName"].(string)
			switch {
			case strings.Contains(name, "SpaClient"):
				b.WriteString(env.ClientID)
			case strings.Contains(name, "UsersPool"):
				b.WriteString(env.PoolID)
			default:
				return fmt.Errorf("unexpected token in the JWT secret: %v", p)
			}
		}
	}
	if err := json.Unmarshal([]byte(b.String()), &rawSecret); err != nil {
		return fmt.Errorf("the JWT secret is not JSON: %w: %s", err, b.String())
	}
	synthesized = rawSecret
	const cognito = "https://cognito-idp.us-east-1.amazonaws.com"
	synthesized.JwkURL = strings.Replace(synthesized.JwkURL, cognito, env.CognitoURL, 1)
	synthesized.Issuer = strings.Replace(synthesized.Issuer, cognito, env.CognitoURL, 1)
	return nil
}

// ctl runs the claimsctl binary against the local chain.
func ctl(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(claimsctl, append(args, env.ClaimsctlFlags()...)...)
	cmd.Env = append(os.Environ(), env.ClaimsctlEnv()...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
