package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"

	"github.com/hasura-auth-cdk/hasuraauth/internal/localauth"
)

// setPermanent makes the temporary password the user's password, so the printed command signs
// in directly instead of answering a NEW_PASSWORD_REQUIRED challenge.
func setPermanent(ctx context.Context, env *localauth.Env, email, password string) error {
	_, err := env.Cognito().AdminSetUserPassword(ctx, &cip.AdminSetUserPasswordInput{
		UserPoolId: aws.String(env.PoolID), Username: aws.String(email), Password: aws.String(password), Permanent: true,
	})
	if err != nil {
		return fmt.Errorf("set the demo user's password: %w", err)
	}
	return nil
}

func stdinString(s string) io.Reader { return strings.NewReader(s) }

func envPrefix(env []string) string {
	var parts []string
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if v == "" {
			continue
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, " ")
}

func flags(f []string) string { return strings.Join(f, " ") }
