# The user interface of the project. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ENV ?=
FUZZTIME ?= 30s
CDK := node_modules/.bin/cdk
GO ?= go
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
# One build configuration for everything the go command builds here: the CDK app (cdk.json's
# command), the test binaries, vet, claimsctl and the Lambdas built for this machine all compile
# with -trimpath and without cgo (nothing here needs it), so each package, aws-cdk-go's above
# all, is compiled once and shared through Go's build cache. With two configurations, an empty
# cache compiles the whole dependency tree twice.
# The race detector needs cgo: a developer's GOFLAGS=-race keeps it (and pays for a second
# configuration). The app and claimsctl are built without the developer's GOFLAGS, as cdk.json's
# command builds the app.
export CGO_ENABLED := $(if $(filter -race,$(GOFLAGS)),1,0)
export GOFLAGS := -trimpath $(GOFLAGS)
# Synth and tests never need AWS: keep a developer's credentials and profile out of them.
NO_AWS := env -u AWS_PROFILE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN
CDK_ENV_FLAG = $(if $(ENV),-c environment=$(ENV),)

.PHONY: help deps postgres cfn-lint synth bench-synth test e2e local vet fmt bench fuzz snapshots diagram diff diff-offline deploy claimsctl clean

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-12s %s\n", $$1, $$2}'
	@echo "  ENV=<name> selects one environment for synth, diff and deploy (deploy and diff require it)."

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# Stamps: each of these runs again only when its inputs change, not on every make call.
bin/.go-modules: go.mod go.sum
	$(GO) mod download
	@mkdir -p bin && touch $@

deps: node_modules/.package-lock.json bin/.go-modules postgres ## Install the pinned CDK CLI and cognito-local (npm ci), Go modules, PostgreSQL for the rotation tests

postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then echo "installing PostgreSQL (Debian package postgresql) for the rotation tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "the rotation tests need PostgreSQL's server: sudo apt-get install postgresql"; exit 2; fi; }

