package stacks

import (
	"fmt"
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
	return &goLambdas{moduleRoot: moduleRoot, built: map[string]bool{}}
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
	g := &goLambdas{moduleRoot: moduleRoot, built: map[string]bool{}, prebuilt: make(chan struct{})}
	go func() {
		defer close(g.prebuilt)
		g.prebuildErr = gobuild.AllLambdas(moduleRoot)
	}()
	return g, func() { <-g.prebuilt }
}

type goLambdas struct {
	moduleRoot string
	mu         sync.Mutex
	built      map[string]bool // main packages whose cached binary is current (linked once per app)

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

// TryBundle copies the package's cached binary (gobuild.Cached) into outputDir/bootstrap, after
// making it current once per app: the prebuild linked it, or it is linked now, alone. Every
// environment deploys the same binary (reproducible builds make it identical to a rebuild). A
// build failure panics: jsii hands the panic back to the CDK as an error, which stops synth with
// the compiler's message instead of falling back to Docker, which this project does not use.
func (l *localBuild) TryBundle(outputDir *string, _ *awscdk.BundlingOptions) *bool {
	g := l.lambdas
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.link(l.pkg); err != nil {
		panic(fmt.Errorf("build %s: %w", l.pkg, err))
	}
	if err := gobuild.CopyCached(g.moduleRoot, l.pkg, filepath.Join(*outputDir, "bootstrap")); err != nil {
		panic(fmt.Errorf("build %s: %w", l.pkg, err))
	}
	return jsii.Bool(true)
}

// link makes the cached binary of pkg current, once per app. Called with g.mu held.
func (g *goLambdas) link(pkg string) error {
	if g.built[pkg] {
		return nil
	}
	if g.prebuilt != nil && gobuild.Prebuilt(pkg) {
		<-g.prebuilt
		if g.prebuildErr == nil {
			g.built[pkg] = true
			return nil
		}
	}
	if err := gobuild.Link(g.moduleRoot, pkg); err != nil {
		return err
	}
	g.built[pkg] = true
	return nil
}
