package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

// claimsFlags are how a command takes claims: roles and extra session variables, or a JSON file.
type claimsFlags struct {
	roles, defaultRole, file string
	set                      multiFlag
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func (c *claimsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.roles, "roles", "", "allowed roles, comma-separated (x-hasura-allowed-roles)")
	fs.StringVar(&c.defaultRole, "default-role", "", "default role, one of --roles (x-hasura-default-role)")
	fs.Var(&c.set, "set", "extra session variable x-hasura-NAME=VALUE (repeatable)")
	fs.StringVar(&c.file, "file", "", "read the claims JSON object from this file (- for stdin) instead of --roles")
}

// build returns validated claims, checked exactly as the Lambda checks them.
func (c *claimsFlags) build(stdin io.Reader) (claims.Claims, error) {
	if c.file != "" {
		if c.roles != "" || c.defaultRole != "" || len(c.set) > 0 {
			return nil, usagef("--file cannot be combined with --roles, --default-role or --set")
		}
		var b []byte
		var err error
		if c.file == "-" {
			b, err = io.ReadAll(stdin)
		} else {
			b, err = os.ReadFile(c.file)
		}
		if err != nil {
			return nil, usagef("read claims file %s: %v", c.file, err)
		}
		parsed, err := claims.Parse(b)
		if err != nil {
			return nil, usagef("claims in %s: %v", c.file, err)
		}
		return parsed, nil
	}
	if c.roles == "" {
		return nil, usagef("--roles is required (e.g. --roles viewer,editor --default-role viewer)")
	}
	if c.defaultRole == "" {
		return nil, usagef("--default-role is required: one of --roles")
	}
	var roles []string
	for _, r := range strings.Split(c.roles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			roles = append(roles, r)
		}
	}
	extra := map[string]string{}
	for _, kv := range c.set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, usagef("--set %q: want x-hasura-NAME=VALUE", kv)
		}
		extra[k] = v
	}
	built, err := claims.New(roles, c.defaultRole, extra)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return built, nil
}

func email(pos []string) (string, error) {
	if err := positional(pos, "EMAIL"); err != nil {
		return "", err
	}
	e, err := claims.NormalizeEmail(pos[0])
	if err != nil {
		return "", usagef("%v", err)
	}
	return e, nil
}

func init() {
	register(command{group: "user", name: "add", args: "EMAIL", help: "Create the Cognito user (email verified) and write their claims; undone if the second step fails.",
		setup: func(fs *flag.FlagSet) func(context.Context, *app, []string) error {
			var cf claimsFlags
			cf.register(fs)
			tempStdin := fs.Bool("temporary-password-stdin", false, "read a temporary password from stdin and send no invitation email (default: Cognito emails an invitation with a generated temporary password)")
			return func(ctx context.Context, a *app, pos []string) error {
				e, err := email(pos)
				if err != nil {
					return err
				}
				c, err := cf.build(a.stdin)
				if err != nil {
					return err
				}
				var temp string
				if *tempStdin {
					if cf.file == "-" {
						return usagef("--temporary-password-stdin and --file - both read stdin")
					}
					line, _ := bufio.NewReader(a.stdin).ReadString('\n')
					if temp = strings.TrimRight(line, "\r\n"); temp == "" {
						return usagef("--temporary-password-stdin: stdin held no password")
					}
				}
				return userAdd(ctx, a, e, c, temp)
			}
		}})
	register(command{group: "user", name: "disable", args: "EMAIL", help: "Disable the user's sign-in; their claims are kept for enable.",
		setup: func(fs *flag.FlagSet) func(context.Context, *app, []string) error {
			return func(ctx context.Context, a *app, pos []string) error { return userToggle(ctx, a, pos, false) }
		}})
	register(command{group: "user", name: "enable", args: "EMAIL", help: "Enable a disabled user; refused when they have no claims.",
		setup: func(fs *flag.FlagSet) func(context.Context, *app, []string) error {
			return func(ctx context.Context, a *app, pos []string) error { return userToggle(ctx, a, pos, true) }
		}})
	register(command{group: "user", name: "remove", args: "EMAIL", help: "Delete the user's claims, then the Cognito user.",
		setup: func(fs *flag.FlagSet) func(context.Context, *app, []string) error {
			return func(ctx context.Context, a *app, pos []string) error { return userRemove(ctx, a, pos) }
		}})
	register(command{group: "claims", name: "put", args: "EMAIL", help: "Write one user's claims, validated exactly as the pre-token Lambda validates them.",
		setup: func(fs *flag.FlagSet) func(context.Context, *app, []string) error {
			var cf claimsFlags
			cf.register(fs)
			return func(ctx context.Context, a *app, pos []string) error {
				e, err := email(pos)
				if err != nil {
					return err
				}
				c, err := cf.build(a.stdin)
				if err != nil {
					return err
				}
				return claimsPut(ctx, a, e, c)
			}
		}})
	register(command{group: "claims", name: "get", args: "EMAIL", help: "Print one user's claims, decrypted, as JSON.",
		setup: func(fs *flag.FlagSet) func(context.Context, *app, []string) error {
			return func(ctx context.Context, a *app, pos []string) error { return claimsGet(ctx, a, pos) }
		}})
	register(command{group: "claims", name: "delete", args: "EMAIL", help: "Remove one user's claims: they can no longer get a token.",
		setup: func(fs *flag.FlagSet) func(context.Context, *app, []string) error {
			return func(ctx context.Context, a *app, pos []string) error { return claimsDelete(ctx, a, pos) }
		}})
	register(command{group: "claims", name: "list", args: "", help: "List every user with their roles (pages through the whole table).",
		setup: func(fs *flag.FlagSet) func(context.Context, *app, []string) error {
			return func(ctx context.Context, a *app, pos []string) error { return claimsList(ctx, a, pos, false) }
		}})
	register(command{group: "claims", name: "verify", args: "", help: "Decrypt and validate every item; exit 1 with the count and user_ids of those that fail.",
		setup: func(fs *flag.FlagSet) func(context.Context, *app, []string) error {
			return func(ctx context.Context, a *app, pos []string) error { return claimsList(ctx, a, pos, true) }
		}})
}

