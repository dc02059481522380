package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/url"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// Kinds of secret this function rotates (ROTATION_KIND).
const (
	KindHasuraAdmin = "hasura-admin" // a plain string Hasura reads at task start
	KindPostgres    = "postgres"     // RDS credentials JSON; the URL secret is rewritten from it
)

// Event is what Secrets Manager sends a rotation function.
type Event struct {
	SecretID           string `json:"SecretId"`
	ClientRequestToken string `json:"ClientRequestToken"`
	Step               string `json:"Step"`
}

// Secrets is the part of Secrets Manager rotation uses.
type Secrets interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
}

// Deployer forces a new deployment of the Hasura service, so tasks read the new secret.
type Deployer interface {
	UpdateService(ctx context.Context, in *ecs.UpdateServiceInput, opts ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error)
}

// Database changes and checks a database user's password.
type Database interface {
	// SetPassword logs in with current and sets user's password to next.
	SetPassword(ctx context.Context, current Credentials, next string) error
	// Check logs in with c.
	Check(ctx context.Context, c Credentials) error
}

// Credentials is the JSON of an RDS credentials secret.
type Credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	DBName   string `json:"dbname"`
	Engine   string `json:"engine,omitempty"`
	// Other fields (dbInstanceIdentifier, ...) are kept as they are.
	rest map[string]json.RawMessage
}

func parseCredentials(s string) (Credentials, error) {
	var c Credentials
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return c, errors.New("credentials secret is not JSON") // never quote the secret
	}
	if err := json.Unmarshal([]byte(s), &c.rest); err != nil {
		return c, errors.New("credentials secret is not a JSON object")
	}
	if c.Username == "" || c.Password == "" || c.Host == "" || c.Port == 0 {
		return c, errors.New("credentials secret lacks username, password, host or port")
	}
	if c.DBName == "" {
		c.DBName = "postgres"
	}
	return c, nil
}

func (c Credentials) json() string {
	m := map[string]any{}
	for k, v := range c.rest {
		m[k] = v
	}
	m["username"], m["password"], m["host"], m["port"], m["dbname"] = c.Username, c.Password, c.Host, c.Port, c.DBName
	if c.Engine != "" {
		m["engine"] = c.Engine
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// URL renders the credentials as Hasura's HASURA_GRAPHQL_DATABASE_URL.
func (c Credentials) URL() string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(c.Username, c.Password),
		Host: c.Host + ":" + strconv.Itoa(c.Port), Path: "/" + c.DBName}
	return u.String()
}

// Rotator carries out the four rotation steps. It is idempotent per step, as Secrets Manager
// may call a step more than once.
type Rotator struct {
	Kind           string
	Secrets        Secrets
	Deployer       Deployer
	Database       Database // KindPostgres only
	URLSecretID    string   // KindPostgres only: the secret holding the URL Hasura reads
	Cluster        string
	Service        string
	Log            *slog.Logger
	PasswordLength int
}

// Handle runs one rotation step.
func (r *Rotator) Handle(ctx context.Context, ev Event) error {
	err := r.step(ctx, ev)
	outcome := "ok"
	if err != nil {
		outcome = "failed"
	}
	// The token and ARN name the rotation; no value is logged.
	r.Log.Info("rotation step", slog.String("kind", r.Kind), slog.String("step", ev.Step),
		slog.String("secret", ev.SecretID), slog.String("token", ev.ClientRequestToken), slog.String("outcome", outcome))
	return err
}

func (r *Rotator) step(ctx context.Context, ev Event) error {
	desc, err := r.Secrets.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(ev.SecretID)})
	if err != nil {
		return fmt.Errorf("describe secret: %w", err)
	}
	if desc.RotationEnabled != nil && !*desc.RotationEnabled {
		return errors.New("rotation is not enabled on this secret")
	}
	stages, ok := desc.VersionIdsToStages[ev.ClientRequestToken]
	switch {
	case !ok && ev.Step == "createSecret":
		// Secrets Manager lists the token before createSecret; a missing one is created here.
	case !ok:
		return fmt.Errorf("version %s is not a version of the secret", ev.ClientRequestToken)
	case has(stages, "AWSCURRENT"):
		return nil // already done (a retried finishSecret)
	case !has(stages, "AWSPENDING"):
		return fmt.Errorf("version %s is not pending rotation", ev.ClientRequestToken)
	}
	switch ev.Step {
	case "createSecret":
		return r.create(ctx, ev)
	case "setSecret":
		return r.set(ctx, ev)
	case "testSecret":
		return r.test(ctx, ev)
	case "finishSecret":
		return r.finish(ctx, ev, desc)
	}
	return fmt.Errorf("unknown step %q", ev.Step)
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (r *Rotator) value(ctx context.Context, id, stage, version string) (string, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)}
	if version != "" {
		in.VersionId = aws.String(version)
	}
	if stage != "" {
		in.VersionStage = aws.String(stage)
	}
	out, err := r.Secrets.GetSecretValue(ctx, in)
	if err != nil {
		return "", err
	}
	return aws.ToString(out.SecretString), nil
}

