package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	ReasonEmailUnverified   = "email_unverified"
	ReasonUnknownUser       = "unknown_user"
	ReasonBadRecord         = "bad_record"
	ReasonUndecryptable     = "claims_undecryptable"
	ReasonInvalidClaims     = "claims_invalid"
	ReasonTableError        = "table_unavailable"
	ReasonSecretError       = "key_secret_unavailable"
	ReasonKeyRingInvalid    = "key_secret_invalid"
)

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
	Request       struct {
		UserAttributes map[string]string `json:"userAttributes"`
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
		slog.String("user", maskUser(ev.Request.UserAttributes["email"])),
		slog.Float64("latency_ms", latency),
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
	if ev.Version != "1" && ev.Version != "2" {
		return nil, ev, refuse(ReasonUnsupportedVer, fmt.Errorf("version %q", ev.Version))
	}
	if !tokenSources[ev.TriggerSource] {
		return nil, ev, refuse(ReasonUnsupportedSource, fmt.Errorf("trigger source %q", ev.TriggerSource))
	}
	attrs := ev.Request.UserAttributes
	email, err := claims.NormalizeEmail(attrs["email"])
	if err != nil {
		return nil, ev, refuse(ReasonNoEmail, nil)
	}
	// A federated user's email is vouched for by the identity provider; a native user's must
	// have been verified by Cognito. Both attributes are set by Cognito, not by the user.
	federated := attrs["cognito:user_status"] == "EXTERNAL_PROVIDER"
	if !federated && attrs["email_verified"] != "true" {
		return nil, ev, refuse(ReasonEmailUnverified, nil)
	}

	c, err := h.claimsFor(ctx, email, attrs["sub"])
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

func (h *Handler) claimsFor(ctx context.Context, email, sub string) (claims.Claims, error) {
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
	plain, err := ring.Decrypt(rec.Claims)
	if err != nil && !fresh {
		// The key may have been rotated since the ring was cached: read the secret once more.
		if ring, _, err = h.keyRing(ctx, true); err != nil {
			return nil, err
		}
		plain, err = ring.Decrypt(rec.Claims)
	}
	if err != nil {
		return nil, refuse(ReasonUndecryptable, err)
	}
	stored, err := claims.Parse(plain)
	if err != nil {
		return nil, refuse(ReasonInvalidClaims, err)
	}
	c, err := claims.ForToken(stored, rec, sub)
	if err != nil {
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
	out, err := h.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(h.SecretID)})
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

// maskUser identifies a user in logs without the address: a short hash of the normalized email,
// enough to correlate lines of one user, not to read it back.
func maskUser(email string) string {
	e := strings.ToLower(strings.TrimSpace(email))
	if e == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(e))
	return "sha256:" + hex.EncodeToString(sum[:6])
}