func userAdd(ctx context.Context, a *app, e string, c claims.Claims, tempPassword string) error {
	// Read everything the command needs before writing anything.
	pool, err := a.userPool(ctx)
	if err != nil {
		return err
	}
	st, err := a.store(ctx)
	if err != nil {
		return err
	}
	table, ring, db := st.table, st.ring, st.db
	token, err := ring.Encrypt([]byte(c.JSON()))
	if err != nil {
		return err
	}
	existing, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key(e), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("read claims table %s: %w", table, err)
	}
	if len(existing.Item) > 0 {
		return fmt.Errorf("%s already has claims in %s: use claimsctl claims put to change them; nothing was changed", e, table)
	}

	idp, _ := a.cognito(ctx)
	in := &cip.AdminCreateUserInput{
		UserPoolId: aws.String(pool), Username: aws.String(e),
		UserAttributes: []ciptypes.AttributeType{
			{Name: aws.String("email"), Value: aws.String(e)},
			{Name: aws.String("email_verified"), Value: aws.String("true")},
		},
		DesiredDeliveryMediums: []ciptypes.DeliveryMediumType{ciptypes.DeliveryMediumTypeEmail},
	}
	if tempPassword != "" {
		in.TemporaryPassword = aws.String(tempPassword)
		in.MessageAction = ciptypes.MessageActionTypeSuppress
	}
	created, err := idp.AdminCreateUser(ctx, in)
	if err != nil {
		var exists *ciptypes.UsernameExistsException
		if errors.As(err, &exists) {
			return fmt.Errorf("a Cognito user %s already exists in %s: give them claims with claimsctl claims put; nothing was changed", e, pool)
		}
		return fmt.Errorf("create Cognito user %s in %s: %w; nothing was changed", e, pool, err)
	}
	sub := attr(created.User.Attributes, "sub")
	rec := claims.Record{UserID: e, Claims: token, CognitoUUID: sub}
	err = fault("user-add:user-created")
	if err == nil {
		_, err = db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(table), Item: rec.Item(),
			ConditionExpression: aws.String("attribute_not_exists(user_id)"),
		})
	}
	if err != nil {
		putErr := err
		if _, err := idp.AdminDeleteUser(ctx, &cip.AdminDeleteUserInput{UserPoolId: aws.String(pool), Username: aws.String(e)}); err != nil {
			return &partialError{fmt.Sprintf("writing claims for %s failed (%v) and removing the new Cognito user failed too (%v): "+
				"the user exists without claims and cannot get a token; run claimsctl user remove %s, or claimsctl claims put %s", e, putErr, err, e, e)}
		}
		return fmt.Errorf("write claims for %s to %s: %w; the new Cognito user was removed again, nothing was changed", e, table, putErr)
	}
	allowed, def := c.Roles()
	a.out.result(map[string]any{"email": e, "sub": sub, "allowed_roles": allowed, "default_role": def, "invited": tempPassword == ""},
		"created %s (sub %s) with roles %s, default %s", e, sub, strings.Join(allowed, ","), def)
	return nil
}

