package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
	"github.com/hasura-auth-cdk/hasuraauth/internal/emulator"
)

const (
	editorClaims = `{"x-hasura-default-role":"editor","x-hasura-allowed-roles":["viewer","editor"]}`
	uuid         = "96051f62-7897-4264-ad97-34be981bfcc9"
	sub          = "0b5c9a2e-1111-4222-8333-944445555666"
)

var allSources = []string{
	"TokenGeneration_HostedAuth", "TokenGeneration_Authentication", "TokenGeneration_NewPasswordChallenge",
	"TokenGeneration_AuthenticateDevice", "TokenGeneration_RefreshTokens",
}

func TestIssuesClaimsForEveryEventVersionAndEveryTokenSource(t *testing.T) {
	f := newFixture(t)
	f.put(t, item{email: "alice@example.com", claimsJSON: editorClaims, uuid: uuid})
	want := map[string]any{
		"x-hasura-user-id": uuid, "x-hasura-default-role": "editor",
		"x-hasura-allowed-roles": []any{"viewer", "editor"},
	}
	// Version 3 is what a pool with machine access sends for people too: their tokens must not change.
	for _, version := range []string{"1", "2", "3"} {
		for _, source := range allSources {
			t.Run(version+"/"+source, func(t *testing.T) {
				ev := event(version, source, nativeUser("alice@example.com", sub))
				out, err, _ := invoke(t, f.h, ev)
				require.NoError(t, err)
				for token, got := range tokenClaims(t, version, out) {
					assert.Equal(t, want, got, "%s token", token)
				}
				// The rest of the event goes back to Cognito unchanged.
				var in, back map[string]json.RawMessage
				require.NoError(t, json.Unmarshal(ev, &in))
				require.NoError(t, json.Unmarshal(out, &back))
				for k, v := range in {
					if k != "response" {
						assert.JSONEq(t, string(v), string(back[k]), "field %s", k)
					}
				}
				log := f.logs.lastLog(t)
				assert.Equal(t, "issued", log["outcome"])
				assert.Equal(t, "ok", log["reason"])
			})
		}
	}
}

func TestLooksUpTheLowerCasedEmail(t *testing.T) {
	f := newFixture(t)
	f.put(t, item{email: "alice@example.com", claimsJSON: editorClaims, uuid: uuid})
	_, err, _ := invoke(t, f.h, event("2", "TokenGeneration_Authentication", nativeUser("  Alice@EXAMPLE.com", sub)))
	require.NoError(t, err)
}

func TestUserIDComesFromCognitoNeverFromEditableData(t *testing.T) {
	f := newFixture(t)
	// The stored claims name another user id; cognito_uuid is absent: the event's sub wins.
	f.put(t, item{email: "bob@example.com", claimsJSON: `{"x-hasura-default-role":"viewer","x-hasura-allowed-roles":["viewer"],"x-hasura-user-id":"admin"}`})
	out, err, _ := invoke(t, f.h, event("2", "TokenGeneration_Authentication", nativeUser("bob@example.com", sub)))
	require.NoError(t, err)
	assert.Equal(t, sub, tokenClaims(t, "2", out)["id"]["x-hasura-user-id"])

	// A custom attribute a user might control is ignored too.
	attrs := nativeUser("bob@example.com", sub)
	attrs["custom:hasura_user_id"] = "admin"
	out, err, _ = invoke(t, f.h, event("2", "TokenGeneration_Authentication", attrs))
	require.NoError(t, err)
	assert.Equal(t, sub, tokenClaims(t, "2", out)["id"]["x-hasura-user-id"])
}

func TestMopedCompatibilityAttributesOfUnboundItemsBecomeStringClaims(t *testing.T) {
	f := newFixture(t)
	f.put(t, item{email: "carol@example.com", claimsJSON: editorClaims, uuid: sub, unbound: true, extra: map[string]types.AttributeValue{
		"database_id": &types.AttributeValueMemberN{Value: "42"}, "workgroup_id": &types.AttributeValueMemberS{Value: "7"},
	}})
	h := f.handler(t, map[string]string{"CLAIMS_ALLOW_UNBOUND": "true"})
	out, err, _ := invoke(t, h, event("1", "TokenGeneration_HostedAuth", nativeUser("carol@example.com", sub)))
	require.NoError(t, err)
	got := tokenClaims(t, "1", out)["id"]
	assert.Equal(t, "42", got["x-hasura-user-db-id"])
	assert.Equal(t, "7", got["x-hasura-user-wg-id"])

	_, err, _ = invoke(t, f.h, event("1", "TokenGeneration_HostedAuth", nativeUser("carol@example.com", sub)))
	require.Error(t, err, "by default an environment requires bound claims")
	assert.Equal(t, ReasonUnbound, f.logs.lastLog(t)["reason"])
}

