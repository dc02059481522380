package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
	"github.com/hasura-auth-cdk/hasuraauth/stacks/names"
)

// globals are the flags every command accepts, anywhere on the line.
type globals struct {
	env, project, region, profile string
	identityStack, hasuraStack    string
	userPool, table, keySecret    string
	apiKeyParam, cluster, service string
	tokenEndpoint                 string
	json                          bool
	lockWait                      time.Duration
}

// globalTakesValue lists the global flags that take a value, so that the value is not taken
// for a command word (see splitCommand). register defines exactly these, plus --json.
var globalTakesValue = map[string]bool{
	"env": true, "project": true, "region": true, "profile": true, "identity-stack": true, "hasura-stack": true,
	"user-pool": true, "table": true, "key-secret": true, "api-key-parameter": true, "cluster": true, "service": true,
	"lock-wait": true, "token-endpoint": true,
}

func isGlobal(name string) bool { return globalTakesValue[name] || name == "json" }

func (g *globals) register(fs *flag.FlagSet) {
	str := func(p *string, name, usage string) { fs.StringVar(p, name, "", usage) }
	str(&g.env, "env", "environment name")
	str(&g.project, "project", "project name (default: ./cdk.json)")
	str(&g.region, "region", "AWS region")
	str(&g.profile, "profile", "AWS shared-config profile")
	str(&g.identityStack, "identity-stack", "identity stack name")
	str(&g.hasuraStack, "hasura-stack", "Hasura stack name")
	str(&g.userPool, "user-pool", "Cognito user pool ID")
	str(&g.table, "table", "claims table name")
	str(&g.keySecret, "key-secret", "claims key secret ARN or name")
	str(&g.apiKeyParam, "api-key-parameter", "event API key parameter name")
	str(&g.cluster, "cluster", "ECS cluster name")
	str(&g.service, "service", "Hasura ECS service name")
	str(&g.tokenEndpoint, "token-endpoint", "token endpoint URL claimsctl client add prints and stores")
	fs.DurationVar(&g.lockWait, "lock-wait", 2*time.Minute, "how long to wait for another run's key-ring lock")
	fs.BoolVar(&g.json, "json", false, "machine-readable output")
}

// env is one run's view of the environment: the AWS clients (from one configuration, loaded
// once), the resolved resource names, and where output goes.
type env struct {
	g        *globals
	stdin    io.Reader
	out      *printer
	stderr   io.Writer
	progress io.Writer // a terminal's stderr, else nil: no progress line

	region string
	idp    *cip.Client
	db     *dynamodb.Client
	sm     *secretsmanager.Client
	ps     *ssm.Client
	ecs    *ecs.Client
	cfn    *cloudformation.Client

	outputs map[string]map[string]string // stack -> output -> value
}

func newEnv(ctx context.Context, g *globals, stdin io.Reader, stdout, stderr io.Writer) (*env, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithHTTPClient(httpClient())}
	if g.region != "" {
		opts = append(opts, awsconfig.WithRegion(g.region))
	}
	if g.profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(g.profile))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, usagef("no AWS region: pass --region or set AWS_REGION")
	}
	x := &env{
		g: g, stdin: stdin, out: &printer{w: stdout, json: g.json}, stderr: stderr, region: cfg.Region,
		idp: cip.NewFromConfig(cfg), db: dynamodb.NewFromConfig(cfg), sm: secretsmanager.NewFromConfig(cfg),
		ps: ssm.NewFromConfig(cfg), ecs: ecs.NewFromConfig(cfg), cfn: cloudformation.NewFromConfig(cfg),
	}
	if f, ok := stderr.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			x.progress = stderr
		}
	}
	return x, nil
}

// maxWorkers bounds --workers.
const maxWorkers = 256

// httpClient is the SDK's HTTP client with enough idle connections for every worker: the SDK
// keeps 10 per host by default, so with more workers every request beyond the tenth would open
// (and, after it, close) a TCP and TLS connection of its own.
func httpClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns = 2 * maxWorkers
		tr.MaxIdleConnsPerHost = maxWorkers
	})
}

// stackName returns the identity or Hasura stack name: the flag, or <project>-<env>-<kind>.
func (x *env) stackName(kind string) (string, error) {
	if kind == "identity" && x.g.identityStack != "" {
		return x.g.identityStack, nil
	}
	if kind == "hasura" && x.g.hasuraStack != "" {
		return x.g.hasuraStack, nil
	}
	if x.g.env == "" {
		return "", usagef("which environment? pass --env NAME (or --%s-stack, or every resource flag)", kind)
	}
	project := x.g.project
	if project == "" {
		p, err := projectFromCDKJSON("cdk.json")
		if err != nil {
			return "", err
		}
		project = p
	}
	if kind == "identity" {
		return names.IdentityStack(project, x.g.env), nil
	}
	return names.HasuraStack(project, x.g.env), nil
}

