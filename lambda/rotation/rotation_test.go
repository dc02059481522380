package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/emulator"
)

// Rotation runs against moto's Secrets Manager and ECS (moto implements UpdateService with
// forceNewDeployment, which gives the primary deployment a new id and createdAt, and
// DescribeServices), and a real PostgreSQL server set up the way RDS sets one up: the master user
// is not a superuser but has CREATEROLE and CREATEDB, and owns the application's database.
var (
	moto *emulator.Moto
	pg   *emulator.Postgres
)

// superuserPassword belongs to the server's bootstrap superuser, RDS's rdsadmin: only the test
// setup uses it.
const superuserPassword = "Superuser0Password0For0Tests0Only"

func TestMain(m *testing.M) {
	var err error
	if moto, err = emulator.StartMoto(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if pg, err = emulator.StartPostgres("rdsadmin", superuserPassword); err != nil {
		moto.Stop()
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	pg.Stop()
	moto.Stop()
	os.Exit(code)
}

var seq atomic.Int64

// template is the part of the synthesized staging template the deployed secrets come from.
type template struct {
	Resources map[string]struct {
		Type       string
		Properties map[string]any
	}
}

func snapshot(t *testing.T) template {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/snapshots/hasura-auth-staging-hasura.template.json")
	require.NoError(t, err)
	var tpl template
	require.NoError(t, json.Unmarshal(raw, &tpl))
	return tpl
}

func (tpl template) secret(t *testing.T, suffix string) map[string]any {
	t.Helper()
	for _, r := range tpl.Resources {
		if name, _ := r.Properties["Name"].(string); r.Type == "AWS::SecretsManager::Secret" && strings.HasSuffix(name, suffix) {
			return r.Properties
		}
	}
	t.Fatalf("no secret named *%s in the template", suffix)
	return nil
}

// deployed is what a deployment of the synthesized template holds: the credentials secret as
// CloudFormation generates it (SecretStringTemplate + the generated password) plus what the RDS
// secret attachment adds, and the URL secret as CloudFormation joins it from dynamic references.
type deployed struct {
	credentials string
	url         string
	master      string
	password    string
	dbname      string
}

var resolveRef = regexp.MustCompile(`\{\{resolve:secretsmanager:REF:SecretString:(\w+)::\}\}`)

// deploy creates, on the local server, what RDS creates for the template (the master user with
// RDS's attributes and the database of the URL), and returns the deployed secret values. suffix
// keeps tests apart: roles are cluster-wide.
func deploy(t *testing.T, sm *secretsmanager.Client, suffix string) deployed {
	t.Helper()
	ctx := context.Background()
	tpl := snapshot(t)
	gen := tpl.secret(t, "/database-credentials")["GenerateSecretString"].(map[string]any)
	var creds map[string]any
	require.NoError(t, json.Unmarshal([]byte(gen["SecretStringTemplate"].(string)), &creds))
	assert.NotContains(t, creds, "dbname", "the generated secret names no database: the rotation must not need one")
	pw, err := sm.GetRandomPassword(ctx, &secretsmanager.GetRandomPasswordInput{
		PasswordLength: aws.Int64(int64(gen["PasswordLength"].(float64))), ExcludeCharacters: aws.String(gen["ExcludeCharacters"].(string)),
	})
	require.NoError(t, err)
	creds["username"] = creds["username"].(string) + suffix
	creds[gen["GenerateStringKey"].(string)] = aws.ToString(pw.RandomPassword)
	// What AWS::SecretsManager::SecretTargetAttachment adds for an RDS instance.
	creds["engine"], creds["host"], creds["port"], creds["dbInstanceIdentifier"] = "postgres", "127.0.0.1", pg.Port, "hasura-auth-staging-hasura"

	var join strings.Builder
	for _, part := range tpl.secret(t, "/hasura-database-url")["SecretString"].(map[string]any)["Fn::Join"].([]any)[1].([]any) {
		switch v := part.(type) {
		case string:
			join.WriteString(v)
		case map[string]any:
			if _, ok := v["Ref"]; ok {
				join.WriteString("REF")
			} else if att := v["Fn::GetAtt"].([]any)[1]; att == "Endpoint.Address" {
				join.WriteString("127.0.0.1")
			} else {
				require.Equal(t, "Endpoint.Port", att)
				join.WriteString(fmt.Sprint(pg.Port))
			}
		}
	}
	u := resolveRef.ReplaceAllStringFunc(join.String(), func(ref string) string {
		return fmt.Sprint(creds[resolveRef.FindStringSubmatch(ref)[1]])
	})
	d := deployed{master: creds["username"].(string), password: creds["password"].(string)}
	d.dbname, err = databaseName(u)
	require.NoError(t, err)
	b, _ := json.Marshal(creds)
	d.credentials, d.url = string(b), u

	// RDS: the master user, not a superuser, owning the database it was asked to create.
	su := connect(t, Login{Host: "127.0.0.1", Port: pg.Port, DBName: "postgres", User: "rdsadmin", Password: superuserPassword}.URL())
	defer su.Close(ctx)
	_, err = su.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN NOSUPERUSER CREATEROLE CREATEDB INHERIT PASSWORD '%s'", ident(d.master), d.password))
	require.NoError(t, err)
	_, err = su.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s OWNER %s", ident(d.dbname+suffix), ident(d.master)))
	require.NoError(t, err)
	// Each test has its own database: the template's name with the suffix, in both secrets.
	d.dbname += suffix
	parsed, err := url.Parse(d.url)
	require.NoError(t, err)
	parsed.Path = "/" + d.dbname
	d.url = parsed.String()
	return d
}

func connect(t *testing.T, u string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), u)
	require.NoError(t, err)
	return conn
}

