package claims

import (
	"errors"
	"fmt"
	"strings"
)

// ErrEmail is wrapped by every email refusal, so callers can tell bad input from I/O errors.
var ErrEmail = errors.New("email refused")

// atext are the characters RFC 5322 allows in an unquoted local part besides letters and digits.
const atext = "!#$%&'*+-/=?^_`{|}~"

// NormalizeEmail returns the table key for an email: trimmed of ASCII spaces and lower-cased
// with ASCII rules only. Unicode case folding is never applied: it maps the Kelvin sign to "k"
// and a dotted capital I to "i", so an identity provider's "ADMİN@example.com" would become an
// existing "admin@example.com". Anything that is not a plain ASCII dot-atom address with a
// dotted DNS domain is refused: non-ASCII, control and zero-width characters, quoted local
// parts, comments, display names and IP literals ("a@[10.0.0.1]").
func NormalizeEmail(s string) (string, error) {
	t := strings.Trim(s, " \t")
	if t == "" {
		return "", fmt.Errorf("%w: email is empty", ErrEmail)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c >= 0x80 {
			return "", fmt.Errorf("%w: email has a non-ASCII character at byte %d (only ASCII addresses are accepted)", ErrEmail, i)
		}
		if c < 0x20 || c == 0x7f {
			return "", fmt.Errorf("%w: email has a control character at byte %d", ErrEmail, i)
		}
	}
	if len(t) > 254 {
		return "", fmt.Errorf("%w: email is longer than 254 characters", ErrEmail)
	}
	e := asciiLower(t)
	at := strings.LastIndexByte(e, '@')
	if at <= 0 || at == len(e)-1 {
		return "", fmt.Errorf("%w: %q is not a plain email address like name@example.com", ErrEmail, truncate(t))
	}
	local, domain := e[:at], e[at+1:]
	if err := checkLocal(local); err != nil {
		return "", fmt.Errorf("%w: %q: %s", ErrEmail, truncate(t), err)
	}
	if err := checkDomain(domain); err != nil {
		return "", fmt.Errorf("%w: %q: %s", ErrEmail, truncate(t), err)
	}
	return e, nil
}

// EmailDomain returns the domain of a normalized email.
func EmailDomain(normalized string) string {
	return normalized[strings.LastIndexByte(normalized, '@')+1:]
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

func checkLocal(l string) error {
	if len(l) > 64 {
		return errors.New("the part before @ is longer than 64 characters")
	}
	if l[0] == '.' || l[len(l)-1] == '.' || strings.Contains(l, "..") {
		return errors.New("the part before @ has a leading, trailing or double dot")
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if isAlnum(c) || c == '.' || strings.IndexByte(atext, c) >= 0 {
			continue
		}
		return fmt.Errorf("the part before @ has %q, which a plain address does not (no quotes, spaces, commas or brackets)", string(c))
	}
	return nil
}

func checkDomain(d string) error {
	if strings.HasPrefix(d, "[") {
		return errors.New("IP-literal domains are not accepted")
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return errors.New("the domain needs a dot (name@example.com)")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return errors.New("the domain has an empty, over-long or hyphen-edged label")
		}
		for i := 0; i < len(l); i++ {
			if !isAlnum(l[i]) && l[i] != '-' {
				return fmt.Errorf("the domain has %q; only letters, digits, '-' and '.' are accepted", string(l[i]))
			}
		}
	}
	if tld := labels[len(labels)-1]; strings.Trim(tld, "0123456789") == "" {
		return errors.New("the domain looks like an IP address")
	}
	return nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || 'A' <= c && c <= 'Z'
}
