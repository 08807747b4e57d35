# Every command a person or CI runs. CI calls `make lint` and `make test` and nothing else.

SHELL := /bin/bash
VENV  := $(CURDIR)/.venv
# cargo-lambda needs zig on PATH; sam needs cargo-lambda.
export PATH := $(VENV)/bin:$(PATH)
STAGE ?= dev
FUNCTIONS := db-migration secret-seeder http-resource

.PHONY: help tools services lint fmt test build watch invoke clean demo

help:
	@echo "make test         build everything and run every test (installs tools, starts services)"
	@echo "make lint         rustfmt check, clippy -D warnings"
	@echo "make build        arm64 release packages with cargo lambda"
	@echo "make watch        cargo lambda watch (local Lambda emulator)"
	@echo "make invoke       invoke a function under cargo lambda watch with a sample event"
	@echo "make tools        PyPI tools into .venv"

tools:
	@scripts/tools.sh

services:
	@scripts/services.sh

fmt:
	cargo fmt --all

lint: tools
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# The function binaries are built first: the protocol tests run the example binary, and
# each function's own tests run its binary, as Lambda would.
test: tools services
	cargo build --workspace --bins --examples
	cargo test --workspace --no-fail-fast

build: tools
	cargo lambda build --release --arm64 $(addprefix --bin ,$(FUNCTIONS))

watch: tools
	cargo lambda watch

# Usage: make invoke FUNCTION=example-resource EVENT=events/example-create.json (with `make watch` running)
FUNCTION ?= example-resource
EVENT ?= events/example-create.json
invoke: tools
	cargo lambda invoke $(FUNCTION) --data-file $(EVENT)

clean:
	cargo clean
	rm -rf .aws-sam

# Create → Update (replacement) → Delete of the example resource under the local harness.
demo:
	cargo build --examples -q
	cargo run -q -p harness --example lifecycle