func mustExec(t *testing.T, u string, stmts ...string) {
	t.Helper()
	conn := connect(t, u)
	defer conn.Close(context.Background())
	for _, s := range stmts {
		_, err := conn.Exec(context.Background(), s)
		require.NoError(t, err, s)
	}
}

type fixture struct {
	sm      *secretsmanager.Client
	ecs     *ecs.Client
	secret  string
	url     string
	cluster string
	logs    *bytes.Buffer
	r       *Rotator
	d       deployed
}

func newFixture(t *testing.T, kind string) *fixture {
	t.Helper()
	ctx := context.Background()
	n := seq.Add(1)
	f := &fixture{sm: secretsmanager.NewFromConfig(moto.Config()), ecs: ecs.NewFromConfig(moto.Config()), logs: &bytes.Buffer{}}
	initial := "OldAdminSecretValue0123456789abcdefghij"
	urlValue := "postgres://unused"
	if kind == KindPostgres {
		f.d = deploy(t, f.sm, fmt.Sprintf("_t%d", n))
		initial, urlValue = f.d.credentials, f.d.url
		// What Hasura creates when it first starts, as the master user: its catalogue (with
		// pgcrypto), and an application table with data.
		mustExec(t, f.d.url, "CREATE EXTENSION IF NOT EXISTS pgcrypto", "CREATE SCHEMA hdb_catalog",
			"CREATE TABLE hdb_catalog.hdb_version (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), version text)",
			"INSERT INTO hdb_catalog.hdb_version (version) VALUES ('48')",
			"CREATE TABLE public.kept (id int PRIMARY KEY, note text)", "INSERT INTO public.kept VALUES (1, 'before rotation')")
	}
	out, err := f.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(fmt.Sprintf("rot-%d", n)), SecretString: aws.String(initial)})
	require.NoError(t, err)
	f.secret = aws.ToString(out.ARN)
	urlOut, err := f.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(fmt.Sprintf("rot-url-%d", n)), SecretString: aws.String(urlValue)})
	require.NoError(t, err)
	f.url = aws.ToString(urlOut.ARN)
	f.cluster = fmt.Sprintf("c%d", n)
	_, err = f.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(f.cluster)})
	require.NoError(t, err)
	td, err := f.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String(f.cluster),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("hasura"), Image: aws.String("hasura/graphql-engine:v2.48.9"), Memory: aws.Int32(512)}}})
	require.NoError(t, err)
	_, err = f.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(f.cluster), ServiceName: aws.String("hasura"), TaskDefinition: td.TaskDefinition.TaskDefinitionArn, DesiredCount: aws.Int32(1)})
	require.NoError(t, err)
	f.r = &Rotator{Kind: kind, Secrets: f.sm, Deployer: f.ecs, Database: Postgres{SSLMode: "disable"}, URLSecretID: f.url,
		Cluster: f.cluster, Service: "hasura", Log: slog.New(slog.NewJSONHandler(f.logs, nil)), PasswordLength: 48}
	return f
}

