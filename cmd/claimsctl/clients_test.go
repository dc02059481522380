package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

// transcript collects everything claimsctl printed in a test, to prove no client secret is in it.
type transcript struct{ strings.Builder }

func (tr *transcript) ctl(t *testing.T, d *deployment, args ...string) (string, string, int) {
	t.Helper()
	out, errOut, code := d.ctl(t, "", args...)
	tr.WriteString(out)
	tr.WriteString(errOut)
	return out, errOut, code
}

// noSecrets asserts that no value the client's secret ever held (every version) was printed.
func (tr *transcript) noSecrets(t *testing.T, d *deployment, name string) {
	t.Helper()
	id := d.project + "/" + d.env + "/clients/" + name
	desc, err := d.sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	require.NoError(t, err)
	n := 0
	for version := range desc.VersionIdsToStages {
		v, err := d.sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionId: aws.String(version)})
		require.NoError(t, err)
		var sv secretValue
		require.NoError(t, json.Unmarshal([]byte(aws.ToString(v.SecretString)), &sv))
		require.NotEmpty(t, sv.ClientSecret)
		assert.NotContains(t, tr.String(), sv.ClientSecret, "a client secret was printed")
		n++
	}
	assert.Positive(t, n)
}

// appClient returns the app client of the machine client name (nil: none), failing on several.
func (d *deployment) appClient(t *testing.T, name string) *ciptypes.UserPoolClientType {
	t.Helper()
	var ids []string
	pages := cip.NewListUserPoolClientsPaginator(d.idp, &cip.ListUserPoolClientsInput{UserPoolId: aws.String(d.pool), MaxResults: aws.Int32(60)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		require.NoError(t, err)
		for _, c := range page.UserPoolClients {
			if aws.ToString(c.ClientName) == machineClientPrefix+name {
				ids = append(ids, aws.ToString(c.ClientId))
			}
		}
	}
	require.LessOrEqual(t, len(ids), 1, "app clients named %s", name)
	if len(ids) == 0 {
		return nil
	}
	out, err := d.idp.DescribeUserPoolClient(context.Background(), &cip.DescribeUserPoolClientInput{UserPoolId: aws.String(d.pool), ClientId: aws.String(ids[0])})
	require.NoError(t, err)
	return out.UserPoolClient
}

// client reads the record client#id as the trigger does (nil: none).
func (d *deployment) client(t *testing.T, id string) *claims.Client {
	t.Helper()
	got, err := d.db.GetItem(context.Background(), getInput(d.table, claims.ClientItemID(id)))
	require.NoError(t, err)
	if len(got.Item) == 0 {
		return nil
	}
	rec, err := claims.RecordFromItem(got.Item)
	require.NoError(t, err)
	c, err := claims.OpenClient(d.ring(t), rec)
	require.NoError(t, err)
	return &c
}

// clientSecret describes the client's Secrets Manager secret (nil: none).
func (d *deployment) clientSecret(t *testing.T, name string) *secretsmanager.DescribeSecretOutput {
	t.Helper()
	out, err := d.sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(d.project + "/" + d.env + "/clients/" + name)})
	var nf *smtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return nil
	}
	require.NoError(t, err)
	return out
}

// stored reads the secret's value at a stage (nil: no version has it).
func (d *deployment) stored(t *testing.T, name, stage string) *secretValue {
	t.Helper()
	out, err := d.sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(d.project + "/" + d.env + "/clients/" + name), VersionStage: aws.String(stage)})
	var nf *smtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return nil
	}
	require.NoError(t, err)
	var v secretValue
	require.NoError(t, json.Unmarshal([]byte(aws.ToString(out.SecretString)), &v))
	return &v
}

