// Package cfndiff compares two synthesized CloudFormation templates the way a reviewer reads
// them: resources added, removed, modified and replaced, with the changes that matter most
// (data loss, IAM, network exposure) called out first.
package cfndiff

import (
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"github.com/hasura-auth-cdk/hasuraauth/internal/cfn"
)

// Kind is what happens to a resource.
type Kind string

// The kinds of change, as CloudFormation would carry them out.
const (
	Added    Kind = "add"
	Removed  Kind = "remove"
	Modified Kind = "modify"
	Replaced Kind = "replace"
)

// PropChange is one changed value, by its path below the resource.
type PropChange struct {
	Path     string
	Old, New string // compact JSON; empty when absent
	Replaces bool   // CloudFormation replaces the resource for this change
}

// Change is what happens to one resource.
type Change struct {
	Stack, LogicalID, Type string
	Kind                   Kind
	Props                  []PropChange
	// DataLoss: a stateful resource is deleted or replaced and not retained.
	DataLoss bool
	// IAM: who may do what changes. Network: what can reach what changes.
	IAM, Network bool
}

// Stateful resources hold data that a deletion or a replacement loses.
var stateful = map[string]bool{
	"AWS::DynamoDB::Table": true, "AWS::DynamoDB::GlobalTable": true, "AWS::Cognito::UserPool": true,
	"AWS::RDS::DBInstance": true, "AWS::RDS::DBCluster": true, "AWS::SecretsManager::Secret": true,
	"AWS::S3::Bucket": true, "AWS::Logs::LogGroup": true, "AWS::SSM::Parameter": true,
	"Custom::EventApiKey": true, "AWS::KMS::Key": true,
}

var iamTypes = map[string]bool{
	"AWS::IAM::Role": true, "AWS::IAM::Policy": true, "AWS::IAM::ManagedPolicy": true, "AWS::IAM::User": true,
	"AWS::IAM::Group": true, "AWS::Lambda::Permission": true, "AWS::SecretsManager::ResourcePolicy": true,
	"AWS::S3::BucketPolicy": true, "AWS::KMS::Key": true,
}

var networkTypes = map[string]bool{
	"AWS::EC2::SecurityGroup": true, "AWS::EC2::SecurityGroupIngress": true, "AWS::EC2::SecurityGroupEgress": true,
	"AWS::EC2::NetworkAcl": true, "AWS::EC2::NetworkAclEntry": true, "AWS::ElasticLoadBalancingV2::Listener": true,
	"AWS::ElasticLoadBalancingV2::LoadBalancer": true, "AWS::EC2::Route": true,
}

// replacing lists, per type, the top-level properties whose change makes CloudFormation replace
// the resource (from the CloudFormation resource reference, "Update requires: Replacement").
var replacing = map[string][]string{
	"AWS::DynamoDB::Table":                        {"TableName", "KeySchema", "LocalSecondaryIndexes"},
	"AWS::DynamoDB::GlobalTable":                  {"TableName", "KeySchema", "LocalSecondaryIndexes"},
	"AWS::Cognito::UserPool":                      {"UsernameAttributes", "AliasAttributes", "Schema"},
	"AWS::Cognito::UserPoolClient":                {"UserPoolId", "GenerateSecret"},
	"AWS::Cognito::UserPoolDomain":                {"Domain", "UserPoolId"},
	"AWS::Cognito::UserPoolIdentityProvider":      {"ProviderName", "ProviderType", "UserPoolId"},
	"AWS::RDS::DBInstance":                        {"DBInstanceIdentifier", "DBName", "Engine", "MasterUsername", "StorageEncrypted", "KmsKeyId", "AvailabilityZone", "DBClusterIdentifier"},
	"AWS::SecretsManager::Secret":                 {"Name"},
	"AWS::SSM::Parameter":                         {"Name"},
	"AWS::Logs::LogGroup":                         {"LogGroupName"},
	"AWS::Lambda::Function":                       {"FunctionName", "PackageType"},
	"AWS::IAM::Role":                              {"RoleName", "Path"},
	"AWS::IAM::ManagedPolicy":                     {"ManagedPolicyName", "Path"},
	"AWS::EC2::VPC":                               {"CidrBlock", "InstanceTenancy"},
	"AWS::EC2::Subnet":                            {"CidrBlock", "VpcId", "AvailabilityZone", "AvailabilityZoneId"},
	"AWS::EC2::SecurityGroup":                     {"GroupDescription", "GroupName", "VpcId"},
	"AWS::EC2::SecurityGroupIngress":              {"GroupId", "IpProtocol", "FromPort", "ToPort", "CidrIp", "CidrIpv6", "SourceSecurityGroupId"},
	"AWS::EC2::SecurityGroupEgress":               {"GroupId", "IpProtocol", "FromPort", "ToPort", "CidrIp", "CidrIpv6", "DestinationSecurityGroupId"},
	"AWS::EC2::NatGateway":                        {"SubnetId", "AllocationId"},
	"AWS::ECS::Cluster":                           {"ClusterName"},
	"AWS::ECS::Service":                           {"ServiceName", "Cluster", "LaunchType", "Role"},
	"AWS::ECS::TaskDefinition":                    {"ContainerDefinitions", "Cpu", "Memory", "Family", "ExecutionRoleArn", "TaskRoleArn", "NetworkMode", "RequiresCompatibilities", "RuntimePlatform", "Volumes"},
	"AWS::ElasticLoadBalancingV2::LoadBalancer":   {"Name", "Scheme", "Type"},
	"AWS::ElasticLoadBalancingV2::TargetGroup":    {"Name", "Port", "Protocol", "VpcId", "TargetType", "ProtocolVersion"},
	"AWS::ElasticLoadBalancingV2::Listener":       {"LoadBalancerArn"},
	"AWS::ApplicationAutoScaling::ScalableTarget": {"ResourceId", "ScalableDimension", "ServiceNamespace"},
	"Custom::EventApiKey":                         {"ParameterName"},
	"Custom::FernetKeyRing":                       {"SecretId"},
}

