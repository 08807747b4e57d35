# Every command a person or CI runs. CI (.ci/run) calls make targets and nothing else.

SHELL := /bin/bash
VENV  := $(CURDIR)/.venv
# cargo-lambda needs zig on PATH; sam needs cargo-lambda.
export PATH := $(VENV)/bin:$(PATH)
STAGE ?= dev
SEQUENCE ?= delete-new
FUNCTIONS := db-migration secret-seeder http-resource failure-responder db-user

.PHONY: help tools services lint fmt test test-unit build watch invoke clean demo up down status services-stop bench fuzz fuzz-ci rollback-demo

help:
	@echo "make up STAGE=dev    run the stage's custom resources locally (CloudFormation's lifecycle)"
	@echo "make down STAGE=dev  delete them in reverse order; make status STAGE=dev shows them"
	@echo "make rollback-demo   up, then a deploy that fails mid-update and rolls back (SEQUENCE=delete-new|update-back)"
	@echo "make test            build everything and run every test (installs tools, starts services)"
	@echo "make test-unit       unit tests and doctests only, with no service at all (the fast loop)"
	@echo "make fuzz            every fuzz target for FUZZ_SECONDS (60) each (nightly, cargo-fuzz); make fuzz-ci: 10 s each"
	@echo "make lint            rustfmt check, clippy -D warnings, template checks"
	@echo "make validate        template checks only (cfn-lint, sam validate --lint, checkov)"
	@echo "make deploy STAGE=…  sam build, then sam deploy --config-env STAGE (needs an AWS account)"
	@echo "make bench           cold start, memory, package size, migration overhead"
	@echo "make build        arm64 release packages with cargo lambda"
	@echo "make watch           cargo lambda watch (Lambda emulator); make invoke sends it an event"
	@echo "make tools           PyPI tools into .venv"

tools:
	@scripts/tools.sh

services:
	@scripts/services.sh

fmt:
	cargo fmt --all

lint: tools
	cargo fmt --all -- --check
	# fuzz/ is outside the workspace (it needs nightly to build); its formatting is checked here.
	cargo fmt --manifest-path fuzz/Cargo.toml -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	scripts/lint-templates.sh

# The tests run the function binaries as Lambda would, and build what they run themselves
# (harness::binary), so none is ever stale; building them first only shows the compile in one
# place, with the features the tests use.
test: tools services
	cargo build --workspace --bins --examples
	cargo test --workspace --no-fail-fast

# Every unit test and doctest, in a network namespace without PostgreSQL, MariaDB, moto or
# any host where the machine allows one (scripts/test-unit.sh).
test-unit:
	scripts/test-unit.sh

# The fuzz targets (fuzz/README.md), one at a time: `make fuzz` for FUZZ_SECONDS each (new
# inputs kept in fuzz/target/corpus), `make fuzz-ci` for FUZZ_CI_SECONDS (10) each from the
# stored corpus, as CI runs them. Installs nightly and cargo-fuzz when missing.
FUZZ_SECONDS ?= 60
FUZZ_CI_SECONDS ?= 10
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh run

fuzz-ci:
	FUZZ_CI_SECONDS=$(FUZZ_CI_SECONDS) scripts/fuzz.sh ci

build: tools
	cargo lambda build --release --arm64 $(addprefix --bin ,$(FUNCTIONS))

# The functions run with the region set and the metadata service off (nothing leaves this
# machine), and may answer the local ResponseURL listener `make invoke` starts. They serve the
# sample events' account (events/*.json); there is no CloudFormation to confirm requests with
# here, so confirmation is off (`make up` and the tests run with it on, against a stand-in).
INVOKE_RESPONSE_PORT ?= 9009
watch: tools
	AWS_REGION=$${AWS_REGION:-us-east-1} AWS_EC2_METADATA_DISABLED=true \
	STACKWRIGHT_RESPONSE_HOSTS=http://127.0.0.1:$(INVOKE_RESPONSE_PORT) \
	STACKWRIGHT_STACKS='arn:aws:cloudformation:*' STACKWRIGHT_CONFIRM=off cargo lambda watch

# With `make watch` running in another terminal: send a sample event to a function and print
# what CloudFormation would have received at the ResponseURL.
# Usage: make invoke [FUNCTION=http-resource] [EVENT=events/delete-of-failed-create.json]
FUNCTION ?= http-resource
EVENT ?= events/delete-of-failed-create.json
invoke: tools
	INVOKE_RESPONSE_PORT=$(INVOKE_RESPONSE_PORT) scripts/invoke.sh $(FUNCTION) $(EVENT)

