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

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/emulator"
)

// The old pool is moto's Cognito IdP (it implements AdminInitiateAuth with
// ADMIN_USER_PASSWORD_AUTH, its MFA and new-password challenges, and AdminGetUser), started once
// for the package and pointed at with the standard AWS_ENDPOINT_URL.
var moto *emulator.Moto

func TestMain(m *testing.M) { os.Exit(emulator.RunWithMoto(m, &moto)) }

// oldPool is one pool in moto playing the pool users migrate from, with an admin-auth client.
type oldPool struct {
	id, client string
	idp        *cip.Client
	logs       *syncBuffer
}

var seq atomic.Int64

func newOldPool(t testing.TB) *oldPool {
	t.Helper()
	ctx := context.Background()
	idp := cip.NewFromConfig(moto.Config())
	// Moped's pool signs users in with their email.
	pool, err := idp.CreateUserPool(ctx, &cip.CreateUserPoolInput{
		PoolName:           aws.String(fmt.Sprintf("moped-%d", seq.Add(1))),
		UsernameAttributes: []ciptypes.UsernameAttributeType{ciptypes.UsernameAttributeTypeEmail},
	})
	require.NoError(t, err)
	id := aws.ToString(pool.UserPool.Id)
	client, err := idp.CreateUserPoolClient(ctx, &cip.CreateUserPoolClientInput{
		UserPoolId: aws.String(id), ClientName: aws.String("migration"),
		ExplicitAuthFlows: []ciptypes.ExplicitAuthFlowsType{ciptypes.ExplicitAuthFlowsTypeAllowAdminUserPasswordAuth},
	})
	require.NoError(t, err)
	return &oldPool{id: id, client: aws.ToString(client.UserPoolClient.ClientId), idp: idp, logs: &syncBuffer{}}
}

// handler builds a handler exactly as main does, from environment variables.
func (p *oldPool) handler(t testing.TB) *Handler {
	t.Helper()
	vars := map[string]string{"OLD_USER_POOL_ID": p.id, "OLD_USER_POOL_REGION": emulator.Region, "OLD_USER_POOL_CLIENT_ID": p.client,
		"AWS_LAMBDA_FUNCTION_NAME": os.Getenv("AWS_LAMBDA_FUNCTION_NAME")}
	h, err := newHandler(context.Background(), func(k string) string { return vars[k] }, slog.New(slog.NewJSONHandler(p.logs, nil)))
	require.NoError(t, err)
	return h
}

// addUser creates a confirmed user of the old pool with a permanent password and returns its sub.
func (p *oldPool) addUser(t testing.TB, email, password string, attrs map[string]string) string {
	t.Helper()
	ctx := context.Background()
	list := []ciptypes.AttributeType{{Name: aws.String("email"), Value: aws.String(email)}, {Name: aws.String("email_verified"), Value: aws.String("true")}}
	for k, v := range attrs {
		list = append(list, ciptypes.AttributeType{Name: aws.String(k), Value: aws.String(v)})
	}
	_, err := p.idp.AdminCreateUser(ctx, &cip.AdminCreateUserInput{
		UserPoolId: aws.String(p.id), Username: aws.String(email), UserAttributes: list,
		TemporaryPassword: aws.String("Temporary-Passw0rd!"), MessageAction: ciptypes.MessageActionTypeSuppress,
	})
	require.NoError(t, err)
	if password != "" {
		_, err = p.idp.AdminSetUserPassword(ctx, &cip.AdminSetUserPasswordInput{
			UserPoolId: aws.String(p.id), Username: aws.String(email), Password: aws.String(password), Permanent: true,
		})
		require.NoError(t, err)
	}
	u, err := p.idp.AdminGetUser(ctx, &cip.AdminGetUserInput{UserPoolId: aws.String(p.id), Username: aws.String(email)})
	require.NoError(t, err)
	for _, a := range u.UserAttributes {
		if aws.ToString(a.Name) == "sub" {
			return aws.ToString(a.Value)
		}
	}
	t.Fatalf("moto gave %s no sub", email)
	return ""
}

// event builds a UserMigration event in the shape Cognito documents for the trigger: the
// password only on sign-in, nothing in the response yet.
func event(source, userName, password string) []byte {
	req := map[string]any{"validationData": nil, "clientMetadata": nil}
	if source == SourceAuthentication {
		req["password"] = password
	}
	b, _ := json.Marshal(map[string]any{
		"version":       "1",
		"triggerSource": source,
		"region":        "us-east-1",
		"userPoolId":    "us-east-1_NewPool01",
		"userName":      userName,
		"callerContext": map[string]any{"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "newspaclient"},
		"request":       req,
		"response": map[string]any{
			"userAttributes": nil, "forceAliasCreation": nil, "enableSMSMFA": nil,
			"finalUserStatus": nil, "messageAction": nil, "desiredDeliveryMediums": nil,
		},
	})
	return b
}

// response is what the handler puts into the event for Cognito.
type response struct {
	UserAttributes  map[string]string `json:"userAttributes"`
	FinalUserStatus *string           `json:"finalUserStatus"`
	MessageAction   string            `json:"messageAction"`
}

func parseResponse(t testing.TB, out []byte) (response, map[string]json.RawMessage) {
	t.Helper()
	var whole map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(out, &whole))
	var r response
	require.NoError(t, json.Unmarshal(whole["response"], &r))
	return r, whole
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

func (s *syncBuffer) lastLog(t testing.TB) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(s.String()), "\n")
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &m), "log lines are JSON: %s", lines[len(lines)-1])
	return m
}