// cognitoSecrets lists the ids of the app client's secrets, through the stand-in.
func (d *deployment) cognitoSecrets(t *testing.T, id string) []string {
	t.Helper()
	out, err := d.cs.ListUserPoolClientSecrets(context.Background(), &cip.ListUserPoolClientSecretsInput{UserPoolId: aws.String(d.pool), ClientId: aws.String(id)})
	require.NoError(t, err)
	var ids []string
	for _, s := range out.ClientSecrets {
		ids = append(ids, aws.ToString(s.ClientSecretId))
	}
	return ids
}

// works reports whether Cognito would accept the secret for the client (the stand-in's check).
func (d *deployment) works(t *testing.T, v *secretValue) bool {
	t.Helper()
	return clientSecrets.Valid(context.Background(), d.pool, v.ClientID, v.ClientSecret)
}

func addGrid(t *testing.T, d *deployment, tr *transcript, extra ...string) map[string]any {
	t.Helper()
	out, errOut, code := tr.ctl(t, d, append([]string{"client", "add", "grid", "--tier", "internal", "--scopes", "Mutation:*:Create,Query:*", "--json"}, extra...)...)
	require.Equal(t, exitOK, code, errOut)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	return res
}

func TestClientAddCreatesTheAppClientRecordAndSecretAndPrintsNoSecret(t *testing.T) {
	d := deploy(t)
	tr := &transcript{}
	res := addGrid(t, d, tr, "--validity", "24h")
	scopes := []any{"Mutation:Person:Create", "Mutation:Work:Create", "Query:Person", "Query:Work"}
	app := d.appClient(t, "grid")
	require.NotNil(t, app)
	id := aws.ToString(app.ClientId)
	sec := d.clientSecret(t, "grid")
	require.NotNil(t, sec)
	assert.Equal(t, map[string]any{"name": "grid", "clientId": id, "secretArn": aws.ToString(sec.ARN), "tokenEndpoint": d.tokenEndpoint,
		"tier": "internal", "scopes": scopes, "validity": "24h"}, res, "the documented --json shape")

	// The app client: confidential, client-credentials only, the globs expanded against the
	// declared scopes (Mutation:Person:Delete matches neither glob), a day's validity.
	assert.NotEmpty(t, aws.ToString(app.ClientSecret))
	assert.Equal(t, []ciptypes.OAuthFlowType{ciptypes.OAuthFlowTypeClientCredentials}, app.AllowedOAuthFlows)
	assert.True(t, aws.ToBool(app.AllowedOAuthFlowsUserPoolClient))
	granted := append([]string{}, app.AllowedOAuthScopes...)
	sort.Strings(granted)
	assert.Equal(t, []string{"hasura/Mutation:Person:Create", "hasura/Mutation:Work:Create", "hasura/Query:Person", "hasura/Query:Work"}, granted)
	assert.Equal(t, int32(1440), aws.ToInt32(app.AccessTokenValidity))
	assert.Equal(t, ciptypes.TimeUnitsTypeMinutes, app.TokenValidityUnits.AccessToken)
	assert.Equal(t, []ciptypes.ExplicitAuthFlowsType{ciptypes.ExplicitAuthFlowsTypeAllowRefreshTokenAuth}, app.ExplicitAuthFlows, "no user sign-in flow")

	// The record, read as the trigger reads it, gives the tier's role and the granted scopes.
	c := d.client(t, id)
	require.NotNil(t, c)
	assert.Equal(t, claims.Client{ID: id, Name: "grid", Tier: "internal", Scopes: []string{"Mutation:Person:Create", "Mutation:Work:Create", "Query:Person", "Query:Work"}}, *c)
	tok, err := claims.ForClient(*c, "internal", claims.GrantedScopes(app.AllowedOAuthScopes))
	require.NoError(t, err)
	assert.Equal(t, `{"Mutation:Person:Create","Mutation:Work:Create","Query:Person","Query:Work"}`, tok[claims.ScopesClaim])

	// The secret: under the environment's prefix, tagged as claimsctl's, holding a secret that works.
	assert.Equal(t, d.project+"/"+d.env+"/clients/grid", aws.ToString(sec.Name))
	assert.Equal(t, managedBy, tag(sec.Tags, managedTag))
	assert.Equal(t, id, tag(sec.Tags, clientIDTag))
	assert.Equal(t, "grid", tag(sec.Tags, clientNameTag))
	v := d.stored(t, "grid", "AWSCURRENT")
	assert.Equal(t, id, v.ClientID)
	assert.Equal(t, d.tokenEndpoint, v.TokenEndpoint)
	assert.Equal(t, d.cognitoSecrets(t, id), []string{v.ClientSecretID})
	assert.True(t, d.works(t, v))

	// People's output: id, ARN and endpoint.
	out, errOut, code := tr.ctl(t, d, "client", "add", "feed", "--tier", "readonly", "--scopes", "Query:*")
	require.Equal(t, exitOK, code, errOut)
	feed := d.appClient(t, "feed")
	assert.Contains(t, out, "client id:      "+aws.ToString(feed.ClientId)+"\n")
	assert.Contains(t, out, "secret ARN:     "+aws.ToString(d.clientSecret(t, "feed").ARN)+"\n")
	assert.Contains(t, out, "token endpoint: "+d.tokenEndpoint+"\n")
	assert.Contains(t, out, "tokens valid 1h", "machineAccess.defaultValidity")
	assert.Equal(t, int32(60), aws.ToInt32(feed.AccessTokenValidity))

	// Names are unique per environment.
	_, errOut, code = tr.ctl(t, d, "client", "add", "grid", "--tier", "internal", "--scopes", "*")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "a client named grid already exists")
	tr.noSecrets(t, d, "grid")
	tr.noSecrets(t, d, "feed")
}

