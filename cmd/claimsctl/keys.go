package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
	"github.com/hasura-auth-cdk/hasuraauth/stacks/names"
)

// Rotation steps, in order. Tests stop the rotation after each of them (see fault); whatever the
// stop, every item stays decryptable by the secret's key ring and a rerun completes the work.
const (
	stepKeyAdded    = "key-added"    // the new key is first in the secret
	stepReencrypted = "re-encrypted" // one item now uses the new key (once per item)
	stepVerified    = "verified"     // every item decrypts with the new key
	stepRetired     = "retired"      // the old keys are gone
)

func init() {
	register(command{group: "key", name: "rotate", args: "", help: "Put a new Fernet key first in the claims key secret and re-encrypt every item with it. " +
		"Safe to rerun after an interruption: a rerun resumes instead of adding another key. --retire then removes the old keys once every item decrypts with the new one.",
		setup: func(fs *flag.FlagSet) func(context.Context, *app, []string) error {
			retireFlag := fs.Bool("retire", false, "remove the old keys after verifying every item decrypts with the new key")
			return func(ctx context.Context, a *app, pos []string) error {
				if err := positional(pos); err != nil {
					return err
				}
				return rotate(ctx, a, *retireFlag)
			}
		}})
	register(command{group: "key", name: "retire", args: "", help: "Remove every key but the primary from the key ring, after verifying that every item decrypts with the primary key.",
		setup: func(fs *flag.FlagSet) func(context.Context, *app, []string) error {
			return func(ctx context.Context, a *app, pos []string) error {
				if err := positional(pos); err != nil {
					return err
				}
				return retire(ctx, a)
			}
		}})
	register(command{group: "key", name: "import", args: "", help: "Add an existing Fernet key (e.g. Moped's) to the key ring, read from stdin so it stays out of shell history. " +
		"It decrypts only, unless --primary makes it the encrypting key; claimsctl key rotate then moves every item to the primary key.",
		setup: func(fs *flag.FlagSet) func(context.Context, *app, []string) error {
			stdin := fs.Bool("stdin", false, "read the key from stdin (required)")
			primary := fs.Bool("primary", false, "make the imported key the one that encrypts")
			return func(ctx context.Context, a *app, pos []string) error {
				if err := positional(pos); err != nil {
					return err
				}
				if !*stdin {
					return usagef("pass --stdin and the key on standard input (keys are never taken as arguments)")
				}
				line, _ := bufio.NewReader(a.stdin).ReadString('\n')
				k := strings.TrimSpace(line)
				if err := claims.CheckKey(k); err != nil {
					return usagef("the key on stdin is %v; nothing was changed", err)
				}
				return importKey(ctx, a, k, *primary)
			}
		}})
	register(command{group: "apikey", name: "rotate", args: "", help: "Write a new random event API key to its SecureString parameter, then force a new deployment " +
		"of the Hasura service so its tasks read it. The backend API must read the same parameter. The key is never printed.",
		setup: func(fs *flag.FlagSet) func(context.Context, *app, []string) error {
			return func(ctx context.Context, a *app, pos []string) error {
				if err := positional(pos); err != nil {
					return err
				}
				return rotateAPIKey(ctx, a)
			}
		}})
}

func putRing(ctx context.Context, sm *secretsmanager.Client, id string, ring *claims.KeyRing) error {
	_, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), SecretString: aws.String(ring.SecretString())})
	if err != nil {
		return fmt.Errorf("write key ring to %s: %w", id, err)
	}
	return nil
}

func retire(ctx context.Context, a *app) error {
	st, err := a.store(ctx)
	if err != nil {
		return err
	}
	if st.ring.Len() == 1 {
		a.out.result(map[string]any{"keys": 1, "retired": 0}, "the key ring holds only the primary key; nothing to retire")
		return nil
	}
	sm, _ := a.secrets(ctx)
	if _, err := retireOld(ctx, st.db, sm, st.table, st.secretID, st.ring); err != nil {
		return err
	}
	a.out.result(map[string]any{"keys": 1, "retired": st.ring.Len() - 1}, "retired %d old key(s); the key ring holds the primary key only", st.ring.Len()-1)
	return nil
}

