// Command diagram (make diagram) draws each environment's resources and the connections between
// them (the trigger, what each role may read or write, the secrets ECS injects, the network path)
// from the synthesized templates, as Graphviz DOT rendered to SVG and PNG under docs/.
// Everything drawn is derived from the templates, so the pictures change when the
// infrastructure does.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hasura-auth-cdk/hasuraauth/internal/cfn"
	"github.com/hasura-auth-cdk/hasuraauth/internal/synth"
	"github.com/hasura-auth-cdk/hasuraauth/stacks/names"
)

func main() {
	out := flag.String("out", "docs", "directory for <env>.dot, .svg and .png")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "diagram:", err)
		os.Exit(1)
	}
}

func run(outDir string) error {
	if _, err := exec.LookPath("dot"); err != nil {
		return fmt.Errorf("graphviz's dot is not installed: apt-get install graphviz")
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "diagram-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "app")
	if err := synth.BuildApp(root, bin); err != nil {
		return err
	}
	assembly := filepath.Join(tmp, "cdk.out")
	if err := synth.Run(root, bin, assembly, synth.Options{SkipBundling: true}); err != nil {
		return err
	}
	templates, err := synth.Templates(assembly)
	if err != nil {
		return err
	}
	ctx, err := synth.Context(root)
	if err != nil {
		return err
	}
	project, _ := ctx["project"].(string)
	var envs []string
	for name := range ctx["environments"].(map[string]any) {
		envs = append(envs, name)
	}
	sort.Strings(envs)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	for _, env := range envs {
		g, err := build(env, templates[names.IdentityStack(project, env)], templates[names.HasuraStack(project, env)])
		if err != nil {
			return fmt.Errorf("%s: %w", env, err)
		}
		base := filepath.Join(outDir, env)
		if err := os.WriteFile(base+".dot", []byte(g), 0o644); err != nil {
			return err
		}
		for _, format := range []string{"svg", "png"} {
			args := []string{"-T" + format, "-o", base + "." + format, base + ".dot"}
			if format == "png" {
				args = append([]string{"-Gdpi=110"}, args...)
			}
			if out, err := exec.Command("dot", args...).CombinedOutput(); err != nil {
				return fmt.Errorf("dot -T%s: %w\n%s", format, err, out)
			}
		}
		fmt.Printf("wrote %s.{dot,svg,png}\n", base)
	}
	return nil
}

type graph struct {
	nodes map[string]string // id -> DOT attributes
	stack map[string]string // id -> cluster
	edges []string
	seen  map[string]bool
}

func (g *graph) node(id, cluster, label, shape, color string) {
	g.nodes[id] = fmt.Sprintf(`label=%q, shape=%s, style="filled,rounded", fillcolor=%q`, label, shape, color)
	g.stack[id] = cluster
}

func (g *graph) edge(from, to, label, style string) {
	if from == "" || to == "" || g.nodes[from] == "" || g.nodes[to] == "" {
		return
	}
	key := from + "|" + to + "|" + label
	if g.seen[key] {
		return
	}
	g.seen[key] = true
	g.edges = append(g.edges, fmt.Sprintf("  %q -> %q [label=%q, %s];", from, to, label, style))
}

func build(env string, identityJSON, hasuraJSON []byte) (string, error) {
	id, err := cfn.Parse(identityJSON)
	if err != nil {
		return "", fmt.Errorf("identity template: %w", err)
	}
	h, err := cfn.Parse(hasuraJSON)
	if err != nil {
		return "", fmt.Errorf("hasura template: %w", err)
	}
	g := &graph{nodes: map[string]string{}, stack: map[string]string{}, seen: map[string]bool{}}
	const (
		blue, green, yellow, grey, orange = "#dbeafe", "#dcfce7", "#fef9c3", "#f3f4f6", "#ffedd5"
	)
	g.node("browser", "", "Browser (SPA)", "box", grey)
	g.node("internet", "", "Internet", "ellipse", grey)
	g.node("backend", "", "Backend API", "box", grey)

	// Identity stack.
	roleOwner := map[string]string{} // role -> the node acting with it
	for lid, r := range id.Resources {
		p := r.Properties
		switch r.Type {
		case "AWS::Cognito::UserPool":
			g.node(lid, "identity", fmt.Sprintf("Cognito user pool\nMFA %v", p["MfaConfiguration"]), "box", blue)
		case "AWS::Cognito::UserPoolClient":
			g.node(lid, "identity", "SPA app client\n(public, SRP)", "box", blue)
		case "AWS::Cognito::UserPoolIdentityProvider":
			g.node(lid, "identity", fmt.Sprintf("Entra ID (OIDC)\n%v", p["ProviderName"]), "box", blue)
		case "AWS::DynamoDB::GlobalTable", "AWS::DynamoDB::Table":
			g.node(lid, "identity", "Claims table\n(DynamoDB, user_id)", "cylinder", yellow)
		case "AWS::SecretsManager::Secret":
			g.node(lid, "identity", "Claims key\n(Fernet key ring)", "note", orange)
		case "Custom::EventApiKey":
			g.node(lid, "identity", fmt.Sprintf("Event API key\nSSM SecureString\n%v", p["ParameterName"]), "note", orange)
		case "AWS::Lambda::Function":
			pkg, _ := r.Metadata["GoPackage"].(string)
			if pkg == "" {
				continue
			}
			g.node(lid, "identity", fmt.Sprintf("Lambda %s\n(Go, arm64, %vs)", pkg, p["Timeout"]), "component", green)
			if roles := cfn.Refs(p["Role"]); len(roles) > 0 {
				roleOwner[roles[0]] = lid
			}
		}
	}
	for lid, r := range id.Resources {
		switch r.Type {
		case "AWS::Cognito::UserPool":
			if cfg, ok := r.Properties["LambdaConfig"].(map[string]any); ok {
				for kind, v := range cfg {
					m, _ := v.(map[string]any)
					for _, fn := range cfn.Refs(m["LambdaArn"]) {
						g.edge(lid, fn, fmt.Sprintf("%s %v", strings.TrimSuffix(kind, "Config"), m["LambdaVersion"]), `color="#2563eb", penwidth=2`)
					}
				}
			}
		case "AWS::Cognito::UserPoolClient":
			for _, pool := range cfn.Refs(r.Properties["UserPoolId"]) {
				g.edge(lid, pool, "client of", `style=dotted`)
			}
		case "AWS::Cognito::UserPoolIdentityProvider":
			for _, pool := range cfn.Refs(r.Properties["UserPoolId"]) {
				g.edge(lid, pool, "federates", `style=dotted`)
			}
		case "Custom::FernetKeyRing", "Custom::EventApiKey":
			for _, fn := range cfn.Refs(r.Properties["ServiceToken"]) {
				target := lid
				if r.Type == "Custom::FernetKeyRing" {
					if s := cfn.Refs(r.Properties["SecretId"]); len(s) > 0 {
						target = s[0]
					}
				}
				g.edge(fn, target, "generates value", `style=dashed, color="#ea580c"`)
			}
		}
	}
	policyEdges(g, id, roleOwner, "")
	for lid, r := range id.Resources {
		if r.Type == "AWS::Cognito::LogDeliveryConfiguration" {
			g.node(lid, "identity", "User-auth events\n(CloudWatch Logs)", "note", grey)
			for _, pool := range cfn.Refs(r.Properties["UserPoolId"]) {
				g.edge(pool, lid, "delivers sign-in events", `style=dashed, color="#6b7280"`)
			}
		}
	}

	// Hasura stack.
	var service, task, alb, db string
	sgOwner := map[string]string{}
	hasuraRoles := map[string]string{} // role -> the function acting with it
	for lid, r := range h.Resources {
		p := r.Properties
		switch r.Type {
		case "AWS::ECS::Service":
			service = lid
			g.node(lid, "hasura", fmt.Sprintf("Hasura on Fargate\ndesired %v", p["DesiredCount"]), "component", green)
			if net, ok := p["NetworkConfiguration"].(map[string]any); ok {
				for _, sg := range cfn.Refs(net) {
					sgOwner[sg] = lid
				}
			}
		case "AWS::ECS::TaskDefinition":
			task = lid
		case "AWS::Lambda::Function":
			pkg, _ := r.Metadata["GoPackage"].(string)
			if pkg == "" {
				continue
			}
			label := "Lambda " + pkg
			if env, ok := p["Environment"].(map[string]any); ok {
				if vars, ok := env["Variables"].(map[string]any); ok && vars["ROTATION_KIND"] != nil {
					label += fmt.Sprintf("\n(%v)", vars["ROTATION_KIND"])
				}
			}
			g.node(lid, "hasura", label, "component", green)
			if vpc, ok := p["VpcConfig"].(map[string]any); ok {
				for _, sg := range cfn.Refs(vpc["SecurityGroupIds"]) {
					sgOwner[sg] = lid
				}
			}
			if roles := cfn.Refs(p["Role"]); len(roles) > 0 {
				hasuraRoles[roles[0]] = lid
			}
		case "AWS::ElasticLoadBalancingV2::LoadBalancer":
			alb = lid
			g.node(lid, "hasura", fmt.Sprintf("ALB (%v)", p["Scheme"]), "box", blue)
			for _, sg := range cfn.Refs(p["SecurityGroups"]) {
				sgOwner[sg] = lid
			}
		case "AWS::RDS::DBInstance":
			db = lid
			g.node(lid, "hasura", fmt.Sprintf("PostgreSQL %v\n(RDS, encrypted)", p["EngineVersion"]), "cylinder", yellow)
			for _, sg := range cfn.Refs(p["VPCSecurityGroups"]) {
				sgOwner[sg] = lid
			}

		case "AWS::SecretsManager::Secret":
			label := "Secret"
			if d, ok := p["Description"].(string); ok && strings.HasPrefix(d, "HASURA_GRAPHQL_") {
				label = strings.TrimSuffix(strings.Fields(d)[0], ",")
			} else if _, ok := p["GenerateSecretString"]; ok {
				label = "Database credentials"
			}
			g.node(lid, "hasura", label, "note", orange)
		}
	}
	if r, ok := h.Resources[db]; ok {
		for _, secret := range cfn.Refs(r.Properties["MasterUserPassword"]) {
			g.edge(secret, db, "master credentials", `style=dotted`)
		}
	}
	// Secrets ECS injects, including the event API key from the identity stack.
	if t, ok := h.Resources[task]; ok && service != "" {
		for _, c := range t.Properties["ContainerDefinitions"].([]any) {
			cd := c.(map[string]any)
			for _, s := range cfn.List(cd["Secrets"]) {
				sm := s.(map[string]any)
				name, _ := sm["Name"].(string)
				targets := cfn.Refs(sm["ValueFrom"])
				if len(targets) == 0 && strings.Contains(fmt.Sprint(sm["ValueFrom"]), ":parameter/") {
					for lid, r := range id.Resources {
						if r.Type == "Custom::EventApiKey" {
							targets = []string{lid}
						}
					}
				}
				for _, target := range targets {
					g.edge(service, target, "ECS secret "+name, `style=dashed, color="#ea580c"`)
				}
			}
			for _, e := range cfn.List(cd["Environment"]) {
				em := e.(map[string]any)
				if em["Name"] == "HASURA_GRAPHQL_JWT_SECRET" {
					for lid, r := range id.Resources {
						if r.Type == "AWS::Cognito::UserPool" {
							g.edge(service, lid, "JWKS (RS256, issuer pinned)", `color="#2563eb"`)
						}
					}
				}
			}
		}
	}
	for lid, r := range h.Resources {
		if r.Type == "AWS::SecretsManager::Secret" {
			if ss, ok := r.Properties["SecretString"]; ok && db != "" {
				for _, ref := range cfn.Refs(ss) {
					if ref == db || h.Resources[ref].Type == "AWS::SecretsManager::SecretTargetAttachment" {
						g.edge(lid, db, "URL of", `style=dotted`)
						break
					}
				}
			}
			_ = lid
		}
	}
	for _, r := range h.Resources {
		if r.Type == "AWS::SecretsManager::RotationSchedule" {
			fn := cfn.First(cfn.Refs(r.Properties["RotationLambdaARN"]))
			secret := cfn.First(cfn.Refs(r.Properties["SecretId"]))
			if h.Resources[secret].Type == "AWS::SecretsManager::SecretTargetAttachment" {
				secret = cfn.First(cfn.Refs(h.Resources[secret].Properties["SecretId"]))
			}
			g.edge(fn, secret, "rotates (30 days)", `style=dashed, color="#ea580c"`)
		}
	}
	// Network path, from the security groups.
	for _, r := range h.Resources {
		switch r.Type {
		case "AWS::EC2::SecurityGroup":
			for _, in := range cfn.List(r.Properties["SecurityGroupIngress"]) {
				rule := in.(map[string]any)
				if rule["CidrIp"] == "0.0.0.0/0" && alb != "" {
					g.edge("internet", alb, fmt.Sprintf("tcp/%v", rule["FromPort"]), `color="#dc2626"`)
				}
			}
		case "AWS::EC2::SecurityGroupIngress":
			from := sgOwner[cfn.First(cfn.Refs(r.Properties["SourceSecurityGroupId"]))]
			to := sgOwner[cfn.First(cfn.Refs(r.Properties["GroupId"]))]
			g.edge(from, to, fmt.Sprintf("tcp/%v", r.Properties["FromPort"]), `color="#dc2626"`)
		}
	}
	for lid, r := range id.Resources {
		if r.Type == "AWS::Cognito::UserPool" {
			g.edge("browser", lid, "sign in (SRP), refresh", `color="#6b7280"`)
		}
	}
	g.edge("browser", "internet", "Bearer ID token", `color="#6b7280"`)
	g.edge(service, "backend", "event triggers (value_from_env)", `color="#6b7280"`)
	hasuraRoles[cfn.First(cfn.Refs(h.Resources[task].Properties["ExecutionRoleArn"]))] = service
	policyEdges(g, h, hasuraRoles, service)
	operations(g, h, alb)

	var b strings.Builder
	fmt.Fprintf(&b, "digraph %q {\n  rankdir=LR; newrank=true; nodesep=0.5; ranksep=0.9;\n", env)
	fmt.Fprintf(&b, "  graph [fontname=\"Helvetica\", fontsize=12, label=%q, labelloc=t];\n", "Hasura auth: "+env+" (derived from the synthesized templates)")
	b.WriteString("  node [fontname=\"Helvetica\", fontsize=10]; edge [fontname=\"Helvetica\", fontsize=9];\n")
	clusters := map[string]string{"identity": "identity stack (stateful)", "hasura": "hasura stack (VPC)"}
	for _, c := range []string{"identity", "hasura"} {
		fmt.Fprintf(&b, "  subgraph cluster_%s {\n    label=%q; style=rounded; color=\"#9ca3af\";\n", c, clusters[c])
		for _, n := range sortedNodes(g, c) {
			fmt.Fprintf(&b, "    %q [%s];\n", n, g.nodes[n])
		}
		b.WriteString("  }\n")
	}
	for _, n := range sortedNodes(g, "") {
		fmt.Fprintf(&b, "  %q [%s];\n", n, g.nodes[n])
	}
	sort.Strings(g.edges)
	for _, e := range g.edges {
		b.WriteString(e + "\n")
	}
	b.WriteString("}\n")
	return b.String(), nil
}

// operations draws the alarms and their topic, and the WAF in front of the load balancer.
func operations(g *graph, h *cfn.Template, alb string) {
	alarms, emails := 0, 0
	var topic string
	for lid, r := range h.Resources {
		switch r.Type {
		case "AWS::CloudWatch::Alarm":
			alarms++
			if topic == "" {
				topic = cfn.First(cfn.Refs(r.Properties["AlarmActions"]))
			}
		case "AWS::SNS::Subscription":
			emails++
		case "AWS::WAFv2::WebACL":
			var rules []string
			for _, rule := range cfn.List(r.Properties["Rules"]) {
				rules = append(rules, fmt.Sprint(rule.(map[string]any)["Name"]))
			}
			g.node(lid, "hasura", "WAF web ACL\n"+strings.Join(rules, "\n"), "octagon", "#fee2e2")
		}
	}
	for lid, r := range h.Resources {
		switch r.Type {
		case "AWS::WAFv2::WebACLAssociation":
			g.edge(cfn.First(cfn.Refs(r.Properties["WebACLArn"])), alb, "filters requests to", `color="#dc2626", penwidth=2`)
		case "AWS::WAFv2::LoggingConfiguration":
			acl := cfn.First(cfn.Refs(r.Properties["ResourceArn"]))
			g.node(lid, "hasura", "WAF logs\n(CloudWatch Logs, secrets redacted)", "note", "#f3f4f6")
			g.edge(acl, lid, "logs", `style=dashed, color="#6b7280"`)
		case "AWS::SNS::Topic":
			if lid == topic {
				g.node(lid, "hasura", fmt.Sprintf("Alarm topic (SNS, KMS)\n%d email subscriptions", emails), "box", "#fee2e2")
			}
		}
	}
	if alarms > 0 && g.nodes[topic] != "" {
		g.node("alarms", "hasura", fmt.Sprintf("%d CloudWatch alarms\n+ dashboard", alarms), "box", "#fee2e2")
		g.edge("alarms", topic, "ALARM / OK", `color="#dc2626"`)
	}
}

// policyEdges draws what each acting node's role may do on resources in the graph.
func policyEdges(g *graph, t *cfn.Template, roleOwner map[string]string, skipSecretsOf string) {
	for _, r := range t.Resources {
		if r.Type != "AWS::IAM::Policy" {
			continue
		}
		for _, role := range cfn.Refs(r.Properties["Roles"]) {
			actor := roleOwner[role]
			if actor == "" {
				continue
			}
			doc, _ := r.Properties["PolicyDocument"].(map[string]any)
			for _, st := range cfn.List(doc["Statement"]) {
				sm := st.(map[string]any)
				var actions []string
				for _, a := range cfn.List(sm["Action"]) {
					s := fmt.Sprint(a)
					if strings.HasPrefix(s, "logs:") {
						continue
					}
					actions = append(actions, s[strings.Index(s, ":")+1:])
				}
				if len(actions) == 0 {
					continue
				}
				for _, target := range cfn.Refs(sm["Resource"]) {
					if actor == skipSecretsOf && strings.HasPrefix(g.nodes[target], `label="HASURA`) {
						continue // the ECS secret edges already say it
					}
					g.edge(actor, target, strings.Join(actions, ", "), `color="#16a34a"`)
				}
			}
		}
	}
}

func sortedNodes(g *graph, cluster string) []string {
	var out []string
	for n := range g.nodes {
		if g.stack[n] == cluster {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
