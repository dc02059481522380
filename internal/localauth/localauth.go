// Package localauth runs the whole auth chain on this machine with real components: moto's
// server (DynamoDB, Secrets Manager), the built pre-token bootstrap under a local Lambda Runtime
// API, a local Lambda Invoke API in front of it, and cognito-local, which calls that Invoke API
// for its PreTokenGeneration trigger and serves the pool's JWKS. The e2e tests and `make local`
// both use it. Everything binds to 127.0.0.1 on free ports; Stop ends every process it started.
package localauth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
	"github.com/hasura-auth-cdk/hasuraauth/internal/emulator"
	"github.com/hasura-auth-cdk/hasuraauth/internal/gobuild"
)

// FunctionName is the trigger's name in cognito-local's configuration.
const FunctionName = "pretoken"

// Env is a running local auth chain.
type Env struct {
	Moto        *emulator.Moto
	CognitoURL  string // cognito-local: the Cognito IdP API, and <url>/<pool>/.well-known/jwks.json
	InvokeURL   string // the local Lambda Invoke API cognito-local calls
	PoolID      string
	ClientID    string
	Table       string
	SecretArn   string
	invocations atomic.Int64

	// Migration is the old pool and the UserMigration trigger (nil without Options.Migration).
	Migration *Migration

	dir       string
	runtime   *emulator.RuntimeAPI
	bootstrap *exec.Cmd
	invoke    *http.Server
	cognito   *exec.Cmd
	signOut   *signOutStandIn // AdminUserGlobalSignOut, first on the API path (APIURL)
	logs      io.Writer

	// APIURL is cognito-local's API behind the stand-ins for the calls it lacks (resource
	// servers, second client secrets), TokenURL the token endpoint stand-in (client-credentials
	// grant): see tokenendpoint.go.
	APIURL   string
	TokenURL string
	secrets  *emulator.ClientSecrets
	standIns *http.Server
}

// Options configure Start.
type Options struct {
	ModuleRoot string    // where go.mod and node_modules are
	Logs       io.Writer // emulator and Lambda output; nil discards it
	// MachineTiers is the Lambda's MACHINE_TIERS (machineAccess.tiers as the stack renders it);
	// empty: machine access off, every client-credentials token refused.
	MachineTiers string
	// Migration adds an old pool whose users the new pool's UserMigration trigger takes over
	// (migration.go).
	Migration bool
}

// Start brings the chain up. On error, whatever was started is stopped again.
func Start(ctx context.Context, o Options) (_ *Env, err error) {
	e := &Env{logs: o.Logs}
	if e.logs == nil {
		e.logs = io.Discard
	}
	defer func() {
		if err != nil {
			e.Stop()
		}
	}()
	if e.dir, err = os.MkdirTemp("", "localauth-*"); err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	if e.Moto, err = emulator.StartMoto(); err != nil {
		return nil, err
	}
	if err = e.claimsStore(ctx); err != nil {
		return nil, err
	}
	if err = e.startLambda(o.ModuleRoot, o.MachineTiers); err != nil {
		return nil, err
	}
	if err = e.startInvokeAPI(); err != nil {
		return nil, err
	}
	if o.Migration {
		e.Migration = &Migration{}
	}
	if err = e.startCognito(ctx, o.ModuleRoot); err != nil {
		return nil, err
	}
	if e.Migration != nil {
		if err = e.startMigration(ctx, o.ModuleRoot); err != nil {
			return nil, err
		}
	}
	if err = e.startStandIns(o.ModuleRoot); err != nil {
		return nil, err
	}
	// The sign-out stand-in goes first on the API path (signout.go); the token endpoint keeps
	// its own address.
	if e.signOut, err = startSignOutStandIn(e.APIURL); err != nil {
		return nil, err
	}
	e.APIURL = e.signOut.url
	return e, nil
}

func (e *Env) claimsStore(ctx context.Context) error {
	cfg := e.Moto.Config()
	e.Table = "local-claims"
	if err := emulator.CreateClaimsTable(ctx, dynamodb.NewFromConfig(cfg), e.Table); err != nil {
		return err
	}
	key, err := claims.GenerateKey()
	if err != nil {
		return err
	}
	ring, err := claims.NewKeyRing(key)
	if err != nil {
		return err
	}
	out, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("local/claims-key"), SecretString: aws.String(ring.SecretString()),
	})
	if err != nil {
		return fmt.Errorf("create claims key secret: %w", err)
	}
	e.SecretArn = aws.ToString(out.ARN)
	return nil
}

