package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

// RefusalMessage is the only thing a refused user learns: Cognito shows the trigger's error text.
const RefusalMessage = "Sign-in is not available for this account. Contact your administrator."

// Reason codes in the log line. They say why a login was refused without saying anything secret.
const (
	ReasonOK                = "ok"
	ReasonBadEvent          = "bad_event"
	ReasonUnsupportedVer    = "unsupported_version"
	ReasonUnsupportedSource = "unsupported_trigger_source"
	ReasonNoEmail           = "no_email"
	ReasonEmailInvalid      = "email_invalid" // non-ASCII, control or zero-width characters, IP literal, not a plain address
	ReasonEmailUnverified   = "email_unverified"
	ReasonProviderRefused   = "provider_not_allowed"     // federated, but not through the configured provider
	ReasonDomainRefused     = "email_domain_not_allowed" // federated, with an email outside the allowed domains
	ReasonUnknownUser       = "unknown_user"
	ReasonBadRecord         = "bad_record"
	ReasonUndecryptable     = "claims_undecryptable"
	ReasonInvalidClaims     = "claims_invalid"
	ReasonBoundElsewhere    = "claims_bound_elsewhere" // the blob was sealed for another item
	ReasonIdentityMismatch  = "identity_mismatch"      // the item records another Cognito identity
	ReasonUnbound           = "claims_unbound"         // no binding, and this environment requires one
	ReasonSuperseded        = "claims_superseded"      // an older blob put back: its generation is below the user's floor
	ReasonTableError        = "table_unavailable"
	ReasonSecretError       = "key_secret_unavailable"
	ReasonKeyRingInvalid    = "key_secret_invalid"
	// Machine tokens (client-credentials grant, version 3 events).
	ReasonMachineAccessOff = "machine_access_off"  // the environment has no machineAccess
	ReasonNoClientID       = "no_client_id"        // the event names no app client
	ReasonUnknownClient    = "unknown_client"      // no record: never added, or removed
	ReasonClientDisabled   = "client_disabled"     // claimsctl client disable
	ReasonClientTier       = "client_tier_unknown" // the record's tier is not in machineAccess.tiers
)

// clientCredentials is the trigger source of a machine's token request.
const clientCredentials = "TokenGeneration_ClientCredentials"

// tokenSources are the trigger sources that generate tokens for a user. Anything else (for
// instance client-credentials grants, which have no user) is refused.
var tokenSources = map[string]bool{
	"TokenGeneration_HostedAuth":           true,
	"TokenGeneration_Authentication":       true,
	"TokenGeneration_NewPasswordChallenge": true,
	"TokenGeneration_AuthenticateDevice":   true,
	"TokenGeneration_RefreshTokens":        true,
}

// ItemGetter is the one DynamoDB call the handler makes.
type ItemGetter interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// SecretGetter is the one Secrets Manager call the handler makes.
type SecretGetter interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Handler answers PreTokenGeneration events. It is safe for concurrent use.
type Handler struct {
	Table    string
	SecretID string
	// KeyTTL is how long a fetched key ring is trusted before it is fetched again.
	KeyTTL time.Duration
	// Budget bounds one invocation, well inside Cognito's 5 s; the Lambda deadline bounds it too.
	Budget  time.Duration
	DB      ItemGetter
	Secrets SecretGetter
	Log     *slog.Logger
	Now     func() time.Time
	// AllowUnbound accepts claims that carry no binding to their item (Moped's, until claimsctl
	// key rotate binds them). Off by default: see config claims.allowUnbound.
	AllowUnbound bool
	// SSOProvider is the only identity provider federated users may come through ("" refuses
	// every federated user); SSODomains the email domains they may have.
	SSOProvider string
	SSODomains  map[string]bool
	// Tiers maps a machine client's tier to the Hasura role its tokens carry (machineAccess.tiers);
	// empty refuses every client-credentials token.
	Tiers map[string]string
	// FunctionName is the Lambda's name (AWS_LAMBDA_FUNCTION_NAME), the metrics' dimension.
	FunctionName string

	mu     sync.Mutex
	ring   *claims.KeyRing
	ringAt time.Time
}

// refusal is an internal error that carries a reason code for the log.
type refusal struct {
	reason string
	cause  error
}

func (r *refusal) Error() string {
	if r.cause != nil {
		return r.reason + ": " + r.cause.Error()
	}
	return r.reason
}

