package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
	"github.com/hasura-auth-cdk/hasuraauth/stacks/names"
)

// Machine clients (claimsctl client ...). Each is three things, made and removed together:
//   - a confidential Cognito app client named machineClientPrefix+NAME, with only the
//     client-credentials grant and its allowed scopes;
//   - its record client#<clientId> in the claims table (name, tier, scopes, disabled), sealed
//     with the claims key ring like a user's claims, which the pre-token trigger reads;
//   - a Secrets Manager secret <prefix>NAME (prefix: the MachineClientSecretPrefix output),
//     tagged as claimsctl's, holding the client id and secret for the service that uses it.
//
// Every command that changes one holds the key-ring lock, so two runs never interleave; every
// multi-step change undoes what it did when a later step fails, or says exactly what to rerun.

// machineClientPrefix starts the Cognito name of every machine client, so that claimsctl never
// mistakes the SPA's app client (or any other) for one of its own.
const machineClientPrefix = "machine-"

// Tags of the client secrets: claimsctl touches no secret without managedTag=managedBy.
const (
	managedTag    = "hasuraauth:managed-by"
	managedBy     = "claimsctl client"
	clientNameTag = "hasuraauth:client-name"
	clientIDTag   = "hasuraauth:client-id"
)

// secretRecoveryDays is how long a removed client's secret is kept (Secrets Manager's minimum),
// as a record of what the client held; restoring it gives no working secret (its app client is
// gone), so client add of the same name deletes it for good instead of waiting.
const secretRecoveryDays = 7

// Cognito's bounds for an access token's validity.
const (
	minValidity = 5 * time.Minute
	maxValidity = 24 * time.Hour
)

