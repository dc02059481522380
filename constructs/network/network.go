// Package network defines the VPC an environment's Hasura runs in, created or imported, with
// flow logs of all its traffic, and says which subnets each tier uses.
package network

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Props configure the network. Zero values take the defaults named on each field.
type Props struct {
	// Import, when set, uses an existing VPC by its IDs (no context lookup, so synth needs no
	// credentials) instead of creating one; the fields below that shape a created VPC are ignored.
	Import *awsec2.VpcAttributes

	// Cidr is a created VPC's IPv4 range. Default: 10.0.0.0/16.
	Cidr string
	// MaxAzs and NatGateways size a created VPC. Defaults: 2 and 1.
	MaxAzs      int
	NatGateways int
	// The prefix lengths of the subnets each zone gets: a public one (load balancer, NAT), a
	// private one with egress for the app and an isolated one for the database.
	// Defaults: 24, 22 and 24.
	PublicSubnetPrefix   int
	AppSubnetPrefix      int
	DatabaseSubnetPrefix int

	// LogRetention and RemovalPolicy apply to the flow log group. Defaults: CDK's.
	LogRetention  awslogs.RetentionDays
	RemovalPolicy awscdk.RemovalPolicy
}

// Network is the VPC and the subnets of each tier.
type Network struct {
	Vpc awsec2.IVpc
	// PublicSubnets hold internet-facing load balancers; AppSubnets tasks and functions (private,
	// egress through NAT); DatabaseSubnets the database (isolated in a created VPC, the private
	// subnets of an imported one).
	PublicSubnets   *awsec2.SubnetSelection
	AppSubnets      *awsec2.SubnetSelection
	DatabaseSubnets *awsec2.SubnetSelection
}

// New defines the VPC and its flow logs in scope. It adds no construct level of its own, so the
// logical IDs of an environment's deployed resources did not move when the Hasura construct was
// split into network, database and service.
func New(scope constructs.Construct, p *Props) *Network {
	n := &Network{
		PublicSubnets: &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PUBLIC},
		AppSubnets:    &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS},
	}
	if p.Import != nil {
		vpc := awsec2.Vpc_FromVpcAttributes(scope, jsii.String("Vpc"), p.Import)
		awscdk.Annotations_Of(vpc).AcknowledgeWarning(jsii.String("@aws-cdk/aws-ec2:noSubnetRouteTableId"),
			jsii.String("the stack places resources in imported subnets and never reads their route tables"))
		n.Vpc = vpc
		n.DatabaseSubnets = n.AppSubnets
	} else {
		n.Vpc = awsec2.NewVpc(scope, jsii.String("Vpc"), &awsec2.VpcProps{
			IpAddresses: awsec2.IpAddresses_Cidr(jsii.String(or(p.Cidr, "10.0.0.0/16"))),
			MaxAzs:      jsii.Number(float64(or(p.MaxAzs, 2))),
			NatGateways: jsii.Number(float64(or(p.NatGateways, 1))),
			SubnetConfiguration: &[]*awsec2.SubnetConfiguration{
				{Name: jsii.String("public"), SubnetType: awsec2.SubnetType_PUBLIC, CidrMask: jsii.Number(float64(or(p.PublicSubnetPrefix, 24)))},
				{Name: jsii.String("app"), SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS, CidrMask: jsii.Number(float64(or(p.AppSubnetPrefix, 22)))},
				{Name: jsii.String("db"), SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED, CidrMask: jsii.Number(float64(or(p.DatabaseSubnetPrefix, 24)))},
			},
			RestrictDefaultSecurityGroup: jsii.Bool(true),
		})
		n.DatabaseSubnets = &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED}
	}
	flowLogs := awslogs.NewLogGroup(scope, jsii.String("FlowLogs"), &awslogs.LogGroupProps{
		Retention: p.LogRetention, RemovalPolicy: p.RemovalPolicy,
	})
	awsec2.NewFlowLog(scope, jsii.String("FlowLog"), &awsec2.FlowLogProps{
		ResourceType: awsec2.FlowLogResourceType_FromVpc(n.Vpc),
		Destination:  awsec2.FlowLogDestination_ToCloudWatchLogs(flowLogs, nil),
		TrafficType:  awsec2.FlowLogTrafficType_ALL,
	})
	return n
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