func TestClientAddRefusesBadInputAndWritesNothing(t *testing.T) {
	d := deploy(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--tier", "gold", "--scopes", "*"}, `--tier "gold" is not a tier of this environment: one of internal, readonly, syndication`},
		{[]string{"--scopes", "*"}, "--tier is required: one of internal, readonly, syndication"},
		{[]string{"--tier", "internal", "--scopes", "Query:*,Subscription:*"}, `--scopes: "Subscription:*" matches none of the environment's scopes`},
		{[]string{"--tier", "internal"}, "--scopes is required"},
		{[]string{"--tier", "internal", "--scopes", "*", "--validity", "2d"}, `--validity "2d": want whole minutes from 5m to 24h`},
		{[]string{"--tier", "internal", "--scopes", "*", "--validity", "1m"}, `--validity "1m"`},
		{[]string{"--tier", "internal", "--scopes", "*", "--validity", "25h"}, `--validity "25h"`},
		{[]string{"--tier", "internal", "--scopes", "*", "--validity", "90s"}, `--validity "90s"`},
	} {
		_, errOut, code := d.ctl(t, "", append([]string{"client", "add", "svc"}, c.args...)...)
		assert.Equal(t, exitUsage, code, "%q", c.args)
		assert.Contains(t, errOut, c.want, "%q", c.args)
	}
	_, errOut, code := d.ctl(t, "", "client", "add", "bad/name", "--tier", "internal", "--scopes", "*")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, `client name "bad/name"`)
	assert.Nil(t, d.appClient(t, "svc"))
	assert.Nil(t, d.clientSecret(t, "svc"))
	assert.Equal(t, 0, d.itemCount(t))

	// A secret of the client's name that claimsctl did not make is left alone.
	_, err := d.sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(d.project + "/" + d.env + "/clients/theirs"), SecretString: aws.String("x")})
	require.NoError(t, err)
	for _, args := range [][]string{{"client", "add", "theirs", "--tier", "internal", "--scopes", "*"}, {"client", "remove", "theirs"}} {
		_, errOut, code = d.ctl(t, "", args...)
		assert.Equal(t, exitFailed, code, "%q", args)
		assert.Contains(t, errOut, "was not made by claimsctl client add (no tag hasuraauth:managed-by=claimsctl client): claimsctl leaves it alone", "%q", args)
	}
	assert.Nil(t, d.appClient(t, "theirs"))
	assert.Nil(t, d.clientSecret(t, "theirs").DeletedDate)

	// An environment without machineAccess says so.
	off := deployWith(t, project, fmt.Sprintf("e%d", envSeq.Add(1)), false)
	_, errOut, code = off.ctl(t, "", "client", "list")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "has no output MachineResourceServer: the environment has no machineAccess")
}