func projectFromCDKJSON(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", usagef("no --project given and no ./cdk.json to read it from: pass --project NAME")
	}
	var f struct {
		Context struct {
			Project string `json:"project"`
		} `json:"context"`
	}
	if err := json.Unmarshal(b, &f); err != nil || f.Context.Project == "" {
		return "", usagef("%s has no context.project: pass --project NAME", path)
	}
	return f.Context.Project, nil
}

// resource returns a resource name: the override flag if set, else the stack output.
func (x *env) resource(ctx context.Context, override, kind, output string) (string, error) {
	if override != "" {
		return override, nil
	}
	stack, err := x.stackName(kind)
	if err != nil {
		return "", err
	}
	outs, err := x.stackOutputs(ctx, stack)
	if err != nil {
		return "", err
	}
	v, ok := outs[output]
	if !ok || v == "" {
		return "", fmt.Errorf("stack %s has no output %s: is it a stack of this app? (or pass the resource flag)", stack, output)
	}
	return v, nil
}

func (x *env) stackOutputs(ctx context.Context, stack string) (map[string]string, error) {
	if o, ok := x.outputs[stack]; ok {
		return o, nil
	}
	out, err := x.cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "ValidationError" && strings.Contains(ae.ErrorMessage(), "does not exist") {
			return nil, fmt.Errorf("stack %s does not exist in %s: deploy it (make deploy ENV=%s), or check --env, --project and --region", stack, x.region, x.g.env)
		}
		return nil, fmt.Errorf("read outputs of stack %s in %s: %w", stack, x.region, err)
	}
	if len(out.Stacks) == 0 {
		return nil, fmt.Errorf("stack %s not found in %s", stack, x.region)
	}
	m := map[string]string{}
	for _, o := range out.Stacks[0].Outputs {
		m[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	if x.outputs == nil {
		x.outputs = map[string]map[string]string{}
	}
	x.outputs[stack] = m
	return m, nil
}

func (x *env) userPool(ctx context.Context) (string, error) {
	return x.resource(ctx, x.g.userPool, "identity", names.OutUserPoolID)
}

// store resolves the claims table and key secret; it reads nothing yet.
func (x *env) store(ctx context.Context, workers int) (*store, error) {
	table, err := x.resource(ctx, x.g.table, "identity", names.OutClaimsTableName)
	if err != nil {
		return nil, err
	}
	secret, err := x.resource(ctx, x.g.keySecret, "identity", names.OutClaimsKeySecretArn)
	if err != nil {
		return nil, err
	}
	if workers < 1 {
		workers = 1
	}
	return &store{table: table, secretID: secret, db: x.db, sm: x.sm, lockWait: x.g.lockWait, workers: workers, progress: x.progress, stderr: x.stderr, region: x.region}, nil
}

// target is what every command about one user starts from: the normalized email, the user
// pool and the claims store. Everything is resolved before anything is written.
type target struct {
	email string
	pool  string // "" when the command needs no pool
	st    *store
	idp   *cip.Client
}

// resolve is the one opening of the one-user commands: the EMAIL argument, then the pool (if
// needed) and the claims store.
func (x *env) resolve(ctx context.Context, pos []string, needPool bool) (*target, error) {
	e, err := emailArg(pos)
	if err != nil {
		return nil, err
	}
	t := &target{email: e, idp: x.idp}
	if needPool {
		if t.pool, err = x.userPool(ctx); err != nil {
			return nil, err
		}
	}
	if t.st, err = x.store(ctx, 1); err != nil {
		return nil, err
	}
	return t, nil
}

func emailArg(pos []string) (string, error) {
	if err := positional(pos, "EMAIL"); err != nil {
		return "", err
	}
	if claims.IsClientItem(strings.ToLower(strings.TrimSpace(pos[0]))) {
		// Their items share the table with machine clients' records: refuse even a valid email
		// that would read as one.
		return "", usagef("%q starts with %s, the key of machine clients' records: use claimsctl client ... for machine clients; nothing was changed", pos[0], claims.ClientPrefix)
	}
	e, err := claims.NormalizeEmail(pos[0])
	if err != nil {
		return "", usagef("%v", err)
	}
	return e, nil
}

// printer writes tables for people and JSON for scripts.
type printer struct {
	w    io.Writer
	json bool
}

// result prints v as JSON, or the message for people.
func (p *printer) result(v any, message string, args ...any) {
	if p.json {
		enc := json.NewEncoder(p.w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v)
		return
	}
	fmt.Fprintf(p.w, message+"\n", args...)
}

// table prints rows under headers, or the rows as JSON objects keyed by header.
func (p *printer) table(headers []string, rows [][]string) {
	if p.json {
		objs := make([]map[string]string, 0, len(rows))
		for _, r := range rows {
			o := map[string]string{}
			for i, h := range headers {
				o[strings.ToLower(strings.ReplaceAll(h, " ", "_"))] = r[i]
			}
			objs = append(objs, o)
		}
		p.result(objs, "")
		return
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(headers, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	_ = tw.Flush()
}
