package emulator_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
	"github.com/hasura-auth-cdk/hasuraauth/internal/emulator"
)

func TestClaimsKeyIsTheStacksKey(t *testing.T) {
	assert.Equal(t, claims.AttrUserID, emulator.ClaimsKey)
}
