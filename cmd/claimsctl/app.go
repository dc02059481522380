package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
	"github.com/hasura-auth-cdk/hasuraauth/stacks/names"
)

type globals struct {
	env, project, region, profile string
	identityStack, hasuraStack    string
	userPool, table, keySecret    string
	apiKeyParam, cluster, service string
	json                          bool
}

var globalFlag = map[string]bool{}

func (g *globals) register(fs *flag.FlagSet) {
	str := func(p *string, name, usage string) {
		fs.StringVar(p, name, "", usage)
		globalFlag[name] = true
	}
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
	fs.BoolVar(&g.json, "json", false, "machine-readable output")
	globalFlag["json"] = true
}

// app is one command's view of the environment: clients, resolved resource names, output.
type app struct {
	g      *globals
	stdin  io.Reader
	out    *printer
	stderr io.Writer

	cfg     *aws.Config
	outputs map[string]map[string]string // stack -> output -> value
}

func (a *app) config(ctx context.Context) (aws.Config, error) {
	if a.cfg != nil {
		return *a.cfg, nil
	}
	var opts []func(*awsconfig.LoadOptions) error
	if a.g.region != "" {
		opts = append(opts, awsconfig.WithRegion(a.g.region))
	}
	if a.g.profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(a.g.profile))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, usagef("no AWS region: pass --region or set AWS_REGION")
	}
	a.cfg = &cfg
	return cfg, nil
}

func (a *app) cognito(ctx context.Context) (*cognitoidentityprovider.Client, error) {
	cfg, err := a.config(ctx)
	return cognitoidentityprovider.NewFromConfig(cfg), err
}

func (a *app) dynamo(ctx context.Context) (*dynamodb.Client, error) {
	cfg, err := a.config(ctx)
	return dynamodb.NewFromConfig(cfg), err
}

func (a *app) secrets(ctx context.Context) (*secretsmanager.Client, error) {
	cfg, err := a.config(ctx)
	return secretsmanager.NewFromConfig(cfg), err
}

func (a *app) ssm(ctx context.Context) (*ssm.Client, error) {
	cfg, err := a.config(ctx)
	return ssm.NewFromConfig(cfg), err
}

func (a *app) ecs(ctx context.Context) (*ecs.Client, error) {
	cfg, err := a.config(ctx)
	return ecs.NewFromConfig(cfg), err
}

// stackName returns the identity or Hasura stack name: the flag, or <project>-<env>-<kind>.
func (a *app) stackName(kind string) (string, error) {
	if kind == "identity" && a.g.identityStack != "" {
		return a.g.identityStack, nil
	}
	if kind == "hasura" && a.g.hasuraStack != "" {
		return a.g.hasuraStack, nil
	}
	if a.g.env == "" {
		return "", usagef("which environment? pass --env NAME (or --%s-stack, or every resource flag)", kind)
	}
	project := a.g.project
	if project == "" {
		p, err := projectFromCDKJSON("cdk.json")
		if err != nil {
			return "", err
		}
		project = p
	}
	if kind == "identity" {
		return names.IdentityStack(project, a.g.env), nil
	}
	return names.HasuraStack(project, a.g.env), nil
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
func (a *app) resource(ctx context.Context, override, kind, output string) (string, error) {
	if override != "" {
		return override, nil
	}
	stack, err := a.stackName(kind)
	if err != nil {
		return "", err
	}
	outs, err := a.stackOutputs(ctx, stack)
	if err != nil {
		return "", err
	}
	v, ok := outs[output]
	if !ok || v == "" {
		return "", fmt.Errorf("stack %s has no output %s: is it a stack of this app? (or pass the resource flag)", stack, output)
	}
	return v, nil
}

func (a *app) stackOutputs(ctx context.Context, stack string) (map[string]string, error) {
	if o, ok := a.outputs[stack]; ok {
		return o, nil
	}
	cfg, err := a.config(ctx)
	if err != nil {
		return nil, err
	}
	out, err := cloudformation.NewFromConfig(cfg).DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "ValidationError" && strings.Contains(ae.ErrorMessage(), "does not exist") {
			return nil, fmt.Errorf("stack %s does not exist in %s: deploy it (make deploy ENV=%s), or check --env, --project and --region", stack, cfg.Region, a.g.env)
		}
		return nil, fmt.Errorf("read outputs of stack %s in %s: %w", stack, cfg.Region, err)
	}
	if len(out.Stacks) == 0 {
		return nil, fmt.Errorf("stack %s not found in %s", stack, cfg.Region)
	}
	m := map[string]string{}
	for _, o := range out.Stacks[0].Outputs {
		m[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	if a.outputs == nil {
		a.outputs = map[string]map[string]string{}
	}
	a.outputs[stack] = m
	return m, nil
}

func (a *app) userPool(ctx context.Context) (string, error) {
	return a.resource(ctx, a.g.userPool, "identity", names.OutUserPoolID)
}

func (a *app) table(ctx context.Context) (string, error) {
	return a.resource(ctx, a.g.table, "identity", names.OutClaimsTableName)
}

func (a *app) keySecret(ctx context.Context) (string, error) {
	return a.resource(ctx, a.g.keySecret, "identity", names.OutClaimsKeySecretArn)
}

// keyRing reads the claims key ring, the same way the Lambda does.
func (a *app) keyRing(ctx context.Context) (*claims.KeyRing, string, error) {
	id, err := a.keySecret(ctx)
	if err != nil {
		return nil, "", err
	}
	sm, err := a.secrets(ctx)
	if err != nil {
		return nil, "", err
	}
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return nil, id, fmt.Errorf("read claims key secret %s: %w (check your credentials can read it)", id, err)
	}
	ring, err := claims.ParseKeyRing(aws.ToString(out.SecretString))
	if err != nil {
		return nil, id, fmt.Errorf("claims key secret %s: %w", id, err)
	}
	return ring, id, nil
}

// claimsStore is what the claims commands work on: the table, the key ring read from its secret,
// and a DynamoDB client.
type claimsStore struct {
	table, secretID string
	ring            *claims.KeyRing
	db              *dynamodb.Client
}

// store resolves the claims table and reads the key ring, before a command writes anything.
func (a *app) store(ctx context.Context) (*claimsStore, error) {
	table, err := a.table(ctx)
	if err != nil {
		return nil, err
	}
	ring, id, err := a.keyRing(ctx)
	if err != nil {
		return nil, err
	}
	db, err := a.dynamo(ctx)
	if err != nil {
		return nil, err
	}
	return &claimsStore{table: table, secretID: id, ring: ring, db: db}, nil
}

// printer writes tables for people and JSON for scripts.
type printer struct {
	w    io.Writer
	json bool
}

func newPrinter(w io.Writer, asJSON bool) *printer { return &printer{w: w, json: asJSON} }

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
