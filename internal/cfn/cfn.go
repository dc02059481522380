// Package cfn is the one reader of synthesized CloudFormation templates: the template, its
// resources and outputs, the references between resources, and IAM statements normalized for
// comparison. The offline diff (internal/cfndiff), the diagrams (cmd/diagram) and the stack
// tests read templates through it.
package cfn

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Template is what the readers of a template need of it.
type Template struct {
	Metadata  map[string]any      `json:"Metadata"`
	Resources map[string]Resource `json:"Resources"`
	Outputs   map[string]Output   `json:"Outputs"`
}

// Resource is one resource of a template.
type Resource struct {
	Type                string         `json:"Type"`
	Properties          map[string]any `json:"Properties"`
	DependsOn           DependsOn      `json:"DependsOn"`
	DeletionPolicy      string         `json:"DeletionPolicy"`
	UpdateReplacePolicy string         `json:"UpdateReplacePolicy"`
	Condition           string         `json:"Condition"`
	Metadata            map[string]any `json:"Metadata"`
}

// DependsOn lists the logical IDs a resource waits for. CloudFormation accepts one ID as a
// string or several as a list; both read as a list.
type DependsOn []string

// UnmarshalJSON reads either form.
func (d *DependsOn) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*d = DependsOn{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("DependsOn must be a logical ID or a list of them: %w", err)
	}
	*d = many
	return nil
}

// Output is one stack output.
type Output struct {
	Value       any    `json:"Value"`
	Description string `json:"Description"`
	Export      any    `json:"Export"`
	Condition   string `json:"Condition"`
}

// Fields is the output as the template writes it, without the fields it leaves out.
func (o Output) Fields() map[string]any {
	m := map[string]any{"Value": o.Value}
	if o.Description != "" {
		m["Description"] = o.Description
	}
	if o.Export != nil {
		m["Export"] = o.Export
	}
	if o.Condition != "" {
		m["Condition"] = o.Condition
	}
	return m
}

// Parse reads a template.
func Parse(b []byte) (*Template, error) {
	var t Template
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	return &t, nil
}

// OfType returns the logical IDs of every resource of a type, sorted.
func (t *Template) OfType(typ string) []string {
	var ids []string
	for id, r := range t.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// WithPrefix returns the logical IDs of the resources of a type whose ID starts with prefix, sorted.
func (t *Template) WithPrefix(typ, prefix string) []string {
	var ids []string
	for _, id := range t.OfType(typ) {
		if strings.HasPrefix(id, prefix) {
			ids = append(ids, id)
		}
	}
	return ids
}

// Refs lists the logical IDs v refers to through Ref and Fn::GetAtt, at any depth, in document
// order (object keys sorted). Pseudo parameters (AWS::Region, ...) are not resources and are left out.
func Refs(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		if r, ok := x["Ref"].(string); ok && !strings.HasPrefix(r, "AWS::") {
			out = append(out, r)
		}
		if a, ok := x["Fn::GetAtt"].([]any); ok && len(a) > 0 {
			if s, ok := a[0].(string); ok {
				out = append(out, s)
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, Refs(x[k])...)
		}
	case []any:
		for _, e := range x {
			out = append(out, Refs(e)...)
		}
	}
	return out
}

// First is the first of ids, or "" when there is none.
func First(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// List reads a value CloudFormation accepts as one item or a list (IAM Action and Resource,
// Roles, ...) as a list; nil is the empty list.
func List(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

// JSON renders a template value as compact JSON, without HTML escaping so that it reads as the
// template does; nil (an absent value) is "".
func JSON(v any) string {
	if v == nil {
		return ""
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("%v", v) // values parsed from JSON always encode
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// Text renders a template value for comparison: a string as itself, anything else (a Ref, a
// GetAtt, an Fn::Join) as compact JSON.
func Text(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return JSON(v)
}

// Statement is an IAM policy statement normalized for comparison: actions and resources sorted,
// each resource rendered by Text.
type Statement struct {
	Effect    string
	Actions   []string
	Resources []string
}

func (s Statement) String() string {
	return fmt.Sprintf("%s %v on %v", s.Effect, s.Actions, s.Resources)
}

// Normalize reads one statement of a policy document.
func Normalize(st map[string]any) Statement {
	s := Statement{}
	s.Effect, _ = st["Effect"].(string)
	for _, a := range List(st["Action"]) {
		s.Actions = append(s.Actions, Text(a))
	}
	for _, r := range List(st["Resource"]) {
		s.Resources = append(s.Resources, Text(r))
	}
	sort.Strings(s.Actions)
	sort.Strings(s.Resources)
	return s
}

// Statements returns the normalized statements of a policy document, sorted.
func Statements(doc any) []Statement {
	m, _ := doc.(map[string]any)
	var out []Statement
	for _, st := range List(m["Statement"]) {
		if sm, ok := st.(map[string]any); ok {
			out = append(out, Normalize(sm))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// PoliciesOf returns the logical IDs of the AWS::IAM::Policy resources attached to a role
// (by Ref in their Roles), sorted.
func (t *Template) PoliciesOf(roleID string) []string {
	var out []string
	for _, id := range t.OfType("AWS::IAM::Policy") {
		for _, r := range Refs(t.Resources[id].Properties["Roles"]) {
			if r == roleID {
				out = append(out, id)
				break
			}
		}
	}
	return out
}

// PolicyOf returns the normalized statements of every AWS::IAM::Policy attached to a role, sorted.
func (t *Template) PolicyOf(roleID string) []Statement {
	var out []Statement
	for _, id := range t.PoliciesOf(roleID) {
		out = append(out, Statements(t.Resources[id].Properties["PolicyDocument"])...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
