package claims

import (
	"encoding/json"
	"testing"
)

// FuzzParse: whatever is stored, Parse never panics, and what it accepts obeys every rule the
// token relies on, survives a round trip, and renders deterministically.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"x-hasura-default-role":"editor","x-hasura-allowed-roles":["viewer","editor"]}`,
		`{"x-hasura-default-role":"a","x-hasura-allowed-roles":["a"],"x-hasura-org-id":17}`,
		`{"X-HASURA-DEFAULT-ROLE":"a","x-hasura-allowed-roles":["a"]}`,
		`{"x-hasura-default-role":"b","x-hasura-allowed-roles":["a"]}`,
		`[]`, `null`, `{"x-hasura-allowed-roles":[1]}`, "\xff", `{"x-hasura-a":1e99}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if c != nil {
				t.Fatalf("claims returned with an error: %v", err)
			}
			return
		}
		allowed, def := c.Roles()
		if len(allowed) == 0 {
			t.Fatalf("accepted without allowed roles: %q", data)
		}
		found := false
		for _, r := range allowed {
			if r == def {
				found = true
			}
		}
		if !found {
			t.Fatalf("accepted a default role outside the allowed roles: %q", data)
		}
		for k, v := range c {
			if k != AllowedRoles {
				if _, ok := v.(string); !ok {
					t.Fatalf("%s is %T, not a string", k, v)
				}
			}
		}
		js := c.JSON()
		again, err := Parse([]byte(js))
		if err != nil {
			t.Fatalf("rendered claims do not parse again: %v: %s", err, js)
		}
		if again.JSON() != js {
			t.Fatalf("not deterministic: %s vs %s", again.JSON(), js)
		}
		if !json.Valid([]byte(js)) {
			t.Fatalf("invalid JSON rendered: %s", js)
		}
	})
}