func (f *fixture) current(t *testing.T, id string) string {
	t.Helper()
	// AWSCURRENT by name: moto's stage-less read does not follow a moved AWSCURRENT label.
	out, err := f.sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionStage: aws.String("AWSCURRENT")})
	require.NoError(t, err)
	return aws.ToString(out.SecretString)
}

func (f *fixture) creds(t *testing.T) Credentials {
	t.Helper()
	c, err := parseCredentials(f.current(t, f.secret))
	require.NoError(t, err)
	return c
}

// deployment is the service's primary deployment.
func (f *fixture) deployment(t *testing.T) ecstypes.Deployment {
	t.Helper()
	out, err := f.ecs.DescribeServices(context.Background(), &ecs.DescribeServicesInput{Cluster: aws.String(f.cluster), Services: []string{"hasura"}})
	require.NoError(t, err)
	require.Len(t, out.Services, 1)
	for _, d := range out.Services[0].Deployments {
		if aws.ToString(d.Status) == "PRIMARY" {
			return d
		}
	}
	t.Fatal("no primary deployment")
	return ecstypes.Deployment{}
}

var steps = []string{"createSecret", "setSecret", "testSecret", "finishSecret"}

// rotate runs the four steps as Secrets Manager does, stopping at the first failure.
func (f *fixture) rotate(token string) error {
	for _, step := range steps {
		if err := f.r.Handle(context.Background(), Event{SecretID: f.secret, ClientRequestToken: token, Step: step}); err != nil {
			return fmt.Errorf("%s: %w", step, err)
		}
	}
	return nil
}

// rotateRetrying reruns a failed rotation with the same token, as Secrets Manager does, until
// it succeeds or attempts run out.
func (f *fixture) rotateRetrying(token string, attempts int) error {
	var err error
	for i := 0; i < attempts; i++ {
		if err = f.rotate(token); err == nil {
			return nil
		}
	}
	return err
}

func token(n int) string { return fmt.Sprintf("%08d-1111-4111-8111-111111111111", n) }

// assertRotated checks the end state of a database rotation to version tok: the version is
// current, its active login works and acts as the owner role, Hasura's URL secret is the URL in
// use with only the credentials changed, it opens the same database (the table created before
// the first rotation is there), and a deployment newer than the URL is the primary one.
func (f *fixture) assertRotated(t *testing.T, tok, urlBefore, deploymentBefore string) Credentials {
	t.Helper()
	ctx := context.Background()
	desc, err := f.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(f.secret)})
	require.NoError(t, err)
	assert.Contains(t, desc.VersionIdsToStages[tok], "AWSCURRENT")
	c := f.creds(t)
	user, pw := c.active()
	require.NoError(t, Postgres{SSLMode: "disable"}.Check(ctx, c.login(user, pw), c.ownerRole()))
	want, err := rewriteURL(urlBefore, user, pw)
	require.NoError(t, err)
	got := f.current(t, f.url)
	assert.Equal(t, want, got, "the URL secret is the URL in use with the new credentials only")
	gu, _ := url.Parse(got)
	bu, _ := url.Parse(urlBefore)
	assert.Equal(t, bu.Host, gu.Host)
	assert.Equal(t, "/"+f.d.dbname, gu.Path, "the database Hasura was deployed with")
	conn := connect(t, got)
	defer conn.Close(ctx)
	var note string
	require.NoError(t, conn.QueryRow(ctx, "SELECT note FROM public.kept WHERE id = 1").Scan(&note), "the rewritten URL opens the same database")
	assert.Equal(t, "before rotation", note)

	d := f.deployment(t)
	assert.NotEqual(t, deploymentBefore, aws.ToString(d.Id), "a new deployment was started")
	urlVersion, err := f.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(f.url), VersionStage: aws.String("AWSCURRENT")})
	require.NoError(t, err)
	assert.False(t, aws.ToTime(d.CreatedAt).Before(aws.ToTime(urlVersion.CreatedDate)), "the deployment is not older than the URL it must read")
	return c
}