func TestAUserMovedFromAnotherPoolKeepsTheirHasuraUserID(t *testing.T) {
	f := newFixture(t)
	const oldPoolSub = "11111111-aaaa-4bbb-8ccc-000000000001"
	f.put(t, item{email: "moved@example.com", claimsJSON: editorClaims, uuid: oldPoolSub, identity: sub})
	out, err, _ := invoke(t, f.h, event("2", "TokenGeneration_Authentication", nativeUser("moved@example.com", sub)))
	require.NoError(t, err)
	assert.Equal(t, oldPoolSub, tokenClaims(t, "2", out)["access"]["x-hasura-user-id"])
}

func TestFederatedUsersComeOnlyThroughTheConfiguredProviderAndDomains(t *testing.T) {
	f := newFixture(t)
	f.put(t, item{email: "dave@contoso.com", claimsJSON: editorClaims})
	f.put(t, item{email: "eve@evil.example", claimsJSON: editorClaims})
	sso := f.handler(t, map[string]string{"SSO_PROVIDER_NAME": "EntraID", "SSO_ALLOWED_EMAIL_DOMAINS": "contoso.com,fabrikam.com"})
	federated := func(email, identities string) map[string]string {
		return map[string]string{"sub": sub, "email": email, "cognito:user_status": "EXTERNAL_PROVIDER", "identities": identities}
	}
	entra := `[{"userId":"x","providerName":"EntraID","providerType":"OIDC","issuer":null,"primary":"true","dateCreated":"1700000000000"}]`
	_, err, _ := invoke(t, sso, event("2", "TokenGeneration_HostedAuth", federated("Dave@Contoso.com", entra)))
	require.NoError(t, err, "no email_verified is needed when the configured provider asserts an allowed domain")

	for _, c := range []struct {
		name, reason string
		h            *Handler
		attrs        map[string]string
	}{
		{"no SSO configured", ReasonProviderRefused, f.h, federated("dave@contoso.com", entra)},
		{"another provider", ReasonProviderRefused, sso, federated("dave@contoso.com", `[{"providerName":"Google","providerType":"Google"}]`)},
		{"one of two providers is another", ReasonProviderRefused, sso, federated("dave@contoso.com", `[{"providerName":"EntraID"},{"providerName":"Other"}]`)},
		{"external without identities", ReasonProviderRefused, sso, federated("dave@contoso.com", "")},
		{"identities not JSON", ReasonProviderRefused, sso, federated("dave@contoso.com", "EntraID")},
		{"identities without the external status", ReasonProviderRefused, sso, map[string]string{"sub": sub, "email": "dave@contoso.com", "email_verified": "true", "identities": `[{"providerName":"Other"}]`}},
		{"domain not allowed", ReasonDomainRefused, sso, federated("eve@evil.example", entra)},
		{"subdomain of an allowed domain", ReasonDomainRefused, sso, federated("dave@mail.contoso.com", entra)},
		{"non-ASCII look-alike of an allowed domain", ReasonEmailInvalid, sso, federated("dave@cont\u043eso.com", entra)},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err, _ := invoke(t, c.h, event("2", "TokenGeneration_HostedAuth", c.attrs))
			require.Error(t, err)
			assert.Equal(t, c.reason, f.logs.lastLog(t)["reason"])
		})
	}
}

func TestMopedDataWrittenByPythonWorksUnchanged(t *testing.T) {
	key, items, err := emulator.MopedFixture("../..")
	require.NoError(t, err)
	f := newFixture(t)
	ring, err := claims.NewKeyRing(key)
	require.NoError(t, err)
	f.setSecret(t, ring.SecretString())
	h := f.handler(t, map[string]string{"CLAIMS_ALLOW_UNBOUND": "true"})
	for _, it := range items {
		_, err := f.db.PutItem(context.Background(), putInput(f.table, it.Item))
		require.NoError(t, err)
		out, err, _ := invoke(t, h, event("2", "TokenGeneration_Authentication", nativeUser(it.Email, it.Sub)))
		require.NoError(t, err, it.Email)
		assert.Equal(t, it.Want, tokenClaims(t, "2", out)["access"], it.Email)
	}
}

