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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/hasura-auth-cdk/hasuraauth/internal/localauth"
	"github.com/hasura-auth-cdk/hasuraauth/internal/synth"
	"github.com/hasura-auth-cdk/hasuraauth/stacks/names"
)

var (
	env         *localauth.Env
	claimsctl   string    // the built CLI
	synthesized jwtSecret // HASURA_GRAPHQL_JWT_SECRET from cdk.out, pointed at the emulator
	rawSecret   jwtSecret // as synthesized, before pointing it at the emulator
	// The same for the machine-access environment (access tokens, V3_0, machineAccess), and
	// the trigger's MACHINE_TIERS as that environment's identity stack sets it.
	machineSecret    jwtSecret
	machineRawSecret jwtSecret
	machineTiers     string
	// resourceServer is the machine environment's AWS::Cognito::UserPoolResourceServer properties,
	// machineOutputs its identity stack's outputs.
	resourceServer map[string]any
	machineOutputs map[string]struct{ Value any }
)

// jwtSecret is Hasura's JWT configuration (the fields this app sets).
type jwtSecret struct {
	Type         string `json:"type"`
	JwkURL       string `json:"jwk_url"`
	ClaimsFormat string `json:"claims_format"`
	Issuer       string `json:"issuer"`
	Audience     string `json:"audience"`
}

// machineEnv is the environment the machine tests synthesize beside staging: staging with
// machine access turned on, as docs/machine-access.md describes it.
const machineEnv = "machine"

var machineAccess = map[string]any{
	"scopes":          []any{"Query:Person", "Mutation:Person:Create", "Mutation:Work:Create"},
	"tiers":           map[string]any{"internal": "service", "readonly": "service_readonly"},
	"defaultValidity": "30m",
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
		joins, err := synthesize(root, tmp)
		if err != nil {
			return 1, err
		}
		var logs strings.Builder
		env, err = localauth.Start(context.Background(), localauth.Options{ModuleRoot: root, Logs: &logs, MachineTiers: machineTiers, Migration: true})
		if err != nil {
			return 1, fmt.Errorf("start the local auth chain: %w\n%s", err, logs.String())
		}
		defer env.Stop()
		if rawSecret, synthesized, err = resolveSecret(joins["staging"]); err != nil {
			return 1, err
		}
		if machineRawSecret, machineSecret, err = resolveSecret(joins[machineEnv]); err != nil {
			return 1, err
		}
		if err := createResourceServer(); err != nil {
			return 1, err
		}
		if err := deployMachineOutputs(); err != nil {
			return 1, err
		}
		return m.Run(), nil
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
	}
	os.Exit(code)
}