func TestClientListScopesDisableEnableRemove(t *testing.T) {
	d := deploy(t)
	tr := &transcript{}
	id := addGrid(t, d, tr)["clientId"].(string)
	_, errOut, code := tr.ctl(t, d, "client", "add", "feed", "--tier", "syndication", "--scopes", "Query:Work", "--validity", "90m")
	require.Equal(t, exitOK, code, errOut)
	feedID := aws.ToString(d.appClient(t, "feed").ClientId)

	out, errOut, code := tr.ctl(t, d, "client", "list", "--json")
	require.Equal(t, exitOK, code, errOut)
	var rows []clientInfo
	require.NoError(t, json.Unmarshal([]byte(out), &rows))
	assert.Equal(t, []clientInfo{
		{Name: "feed", ClientID: feedID, Tier: "syndication", Scopes: []string{"Query:Work"}, Validity: "90m", Secrets: 1, Status: "enabled"},
		{Name: "grid", ClientID: id, Tier: "internal", Scopes: []string{"Mutation:Person:Create", "Mutation:Work:Create", "Query:Person", "Query:Work"}, Validity: "1h", Secrets: 1, Status: "enabled"},
	}, rows, "the SPA's app client is not listed")
	out, _, code = tr.ctl(t, d, "client", "list")
	require.Equal(t, exitOK, code)
	assert.Regexp(t, `(?m)^NAME\s+CLIENT_ID\s+TIER\s+SCOPES\s+VALIDITY\s+SECRETS\s+STATUS$`, out)
	assert.Regexp(t, `(?m)^feed\s+`+feedID+`\s+syndication\s+Query:Work\s+90m\s+1\s+enabled$`, out)

	// scopes: re-expanded; the app client and the record both change.
	_, errOut, code = tr.ctl(t, d, "client", "scopes", "grid", "--scopes", "Query:Person,Mutation:Person:*")
	require.Equal(t, exitOK, code, errOut)
	app := d.appClient(t, "grid")
	want := []string{"Mutation:Person:Create", "Mutation:Person:Delete", "Query:Person"}
	assert.ElementsMatch(t, []string{"hasura/Mutation:Person:Create", "hasura/Mutation:Person:Delete", "hasura/Query:Person"}, app.AllowedOAuthScopes)
	assert.Equal(t, want, d.client(t, id).Scopes)
	assert.Equal(t, []ciptypes.OAuthFlowType{ciptypes.OAuthFlowTypeClientCredentials}, app.AllowedOAuthFlows, "the update kept the other settings")
	assert.Equal(t, int32(60), aws.ToInt32(app.AccessTokenValidity))
	_, errOut, code = tr.ctl(t, d, "client", "scopes", "grid", "--scopes", "Nothing:*")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, `"Nothing:*" matches none`)

	// disable: the trigger's code path refuses; enable restores.
	_, errOut, code = tr.ctl(t, d, "client", "disable", "grid")
	require.Equal(t, exitOK, code, errOut)
	_, err := claims.ForClient(*d.client(t, id), "internal", want)
	assert.ErrorIs(t, err, claims.ErrClientDisabled)
	out, _, code = tr.ctl(t, d, "client", "disable", "grid")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "already disabled")
	out, _, _ = tr.ctl(t, d, "client", "list", "--json")
	assert.Contains(t, out, `"status": "disabled"`)
	_, errOut, code = tr.ctl(t, d, "client", "enable", "grid")
	require.Equal(t, exitOK, code, errOut)
	_, err = claims.ForClient(*d.client(t, id), "internal", want)
	assert.NoError(t, err)

	// remove: record, app client, and the secret scheduled for deletion.
	tr.noSecrets(t, d, "grid")
	_, errOut, code = tr.ctl(t, d, "client", "remove", "grid")
	require.Equal(t, exitOK, code, errOut)
	assert.Nil(t, d.appClient(t, "grid"))
	assert.Nil(t, d.client(t, id))
	require.NotNil(t, d.clientSecret(t, "grid").DeletedDate)
	_, errOut, code = tr.ctl(t, d, "client", "remove", "grid")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "nothing to remove")
	_, errOut, code = tr.ctl(t, d, "client", "disable", "grid")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "no machine client grid")
	assert.NotNil(t, d.appClient(t, "feed"), "the other client is untouched")
}

