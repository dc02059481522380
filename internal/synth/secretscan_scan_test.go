package synth

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

func TestFindsPlantedSecrets(t *testing.T) {
	key, _ := claims.GenerateKey()
	cases := map[string]struct {
		file, content, why string
	}{
		"fernet key in a template": {"a.template.json", `{"Resources":{"S":{"Properties":{"Description":"` + key + `"}}}}`, "a Fernet key"},
		"fernet key in any text":   {"notes.txt", "key=" + key + "\n", "a Fernet key"},
		"literal SecretString":     {"a.template.json", `{"Resources":{"S":{"Type":"AWS::SecretsManager::Secret","Properties":{"SecretString":"hunter2-but-longer"}}}}`, "a literal value where a secret reference belongs"},
		"literal client secret":    {"b.template.json", `{"ProviderDetails":{"client_secret":"abc123"}}`, "a literal value where a secret reference belongs"},
		"high-entropy value":       {"c.json", `{"Value":"q8Xv2LmP0rT7wZ4nB6yK1sD9fH3jA5cE0gU2iO8"}`, "a high-entropy string"},
		"private key in a binary":  {"asset.x/bootstrap", "\x00\x01-----BEGIN RSA PRIVATE KEY-----\nMII", "a PEM private key"},
		"access key in a binary":   {"asset.y/bootstrap", "\x00AKIAIOSFODNN7EXAMPLE\x00", "an AWS access key ID"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, c.file)
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(t, os.WriteFile(p, []byte(c.content), 0o644))
			found, err := scanSecrets(dir)
			require.NoError(t, err)
			require.NotEmpty(t, found)
			whys := ""
			for _, f := range found {
				whys += f.Why + "; "
				assert.NotContains(t, f.String(), key, "findings never print the secret")
			}
			assert.Contains(t, whys, c.why)
		})
	}
}

func TestLeavesReferencesAndIdentifiersAlone(t *testing.T) {
	dir := t.TempDir()
	tmpl := `{"Resources":{"HasuraDatabaseUrlSecret1487C5D0":{"Properties":{
		"SecretString":"{{resolve:secretsmanager:arn:aws:secretsmanager:us-east-1:111111111111:secret:x:SecretString:password::}}",
		"Code":{"S3Key":"3970498affd63dab1b16cd0161808d992f4e72abea7b1fa06989535618a4b50d.zip"},
		"Ref":"hasuraauthproductionhasuraHasuraDatabaseSecretD002C282919aaa9973f1c46aea35f5967927c22f",
		"Other":"UsersPreTokenRoleDefaultPolicy497BFE42"}}}}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "t.template.json"), []byte(tmpl), 0o644))
	// A compiled library constant of Fernet shape in a binary is not a finding.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("\x00\x7fELF 3nCDq8Xv2LmP0rT7wZ4nB6yK1sD9fH3jA5cE0gU2iO8= \x00"), 0o644))
	found, err := scanSecrets(dir)
	require.NoError(t, err)
	assert.Empty(t, found)
}