func (r *Rotator) create(ctx context.Context, ev Event) error {
	if _, err := r.value(ctx, ev.SecretID, "AWSPENDING", ev.ClientRequestToken); err == nil {
		return nil // created by an earlier attempt
	} else {
		var nf *smtypes.ResourceNotFoundException
		if !errors.As(err, &nf) {
			return fmt.Errorf("read pending version: %w", err)
		}
	}
	pw, err := password(r.PasswordLength)
	if err != nil {
		return err
	}
	next := pw
	if r.Kind == KindPostgres {
		cur, err := r.value(ctx, ev.SecretID, "AWSCURRENT", "")
		if err != nil {
			return fmt.Errorf("read current credentials: %w", err)
		}
		c, err := parseCredentials(cur)
		if err != nil {
			return err
		}
		c.Password = pw
		next = c.json()
	}
	_, err = r.Secrets.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(ev.SecretID), ClientRequestToken: aws.String(ev.ClientRequestToken),
		SecretString: aws.String(next), VersionStages: []string{"AWSPENDING"},
	})
	if err != nil {
		return fmt.Errorf("store pending version: %w", err)
	}
	return nil
}

func (r *Rotator) set(ctx context.Context, ev Event) error {
	if r.Kind != KindPostgres {
		return nil // Hasura reads its admin secret at task start: nothing to set
	}
	pendingJSON, err := r.value(ctx, ev.SecretID, "AWSPENDING", ev.ClientRequestToken)
	if err != nil {
		return fmt.Errorf("read pending credentials: %w", err)
	}
	pending, err := parseCredentials(pendingJSON)
	if err != nil {
		return err
	}
	if r.Database.Check(ctx, pending) == nil {
		return nil // set by an earlier attempt
	}
	// Log in with the current password, or the previous one if an earlier attempt got as far
	// as changing the password but not as far as finishing.
	var lastErr error
	for _, stage := range []string{"AWSCURRENT", "AWSPREVIOUS"} {
		s, err := r.value(ctx, ev.SecretID, stage, "")
		if err != nil {
			lastErr = err
			continue
		}
		cur, err := parseCredentials(s)
		if err != nil {
			return err
		}
		if cur.Username != pending.Username || cur.Host != pending.Host {
			return errors.New("pending credentials name another user or host than the current ones")
		}
		if lastErr = r.Database.SetPassword(ctx, cur, pending.Password); lastErr == nil {
			return nil
		}
	}
	return fmt.Errorf("set the new password: %w", lastErr)
}

func (r *Rotator) test(ctx context.Context, ev Event) error {
	if r.Kind != KindPostgres {
		return nil
	}
	s, err := r.value(ctx, ev.SecretID, "AWSPENDING", ev.ClientRequestToken)
	if err != nil {
		return fmt.Errorf("read pending credentials: %w", err)
	}
	c, err := parseCredentials(s)
	if err != nil {
		return err
	}
	if err := r.Database.Check(ctx, c); err != nil {
		return fmt.Errorf("log in with the new password: %w", err)
	}
	return nil
}

func (r *Rotator) finish(ctx context.Context, ev Event, desc *secretsmanager.DescribeSecretOutput) error {
	current := ""
	for v, st := range desc.VersionIdsToStages {
		if has(st, "AWSCURRENT") {
			current = v
		}
	}
	_, err := r.Secrets.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(ev.SecretID), VersionStage: aws.String("AWSCURRENT"),
		MoveToVersionId: aws.String(ev.ClientRequestToken), RemoveFromVersionId: aws.String(current),
	})
	if err != nil {
		return fmt.Errorf("make the new version current: %w", err)
	}
	if r.Kind == KindPostgres {
		s, err := r.value(ctx, ev.SecretID, "AWSCURRENT", "")
		if err != nil {
			return fmt.Errorf("read the new credentials: %w", err)
		}
		c, err := parseCredentials(s)
		if err != nil {
			return err
		}
		// Hasura reads a URL, not the credentials: rewrite it from the new password.
		if _, err := r.Secrets.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(r.URLSecretID), SecretString: aws.String(c.URL()),
		}); err != nil {
			return fmt.Errorf("rewrite the database URL secret: %w", err)
		}
	}
	// New tasks read the new value; the circuit breaker rolls back if they cannot start.
	if _, err := r.Deployer.UpdateService(ctx, &ecs.UpdateServiceInput{
		Cluster: aws.String(r.Cluster), Service: aws.String(r.Service), ForceNewDeployment: true,
	}); err != nil {
		return fmt.Errorf("start a new Hasura deployment: %w", err)
	}
	return nil
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// password draws letters and digits only: safe in URLs, headers and SQL literals.
func password(n int) (string, error) {
	if n < 32 {
		n = 32
	}
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		k, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("draw random password: %w", err)
		}
		b[i] = alphabet[k.Int64()]
	}
	return string(b), nil
}