// startLambda builds lambda/pretoken as it is deployed (for this machine's architecture) and
// runs it under the local Runtime API with the contract's environment.
func (e *Env) startLambda(moduleRoot, machineTiers string) error {
	bin := filepath.Join(e.dir, "bootstrap")
	if err := gobuild.LambdaForHost(moduleRoot, "lambda/pretoken", bin); err != nil {
		return err
	}
	rt, err := emulator.StartRuntimeAPI()
	if err != nil {
		return err
	}
	e.runtime = rt
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), e.Moto.Env()...)
	cmd.Env = append(cmd.Env, "AWS_LAMBDA_RUNTIME_API="+rt.Addr(), "AWS_LAMBDA_FUNCTION_NAME="+FunctionName,
		"CLAIMS_TABLE_NAME="+e.Table, "CLAIMS_KEY_SECRET_ID="+e.SecretArn, "CLAIMS_KEY_CACHE_TTL=5m")
	if machineTiers != "" {
		cmd.Env = append(cmd.Env, "MACHINE_TIERS="+machineTiers)
	}
	cmd.Stdout, cmd.Stderr = e.logs, e.logs
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start bootstrap: %w", err)
	}
	e.bootstrap = cmd
	return nil
}

// startInvokeAPI serves Lambda's Invoke API (POST /2015-03-31/functions/{name}/invocations) for
// cognito-local, handing each event to the bootstrap through the Runtime API.
func (e *Env) startInvokeAPI() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("invoke API: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", func(w http.ResponseWriter, r *http.Request) {
		event, _ := io.ReadAll(r.Body)
		if e.Migration != nil && e.Migration.serve(w, r.Context(), r.PathValue("name"), event) {
			return
		}
		if r.PathValue("name") != FunctionName {
			w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
			http.Error(w, `{"Type":"User","message":"Function not found"}`, http.StatusNotFound)
			return
		}
		e.invocations.Add(1)
		out, err := e.runtime.Invoke(r.Context(), normalizeEvent(event), 5*time.Second)
		writeInvocation(w, out, err)
	})
	e.invoke = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = e.invoke.Serve(l) }()
	e.InvokeURL = "http://" + l.Addr().String()
	return nil
}

// normalizeEvent adapts cognito-local to the real service in the one place they differ: for a
// V1_0 PreTokenGeneration trigger Cognito sends "version": "1", cognito-local sends "0". The
// handler, rightly, refuses versions it does not know.
func normalizeEvent(event []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(event, &m) != nil {
		return event
	}
	if v, ok := m["version"]; ok && string(v) == `"0"` {
		m["version"] = json.RawMessage(`"1"`)
	}
	out, err := json.Marshal(m)
	if err != nil {
		return event
	}
	return out
}

func (e *Env) startCognito(ctx context.Context, moduleRoot string) error {
	script := filepath.Join(moduleRoot, "node_modules", "cognito-local", "lib", "bin", "start.js")
	if _, err := os.Stat(script); err != nil {
		return fmt.Errorf("cognito-local is not installed (%s): run npm ci (make deps)", script)
	}
	triggers := map[string]string{"PreTokenGeneration": FunctionName}
	if e.Migration != nil {
		triggers["UserMigration"] = MigrationFunctionName
	}
	conf := map[string]any{
		"LambdaClient": map[string]any{
			"endpoint": e.InvokeURL, "region": emulator.Region,
			"credentials": map[string]string{"accessKeyId": "local", "secretAccessKey": "local"},
		},
		"TriggerFunctions": triggers,
	}
	if err := os.MkdirAll(filepath.Join(e.dir, ".cognito"), 0o755); err != nil {
		return err
	}
	b, _ := json.Marshal(conf)
	if err := os.WriteFile(filepath.Join(e.dir, ".cognito", "config.json"), b, 0o644); err != nil {
		return err
	}
	port, err := emulator.FreePort()
	if err != nil {
		return err
	}
	cmd := exec.Command("node", script)
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port), "HOST=127.0.0.1")
	cmd.Stdout, cmd.Stderr = e.logs, e.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start cognito-local: %w", err)
	}
	e.cognito = cmd
	e.CognitoURL = fmt.Sprintf("http://127.0.0.1:%d", port)

	idp := e.Cognito()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := idp.ListUserPools(ctx, &cip.ListUserPoolsInput{MaxResults: aws.Int32(1)})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cognito-local did not answer on %s: %w", e.CognitoURL, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	pool, err := idp.CreateUserPool(ctx, &cip.CreateUserPoolInput{
		PoolName:           aws.String("local-users"),
		UsernameAttributes: []ciptypes.UsernameAttributeType{ciptypes.UsernameAttributeTypeEmail},
	})
	if err != nil {
		return fmt.Errorf("create user pool: %w", err)
	}
	e.PoolID = aws.ToString(pool.UserPool.Id)
	client, err := idp.CreateUserPoolClient(ctx, &cip.CreateUserPoolClientInput{
		UserPoolId: aws.String(e.PoolID), ClientName: aws.String("local-spa"),
		// The deployed client allows SRP and refresh; cognito-local has no SRP, so password auth here.
		ExplicitAuthFlows: []ciptypes.ExplicitAuthFlowsType{ciptypes.ExplicitAuthFlowsTypeAllowUserPasswordAuth, ciptypes.ExplicitAuthFlowsTypeAllowRefreshTokenAuth},
	})
	if err != nil {
		return fmt.Errorf("create user pool client: %w", err)
	}
	e.ClientID = aws.ToString(client.UserPoolClient.ClientId)
	return nil
}

