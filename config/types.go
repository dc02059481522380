package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// The string settings of cdk.json that have a fixed vocabulary are typed here, once: the rest of
// the app compares these constants, never the strings.

// Removal is what happens to an environment's stateful resources when its stack is deleted.
type Removal string

// Removal policies.
const (
	RemovalRetain  Removal = "retain"
	RemovalDestroy Removal = "destroy"
)

// PreTokenVersion is the PreTokenGeneration event version Cognito sends the trigger.
type PreTokenVersion string

// Pre-token event versions: V1_0 customizes ID tokens only; V2_0 also access tokens; V3_0 also
// the access tokens of the client-credentials grant (machineAccess needs it).
const (
	PreTokenV1 PreTokenVersion = "V1_0"
	PreTokenV2 PreTokenVersion = "V2_0"
	PreTokenV3 PreTokenVersion = "V3_0"
)

// MFA is the user pool's multi-factor setting (TOTP only).
type MFA string

// MFA settings.
const (
	MFAOff      MFA = "off"
	MFAOptional MFA = "optional"
	MFARequired MFA = "required"
)

// ThreatProtection is Cognito's threat protection mode; anything but off needs the Plus plan.
type ThreatProtection string

// Threat protection modes.
const (
	ThreatProtectionOff      ThreatProtection = "off"
	ThreatProtectionAudit    ThreatProtection = "audit"
	ThreatProtectionEnforced ThreatProtection = "enforced"
)

// JWTToken is the Cognito token clients send to Hasura.
type JWTToken string

// JWT tokens: ID tokens carry aud (the client ID); access tokens carry client_id instead.
const (
	JWTTokenID     JWTToken = "id"
	JWTTokenAccess JWTToken = "access"
)

// CPUArchitecture is the CPU of the Hasura task.
type CPUArchitecture string

// CPU architectures Fargate runs Linux tasks on.
const (
	CPUX86_64 CPUArchitecture = "x86_64"
	CPUARM64  CPUArchitecture = "arm64"
)

// SecretRef names where ECS reads a container secret from: an SSM parameter by name, or a
// Secrets Manager secret by its complete ARN, optionally one JSON key of it. Written in cdk.json
// as a string ("/app/key", "APP_KEY", "arn:...:secret:app-AbCdEf" or "arn:...:secret:app-AbCdEf:apiKey");
// like Duration, a text that does not parse keeps its error for Validate to report with the field.
type SecretRef struct {
	// Parameter is the SSM parameter name (String or SecureString), or empty.
	Parameter string
	// SecretArn is the complete Secrets Manager ARN, or empty; Field is its JSON key, if any.
	SecretArn string
	Field     string

	text string
	err  error
}

// ParseSecretRef parses a reference; an error is kept in the result and reported by Validate.
func ParseSecretRef(text string) SecretRef {
	r := SecretRef{text: text}
	switch {
	case strings.HasPrefix(text, "arn:"):
		m := secretRefArnRe.FindStringSubmatch(text)
		if m == nil {
			r.err = errors.New("the complete ARN (with its 6-character suffix) of a Secrets Manager secret, optionally followed by :<json key> (letters, digits, '_', '.' or '-'); an SSM parameter goes by its name, not its ARN")
			return r
		}
		r.SecretArn, r.Field = m[1], m[2]
	default:
		if err := ssmName(text); err != nil {
			r.err = err
			return r
		}
		r.Parameter = text
	}
	return r
}

// String is the reference as written in cdk.json.
func (r SecretRef) String() string { return r.text }

// UnmarshalJSON accepts a JSON string.
func (r *SecretRef) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeOf(SecretRef{})}
	}
	*r = ParseSecretRef(s)
	return nil
}

// MarshalJSON writes the reference as it was written.
func (r SecretRef) MarshalJSON() ([]byte, error) { return json.Marshal(r.text) }

// Duration is a Go duration written as a string in cdk.json ("1h", "720h"). It is parsed once,
// when the config is decoded; a text that does not parse is kept with its error so that Validate
// reports it beside every other problem, naming the field.
type Duration struct {
	time.Duration
	text string
	err  error
}

// ParseDuration parses a Go duration; the result reports the text in error messages.
func ParseDuration(text string) Duration {
	d, err := time.ParseDuration(text)
	return Duration{Duration: d, text: text, err: err}
}

// String is the duration as written in cdk.json.
func (d Duration) String() string { return d.text }

// UnmarshalJSON accepts a JSON string; any other JSON type is a type error the decoder reports
// with the field's path.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeOf(Duration{})}
	}
	*d = ParseDuration(s)
	return nil
}

// MarshalJSON writes the duration as it was written.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.text) }

// within reports whether the duration parsed and is a whole number of unit from lo to hi.
func (d Duration) within(lo, hi, unit time.Duration) error {
	if d.err != nil {
		return fmt.Errorf("not a Go duration: %w", d.err)
	}
	if d.Duration < lo || d.Duration > hi || d.Duration%unit != 0 {
		return fmt.Errorf("out of range")
	}
	return nil
}

func jsonKind(b []byte) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return "invalid JSON"
	}
	switch v.(type) {
	case nil:
		return "null"
	case float64:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "string"
}
