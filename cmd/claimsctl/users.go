package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

// userAdd creates the Cognito user, then writes their claims sealed to the item and the new
// user's sub. If the claims cannot be written, the user is deleted again.
func userAdd(ctx context.Context, t *target, out *printer, c claims.Claims, tempPassword string) error {
	st := t.st
	ctx, l, err := st.lock(ctx, "user add")
	if err != nil {
		return err
	}
	defer l.release()
	// Read everything the command needs before writing anything.
	ring, err := st.ring(ctx)
	if err != nil {
		return err
	}
	existing, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.table), Key: key(t.email), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("read claims table %s: %w", st.table, err)
	}
	if len(existing.Item) > 0 {
		return fmt.Errorf("%s already has claims in %s: use claimsctl claims put to change them; nothing was changed", t.email, st.table)
	}

	in := &cip.AdminCreateUserInput{
		UserPoolId: aws.String(t.pool), Username: aws.String(t.email),
		UserAttributes: []ciptypes.AttributeType{
			{Name: aws.String("email"), Value: aws.String(t.email)},
			{Name: aws.String("email_verified"), Value: aws.String("true")},
		},
		DesiredDeliveryMediums: []ciptypes.DeliveryMediumType{ciptypes.DeliveryMediumTypeEmail},
	}
	if tempPassword != "" {
		in.TemporaryPassword = aws.String(tempPassword)
		in.MessageAction = ciptypes.MessageActionTypeSuppress
	}
	created, err := t.idp.AdminCreateUser(ctx, in)
	if err != nil {
		var exists *ciptypes.UsernameExistsException
		if errors.As(err, &exists) {
			return fmt.Errorf("a Cognito user %s already exists in %s: give them claims with claimsctl claims put; nothing was changed", t.email, t.pool)
		}
		return fmt.Errorf("create Cognito user %s in %s: %w; nothing was changed", t.email, t.pool, err)
	}
	sub := attr(created.User.Attributes, "sub")
	// At least the floor a removed earlier user of this email left behind.
	gen := claims.NextGen(0, ring.Floor(t.email), time.Now().UnixMilli())
	token, err := claims.SealFor(ring, c, claims.Binding{UserID: t.email, Identity: sub, Gen: gen})
	if err == nil {
		err = fault("user-add:user-created")
	}
	if err == nil {
		rec := claims.Record{UserID: t.email, Claims: token, CognitoUUID: sub}
		_, err = st.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(st.table), Item: rec.Item(),
			ConditionExpression: aws.String("attribute_not_exists(user_id)"),
		})
		if isConditionFailed(err) && st.attrIs(ctx, t.email, claims.AttrClaims, token) {
			// This put landed, its answer was lost and the SDK's retry met it: the claims are
			// written (the token, with a fresh random IV, is no other run's).
			err = nil
		}
	}
	if err != nil {
		putErr := err
		if _, err := t.idp.AdminDeleteUser(context.WithoutCancel(ctx), &cip.AdminDeleteUserInput{UserPoolId: aws.String(t.pool), Username: aws.String(t.email)}); err != nil {
			return partialf("writing claims for %s failed (%v) and removing the new Cognito user failed too (%v): "+
				"the user exists without claims and cannot get a token; run claimsctl user remove %s, or claimsctl claims put %s", t.email, putErr, err, t.email, t.email)
		}
		return fmt.Errorf("write claims for %s to %s: %w; the new Cognito user was removed again, nothing was changed", t.email, st.table, putErr)
	}
	allowed, def := c.Roles()
	out.result(map[string]any{"email": t.email, "sub": sub, "allowed_roles": allowed, "default_role": def, "invited": tempPassword == ""},
		"created %s (sub %s) with roles %s, default %s", t.email, sub, strings.Join(allowed, ","), def)
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

func cognitoNotFound(err error) bool {
	var nf *ciptypes.UserNotFoundException
	return errors.As(err, &nf)
}

// userDisable disables sign-in, then revokes every refresh token the user holds: a disabled
// user must not keep refreshing tokens until they expire.
func userDisable(ctx context.Context, t *target, out *printer) error {
	_, err := t.idp.AdminDisableUser(ctx, &cip.AdminDisableUserInput{UserPoolId: aws.String(t.pool), Username: aws.String(t.email)})
	if err != nil {
		if cognitoNotFound(err) {
			return fmt.Errorf("no Cognito user %s in %s; nothing was changed", t.email, t.pool)
		}
		return fmt.Errorf("disable %s in %s: %w; nothing was changed", t.email, t.pool, err)
	}
	if err := signOut(ctx, t); err != nil {
		return partialf("disabled %s, but signing them out failed (%v): their refresh tokens still work until they expire; rerun claimsctl user disable %s", t.email, err, t.email)
	}
	out.result(map[string]any{"email": t.email, "enabled": false, "signed_out": true},
		"disabled %s and signed them out everywhere (claims kept; claimsctl user enable %s restores sign-in)", t.email, t.email)
	return nil
}

