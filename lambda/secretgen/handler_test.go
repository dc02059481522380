package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
	"github.com/hasura-auth-cdk/hasuraauth/internal/emulator"
)

var moto *emulator.Moto

func TestMain(m *testing.M) { os.Exit(emulator.RunWithMoto(m, &moto)) }

var n atomic.Int64

type fixture struct {
	h    *Handler
	ssm  *ssm.Client
	sm   *secretsmanager.Client
	logs *bytes.Buffer
}

func newFixture() *fixture {
	cfg := moto.Config()
	f := &fixture{ssm: ssm.NewFromConfig(cfg), sm: secretsmanager.NewFromConfig(cfg), logs: &bytes.Buffer{}}
	f.h = &Handler{SSM: f.ssm, Secrets: f.sm, Log: slog.New(slog.NewJSONHandler(f.logs, nil))}
	return f
}

func apiKeyEvent(req cfn.RequestType, physicalID, name string, retain bool) cfn.Event {
	return cfn.Event{
		StackID:     "arn:aws:cloudformation:us-east-1:000000000000:stack/hasura-auth-staging-identity/11111111-aaaa-4bbb-8ccc-000000000001",
		RequestType: req, ResourceType: TypeEventAPIKey, LogicalResourceID: "EventApiKey",
		RequestID: "req-1", PhysicalResourceID: physicalID,
		ResourceProperties: map[string]any{"ParameterName": name, "Description": "d", "RetainOnDelete": fmt.Sprint(retain)},
	}
}

func (f *fixture) param(t *testing.T, name string) (string, bool) {
	t.Helper()
	out, err := f.ssm.GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	var nf *ssmtypes.ParameterNotFound
	if err != nil && assert.ErrorAs(t, err, &nf) {
		return "", false
	}
	require.NoError(t, err)
	assert.Equal(t, ssmtypes.ParameterTypeSecureString, out.Parameter.Type)
	return aws.ToString(out.Parameter.Value), true
}

func TestEventAPIKeyLifecycle(t *testing.T) {
	f := newFixture()
	ctx := context.Background()
	name := fmt.Sprintf("/test/%d/event-api-key", n.Add(1))

	id, data, err := f.h.Handle(ctx, apiKeyEvent(cfn.RequestCreate, "", name, false))
	require.NoError(t, err)
	assert.Equal(t, name, id, "the physical ID is the parameter name")
	assert.Nil(t, data, "nothing but the name goes back to CloudFormation")
	key, ok := f.param(t, name)
	require.True(t, ok, "created as a SecureString")
	raw, err := base64.RawURLEncoding.DecodeString(key)
	require.NoError(t, err)
	assert.Len(t, raw, APIKeyBytes, "32 random bytes")

	_, _, err = f.h.Handle(ctx, apiKeyEvent(cfn.RequestUpdate, name, name, false))
	require.NoError(t, err)
	again, _ := f.param(t, name)
	assert.Equal(t, key, again, "an update keeps the value")

	// A replayed create (or a re-created stack adopting a retained parameter) keeps it too.
	_, _, err = f.h.Handle(ctx, apiKeyEvent(cfn.RequestCreate, "", name, false))
	require.NoError(t, err)
	again, _ = f.param(t, name)
	assert.Equal(t, key, again)

	renamed := name + "-v2"
	id, _, err = f.h.Handle(ctx, apiKeyEvent(cfn.RequestUpdate, name, renamed, false))
	require.NoError(t, err)
	assert.Equal(t, renamed, id, "a new name is a new physical resource; CloudFormation then deletes the old one")
	other, ok := f.param(t, renamed)
	require.True(t, ok)
	assert.NotEqual(t, key, other, "two draws never repeat")

	_, _, err = f.h.Handle(ctx, apiKeyEvent(cfn.RequestDelete, renamed, renamed, false))
	require.NoError(t, err)
	_, ok = f.param(t, renamed)
	assert.False(t, ok, "deleted outside production")
	_, _, err = f.h.Handle(ctx, apiKeyEvent(cfn.RequestDelete, renamed, renamed, false))
	require.NoError(t, err, "deleting twice is fine")

	_, _, err = f.h.Handle(ctx, apiKeyEvent(cfn.RequestDelete, name, name, true))
	require.NoError(t, err)
	_, ok = f.param(t, name)
	assert.True(t, ok, "production keeps the parameter")

	assert.NotContains(t, f.logs.String(), key, "the value is never logged")
	assert.NotContains(t, f.logs.String(), other)
}