# cdk.json's app command builds bin/app (Go decides whether anything changed) and runs it.
# --no-validation skips the CDK's built-in CloudFormation rules, about half of the app's synth
# time: make test lints every template with cfn-lint (CloudFormation's own schemas, and more
# rules), and cdk diff and cdk deploy keep the CDK's check.
synth: node_modules/.package-lock.json ## Synthesize every environment (or ENV=name) into cdk.out, with no AWS credentials
	$(NO_AWS) $(CDK) synth --quiet --no-validation $(CDK_ENV_FLAG)
	@echo "Templates in cdk.out/:" && ls cdk.out/*.template.json

# cfn-lint checks the synthesized templates in the stacks tests. Debian 12 does not package it,
# and its Python refuses system-wide pip installs, so where it is missing it goes into a venv
# under bin/ that the test run puts on PATH.
CFN_LINT_VERSION := 1.51.0
CFN_LINT_VENV := bin/cfn-lint-venv
export PATH := $(CURDIR)/$(CFN_LINT_VENV)/bin:$(PATH)
cfn-lint:
	@command -v cfn-lint >/dev/null 2>&1 || { echo "installing cfn-lint $(CFN_LINT_VERSION) into $(CFN_LINT_VENV) for the template tests"; \
	  python3 -m venv $(CFN_LINT_VENV) && $(CFN_LINT_VENV)/bin/pip install --quiet 'cfn-lint==$(CFN_LINT_VERSION)'; } || true
	@command -v cfn-lint >/dev/null 2>&1 || { echo "the template tests need cfn-lint: pip install 'cfn-lint==$(CFN_LINT_VERSION)' (Debian: apt-get install python3-venv, then make test again)"; exit 2; }

test: deps vet cfn-lint ## Run every test (CDK assertions, unit, fuzz seeds, emulator integration, cfn-lint over every template, e2e)
	@# The CDK app is linked once here (the same binary as make synth's) instead of in each
	@# test package that runs it.
	GOFLAGS= CGO_ENABLED=0 $(GO) build -trimpath -o bin/app .
	@# The arm64 Lambdas, linked once here: test packages that bundle them run side by side, and
	@# on an empty build cache each would compile the same arm64 dependencies itself.
	$(GO) build -o bin/buildlambdas ./cmd/buildlambdas && bin/buildlambdas
	$(NO_AWS) HASURAAUTH_TEST_APP=$(CURDIR)/bin/app $(GO) test -count=1 -timeout 30m ./...

e2e: deps ## The end-to-end login and machine tokens: claimsctl -> cognito-local (and the token endpoint stand-in) -> pre-token Lambda -> token verified as Hasura would
	$(NO_AWS) $(GO) test -count=1 -v -run . ./e2e/

local: deps ## Run the whole auth chain locally (cognito-local, moto, the real Lambda) until Ctrl-C
	$(GO) build -o bin/localauth ./cmd/localauth
	$(NO_AWS) bin/localauth

vet: ## go vet and the gofmt check
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

fmt: ## gofmt every Go file
	gofmt -w $$(git ls-files '*.go')

bench: deps ## Benchmarks: pre-token handler (people's and machines' tokens) vs bare GetItem, cold start, binary size; claimsctl verify/rotate at 10,000 items
	$(NO_AWS) $(GO) test -count=1 -run '^$$' -bench 'Warm(Handler|ClientCredentials)VsGetItem' -benchtime 2000x ./lambda/pretoken/
	$(NO_AWS) $(GO) test -count=1 -run '^$$' -bench 'ColdStart' -benchtime 40x ./lambda/pretoken/
	$(NO_AWS) $(GO) test -count=1 -run '^$$' -bench 'BinarySize' -benchtime 1x ./lambda/pretoken/
	$(NO_AWS) $(GO) test -count=1 -run '^$$' -bench 'ClaimsAt10000Items' -benchtime 1x ./cmd/claimsctl/

bench-synth: node_modules/.package-lock.json ## Warm make synth against an empty Go CDK app through the same CLI: medians and ratio (BENCH_SYNTH_RUNS, default 5)
	$(NO_AWS) $(GO) test -count=1 -timeout 60m -run '^$$' -bench 'SynthAgainstEmptyApp' -benchtime 1x ./internal/synth/

fuzz: ## Fuzz each target for FUZZTIME (default 30s); new failures land in testdata/fuzz
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/claims/
	$(GO) test -run '^$$' -fuzz '^FuzzHandleEvent$$' -fuzztime $(FUZZTIME) ./lambda/pretoken/
	$(GO) test -run '^$$' -fuzz '^FuzzStoredClaims$$' -fuzztime $(FUZZTIME) ./lambda/pretoken/

diff: deps ## cdk diff ENV=name against the deployed stacks (needs AWS credentials)
	@test -n "$(ENV)" || { echo "usage: make diff ENV=<environment>"; exit 2; }
	$(CDK) diff $(CDK_ENV_FLAG) '*-$(ENV)-*'

snapshots: deps ## Refresh the committed template snapshots (testdata/snapshots) after an intended change
	UPDATE_SNAPSHOTS=1 $(NO_AWS) $(GO) test -count=1 -run '^TestTemplateSnapshots$$' ./stacks/
	@git status --short testdata/snapshots

diagram: deps ## Render each environment's resources and connections to docs/<env>.svg and .png (graphviz)
	@command -v dot >/dev/null 2>&1 || { echo "installing graphviz (Debian package)"; apt-get update -qq && apt-get install -y -qq graphviz >/dev/null; } || \
	  { echo "graphviz is needed: apt-get install graphviz"; exit 2; }
	$(NO_AWS) $(GO) run ./cmd/diagram

diff-offline: deps ## Offline diff of BASE (default HEAD) against the working tree, per environment and stack; no credentials
	$(NO_AWS) $(GO) run ./cmd/cfndiff --base $(or $(BASE),HEAD)

deploy: deps ## cdk deploy ENV=name (needs AWS credentials and a bootstrapped account)
	@test -n "$(ENV)" || { echo "usage: make deploy ENV=<environment>"; exit 2; }
	$(CDK) deploy $(CDK_ENV_FLAG) --require-approval broadening '*-$(ENV)-*'

claimsctl: ## Build the operator CLI as one static binary: bin/claimsctl
	GOFLAGS= CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o bin/claimsctl ./cmd/claimsctl
	@echo "bin/claimsctl built; run bin/claimsctl --help"

clean: ## Remove build output
	rm -rf cdk.out bin