func refuse(reason string, cause error) error { return &refusal{reason: reason, cause: cause} }

// tokenEvent is the part of both event versions the handler reads.
type tokenEvent struct {
	Version       string `json:"version"`
	TriggerSource string `json:"triggerSource"`
	UserPoolID    string `json:"userPoolId"`
	UserName      string `json:"userName"`
	CallerContext struct {
		ClientID string `json:"clientId"`
	} `json:"callerContext"`
	Request struct {
		UserAttributes map[string]string `json:"userAttributes"`
		// Scopes are the scopes Cognito grants the token (versions 2 and 3).
		Scopes []string `json:"scopes"`
	} `json:"request"`
}

// Handle is the Lambda entry point. It returns the event with the response filled in, or an
// error whose text is RefusalMessage, so that Cognito issues no token.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
	start := h.Now()
	ctx, cancel := context.WithTimeout(ctx, h.Budget)
	defer cancel()

	out, ev, err := h.handle(ctx, raw)
	end := h.Now()
	latency := float64(end.Sub(start).Microseconds()) / 1000
	attrs := []slog.Attr{
		slog.String("request_id", requestID(ctx)),
		slog.String("trigger_source", ev.TriggerSource),
		slog.String("version", ev.Version),
		slog.String("user", h.maskUser(ev.Request.UserAttributes["email"])),
		slog.Float64("latency_ms", latency),
	}
	if ev.TriggerSource == clientCredentials {
		// An app client ID is no secret, and it is how an operator finds the client.
		attrs = append(attrs, slog.String("client", ev.CallerContext.ClientID))
	}
	if err != nil {
		reason := ReasonBadEvent
		var r *refusal
		if errors.As(err, &r) {
			reason = r.reason
		}
		attrs = append(attrs, slog.String("outcome", "refused"), slog.String("reason", reason))
		attrs = append(attrs, h.metricAttrs(end, reason, latency)...)
		if r != nil && r.cause != nil && (reason == ReasonTableError || reason == ReasonSecretError) {
			// AWS errors say which call failed and why (throttled, timeout); they carry no claims.
			attrs = append(attrs, slog.String("error", r.cause.Error()))
		}
		h.Log.LogAttrs(ctx, slog.LevelWarn, "token refused", attrs...)
		return nil, errors.New(RefusalMessage)
	}
	attrs = append(attrs, slog.String("outcome", "issued"), slog.String("reason", ReasonOK))
	attrs = append(attrs, h.metricAttrs(end, ReasonOK, latency)...)
	h.Log.LogAttrs(ctx, slog.LevelInfo, "token issued", attrs...)
	return out, nil
}

func (h *Handler) handle(ctx context.Context, raw json.RawMessage) (json.RawMessage, tokenEvent, error) {
	var ev tokenEvent
	var whole map[string]json.RawMessage
	if err := json.Unmarshal(raw, &whole); err != nil {
		return nil, ev, refuse(ReasonBadEvent, errors.New("event is not a JSON object"))
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, ev, refuse(ReasonBadEvent, errors.New("event fields have the wrong types"))
	}
	// Version 3 (the pool's trigger set to V3_0 for machine access) is version 2 plus
	// client-credentials events: a user's token is customized exactly as under version 2.
	if ev.Version != "1" && ev.Version != "2" && ev.Version != "3" {
		return nil, ev, refuse(ReasonUnsupportedVer, fmt.Errorf("version %q", ev.Version))
	}
	if ev.TriggerSource == clientCredentials && ev.Version == "3" {
		return h.machineToken(ctx, ev, whole)
	}
	if !tokenSources[ev.TriggerSource] {
		return nil, ev, refuse(ReasonUnsupportedSource, fmt.Errorf("trigger source %q", ev.TriggerSource))
	}
	attrs := ev.Request.UserAttributes
	if strings.TrimSpace(attrs["email"]) == "" {
		return nil, ev, refuse(ReasonNoEmail, nil)
	}
	email, err := claims.NormalizeEmail(attrs["email"])
	if err != nil {
		return nil, ev, refuse(ReasonEmailInvalid, nil)
	}
	if err := h.checkOrigin(attrs, email); err != nil {
		return nil, ev, err
	}

	c, err := h.claimsFor(ctx, email, attrs["sub"], attrs[claims.LegacySubAttr])
	if err != nil {
		return nil, ev, err
	}
	stringified := c.JSON()

	var resp any
	if ev.Version == "1" {
		resp = map[string]any{"claimsOverrideDetails": map[string]any{
			"claimsToAddOrOverride": map[string]string{claims.Namespace: stringified},
		}}
	} else {
		add := map[string]any{"claimsToAddOrOverride": map[string]string{claims.Namespace: stringified}}
		resp = map[string]any{"claimsAndScopeOverrideDetails": map[string]any{
			"idTokenGeneration":     add,
			"accessTokenGeneration": add,
		}}
	}
	return respond(whole, resp, ev)
}

