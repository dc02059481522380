package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

// machineTiers is MACHINE_TIERS as the stack sets it for the test environment's tiers.
const machineTiers = "internal=service,readonly=service_readonly"

// clientEvent is a version 3 client-credentials event in the shape Cognito documents: no user,
// the app client in callerContext, the granted scopes in request.scopes.
func clientEvent(clientID string, scopes ...string) []byte {
	ev := map[string]any{
		"version":       "3",
		"triggerSource": "TokenGeneration_ClientCredentials",
		"region":        "us-east-1",
		"userPoolId":    "us-east-1_TestPool",
		"userName":      "ClientCredentials",
		"callerContext": map[string]any{"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": clientID},
		"request": map[string]any{
			"userAttributes":     map[string]any{},
			"groupConfiguration": map[string]any{"groupsToOverride": []any{}, "iamRolesToOverride": []any{}},
			"scopes":             scopes,
		},
		"response": map[string]any{"claimsAndScopeOverrideDetails": nil},
	}
	b, _ := json.Marshal(ev)
	return b
}

// putClient writes a client's record as claimsctl client add does.
func (f *fixture) putClient(t testing.TB, c claims.Client) {
	t.Helper()
	tok, err := claims.SealClient(f.ring, c)
	require.NoError(t, err)
	f.putRaw(t, item{email: claims.ClientItemID(c.ID)}, tok)
}

// accessClaims returns the Hasura claims of the access token, and fails if the response
// customizes anything else (there is no ID token in the client-credentials grant).
func accessClaims(t *testing.T, out []byte) map[string]any {
	t.Helper()
	var resp struct {
		Response map[string]map[string]map[string]map[string]string `json:"response"`
	}
	require.NoError(t, json.Unmarshal(out, &resp), "%s", out)
	details := resp.Response["claimsAndScopeOverrideDetails"]
	require.Len(t, details, 1, "only the access token: %s", out)
	add := details["accessTokenGeneration"]["claimsToAddOrOverride"]
	require.Len(t, add, 1, "only the Hasura claim: %s", out)
	var c map[string]any
	require.NoError(t, json.Unmarshal([]byte(add[claims.Namespace]), &c))
	return c
}

func TestMachineTokenCarriesTheTierRoleTheClientAndTheGrantedScopes(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, map[string]string{"MACHINE_TIERS": machineTiers})
	f.putClient(t, claims.Client{ID: "4tq8ingest", Name: "grid-ingest", Tier: "internal"})
	f.putClient(t, claims.Client{ID: "7reader", Name: "reporting", Tier: "readonly"})

	out, err, _ := invoke(t, h, clientEvent("4tq8ingest", "hasura/Query:Person", "hasura/Mutation:Person:Create"))
	require.NoError(t, err)
	c := accessClaims(t, out)
	assert.Equal(t, map[string]any{
		"x-hasura-default-role":  "service",
		"x-hasura-allowed-roles": []any{"service"},
		"x-hasura-client-id":     "4tq8ingest",
		"x-hasura-client-name":   "grid-ingest",
		"x-hasura-scopes":        `{"Mutation:Person:Create","Query:Person"}`,
	}, c)
	scopes, err := claims.ParseScopesLiteral(c["x-hasura-scopes"].(string))
	require.NoError(t, err)
	assert.Equal(t, []string{"Mutation:Person:Create", "Query:Person"}, scopes, "Postgres reads back exactly the granted scopes")
	log := f.logs.lastLog(t)
	assert.Equal(t, "issued", log["outcome"])
	assert.Equal(t, "4tq8ingest", log["client"])
	assert.Equal(t, "3", log["version"])

	// The rest of the event goes back unchanged.
	var in, back map[string]json.RawMessage
	ev := clientEvent("7reader", "hasura/Query:Person")
	out, err, _ = invoke(t, h, ev)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(ev, &in))
	require.NoError(t, json.Unmarshal(out, &back))
	for k, v := range in {
		if k != "response" {
			assert.JSONEq(t, string(v), string(back[k]), "field %s", k)
		}
	}
	c = accessClaims(t, out)
	assert.Equal(t, "service_readonly", c["x-hasura-default-role"], "the readonly tier's role")
	assert.Equal(t, `{"Query:Person"}`, c["x-hasura-scopes"])

	// No scope of this resource server granted: an empty array, not a missing variable.
	out, err, _ = invoke(t, h, clientEvent("7reader"))
	require.NoError(t, err)
	assert.Equal(t, "{}", accessClaims(t, out)["x-hasura-scopes"])

	// A record that lists its scopes (claimsctl client add and scopes write them) narrows what
	// Cognito granted: an app client widened outside claimsctl gives Hasura nothing more.
	f.putClient(t, claims.Client{ID: "9narrow", Name: "narrow", Tier: "readonly", Scopes: []string{"Query:Person"}})
	out, err, _ = invoke(t, h, clientEvent("9narrow", "hasura/Query:Person", "hasura/Mutation:Person:Create"))
	require.NoError(t, err)
	assert.Equal(t, `{"Query:Person"}`, accessClaims(t, out)["x-hasura-scopes"])

	// People sign in exactly as before on a handler with machine access.
	f.put(t, item{email: "alice@example.com", claimsJSON: editorClaims, uuid: uuid})
	out, err, _ = invoke(t, h, event("3", "TokenGeneration_Authentication", nativeUser("alice@example.com", sub)))
	require.NoError(t, err)
	for token, got := range tokenClaims(t, "3", out) {
		assert.Equal(t, map[string]any{"x-hasura-user-id": uuid, "x-hasura-default-role": "editor", "x-hasura-allowed-roles": []any{"viewer", "editor"}}, got, token)
	}
}

