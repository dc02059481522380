package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/smithy-go"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
	"github.com/hasura-auth-cdk/hasuraauth/internal/opsmetrics"
)

// RefusalMessage is the only thing a refused user learns: Cognito shows the trigger's error
// text, and it must not tell a stranger whether an address has an account in the old pool.
const RefusalMessage = "Sign-in is not available for this account. Contact your administrator."

// The trigger sources Cognito invokes a UserMigration trigger with.
const (
	SourceAuthentication = "UserMigration_Authentication"
	SourceForgotPassword = "UserMigration_ForgotPassword"
)

// Reason codes in the log line: why a user was or was not migrated, never who (beyond the old
// pool's sub, a pseudonymous ID) nor with what password.
const (
	ReasonOK                = "migrated"
	ReasonBadEvent          = "bad_event"
	ReasonUnsupportedSource = "unsupported_trigger_source"
	ReasonUnknownUser       = "unknown_user"            // the old pool has no such user
	ReasonNotAuthorized     = "old_pool_not_authorized" // wrong password, or the old user is disabled
	ReasonChallenge         = "old_pool_challenge"      // MFA or NEW_PASSWORD_REQUIRED: nothing to migrate with
	ReasonResetRequired     = "old_pool_reset_required" // the old pool wants a new password first
	ReasonUnconfirmed       = "old_pool_unconfirmed"
	ReasonDisabled          = "old_user_disabled"
	ReasonFederated         = "old_user_federated" // SSO users need no migration: their provider signs them in
	ReasonNoEmail           = "no_email"
	ReasonEmailUnverified   = "old_email_unverified" // the old pool never verified the address
	ReasonStatus            = "old_user_status"      // e.g. UNCONFIRMED: never a user the old pool let in
	ReasonEmailInvalid      = "email_invalid"
	ReasonUserNameMismatch  = "username_not_email" // what was typed is not the old user's email
	ReasonNoSub             = "no_sub"
	ReasonOldPoolError      = "old_pool_unavailable"
)

// OldPool is the two admin calls the handler makes on the old pool.
type OldPool interface {
	AdminInitiateAuth(ctx context.Context, in *cip.AdminInitiateAuthInput, opts ...func(*cip.Options)) (*cip.AdminInitiateAuthOutput, error)
	AdminGetUser(ctx context.Context, in *cip.AdminGetUserInput, opts ...func(*cip.Options)) (*cip.AdminGetUserOutput, error)
}

// Handler answers UserMigration events. It keeps no state between invocations.
type Handler struct {
	// PoolID is the old pool; ClientID its app client that allows ADMIN_USER_PASSWORD_AUTH.
	PoolID   string
	ClientID string
	Old      OldPool
	// Budget bounds one invocation, well inside Cognito's 5 s.
	Budget time.Duration
	Log    *slog.Logger
	Now    func() time.Time
	// FunctionName (AWS_LAMBDA_FUNCTION_NAME) is the dimension of the metrics each log line
	// publishes (opsmetrics.Migration); empty outside Lambda, where lines carry no metrics.
	FunctionName string
}

// migrationEvent is the part of the event the handler reads.
type migrationEvent struct {
	TriggerSource string `json:"triggerSource"`
	UserPoolID    string `json:"userPoolId"`
	UserName      string `json:"userName"`
	Request       struct {
		Password string `json:"password"`
	} `json:"request"`
}

type refusal struct {
	reason string
	detail string // an error code or a non-secret detail for the log, never a password or email
}

func (r *refusal) Error() string { return r.reason }

func refuse(reason, detail string) error { return &refusal{reason: reason, detail: detail} }