func rotate(ctx context.Context, a *app, retireOldKeys bool) error {
	st, err := a.store(ctx)
	if err != nil {
		return err
	}
	table, ring, secretID, db := st.table, st.ring, st.secretID, st.db
	sm, _ := a.secrets(ctx)

	stale, broken, total, err := census(ctx, db, table, ring)
	if err != nil {
		return err
	}
	resumed := ring.Len() > 1 && len(stale) > 0
	if !resumed {
		k, err := claims.GenerateKey()
		if err != nil {
			return err
		}
		if ring, err = ring.WithNewPrimary(k); err != nil {
			return err
		}
		// The new key goes in first: from here on every reader can decrypt items under either key.
		if err := putRing(ctx, sm, secretID, ring); err != nil {
			return fmt.Errorf("%w; nothing was changed", err)
		}
		if err := fault(stepKeyAdded); err != nil {
			return err
		}
		// Scan again rather than reuse the first scan: every item is now under an old key, including
		// any written meanwhile by someone holding the old ring.
		if stale, broken, total, err = census(ctx, db, table, ring); err != nil {
			return err
		}
	}
	moved := 0
	for _, it := range stale {
		if err := reencrypt(ctx, db, table, ring, it); err != nil {
			return fmt.Errorf("%w; %d of %d items moved so far, every item still decrypts with the key ring: rerun claimsctl key rotate to finish", err, moved, len(stale))
		}
		moved++
		if err := fault(stepReencrypted); err != nil {
			return err
		}
	}
	result := map[string]any{"items": total, "reencrypted": moved, "resumed": resumed, "keys": ring.Len(), "undecryptable": broken}
	if len(broken) > 0 {
		a.out.result(result, "re-encrypted %d of %d items; %d items no key decrypts: %s", moved, total, len(broken), strings.Join(broken, ", "))
		return fmt.Errorf("%d items cannot be decrypted by any key (fix or delete them: claimsctl claims verify); the old keys were kept", len(broken))
	}
	if retireOldKeys {
		if ring, err = retireOld(ctx, db, sm, table, secretID, ring); err != nil {
			return err
		}
		result["keys"] = 1
	}
	verb := "rotated"
	if resumed {
		verb = "resumed an interrupted rotation:"
	}
	a.out.result(result, "%s re-encrypted %d of %d items; the key ring holds %d key(s)%s", verb, moved, total, ring.Len(),
		map[bool]string{true: " (old keys retired)", false: "; run claimsctl key retire to remove the old ones"}[retireOldKeys])
	return nil
}

// retireOld drops every key but the primary, after verifying from the table itself (not from
// what this run wrote) that every item decrypts with the primary.
func retireOld(ctx context.Context, db *dynamodb.Client, sm *secretsmanager.Client, table, secretID string, ring *claims.KeyRing) (*claims.KeyRing, error) {
	stale, broken, _, err := census(ctx, db, table, ring)
	if err != nil {
		return nil, err
	}
	if len(stale) > 0 || len(broken) > 0 {
		return nil, fmt.Errorf("not retiring: %d items do not decrypt with the primary key (%d with an old key: run claimsctl key rotate; %d with none: claimsctl claims verify); the key ring is unchanged",
			len(stale)+len(broken), len(stale), len(broken))
	}
	if err := fault(stepVerified); err != nil {
		return nil, err
	}
	primary, err := claims.NewKeyRing(ring.Keys()[0])
	if err != nil {
		return nil, err
	}
	if err := putRing(ctx, sm, secretID, primary); err != nil {
		return nil, fmt.Errorf("%w; every item uses the primary key and the old keys are still in the ring: rerun claimsctl key retire", err)
	}
	if err := fault(stepRetired); err != nil {
		return nil, err
	}
	return primary, nil
}

type staleItem struct {
	id, token string
}

// census sorts the items into those under an older key (stale) and those no key decrypts (broken).
func census(ctx context.Context, db *dynamodb.Client, table string, ring *claims.KeyRing) (stale []staleItem, broken []string, total int, err error) {
	err = scan(ctx, db, table, func(item map[string]ddbtypes.AttributeValue) error {
		total++
		rec, err := claims.RecordFromItem(item)
		if err != nil {
			broken = append(broken, rec.UserID)
			return nil
		}
		switch {
		case ring.DecryptsWithPrimary(rec.Claims):
		case func() bool { _, err := ring.Decrypt(rec.Claims); return err == nil }():
			stale = append(stale, staleItem{id: rec.UserID, token: rec.Claims})
		default:
			broken = append(broken, rec.UserID)
		}
		return nil
	})
	return stale, broken, total, err
}