func TestClientRotateSecretKeepsBothWorkingUntilRetired(t *testing.T) {
	d := deploy(t)
	tr := &transcript{}
	id := addGrid(t, d, tr)["clientId"].(string)
	old := d.stored(t, "grid", "AWSCURRENT")

	_, errOut, code := tr.ctl(t, d, "client", "rotate-secret", "grid")
	require.Equal(t, exitOK, code, errOut)
	cur, prev := d.stored(t, "grid", "AWSCURRENT"), d.stored(t, "grid", "AWSPREVIOUS")
	require.NotNil(t, prev)
	assert.Equal(t, *old, *prev, "the old value stays as AWSPREVIOUS")
	assert.NotEqual(t, old.ClientSecret, cur.ClientSecret)
	assert.Equal(t, id, cur.ClientID)
	assert.ElementsMatch(t, []string{old.ClientSecretID, cur.ClientSecretID}, d.cognitoSecrets(t, id))
	assert.True(t, d.works(t, old), "during the rotation the old secret works")
	assert.True(t, d.works(t, cur), "and so does the new one")
	out, _, _ := tr.ctl(t, d, "client", "list", "--json")
	assert.Contains(t, out, `"secrets": 2`)

	_, errOut, code = tr.ctl(t, d, "client", "rotate-secret", "grid")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "in the middle of a rotation")
	assert.Len(t, d.cognitoSecrets(t, id), 2)

	_, errOut, code = tr.ctl(t, d, "client", "retire-secret", "grid")
	require.Equal(t, exitOK, code, errOut)
	assert.False(t, d.works(t, old), "after retiring only the new secret works")
	assert.True(t, d.works(t, cur))
	assert.Equal(t, []string{cur.ClientSecretID}, d.cognitoSecrets(t, id))
	assert.Nil(t, d.stored(t, "grid", "AWSPREVIOUS"), "no stage points at a dead secret")
	out, _, code = tr.ctl(t, d, "client", "retire-secret", "grid")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "nothing to retire")

	// A rotation killed between adding the Cognito secret and storing it left a secret nobody
	// has: the next rotation deletes it first.
	_, err := d.cs.AddUserPoolClientSecret(context.Background(), &cip.AddUserPoolClientSecretInput{UserPoolId: aws.String(d.pool), ClientId: aws.String(id)})
	require.NoError(t, err)
	out, errOut, code = tr.ctl(t, d, "client", "rotate-secret", "grid")
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "first deleted 1 secret(s) an interrupted rotation had added")
	next := d.stored(t, "grid", "AWSCURRENT")
	assert.ElementsMatch(t, []string{cur.ClientSecretID, next.ClientSecretID}, d.cognitoSecrets(t, id))
	tr.noSecrets(t, d, "grid")
}

// faultAt makes the named fault point fail once per run, and restores the hook afterwards.
func faultAt(t *testing.T, point string) {
	t.Helper()
	faultHook = func(p string) error {
		if p == point {
			return errors.New("injected: connection reset at " + point)
		}
		return nil
	}
	t.Cleanup(func() { faultHook = nil })
}