// Handle is the Lambda entry point. It returns the event with the response filled in (Cognito
// then creates the user), or an error whose text is RefusalMessage (Cognito creates nobody).
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
	start := h.Now()
	ctx, cancel := context.WithTimeout(ctx, h.Budget)
	defer cancel()

	out, ev, legacySub, err := h.handle(ctx, raw)
	latencyMs := float64(h.Now().Sub(start).Microseconds()) / 1000
	attrs := []slog.Attr{
		slog.String("request_id", requestID(ctx)),
		slog.String("trigger_source", ev.TriggerSource),
		// The old pool's sub, once known: it names the user to an operator (AdminGetUser,
		// the claims item's cognito_uuid) without putting an address in the log.
		slog.String("legacy_sub", legacySub),
		slog.Float64("latency_ms", latencyMs),
	}
	if err != nil {
		r := &refusal{reason: ReasonBadEvent}
		errors.As(err, &r)
		attrs = append(attrs, slog.String("outcome", "refused"), slog.String("reason", r.reason))
		if r.detail != "" {
			attrs = append(attrs, slog.String("detail", r.detail))
		}
		// The line is also an EMF record: refusals are Lambda errors whichever their cause, so
		// only these per-class counts tell an old-pool outage from wrong passwords.
		attrs = append(attrs, opsmetrics.Migration.Attrs(h.FunctionName, start, false, r.reason, latencyMs)...)
		h.Log.LogAttrs(ctx, slog.LevelWarn, "migration refused", attrs...)
		return nil, errors.New(RefusalMessage)
	}
	attrs = append(attrs, slog.String("outcome", "migrated"), slog.String("reason", ReasonOK))
	attrs = append(attrs, opsmetrics.Migration.Attrs(h.FunctionName, start, true, ReasonOK, latencyMs)...)
	h.Log.LogAttrs(ctx, slog.LevelInfo, "user migrated", attrs...)
	return out, nil
}

func (h *Handler) handle(ctx context.Context, raw json.RawMessage) (json.RawMessage, migrationEvent, string, error) {
	var ev migrationEvent
	var whole map[string]json.RawMessage
	if json.Unmarshal(raw, &whole) != nil || json.Unmarshal(raw, &ev) != nil {
		return nil, ev, "", refuse(ReasonBadEvent, "not a UserMigration event object")
	}
	if ev.TriggerSource != SourceAuthentication && ev.TriggerSource != SourceForgotPassword {
		return nil, ev, "", refuse(ReasonUnsupportedSource, ev.TriggerSource)
	}
	// Users of this pool sign in with their email; the old user's email must be what was typed.
	typed, err := claims.NormalizeEmail(ev.UserName)
	if err != nil {
		return nil, ev, "", refuse(ReasonUserNameMismatch, "")
	}
	if ev.TriggerSource == SourceAuthentication {
		if ev.Request.Password == "" {
			return nil, ev, "", refuse(ReasonBadEvent, "no password")
		}
		if err := h.checkPassword(ctx, ev.UserName, ev.Request.Password); err != nil {
			return nil, ev, "", err
		}
	}
	user, err := h.Old.AdminGetUser(ctx, &cip.AdminGetUserInput{UserPoolId: aws.String(h.PoolID), Username: aws.String(ev.UserName)})
	if err != nil {
		return nil, ev, "", oldPoolRefusal(err)
	}
	attrs := map[string]string{}
	for _, a := range user.UserAttributes {
		attrs[aws.ToString(a.Name)] = aws.ToString(a.Value)
	}
	sub := attrs["sub"]
	if user.UserStatus == ciptypes.UserStatusTypeExternalProvider || (attrs["identities"] != "" && attrs["identities"] != "[]") {
		return nil, ev, sub, refuse(ReasonFederated, "")
	}
	if !user.Enabled {
		return nil, ev, sub, refuse(ReasonDisabled, "")
	}
	if sub == "" {
		return nil, ev, "", refuse(ReasonNoSub, "")
	}
	if attrs["email"] == "" {
		return nil, ev, sub, refuse(ReasonNoEmail, "")
	}
	// The new user gets email_verified true and, after a forgot-password migration, a reset code
	// at that address: only an address the old pool verified may be trusted that way, else
	// whoever reads the mailbox could take the account over.
	if attrs["email_verified"] != "true" {
		return nil, ev, sub, refuse(ReasonEmailUnverified, "")
	}
	// Only users the old pool lets in, or would after a password change or reset. A forgot-password
	// migration checks no password, so the status is the only proof the account is a real one.
	switch user.UserStatus {
	case ciptypes.UserStatusTypeConfirmed, ciptypes.UserStatusTypeForceChangePassword, ciptypes.UserStatusTypeResetRequired:
	default:
		return nil, ev, sub, refuse(ReasonStatus, string(user.UserStatus))
	}
	email, err := claims.NormalizeEmail(attrs["email"])
	if err != nil {
		return nil, ev, sub, refuse(ReasonEmailInvalid, "")
	}
	if email != typed {
		return nil, ev, sub, refuse(ReasonUserNameMismatch, "")
	}

	// custom:legacy_sub is immutable and no app client may write it: set here, at creation, it
	// is what lets the pre-token trigger match the claims item's old identity.
	newAttrs := map[string]string{
		"email":              email,
		"email_verified":     "true",
		claims.LegacySubAttr: sub,
	}
	for _, name := range []string{"name", "given_name", "family_name"} {
		if v := attrs[name]; v != "" {
			newAttrs[name] = v
		}
	}
	resp := map[string]any{"userAttributes": newAttrs, "messageAction": "SUPPRESS"}
	if ev.TriggerSource == SourceAuthentication {
		// The password was just checked: the user is created with it, ready to sign in.
		// After a forgot-password migration Cognito sets RESET_REQUIRED itself.
		resp["finalUserStatus"] = "CONFIRMED"
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return nil, ev, sub, refuse(ReasonBadEvent, err.Error())
	}
	whole["response"] = b
	out, err := json.Marshal(whole)
	if err != nil {
		return nil, ev, sub, refuse(ReasonBadEvent, err.Error())
	}
	return out, ev, sub, nil
}