func TestDatabaseRotationKeepsTheDatabaseAndAlternatesLogins(t *testing.T) {
	f := newFixture(t, KindPostgres)
	ctx := context.Background()
	initialURL := f.current(t, f.url)
	var previousURL string
	urlBefore := initialURL
	for i, wantActive := range []string{f.d.master + "_alt", f.d.master, f.d.master + "_alt"} {
		before := f.deployment(t)
		tok := token(100 + i)
		require.NoError(t, f.rotate(tok), "rotation %d", i+1)
		c := f.assertRotated(t, tok, urlBefore, aws.ToString(before.Id))
		user, _ := c.active()
		assert.Equal(t, wantActive, user, "rotation %d switches Hasura to the login it did not use", i+1)
		assert.Equal(t, f.d.master, c.Username, "username stays the RDS master user")
		assert.Equal(t, f.d.dbname, c.DBName, "dbname is taken from the URL in use")
		assert.Contains(t, f.current(t, f.secret), `"dbInstanceIdentifier":"hasura-auth-staging-hasura"`, "the attachment's fields are kept")

		// The login Hasura used before still works until the next rotation: tasks still
		// running with it open new connections without failing.
		mustExec(t, urlBefore, "SELECT 1")
		if previousURL != "" {
			conn, err := pgx.Connect(ctx, previousURL)
			if err == nil {
				conn.Close(ctx)
			}
			assert.Error(t, err, "the login of two rotations ago has a new password")
		}
		// Both logins act as one owner: what one creates, the other can alter and drop.
		table := fmt.Sprintf("public.created_after_rotation_%d", i+1)
		mustExec(t, f.current(t, f.url), "CREATE TABLE "+table+" (id int)", "INSERT INTO public.kept VALUES ("+fmt.Sprint(10+i)+", 'by the new login')")
		mustExec(t, urlBefore, "ALTER TABLE "+table+" ADD COLUMN x int", "INSERT INTO "+table+" VALUES (1, 2)", "ALTER TABLE hdb_catalog.hdb_version ADD COLUMN IF NOT EXISTS y int")
		previousURL, urlBefore = urlBefore, f.current(t, f.url)
	}
	assert.NotContains(t, f.logs.String(), f.creds(t).Password)
	assert.NotContains(t, f.logs.String(), f.creds(t).AlternatePassword)
	assert.NotContains(t, f.logs.String(), f.d.password)

	// The master password left in the secret is the master's: RDS and CloudFormation's dynamic
	// reference ({{resolve:...:password}}) keep meaning the master user's password.
	c := f.creds(t)
	require.NoError(t, Postgres{SSLMode: "disable"}.Check(ctx, c.login(c.Username, c.Password), ""))
}

// TestRotationChangesTheLoginTheURLDoesNotUse: a stack update that touches the URL secret makes
// CloudFormation write it again from its dynamic references, i.e. with the master's credentials,
// whichever login the secret says is active. The next rotation must then leave the master alone
// (and repair the role setup if someone changed it).
func TestRotationChangesTheLoginTheURLDoesNotUse(t *testing.T) {
	f := newFixture(t, KindPostgres)
	ctx := context.Background()
	require.NoError(t, f.rotate(token(300)))
	c := f.creds(t)
	require.Equal(t, f.d.master+"_alt", c.ActiveUsername)
	masterURL, err := rewriteURL(f.current(t, f.url), c.Username, c.Password)
	require.NoError(t, err)
	_, err = f.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(f.url), SecretString: aws.String(masterURL)})
	require.NoError(t, err)
	mustExec(t, masterURL, "SELECT 1 FROM public.kept") // the redeployed tasks use it
	// Someone also undid the master's default role: the next setSecret puts it back.
	mustExec(t, Login{Host: "127.0.0.1", Port: pg.Port, DBName: "postgres", User: "rdsadmin", Password: superuserPassword}.URL(),
		"ALTER ROLE "+ident(c.Username)+" RESET role")

	require.NoError(t, f.rotate(token(301)))
	require.NoError(t, Postgres{SSLMode: "disable"}.Check(ctx, c.login(c.Username, c.Password), c.ownerRole()), "the master acts as the owner again")
	before := c
	c = f.creds(t)
	assert.Equal(t, f.d.master+"_alt", c.ActiveUsername, "the alternate login was not in use: it is the one changed")
	assert.NotEqual(t, before.AlternatePassword, c.AlternatePassword, "with a new password")
	assert.Equal(t, before.Password, c.Password)
	mustExec(t, masterURL, "SELECT 1 FROM public.kept") // the tasks' login still works
	assert.NotEqual(t, masterURL, f.current(t, f.url))
}