func TestRefusesWithOneGenericMessageAndLogsTheReason(t *testing.T) {
	f := newFixture(t)
	f.put(t, item{email: "ok@example.com", claimsJSON: editorClaims, uuid: uuid})
	f.put(t, item{email: "notjson@example.com", claimsJSON: `not json`})
	f.put(t, item{email: "array@example.com", claimsJSON: `["editor"]`})
	f.put(t, item{email: "baddefault@example.com", claimsJSON: `{"x-hasura-default-role":"admin","x-hasura-allowed-roles":["viewer"]}`})
	f.put(t, item{email: "noroles@example.com", claimsJSON: `{"x-hasura-default-role":"viewer","x-hasura-allowed-roles":[]}`})
	f.put(t, item{email: "nonstring@example.com", claimsJSON: `{"x-hasura-default-role":"viewer","x-hasura-allowed-roles":["viewer"],"x-hasura-org":{"id":1}}`})
	f.put(t, item{email: "foreign@example.com", claimsJSON: `{"x-hasura-default-role":"viewer","x-hasura-allowed-roles":["viewer"],"role":"admin"}`})
	f.putRaw(t, item{email: "garbled@example.com"}, "gAAAAABfa8G-garbled-not-a-fernet-token==")
	otherKey, _ := claims.GenerateKey()
	otherRing, _ := claims.NewKeyRing(otherKey)
	foreignTok, _ := otherRing.Encrypt([]byte(editorClaims))
	f.putRaw(t, item{email: "otherkey@example.com"}, foreignTok)
	_, err := f.db.PutItem(context.Background(), putInput(f.table, map[string]types.AttributeValue{
		"user_id": &types.AttributeValueMemberS{Value: "noclaims@example.com"},
	}))
	require.NoError(t, err)
	// Write access to the table alone: the admin's sealed blob and identity copied into another item.
	f.put(t, item{email: "admin@example.com", claimsJSON: `{"x-hasura-default-role":"admin","x-hasura-allowed-roles":["admin"]}`, identity: "admin-sub"})
	admin, err := f.db.GetItem(context.Background(), getInput(f.table, "admin@example.com"))
	require.NoError(t, err)
	copied := admin.Item
	copied["user_id"] = &types.AttributeValueMemberS{Value: "mallory@example.com"}
	_, err = f.db.PutItem(context.Background(), putInput(f.table, copied))
	require.NoError(t, err)
	f.put(t, item{email: "moped@example.com", claimsJSON: editorClaims, unbound: true})
	f.put(t, item{email: "stale@example.com", claimsJSON: editorClaims, uuid: "sub-of-the-previous-owner", unbound: true})
	allowUnbound := f.handler(t, map[string]string{"CLAIMS_ALLOW_UNBOUND": "true"})

	unverified := nativeUser("ok@example.com", sub)
	unverified["email_verified"] = "false"
	noVerifiedAttr := nativeUser("ok@example.com", sub)
	delete(noVerifiedAttr, "email_verified")

	cases := []struct {
		name, reason string
		ev           []byte
	}{
		{"unknown user", ReasonUnknownUser, event("2", "TokenGeneration_Authentication", nativeUser("nobody@example.com", sub))},
		{"unverified email", ReasonEmailUnverified, event("2", "TokenGeneration_Authentication", unverified)},
		{"email_verified missing", ReasonEmailUnverified, event("2", "TokenGeneration_Authentication", noVerifiedAttr)},
		{"no email", ReasonNoEmail, event("2", "TokenGeneration_Authentication", map[string]string{"sub": sub, "email_verified": "true"})},
		{"malformed email", ReasonEmailInvalid, event("2", "TokenGeneration_Authentication", nativeUser("not-an-email", sub))},
		{"dotted capital I", ReasonEmailInvalid, event("2", "TokenGeneration_Authentication", nativeUser("OK\u0130@example.com", sub))},
		{"Kelvin sign", ReasonEmailInvalid, event("2", "TokenGeneration_Authentication", nativeUser("o\u212A@example.com", sub))},
		{"zero-width space", ReasonEmailInvalid, event("2", "TokenGeneration_Authentication", nativeUser("ok\u200b@example.com", sub))},
		{"IP literal", ReasonEmailInvalid, event("2", "TokenGeneration_Authentication", nativeUser("ok@[127.0.0.1]", sub))},
		{"trailing dot", ReasonEmailInvalid, event("2", "TokenGeneration_Authentication", nativeUser("ok@example.com.", sub))},
		{"tab inside", ReasonEmailInvalid, event("2", "TokenGeneration_Authentication", nativeUser("ok\t@example.com", sub))},
		{"blob copied from another item", ReasonBoundElsewhere, event("2", "TokenGeneration_Authentication", nativeUser("mallory@example.com", "admin-sub"))},
		{"bound to another identity", ReasonIdentityMismatch, event("2", "TokenGeneration_Authentication", nativeUser("admin@example.com", sub))},
		{"unbound where bindings are required", ReasonUnbound, event("2", "TokenGeneration_Authentication", nativeUser("moped@example.com", sub))},
		{"claims missing", ReasonBadRecord, event("2", "TokenGeneration_Authentication", nativeUser("noclaims@example.com", sub))},
		{"garbled claims", ReasonUndecryptable, event("2", "TokenGeneration_Authentication", nativeUser("garbled@example.com", sub))},
		{"claims under a key not in the ring", ReasonUndecryptable, event("1", "TokenGeneration_Authentication", nativeUser("otherkey@example.com", sub))},
		{"claims not JSON", ReasonInvalidClaims, event("2", "TokenGeneration_Authentication", nativeUser("notjson@example.com", sub))},
		{"claims an array", ReasonInvalidClaims, event("2", "TokenGeneration_Authentication", nativeUser("array@example.com", sub))},
		{"default role not allowed", ReasonInvalidClaims, event("2", "TokenGeneration_Authentication", nativeUser("baddefault@example.com", sub))},
		{"empty allowed roles", ReasonInvalidClaims, event("2", "TokenGeneration_Authentication", nativeUser("noroles@example.com", sub))},
		{"non-string claim", ReasonInvalidClaims, event("2", "TokenGeneration_Authentication", nativeUser("nonstring@example.com", sub))},
		{"non-hasura claim", ReasonInvalidClaims, event("2", "TokenGeneration_Authentication", nativeUser("foreign@example.com", sub))},
		{"no sub", ReasonInvalidClaims, event("2", "TokenGeneration_Authentication", map[string]string{"email": "ok@example.com", "email_verified": "true"})},
		{"version 4", ReasonUnsupportedVer, event("4", "TokenGeneration_Authentication", nativeUser("ok@example.com", sub))},
		{"no version", ReasonUnsupportedVer, []byte(`{"triggerSource":"TokenGeneration_Authentication","request":{"userAttributes":{}}}`)},
		{"client credentials", ReasonUnsupportedSource, event("2", "TokenGeneration_ClientCredentials", nativeUser("ok@example.com", sub))},
		{"client credentials under V3 without machine access", ReasonMachineAccessOff, event("3", "TokenGeneration_ClientCredentials", nativeUser("ok@example.com", sub))},
		{"other trigger", ReasonUnsupportedSource, event("1", "PreSignUp_SignUp", nativeUser("ok@example.com", sub))},
		{"not JSON", ReasonBadEvent, []byte(`{"version":`)},
		{"JSON array", ReasonBadEvent, []byte(`[1,2]`)},
		{"attributes of the wrong type", ReasonBadEvent, []byte(`{"version":"2","triggerSource":"TokenGeneration_Authentication","request":{"userAttributes":{"email":["a@b.c"]}}}`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err, _ := invoke(t, f.h, c.ev)
			require.Error(t, err)
			assert.Nil(t, out, "no token")
			assert.Equal(t, RefusalMessage, err.Error(), "users see one fixed sentence")
			log := f.logs.lastLog(t)
			assert.Equal(t, "refused", log["outcome"])
			assert.Equal(t, c.reason, log["reason"])
			assert.Equal(t, "WARN", log["level"])
			assert.Contains(t, log, "latency_ms")
			assert.Contains(t, log, "request_id")
		})
	}

	// A stale unbound item (email reused by a new account) is refused even where unbound items are allowed.
	_, err = allowUnbound.Handle(context.Background(), event("2", "TokenGeneration_Authentication", nativeUser("stale@example.com", sub)))
	require.Error(t, err)
	assert.Equal(t, ReasonIdentityMismatch, f.logs.lastLog(t)["reason"])

	// Nothing secret or personal in any log line: no email, claims, roles, keys or ciphertext.
	logs := f.logs.String()
	for _, s := range []string{"@example.com", "editor", "admin", "x-hasura", foreignTok, otherKey, f.ring.Keys()[0], "gAAAAA"} {
		assert.NotContains(t, logs, s)
	}
	assert.Contains(t, logs, `"user":"hmac:`+f.ring.LogHash("ok@example.com")+`"`, "users are identified by a keyed hash of their email")
	assert.NotContains(t, logs, "sha256", "no unkeyed hash a dictionary could reverse")
}

