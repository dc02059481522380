package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
	"github.com/hasura-auth-cdk/hasuraauth/stacks/names"
)

// PreviousSuffix names the overlap value claimsctl apikey rotate keeps next to the parameter.
const PreviousSuffix = names.EventAPIKeyPreviousSuffix

// Resource types this function serves.
const (
	TypeEventAPIKey   = "Custom::EventApiKey"
	TypeFernetKeyRing = "Custom::FernetKeyRing"
)

// APIKeyBytes is the entropy of a generated event API key.
const APIKeyBytes = 32

// SSM is the part of Parameter Store the function uses.
type SSM interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	PutParameter(ctx context.Context, in *ssm.PutParameterInput, opts ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
	DeleteParameter(ctx context.Context, in *ssm.DeleteParameterInput, opts ...func(*ssm.Options)) (*ssm.DeleteParameterOutput, error)
	ListTagsForResource(ctx context.Context, in *ssm.ListTagsForResourceInput, opts ...func(*ssm.Options)) (*ssm.ListTagsForResourceOutput, error)
}

// OwnerTag marks a parameter this function created, with the stack name and logical ID of the
// resource that created it. A parameter is adopted or deleted only when the tag names this very
// resource: never a parameter made by hand, by another tool, or by another environment's stack.
const OwnerTag = "hasura-auth:created-by"

// Secrets is the part of Secrets Manager the function uses.
type Secrets interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
}

// Handler creates secret values inside AWS so that they never pass through a template, an
// asset, a CloudFormation response or a log: responses carry names and ARNs only.
type Handler struct {
	SSM     SSM
	Secrets Secrets
	Log     *slog.Logger
}

// Handle serves one CloudFormation custom resource event.
func (h *Handler) Handle(ctx context.Context, ev cfn.Event) (string, map[string]any, error) {
	var (
		id  string
		err error
	)
	switch ev.ResourceType {
	case TypeEventAPIKey:
		id, err = h.eventAPIKey(ctx, ev)
	case TypeFernetKeyRing:
		id, err = h.keyRing(ctx, ev)
	default:
		err = fmt.Errorf("unsupported resource type %q (want %s or %s)", ev.ResourceType, TypeEventAPIKey, TypeFernetKeyRing)
	}
	outcome := "ok"
	if err != nil {
		outcome = "failed"
	}
	h.Log.Info("custom resource", slog.String("type", ev.ResourceType), slog.String("request", string(ev.RequestType)),
		slog.String("logical_id", ev.LogicalResourceID), slog.String("physical_id", id), slog.String("outcome", outcome))
	return id, nil, err
}

// eventAPIKey keeps a SecureString parameter holding a random key. Create draws a new key, or
// adopts a SecureString this same resource created before (a production parameter is retained
// when its stack is deleted, and the re-created stack takes it back); any other existing
// parameter fails the create. Update keeps the value unless the name changes. Delete removes
// the parameter only if this resource created it and RetainOnDelete is not "true".
func (h *Handler) eventAPIKey(ctx context.Context, ev cfn.Event) (string, error) {
	name, _ := ev.ResourceProperties["ParameterName"].(string)
	if !strings.HasPrefix(name, "/") {
		return ev.PhysicalResourceID, fmt.Errorf("property ParameterName %q must be an SSM parameter path starting with /", name)
	}
	owner := ownerOf(ev)
	switch ev.RequestType {
	case cfn.RequestCreate, cfn.RequestUpdate:
		if ev.RequestType == cfn.RequestUpdate && ev.PhysicalResourceID == name {
			return name, nil // same parameter: keep its value
		}
		typ, tag, exists, err := h.describeParameter(ctx, name)
		if err != nil {
			return "", err
		}
		if exists {
			if typ == ssmtypes.ParameterTypeSecureString && tag == owner {
				return name, nil
			}
			return "", fmt.Errorf("parameter %s already exists and was not created by this resource (type %s, %s tag %q, this resource is %q): "+
				"it is not adopted; choose another eventApiKey.parameterName, or delete the parameter if it is a leftover", name, typ, OwnerTag, tag, owner)
		}
		key, err := randomKey()
		if err != nil {
			return "", err
		}
		desc, _ := ev.ResourceProperties["Description"].(string)
		_, err = h.SSM.PutParameter(ctx, &ssm.PutParameterInput{
			Name: aws.String(name), Type: ssmtypes.ParameterTypeSecureString, Value: aws.String(key),
			Description: aws.String(desc), Overwrite: aws.Bool(false), Tier: ssmtypes.ParameterTierStandard,
			Tags: []ssmtypes.Tag{{Key: aws.String(OwnerTag), Value: aws.String(owner)}},
		})
		if err != nil {
			return "", fmt.Errorf("put SecureString parameter %s: %w", name, err)
		}
		return name, nil
	case cfn.RequestDelete:
		// A failed Create reports the request ID as physical ID; there is then nothing to delete.
		if ev.PhysicalResourceID != name || ev.ResourceProperties["RetainOnDelete"] == "true" {
			return ev.PhysicalResourceID, nil
		}
		typ, tag, exists, err := h.describeParameter(ctx, name)
		if err != nil {
			return name, err
		}
		if !exists || tag != owner || typ != ssmtypes.ParameterTypeSecureString {
			h.Log.Info("parameter left in place: not created by this resource", slog.String("parameter", name), slog.String("owner_tag", tag))
			return name, nil
		}
		// The overlap value claimsctl keeps belongs to this parameter: left behind, a backend
		// would go on accepting a key of a deleted environment, next to the key of a re-created
		// one. It goes first, so that a retry after a failure still finds the owned parameter.
		var nf *ssmtypes.ParameterNotFound
		_, err = h.SSM.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(name + PreviousSuffix)})
		if err != nil && !errors.As(err, &nf) {
			return name, fmt.Errorf("delete parameter %s: %w", name+PreviousSuffix, err)
		}
		_, err = h.SSM.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(name)})
		if err != nil && !errors.As(err, &nf) {
			return name, fmt.Errorf("delete parameter %s: %w", name, err)
		}
		return name, nil
	}
	return ev.PhysicalResourceID, fmt.Errorf("unsupported request type %q", ev.RequestType)
}