// synthesize runs the CDK app as the CLI does (staging and the machine-access environment, no
// Lambda bundling) and returns, per environment, the JWT secret as the Hasura stack's template
// has it (an Fn::Join); it sets machineTiers from the machine environment's identity template.
func synthesize(root, tmp string) (map[string]any, error) {
	app, err := synth.TestApp(root, filepath.Join(tmp, "app"))
	if err != nil {
		return nil, err
	}
	ctx, err := synth.Context(root)
	if err != nil {
		return nil, err
	}
	staging, ok := ctx["environments"].(map[string]any)["staging"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("cdk.json has no staging environment")
	}
	machine := map[string]any{}
	for k, v := range staging {
		machine[k] = v
	}
	cognito := map[string]any{"domainPrefix": "hasura-auth-e2e-machine"}
	for k, v := range staging["cognito"].(map[string]any) {
		cognito[k] = v
	}
	cognito["preTokenVersion"] = "V3_0"
	hasura := map[string]any{}
	for k, v := range staging["hasura"].(map[string]any) {
		hasura[k] = v
	}
	hasura["jwtToken"] = "access"
	machine["cognito"], machine["hasura"], machine["machineAccess"] = cognito, hasura, machineAccess

	outdir := filepath.Join(tmp, "cdk.out")
	if err := synth.Run(root, app, outdir, synth.Options{SkipBundling: true, Context: map[string]any{
		"environments": map[string]any{"staging": staging, machineEnv: machine},
	}}); err != nil {
		return nil, err
	}
	templates, err := synth.Templates(outdir)
	if err != nil {
		return nil, err
	}
	joins := map[string]any{}
	for _, name := range []string{"staging", machineEnv} {
		stack := "hasura-auth-" + name + "-hasura"
		tmpl, err := parseTemplate(templates, stack)
		if err != nil {
			return nil, err
		}
		for _, r := range tmpl.Resources {
			if r.Type != "AWS::ECS::TaskDefinition" {
				continue
			}
			for _, c := range r.Properties["ContainerDefinitions"].([]any) {
				for _, e := range c.(map[string]any)["Environment"].([]any) {
					kv := e.(map[string]any)
					if kv["Name"] == "HASURA_GRAPHQL_JWT_SECRET" {
						joins[name] = kv["Value"]
					}
				}
			}
		}
		if joins[name] == nil {
			return nil, fmt.Errorf("no HASURA_GRAPHQL_JWT_SECRET in the task definition of %s", stack)
		}
	}
	identity, err := parseTemplate(templates, "hasura-auth-"+machineEnv+"-identity")
	if err != nil {
		return nil, err
	}
	for _, r := range identity.Resources {
		if r.Type != "AWS::Lambda::Function" {
			continue
		}
		fnEnv, _ := r.Properties["Environment"].(map[string]any)
		vars, _ := fnEnv["Variables"].(map[string]any)
		if t, ok := vars["MACHINE_TIERS"].(string); ok {
			machineTiers = t
		}
	}
	for _, r := range identity.Resources {
		if r.Type == "AWS::Cognito::UserPoolResourceServer" {
			resourceServer = r.Properties
		}
	}
	machineOutputs = identity.Outputs
	if resourceServer == nil {
		return nil, fmt.Errorf("hasura-auth-%s-identity has no resource server", machineEnv)
	}
	if machineTiers == "" {
		return nil, fmt.Errorf("no function of hasura-auth-%s-identity has MACHINE_TIERS", machineEnv)
	}
	return joins, nil
}

type template struct {
	Resources map[string]struct {
		Type       string
		Properties map[string]any
	}
	Outputs map[string]struct{ Value any }
}

func parseTemplate(templates map[string][]byte, stack string) (template, error) {
	var t template
	b, ok := templates[stack]
	if !ok {
		return t, fmt.Errorf("no %s template in the cloud assembly", stack)
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("%s: %w", stack, err)
	}
	return t, nil
}

// createResourceServer makes the machine environment's resource server in the pool as
// CloudFormation would, from the synthesized template's properties.
func createResourceServer() error {
	in := &cip.CreateResourceServerInput{UserPoolId: aws.String(env.PoolID)}
	in.Identifier, _ = resourceServerString("Identifier")
	in.Name, _ = resourceServerString("Name")
	scopes, _ := resourceServer["Scopes"].([]any)
	for _, sc := range scopes {
		m, _ := sc.(map[string]any)
		name, _ := m["ScopeName"].(string)
		desc, _ := m["ScopeDescription"].(string)
		in.Scopes = append(in.Scopes, ciptypes.ResourceServerScopeType{ScopeName: aws.String(name), ScopeDescription: aws.String(desc)})
	}
	if in.Identifier == nil || in.Name == nil || len(in.Scopes) == 0 {
		return fmt.Errorf("the synthesized resource server lacks an identifier, a name or scopes: %v", resourceServer)
	}
	if _, err := env.Cognito().CreateResourceServer(context.Background(), in); err != nil {
		return fmt.Errorf("create the resource server: %w", err)
	}
	return nil
}