// clientNameArgRe is what a client's NAME may be: a Cognito app client name, a Secrets Manager
// name segment and a claims.Client name at once.
var clientNameArgRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@+=-]{0,63}$`)

// machine is an environment's machine access, as its identity stack's outputs describe it.
type machine struct {
	pool, resourceServer, tokenEndpoint, secretPrefix string
	tiers                                             map[string]string
	defaultValidity                                   time.Duration
	st                                                *store
	idp                                               *cip.Client
	sm                                                *secretsmanager.Client
}

// machine resolves the environment's machine access; it fails naming the missing output when
// the environment has no machineAccess.
func (x *env) machine(ctx context.Context) (*machine, error) {
	m := &machine{idp: x.idp, sm: x.sm, tiers: map[string]string{}}
	var err error
	if m.pool, err = x.userPool(ctx); err != nil {
		return nil, err
	}
	if m.st, err = x.store(ctx, 1); err != nil {
		return nil, err
	}
	stack, err := x.stackName("identity")
	if err != nil {
		return nil, err
	}
	outs, err := x.stackOutputs(ctx, stack)
	if err != nil {
		return nil, err
	}
	get := func(name string) (string, error) {
		if v := outs[name]; v != "" {
			return v, nil
		}
		return "", fmt.Errorf("stack %s has no output %s: the environment has no machineAccess (set it in cdk.json, see docs/machine-access.md, and deploy); nothing was changed", stack, name)
	}
	if m.resourceServer, err = get(names.OutMachineResourceServer); err != nil {
		return nil, err
	}
	m.tokenEndpoint = x.g.tokenEndpoint
	if m.tokenEndpoint == "" {
		if m.tokenEndpoint, err = get(names.OutTokenEndpoint); err != nil {
			return nil, err
		}
	}
	if m.secretPrefix, err = get(names.OutMachineClientSecretPrefix); err != nil {
		return nil, err
	}
	tiers, err := get(names.OutMachineTiers)
	if err != nil {
		return nil, err
	}
	for _, pair := range strings.Split(tiers, ",") {
		t, role, ok := strings.Cut(pair, "=")
		if !ok || t == "" || role == "" {
			return nil, fmt.Errorf("stack %s output %s is %q: want tier=role pairs separated by commas", stack, names.OutMachineTiers, tiers)
		}
		m.tiers[t] = role
	}
	v, err := get(names.OutMachineDefaultValidity)
	if err != nil {
		return nil, err
	}
	if m.defaultValidity, err = time.ParseDuration(v); err != nil {
		return nil, fmt.Errorf("stack %s output %s is %q: %w", stack, names.OutMachineDefaultValidity, v, err)
	}
	return m, nil
}

// declaredScopes reads the scopes the environment's resource server declares: what Cognito
// will let a client be allowed.
func (m *machine) declaredScopes(ctx context.Context) ([]string, error) {
	out, err := m.idp.DescribeResourceServer(ctx, &cip.DescribeResourceServerInput{UserPoolId: aws.String(m.pool), Identifier: aws.String(m.resourceServer)})
	if err != nil {
		return nil, fmt.Errorf("read the scopes of resource server %s in %s: %w; nothing was changed", m.resourceServer, m.pool, err)
	}
	var scopes []string
	for _, s := range out.ResourceServer.Scopes {
		scopes = append(scopes, aws.ToString(s.ScopeName))
	}
	return scopes, nil
}

// expandScopes turns comma-separated patterns into declared scope names: '*' matches any run of
// characters, so Mutation:*:Create matches Mutation:Person:Create and * matches every scope. A
// pattern that matches nothing is an error naming it. The result is sorted.
func expandScopes(patterns string, declared []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	n := 0
	for _, p := range strings.Split(patterns, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		n++
		parts := strings.Split(p, "*")
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		re := regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
		matched := false
		for _, s := range declared {
			if re.MatchString(s) {
				matched = true
				if !seen[s] {
					seen[s] = true
					out = append(out, s)
				}
			}
		}
		if !matched {
			return nil, usagef("--scopes: %q matches none of the environment's scopes (%s); nothing was changed", p, strings.Join(declared, ", "))
		}
	}
	if n == 0 {
		return nil, usagef("--scopes is required: comma-separated scopes or globs, e.g. --scopes 'Query:*,Mutation:Person:Create'")
	}
	sort.Strings(out)
	return out, nil
}

func clientNameArg(pos []string) (string, error) {
	if err := positional(pos, "NAME"); err != nil {
		return "", err
	}
	if !clientNameArgRe.MatchString(pos[0]) {
		return "", usagef("client name %q: want 1-64 letters, digits or _ . @ + = -, starting with a letter or digit", pos[0])
	}
	return pos[0], nil
}

// parseValidity reads --validity: empty is the environment's default.
func (m *machine) parseValidity(v string) (time.Duration, error) {
	if v == "" {
		return m.defaultValidity, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < minValidity || d > maxValidity || d%time.Minute != 0 {
		return 0, usagef("--validity %q: want whole minutes from 5m to 24h (Cognito's bounds), e.g. 1h or 24h", v)
	}
	return d, nil
}

func (m *machine) checkTier(tier string) error {
	if _, ok := m.tiers[tier]; ok {
		return nil
	}
	known := make([]string, 0, len(m.tiers))
	for t := range m.tiers {
		known = append(known, t)
	}
	sort.Strings(known)
	if tier == "" {
		return usagef("--tier is required: one of %s", strings.Join(known, ", "))
	}
	return usagef("--tier %q is not a tier of this environment: one of %s (machineAccess.tiers); nothing was changed", tier, strings.Join(known, ", "))
}

// fmtValidity prints a validity as operators write it: 24h, 90m.
func fmtValidity(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return fmt.Sprintf("%dm", d/time.Minute)
}

func (m *machine) qualified(scopes []string) []string {
	out := make([]string, len(scopes))
	for i, s := range scopes {
		out[i] = m.resourceServer + "/" + s
	}
	return out
}

// secretValue is what a client's secret holds: all a service needs to get a token.
type secretValue struct {
	ClientID       string `json:"clientId"`
	ClientSecret   string `json:"clientSecret"`
	ClientSecretID string `json:"clientSecretId"`
	TokenEndpoint  string `json:"tokenEndpoint"`
}

func (v secretValue) String() string {
	b, _ := json.Marshal(v)
	return string(b)
}

// appClients lists the machine clients' app clients by name (every page), NAME -> ids.
func (m *machine) appClients(ctx context.Context) (map[string][]string, error) {
	byName := map[string][]string{}
	pages := cip.NewListUserPoolClientsPaginator(m.idp, &cip.ListUserPoolClientsInput{UserPoolId: aws.String(m.pool), MaxResults: aws.Int32(60)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the app clients of %s: %w", m.pool, err)
		}
		for _, c := range page.UserPoolClients {
			if name, ok := strings.CutPrefix(aws.ToString(c.ClientName), machineClientPrefix); ok {
				byName[name] = append(byName[name], aws.ToString(c.ClientId))
			}
		}
	}
	return byName, nil
}

// one finds the app client of the machine client NAME.
func (m *machine) one(ctx context.Context, name string) (string, error) {
	all, err := m.appClients(ctx)
	if err != nil {
		return "", fmt.Errorf("%w; nothing was changed", err)
	}
	switch ids := all[name]; len(ids) {
	case 0:
		return "", fmt.Errorf("no machine client %s in %s (claimsctl client list shows them); nothing was changed", name, m.pool)
	case 1:
		return ids[0], nil
	default:
		return "", fmt.Errorf("%d app clients are named %s%s in %s (%s): remove the extra ones in the Cognito console; nothing was changed", len(ids), machineClientPrefix, name, m.pool, strings.Join(ids, ", "))
	}
}

// secret describes the client secret NAME: nil when there is none. A secret of that name that
// claimsctl did not make is an error: claimsctl never touches it.
func (m *machine) secret(ctx context.Context, name string) (*secretsmanager.DescribeSecretOutput, error) {
	id := m.secretPrefix + name
	d, err := m.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	var nf *smtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up secret %s: %w; nothing was changed", id, err)
	}
	if tag(d.Tags, managedTag) != managedBy {
		return nil, fmt.Errorf("secret %s exists but was not made by claimsctl client add (no tag %s=%s): claimsctl leaves it alone; choose another client name; nothing was changed", id, managedTag, managedBy)
	}
	if got := tag(d.Tags, clientNameTag); got != name || aws.ToString(d.Name) != id {
		return nil, fmt.Errorf("secret %s is tagged as the secret of client %q (%s), not of %s: claimsctl leaves it alone; nothing was changed", aws.ToString(d.Name), got, clientNameTag, name)
	}
	return d, nil
}

func tag(tags []smtypes.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// record reads and opens client#<id>; ok is false when there is no record.
func (m *machine) record(ctx context.Context, ring *claims.KeyRing, id string) (c claims.Client, rec claims.Record, ok bool, err error) {
	got, err := m.st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(m.st.table), Key: key(claims.ClientItemID(id)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return c, rec, false, fmt.Errorf("read the record of client %s from %s: %w", id, m.st.table, err)
	}
	if len(got.Item) == 0 {
		return c, rec, false, nil
	}
	if rec, err = claims.RecordFromItem(got.Item); err != nil {
		return c, rec, true, fmt.Errorf("record of client %s: %w", id, err)
	}
	if c, err = claims.OpenClient(ring, rec); err != nil {
		return c, rec, true, fmt.Errorf("record of client %s: %w", id, err)
	}
	return c, rec, true, nil
}

// putRecord seals c and writes it over the record sealed as old ("" for a new record), so a
// write based on a stale read fails instead of losing the other change.
func (m *machine) putRecord(ctx context.Context, ring *claims.KeyRing, c claims.Client, old string) (string, error) {
	tok, err := claims.SealClient(ring, c)
	if err != nil {
		return "", err
	}
	in := &dynamodb.PutItemInput{TableName: aws.String(m.st.table), Item: claims.Record{UserID: claims.ClientItemID(c.ID), Claims: tok}.Item()}
	if old == "" {
		in.ConditionExpression = aws.String("attribute_not_exists(user_id)")
	} else {
		in.ConditionExpression = aws.String("#c = :old")
		in.ExpressionAttributeNames = map[string]string{"#c": claims.AttrClaims}
		in.ExpressionAttributeValues = map[string]ddbtypes.AttributeValue{":old": &ddbtypes.AttributeValueMemberS{Value: old}}
	}
	if _, err := m.st.db.PutItem(ctx, in); err != nil {
		if isConditionFailed(err) && m.st.attrIs(ctx, claims.ClientItemID(c.ID), claims.AttrClaims, tok) {
			return tok, nil // this write landed; its answer was lost and the SDK's retry refused
		}
		if isConditionFailed(err) {
			return "", fmt.Errorf("the record of client %s changed while this run read it", c.ID)
		}
		return "", fmt.Errorf("write the record of client %s to %s: %w", c.ID, m.st.table, err)
	}
	return tok, nil
}

func (m *machine) deleteRecord(ctx context.Context, id string) error {
	if _, err := m.st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(m.st.table), Key: key(claims.ClientItemID(id))}); err != nil {
		return fmt.Errorf("delete the record of client %s from %s: %w", id, m.st.table, err)
	}
	return nil
}

func (m *machine) deleteAppClient(ctx context.Context, id string) error {
	_, err := m.idp.DeleteUserPoolClient(ctx, &cip.DeleteUserPoolClientInput{UserPoolId: aws.String(m.pool), ClientId: aws.String(id)})
	var nf *ciptypes.ResourceNotFoundException
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("delete app client %s from %s: %w", id, m.pool, err)
	}
	return nil
}

// deleteClientSecret deletes one Cognito secret of app client id. Not found counts as deleted:
// the SDK retries a delete whose answer was lost, and the retry finds it gone.
func (m *machine) deleteClientSecret(ctx context.Context, id, secretID string) error {
	_, err := m.idp.DeleteUserPoolClientSecret(ctx, &cip.DeleteUserPoolClientSecretInput{UserPoolId: aws.String(m.pool), ClientId: aws.String(id), ClientSecretId: aws.String(secretID)})
	var nf *ciptypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return nil
	}
	return err
}

// clientSecrets lists the app client's Cognito secrets (ids and dates; Cognito never lists values).
func (m *machine) clientSecrets(ctx context.Context, id string) ([]ciptypes.ClientSecretDescriptorType, error) {
	var all []ciptypes.ClientSecretDescriptorType
	in := &cip.ListUserPoolClientSecretsInput{UserPoolId: aws.String(m.pool), ClientId: aws.String(id)}
	for {
		out, err := m.idp.ListUserPoolClientSecrets(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list the client secrets of app client %s: %w", id, err)
		}
		all = append(all, out.ClientSecrets...)
		if aws.ToString(out.NextToken) == "" {
			return all, nil
		}
		in.NextToken = out.NextToken
	}
}

// storedSecret reads the version of the client's secret at stage ("AWSCURRENT", "AWSPREVIOUS");
// ok is false when no version has that stage.
func (m *machine) storedSecret(ctx context.Context, arn, stage string) (v secretValue, ok bool, err error) {
	out, err := m.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionStage: aws.String(stage)})
	var nf *smtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return v, false, nil
	}
	if err != nil {
		return v, false, fmt.Errorf("read %s of secret %s: %w", stage, arn, err)
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &v); err != nil || v.ClientSecretID == "" {
		// The error text could quote the value: say only where.
		return v, false, fmt.Errorf("%s of secret %s is not what claimsctl client add stores", stage, arn)
	}
	return v, true, nil
}

// clientAdd creates the app client, its record and its secret, in that order, undoing the
// earlier steps when a later one fails.
func clientAdd(ctx context.Context, m *machine, out *printer, name, tier string, scopes []string, validity time.Duration) error {
	ctx, l, err := m.st.lock(ctx, "client add")
	if err != nil {
		return err
	}
	defer l.release()
	ring, err := m.st.ring(ctx)
	if err != nil {
		return err
	}
	secretName := m.secretPrefix + name
	existing, err := m.secret(ctx, name)
	if err != nil {
		return err
	}
	if existing != nil && existing.DeletedDate == nil {
		return fmt.Errorf("a client named %s already exists (secret %s): change it with claimsctl client scopes, or remove it first; nothing was changed", name, secretName)
	}
	apps, err := m.appClients(ctx)
	if err != nil {
		return fmt.Errorf("%w; nothing was changed", err)
	}
	if ids := apps[name]; len(ids) > 0 {
		return fmt.Errorf("an app client named %s%s already exists in %s (%s) without a secret: an earlier add was interrupted; run claimsctl client remove %s, then add again; nothing was changed",
			machineClientPrefix, name, m.pool, strings.Join(ids, ", "), name)
	}
	purged := false
	if existing != nil {
		// A removed client's secret, scheduled for deletion: restoring it would give nobody a
		// working secret (remove deleted its app client first), so it only holds the name.
		// Delete it for good, unless the app client it names still exists.
		if id := tag(existing.Tags, clientIDTag); id != "" {
			_, err := m.idp.DescribeUserPoolClient(ctx, &cip.DescribeUserPoolClientInput{UserPoolId: aws.String(m.pool), ClientId: aws.String(id)})
			var nf *ciptypes.ResourceNotFoundException
			if err == nil {
				err = fmt.Errorf("app client %s, which secret %s (scheduled for deletion) names, still exists: run claimsctl client remove %s", id, secretName, name)
			}
			if !errors.As(err, &nf) {
				return fmt.Errorf("%w; nothing was changed", err)
			}
		}
		err := fault("client-add:purge-secret")
		if err == nil {
			_, err = m.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: existing.ARN, ForceDeleteWithoutRecovery: aws.Bool(true)})
		}
		if err != nil {
			return fmt.Errorf("delete the secret %s of the removed client %s for good: %w; nothing was changed", secretName, name, err)
		}
		purged = true
	}

	err = fault("client-add:create-client")
	var created *cip.CreateUserPoolClientOutput
	if err == nil {
		created, err = m.idp.CreateUserPoolClient(ctx, &cip.CreateUserPoolClientInput{
			UserPoolId:                      aws.String(m.pool),
			ClientName:                      aws.String(machineClientPrefix + name),
			GenerateSecret:                  true,
			AllowedOAuthFlows:               []ciptypes.OAuthFlowType{ciptypes.OAuthFlowTypeClientCredentials},
			AllowedOAuthFlowsUserPoolClient: true,
			AllowedOAuthScopes:              m.qualified(scopes),
			// No user sign-in flow: the client only trades its id and secret for a token.
			ExplicitAuthFlows:          []ciptypes.ExplicitAuthFlowsType{ciptypes.ExplicitAuthFlowsTypeAllowRefreshTokenAuth},
			AccessTokenValidity:        aws.Int32(int32(validity / time.Minute)),
			TokenValidityUnits:         &ciptypes.TokenValidityUnitsType{AccessToken: ciptypes.TimeUnitsTypeMinutes},
			PreventUserExistenceErrors: ciptypes.PreventUserExistenceErrorTypesEnabled,
			EnableTokenRevocation:      aws.Bool(true),
		})
	}
	if err != nil {
		return fmt.Errorf("create app client %s%s in %s: %w; nothing was changed", machineClientPrefix, name, m.pool, err)
	}
	id := aws.ToString(created.UserPoolClient.ClientId)
	made := []string{id} // the app clients undo deletes
	value := secretValue{ClientID: id, ClientSecret: aws.ToString(created.UserPoolClient.ClientSecret), TokenEndpoint: m.tokenEndpoint}
	recordWritten, secretTried := false, false
	undo := func(cause error) error {
		ctx := context.WithoutCancel(ctx)
		var left []string
		if secretTried {
			// The create may have succeeded with its answer lost: delete a secret made for this
			// client, at once (it was never handed out).
			if d, err := m.secret(ctx, name); err != nil {
				left = append(left, err.Error())
			} else if d != nil && tag(d.Tags, clientIDTag) == id {
				if _, err := m.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: d.ARN, ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
					left = append(left, fmt.Sprintf("secret %s (%v)", secretName, err))
				}
			}
		}
		if recordWritten {
			if err := m.deleteRecord(ctx, id); err != nil {
				left = append(left, err.Error())
			}
		}
		for _, app := range made {
			if err := m.deleteAppClient(ctx, app); err != nil {
				left = append(left, err.Error())
			}
		}
		if len(left) > 0 {
			return partialf("adding client %s failed (%v) and undoing it failed too: %s; run claimsctl client remove %s", name, cause, strings.Join(left, "; "), name)
		}
		return fmt.Errorf("add client %s: %w; the new app client was removed again, nothing was changed", name, cause)
	}

	// The SDK retries a create whose answer was lost, and each attempt that landed is an app
	// client of this name. There was none before, and the lease keeps other runs out: every
	// other one is this run's, known to nobody. Delete them, or every later command on the
	// client would refuse to choose between them.
	apps, err = m.appClients(ctx)
	for _, other := range apps[name] {
		if err != nil {
			break
		}
		if other != id {
			made = append(made, other)
			err = m.deleteAppClient(ctx, other)
		}
	}
	if err != nil {
		return undo(err)
	}
	err = fault("client-add:list-secrets")
	if err == nil {
		var secs []ciptypes.ClientSecretDescriptorType
		if secs, err = m.clientSecrets(ctx, id); err == nil && len(secs) != 1 {
			err = fmt.Errorf("the new app client %s has %d client secrets, want 1", id, len(secs))
		}
		if err == nil {
			value.ClientSecretID = aws.ToString(secs[0].ClientSecretId)
		}
	}
	if err != nil {
		return undo(err)
	}
	err = fault("client-add:put-record")
	if err == nil {
		_, err = m.putRecord(ctx, ring, claims.Client{ID: id, Name: name, Tier: tier, Scopes: scopes}, "")
		recordWritten = err == nil
	}
	if err != nil {
		return undo(err)
	}
	var sec *secretsmanager.CreateSecretOutput
	for attempt := 0; ; attempt++ {
		err = fault("client-add:create-secret")
		if err == nil {
			secretTried = true
			sec, err = m.sm.CreateSecret(ctx, createSecretInput(secretName, name, id, value))
		}
		// Secrets Manager deletes a secret for good in the background: until it has, creating
		// one of the same name is refused (InvalidRequestException). AWS asks for a retry.
		var ir *smtypes.InvalidRequestException
		if !purged || !errors.As(err, &ir) || attempt == 7 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(1<<attempt) * 100 * time.Millisecond):
		}
	}
	if err == nil {
		err = fault("client-add:secret-created") // as if the answer were lost
	}
	if err != nil {
		return undo(fmt.Errorf("store the client secret in %s: %w", secretName, err))
	}
	arn := aws.ToString(sec.ARN)
	out.result(map[string]any{"name": name, "clientId": id, "secretArn": arn, "tokenEndpoint": m.tokenEndpoint, "tier": tier, "scopes": scopes, "validity": fmtValidity(validity)},
		"created machine client %s\nclient id:      %s\nsecret ARN:     %s\ntoken endpoint: %s\ntier %s (role %s), scopes %s, tokens valid %s",
		name, id, arn, m.tokenEndpoint, tier, m.tiers[tier], strings.Join(scopes, ","), fmtValidity(validity))
	return nil
}

// createSecretInput is the client's secret as add creates it: named for the environment and
// client, tagged as claimsctl's, holding all a service needs to get a token.
func createSecretInput(secretName, name, id string, value secretValue) *secretsmanager.CreateSecretInput {
	return &secretsmanager.CreateSecretInput{
		Name:         aws.String(secretName),
		Description:  aws.String(fmt.Sprintf("Client id and secret of the machine client %s (app client %s): trade them for an access token at tokenEndpoint", name, id)),
		SecretString: aws.String(value.String()),
		Tags: []smtypes.Tag{
			{Key: aws.String(managedTag), Value: aws.String(managedBy)},
			{Key: aws.String(clientNameTag), Value: aws.String(name)},
			{Key: aws.String(clientIDTag), Value: aws.String(id)},
		},
	}
}

// clientInfo is one row of client list.
type clientInfo struct {
	Name     string   `json:"name"`
	ClientID string   `json:"clientId"`
	Tier     string   `json:"tier"`
	Scopes   []string `json:"scopes"`
	Validity string   `json:"validity"`
	Secrets  int      `json:"secrets"`
	Status   string   `json:"status"`
}

func clientList(ctx context.Context, m *machine, out *printer) error {
	ring, err := m.st.ring(ctx)
	if err != nil {
		return err
	}
	apps, err := m.appClients(ctx)
	if err != nil {
		return err
	}
	var rows []clientInfo
	for name, ids := range apps {
		for _, id := range ids {
			ci := clientInfo{Name: name, ClientID: id, Scopes: []string{}}
			d, err := m.idp.DescribeUserPoolClient(ctx, &cip.DescribeUserPoolClientInput{UserPoolId: aws.String(m.pool), ClientId: aws.String(id)})
			if err != nil {
				return fmt.Errorf("describe app client %s: %w", id, err)
			}
			for _, s := range d.UserPoolClient.AllowedOAuthScopes {
				ci.Scopes = append(ci.Scopes, strings.TrimPrefix(s, m.resourceServer+"/"))
			}
			sort.Strings(ci.Scopes)
			ci.Validity = fmtValidity(accessValidity(d.UserPoolClient))
			secs, err := m.clientSecrets(ctx, id)
			if err != nil {
				return err
			}
			ci.Secrets = len(secs)
			c, _, ok, err := m.record(ctx, ring, id)
			switch {
			case err != nil:
				ci.Status = "ERROR: " + err.Error()
			case !ok:
				ci.Status = "ERROR: no record (an interrupted add or remove): rerun claimsctl client remove " + name
			default:
				ci.Tier = c.Tier
				ci.Status = map[bool]string{true: "disabled", false: "enabled"}[c.Disabled]
				if strings.Join(c.Scopes, ",") != strings.Join(ci.Scopes, ",") {
					ci.Status = "ERROR: the record's scopes differ from the app client's (an interrupted scopes change): rerun claimsctl client scopes " + name
				}
			}
			rows = append(rows, ci)
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name+rows[i].ClientID < rows[j].Name+rows[j].ClientID })
	if out.json {
		if rows == nil {
			rows = []clientInfo{}
		}
		out.result(rows, "")
		return nil
	}
	table := make([][]string, 0, len(rows))
	for _, r := range rows {
		table = append(table, []string{r.Name, r.ClientID, r.Tier, strings.Join(r.Scopes, ","), r.Validity, fmt.Sprint(r.Secrets), r.Status})
	}
	out.table([]string{"NAME", "CLIENT_ID", "TIER", "SCOPES", "VALIDITY", "SECRETS", "STATUS"}, table)
	return nil
}

// accessValidity is the app client's access token validity (Cognito's default unit: hours).
func accessValidity(c *ciptypes.UserPoolClientType) time.Duration {
	n := time.Duration(aws.ToInt32(c.AccessTokenValidity))
	if n == 0 {
		return time.Hour
	}
	unit := time.Hour
	if u := c.TokenValidityUnits; u != nil {
		switch u.AccessToken {
		case ciptypes.TimeUnitsTypeMinutes:
			unit = time.Minute
		case ciptypes.TimeUnitsTypeSeconds:
			unit = time.Second
		case ciptypes.TimeUnitsTypeDays:
			unit = 24 * time.Hour
		}
	}
	return n * unit
}

// clientScopes sets the client's scopes: the record first, then the app client. The trigger
// grants only scopes both allow, so between the two writes tokens carry at most the new set.
func clientScopes(ctx context.Context, m *machine, out *printer, name string, scopes []string) error {
	ctx, l, err := m.st.lock(ctx, "client scopes")
	if err != nil {
		return err
	}
	defer l.release()
	ring, err := m.st.ring(ctx)
	if err != nil {
		return err
	}
	id, err := m.one(ctx, name)
	if err != nil {
		return err
	}
	d, err := m.idp.DescribeUserPoolClient(ctx, &cip.DescribeUserPoolClientInput{UserPoolId: aws.String(m.pool), ClientId: aws.String(id)})
	if err != nil {
		return fmt.Errorf("describe app client %s: %w; nothing was changed", id, err)
	}
	c, rec, ok, err := m.record(ctx, ring, id)
	if err != nil {
		return fmt.Errorf("%w; nothing was changed", err)
	}
	if !ok {
		return fmt.Errorf("client %s (%s) has no record: an earlier add or remove was interrupted; run claimsctl client remove %s; nothing was changed", name, id, name)
	}
	prev := c
	c.Scopes = scopes
	err = fault("client-scopes:put-record")
	var tok string
	if err == nil {
		tok, err = m.putRecord(ctx, ring, c, rec.Claims)
	}
	if err != nil {
		return fmt.Errorf("%w; nothing was changed", err)
	}
	err = fault("client-scopes:update-client")
	if err == nil {
		in := updateInput(d.UserPoolClient)
		in.AllowedOAuthScopes = m.qualified(scopes)
		_, err = m.idp.UpdateUserPoolClient(ctx, in)
		if err == nil {
			err = fault("client-scopes:client-updated") // as if the answer were lost
		}
	}
	if err != nil {
		// The update may have landed with its answer lost: then restoring the record would
		// leave the two disagreeing. Look before undoing.
		now, derr := m.idp.DescribeUserPoolClient(context.WithoutCancel(ctx), &cip.DescribeUserPoolClientInput{UserPoolId: aws.String(m.pool), ClientId: aws.String(id)})
		if derr == nil && sameSet(now.UserPoolClient.AllowedOAuthScopes, m.qualified(scopes)) {
			err = nil
		}
	}
	if err != nil {
		cause := fmt.Errorf("update the scopes of app client %s: %w", id, err)
		if _, uerr := m.putRecord(context.WithoutCancel(ctx), ring, prev, tok); uerr != nil {
			return partialf("%v, and restoring the record failed too (%v): tokens carry only scopes both the record and the app client allow; rerun claimsctl client scopes %s", cause, uerr, name)
		}
		return fmt.Errorf("%w; the record was restored, nothing was changed", cause)
	}
	out.result(map[string]any{"name": name, "clientId": id, "scopes": scopes},
		"client %s (%s) now has scopes %s (effective for its next token)", name, id, strings.Join(scopes, ","))
	return nil
}

// updateInput carries every setting of the app client over: UpdateUserPoolClient resets each
// setting it is not given to its default.
func updateInput(c *ciptypes.UserPoolClientType) *cip.UpdateUserPoolClientInput {
	return &cip.UpdateUserPoolClientInput{
		UserPoolId: c.UserPoolId, ClientId: c.ClientId, ClientName: c.ClientName,
		AccessTokenValidity: c.AccessTokenValidity, IdTokenValidity: c.IdTokenValidity, RefreshTokenValidity: c.RefreshTokenValidity,
		TokenValidityUnits: c.TokenValidityUnits, AllowedOAuthFlows: c.AllowedOAuthFlows,
		AllowedOAuthFlowsUserPoolClient: aws.ToBool(c.AllowedOAuthFlowsUserPoolClient), AllowedOAuthScopes: c.AllowedOAuthScopes,
		AnalyticsConfiguration: c.AnalyticsConfiguration, AuthSessionValidity: c.AuthSessionValidity,
		CallbackURLs: c.CallbackURLs, LogoutURLs: c.LogoutURLs, DefaultRedirectURI: c.DefaultRedirectURI,
		EnablePropagateAdditionalUserContextData: c.EnablePropagateAdditionalUserContextData,
		EnableTokenRevocation:                    c.EnableTokenRevocation, ExplicitAuthFlows: c.ExplicitAuthFlows,
		PreventUserExistenceErrors: c.PreventUserExistenceErrors, ReadAttributes: c.ReadAttributes, WriteAttributes: c.WriteAttributes,
		RefreshTokenRotation: c.RefreshTokenRotation, SupportedIdentityProviders: c.SupportedIdentityProviders,
	}
}

// clientSecretTarget is what rotate-secret and retire-secret start from.
type clientSecretTarget struct {
	id, arn  string
	current  secretValue
	previous *secretValue
	cognito  []ciptypes.ClientSecretDescriptorType
}

func (m *machine) secretTarget(ctx context.Context, name string) (*clientSecretTarget, error) {
	id, err := m.one(ctx, name)
	if err != nil {
		return nil, err
	}
	d, err := m.secret(ctx, name)
	if err != nil {
		return nil, err
	}
	if d == nil || d.DeletedDate != nil {
		return nil, fmt.Errorf("client %s has no secret %s%s (an interrupted add or remove): run claimsctl client remove %s; nothing was changed", name, m.secretPrefix, name, name)
	}
	t := &clientSecretTarget{id: id, arn: aws.ToString(d.ARN)}
	cur, ok, err := m.storedSecret(ctx, t.arn, "AWSCURRENT")
	if err == nil && !ok {
		err = fmt.Errorf("secret %s has no current value", t.arn)
	}
	if err != nil {
		return nil, fmt.Errorf("%w; nothing was changed", err)
	}
	t.current = cur
	if prev, ok, err := m.storedSecret(ctx, t.arn, "AWSPREVIOUS"); err != nil {
		return nil, fmt.Errorf("%w; nothing was changed", err)
	} else if ok {
		t.previous = &prev
	}
	if t.cognito, err = m.clientSecrets(ctx, id); err != nil {
		return nil, fmt.Errorf("%w; nothing was changed", err)
	}
	return t, nil
}

func (t *clientSecretTarget) inCognito(secretID string) bool {
	for _, s := range t.cognito {
		if aws.ToString(s.ClientSecretId) == secretID {
			return true
		}
	}
	return false
}

// clientRotateSecret adds a second Cognito secret and makes it the secret's AWSCURRENT (Secrets
// Manager keeps the old one as AWSPREVIOUS): both work until retire-secret.
func clientRotateSecret(ctx context.Context, m *machine, out *printer, name string) error {
	ctx, l, err := m.st.lock(ctx, "client rotate-secret")
	if err != nil {
		return err
	}
	defer l.release()
	t, err := m.secretTarget(ctx, name)
	if err != nil {
		return err
	}
	cleaned := 0
	for _, s := range t.cognito {
		sid := aws.ToString(s.ClientSecretId)
		switch {
		case sid == t.current.ClientSecretID:
		case t.previous != nil && sid == t.previous.ClientSecretID:
			return fmt.Errorf("client %s is in the middle of a rotation: both its old and its new secret work; once every consumer reads the new one from %s, run claimsctl client retire-secret %s, then rotate again; nothing was changed",
				name, t.arn, name)
		default:
			// Added by a rotation interrupted before it stored the value: nobody has it.
			err := fault("client-rotate:delete-unrecorded")
			if err == nil {
				err = m.deleteClientSecret(ctx, t.id, sid)
			}
			if err != nil {
				return fmt.Errorf("delete client secret %s of %s, which an interrupted rotation added and never stored: %w; rerun claimsctl client rotate-secret %s", sid, t.id, err, name)
			}
			cleaned++
		}
	}
	err = fault("client-rotate:add-secret")
	var added *cip.AddUserPoolClientSecretOutput
	if err == nil {
		added, err = m.idp.AddUserPoolClientSecret(ctx, &cip.AddUserPoolClientSecretInput{UserPoolId: aws.String(m.pool), ClientId: aws.String(t.id)})
	}
	if err != nil {
		cause := fmt.Errorf("add a client secret to app client %s: %w", t.id, err)
		// An add whose answer was lost landed: the SDK's retry then finds two secrets (Cognito's
		// limit). Nobody has the landed one's value, so delete it.
		now, lerr := m.clientSecrets(context.WithoutCancel(ctx), t.id)
		if lerr != nil {
			return fmt.Errorf("%w; if it landed, rerun claimsctl client rotate-secret %s, which deletes it first", cause, name)
		}
		for _, s := range now {
			if sid := aws.ToString(s.ClientSecretId); sid != t.current.ClientSecretID {
				if derr := m.deleteClientSecret(context.WithoutCancel(ctx), t.id, sid); derr != nil {
					return fmt.Errorf("%w, and it landed as %s, which could not be deleted (%v): rerun claimsctl client rotate-secret %s, which deletes it first", cause, sid, derr, name)
				}
			}
		}
		return fmt.Errorf("%w; nothing was changed", cause)
	}
	next := t.current
	next.ClientSecret = aws.ToString(added.ClientSecretDescriptor.ClientSecretValue)
	next.ClientSecretID = aws.ToString(added.ClientSecretDescriptor.ClientSecretId)
	err = fault("client-rotate:put-secret")
	if err == nil {
		_, err = m.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(t.arn), SecretString: aws.String(next.String())})
		if err == nil {
			err = fault("client-rotate:secret-stored") // as if the answer were lost
		}
	}
	if err != nil {
		cause := fmt.Errorf("store the new client secret in %s: %w", t.arn, err)
		// The write may have landed with its answer lost: deleting the Cognito secret would
		// then break every consumer that reads AWSCURRENT. Look before undoing.
		now, ok, rerr := m.storedSecret(context.WithoutCancel(ctx), t.arn, "AWSCURRENT")
		switch {
		case rerr != nil:
			return partialf("%v, and reading the secret back failed too (%v): the old secret still works; rerun claimsctl client rotate-secret %s (it finishes or cleans up)", cause, rerr, name)
		case ok && now.ClientSecretID == next.ClientSecretID:
			err = nil // stored after all
		}
	}
	if err != nil {
		cause := fmt.Errorf("store the new client secret in %s: %w", t.arn, err)
		if derr := m.deleteClientSecret(context.WithoutCancel(ctx), t.id, next.ClientSecretID); derr != nil {
			return partialf("%v, and deleting the new Cognito secret failed too (%v): the old secret still works and nobody has the new one; rerun claimsctl client rotate-secret %s", cause, derr, name)
		}
		return fmt.Errorf("%w; the new Cognito secret was deleted again, nothing was changed", cause)
	}
	note := ""
	if cleaned > 0 {
		note = fmt.Sprintf(" (first deleted %d secret(s) an interrupted rotation had added)", cleaned)
	}
	out.result(map[string]any{"name": name, "clientId": t.id, "secretArn": t.arn, "clientSecretId": next.ClientSecretID, "previousClientSecretId": t.current.ClientSecretID},
		"client %s has a new secret, stored in %s as AWSCURRENT; the old one stays valid (AWSPREVIOUS)%s\nnext: once every consumer reads the new one, run claimsctl client retire-secret %s",
		name, t.arn, note, name)
	return nil
}

// clientRetireSecret deletes every Cognito secret of the client but the one its secret holds
// as AWSCURRENT, then drops the AWSPREVIOUS stage.
func clientRetireSecret(ctx context.Context, m *machine, out *printer, name string) error {
	ctx, l, err := m.st.lock(ctx, "client retire-secret")
	if err != nil {
		return err
	}
	defer l.release()
	t, err := m.secretTarget(ctx, name)
	if err != nil {
		return err
	}
	if !t.inCognito(t.current.ClientSecretID) {
		return fmt.Errorf("the current value of %s names client secret %s, which app client %s no longer has: retiring the others would leave no working secret; run claimsctl client rotate-secret %s; nothing was changed",
			t.arn, t.current.ClientSecretID, t.id, name)
	}
	retired := 0
	for _, s := range t.cognito {
		if aws.ToString(s.ClientSecretId) == t.current.ClientSecretID {
			continue
		}
		err := fault("client-retire:delete-secret")
		if err == nil {
			err = m.deleteClientSecret(ctx, t.id, aws.ToString(s.ClientSecretId))
		}
		if err != nil {
			return fmt.Errorf("delete the old client secret %s of %s: %w; it still works; rerun claimsctl client retire-secret %s", aws.ToString(s.ClientSecretId), t.id, err, name)
		}
		retired++
	}
	if t.previous != nil {
		versions := map[string][]string{}
		d, err := m.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(t.arn)})
		if err == nil {
			versions = d.VersionIdsToStages
			err = fault("client-retire:unstage")
		}
		for version, stages := range versions {
			if err != nil {
				break
			}
			for _, st := range stages {
				if st == "AWSPREVIOUS" {
					_, err = m.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(t.arn), VersionStage: aws.String("AWSPREVIOUS"), RemoveFromVersionId: aws.String(version)})
				}
			}
		}
		if err != nil {
			if retired > 0 {
				return partialf("deleted the old Cognito secret of %s, but %s still holds it as AWSPREVIOUS (%v): it no longer works; rerun claimsctl client retire-secret %s", name, t.arn, err, name)
			}
			return fmt.Errorf("drop AWSPREVIOUS of %s: %w; rerun claimsctl client retire-secret %s", t.arn, err, name)
		}
	}
	if retired == 0 && t.previous == nil {
		out.result(map[string]any{"name": name, "clientId": t.id, "retired": 0}, "client %s has only its current secret; nothing to retire", name)
		return nil
	}
	out.result(map[string]any{"name": name, "clientId": t.id, "retired": retired},
		"retired %d old secret(s) of client %s: only the current one in %s works now", retired, name, t.arn)
	return nil
}

// clientSetDisabled writes the record's disabled flag: the trigger refuses a disabled client's
// tokens (client_disabled) from its next token request.
func clientSetDisabled(ctx context.Context, m *machine, out *printer, name string, disabled bool) error {
	verb := map[bool]string{true: "disable", false: "enable"}[disabled]
	ctx, l, err := m.st.lock(ctx, "client "+verb)
	if err != nil {
		return err
	}
	defer l.release()
	ring, err := m.st.ring(ctx)
	if err != nil {
		return err
	}
	id, err := m.one(ctx, name)
	if err != nil {
		return err
	}
	c, rec, ok, err := m.record(ctx, ring, id)
	if err != nil {
		return fmt.Errorf("%w; nothing was changed", err)
	}
	if !ok {
		return fmt.Errorf("client %s (%s) has no record: an earlier add or remove was interrupted; run claimsctl client remove %s; nothing was changed", name, id, name)
	}
	result := map[string]any{"name": name, "clientId": id, "disabled": disabled}
	if c.Disabled == disabled {
		out.result(result, "client %s is already %sd; nothing was changed", name, verb)
		return nil
	}
	c.Disabled = disabled
	err = fault("client-" + verb + ":put-record")
	if err == nil {
		_, err = m.putRecord(ctx, ring, c, rec.Claims)
	}
	if err != nil {
		return fmt.Errorf("%w; nothing was changed", err)
	}
	what := "its next token request is refused (client_disabled); tokens already issued stay valid until they expire"
	if !disabled {
		what = "it gets tokens again"
	}
	out.result(result, "%sd client %s: %s", verb, name, what)
	return nil
}

// clientRemove deletes the record first (the trigger refuses the client's tokens from then on:
// fail closed), then the app client, then schedules the secret for deletion. It also finishes
// what an interrupted add or remove left.
func clientRemove(ctx context.Context, m *machine, out *printer, name string) error {
	ctx, l, err := m.st.lock(ctx, "client remove")
	if err != nil {
		return err
	}
	defer l.release()
	apps, err := m.appClients(ctx)
	if err != nil {
		return fmt.Errorf("%w; nothing was changed", err)
	}
	sec, err := m.secret(ctx, name)
	if err != nil {
		return err
	}
	ids := apps[name]
	liveSecret := sec != nil && sec.DeletedDate == nil
	if liveSecret {
		// The secret goes last: while it is live, an earlier remove may have stopped after the
		// app client, leaving the record.
		if id := tag(sec.Tags, clientIDTag); id != "" && !contains(ids, id) {
			// A tag is only a claim: anyone who may tag secrets under the prefix could point
			// it at the SPA's app client or another machine client. Only an app client that is
			// gone, or is this client's, is this client's to clean up.
			d, err := m.idp.DescribeUserPoolClient(ctx, &cip.DescribeUserPoolClientInput{UserPoolId: aws.String(m.pool), ClientId: aws.String(id)})
			var nf *ciptypes.ResourceNotFoundException
			switch {
			case errors.As(err, &nf):
			case err != nil:
				return fmt.Errorf("describe app client %s, which secret %s names: %w; nothing was changed", id, aws.ToString(sec.ARN), err)
			case aws.ToString(d.UserPoolClient.ClientName) != machineClientPrefix+name:
				return fmt.Errorf("secret %s names app client %s, which is %q, not %s%s: claimsctl leaves both alone; check who tagged the secret; nothing was changed",
					aws.ToString(sec.ARN), id, aws.ToString(d.UserPoolClient.ClientName), machineClientPrefix, name)
			}
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 && !liveSecret {
		return fmt.Errorf("no machine client %s in %s and no secret %s%s: nothing to remove", name, m.pool, m.secretPrefix, name)
	}
	for _, id := range ids {
		err := fault("client-remove:delete-record")
		if err == nil {
			err = m.deleteRecord(ctx, id)
		}
		if err != nil {
			return fmt.Errorf("%w; nothing was changed", err)
		}
	}
	for _, id := range ids {
		err := fault("client-remove:delete-client")
		if err == nil {
			err = m.deleteAppClient(ctx, id)
		}
		if err != nil {
			return partialf("%v: its record is gone, so it can no longer get a token; rerun claimsctl client remove %s", err, name)
		}
	}
	if liveSecret {
		err := fault("client-remove:delete-secret")
		if err == nil {
			_, err = m.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: sec.ARN, RecoveryWindowInDays: aws.Int64(secretRecoveryDays)})
		}
		if err != nil {
			return partialf("removed the app client and record of %s, but not its secret %s (%v): rerun claimsctl client remove %s", name, aws.ToString(sec.ARN), err, name)
		}
	}
	gone := "its secret was already scheduled for deletion"
	if liveSecret {
		gone = fmt.Sprintf("its secret is deleted in %d days (client add %s deletes it at once)", secretRecoveryDays, name)
	}
	out.result(map[string]any{"name": name, "clientIds": ids, "secretDeletion": liveSecret},
		"removed client %s (%s): it can no longer get a token; %s", name, strings.Join(ids, ", "), gone)
	return nil
}

func sameSet(a, b []string) bool {
	a, b = append([]string{}, a...), append([]string{}, b...)
	sort.Strings(a)
	sort.Strings(b)
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