func TestMachineTokensAreRefusedWithAReasonCode(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, map[string]string{"MACHINE_TIERS": machineTiers})
	ctx := context.Background()
	f.putClient(t, claims.Client{ID: "active", Name: "ok", Tier: "internal"})
	f.putClient(t, claims.Client{ID: "off", Name: "paused", Tier: "internal", Disabled: true})
	f.putClient(t, claims.Client{ID: "gone", Name: "removed", Tier: "internal"})
	_, err := f.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(f.table),
		Key: map[string]types.AttributeValue{claims.AttrUserID: &types.AttributeValueMemberS{Value: "client#gone"}}})
	require.NoError(t, err)
	f.putClient(t, claims.Client{ID: "partner", Name: "syndicator", Tier: "syndication"})
	// Write access to the table alone: the internal client's record copied to another client's key.
	active, err := f.db.GetItem(ctx, getInput(f.table, "client#active"))
	require.NoError(t, err)
	copied := active.Item
	copied[claims.AttrUserID] = &types.AttributeValueMemberS{Value: "client#mallory"}
	_, err = f.db.PutItem(ctx, putInput(f.table, copied))
	require.NoError(t, err)
	// A user's sealed claims written under a client key are not a client record.
	f.put(t, item{email: "client#useritem", claimsJSON: editorClaims, uuid: uuid})
	f.putRaw(t, item{email: "client#garbled"}, "gAAAAABfa8G-garbled-not-a-fernet-token==")
	otherKey, _ := claims.GenerateKey()
	otherRing, _ := claims.NewKeyRing(otherKey)
	foreign, err := claims.SealClient(otherRing, claims.Client{ID: "foreign", Name: "x", Tier: "internal"})
	require.NoError(t, err)
	f.putRaw(t, item{email: "client#foreign"}, foreign)

	off := f.handler(t, nil) // an environment without machineAccess
	cases := []struct {
		name, reason string
		h            *Handler
		ev           []byte
	}{
		{"unknown client", ReasonUnknownClient, h, clientEvent("never-added", "hasura/Query:Person")},
		{"removed client", ReasonUnknownClient, h, clientEvent("gone", "hasura/Query:Person")},
		{"disabled client", ReasonClientDisabled, h, clientEvent("off", "hasura/Query:Person")},
		{"tier not configured", ReasonClientTier, h, clientEvent("partner", "hasura/Query:Person")},
		{"record copied from another client", ReasonBoundElsewhere, h, clientEvent("mallory", "hasura/Query:Person")},
		{"user claims under a client key", ReasonInvalidClaims, h, clientEvent("useritem")},
		{"garbled record", ReasonUndecryptable, h, clientEvent("garbled")},
		{"record of another key ring", ReasonUndecryptable, h, clientEvent("foreign")},
		{"no client id", ReasonNoClientID, h, clientEvent("", "hasura/Query:Person")},
		{"machine access off", ReasonMachineAccessOff, off, clientEvent("active", "hasura/Query:Person")},
		{"client credentials in a version 2 event", ReasonUnsupportedSource, h, []byte(`{"version":"2","triggerSource":"TokenGeneration_ClientCredentials","callerContext":{"clientId":"active"},"request":{"userAttributes":{}}}`)},
		{"scopes of the wrong type", ReasonBadEvent, h, []byte(`{"version":"3","triggerSource":"TokenGeneration_ClientCredentials","callerContext":{"clientId":"active"},"request":{"scopes":"hasura/Query:Person"}}`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err, _ := invoke(t, c.h, c.ev)
			require.Error(t, err)
			assert.Nil(t, out, "no token")
			assert.Equal(t, RefusalMessage, err.Error())
			log := f.logs.lastLog(t)
			assert.Equal(t, "refused", log["outcome"])
			assert.Equal(t, c.reason, log["reason"])
		})
	}
	// The same client, enabled, gets its token: the refusals above are about each record.
	_, err, _ = invoke(t, h, clientEvent("active", "hasura/Query:Person"))
	require.NoError(t, err)
	// Nothing of the records in the logs.
	for _, s := range []string{"x-hasura", "paused", "syndicator", "gAAAAA", otherKey, f.ring.Keys()[0]} {
		assert.NotContains(t, f.logs.String(), s)
	}
}

func TestMachineTiersMustBePairs(t *testing.T) {
	for _, v := range []string{"internal", "internal=", "=role", "a=b,,c=d"} {
		_, err := newHandler(context.Background(), func(k string) string {
			return map[string]string{"CLAIMS_TABLE_NAME": "t", "CLAIMS_KEY_SECRET_ID": "s", "MACHINE_TIERS": v}[k]
		}, nil)
		assert.ErrorContains(t, err, "MACHINE_TIERS", v)
	}
}
