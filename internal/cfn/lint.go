package cfn

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// LintInstall says how to get cfn-lint where it is missing.
const LintInstall = "pip install cfn-lint (or apt-get install cfn-lint); make test installs it"

// Lint runs cfn-lint, the CloudFormation linter (it checks templates against CloudFormation's
// own resource schemas), over template files. It fails when cfn-lint is missing or reports an
// error; warnings and informational findings come back in the report, one per line, for the
// caller to show.
func Lint(files ...string) (report string, err error) {
	if len(files) == 0 {
		return "", errors.New("cfn-lint: no templates to lint")
	}
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		return "", fmt.Errorf("cfn-lint is not installed (%s): %w", LintInstall, err)
	}
	args := append([]string{"--format", "parseable", "--non-zero-exit-code", "error", "--"}, files...)
	out, err := exec.Command(bin, args...).CombinedOutput()
	report = strings.TrimSpace(string(out))
	if err != nil {
		return report, fmt.Errorf("cfn-lint reports errors in the templates: %w\n%s", err, report)
	}
	return report, nil
}