// TestClientCommandsFailCleanlyAtEachAWSCallAndARetryCompletes injects a failure before each AWS
// write of every client command, checks the state it leaves, then reruns the command.
func TestClientCommandsFailCleanlyAtEachAWSCallAndARetryCompletes(t *testing.T) {
	type state struct {
		app, record, secret bool
	}
	for _, point := range []string{"client-add:create-client", "client-add:list-secrets", "client-add:put-record", "client-add:create-secret", "client-add:secret-created"} {
		t.Run(point, func(t *testing.T) {
			d := deploy(t)
			faultAt(t, point)
			_, errOut, code := d.ctl(t, "", "client", "add", "grid", "--tier", "internal", "--scopes", "*")
			assert.Equal(t, exitFailed, code, errOut)
			assert.Contains(t, errOut, "nothing was changed")
			assert.Nil(t, d.appClient(t, "grid"), "no orphan app client")
			assert.Nil(t, d.clientSecret(t, "grid"), "no orphan secret")
			assert.Equal(t, 0, d.itemCount(t), "no record (and the lock released)")
			faultHook = nil
			_, errOut, code = d.ctl(t, "", "client", "add", "grid", "--tier", "internal", "--scopes", "*")
			require.Equal(t, exitOK, code, errOut)
			assert.NotNil(t, d.client(t, aws.ToString(d.appClient(t, "grid").ClientId)))
		})
	}
	t.Run("client-add:undo-fails", func(t *testing.T) {
		d := deploy(t)
		faultHook = func(p string) error {
			if p == "client-add:create-secret" {
				// The table goes away: the record cannot be deleted again.
				_, err := d.db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(d.table)})
				require.NoError(t, err)
				return errors.New("injected")
			}
			return nil
		}
		t.Cleanup(func() { faultHook = nil })
		_, errOut, code := d.ctl(t, "", "client", "add", "grid", "--tier", "internal", "--scopes", "*")
		assert.Equal(t, exitPartial, code, errOut)
		assert.Contains(t, errOut, "run claimsctl client remove grid")
	})

	for _, c := range []struct {
		point string
		args  []string
		code  int
		check func(t *testing.T, d *deployment, id string)
	}{
		{"client-scopes:put-record", []string{"client", "scopes", "grid", "--scopes", "Query:Person"}, exitFailed, func(t *testing.T, d *deployment, id string) {
			assert.Len(t, d.client(t, id).Scopes, 4)
			assert.Len(t, d.appClient(t, "grid").AllowedOAuthScopes, 4)
		}},
		{"client-scopes:update-client", []string{"client", "scopes", "grid", "--scopes", "Query:Person"}, exitFailed, func(t *testing.T, d *deployment, id string) {
			assert.Len(t, d.client(t, id).Scopes, 4, "the record was restored")
			assert.Len(t, d.appClient(t, "grid").AllowedOAuthScopes, 4)
		}},
		{"client-scopes:client-updated", []string{"client", "scopes", "grid", "--scopes", "Query:Person"}, exitOK, func(t *testing.T, d *deployment, id string) {
			assert.Equal(t, []string{"Query:Person"}, d.client(t, id).Scopes, "the record is not restored over a landed update")
			assert.Equal(t, []string{"hasura/Query:Person"}, d.appClient(t, "grid").AllowedOAuthScopes)
		}},
		{"client-disable:put-record", []string{"client", "disable", "grid"}, exitFailed, func(t *testing.T, d *deployment, id string) {
			assert.False(t, d.client(t, id).Disabled)
		}},
		{"client-rotate:add-secret", []string{"client", "rotate-secret", "grid"}, exitFailed, func(t *testing.T, d *deployment, id string) {
			assert.Len(t, d.cognitoSecrets(t, id), 1)
			assert.Nil(t, d.stored(t, "grid", "AWSPREVIOUS"))
		}},
		{"client-rotate:put-secret", []string{"client", "rotate-secret", "grid"}, exitFailed, func(t *testing.T, d *deployment, id string) {
			assert.Equal(t, []string{d.stored(t, "grid", "AWSCURRENT").ClientSecretID}, d.cognitoSecrets(t, id), "the unstored Cognito secret was deleted again")
		}},
		{"client-rotate:secret-stored", []string{"client", "rotate-secret", "grid"}, exitOK, func(t *testing.T, d *deployment, id string) {
			// The write landed and only its answer was lost: the rotation stands, both work.
			cur, prev := d.stored(t, "grid", "AWSCURRENT"), d.stored(t, "grid", "AWSPREVIOUS")
			require.NotNil(t, prev)
			assert.ElementsMatch(t, []string{cur.ClientSecretID, prev.ClientSecretID}, d.cognitoSecrets(t, id))
			assert.True(t, d.works(t, cur))
			assert.True(t, d.works(t, prev))
		}},
		{"client-remove:delete-record", []string{"client", "remove", "grid"}, exitFailed, func(t *testing.T, d *deployment, id string) {
			assert.NotNil(t, d.client(t, id))
			assert.NotNil(t, d.appClient(t, "grid"))
		}},
		{"client-remove:delete-client", []string{"client", "remove", "grid"}, exitPartial, func(t *testing.T, d *deployment, id string) {
			assert.Nil(t, d.client(t, id), "the record went first: fail closed")
			assert.NotNil(t, d.appClient(t, "grid"))
		}},
		{"client-remove:delete-secret", []string{"client", "remove", "grid"}, exitPartial, func(t *testing.T, d *deployment, id string) {
			assert.Nil(t, d.appClient(t, "grid"))
			assert.Nil(t, d.clientSecret(t, "grid").DeletedDate)
		}},
	} {
		t.Run(c.point, func(t *testing.T) {
			d := deploy(t)
			id := addGrid(t, d, &transcript{})["clientId"].(string)
			faultAt(t, c.point)
			_, errOut, code := d.ctl(t, "", c.args...)
			assert.Equal(t, c.code, code, errOut)
			c.check(t, d, id)
			faultHook = nil
			if c.code == exitOK {
				return // done despite the lost answer: nothing to retry
			}
			assert.Contains(t, errOut, "injected")
			_, errOut, code = d.ctl(t, "", c.args...)
			require.Equal(t, exitOK, code, "the rerun completes: %s", errOut)
		})
	}

	for _, point := range []string{"client-retire:delete-secret", "client-retire:unstage"} {
		t.Run(point, func(t *testing.T) {
			d := deploy(t)
			id := addGrid(t, d, &transcript{})["clientId"].(string)
			_, errOut, code := d.ctl(t, "", "client", "rotate-secret", "grid")
			require.Equal(t, exitOK, code, errOut)
			faultAt(t, point)
			_, errOut, code = d.ctl(t, "", "client", "retire-secret", "grid")
			assert.NotEqual(t, exitOK, code)
			assert.Contains(t, errOut, "rerun claimsctl client retire-secret grid")
			faultHook = nil
			_, errOut, code = d.ctl(t, "", "client", "retire-secret", "grid")
			require.Equal(t, exitOK, code, errOut)
			assert.Equal(t, []string{d.stored(t, "grid", "AWSCURRENT").ClientSecretID}, d.cognitoSecrets(t, id))
			assert.Nil(t, d.stored(t, "grid", "AWSPREVIOUS"))
		})
	}
}