// Cognito returns a Cognito IdP client for cognito-local (through the stand-ins once they run).
func (e *Env) Cognito() *cip.Client {
	url := e.CognitoURL
	if e.APIURL != "" {
		url = e.APIURL
	}
	return cip.NewFromConfig(aws.Config{
		Region: emulator.Region, Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint: aws.String(url),
	})
}

// Invocations counts the trigger invocations so far.
func (e *Env) Invocations() int64 { return e.invocations.Load() }

// Issuer is the pool's issuer on cognito-local.
func (e *Env) Issuer() string { return e.CognitoURL + "/" + e.PoolID }

// ClaimsctlEnv is the environment under which claimsctl (or any SDK) talks to this chain:
// Cognito at cognito-local (through the stand-ins, sign-out's included), everything else at moto.
func (e *Env) ClaimsctlEnv() []string {
	return append(e.Moto.Env(), "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER="+e.APIURL)
}

// ClaimsctlFlags name the resources for claimsctl, so that it reads no stack.
func (e *Env) ClaimsctlFlags() []string {
	return []string{"--user-pool", e.PoolID, "--table", e.Table, "--key-secret", e.SecretArn}
}

// SignInCommand is a curl command a person can paste to sign in.
func (e *Env) SignInCommand(email, password string) string {
	body, _ := json.Marshal(map[string]any{
		"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": e.ClientID,
		"AuthParameters": map[string]string{"USERNAME": email, "PASSWORD": password},
	})
	return fmt.Sprintf("curl -s %s/ -H 'Content-Type: application/x-amz-json-1.1' -H 'X-Amz-Target: AWSCognitoIdentityProviderService.InitiateAuth' -d '%s'",
		e.CognitoURL, strings.ReplaceAll(string(body), "'", `'\''`))
}

// Stop ends every process and server Start began, and removes its files.
func (e *Env) Stop() {
	if e.signOut != nil {
		e.signOut.close()
	}
	if e.cognito != nil && e.cognito.Process != nil {
		_ = syscall.Kill(-e.cognito.Process.Pid, syscall.SIGTERM)
		_ = e.cognito.Wait()
	}
	if e.standIns != nil {
		_ = e.standIns.Close()
	}
	if e.secrets != nil {
		e.secrets.Close()
	}
	if e.invoke != nil {
		_ = e.invoke.Close()
	}
	if e.Migration != nil {
		e.Migration.stop()
	}
	if e.bootstrap != nil && e.bootstrap.Process != nil {
		_ = e.bootstrap.Process.Kill()
		_ = e.bootstrap.Wait()
	}
	if e.runtime != nil {
		e.runtime.Close()
	}
	if e.Moto != nil {
		e.Moto.Stop()
	}
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
	}
}

// Lines is a writer that prefixes each line, for readable combined logs.
type Lines struct {
	W      io.Writer
	Prefix string
	buf    bytes.Buffer
}

func (l *Lines) Write(p []byte) (int, error) {
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err != nil {
			l.buf.WriteString(line)
			return len(p), nil
		}
		fmt.Fprint(l.W, l.Prefix+line)
	}
}