// TestANewTokenAfterAnAbandonedRotationKeepsThePasswordItSet: a rotation that set the master's
// new password and then stopped, followed by a rotation with a new token, must not lose that
// password (the master is the login that changes every password).
func TestANewTokenAfterAnAbandonedRotationKeepsThePasswordItSet(t *testing.T) {
	f := newFixture(t, KindPostgres)
	ctx := context.Background()
	require.NoError(t, f.rotate(token(400))) // Hasura now uses the alternate login
	urlBefore := f.current(t, f.url)
	deployBefore := aws.ToString(f.deployment(t).Id)
	for _, step := range steps[:2] { // the next one changes the master's password, then stops
		require.NoError(t, f.r.Handle(ctx, Event{SecretID: f.secret, ClientRequestToken: token(401), Step: step}))
	}
	require.NoError(t, f.rotate(token(402)))
	c := f.assertRotated(t, token(402), urlBefore, deployBefore)
	assert.Equal(t, f.d.master, c.ActiveUsername)
	mustExec(t, urlBefore, "SELECT 1 FROM public.kept") // the alternate login, untouched
}

func TestRewriteURLChangesOnlyTheCredentials(t *testing.T) {
	got, err := rewriteURL("postgresql://old:p-w_.~@db.example:6543/app?sslmode=verify-full&application_name=hasura", "hasura_alt", "Abc123")
	require.NoError(t, err)
	assert.Equal(t, "postgresql://hasura_alt:Abc123@db.example:6543/app?sslmode=verify-full&application_name=hasura", got)

	for _, bad := range []string{"not a url with secret0", "http://u:secret0@h/db", "postgres://u:secret0@h:5432", "postgres://u:secret0@:5432/db", "%zz secret0"} {
		_, err := rewriteURL(bad, "u", "p")
		require.Error(t, err, bad)
		assert.NotContains(t, err.Error(), "secret0", "the URL (and its password) is never quoted")
	}
}

func TestAdminSecretRotation(t *testing.T) {
	f := newFixture(t, KindHasuraAdmin)
	before := f.deployment(t)
	require.NoError(t, f.rotate(token(1)))
	next := f.current(t, f.secret)
	assert.NotEqual(t, "OldAdminSecretValue0123456789abcdefghij", next)
	assert.Regexp(t, `^[A-Za-z0-9]{48}$`, next, "letters and digits only")
	assert.NotContains(t, f.logs.String(), next, "no value in the log")
	after := f.deployment(t)
	assert.NotEqual(t, aws.ToString(before.Id), aws.ToString(after.Id), "Hasura is redeployed to read it")

	// Every step is safe to repeat: Secrets Manager retries. A repeat finds the deployment
	// newer than the version (moto's dates are whole seconds: wait for the next one so the
	// deployment counts as newer) and starts no other.
	time.Sleep(1100 * time.Millisecond)
	_, err := f.ecs.UpdateService(context.Background(), &ecs.UpdateServiceInput{Cluster: aws.String(f.cluster), Service: aws.String("hasura"), ForceNewDeployment: true})
	require.NoError(t, err)
	after = f.deployment(t)
	require.NoError(t, f.rotate(token(1)))
	assert.Equal(t, next, f.current(t, f.secret))
	assert.Equal(t, aws.ToString(after.Id), aws.ToString(f.deployment(t).Id), "a retry after a complete rotation redeploys nothing")
}

// faults fails one call to AWS or the database, before it takes effect or after (a timeout
// that hides a success). The call is named by its operation and which call of that operation it
// is (the 2nd GetSecretValue), not by its place among all calls: the failing run is then checked
// against the call the clean run listed even if calls of different operations ever come in
// another order, and fired says whether that call was made at all.
type faults struct {
	mu     sync.Mutex
	failOp string
	failNo int
	after  bool
	seen   map[string]int
	fired  bool
	calls  []string // operation#n of every call, in order
}

