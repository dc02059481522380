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
	"time"

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

// Deployer starts and inspects deployments of the Hasura service, so tasks read the new secret.
type Deployer interface {
	UpdateService(ctx context.Context, in *ecs.UpdateServiceInput, opts ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error)
	DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, opts ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
}

// Login is one way into the database: where, which database, who.
type Login struct {
	Host     string
	Port     int
	DBName   string
	User     string
	Password string
}

// Database changes and checks login passwords.
type Database interface {
	// SetPassword logs in with as and gives user the password next, as a member of owner
	// (creating user, owner and the memberships when as may: the first rotation's bootstrap).
	SetPassword(ctx context.Context, as Login, user, next, owner string) error
	// Check logs in with l and returns an error unless the session acts as role (when set).
	Check(ctx context.Context, l Login, role string) error
}

// Credentials is the JSON of the database credentials secret. Username and Password are always
// the RDS master user's, as RDS and CloudFormation's dynamic references expect; Hasura logs in
// as ActiveUsername, which alternates between the master and AlternateUsername (see
// docs/security.md, "Database credential rotation").
type Credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	DBName   string `json:"dbname"`
	Engine   string `json:"engine,omitempty"`
	// Written by the first rotation; absent in the secret as RDS and CloudFormation create it.
	ActiveUsername    string `json:"activeUsername,omitempty"`
	AlternateUsername string `json:"alternateUsername,omitempty"`
	AlternatePassword string `json:"alternatePassword,omitempty"`
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
	if c.ActiveUsername != "" && c.ActiveUsername != c.Username && c.ActiveUsername != c.AlternateUsername {
		return c, fmt.Errorf("credentials secret: activeUsername %q is neither username nor alternateUsername", c.ActiveUsername)
	}
	if c.ActiveUsername != "" && c.ActiveUsername == c.AlternateUsername && c.AlternatePassword == "" {
		return c, errors.New("credentials secret: alternateUsername is active but alternatePassword is empty")
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
	m["activeUsername"], m["alternateUsername"], m["alternatePassword"] = c.ActiveUsername, c.AlternateUsername, c.AlternatePassword
	b, _ := json.Marshal(m)
	return string(b)
}

// active is the login Hasura uses with these credentials: the master until the first rotation.
func (c Credentials) active() (user, password string) {
	if c.ActiveUsername != "" && c.ActiveUsername == c.AlternateUsername {
		return c.AlternateUsername, c.AlternatePassword
	}
	return c.Username, c.Password
}

func (c Credentials) login(user, password string) Login {
	return Login{Host: c.Host, Port: c.Port, DBName: c.DBName, User: user, Password: password}
}

// ownerRole owns everything in Hasura's database; both logins act as it.
func (c Credentials) ownerRole() string { return c.Username + "_owner" }

// URL renders a login as a postgres:// URL (used to connect; Hasura's URL is rewritten, see rewriteURL).
func (l Login) URL() string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(l.User, l.Password),
		Host: l.Host + ":" + strconv.Itoa(l.Port), Path: "/" + l.DBName}
	return u.String()
}

// parsePostgresURL parses the URL Hasura uses. Its errors never quote the URL: it holds a password.
func parsePostgresURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Hostname() == "" || len(u.Path) < 2 {
		return nil, errors.New("the database URL secret does not hold a postgres://user:password@host:port/database URL")
	}
	return u, nil
}

// rewriteURL changes only the user and password of the URL Hasura uses: host, port, database
// and parameters stay those of the URL in use, so a rotation can never point Hasura elsewhere.
func rewriteURL(inUse, user, password string) (string, error) {
	u, err := parsePostgresURL(inUse)
	if err != nil {
		return "", err
	}
	u.User = url.UserPassword(user, password)
	return u.String(), nil
}

// databaseName is the database of the URL in use.
func databaseName(inUse string) (string, error) {
	u, err := parsePostgresURL(inUse)
	if err != nil {
		return "", err
	}
	return u.Path[1:], nil
}

