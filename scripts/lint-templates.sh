#!/usr/bin/env bash
# Template checks, run by `make lint` and `make validate`. Offline: no AWS account is used.
#   cfn-lint                 template.yaml and pipeline.yaml, with our own rules (lint-rules/rules:
#                            the trust boundaries of the stages' deploy roles and permissions
#                            boundaries, E9101-E9106; custom resources: ServiceTimeout, its room
#                            for Lambda's retries and the failure destination, E9107-E9109), and
#                            our rules again on the CloudFormation the SAM transform makes of
#                            template.yaml (what CloudFormation is given)
#   lint-rules/test-rules.py each of our rules fires on its bad fixture (lint-rules/fixtures/)
#                            and stays silent on template.yaml and pipeline.yaml
#   sam validate --lint      template.yaml (SAM's own validation, then cfn-lint)
#   checkov                  template.yaml as written, the CloudFormation the SAM transform makes
#                            of it (so the generated functions, aliases and EventInvokeConfig are
#                            checked too), and pipeline.yaml; every suppression needs a reason
#                            and must still be needed
#   check-templates.py       the promises no linter knows: ServiceTokens, retry bounds, log groups,
#                            DependsOn, what each stage keeps on delete,
#                            samconfig.toml = pipeline/config/*.json;
#                            each stage's values come from the stage runner's intrinsic resolver
#                            (`stackwright template resolve`, built and run with `cargo run`)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
# sam validate wants a region; no credentials are needed, and none are looked for.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export SAM_CLI_TELEMETRY=0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== cfn-lint template.yaml pipeline.yaml (with lint-rules/rules)"
# The templates before --append-rules: it takes every path after it as a rules directory.
cfn-lint template.yaml pipeline.yaml --append-rules lint-rules/rules
echo "cfn-lint: no findings"

echo "== our cfn-lint rules can fail"
python lint-rules/test-rules.py

echo "== sam validate --lint"
sam validate --lint --template-file template.yaml

echo "== SAM transform (offline) for checkov and our rules"
mkdir -p "$work/transformed"
python scripts/sam-translate.py template.yaml "$work/transformed/template.transformed.yaml" Stage=dev

echo "== cfn-lint the transformed template (with lint-rules/rules)"
cfn-lint "$work/transformed/template.transformed.yaml" --append-rules lint-rules/rules
echo "cfn-lint: no findings"

echo "== checkov"
python scripts/checkov-templates.py template.yaml "$work/transformed/template.transformed.yaml" pipeline.yaml

echo "== template promises"
python scripts/check-templates.py