func (f *faults) hit(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen == nil {
		f.seen = map[string]int{}
	}
	f.seen[name]++
	f.calls = append(f.calls, fmt.Sprintf("%s#%d", name, f.seen[name]))
	if name == f.failOp && f.seen[name] == f.failNo {
		f.fired = true
		return true
	}
	return false
}

func call[T any](f *faults, name string, do func() (T, error)) (T, error) {
	fail := f.hit(name)
	var zero T
	if fail && !f.after {
		return zero, fmt.Errorf("injected failure before %s", name)
	}
	out, err := do()
	if fail && err == nil {
		return zero, fmt.Errorf("injected failure after %s took effect", name)
	}
	return out, err
}

type faultySecrets struct {
	s Secrets
	f *faults
}

func (x faultySecrets) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	return call(x.f, "DescribeSecret", func() (*secretsmanager.DescribeSecretOutput, error) { return x.s.DescribeSecret(ctx, in) })
}
func (x faultySecrets) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return call(x.f, "GetSecretValue", func() (*secretsmanager.GetSecretValueOutput, error) { return x.s.GetSecretValue(ctx, in) })
}
func (x faultySecrets) PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	return call(x.f, "PutSecretValue", func() (*secretsmanager.PutSecretValueOutput, error) { return x.s.PutSecretValue(ctx, in) })
}
func (x faultySecrets) UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error) {
	return call(x.f, "UpdateSecretVersionStage", func() (*secretsmanager.UpdateSecretVersionStageOutput, error) {
		return x.s.UpdateSecretVersionStage(ctx, in)
	})
}

type faultyDeployer struct {
	d Deployer
	f *faults
}

func (x faultyDeployer) UpdateService(ctx context.Context, in *ecs.UpdateServiceInput, _ ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error) {
	return call(x.f, "UpdateService", func() (*ecs.UpdateServiceOutput, error) { return x.d.UpdateService(ctx, in) })
}
func (x faultyDeployer) DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, _ ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	return call(x.f, "DescribeServices", func() (*ecs.DescribeServicesOutput, error) { return x.d.DescribeServices(ctx, in) })
}

type faultyDatabase struct {
	d Database
	f *faults
}

func (x faultyDatabase) SetPassword(ctx context.Context, as Login, user, next, owner string) error {
	_, err := call(x.f, "SetPassword", func() (any, error) { return nil, x.d.SetPassword(ctx, as, user, next, owner) })
	return err
}
func (x faultyDatabase) Check(ctx context.Context, l Login, role string) error {
	_, err := call(x.f, "Check", func() (any, error) { return nil, x.d.Check(ctx, l, role) })
	return err
}

// changesState names the calls whose failure after taking effect differs from one before.
var changesState = map[string]bool{"PutSecretValue": true, "UpdateSecretVersionStage": true, "UpdateService": true, "SetPassword": true}

func (f *fixture) inject(fl *faults) {
	f.r.Secrets = faultySecrets{f.sm, fl}
	f.r.Deployer = faultyDeployer{f.ecs, fl}
	f.r.Database = faultyDatabase{Postgres{SSLMode: "disable"}, fl}
}