func TestKeyRingIsCachedForTheTTLAndReReadWhenADecryptFails(t *testing.T) {
	f := newFixture(t)
	f.put(t, item{email: "alice@example.com", claimsJSON: editorClaims, uuid: uuid})
	now := time.Now()
	f.h.Now = func() time.Time { return now }
	login := func() error {
		_, err, _ := invoke(t, f.h, event("2", "TokenGeneration_RefreshTokens", nativeUser("alice@example.com", sub)))
		return err
	}
	require.NoError(t, login(), "warm up: the ring is cached")

	// A broken secret is not noticed while the cached ring still decrypts: no extra reads.
	f.setSecret(t, `{"keys":["broken"]}`)
	require.NoError(t, login())
	now = now.Add(5*time.Minute + time.Second)
	require.Error(t, login(), "after the TTL the secret is read again")
	assert.Equal(t, ReasonKeyRingInvalid, f.logs.lastLog(t)["reason"])

	// Rotation while warm: the item is re-encrypted under a new key and the old key retired.
	f.setSecret(t, f.ring.SecretString())
	require.NoError(t, login(), "ring re-read")
	newKey, _ := claims.GenerateKey()
	f.ring, _ = claims.NewKeyRing(newKey)
	f.setSecret(t, f.ring.SecretString())
	f.put(t, item{email: "alice@example.com", claimsJSON: editorClaims, uuid: uuid})
	require.NoError(t, login(), "a decrypt failure re-reads the secret once, within the TTL, without a redeploy")
}

