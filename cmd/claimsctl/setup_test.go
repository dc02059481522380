package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
	"github.com/hasura-auth-cdk/hasuraauth/internal/emulator"
	"github.com/hasura-auth-cdk/hasuraauth/stacks/names"
)

// Every command runs in-process, through the real SDK clients, against moto's server; Cognito's
// client-secret calls, which moto lacks, go to the stand-in in front of it.
var (
	moto          *emulator.Moto
	clientSecrets *emulator.ClientSecrets
)

func TestMain(m *testing.M) {
	// claims list and verify keep their resume state in the user's cache directory: a
	// directory of this run's own, not the developer's.
	cache, err := os.MkdirTemp("", "claimsctl-cache-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CACHE_HOME", cache)
	code := emulator.RunWithMoto(withClientSecrets{m}, &moto)
	os.RemoveAll(cache)
	os.Exit(code)
}

type withClientSecrets struct{ m *testing.M }

func (w withClientSecrets) Run() int {
	cs, err := emulator.StartClientSecrets(moto)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cs.Close()
	clientSecrets = cs
	// The SDK's service-specific endpoint setting: only Cognito goes through the stand-in.
	os.Setenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", cs.URL)
	return w.m.Run()
}

// machineScopes are the scopes every test environment's resource server declares.
var machineScopes = []string{"Query:Person", "Query:Work", "Mutation:Person:Create", "Mutation:Work:Create", "Mutation:Person:Delete"}

const project = "ctltest"

var envSeq atomic.Int64

// deployment is one environment as `make deploy` leaves it: both stacks with their outputs,
// and the resources they name.
type deployment struct {
	project, env, pool, table, secretArn, param, cluster, service string
	tokenEndpoint                                                 string

	idp *cip.Client
	// cs reaches Cognito through the client-secrets stand-in (ListUserPoolClientSecrets).
	cs  *cip.Client
	db  *dynamodb.Client
	sm  *secretsmanager.Client
	ps  *ssm.Client
	ecs *ecs.Client
}

func deploy(t *testing.T) *deployment {
	t.Helper()
	return deployAs(t, project, fmt.Sprintf("e%d", envSeq.Add(1)))
}

// deployAs creates the environment env of project (names must be unique within the package's moto),
// with machineAccess.
func deployAs(t *testing.T, project, env string) *deployment {
	t.Helper()
	return deployWith(t, project, env, true)
}

func deployWith(t *testing.T, project, env string, machines bool) *deployment {
	t.Helper()
	ctx := context.Background()
	cfg := moto.Config()
	d := &deployment{
		project: project, env: env,
		idp: cip.NewFromConfig(cfg), db: dynamodb.NewFromConfig(cfg), sm: secretsmanager.NewFromConfig(cfg),
		ps: ssm.NewFromConfig(cfg), ecs: ecs.NewFromConfig(cfg),
	}
	csCfg := cfg.Copy()
	csCfg.BaseEndpoint = aws.String(clientSecrets.URL)
	d.cs = cip.NewFromConfig(csCfg)
	pool, err := d.idp.CreateUserPool(ctx, &cip.CreateUserPoolInput{
		PoolName: aws.String(d.env + "-users"), UsernameAttributes: []ciptypes.UsernameAttributeType{ciptypes.UsernameAttributeTypeEmail},
	})
	require.NoError(t, err)
	d.pool = aws.ToString(pool.UserPool.Id)

	d.table = fmt.Sprintf("%s-%s-claims", project, d.env)
	require.NoError(t, emulator.CreateClaimsTable(ctx, d.db, d.table))

	key, _ := claims.GenerateKey()
	ring, _ := claims.NewKeyRing(key)
	sec, err := d.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(project + "/" + d.env + "/claims-key"), SecretString: aws.String(ring.SecretString())})
	require.NoError(t, err)
	d.secretArn = aws.ToString(sec.ARN)

	d.param = "/" + project + "/" + d.env + "/event-api-key"
	_, err = d.ps.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(d.param), Type: ssmtypes.ParameterTypeSecureString, Value: aws.String("initial-key-value")})
	require.NoError(t, err)

	d.cluster = project + "-" + d.env + "-hasura"
	_, err = d.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(d.cluster)})
	require.NoError(t, err)
	td, err := d.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(d.cluster), ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("hasura"), Image: aws.String("hasura/graphql-engine:v2.48.9"), Memory: aws.Int32(512)}},
	})
	require.NoError(t, err)
	d.service = d.cluster
	_, err = d.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(d.cluster), ServiceName: aws.String(d.service), TaskDefinition: td.TaskDefinition.TaskDefinitionArn, DesiredCount: aws.Int32(1)})
	require.NoError(t, err)

	outs := map[string]string{
		names.OutUserPoolID: d.pool, names.OutClaimsTableName: d.table, names.OutClaimsKeySecretArn: d.secretArn,
		names.OutEventAPIKeyParameterName: d.param,
	}
	if machines {
		// As the identity stack declares them (stacks tests assert the outputs' form).
		var scopes []ciptypes.ResourceServerScopeType
		for _, s := range machineScopes {
			scopes = append(scopes, ciptypes.ResourceServerScopeType{ScopeName: aws.String(s), ScopeDescription: aws.String(s)})
		}
		_, err := d.idp.CreateResourceServer(ctx, &cip.CreateResourceServerInput{UserPoolId: aws.String(d.pool), Identifier: aws.String(claims.MachineResourceServer), Name: aws.String(project + "-" + env + "-machines"), Scopes: scopes})
		require.NoError(t, err)
		d.tokenEndpoint = "https://" + project + "-" + env + ".auth." + emulator.Region + ".amazoncognito.com/oauth2/token"
		outs[names.OutMachineResourceServer] = claims.MachineResourceServer
		outs[names.OutTokenEndpoint] = d.tokenEndpoint
		outs[names.OutMachineTiers] = "internal=internal,readonly=readonly,syndication=syndication"
		outs[names.OutMachineDefaultValidity] = "1h"
		outs[names.OutMachineClientSecretPrefix] = project + "/" + env + "/clients/"
	}
	d.stack(t, names.IdentityStack(project, d.env), outs)
	d.stack(t, names.HasuraStack(project, d.env), map[string]string{names.OutClusterName: d.cluster, names.OutHasuraServiceName: d.service})
	return d
}