// TestEveryCallCanFailAndARetryFinishesTheJob fails each AWS and database call of a whole
// rotation in turn, before and after it takes effect, then retries the rotation as Secrets
// Manager does and checks the end state: the password, the URL secret and the deployment.
func TestEveryCallCanFailAndARetryFinishesTheJob(t *testing.T) {
	for _, kind := range []string{KindPostgres, KindHasuraAdmin} {
		// A clean rotation lists the calls to fail.
		clean := newFixture(t, kind)
		counter := &faults{}
		clean.inject(counter)
		require.NoError(t, clean.rotate(token(2)))
		t.Logf("%s rotation: %d calls: %v", kind, len(counter.calls), counter.calls)
		require.Greater(t, len(counter.calls), 8)

		for i, c := range counter.calls {
			op, no, _ := strings.Cut(c, "#")
			n, err := strconv.Atoi(no)
			require.NoError(t, err)
			for _, after := range []bool{false, true} {
				if after && !changesState[op] {
					continue // a read that fails after answering is a read that fails
				}
				name := fmt.Sprintf("%s/call %d (%s) fails %s", kind, i+1, c, map[bool]string{false: "before", true: "after taking effect"}[after])
				f := newFixture(t, kind)
				adminBefore := f.current(t, f.secret)
				urlBefore := f.current(t, f.url)
				deployBefore := aws.ToString(f.deployment(t).Id)
				fl := &faults{failOp: op, failNo: n, after: after}
				f.inject(fl)
				// The first attempt fails with the injected error, or absorbs it (a failed "is it
				// already done?" check only means doing the work); either way the retries must
				// reach the same end state.
				if err := f.rotate(token(3)); err != nil {
					assert.Contains(t, err.Error(), "injected failure", name)
				}
				require.True(t, fl.fired, "%s: the rotation made no such call; its calls: %v", name, fl.calls)
				require.NoError(t, f.rotateRetrying(token(3), 3), name)
				if kind == KindPostgres {
					c := f.assertRotated(t, token(3), urlBefore, deployBefore)
					user, _ := c.active()
					assert.Equal(t, f.d.master+"_alt", user, name)
					for _, secret := range []string{c.Password, c.AlternatePassword} {
						assert.NotContains(t, f.logs.String(), secret, "%s: failures are logged without values", name)
					}
				} else {
					desc, err := f.sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(f.secret)})
					require.NoError(t, err)
					assert.Contains(t, desc.VersionIdsToStages[token(3)], "AWSCURRENT", name)
					assert.NotEqual(t, adminBefore, f.current(t, f.secret), name)
					assert.NotEqual(t, deployBefore, aws.ToString(f.deployment(t).Id), "%s: Hasura is redeployed", name)
				}
				if t.Failed() {
					t.Logf("%s: logs:\n%s", name, f.logs.String())
					return
				}
			}
		}
	}
}

// TestTwoRotationsAtOnce: Secrets Manager may run a step twice at once (a retry while the first
// attempt still runs); the admin and database rotations share the service and may overlap.
func TestTwoRotationsAtOnce(t *testing.T) {
	f := newFixture(t, KindPostgres)
	urlBefore := f.current(t, f.url)
	deployBefore := aws.ToString(f.deployment(t).Id)
	admin := &fixture{sm: f.sm, ecs: f.ecs, cluster: f.cluster, logs: &bytes.Buffer{}}
	out, err := f.sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(fmt.Sprintf("rot-admin-%d", seq.Add(1))), SecretString: aws.String("OldAdminSecretValue0123456789abcdefghij")})
	require.NoError(t, err)
	admin.secret = aws.ToString(out.ARN)
	ar := *f.r
	ar.Kind, ar.Log = KindHasuraAdmin, slog.New(slog.NewJSONHandler(admin.logs, nil))
	admin.r = &ar

	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, run := range []func() error{
		func() error { return f.rotateRetrying(token(4), 5) },
		func() error { return f.rotateRetrying(token(4), 5) },
		func() error { return admin.rotateRetrying(token(5), 5) },
	} {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = run() }()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "run %d", i)
	}
	c := f.assertRotated(t, token(4), urlBefore, deployBefore)
	user, _ := c.active()
	assert.Equal(t, f.d.master+"_alt", user)
	assert.NotEqual(t, "OldAdminSecretValue0123456789abcdefghij", admin.current(t, admin.secret))
}