// ownerOf names the resource: <stack name>/<logical ID>. The stack name (not the stack ID, which
// changes when a stack is re-created) lets a re-created production stack take back its
// retained parameter.
func ownerOf(ev cfn.Event) string {
	stack := ev.StackID
	if parts := strings.Split(ev.StackID, "/"); len(parts) >= 2 {
		stack = parts[1] // arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>
	}
	return stack + "/" + ev.LogicalResourceID
}

// describeParameter returns the parameter's type and owner tag, and whether it exists.
func (h *Handler) describeParameter(ctx context.Context, name string) (ssmtypes.ParameterType, string, bool, error) {
	out, err := h.SSM.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(false)})
	var nf *ssmtypes.ParameterNotFound
	switch {
	case errors.As(err, &nf):
		return "", "", false, nil
	case err != nil:
		return "", "", false, fmt.Errorf("read parameter %s: %w", name, err)
	}
	tags, err := h.SSM.ListTagsForResource(ctx, &ssm.ListTagsForResourceInput{ResourceType: ssmtypes.ResourceTypeForTaggingParameter, ResourceId: aws.String(name)})
	if err != nil {
		return "", "", true, fmt.Errorf("read the tags of parameter %s: %w", name, err)
	}
	tag := ""
	for _, t := range tags.TagList {
		if aws.ToString(t.Key) == OwnerTag {
			tag = aws.ToString(t.Value)
		}
	}
	return out.Parameter.Type, tag, true, nil
}

// placeholder is what CloudFormation writes into the claims key secret when it creates it
// (constructs/claimsstore: GenerateSecretString, ExcludePunctuation, PasswordLength 32). A key
// ring is JSON, so it never has this shape.
var placeholder = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)

// keyRing makes sure the claims key secret holds a Fernet key ring. It writes one only while the
// secret still holds its placeholder: whatever else is there (a ring, a ring this code cannot
// parse strictly, something garbled) is an operator's or claimsctl's, and replacing it would make
// every stored claim undecryptable. An Update, a replayed Create or two runs at once therefore
// never change a ring.
func (h *Handler) keyRing(ctx context.Context, ev cfn.Event) (string, error) {
	id, _ := ev.ResourceProperties["SecretId"].(string)
	if id == "" {
		return ev.PhysicalResourceID, errors.New("property SecretId is required")
	}
	if ev.RequestType == cfn.RequestDelete {
		return ev.PhysicalResourceID, nil // the secret's own removal policy decides
	}
	out, err := h.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionStage: aws.String("AWSCURRENT")})
	if err != nil {
		return "", fmt.Errorf("read secret %s: %w", id, err)
	}
	current := aws.ToString(out.SecretString)
	if !placeholder.MatchString(current) {
		if _, err := claims.ParseKeyRing(current); err != nil {
			// Left as it is: the stack update must not fail (its rollback would call this again),
			// and the pre-token Lambda already fails closed on it. The log line says what to repair.
			h.Log.Warn("claims key secret is neither its placeholder nor a valid key ring; left unchanged",
				slog.String("secret", id), slog.String("problem", err.Error()))
		}
		return id, nil
	}
	key, err := claims.GenerateKey()
	if err != nil {
		return "", err
	}
	ring, err := claims.NewKeyRing(key)
	if err != nil {
		return "", err
	}
	// The token is derived from the placeholder's version: two runs at once write the same
	// version, and Secrets Manager refuses the second ring instead of letting it replace the first.
	_, err = h.Secrets.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(id), SecretString: aws.String(ring.SecretString()),
		ClientRequestToken: aws.String("keyring-" + aws.ToString(out.VersionId)),
	})
	if err != nil {
		var exists *smtypes.ResourceExistsException
		if errors.As(err, &exists) {
			return id, nil // another run wrote the ring first
		}
		return "", fmt.Errorf("write key ring to secret %s: %w", id, err)
	}
	return id, nil
}

func randomKey() (string, error) {
	b := make([]byte, APIKeyBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("draw random key: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
