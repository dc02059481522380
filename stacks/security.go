package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// ApplySecurityChecks runs cdk-nag's AwsSolutions pack over every stack of the app. An
// unsuppressed error fails `cdk synth` (and `make synth`); the tests fail on it too. Every
// suppression sits on the one resource it concerns, with a reason (see Suppress).
func ApplySecurityChecks(app awscdk.App) {
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true), Reports: jsii.Bool(true)}), nil)
}