// TestOnlyItsOwnSecureStringIsAdoptedOrDeleted: a parameter at the configured name that this
// resource did not create (a plain String with a known value, a hand-made SecureString, another
// environment's key) fails the create and survives every delete; a retained one is taken back
// by the re-created stack of the same name.
func TestOnlyItsOwnSecureStringIsAdoptedOrDeleted(t *testing.T) {
	f := newFixture()
	ctx := context.Background()
	put := func(name string, typ ssmtypes.ParameterType, tags ...ssmtypes.Tag) {
		_, err := f.ssm.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Type: typ, Value: aws.String("known-value"), Tags: tags})
		require.NoError(t, err)
	}
	for _, c := range []struct {
		name string
		typ  ssmtypes.ParameterType
		tags []ssmtypes.Tag
	}{
		{"plain String", ssmtypes.ParameterTypeString, nil},
		{"hand-made SecureString", ssmtypes.ParameterTypeSecureString, nil},
		{"another environment's key", ssmtypes.ParameterTypeSecureString, []ssmtypes.Tag{{Key: aws.String(OwnerTag), Value: aws.String("hasura-auth-production-identity/EventApiKey")}}},
		{"tagged String", ssmtypes.ParameterTypeString, []ssmtypes.Tag{{Key: aws.String(OwnerTag), Value: aws.String("hasura-auth-staging-identity/EventApiKey")}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			name := fmt.Sprintf("/test/%d/event-api-key", n.Add(1))
			put(name, c.typ, c.tags...)
			_, _, err := f.h.Handle(ctx, apiKeyEvent(cfn.RequestCreate, "", name, false))
			require.Error(t, err)
			assert.Contains(t, err.Error(), "already exists and was not created by this resource")
			assert.NotContains(t, err.Error(), "known-value")
			// Even a delete naming it (an update that renamed away from it) leaves it alone.
			_, _, err = f.h.Handle(ctx, apiKeyEvent(cfn.RequestDelete, name, name, false))
			require.NoError(t, err)
			out, err := f.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
			require.NoError(t, err, "not deleted")
			assert.Equal(t, "known-value", aws.ToString(out.Parameter.Value), "not changed")
		})
	}

	t.Run("retained, then taken back by the re-created stack", func(t *testing.T) {
		name := fmt.Sprintf("/test/%d/event-api-key", n.Add(1))
		_, _, err := f.h.Handle(ctx, apiKeyEvent(cfn.RequestCreate, "", name, true))
		require.NoError(t, err)
		key, _ := f.param(t, name)
		_, _, err = f.h.Handle(ctx, apiKeyEvent(cfn.RequestDelete, name, name, true))
		require.NoError(t, err)
		again := apiKeyEvent(cfn.RequestCreate, "", name, true)
		again.StackID = "arn:aws:cloudformation:us-east-1:000000000000:stack/hasura-auth-staging-identity/22222222-aaaa-4bbb-8ccc-000000000002"
		_, _, err = f.h.Handle(ctx, again)
		require.NoError(t, err)
		kept, _ := f.param(t, name)
		assert.Equal(t, key, kept, "the retained key is adopted, not replaced")

		other := apiKeyEvent(cfn.RequestCreate, "", name, true)
		other.StackID = "arn:aws:cloudformation:us-east-1:000000000000:stack/hasura-auth-production-identity/33333333-aaaa-4bbb-8ccc-000000000003"
		_, _, err = f.h.Handle(ctx, other)
		assert.ErrorContains(t, err, "was not created by this resource", "another environment configured with the same name is refused")
		del := apiKeyEvent(cfn.RequestDelete, name, name, false)
		del.StackID = other.StackID
		_, _, err = f.h.Handle(ctx, del)
		require.NoError(t, err)
		_, ok := f.param(t, name)
		assert.True(t, ok, "another environment's stack never deletes it")
	})
}