// Rotator carries out the four rotation steps. Secrets Manager may call any step more than once,
// after a failure anywhere or twice at once: every step checks what is already done and does
// what is missing.
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
	// The token and ARN name the rotation; no value is logged, and no error carries one.
	attrs := []any{slog.String("kind", r.Kind), slog.String("step", ev.Step),
		slog.String("secret", ev.SecretID), slog.String("token", ev.ClientRequestToken)}
	if err != nil {
		r.Log.Error("rotation step", append(attrs, slog.String("outcome", "failed"), slog.String("error", err.Error()))...)
		return err
	}
	r.Log.Info("rotation step", append(attrs, slog.String("outcome", "ok"))...)
	return nil
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
	case has(stages, "AWSCURRENT") && ev.Step != "finishSecret":
		return nil // the rotation got past finishSecret's stage move: only finishSecret has more to check
	case !has(stages, "AWSCURRENT") && !has(stages, "AWSPENDING"):
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

func (r *Rotator) get(ctx context.Context, id, stage, version string) (*secretsmanager.GetSecretValueOutput, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)}
	if version != "" {
		in.VersionId = aws.String(version)
	}
	if stage != "" {
		in.VersionStage = aws.String(stage)
	}
	return r.Secrets.GetSecretValue(ctx, in)
}

func (r *Rotator) value(ctx context.Context, id, stage, version string) (string, error) {
	out, err := r.get(ctx, id, stage, version)
	if err != nil {
		return "", err
	}
	return aws.ToString(out.SecretString), nil
}

func (r *Rotator) credentials(ctx context.Context, id, stage, version string) (Credentials, error) {
	s, err := r.value(ctx, id, stage, version)
	if err != nil {
		return Credentials{}, fmt.Errorf("read the %s credentials: %w", stage, err)
	}
	return parseCredentials(s)
}

func notFound(err error) bool {
	var nf *smtypes.ResourceNotFoundException
	return errors.As(err, &nf)
}

func (r *Rotator) create(ctx context.Context, ev Event) error {
	if _, err := r.value(ctx, ev.SecretID, "AWSPENDING", ev.ClientRequestToken); err == nil {
		return nil // created by an earlier attempt
	} else if !notFound(err) {
		return fmt.Errorf("read pending version: %w", err)
	}
	pw, err := password(r.PasswordLength)
	if err != nil {
		return err
	}
	next := pw
	if r.Kind == KindPostgres {
		c, err := r.credentials(ctx, ev.SecretID, "AWSCURRENT", "")
		if err != nil {
			return err
		}
		// The database is the one Hasura uses today: the generated secret has no dbname.
		inUse, err := r.value(ctx, r.URLSecretID, "AWSCURRENT", "")
		if err != nil {
			return fmt.Errorf("read the database URL secret: %w", err)
		}
		if c.DBName, err = databaseName(inUse); err != nil {
			return err
		}
		if c.AlternateUsername == "" {
			c.AlternateUsername = c.Username + "_alt"
		}
		// Change the login Hasura does not use; the one in use keeps working until the next rotation.
		// The URL says which one Hasura uses: CloudFormation rewrites it with the master's
		// credentials if a stack update ever touches the URL secret.
		inUseUser, _ := c.active()
		if u, err := parsePostgresURL(inUse); err == nil && u.User != nil && (u.User.Username() == c.Username || u.User.Username() == c.AlternateUsername) {
			inUseUser = u.User.Username()
		}
		if inUseUser == c.Username {
			c.ActiveUsername, c.AlternatePassword = c.AlternateUsername, pw
		} else {
			c.ActiveUsername, c.Password = c.Username, pw
		}
		// An abandoned pending version (one never made current) may already have set this
		// login's password: reuse it, so the database and the secret cannot disagree (Secrets
		// Manager normally retries with the same token, but a new token must not strand the
		// password). A finished version may keep its AWSPENDING label: it is no such version.
		old, err := r.get(ctx, ev.SecretID, "AWSPENDING", "")
		switch {
		case err == nil && !has(old.VersionStages, "AWSCURRENT") && !has(old.VersionStages, "AWSPREVIOUS"):
			oc, err := parseCredentials(aws.ToString(old.SecretString))
			if err != nil {
				return fmt.Errorf("the abandoned pending version %s: %w", aws.ToString(old.VersionId), err)
			}
			if u, p := oc.active(); u == c.ActiveUsername {
				if u == c.Username {
					c.Password = p
				} else {
					c.AlternatePassword = p
				}
			}
		case err != nil && !notFound(err):
			return fmt.Errorf("read the AWSPENDING credentials: %w", err)
		}
		next = c.json()
	}
	_, err = r.Secrets.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(ev.SecretID), ClientRequestToken: aws.String(ev.ClientRequestToken),
		SecretString: aws.String(next), VersionStages: []string{"AWSPENDING"},
	})
	if err != nil {
		var exists *smtypes.ResourceExistsException
		if errors.As(err, &exists) {
			return nil // a concurrent attempt stored this version first; later steps read that one
		}
		return fmt.Errorf("store pending version: %w", err)
	}
	return nil
}