clean:
	cargo clean
	rm -rf .aws-sam

# ---------------------------------------------------------------------------------------------
# A stage on this machine: the custom resources of template.yaml, driven through CloudFormation's
# lifecycle against moto, PostgreSQL and a local stand-in API (local/overrides.yaml).
STACKWRIGHT := target/debug/stackwright
local-build:
	cargo build -q -p stage-runner -p db-migration -p secret-seeder -p http-resource -p db-user

up: tools services local-build
	$(STACKWRIGHT) local up --stage $(STAGE)

down: tools local-build
	$(STACKWRIGHT) local down --stage $(STAGE)

status: local-build
	$(STACKWRIGHT) local status --stage $(STAGE)

# A deploy that fails mid-update (scripts/failing-update.py), to watch CloudFormation's
# rollback; SEQUENCE is what a replaced resource is sent (docs/local-stage.md).
rollback-demo: tools services local-build
	$(STACKWRIGHT) local up --stage $(STAGE)
	mkdir -p .local
	python3 scripts/failing-update.py template.yaml .local/failing-update.yaml
	-$(STACKWRIGHT) local up --stage $(STAGE) --template .local/failing-update.yaml --replaced-rollback $(SEQUENCE)
	$(STACKWRIGHT) local status --stage $(STAGE)

services-stop: local-build
	$(STACKWRIGHT) local stop-services

# Benchmarks: release binaries (x86_64), the arm64 packages sam build makes, and a release
# db-migration with the test-only migrations-folder feature in its own target dir.
bench: tools services sam-build
	cargo build --release --bins
	cargo build --release -p db-migration --features test-folders --target-dir target/bench
	cargo run --release -q -p bench

# Create → Update (replacement) → Delete of the example resource under the local harness.
demo:
	cargo build --examples -q
	cargo run -q -p harness --example lifecycle

# ---------------------------------------------------------------------------------------------
# Stacks and stages (template.yaml, samconfig.toml) and the pipeline (pipeline.yaml).
# Nothing here but `deploy`, `pipeline` and `pipeline-delete` needs an AWS account.
.PHONY: validate deploy sam-build pipeline pipeline-delete
STAGES := dev test stage prod

# Template checks: cfn-lint, sam validate --lint, checkov, and the templates' own promises.
validate: tools
	scripts/lint-templates.sh

# Usage: make deploy STAGE=dev|test|stage|prod (AWS_PROFILE/AWS_REGION pick the account)
deploy: tools
	@case " $(STAGES) " in *" $(STAGE) "*) ;; *) echo "STAGE must be one of: $(STAGES)" >&2; exit 1;; esac
	sam build
	sam deploy --config-env $(STAGE)

# The arm64 release build of the three functions, as the pipeline packages it (CI runs it).
sam-build: tools
	sam build

# Usage: make pipeline CONNECTION_ARN=arn:aws:codeconnections:... REPOSITORY=owner/name [BRANCH=main]
#        [PROD_ACTION_ROLE_ARN=... PROD_CFN_ROLE_ARN=...]   (prod in another account)
PIPELINE_STACK ?= stackwright-pipeline
BRANCH ?= main
pipeline: tools
	@test -n "$(CONNECTION_ARN)" -a -n "$(REPOSITORY)" || { echo "usage: make pipeline CONNECTION_ARN=<connection arn> REPOSITORY=<owner/name> [BRANCH=main] [PROD_ACTION_ROLE_ARN=<arn> PROD_CFN_ROLE_ARN=<arn>]" >&2; exit 1; }
	sam deploy --config-env pipeline --stack-name $(PIPELINE_STACK) --parameter-overrides \
		ConnectionArn=$(CONNECTION_ARN) FullRepositoryId=$(REPOSITORY) BranchName=$(BRANCH) \
		$(if $(PROD_ACTION_ROLE_ARN),ProdActionRoleArn=$(PROD_ACTION_ROLE_ARN)) \
		$(if $(PROD_CFN_ROLE_ARN),ProdCloudFormationRoleArn=$(PROD_CFN_ROLE_ARN))

# Empties the artifact bucket (every version), then deletes the pipeline stack. The stage
# stacks stay.
pipeline-delete: tools
	python scripts/pipeline-delete.py $(PIPELINE_STACK)