func TestDeleteAfterAFailedCreateTouchesNothing(t *testing.T) {
	f := newFixture()
	name := fmt.Sprintf("/test/%d/event-api-key", n.Add(1))
	_, _, err := f.h.Handle(context.Background(), apiKeyEvent(cfn.RequestCreate, "", name, false))
	require.NoError(t, err)
	// A failed create reports the request ID as physical ID; the rollback delete carries it.
	_, _, err = f.h.Handle(context.Background(), apiKeyEvent(cfn.RequestDelete, "req-1", name, false))
	require.NoError(t, err)
	_, ok := f.param(t, name)
	assert.True(t, ok, "a parameter the failed resource does not own is left alone")
}

func TestBadPropertiesFailClearly(t *testing.T) {
	f := newFixture()
	_, _, err := f.h.Handle(context.Background(), apiKeyEvent(cfn.RequestCreate, "", "no-slash", false))
	assert.EqualError(t, err, `property ParameterName "no-slash" must be an SSM parameter path starting with /`)
	_, _, err = f.h.Handle(context.Background(), cfn.Event{RequestType: cfn.RequestCreate, ResourceType: "Custom::Other"})
	assert.ErrorContains(t, err, `unsupported resource type "Custom::Other"`)
	_, _, err = f.h.Handle(context.Background(), cfn.Event{RequestType: cfn.RequestCreate, ResourceType: TypeFernetKeyRing})
	assert.EqualError(t, err, "property SecretId is required")
}

// placeholderAsDeployed draws the claims key secret's initial value the way CloudFormation does
// on deploy: with the GenerateSecretString of the synthesized template (read from the committed
// snapshot), through Secrets Manager's own generator.
func placeholderAsDeployed(t *testing.T, f *fixture) string {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/snapshots/hasura-auth-staging-identity.template.json")
	require.NoError(t, err)
	var tpl struct {
		Resources map[string]struct {
			Type       string
			Properties struct {
				Name                 any
				GenerateSecretString *struct {
					ExcludePunctuation bool
					PasswordLength     int64
				}
			}
		}
	}
	require.NoError(t, json.Unmarshal(raw, &tpl))
	for _, r := range tpl.Resources {
		name, _ := r.Properties.Name.(string)
		if r.Type != "AWS::SecretsManager::Secret" || !strings.HasSuffix(name, "/claims-key") {
			continue
		}
		g := r.Properties.GenerateSecretString
		require.NotNil(t, g, "the claims key secret starts from a generated placeholder")
		out, err := f.sm.GetRandomPassword(context.Background(), &secretsmanager.GetRandomPasswordInput{
			ExcludePunctuation: aws.Bool(g.ExcludePunctuation), PasswordLength: aws.Int64(g.PasswordLength),
		})
		require.NoError(t, err)
		return aws.ToString(out.RandomPassword)
	}
	t.Fatal("no claims key secret in the staging identity template")
	return ""
}

func (f *fixture) claimsKeySecret(t *testing.T, value string) string {
	t.Helper()
	created, err := f.sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(fmt.Sprintf("test/%d/claims-key", n.Add(1))), SecretString: aws.String(value),
	})
	require.NoError(t, err)
	return aws.ToString(created.ARN)
}