func (r *Rotator) set(ctx context.Context, ev Event) error {
	if r.Kind != KindPostgres {
		return nil // Hasura reads its admin secret at task start: nothing to set
	}
	pending, err := r.credentials(ctx, ev.SecretID, "AWSPENDING", ev.ClientRequestToken)
	if err != nil {
		return err
	}
	user, pw := pending.active()
	owner := pending.ownerRole()
	if r.checkLogins(ctx, pending) == nil {
		return nil // set (roles, memberships, password) by an earlier attempt
	}
	// The master changes the password (its own, or the alternate login's, which it creates on the
	// first rotation). Its password is the pending one if this rotation changes it and an
	// earlier attempt got that far, else the current one, else the previous one.
	tried := map[string]bool{}
	var lastErr error
	for _, stage := range []string{"AWSPENDING", "AWSCURRENT", "AWSPREVIOUS"} {
		c := pending
		if stage != "AWSPENDING" {
			if c, err = r.credentials(ctx, ev.SecretID, stage, ""); err != nil {
				if stage == "AWSPREVIOUS" && notFound(err) {
					continue // none before the first rotation
				}
				return err
			}
			if c.Username != pending.Username || c.Host != pending.Host || c.Port != pending.Port {
				return fmt.Errorf("the %s credentials name another master user or host than the pending ones", stage)
			}
		}
		if tried[c.Password] {
			continue
		}
		tried[c.Password] = true
		master := pending.login(pending.Username, c.Password)
		if lastErr = r.Database.SetPassword(ctx, master, user, pw, owner); lastErr == nil {
			return nil
		}
	}
	return fmt.Errorf("set the new password of %s: %w", user, lastErr)
}

func (r *Rotator) test(ctx context.Context, ev Event) error {
	if r.Kind != KindPostgres {
		return nil
	}
	c, err := r.credentials(ctx, ev.SecretID, "AWSPENDING", ev.ClientRequestToken)
	if err != nil {
		return err
	}
	return r.checkLogins(ctx, c)
}

// checkLogins proves both logins of c work and act as the owner role, so that the login Hasura
// switches to sees and owns what the other one created.
func (r *Rotator) checkLogins(ctx context.Context, c Credentials) error {
	user, pw := c.active()
	if err := r.Database.Check(ctx, c.login(user, pw), c.ownerRole()); err != nil {
		return fmt.Errorf("log in as %s with the new password: %w", user, err)
	}
	if err := r.Database.Check(ctx, c.login(c.Username, c.Password), c.ownerRole()); err != nil {
		return fmt.Errorf("log in as the master user %s: %w", c.Username, err)
	}
	return nil
}

