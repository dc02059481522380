package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

// checkIssued asserts the properties every issued token must have: the claims pass the same
// validation as stored claims, the user id is the one Cognito or the table gave, and the
// default role is allowed.
func checkIssued(t *testing.T, version string, out []byte, wantUserID string) {
	t.Helper()
	for token, c := range tokenClaims(t, version, out) {
		b, _ := json.Marshal(c)
		parsed, err := claims.Parse(b)
		if err != nil {
			t.Fatalf("%s token carries claims that fail validation: %v: %s", token, err, b)
		}
		if parsed[claims.UserID] != wantUserID {
			t.Fatalf("%s token has user id %v, want %s", token, parsed[claims.UserID], wantUserID)
		}
	}
}

// checkMachineToken asserts what every machine token must carry: the one known client, its
// tier's role as the only role, and scopes that parse as a Postgres array of granted names.
func checkMachineToken(t *testing.T, out []byte) {
	t.Helper()
	var resp struct {
		Response struct {
			Details map[string]struct {
				Add map[string]string `json:"claimsToAddOrOverride"`
			} `json:"claimsAndScopeOverrideDetails"`
		} `json:"response"`
	}
	if err := json.Unmarshal(out, &resp); err != nil || len(resp.Response.Details) != 1 {
		t.Fatalf("a machine token customizes the access token only: %s", out)
	}
	var c map[string]any
	if err := json.Unmarshal([]byte(resp.Response.Details["accessTokenGeneration"].Add[claims.Namespace]), &c); err != nil {
		t.Fatalf("machine claims are not JSON: %s", out)
	}
	if c[claims.ClientIDClaim] != "4tq8ingest" || c[claims.DefaultRole] != "service" || len(c) != 5 {
		t.Fatalf("machine token for the wrong client or role: %v", c)
	}
	if roles, _ := c[claims.AllowedRoles].([]any); len(roles) != 1 || roles[0] != "service" {
		t.Fatalf("machine token allows other roles: %v", c)
	}
	lit, _ := c[claims.ScopesClaim].(string)
	if _, err := claims.ParseScopesLiteral(lit); err != nil {
		t.Fatalf("scopes %q do not parse as a Postgres array: %v", lit, err)
	}
}

// FuzzHandleEvent: any event, however malformed, ends in a validated token for the one known
// user or the one known client, or in a refusal; never a panic, never a token for anyone else.
func FuzzHandleEvent(f *testing.F) {
	fx := newFixture(f)
	fx.h = fx.handler(f, map[string]string{"MACHINE_TIERS": machineTiers})
	fx.put(f, item{email: "alice@example.com", claimsJSON: editorClaims, uuid: uuid})
	fx.putClient(f, claims.Client{ID: "4tq8ingest", Name: "grid-ingest", Tier: "internal"})
	fx.putClient(f, claims.Client{ID: "paused", Name: "paused", Tier: "internal", Disabled: true})
	f.Add(clientEvent("4tq8ingest", "hasura/Query:Person", "hasura/Mutation:Person:Create"))
	f.Add(clientEvent("4tq8ingest", "hasura/Query:\"Person\"", "hasura/", "openid"))
	f.Add(clientEvent("paused", "hasura/Query:Person"))
	f.Add(clientEvent("client#4tq8ingest"))
	for _, v := range []string{"1", "2", "3"} {
		f.Add(event(v, "TokenGeneration_Authentication", nativeUser("alice@example.com", sub)))
		f.Add(event(v, "TokenGeneration_RefreshTokens", nativeUser("ALICE@example.com", sub)))
	}
	f.Add(event("2", "TokenGeneration_HostedAuth", map[string]string{"email": "alice@example.com", "cognito:user_status": "EXTERNAL_PROVIDER"}))
	f.Add(event("4", "TokenGeneration_Authentication", nativeUser("alice@example.com", sub)))
	f.Add(event("3", "TokenGeneration_ClientCredentials", map[string]string{}))
	f.Add([]byte(`{"version":"2","triggerSource":"TokenGeneration_Authentication","request":{"userAttributes":null}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := fx.h.Handle(context.Background(), data)
		if err != nil {
			if err.Error() != RefusalMessage || out != nil {
				t.Fatalf("a refusal must be the fixed message and no output: %v", err)
			}
			return
		}
		var ev struct {
			Version       string `json:"version"`
			TriggerSource string `json:"triggerSource"`
		}
		if json.Unmarshal(data, &ev) != nil {
			t.Fatalf("issued a token for an event that is not JSON")
		}
		if ev.TriggerSource == clientCredentials {
			checkMachineToken(t, out)
			return
		}
		checkIssued(t, ev.Version, out, uuid)
	})
}

// FuzzStoredClaims: whatever the table holds, the token carries only validated claims.
func FuzzStoredClaims(f *testing.F) {
	fx := newFixture(f)
	for _, s := range []string{
		editorClaims,
		`{"x-hasura-default-role":"a","x-hasura-allowed-roles":["a"],"x-hasura-user-id":"evil"}`,
		`{"x-hasura-default-role":"a","x-hasura-allowed-roles":["a"],"x-hasura-org":7}`,
		`{"x-hasura-default-role":"b","x-hasura-allowed-roles":["a"]}`,
		`{"X-Hasura-Default-Role":"a","x-hasura-allowed-roles":["a"]}`,
		`[]`, `"x"`, ``, `{"x-hasura-allowed-roles":[{"a":1}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, plain []byte) {
		fx.put(t, item{email: "fuzz@example.com", claimsJSON: string(plain), uuid: uuid})
		out, err := fx.h.Handle(context.Background(), event("2", "TokenGeneration_Authentication", nativeUser("fuzz@example.com", sub)))
		if err != nil {
			if _, perr := claims.Parse(plain); perr == nil {
				t.Fatalf("refused claims that validate: %s", plain)
			}
			return
		}
		if _, perr := claims.Parse(plain); perr != nil {
			t.Fatalf("issued a token for claims that fail validation (%v): %s", perr, plain)
		}
		checkIssued(t, "2", out, uuid)
	})
}
