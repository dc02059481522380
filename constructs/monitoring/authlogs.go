package monitoring

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// UserAuthLogsProps configure the delivery of a user pool's user-authentication events.
type UserAuthLogsProps struct {
	UserPool awscognito.IUserPool
	// Name names the log group /aws/vendedlogs/cognito/<Name>/user-auth-events: under
	// /aws/vendedlogs/ CloudWatch Logs grants delivery with one account-wide resource policy
	// entry instead of one per log group (that policy is limited to 5120 characters).
	Name          string
	LogRetention  awslogs.RetentionDays
	RemovalPolicy awscdk.RemovalPolicy
}

// UserAuthLogs is the log group Cognito writes sign-in events (with their risk assessment) to.
type UserAuthLogs struct {
	LogGroup awslogs.LogGroup
	Delivery awscognito.CfnLogDeliveryConfiguration
}

// NewUserAuthLogs delivers the pool's user-authentication events (threat protection, Plus plan)
// to a CloudWatch log group. The log group is not KMS-encrypted: Cognito cannot deliver to one
// that is.
func NewUserAuthLogs(scope constructs.Construct, id string, p *UserAuthLogsProps) *UserAuthLogs {
	c := constructs.NewConstruct(scope, jsii.String(id))
	name := "/aws/vendedlogs/cognito/" + p.Name + "/user-auth-events"
	logs := awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		LogGroupName: jsii.String(name), Retention: p.LogRetention, RemovalPolicy: p.RemovalPolicy,
	})
	d := awscognito.NewCfnLogDeliveryConfiguration(c, jsii.String("Delivery"), &awscognito.CfnLogDeliveryConfigurationProps{
		UserPoolId: p.UserPool.UserPoolId(),
		LogConfigurations: []any{&awscognito.CfnLogDeliveryConfiguration_LogConfigurationProperty{
			EventSource: jsii.String("userAuthEvents"),
			LogLevel:    jsii.String("INFO"),
			CloudWatchLogsConfiguration: &awscognito.CfnLogDeliveryConfiguration_CloudWatchLogsConfigurationProperty{
				// Without the ":*" suffix of the log group's Arn attribute, which Cognito's ARN pattern refuses.
				LogGroupArn: awscdk.Stack_Of(c).FormatArn(&awscdk.ArnComponents{
					Service: jsii.String("logs"), Resource: jsii.String("log-group"), ResourceName: jsii.String(name),
					ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
				}),
			},
		}},
	})
	d.Node().AddDependency(logs)
	return &UserAuthLogs{LogGroup: logs, Delivery: d}
}