// respond puts resp into the event as its response.
func respond(whole map[string]json.RawMessage, resp any, ev tokenEvent) (json.RawMessage, tokenEvent, error) {
	b, err := json.Marshal(resp)
	if err != nil {
		return nil, ev, refuse(ReasonBadEvent, err)
	}
	whole["response"] = b
	out, err := json.Marshal(whole)
	if err != nil {
		return nil, ev, refuse(ReasonBadEvent, err)
	}
	return out, ev, nil
}

// machineToken answers a client-credentials event: the client's record (client#<clientId>),
// decrypted and checked like a user's claims, gives the access token its tier's role, its id
// and name, and the scopes Cognito granted. There is no ID token in this grant.
func (h *Handler) machineToken(ctx context.Context, ev tokenEvent, whole map[string]json.RawMessage) (json.RawMessage, tokenEvent, error) {
	if len(h.Tiers) == 0 {
		return nil, ev, refuse(ReasonMachineAccessOff, nil)
	}
	id := ev.CallerContext.ClientID
	if id == "" {
		return nil, ev, refuse(ReasonNoClientID, nil)
	}
	got, err := h.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(h.Table),
		Key:            map[string]types.AttributeValue{claims.AttrUserID: &types.AttributeValueMemberS{Value: claims.ClientItemID(id)}},
		ConsistentRead: aws.Bool(false),
	})
	if err != nil {
		return nil, ev, refuse(ReasonTableError, err)
	}
	if len(got.Item) == 0 {
		return nil, ev, refuse(ReasonUnknownClient, nil)
	}
	rec, err := claims.RecordFromItem(got.Item)
	if err != nil {
		return nil, ev, refuse(ReasonBadRecord, err)
	}
	ring, fresh, err := h.keyRing(ctx, false)
	if err != nil {
		return nil, ev, err
	}
	// OpenClient checks the record is sealed to client#<id> and to id itself.
	client, err := claims.OpenClient(ring, rec)
	if errors.Is(err, claims.ErrDecrypt) && !fresh {
		// The key may have been rotated since the ring was cached: read the secret once more.
		if ring, _, err = h.keyRing(ctx, true); err != nil {
			return nil, ev, err
		}
		client, err = claims.OpenClient(ring, rec)
	}
	switch {
	case errors.Is(err, claims.ErrDecrypt):
		return nil, ev, refuse(ReasonUndecryptable, err)
	case errors.Is(err, claims.ErrBoundElsewhere):
		return nil, ev, refuse(ReasonBoundElsewhere, nil)
	case err != nil:
		return nil, ev, refuse(ReasonInvalidClaims, err)
	}
	role, ok := h.Tiers[client.Tier]
	if !ok {
		return nil, ev, refuse(ReasonClientTier, nil)
	}
	c, err := claims.ForClient(client, role, claims.GrantedScopes(ev.Request.Scopes))
	switch {
	case errors.Is(err, claims.ErrClientDisabled):
		return nil, ev, refuse(ReasonClientDisabled, nil)
	case err != nil:
		return nil, ev, refuse(ReasonInvalidClaims, err)
	}
	resp := map[string]any{"claimsAndScopeOverrideDetails": map[string]any{
		"accessTokenGeneration": map[string]any{"claimsToAddOrOverride": map[string]string{claims.Namespace: c.JSON()}},
	}}
	return respond(whole, resp, ev)
}