// reencrypt moves one item to the primary key, only if nobody changed it since it was read.
func reencrypt(ctx context.Context, db *dynamodb.Client, table string, ring *claims.KeyRing, it staleItem) error {
	plain, err := ring.Decrypt(it.token)
	if err != nil {
		return fmt.Errorf("decrypt %s: %w", it.id, err)
	}
	tok, err := ring.Encrypt(plain)
	if err != nil {
		return err
	}
	_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(table), Key: key(it.id),
		UpdateExpression:         aws.String("SET #c = :new"),
		ConditionExpression:      aws.String("#c = :old"),
		ExpressionAttributeNames: map[string]string{"#c": claims.AttrClaims},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":new": &ddbtypes.AttributeValueMemberS{Value: tok}, ":old": &ddbtypes.AttributeValueMemberS{Value: it.token},
		},
	})
	var cf *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &cf) {
		return nil // rewritten meanwhile (by claims put, with the current ring): nothing to move
	}
	if err != nil {
		return fmt.Errorf("re-encrypt %s: %w", it.id, err)
	}
	return nil
}

func importKey(ctx context.Context, a *app, k string, primary bool) error {
	ring, secretID, err := a.keyRing(ctx)
	if err != nil {
		return err
	}
	for _, have := range ring.Keys() {
		if have == k {
			a.out.result(map[string]any{"imported": false, "keys": ring.Len()}, "the key is already in the key ring; nothing was changed")
			return nil
		}
	}
	keys := append(ring.Keys(), k)
	if primary {
		keys = append([]string{k}, ring.Keys()...)
	}
	next, err := claims.NewKeyRing(keys...)
	if err != nil {
		return err
	}
	sm, _ := a.secrets(ctx)
	if err := putRing(ctx, sm, secretID, next); err != nil {
		return fmt.Errorf("%w; nothing was changed", err)
	}
	role := "decrypts only"
	if primary {
		role = "is now the encrypting key; run claimsctl key rotate to move every item to it"
	}
	a.out.result(map[string]any{"imported": true, "primary": primary, "keys": next.Len()}, "imported the key: it %s; the key ring holds %d keys", role, next.Len())
	return nil
}

func rotateAPIKey(ctx context.Context, a *app) error {
	// Resolve everything first, so a missing stack or output changes nothing.
	param, err := a.resource(ctx, a.g.apiKeyParam, "identity", names.OutEventAPIKeyParameterName)
	if err != nil {
		return err
	}
	cluster, err := a.resource(ctx, a.g.cluster, "hasura", names.OutClusterName)
	if err != nil {
		return err
	}
	service, err := a.resource(ctx, a.g.service, "hasura", names.OutHasuraServiceName)
	if err != nil {
		return err
	}
	svcClient, _ := a.ecs(ctx)
	desc, err := svcClient.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{service}})
	if err != nil || len(desc.Services) == 0 {
		return fmt.Errorf("find Hasura service %s in cluster %s: %v; nothing was changed", service, cluster, err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("draw random key: %w", err)
	}
	ps, _ := a.ssm(ctx)
	_, err = ps.PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(param), Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(true),
		Value: aws.String(base64.RawURLEncoding.EncodeToString(b)),
	})
	if err != nil {
		return fmt.Errorf("write new key to %s: %w; nothing was changed", param, err)
	}
	_, err = svcClient.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(cluster), Service: aws.String(service), ForceNewDeployment: true})
	if err != nil {
		return &partialError{fmt.Sprintf("the new key is in %s but the Hasura tasks still use the old one (%v): "+
			"run aws ecs update-service --cluster %s --service %s --force-new-deployment", param, err, cluster, service)}
	}
	a.out.result(map[string]any{"parameter": param, "cluster": cluster, "service": service, "deployment": "started"},
		"wrote a new event API key to %s and started a new deployment of %s; the backend API must read the new value too", param, service)
	return nil
}