func keyRingEvent(req cfn.RequestType, arn string) cfn.Event {
	return cfn.Event{RequestType: req, ResourceType: TypeFernetKeyRing, PhysicalResourceID: arn, ResourceProperties: map[string]any{"SecretId": arn}}
}

func TestKeyRingIsWrittenOnceAndNeverReplaced(t *testing.T) {
	f := newFixture()
	ctx := context.Background()
	arn := f.claimsKeySecret(t, placeholderAsDeployed(t, f))
	ev := keyRingEvent(cfn.RequestCreate, "")

	ev.ResourceProperties["SecretId"] = arn
	id, data, err := f.h.Handle(ctx, ev)
	require.NoError(t, err)
	assert.Equal(t, arn, id)
	assert.Nil(t, data)
	ring := readRing(t, f, arn)
	require.Equal(t, 1, ring.Len())

	// Update and a replayed create keep the ring: replacing it would lock every user out.
	for _, req := range []cfn.RequestType{cfn.RequestUpdate, cfn.RequestCreate} {
		ev.RequestType = req
		ev.PhysicalResourceID = arn
		_, _, err = f.h.Handle(ctx, ev)
		require.NoError(t, err)
		assert.Equal(t, ring.Keys(), readRing(t, f, arn).Keys(), "%s keeps the key ring", req)
	}
	ev.RequestType = cfn.RequestDelete
	_, _, err = f.h.Handle(ctx, ev)
	require.NoError(t, err)
	assert.Equal(t, ring.Keys(), readRing(t, f, arn).Keys(), "delete leaves the secret to its own removal policy")
	assert.NotContains(t, f.logs.String(), ring.Keys()[0])
}

// TestKeyRingUpdateLeavesWhatIsNotAPlaceholder: a stack update over a ring the strict parser
// refuses (an extra field) or over a garbled value changes nothing; the garbled one is logged by
// secret ARN and problem, never by value.
func TestKeyRingUpdateLeavesWhatIsNotAPlaceholder(t *testing.T) {
	f := newFixture()
	ctx := context.Background()
	key, err := claims.GenerateKey()
	require.NoError(t, err)
	for name, value := range map[string]string{
		"ring with an extra field":   `{"keys":["` + key + `"],"note":"rotated 2026-10-01"}`,
		"garbled":                    `{"keys":["` + key[:20],
		"empty ring":                 `{"keys":[]}`,
		"shorter than a placeholder": "abc123",
	} {
		arn := f.claimsKeySecret(t, value)
		for _, req := range []cfn.RequestType{cfn.RequestUpdate, cfn.RequestCreate} {
			_, _, err := f.h.Handle(ctx, keyRingEvent(req, arn))
			require.NoError(t, err, "%s: %s must not fail the stack update (its rollback would run it again)", name, req)
			out, err := f.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
			require.NoError(t, err)
			assert.Equal(t, value, aws.ToString(out.SecretString), "%s: %s leaves the secret as it was", name, req)
		}
	}
	assert.Contains(t, f.logs.String(), "neither its placeholder nor a valid key ring")
	assert.NotContains(t, f.logs.String(), key[:20], "the log names the secret and the problem, never its value")
}

// TestKeyRingTwoRunsAtOnceWriteOneRing: two invocations that both read the placeholder end with
// one ring, the same one both report.
func TestKeyRingTwoRunsAtOnceWriteOneRing(t *testing.T) {
	f := newFixture()
	ctx := context.Background()
	for round := 0; round < 5; round++ {
		arn := f.claimsKeySecret(t, placeholderAsDeployed(t, f))
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, errs[i] = f.h.Handle(ctx, keyRingEvent(cfn.RequestCreate, arn))
			}()
		}
		wg.Wait()
		require.NoError(t, errs[0])
		require.NoError(t, errs[1])
		first := readRing(t, f, arn)
		require.Equal(t, 1, first.Len())
		// Whatever the interleaving, later runs see that ring and keep it.
		_, _, err := f.h.Handle(ctx, keyRingEvent(cfn.RequestUpdate, arn))
		require.NoError(t, err)
		assert.Equal(t, first.Keys(), readRing(t, f, arn).Keys())
	}
}

