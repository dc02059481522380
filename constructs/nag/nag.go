// Package nag records cdk-nag suppressions the one way this project allows: on the single
// CloudFormation resource concerned, never on a stack or a whole construct tree, with a reason a
// reviewer can check. The tests list every suppression and fail on one without a reason.
package nag

import (
	"fmt"
	"strings"

	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// MinReasonLength keeps reasons explanatory (cdk-nag itself requires 10 characters).
const MinReasonLength = 40

// Suppress silences rule on the resource of c (its default child when c is a higher-level
// construct). appliesTo narrows the suppression to findings such as "Resource::*".
func Suppress(c constructs.IConstruct, rule, reason string, appliesTo ...string) {
	if len(strings.TrimSpace(reason)) < MinReasonLength {
		panic(fmt.Sprintf("nag: suppression of %s on %s needs a reason a reviewer can check (at least %d characters)", rule, *c.Node().Path(), MinReasonLength))
	}
	target := c
	if child := c.Node().DefaultChild(); child != nil {
		target = child
	}
	s := &cdknag.NagPackSuppression{Id: jsii.String(rule), Reason: jsii.String(reason)}
	if len(appliesTo) > 0 {
		var at []any
		for _, a := range appliesTo {
			at = append(at, a)
		}
		s.AppliesTo = &at
	}
	cdknag.NagSuppressions_AddResourceSuppressions(target, &[]*cdknag.NagPackSuppression{s}, jsii.Bool(false))
}