// checkOrigin decides whether the email can be trusted. A native user's must have been verified
// by Cognito. A federated user (Cognito sets cognito:user_status and identities; users cannot)
// must come only through the configured provider, with an email in an allowed domain: the
// provider asserts the email, so the domain list bounds whose emails it may assert.
func (h *Handler) checkOrigin(attrs map[string]string, email string) error {
	ids, hasIDs := attrs["identities"]
	federated := attrs["cognito:user_status"] == "EXTERNAL_PROVIDER" || (hasIDs && ids != "" && ids != "[]")
	if !federated {
		if attrs["email_verified"] != "true" {
			return refuse(ReasonEmailUnverified, nil)
		}
		return nil
	}
	var list []struct {
		ProviderName string `json:"providerName"`
	}
	if h.SSOProvider == "" || json.Unmarshal([]byte(ids), &list) != nil || len(list) == 0 {
		return refuse(ReasonProviderRefused, nil)
	}
	for _, id := range list {
		if id.ProviderName != h.SSOProvider {
			return refuse(ReasonProviderRefused, nil)
		}
	}
	if !h.SSODomains[claims.EmailDomain(email)] {
		return refuse(ReasonDomainRefused, nil)
	}
	return nil
}

func (h *Handler) claimsFor(ctx context.Context, email, sub, legacySub string) (claims.Claims, error) {
	got, err := h.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(h.Table),
		Key:            map[string]types.AttributeValue{claims.AttrUserID: &types.AttributeValueMemberS{Value: email}},
		ConsistentRead: aws.Bool(false),
	})
	if err != nil {
		return nil, refuse(ReasonTableError, err)
	}
	if len(got.Item) == 0 {
		return nil, refuse(ReasonUnknownUser, nil)
	}
	rec, err := claims.RecordFromItem(got.Item)
	if err != nil {
		return nil, refuse(ReasonBadRecord, err)
	}

	ring, fresh, err := h.keyRing(ctx, false)
	if err != nil {
		return nil, err
	}
	stored, bind, err := claims.Decode(ring, rec)
	if errors.Is(err, claims.ErrDecrypt) && !fresh {
		// The key may have been rotated since the ring was cached: read the secret once more.
		if ring, _, err = h.keyRing(ctx, true); err != nil {
			return nil, err
		}
		stored, bind, err = claims.Decode(ring, rec)
	}
	switch {
	case errors.Is(err, claims.ErrDecrypt):
		return nil, refuse(ReasonUndecryptable, err)
	case errors.Is(err, claims.ErrBoundElsewhere):
		return nil, refuse(ReasonBoundElsewhere, nil)
	case errors.Is(err, claims.ErrSuperseded):
		return nil, refuse(ReasonSuperseded, nil)
	case err != nil:
		return nil, refuse(ReasonInvalidClaims, err)
	case bind == nil && !h.AllowUnbound:
		return nil, refuse(ReasonUnbound, nil)
	}
	c, err := claims.ForToken(stored, bind, rec, claims.Identity{Sub: sub, LegacySub: legacySub})
	switch {
	case errors.Is(err, claims.ErrIdentityMismatch):
		return nil, refuse(ReasonIdentityMismatch, nil)
	case errors.Is(err, claims.ErrBoundElsewhere):
		return nil, refuse(ReasonBoundElsewhere, nil)
	case err != nil:
		return nil, refuse(ReasonInvalidClaims, err)
	}
	return c, nil
}

// keyRing returns the cached ring, or fetches it when it is older than KeyTTL or force is set.
// fresh says whether the ring was fetched by this call.
func (h *Handler) keyRing(ctx context.Context, force bool) (*claims.KeyRing, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.Now()
	if !force && h.ring != nil && now.Sub(h.ringAt) < h.KeyTTL {
		return h.ring, false, nil
	}
	out, err := h.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(h.SecretID), VersionStage: aws.String("AWSCURRENT")})
	if err != nil {
		return nil, false, refuse(ReasonSecretError, err)
	}
	ring, err := claims.ParseKeyRing(aws.ToString(out.SecretString))
	if err != nil {
		return nil, false, refuse(ReasonKeyRingInvalid, err)
	}
	h.ring, h.ringAt = ring, now
	return ring, true, nil
}

func requestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return lc.AwsRequestID
	}
	return ""
}

// maskUser identifies a user in logs without the address: a keyed HMAC-SHA-256 of the
// normalized email, 64 bits of it. The key is derived from the environment's primary claims key
// (it is in no template or log), so a dictionary of addresses cannot reverse it; it changes
// when the claims key rotates. Before the key ring has been read, no user is logged.
func (h *Handler) maskUser(email string) string {
	e, err := claims.NormalizeEmail(email)
	if err != nil {
		return ""
	}
	h.mu.Lock()
	ring := h.ring
	h.mu.Unlock()
	if ring == nil {
		return ""
	}
	return "hmac:" + ring.LogHash(e)
}
