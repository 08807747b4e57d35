#!/usr/bin/env bash
# Installs the PyPI tools into the project's .venv, once per version of requirements-tools.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
stamp="$venv/.tools-$(sha256sum requirements-tools.txt | cut -c1-16)"
if [[ -f "$stamp" ]]; then
    exit 0
fi
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r requirements-tools.txt
rm -f "$venv"/.tools-*
touch "$stamp"
echo "tools installed in $venv: $("$venv/bin/cargo-lambda" lambda --version 2>/dev/null | head -1), sam $("$venv/bin/sam" --version | awk '{print $NF}'), cfn-lint $("$venv/bin/cfn-lint" --version | awk '{print $NF}')"