func TestDependenciesThatHangOrRefuseStillEndInTimeAndRefuse(t *testing.T) {
	hang, closeHang, err := emulator.Blackhole()
	require.NoError(t, err)
	defer closeHang()
	refused, err := emulator.Refusing()
	require.NoError(t, err)

	f := newFixture(t)
	f.put(t, item{email: "alice@example.com", claimsJSON: editorClaims, uuid: uuid})
	for _, c := range []struct {
		name, envVar, url, reason string
	}{
		{"table hangs", "AWS_ENDPOINT_URL_DYNAMODB", hang, ReasonTableError},
		{"table refuses connections", "AWS_ENDPOINT_URL_DYNAMODB", refused, ReasonTableError},
		{"secret hangs", "AWS_ENDPOINT_URL_SECRETS_MANAGER", hang, ReasonSecretError},
		{"secret refuses connections", "AWS_ENDPOINT_URL_SECRETS_MANAGER", refused, ReasonSecretError},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(c.envVar, c.url)
			h := f.handler(t, nil)
			out, err, took := invoke(t, h, event("2", "TokenGeneration_Authentication", nativeUser("alice@example.com", sub)))
			require.Error(t, err)
			assert.Nil(t, out)
			assert.Equal(t, c.reason, f.logs.lastLog(t)["reason"])
			// The contract is Cognito's: an answer inside its 5 s wait, so the login is refused
			// rather than timed out and retried against a dead dependency.
			assert.Less(t, took, 5*time.Second, "the invocation must end inside Cognito's limit")
		})
	}
}