// checkPassword signs in to the old pool with the user's name and password. Only a plain
// success counts: a challenge (MFA, a new password) cannot be answered from inside a trigger.
func (h *Handler) checkPassword(ctx context.Context, userName, password string) error {
	out, err := h.Old.AdminInitiateAuth(ctx, &cip.AdminInitiateAuthInput{
		UserPoolId:     aws.String(h.PoolID),
		ClientId:       aws.String(h.ClientID),
		AuthFlow:       ciptypes.AuthFlowTypeAdminUserPasswordAuth,
		AuthParameters: map[string]string{"USERNAME": userName, "PASSWORD": password},
	})
	if err != nil {
		return oldPoolRefusal(err)
	}
	if out.ChallengeName != "" {
		return refuse(ReasonChallenge, string(out.ChallengeName))
	}
	if out.AuthenticationResult == nil {
		return refuse(ReasonChallenge, "no authentication result")
	}
	return nil
}

// oldPoolRefusal classifies an error of the old pool. Only the error code is logged for the
// user's own failures: some services put the user name in the message.
func oldPoolRefusal(err error) error {
	var api smithy.APIError
	if !errors.As(err, &api) {
		// Network, timeout, no credentials: say which, it carries nothing of the user.
		return refuse(ReasonOldPoolError, err.Error())
	}
	code := api.ErrorCode()
	switch code {
	case "UserNotFoundException":
		return refuse(ReasonUnknownUser, code)
	case "NotAuthorizedException", "InvalidPasswordException":
		return refuse(ReasonNotAuthorized, code)
	case "PasswordResetRequiredException":
		return refuse(ReasonResetRequired, code)
	case "UserNotConfirmedException":
		return refuse(ReasonUnconfirmed, code)
	}
	// Throttling, a missing pool or client, a denied role: the migration cannot run at all.
	// AccessDenied's message names the role and the action, which is what an operator needs.
	if code == "AccessDeniedException" {
		return refuse(ReasonOldPoolError, fmt.Sprintf("%s: %s", code, api.ErrorMessage()))
	}
	return refuse(ReasonOldPoolError, code)
}

func requestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return lc.AwsRequestID
	}
	return ""
}