func resourceServerString(k string) (*string, bool) {
	v, ok := resourceServer[k].(string)
	if !ok {
		return nil, false
	}
	return aws.String(v), true
}

// machineIdentityStack is the machine environment's identity stack, as claimsctl finds it.
const machineIdentityStack = "hasura-auth-" + machineEnv + "-identity"

// deployMachineOutputs stands the machine environment's identity stack up in moto's
// CloudFormation with the synthesized outputs claimsctl client reads: every literal one as
// synthesized (resource server, tiers, default validity, secret prefix), the pool's ID the
// emulator's, and the token endpoint the stand-in's (as the JWT secret's URLs point at
// cognito-local). moto cannot create the stack's Cognito resources, so its one resource is a
// placeholder, as in claimsctl's own tests.
func deployMachineOutputs() error {
	outs := map[string]any{}
	for name, o := range machineOutputs {
		if v, ok := o.Value.(string); ok {
			outs[name] = map[string]any{"Value": v}
		}
	}
	for name, v := range map[string]string{names.OutUserPoolID: env.PoolID, names.OutTokenEndpoint: env.TokenURL} {
		if _, ok := machineOutputs[name]; !ok {
			return fmt.Errorf("%s has no output %s", machineIdentityStack, name)
		}
		outs[name] = map[string]any{"Value": v}
	}
	for _, name := range []string{names.OutMachineResourceServer, names.OutMachineTiers, names.OutMachineDefaultValidity, names.OutMachineClientSecretPrefix} {
		if outs[name] == nil {
			return fmt.Errorf("%s has no literal output %s", machineIdentityStack, name)
		}
	}
	tmpl, _ := json.Marshal(map[string]any{
		"Resources": map[string]any{"Handle": map[string]any{"Type": "AWS::CloudFormation::WaitConditionHandle"}},
		"Outputs":   outs,
	})
	_, err := cloudformation.NewFromConfig(env.Moto.Config()).CreateStack(context.Background(), &cloudformation.CreateStackInput{
		StackName: aws.String(machineIdentityStack), TemplateBody: aws.String(string(tmpl)),
	})
	if err != nil {
		return fmt.Errorf("create %s in moto: %w", machineIdentityStack, err)
	}
	return nil
}

// resolveSecret fills the deploy-time tokens (the pool and client IDs the identity stack outputs)
// with the emulator's, then points the Cognito URLs at cognito-local. It returns the secret as
// synthesized and as pointed at the emulator.
func resolveSecret(v any) (raw, local jwtSecret, _ error) {
	join, ok := v.(map[string]any)["Fn::Join"].([]any)
	if !ok {
		return raw, local, fmt.Errorf("HASURA_GRAPHQL_JWT_SECRET is not an Fn::Join: %v", v)
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
				return raw, local, fmt.Errorf("unexpected token in the JWT secret: %v", p)
			}
		}
	}
	if err := json.Unmarshal([]byte(b.String()), &raw); err != nil {
		return raw, local, fmt.Errorf("the JWT secret is not JSON: %w: %s", err, b.String())
	}
	local = raw
	const cognito = "https://cognito-idp.us-east-1.amazonaws.com"
	local.JwkURL = strings.Replace(local.JwkURL, cognito, env.CognitoURL, 1)
	local.Issuer = strings.Replace(local.Issuer, cognito, env.CognitoURL, 1)
	return raw, local, nil
}

// ctl runs the claimsctl binary against the local chain.
func ctl(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	stdout, stderr, err := ctlStreams(t, stdin, args...)
	return stdout + stderr, err
}

// ctlStreams runs claimsctl like ctl, keeping its two streams apart: what a script parses (--json)
// is stdout alone, while the SDK may log a warning to stderr at any time (for one, about a
// connection the emulator closed before the SDK drained it).
func ctlStreams(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(claimsctl, append(args, env.ClaimsctlFlags()...)...)
	cmd.Env = append(os.Environ(), env.ClaimsctlEnv()...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}