func TestTwoRunsOfAClientCommandAtOnce(t *testing.T) {
	d := deploy(t)
	const n = 3
	var wg sync.WaitGroup
	codes := make([]int, n)
	errs := make([]string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i], codes[i] = d.ctl(t, "", "client", "add", "grid", "--tier", "internal", "--scopes", "*")
		}()
	}
	wg.Wait()
	ok := 0
	for i := range codes {
		if codes[i] == exitOK {
			ok++
			continue
		}
		assert.Equal(t, exitFailed, codes[i], errs[i])
		assert.Contains(t, errs[i], "a client named grid already exists", "the losers fail cleanly")
	}
	assert.Equal(t, 1, ok, "exactly one add wins")
	app := d.appClient(t, "grid") // fails on more than one: no orphan app client
	require.NotNil(t, app)
	assert.NotNil(t, d.client(t, aws.ToString(app.ClientId)))
	assert.Equal(t, 1, d.itemCount(t), "one record, and the lock released")

	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i], codes[i] = d.ctl(t, "", "client", "rotate-secret", "grid")
		}()
	}
	wg.Wait()
	assert.ElementsMatch(t, []int{exitOK, exitFailed}, codes[:2], "%q", errs[:2])
	assert.Len(t, d.cognitoSecrets(t, aws.ToString(app.ClientId)), 2, "one rotation, not two")
	assert.True(t, d.works(t, d.stored(t, "grid", "AWSCURRENT")))
	assert.True(t, d.works(t, d.stored(t, "grid", "AWSPREVIOUS")))
}