// stack creates a CloudFormation stack in moto whose outputs are the given values.
func (d *deployment) stack(t *testing.T, name string, outputs map[string]string) {
	t.Helper()
	outs := map[string]any{}
	for k, v := range outputs {
		outs[k] = map[string]any{"Value": v}
	}
	tmpl, _ := json.Marshal(map[string]any{
		"Resources": map[string]any{"Handle": map[string]any{"Type": "AWS::CloudFormation::WaitConditionHandle"}},
		"Outputs":   outs,
	})
	cf := cloudformation.NewFromConfig(moto.Config())
	_, err := cf.CreateStack(context.Background(), &cloudformation.CreateStackInput{StackName: aws.String(name), TemplateBody: aws.String(string(tmpl))})
	require.NoError(t, err)
}

// ctl runs claimsctl for this environment and returns stdout, stderr and the exit code.
func (d *deployment) ctl(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	return ctlRaw(t, stdin, append(args, "--project", d.project, "--env", d.env)...)
}

func ctlRaw(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func (d *deployment) ring(t *testing.T) *claims.KeyRing {
	t.Helper()
	out, err := d.sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(d.secretArn), VersionStage: aws.String("AWSCURRENT")})
	require.NoError(t, err)
	r, err := claims.ParseKeyRing(aws.ToString(out.SecretString))
	require.NoError(t, err)
	return r
}

// tokenClaims reads a user's item and returns what the pre-token Lambda would put in a token,
// through the same internal/claims code path, with the ring the secret holds now, for the user
// signing in with their Cognito sub (or, without a Cognito user, the identity the item is bound
// to). Unbound items are accepted, as in an environment with claims.allowUnbound.
func (d *deployment) tokenClaims(t *testing.T, email string) (claims.Claims, error) {
	t.Helper()
	got, err := d.db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(d.table), Key: key(email), ConsistentRead: aws.Bool(true)})
	require.NoError(t, err)
	if len(got.Item) == 0 {
		return nil, fmt.Errorf("no item for %s", email)
	}
	rec, err := claims.RecordFromItem(got.Item)
	if err != nil {
		return nil, err
	}
	stored, bind, err := claims.Decode(d.ring(t), rec)
	if err != nil {
		return nil, err
	}
	sub := "sub-from-event"
	if u, ok := d.user(t, email); ok {
		sub = attr(u.UserAttributes, "sub")
	} else if bind != nil && bind.Identity != "" {
		sub = bind.Identity
	} else if rec.CognitoUUID != "" {
		sub = rec.CognitoUUID
	}
	return claims.ForToken(stored, bind, rec, claims.Identity{Sub: sub})
}

// binding returns the binding sealed into a user's item (nil: unbound).
// binding returns the binding sealed into a user's item (nil: unbound), without its
// generation, which rises with every write (generation returns it; replay_test.go asserts it).
func (d *deployment) binding(t *testing.T, email string) *claims.Binding {
	t.Helper()
	b := d.sealedBinding(t, email)
	if b != nil {
		b.Gen = 0
	}
	return b
}

// generation is the generation sealed into a user's item.
func (d *deployment) generation(t *testing.T, email string) uint64 {
	t.Helper()
	b := d.sealedBinding(t, email)
	require.NotNil(t, b)
	return b.Gen
}

func (d *deployment) sealedBinding(t *testing.T, email string) *claims.Binding {
	t.Helper()
	got, err := d.db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(d.table), Key: key(email), ConsistentRead: aws.Bool(true)})
	require.NoError(t, err)
	rec, err := claims.RecordFromItem(got.Item)
	require.NoError(t, err)
	_, b, err := claims.Decode(d.ring(t), rec)
	require.NoError(t, err)
	return b
}

func (d *deployment) user(t *testing.T, email string) (*cip.AdminGetUserOutput, bool) {
	t.Helper()
	u, err := d.idp.AdminGetUser(context.Background(), &cip.AdminGetUserInput{UserPoolId: aws.String(d.pool), Username: aws.String(email)})
	if err != nil {
		require.True(t, cognitoNotFound(err), "unexpected error: %v", err)
		return nil, false
	}
	return u, true
}

func (d *deployment) itemCount(t *testing.T) int {
	t.Helper()
	out, err := d.db.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(d.table), Select: ddbtypes.SelectCount})
	require.NoError(t, err)
	return int(out.Count)
}

func (d *deployment) putToken(t *testing.T, email, token string) {
	t.Helper()
	_, err := d.db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(d.table), Item: claims.Record{UserID: email, Claims: token}.Item()})
	require.NoError(t, err)
}

func getInput(table, email string) *dynamodb.GetItemInput {
	return &dynamodb.GetItemInput{TableName: aws.String(table), Key: key(email), ConsistentRead: aws.Bool(true)}
}

func putInput(table string, item map[string]ddbtypes.AttributeValue) *dynamodb.PutItemInput {
	return &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}
}