func attr(attrs []ciptypes.AttributeType, name string) string {
	for _, a := range attrs {
		if aws.ToString(a.Name) == name {
			return aws.ToString(a.Value)
		}
	}
	return ""
}

func key(e string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{claims.AttrUserID: &ddbtypes.AttributeValueMemberS{Value: e}}
}

func cognitoNotFound(err error) bool {
	var nf *ciptypes.UserNotFoundException
	return errors.As(err, &nf)
}

func userToggle(ctx context.Context, a *app, pos []string, enable bool) error {
	e, err := email(pos)
	if err != nil {
		return err
	}
	pool, err := a.userPool(ctx)
	if err != nil {
		return err
	}
	idp, _ := a.cognito(ctx)
	if enable {
		table, err := a.table(ctx)
		if err != nil {
			return err
		}
		db, _ := a.dynamo(ctx)
		got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key(e), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return fmt.Errorf("read claims table %s: %w", table, err)
		}
		if len(got.Item) == 0 {
			return fmt.Errorf("%s has no claims, so enabling them would only give failed sign-ins: claimsctl claims put %s first; nothing was changed", e, e)
		}
		_, err = idp.AdminEnableUser(ctx, &cip.AdminEnableUserInput{UserPoolId: aws.String(pool), Username: aws.String(e)})
		if err != nil {
			if cognitoNotFound(err) {
				return fmt.Errorf("no Cognito user %s in %s", e, pool)
			}
			return fmt.Errorf("enable %s in %s: %w", e, pool, err)
		}
		a.out.result(map[string]any{"email": e, "enabled": true}, "enabled %s", e)
		return nil
	}
	_, err = idp.AdminDisableUser(ctx, &cip.AdminDisableUserInput{UserPoolId: aws.String(pool), Username: aws.String(e)})
	if err != nil {
		if cognitoNotFound(err) {
			return fmt.Errorf("no Cognito user %s in %s", e, pool)
		}
		return fmt.Errorf("disable %s in %s: %w", e, pool, err)
	}
	a.out.result(map[string]any{"email": e, "enabled": false}, "disabled %s (claims kept; claimsctl user enable %s restores sign-in)", e, e)
	return nil
}

func userRemove(ctx context.Context, a *app, pos []string) error {
	e, err := email(pos)
	if err != nil {
		return err
	}
	pool, err := a.userPool(ctx)
	if err != nil {
		return err
	}
	table, err := a.table(ctx)
	if err != nil {
		return err
	}
	idp, _ := a.cognito(ctx)
	if _, err := idp.AdminGetUser(ctx, &cip.AdminGetUserInput{UserPoolId: aws.String(pool), Username: aws.String(e)}); err != nil {
		if !cognitoNotFound(err) {
			return fmt.Errorf("look up %s in %s: %w; nothing was changed", e, pool, err)
		}
	}
	// Claims first: a user left without claims cannot get a token (fail closed); the reverse
	// order could leave claims behind for a future account with the same email.
	db, _ := a.dynamo(ctx)
	if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: key(e)}); err != nil {
		return fmt.Errorf("delete claims of %s from %s: %w; nothing was changed", e, table, err)
	}
	err = fault("user-remove:claims-deleted")
	if err == nil {
		_, err = idp.AdminDeleteUser(ctx, &cip.AdminDeleteUserInput{UserPoolId: aws.String(pool), Username: aws.String(e)})
	}
	if err != nil && !cognitoNotFound(err) {
		return &partialError{fmt.Sprintf("deleted the claims of %s but not the Cognito user (%v): they can no longer get a token; rerun claimsctl user remove %s", e, err, e)}
	}
	a.out.result(map[string]any{"email": e, "removed": true}, "removed %s and their claims", e)
	return nil
}

func claimsPut(ctx context.Context, a *app, e string, c claims.Claims) error {
	st, err := a.store(ctx)
	if err != nil {
		return err
	}
	table, ring, db := st.table, st.ring, st.db
	token, err := ring.Encrypt([]byte(c.JSON()))
	if err != nil {
		return err
	}
	// Tie the claims to the Cognito user when there is one, so x-hasura-user-id is stable.
	update := "SET #c = :c"
	values := map[string]ddbtypes.AttributeValue{":c": &ddbtypes.AttributeValueMemberS{Value: token}}
	if pool, err := a.userPool(ctx); err == nil {
		idp, _ := a.cognito(ctx)
		u, err := idp.AdminGetUser(ctx, &cip.AdminGetUserInput{UserPoolId: aws.String(pool), Username: aws.String(e)})
		switch {
		case err == nil:
			if sub := attr(u.UserAttributes, "sub"); sub != "" {
				update += ", cognito_uuid = :u"
				values[":u"] = &ddbtypes.AttributeValueMemberS{Value: sub}
			}
		case !cognitoNotFound(err):
			return fmt.Errorf("look up %s in %s: %w; nothing was changed", e, pool, err)
		}
	}
	_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(table), Key: key(e), UpdateExpression: aws.String(update),
		ExpressionAttributeNames: map[string]string{"#c": claims.AttrClaims}, ExpressionAttributeValues: values,
	})
	if err != nil {
		return fmt.Errorf("write claims of %s to %s: %w", e, table, err)
	}
	allowed, def := c.Roles()
	a.out.result(map[string]any{"email": e, "allowed_roles": allowed, "default_role": def},
		"wrote claims of %s: roles %s, default %s (effective at their next sign-in or token refresh)", e, strings.Join(allowed, ","), def)
	return nil
}