// finish makes the version current, points Hasura's URL at it and makes sure a deployment newer
// than both runs. Each part is checked on every call: a retry after any failure (or after a
// call that took effect but reported an error) completes what is missing.
func (r *Rotator) finish(ctx context.Context, ev Event, desc *secretsmanager.DescribeSecretOutput) error {
	current := ""
	for v, st := range desc.VersionIdsToStages {
		if has(st, "AWSCURRENT") {
			current = v
		}
	}
	redeploy := false
	if current != ev.ClientRequestToken {
		if r.Kind == KindPostgres {
			c, err := r.credentials(ctx, ev.SecretID, "AWSPENDING", ev.ClientRequestToken)
			if err != nil {
				return err
			}
			// Never make current a password the database does not accept.
			if err := r.checkLogins(ctx, c); err != nil {
				return fmt.Errorf("not making the new version current: %w", err)
			}
		}
		_, err := r.Secrets.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String(ev.SecretID), VersionStage: aws.String("AWSCURRENT"),
			MoveToVersionId: aws.String(ev.ClientRequestToken), RemoveFromVersionId: aws.String(current),
		})
		if err != nil {
			return fmt.Errorf("make the new version current: %w", err)
		}
		redeploy = true
	}
	version, err := r.get(ctx, ev.SecretID, "", ev.ClientRequestToken)
	if err != nil {
		return fmt.Errorf("read the new version: %w", err)
	}
	since := aws.ToTime(version.CreatedDate)
	if r.Kind == KindPostgres {
		c, err := parseCredentials(aws.ToString(version.SecretString))
		if err != nil {
			return err
		}
		urlOut, err := r.get(ctx, r.URLSecretID, "AWSCURRENT", "")
		if err != nil {
			return fmt.Errorf("read the database URL secret: %w", err)
		}
		user, pw := c.active()
		want, err := rewriteURL(aws.ToString(urlOut.SecretString), user, pw)
		if err != nil {
			return err
		}
		if want != aws.ToString(urlOut.SecretString) {
			// Hasura reads a URL, not the credentials: switch it to the login this rotation set.
			if _, err := r.Secrets.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
				SecretId: aws.String(r.URLSecretID), SecretString: aws.String(want),
			}); err != nil {
				return fmt.Errorf("rewrite the database URL secret: %w", err)
			}
			redeploy = true
		} else if t := aws.ToTime(urlOut.CreatedDate); t.After(since) {
			since = t
		}
	}
	if !redeploy {
		newer, err := r.deployedSince(ctx, since)
		if err != nil {
			return err
		}
		redeploy = !newer
	}
	if !redeploy {
		return nil
	}
	// New tasks read the new value; the circuit breaker rolls back if they cannot start.
	if _, err := r.Deployer.UpdateService(ctx, &ecs.UpdateServiceInput{
		Cluster: aws.String(r.Cluster), Service: aws.String(r.Service), ForceNewDeployment: true,
	}); err != nil {
		return fmt.Errorf("start a new Hasura deployment: %w", err)
	}
	return nil
}

// deployedSince says whether the service's primary deployment started after t. Secrets Manager
// dates may be whole seconds: a deployment within a second of t does not count, and is redone.
func (r *Rotator) deployedSince(ctx context.Context, t time.Time) (bool, error) {
	out, err := r.Deployer.DescribeServices(ctx, &ecs.DescribeServicesInput{
		Cluster: aws.String(r.Cluster), Services: []string{r.Service},
	})
	if err != nil {
		return false, fmt.Errorf("describe the Hasura service: %w", err)
	}
	if len(out.Services) != 1 {
		return false, fmt.Errorf("the Hasura service %s was not found in cluster %s", r.Service, r.Cluster)
	}
	for _, d := range out.Services[0].Deployments {
		if aws.ToString(d.Status) == "PRIMARY" {
			return aws.ToTime(d.CreatedAt).After(t.Add(time.Second)), nil
		}
	}
	return false, nil
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