// Diff compares one stack's templates; old or new may be nil (a stack added or removed).
func Diff(stack string, old, new *cfn.Template) []Change {
	if old == nil {
		old = &cfn.Template{}
	}
	if new == nil {
		new = &cfn.Template{}
	}
	var out []Change
	for id, o := range old.Resources {
		n, ok := new.Resources[id]
		switch {
		case !ok:
			out = append(out, classify(Change{Stack: stack, LogicalID: id, Type: o.Type, Kind: Removed}, o))
		case n.Type != o.Type:
			out = append(out, classify(Change{Stack: stack, LogicalID: id, Type: n.Type, Kind: Replaced,
				Props: []PropChange{{Path: "Type", Old: o.Type, New: n.Type, Replaces: true}}}, o))
		default:
			props := compare("", resourceView(o), resourceView(n))
			if len(props) == 0 {
				continue
			}
			c := Change{Stack: stack, LogicalID: id, Type: n.Type, Kind: Modified, Props: props}
			for i, p := range c.Props {
				if replacesOn(n.Type, p.Path) {
					c.Props[i].Replaces = true
					c.Kind = Replaced
				}
			}
			out = append(out, classify(c, o))
		}
	}
	for id, n := range new.Resources {
		if _, ok := old.Resources[id]; !ok {
			out = append(out, classify(Change{Stack: stack, LogicalID: id, Type: n.Type, Kind: Added}, n))
		}
	}
	// Outputs are contracts too: claimsctl and operators read them by name.
	for name, o := range old.Outputs {
		n, ok := new.Outputs[name]
		switch {
		case !ok:
			out = append(out, Change{Stack: stack, LogicalID: name, Type: "Output", Kind: Removed})
		case !reflect.DeepEqual(o.Fields(), n.Fields()):
			out = append(out, Change{Stack: stack, LogicalID: name, Type: "Output", Kind: Modified, Props: compare("", o.Fields(), n.Fields())})
		}
	}
	for name := range new.Outputs {
		if _, ok := old.Outputs[name]; !ok {
			out = append(out, Change{Stack: stack, LogicalID: name, Type: "Output", Kind: Added})
		}
	}
	sort.Slice(out, func(i, j int) bool { return less(out[i], out[j]) })
	return out
}

// resourceView is what of a resource can change: properties and policies, not metadata.
func resourceView(r cfn.Resource) map[string]any {
	v := map[string]any{"Properties": r.Properties}
	if r.DeletionPolicy != "" {
		v["DeletionPolicy"] = r.DeletionPolicy
	}
	if r.UpdateReplacePolicy != "" {
		v["UpdateReplacePolicy"] = r.UpdateReplacePolicy
	}
	if r.Condition != "" {
		v["Condition"] = r.Condition
	}
	return v
}

func replacesOn(typ, path string) bool {
	top := strings.TrimPrefix(path, "Properties.")
	if top == path {
		return false
	}
	top = strings.FieldsFunc(top, func(r rune) bool { return r == '.' || r == '[' })[0]
	for _, p := range replacing[typ] {
		if p == top {
			return true
		}
	}
	return false
}

func classify(c Change, before cfn.Resource) Change {
	gone := c.Kind == Removed || c.Kind == Replaced
	if gone && stateful[c.Type] && before.DeletionPolicy != "Retain" && before.DeletionPolicy != "Snapshot" {
		c.DataLoss = true
	}
	c.IAM = iamTypes[c.Type]
	c.Network = networkTypes[c.Type]
	return c
}

