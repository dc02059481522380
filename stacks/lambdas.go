package stacks

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/jsii-runtime-go"

	"github.com/hasura-auth-cdk/hasuraauth/constructs/golambda"
	"github.com/hasura-auth-cdk/hasuraauth/internal/gobuild"
)

// GoLambdas builds the Lambdas of the module at moduleRoot (where go.mod is) during synth,
// locally (no Docker), each main package once per app: every environment deploys the same
// binary. Give every environment of an app the same one.
func GoLambdas(moduleRoot string) golambda.Builder {
	return &goLambdas{moduleRoot: moduleRoot, built: map[string]string{}}
}

// PrebuiltGoLambdas is GoLambdas that starts linking every main package under lambda/ now, in
// one go command in the background (gobuild.AllLambdas), so that the go command's work overlaps
// Node starting and the construct tree being built, on another core, instead of running inside
// each function's bundling while Node waits. Call it before the app's first jsii call, and wait
// before the program ends: wait returns once the go command has exited (at once, normally, as
// bundling waited for it already). After a synth that bundled nothing (a bad cdk.json,
// --exclusively on a stack without Lambdas) wait lets the go command finish rather than kill
// it, which would orphan its compilers and leave its work directory behind; what it compiled
// is in the build cache for the next synth.
// A failed prebuild is not an error: each package is then built alone, as GoLambdas does,
// which names the package that does not compile.
func PrebuiltGoLambdas(moduleRoot string) (b golambda.Builder, wait func()) {
	g := &goLambdas{moduleRoot: moduleRoot, built: map[string]string{}, prebuilt: make(chan struct{})}
	go func() {
		defer close(g.prebuilt)
		g.prebuildErr = gobuild.AllLambdas(moduleRoot)
	}()
	return g, func() { <-g.prebuilt }
}

type goLambdas struct {
	moduleRoot string
	mu         sync.Mutex
	built      map[string]string // main package -> the first bootstrap built for it

	prebuilt    chan struct{} // closed when PrebuiltGoLambdas's go command ended; nil without one
	prebuildErr error         // its error, readable once prebuilt is closed
}

func (g *goLambdas) Code(pkg string) awslambda.Code {
	return awslambda.Code_FromAsset(jsii.String(filepath.Join(g.moduleRoot, pkg)), &awss3assets.AssetOptions{
		// The binary also depends on internal/ and go.mod, outside the package directory:
		// hash what was built, which reproducible builds make stable.
		AssetHashType: awscdk.AssetHashType_OUTPUT,
		Bundling: &awscdk.BundlingOptions{
			Image: awscdk.DockerImage_FromRegistry(jsii.String("golang:not-used")),
			// A pointer: jsii cannot call back into an unaddressable value.
			Local: &localBuild{lambdas: g, pkg: pkg},
		},
	})
}

// localBuild implements awscdk.ILocalBundling for one package.
type localBuild struct {
	lambdas *goLambdas
	pkg     string
}

// TryBundle builds the package into outputDir/bootstrap, or copies the binary built for an
// earlier environment (reproducible builds make it identical to a rebuild). A build failure
// panics: jsii hands the panic back to the CDK as an error, which stops synth with the
// compiler's message instead of falling back to Docker, which this project does not use.
func (l *localBuild) TryBundle(outputDir *string, _ *awscdk.BundlingOptions) *bool {
	g := l.lambdas
	out := filepath.Join(*outputDir, "bootstrap")
	g.mu.Lock()
	defer g.mu.Unlock()
	if prev, ok := g.built[l.pkg]; ok {
		if err := copyFile(prev, out); err != nil {
			panic(fmt.Errorf("reuse the %s binary: %w", l.pkg, err))
		}
		return jsii.Bool(true)
	}
	if g.prebuilt != nil && gobuild.Prebuilt(l.pkg) {
		<-g.prebuilt
		if g.prebuildErr == nil {
			if err := gobuild.CopyCached(g.moduleRoot, l.pkg, out); err != nil {
				panic(fmt.Errorf("build %s: %w", l.pkg, err))
			}
			g.built[l.pkg] = out
			return jsii.Bool(true)
		}
	}
	if err := gobuild.Lambda(g.moduleRoot, l.pkg, out); err != nil {
		panic(fmt.Errorf("build %s: %w", l.pkg, err))
	}
	g.built[l.pkg] = out
	return jsii.Bool(true)
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}
