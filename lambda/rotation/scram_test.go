package main

import (
	"regexp"
	"strings"
	"testing"
)

// The rotation tests log in with every password they set, against a PostgreSQL that checks
// SCRAM-SHA-256: they prove the server accepts the verifier. This proves what it holds.
func TestScramVerifierHoldsNoPasswordAndHasPostgresFormat(t *testing.T) {
	const pw = "Abcdefghijklmnop0123456789"
	a, err := scramVerifier(pw)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := scramVerifier(pw)
	format := regexp.MustCompile(`^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$`)
	if !format.MatchString(a) {
		t.Fatalf("verifier %q is not in PostgreSQL's SCRAM-SHA-256 form", a)
	}
	if strings.Contains(a, pw) || strings.ContainsAny(a, "'\\") {
		t.Fatalf("verifier %q holds the password or a character that could end the literal", a)
	}
	if a == b {
		t.Fatal("two verifiers of one password share a salt")
	}
}