func rank(c Change) int {
	switch {
	case c.DataLoss:
		return 0
	case c.IAM:
		return 1
	case c.Network:
		return 2
	}
	return 3
}

func less(a, b Change) bool {
	if a.Stack != b.Stack {
		return a.Stack < b.Stack
	}
	if rank(a) != rank(b) {
		return rank(a) < rank(b)
	}
	if a.Type != b.Type {
		return a.Type < b.Type
	}
	return a.LogicalID < b.LogicalID
}

// compare walks two JSON values and lists the leaves that differ. Arrays of different length
// are reported whole.
func compare(path string, a, b any) []PropChange {
	if reflect.DeepEqual(a, b) {
		return nil
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		var out []PropChange
		for _, k := range unionKeys(am, bm) {
			p := k
			if path != "" {
				p = path + "." + k
			}
			out = append(out, compare(p, am[k], bm[k])...)
		}
		return out
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok && len(al) == len(bl) {
		var out []PropChange
		for i := range al {
			out = append(out, compare(fmt.Sprintf("%s[%d]", path, i), al[i], bl[i])...)
		}
		return out
	}
	return []PropChange{{Path: path, Old: cfn.JSON(a), New: cfn.JSON(b)}}
}

// Report writes the changes for people: per stack, data loss, IAM and network changes first.
// It returns the number of changes.
func Report(w io.Writer, changes []Change) int {
	// Across all stacks first: what can lose data, widen access or open the network.
	var attention []Change
	for _, c := range changes {
		if rank(c) < 3 {
			attention = append(attention, c)
		}
	}
	sort.SliceStable(attention, func(i, j int) bool { return rank(attention[i]) < rank(attention[j]) })
	if len(attention) > 0 {
		fmt.Fprintf(w, "\nNeeds attention:\n")
		for _, c := range attention {
			fmt.Fprintf(w, "  %-9s %-7s %s %s (%s)\n", []string{"DATA LOSS", "IAM", "NETWORK"}[rank(c)], c.Kind, c.Type, c.LogicalID, c.Stack)
		}
	}
	stack := ""
	for _, c := range changes {
		if c.Stack != stack {
			stack = c.Stack
			fmt.Fprintf(w, "\n== %s\n", stack)
		}
		var flags []string
		if c.DataLoss {
			flags = append(flags, "DATA LOSS")
		}
		if c.IAM {
			flags = append(flags, "IAM")
		}
		if c.Network {
			flags = append(flags, "NETWORK")
		}
		mark := map[Kind]string{Added: "+", Removed: "-", Modified: "~", Replaced: "!"}[c.Kind]
		label := ""
		if len(flags) > 0 {
			label = "[" + strings.Join(flags, ", ") + "] "
		}
		fmt.Fprintf(w, "%s %-7s %s%s %s\n", mark, c.Kind, label, c.Type, c.LogicalID)
		for _, p := range c.Props {
			repl := ""
			if p.Replaces {
				repl = " (requires replacement)"
			}
			fmt.Fprintf(w, "      %s%s\n        - %s\n        + %s\n", p.Path, repl, orAbsent(p.Old), orAbsent(p.New))
		}
	}
	return len(changes)
}

func orAbsent(s string) string {
	if s == "" {
		return "(absent)"
	}
	if len(s) > 400 {
		return s[:400] + "..."
	}
	return s
}

// Summary counts changes by kind and flag, for a one-line overview.
func Summary(changes []Change) string {
	n := map[string]int{}
	for _, c := range changes {
		n[string(c.Kind)]++
		if c.DataLoss {
			n["data loss"]++
		}
		if c.IAM {
			n["IAM"]++
		}
		if c.Network {
			n["network"]++
		}
	}
	return fmt.Sprintf("%d added, %d removed, %d modified, %d replaced; %d data loss, %d IAM, %d network",
		n["add"], n["remove"], n["modify"], n["replace"], n["data loss"], n["IAM"], n["network"])
}

// DiffTrees compares all stacks of two sets of templates (stack name -> template JSON).
func DiffTrees(old, new map[string][]byte) ([]Change, error) {
	var out []Change
	for _, name := range unionKeys(old, new) {
		var o, n *cfn.Template
		var err error
		if b, ok := old[name]; ok {
			if o, err = cfn.Parse(b); err != nil {
				return nil, fmt.Errorf("%s (base): %w", name, err)
			}
		}
		if b, ok := new[name]; ok {
			if n, err = cfn.Parse(b); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
		out = append(out, Diff(name, o, n)...)
	}
	return out, nil
}

// unionKeys lists the keys of a and b, sorted.
func unionKeys[V any](a, b map[string]V) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]V{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}