// TestNoConnectionFailsDuringRotations runs, through three rotations and their redeployments,
// a client that opens a new connection every 20 ms with the URL the running tasks started with
// and another with the current URL secret, as new tasks do. Not one connection may fail.
func TestNoConnectionFailsDuringRotations(t *testing.T) {
	f := newFixture(t, KindPostgres)
	ctx := context.Background()
	var tasksURL atomic.Value
	tasksURL.Store(f.current(t, f.url))

	type client struct {
		name          string
		url           func() (string, error)
		attempts, bad atomic.Int64
		mu            sync.Mutex
		errs          []string
	}
	sm := f.sm
	clients := []*client{
		{name: "running tasks", url: func() (string, error) { return tasksURL.Load().(string), nil }},
		{name: "current URL secret", url: func() (string, error) {
			out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(f.url), VersionStage: aws.String("AWSCURRENT")})
			return aws.ToString(out.SecretString), err
		}},
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				c.attempts.Add(1)
				u, err := c.url()
				if err == nil {
					var conn *pgx.Conn
					cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					if conn, err = pgx.Connect(cctx, u); err == nil {
						var one int
						err = conn.QueryRow(cctx, "SELECT 1 FROM public.kept WHERE id = 1").Scan(&one)
						conn.Close(ctx)
					}
					cancel()
				}
				if err != nil {
					c.bad.Add(1)
					c.mu.Lock()
					c.errs = append(c.errs, err.Error())
					c.mu.Unlock()
				}
			}
		}()
	}
	// waitFor lets every client make n more connections.
	waitFor := func(n int64) {
		start := make([]int64, len(clients))
		for i, c := range clients {
			start[i] = c.attempts.Load()
		}
		for i, c := range clients {
			for c.attempts.Load() < start[i]+n {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	waitFor(5)
	for i := 0; i < 3; i++ {
		deploymentBefore := aws.ToString(f.deployment(t).Id)
		require.NoError(t, f.rotate(token(200+i)), "rotation %d", i+1)
		waitFor(5) // the old tasks keep running while the new deployment starts
		require.NotEqual(t, deploymentBefore, aws.ToString(f.deployment(t).Id), "rotation %d redeploys", i+1)
		tasksURL.Store(f.current(t, f.url)) // the new deployment's tasks replace the old ones
		waitFor(5)
	}
	close(stop)
	wg.Wait()
	for _, c := range clients {
		assert.Greater(t, c.attempts.Load(), int64(30), c.name)
		assert.Zero(t, c.bad.Load(), "%s: %d of %d connections failed: %v", c.name, c.bad.Load(), c.attempts.Load(), c.errs)
		t.Logf("%s: %d connections, %d failed", c.name, c.attempts.Load(), c.bad.Load())
	}
}

func TestRotationRefusesWhatItCannotDoSafely(t *testing.T) {
	f := newFixture(t, KindPostgres)
	ctx := context.Background()
	_, err := f.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(f.secret), SecretString: aws.String("not json")})
	require.NoError(t, err)
	err = f.rotate(token(6))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "credentials secret is not JSON")
	assert.NotContains(t, err.Error(), "not json", "the secret's content is never quoted")
	assert.Contains(t, f.logs.String(), `"outcome":"failed"`)
	assert.Contains(t, f.logs.String(), "credentials secret is not JSON", "the log line says what failed")

	// A URL secret that is not a postgres URL stops the rotation before anything changes.
	g := newFixture(t, KindPostgres)
	_, err = g.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(g.url), SecretString: aws.String("garbled secret0")})
	require.NoError(t, err)
	err = g.rotate(token(7))
	assert.ErrorContains(t, err, "the database URL secret does not hold a postgres://user:password@host:port/database URL")
	assert.NotContains(t, g.logs.String(), "secret0")

	err = f.r.Handle(ctx, Event{SecretID: f.secret, ClientRequestToken: "55555555-5555-4555-8555-555555555555", Step: "setSecret"})
	assert.ErrorContains(t, err, "is not a version of the secret")

	assert.ErrorContains(t, Postgres{}.SetPassword(ctx, Login{}, "u", "short", "o"), "refusing a password")
	assert.ErrorContains(t, Postgres{}.SetPassword(ctx, Login{}, "u", "quote'injection0123456789", "o"), "refusing a password")
}

func TestInitNeedsItsConfiguration(t *testing.T) {
	log := slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil))
	for name, env := range map[string]map[string]string{
		"no kind":    {"CLUSTER_NAME": "c", "SERVICE_NAME": "s"},
		"no service": {"ROTATION_KIND": "hasura-admin", "CLUSTER_NAME": "c"},
		"no url":     {"ROTATION_KIND": "postgres", "CLUSTER_NAME": "c", "SERVICE_NAME": "s"},
	} {
		_, err := newRotator(context.Background(), func(k string) string { return env[k] }, log)
		assert.Error(t, err, name)
	}
}