func TestInitRefusesIncompleteConfiguration(t *testing.T) {
	log := slog.New(slog.NewJSONHandler(&syncBuffer{}, nil))
	for name, env := range map[string]map[string]string{
		"no table":  {"CLAIMS_KEY_SECRET_ID": "s"},
		"no secret": {"CLAIMS_TABLE_NAME": "t"},
		"bad ttl":   {"CLAIMS_TABLE_NAME": "t", "CLAIMS_KEY_SECRET_ID": "s", "CLAIMS_KEY_CACHE_TTL": "five minutes"},
		"negative":  {"CLAIMS_TABLE_NAME": "t", "CLAIMS_KEY_SECRET_ID": "s", "CLAIMS_KEY_CACHE_TTL": "-1m"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := newHandler(context.Background(), func(k string) string { return env[k] }, log)
			require.Error(t, err)
			assert.True(t, strings.Contains(err.Error(), "CLAIMS_"), err.Error())
		})
	}
	for name, env := range map[string]map[string]string{
		"unbound not a bool":  {"CLAIMS_TABLE_NAME": "t", "CLAIMS_KEY_SECRET_ID": "s", "CLAIMS_ALLOW_UNBOUND": "yes"},
		"provider no domains": {"CLAIMS_TABLE_NAME": "t", "CLAIMS_KEY_SECRET_ID": "s", "SSO_PROVIDER_NAME": "EntraID"},
		"bad domain":          {"CLAIMS_TABLE_NAME": "t", "CLAIMS_KEY_SECRET_ID": "s", "SSO_PROVIDER_NAME": "EntraID", "SSO_ALLOWED_EMAIL_DOMAINS": "Contoso.com"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := newHandler(context.Background(), func(k string) string { return env[k] }, log)
			require.Error(t, err)
			assert.Regexp(t, "CLAIMS_ALLOW_UNBOUND|SSO_", err.Error())
		})
	}
	h, err := newHandler(context.Background(), func(k string) string {
		return map[string]string{"CLAIMS_TABLE_NAME": "t", "CLAIMS_KEY_SECRET_ID": "s", "CLAIMS_KEY_CACHE_TTL": "90s"}[k]
	}, log)
	require.NoError(t, err)
	assert.Equal(t, 90*time.Second, h.KeyTTL)
	assert.False(t, h.AllowUnbound, "bindings are required unless configured otherwise")
	assert.Empty(t, h.SSOProvider, "no federated user is accepted unless configured")
	assert.Equal(t, budget, h.Budget)
	assert.Less(t, budget, 3*time.Second, "the budget must end before the function's 3 s timeout")
}

// TestAnOlderBlobPutBackBelowTheUsersFloorIsRefused: after claimsctl narrows a user's claims it
// records a floor in the key secret; a blob of a lower generation (the user's own broader claims,
// put back by someone with write access to the table only) is refused as claims_superseded, as
// is an unbound blob for that user, while the current generation signs in.
func TestAnOlderBlobPutBackBelowTheUsersFloorIsRefused(t *testing.T) {
	f := newFixture(t)
	const email = "narrowed@example.com"
	seal := func(roles string, gen uint64) string {
		c, err := claims.Parse([]byte(`{"x-hasura-default-role":"viewer","x-hasura-allowed-roles":` + roles + `}`))
		require.NoError(t, err)
		plain, err := claims.Seal(c, claims.Binding{UserID: email, Identity: sub, Gen: gen})
		require.NoError(t, err)
		tok, err := f.ring.Encrypt(plain)
		require.NoError(t, err)
		return tok
	}
	broad, narrow := seal(`["viewer","admin"]`, 3), seal(`["viewer"]`, 5)
	f.setSecret(t, f.ring.WithFloor(email, 5).SecretString())
	h := f.handler(t, nil)

	f.putRaw(t, item{email: email}, narrow)
	out, err, _ := invoke(t, h, event("2", "TokenGeneration_Authentication", nativeUser(email, sub)))
	require.NoError(t, err, "the current generation signs in")
	assert.Equal(t, []any{"viewer"}, tokenClaims(t, "2", out)["access"]["x-hasura-allowed-roles"])

	f.putRaw(t, item{email: email}, broad)
	_, err, _ = invoke(t, h, event("2", "TokenGeneration_Authentication", nativeUser(email, sub)))
	require.Error(t, err)
	assert.Equal(t, ReasonSuperseded, f.logs.lastLog(t)["reason"])

	bare, _ := f.ring.Encrypt([]byte(`{"x-hasura-default-role":"admin","x-hasura-allowed-roles":["admin"]}`))
	f.putRaw(t, item{email: email, uuid: sub}, bare)
	_, err, _ = invoke(t, f.handler(t, map[string]string{"CLAIMS_ALLOW_UNBOUND": "true"}), event("2", "TokenGeneration_Authentication", nativeUser(email, sub)))
	require.Error(t, err, "an unbound blob is below any floor, even where unbound items are allowed")
	assert.Equal(t, ReasonSuperseded, f.logs.lastLog(t)["reason"])
}
