package emulator

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// MopedItem is one item of testdata/moped_fixture.json, made by Python's cryptography Fernet
// (testdata/make_moped_fixture.py), with the sign-in it stands for and the claims it must give.
type MopedItem struct {
	Item  map[string]types.AttributeValue
	Email string // as the sign-in event carries it
	Sub   string
	Want  map[string]any
}

// MopedFixture reads the fixture below moduleRoot: its (test-only) key and its items.
func MopedFixture(moduleRoot string) (key string, items []MopedItem, err error) {
	b, err := os.ReadFile(filepath.Join(moduleRoot, "testdata", "moped_fixture.json"))
	if err != nil {
		return "", nil, err
	}
	var f struct {
		Key   string `json:"key"`
		Items []struct {
			Item  map[string]map[string]string `json:"item"`
			Email string                       `json:"email_in_event"`
			Sub   string                       `json:"sub"`
			Want  map[string]any               `json:"want"`
		} `json:"items"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return "", nil, fmt.Errorf("moped fixture: %w", err)
	}
	for _, it := range f.Items {
		av := map[string]types.AttributeValue{}
		for k, v := range it.Item {
			if s, ok := v["S"]; ok {
				av[k] = &types.AttributeValueMemberS{Value: s}
			} else {
				av[k] = &types.AttributeValueMemberN{Value: v["N"]}
			}
		}
		items = append(items, MopedItem{Item: av, Email: it.Email, Sub: it.Sub, Want: it.Want})
	}
	return f.Key, items, nil
}
