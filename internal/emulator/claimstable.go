package emulator

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ClaimsKey is the claims table's partition key, claims.AttrUserID. It is spelled out because
// package claims' own tests import this package; TestClaimsKeyIsTheStacksKey keeps the two equal.
const ClaimsKey = "user_id"

// CreateClaimsTable creates a claims table with the stack's key schema (user_id, a string) in
// an emulator; the tests and the local chain all use it.
func CreateClaimsTable(ctx context.Context, db *dynamodb.Client, name string) error {
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String(ClaimsKey), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String(ClaimsKey), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	})
	if err != nil {
		return fmt.Errorf("create claims table %s: %w", name, err)
	}
	return nil
}
