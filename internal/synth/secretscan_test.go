package synth

// The secret scan looks for secret material in a cloud assembly: private keys, access keys,
// Fernet keys, literal values where a template must hold a reference, and high-entropy strings
// in JSON. Generated secrets must exist only inside AWS. Only the determinism test uses it, so
// it lives beside that test.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// finding is one suspicious thing, where it is and why; Excerpt is masked.
type finding struct {
	File, Where, Why, Excerpt string
}

func (f finding) String() string {
	return fmt.Sprintf("%s: %s: %s (%s)", f.File, f.Where, f.Why, f.Excerpt)
}

var (
	pemKey    = regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`)
	awsKey    = regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`)
	fernetKey = regexp.MustCompile(`(^|[^A-Za-z0-9_\-])([A-Za-z0-9_\-]{43}=)($|[^A-Za-z0-9_\-=])`)
	// Values that are references or identifiers, not secrets.
	hexHash = regexp.MustCompile(`^[0-9a-f]{32,}(\.zip|\.json)?$`)
	// CDK logical IDs: a construct path squeezed into letters and digits, ending in an 8-digit hash.
	logicalID = regexp.MustCompile(`^[A-Za-z0-9]+([0-9A-F]{8}|[0-9a-f]{32,})$`)
	resolved  = regexp.MustCompile(`^\{\{resolve:`)
	// JSON fields whose literal value would be a secret.
	secretField = regexp.MustCompile(`(?i)^(password|secret|secretstring|secretstringvalue|client_secret|clientsecret|apikey|api_key|token|privatekey|masteruserpassword)$`)
)

// scanSecrets scans every file below dir.
func scanSecrets(dir string) ([]finding, error) {
	var out []finding
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out = append(out, scanBytes(rel, b)...)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, err
}

// scanBytes scans one file's content: every file for private and access keys; text files also for
// Fernet keys, and JSON files value by value. Compiled binaries hold library constants of
// Fernet-key shape, so only the unambiguous markers apply to them.
func scanBytes(name string, b []byte) []finding {
	var out []finding
	binary := bytes.IndexByte(b, 0) >= 0
	for _, m := range pemKey.FindAll(b, -1) {
		out = append(out, finding{name, "content", "a PEM private key", string(m)})
	}
	for _, m := range awsKey.FindAll(b, -1) {
		out = append(out, finding{name, "content", "an AWS access key ID", mask(string(m))})
	}
	for _, m := range fernetKey.FindAllSubmatch(b, -1) {
		if !binary && mixed(string(m[2])) {
			out = append(out, finding{name, "content", "a Fernet key (URL-safe base64 of 32 bytes)", mask(string(m[2]))})
		}
	}
	if strings.HasSuffix(name, ".json") {
		var v any
		if json.Unmarshal(b, &v) == nil {
			walk(name, "$", "", v, &out)
		}
	}
	return out
}

func walk(file, path, key string, v any, out *[]finding) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			walk(file, path+"."+k, k, val, out)
		}
	case []any:
		for i, val := range x {
			walk(file, fmt.Sprintf("%s[%d]", path, i), key, val, out)
		}
	case string:
		switch {
		case secretField.MatchString(key) && x != "" && !resolved.MatchString(x):
			*out = append(*out, finding{file, path, "a literal value where a secret reference belongs", mask(x)})
		case len(x) >= 32 && !strings.ContainsAny(x, " /:.{}$") && !hexHash.MatchString(x) && !logicalID.MatchString(x) && mixed(x) && entropy(x) > 4.3:
			*out = append(*out, finding{file, path, "a high-entropy string", mask(x)})
		}
	}
}

// mixed reports letters of both cases and a digit: a random key, not a word or a hex hash.
func mixed(s string) bool {
	return strings.ContainsAny(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") && strings.ContainsAny(s, "abcdefghijklmnopqrstuvwxyz") && strings.ContainsAny(s, "0123456789")
}

// entropy is the Shannon entropy in bits per character.
func entropy(s string) float64 {
	n := map[rune]float64{}
	for _, r := range s {
		n[r]++
	}
	var h float64
	for _, c := range n {
		p := c / float64(len(s))
		h -= p * math.Log2(p)
	}
	return h
}

func mask(s string) string {
	if len(s) <= 8 {
		return "****"
	}
	return s[:4] + "..." + fmt.Sprintf("(%d chars)", len(s))
}