func readRing(t *testing.T, f *fixture, id string) *claims.KeyRing {
	t.Helper()
	out, err := f.sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	require.NoError(t, err)
	ring, err := claims.ParseKeyRing(aws.ToString(out.SecretString))
	require.NoError(t, err, "the secret holds a valid key ring")
	return ring
}

// TestCloudFormationResponseCarriesNoSecret runs the wrapped function as Lambda does and reads
// what it sends to CloudFormation's response URL.
func TestCloudFormationResponseCarriesNoSecret(t *testing.T) {
	f := newFixture()
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
	}))
	defer srv.Close()
	name := fmt.Sprintf("/test/%d/event-api-key", n.Add(1))
	ev := apiKeyEvent(cfn.RequestCreate, "", name, false)
	ev.ResponseURL = srv.URL
	ev.StackID = "arn:aws:cloudformation:us-east-1:000000000000:stack/s/1"
	_, err := cfn.LambdaWrap(f.h.Handle)(context.Background(), ev)
	require.NoError(t, err)
	key, _ := f.param(t, name)
	require.NotEmpty(t, body)
	assert.Contains(t, string(body), `"Status":"SUCCESS"`)
	assert.Contains(t, string(body), `"PhysicalResourceId":"`+name+`"`)
	assert.NotContains(t, string(body), key)
}

// TestDeleteRemovesTheOverlapValueWithItsParameter: claimsctl apikey rotate keeps the previous
// event API key at <name>-previous, which the backend accepts. Deleting the parameter must delete
// that value too: left behind, a re-created environment's backend would keep accepting a key of
// the deleted one. A retained parameter keeps it; a parameter this resource does not own leaves
// it alone.
func TestDeleteRemovesTheOverlapValueWithItsParameter(t *testing.T) {
	f := newFixture()
	ctx := context.Background()
	previous := func(name string) {
		_, err := f.ssm.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name + PreviousSuffix),
			Type: ssmtypes.ParameterTypeSecureString, Value: aws.String("old-key-value"), Overwrite: aws.Bool(true)})
		require.NoError(t, err)
	}
	for _, retain := range []bool{false, true} {
		name := fmt.Sprintf("/test/%d/event-api-key", n.Add(1))
		_, _, err := f.h.Handle(ctx, apiKeyEvent(cfn.RequestCreate, "", name, retain))
		require.NoError(t, err)
		previous(name)
		_, _, err = f.h.Handle(ctx, apiKeyEvent(cfn.RequestDelete, name, name, retain))
		require.NoError(t, err)
		_, kept := f.param(t, name+PreviousSuffix)
		assert.Equal(t, retain, kept, "retain=%t: the overlap value goes with its parameter", retain)

		// The re-created stack draws a new key and no old value is accepted next to it.
		if !retain {
			_, _, err = f.h.Handle(ctx, apiKeyEvent(cfn.RequestCreate, "", name, false))
			require.NoError(t, err)
			_, kept = f.param(t, name+PreviousSuffix)
			assert.False(t, kept)
		}
	}

	name := fmt.Sprintf("/test/%d/event-api-key", n.Add(1))
	_, err := f.ssm.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Type: ssmtypes.ParameterTypeSecureString, Value: aws.String("theirs")})
	require.NoError(t, err)
	previous(name)
	_, _, err = f.h.Handle(ctx, apiKeyEvent(cfn.RequestDelete, name, name, false))
	require.NoError(t, err)
	_, kept := f.param(t, name+PreviousSuffix)
	assert.True(t, kept, "not this resource's parameter: its overlap value is not touched either")
	assert.NotContains(t, f.logs.String(), "old-key-value")
}