func TestKeyCommandsAndClaimsVerifyAndListHandleClientRecords(t *testing.T) {
	d := deploy(t)
	id := addGrid(t, d, &transcript{})["clientId"].(string)
	_, _, code := d.ctl(t, "", "claims", "put", "ann@example.com", "--roles", "viewer", "--default-role", "viewer")
	require.Equal(t, exitOK, code)
	before := *d.client(t, id)

	out, errOut, code := d.ctl(t, "", "claims", "verify")
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "2 items, 0 failed; 0 unbound; 1 machine client records among them")
	out, _, code = d.ctl(t, "", "claims", "list", "--json")
	require.Equal(t, exitOK, code)
	assert.NotContains(t, out, claims.ClientPrefix, "claims list shows users only: client list shows clients")
	assert.Contains(t, out, "ann@example.com")

	_, errOut, code = d.ctl(t, "", "key", "rotate", "--retire")
	require.Equal(t, exitOK, code, errOut)
	got, err := d.db.GetItem(context.Background(), getInput(d.table, claims.ClientItemID(id)))
	require.NoError(t, err)
	rec, err := claims.RecordFromItem(got.Item)
	require.NoError(t, err)
	ring := d.ring(t)
	assert.Equal(t, 1, ring.Len(), "the old key was retired")
	c, err := claims.OpenClient(ring, rec)
	require.NoError(t, err, "the client record moved to the new key, sealed to its item and client")
	assert.Equal(t, before, c)

	// A client record copied onto another client's key is refused by verify, as by the trigger.
	d.putToken(t, claims.ClientItemID("other"), rec.Claims)
	out, _, code = d.ctl(t, "", "claims", "verify", "--json")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, out, claims.ClientItemID("other"))
	_, errOut, code = d.ctl(t, "", "key", "rotate")
	assert.Equal(t, exitPartial, code)
	assert.Contains(t, errOut, "1 items cannot be decrypted or validated")
}

func TestUserCommandsRefuseClientRecordKeys(t *testing.T) {
	d := deploy(t)
	for _, args := range [][]string{
		{"user", "add", "client#abc@example.com", "--roles", "viewer", "--default-role", "viewer"},
		{"claims", "put", "Client#abc@example.com", "--roles", "viewer", "--default-role", "viewer"},
		{"claims", "get", "client#abc"},
		{"claims", "delete", "client#abc"},
		{"user", "remove", "client#abc"},
	} {
		_, errOut, code := d.ctl(t, "", args...)
		assert.Equal(t, exitUsage, code, "%q", args)
		assert.Contains(t, errOut, "client#", "%q", args)
	}
	assert.Equal(t, 0, d.itemCount(t))
}
