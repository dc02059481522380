package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
	"github.com/hasura-auth-cdk/hasuraauth/internal/emulator"
)

// Every test in this package runs the handler through the real SDK clients against moto's
// server, started once for the package and pointed at with the standard AWS_ENDPOINT_URL.
var moto *emulator.Moto

func TestMain(m *testing.M) { os.Exit(emulator.RunWithMoto(m, &moto)) }

// fixture is one claims table and key secret, named for the test so tests stay independent.
type fixture struct {
	table, secretID string
	ring            *claims.KeyRing
	db              *dynamodb.Client
	sm              *secretsmanager.Client
	h               *Handler
	logs            *syncBuffer
}

var seq atomic.Int64

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	n := seq.Add(1)
	f := &fixture{
		// The PID keeps names unique across fuzz workers, which share one moto.
		table:    fmt.Sprintf("claims-%d-%d", os.Getpid(), n),
		secretID: fmt.Sprintf("claims-key-%d-%d", os.Getpid(), n),
		db:       dynamodb.NewFromConfig(moto.Config()),
		sm:       secretsmanager.NewFromConfig(moto.Config()),
		logs:     &syncBuffer{},
	}
	require.NoError(t, emulator.CreateClaimsTable(ctx, f.db, f.table))
	key, err := claims.GenerateKey()
	require.NoError(t, err)
	f.ring, err = claims.NewKeyRing(key)
	require.NoError(t, err)
	out, err := f.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(f.secretID), SecretString: aws.String(f.ring.SecretString()),
	})
	require.NoError(t, err)
	f.secretID = aws.ToString(out.ARN) // the Lambda gets the ARN, as in the stack
	f.h = f.handler(t, nil)
	return f
}

// handler builds a handler exactly as main does, from environment variables, with overrides.
func (f *fixture) handler(t testing.TB, env map[string]string) *Handler {
	t.Helper()
	vars := map[string]string{"CLAIMS_TABLE_NAME": f.table, "CLAIMS_KEY_SECRET_ID": f.secretID}
	for k, v := range env {
		vars[k] = v
	}
	getenv := func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	h, err := newHandler(context.Background(), getenv, slog.New(slog.NewJSONHandler(f.logs, nil)))
	require.NoError(t, err)
	return h
}

type item struct {
	// uuid is the Hasura user id: cognito_uuid of an unbound item, the binding's HasuraUserID
	// of a bound one; identity is the Cognito sub a bound item is sealed for ("" = any).
	email, claimsJSON, uuid, identity string
	extra                             map[string]types.AttributeValue
	// unbound writes the bare claims JSON, as Moped did; else valid claims are sealed to the
	// item, as claimsctl writes them (claims that fail validation are written bare).
	unbound bool
}

func (f *fixture) put(t testing.TB, it item) {
	t.Helper()
	plain := []byte(it.claimsJSON)
	if c, err := claims.Parse(plain); err == nil && !it.unbound {
		plain, err = claims.Seal(c, claims.Binding{UserID: it.email, Identity: it.identity, HasuraUserID: it.uuid})
		require.NoError(t, err)
	}
	tok, err := f.ring.Encrypt(plain)
	require.NoError(t, err)
	f.putRaw(t, it, tok)
}

func (f *fixture) putRaw(t testing.TB, it item, ciphertext string) {
	t.Helper()
	rec := claims.Record{UserID: it.email, Claims: ciphertext, CognitoUUID: it.uuid}
	av := rec.Item()
	for k, v := range it.extra {
		av[k] = v
	}
	_, err := f.db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(f.table), Item: av})
	require.NoError(t, err)
}

func (f *fixture) setSecret(t testing.TB, s string) {
	t.Helper()
	_, err := f.sm.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(f.secretID), SecretString: aws.String(s)})
	require.NoError(t, err)
}

// event builds a Cognito PreTokenGeneration event as Cognito sends it.
func event(version, source string, attrs map[string]string) []byte {
	ev := map[string]any{
		"version":       version,
		"triggerSource": source,
		"region":        "us-east-1",
		"userPoolId":    "us-east-1_TestPool",
		"userName":      "b1f3c0de-0000-4000-8000-000000000001",
		"callerContext": map[string]any{"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "testclient"},
		"request": map[string]any{
			"userAttributes":     attrs,
			"groupConfiguration": map[string]any{"groupsToOverride": []any{}, "iamRolesToOverride": []any{}},
		},
		"response": map[string]any{},
	}
	if version == "2" || version == "3" {
		ev["request"].(map[string]any)["scopes"] = []any{"openid", "email"}
	}
	b, _ := json.Marshal(ev)
	return b
}

func nativeUser(email, sub string) map[string]string {
	return map[string]string{"sub": sub, "email": email, "email_verified": "true", "cognito:user_status": "CONFIRMED"}
}

// tokenClaims extracts and parses the Hasura claim of every token the response sets.
func tokenClaims(t testing.TB, version string, out []byte) map[string]map[string]any {
	t.Helper()
	var resp struct {
		Response struct {
			V1 *struct {
				Add map[string]string `json:"claimsToAddOrOverride"`
			} `json:"claimsOverrideDetails"`
			V2 *struct {
				ID struct {
					Add map[string]any `json:"claimsToAddOrOverride"`
				} `json:"idTokenGeneration"`
				Access struct {
					Add map[string]any `json:"claimsToAddOrOverride"`
				} `json:"accessTokenGeneration"`
			} `json:"claimsAndScopeOverrideDetails"`
		} `json:"response"`
	}
	require.NoError(t, json.Unmarshal(out, &resp))
	parse := func(v any) map[string]any {
		s, ok := v.(string)
		require.True(t, ok, "the claim must be stringified JSON, got %T", v)
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(s), &m))
		return m
	}
	got := map[string]map[string]any{}
	if version == "1" {
		require.NotNil(t, resp.Response.V1, "version 1 answers with claimsOverrideDetails")
		require.Nil(t, resp.Response.V2)
		got["id"] = parse(resp.Response.V1.Add[claims.Namespace])
	} else {
		require.NotNil(t, resp.Response.V2, "version 2 answers with claimsAndScopeOverrideDetails")
		require.Nil(t, resp.Response.V1)
		got["id"] = parse(resp.Response.V2.ID.Add[claims.Namespace])
		got["access"] = parse(resp.Response.V2.Access.Add[claims.Namespace])
	}
	return got
}

// syncBuffer collects log output from concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lastLog parses the newest log line.
func (s *syncBuffer) lastLog(t testing.TB) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(s.String()), "\n")
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &m), "log lines are JSON: %s", lines[len(lines)-1])
	return m
}

func invoke(t testing.TB, h *Handler, ev []byte) ([]byte, error, time.Duration) {
	t.Helper()
	start := time.Now()
	out, err := h.Handle(context.Background(), ev)
	return out, err, time.Since(start)
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

func putInput(table string, item map[string]types.AttributeValue) *dynamodb.PutItemInput {
	return &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}
}

func getInput(table, email string) *dynamodb.GetItemInput {
	return &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{"user_id": &types.AttributeValueMemberS{Value: email}}, ConsistentRead: aws.Bool(true)}
}