func claimsGet(ctx context.Context, a *app, pos []string) error {
	e, err := email(pos)
	if err != nil {
		return err
	}
	st, err := a.store(ctx)
	if err != nil {
		return err
	}
	table, ring, db := st.table, st.ring, st.db
	got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key(e), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("read claims table %s: %w", table, err)
	}
	if len(got.Item) == 0 {
		return fmt.Errorf("no claims for %s in %s", e, table)
	}
	c, err := decode(ring, got.Item)
	if err != nil {
		return fmt.Errorf("claims of %s: %w", e, err)
	}
	a.out.json = true // the claims are JSON either way
	a.out.result(c, "")
	return nil
}

// decode turns an item into the claims a token would carry, by the Lambda's code path.
func decode(ring *claims.KeyRing, item map[string]ddbtypes.AttributeValue) (claims.Claims, error) {
	rec, err := claims.RecordFromItem(item)
	if err != nil {
		return nil, err
	}
	plain, err := ring.Decrypt(rec.Claims)
	if err != nil {
		return nil, err
	}
	return claims.Parse(plain)
}

func claimsDelete(ctx context.Context, a *app, pos []string) error {
	e, err := email(pos)
	if err != nil {
		return err
	}
	table, err := a.table(ctx)
	if err != nil {
		return err
	}
	db, _ := a.dynamo(ctx)
	_, err = db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: key(e),
		ConditionExpression: aws.String("attribute_exists(user_id)")})
	if err != nil {
		var cf *ddbtypes.ConditionalCheckFailedException
		if errors.As(err, &cf) {
			return fmt.Errorf("no claims for %s in %s", e, table)
		}
		return fmt.Errorf("delete claims of %s from %s: %w", e, table, err)
	}
	a.out.result(map[string]any{"email": e, "deleted": true}, "deleted the claims of %s: their next sign-in or refresh is refused", e)
	return nil
}

// scan calls fn for every item of the table, page by page.
func scan(ctx context.Context, db *dynamodb.Client, table string, fn func(map[string]ddbtypes.AttributeValue) error) error {
	// Bounded pages: progress on a large table, and the paging is exercised by tests.
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true), Limit: aws.Int32(100)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("scan claims table %s: %w", table, err)
		}
		for _, it := range page.Items {
			if err := fn(it); err != nil {
				return err
			}
		}
	}
	return nil
}

func claimsList(ctx context.Context, a *app, pos []string, verify bool) error {
	if err := positional(pos); err != nil {
		return err
	}
	st, err := a.store(ctx)
	if err != nil {
		return err
	}
	table, ring, db := st.table, st.ring, st.db
	var rows [][]string
	var failed []string
	total := 0
	err = scan(ctx, db, table, func(item map[string]ddbtypes.AttributeValue) error {
		total++
		id := ""
		if s, ok := item[claims.AttrUserID].(*ddbtypes.AttributeValueMemberS); ok {
			id = s.Value
		}
		c, err := decode(ring, item)
		if err != nil {
			failed = append(failed, id)
			rows = append(rows, []string{id, "", "", "ERROR: " + err.Error()})
			return nil
		}
		allowed, def := c.Roles()
		rows = append(rows, []string{id, def, strings.Join(allowed, ","), "ok"})
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i][0] < rows[j][0] })
	sort.Strings(failed)
	if !verify {
		a.out.table([]string{"USER_ID", "DEFAULT_ROLE", "ALLOWED_ROLES", "STATUS"}, rows)
		return nil
	}
	a.out.result(map[string]any{"items": total, "failed": len(failed), "failed_user_ids": failed},
		"%d items, %d failed%s", total, len(failed), list(failed))
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d items fail to decrypt or validate: %s", len(failed), total, strings.Join(failed, ", "))
	}
	return nil
}

func list(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	return ": " + strings.Join(ids, ", ")
}