func signOut(ctx context.Context, t *target) error {
	err := fault("sign-out")
	if err == nil {
		_, err = t.idp.AdminUserGlobalSignOut(ctx, &cip.AdminUserGlobalSignOutInput{UserPoolId: aws.String(t.pool), Username: aws.String(t.email)})
	}
	if err != nil && !cognitoNotFound(err) {
		return fmt.Errorf("sign out %s in %s: %w", t.email, t.pool, err)
	}
	return nil
}

func userEnable(ctx context.Context, t *target, out *printer) error {
	got, err := t.st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(t.st.table), Key: key(t.email), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("read claims table %s: %w", t.st.table, err)
	}
	if len(got.Item) == 0 {
		return fmt.Errorf("%s has no claims, so enabling them would only give failed sign-ins: claimsctl claims put %s first; nothing was changed", t.email, t.email)
	}
	_, err = t.idp.AdminEnableUser(ctx, &cip.AdminEnableUserInput{UserPoolId: aws.String(t.pool), Username: aws.String(t.email)})
	if err != nil {
		if cognitoNotFound(err) {
			return fmt.Errorf("no Cognito user %s in %s", t.email, t.pool)
		}
		return fmt.Errorf("enable %s in %s: %w", t.email, t.pool, err)
	}
	out.result(map[string]any{"email": t.email, "enabled": true}, "enabled %s", t.email)
	return nil
}

// userRemove deletes the user's claims, signs the user out everywhere, then deletes the Cognito
// user. Claims go first: a user left without claims cannot get a token, not even by refresh
// (fail closed); the reverse order could leave claims behind for a future account with the same
// email. The sign-out (AdminUserGlobalSignOut) revokes the user's refresh tokens before the user
// goes, so that no token outlives the removal even where deleting a user would leave them valid,
// and so that an interrupted removal leaves a user who is signed out. Every step is rerunnable:
// a rerun signs out and deletes whatever is left.
func userRemove(ctx context.Context, t *target, out *printer) error {
	st := t.st
	ctx, l, err := st.lock(ctx, "user remove")
	if err != nil {
		return err
	}
	defer l.release()
	err = fault("user-remove:get-user")
	if err == nil {
		_, err = t.idp.AdminGetUser(ctx, &cip.AdminGetUserInput{UserPoolId: aws.String(t.pool), Username: aws.String(t.email)})
	}
	userExists := err == nil
	if err != nil && !cognitoNotFound(err) {
		return fmt.Errorf("look up %s in %s: %w; nothing was changed", t.email, t.pool, err)
	}
	err = fault("user-remove:get-claims")
	var got *dynamodb.GetItemOutput
	if err == nil {
		got, err = st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.table), Key: key(t.email), ConsistentRead: aws.Bool(true)})
	}
	if err != nil {
		return fmt.Errorf("read claims table %s: %w; nothing was changed", st.table, err)
	}
	hasClaims := len(got.Item) > 0
	if !userExists && !hasClaims {
		return fmt.Errorf("no Cognito user %s in %s and no claims in %s: nothing to remove", t.email, t.pool, st.table)
	}
	if hasClaims {
		if err := tombstone(ctx, st, l, t.email, got.Item, "claimsctl user remove "+t.email); err != nil {
			return err
		}
		err := fault("user-remove:delete-claims")
		if err == nil {
			_, err = st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(st.table), Key: key(t.email)})
		}
		if err != nil {
			return partialf("revoked the claims of %s (a floor in the key secret) but could not delete them from %s (%v): they can no longer get a token; rerun claimsctl user remove %s", t.email, st.table, err, t.email)
		}
	}
	if userExists {
		if err := signOut(ctx, t); err != nil {
			return partialf("deleted the claims of %s but could not sign them out (%v): they can no longer get a token; rerun claimsctl user remove %s", t.email, err, t.email)
		}
		err := fault("user-remove:delete-user")
		if err == nil {
			_, err = t.idp.AdminDeleteUser(ctx, &cip.AdminDeleteUserInput{UserPoolId: aws.String(t.pool), Username: aws.String(t.email)})
		}
		if err != nil && !cognitoNotFound(err) {
			return partialf("deleted the claims of %s and signed them out, but not the Cognito user (%v): they can no longer get a token; rerun claimsctl user remove %s", t.email, err, t.email)
		}
	}
	out.result(map[string]any{"email": t.email, "removed": true, "had_user": userExists, "had_claims": hasClaims, "signed_out": userExists},
		"removed %s%s%s", t.email, map[bool]string{true: " and their claims", false: " (they had no claims)"}[hasClaims],
		map[bool]string{true: "; signed them out everywhere first", false: " (no Cognito user was left)"}[userExists])
	return nil
}
