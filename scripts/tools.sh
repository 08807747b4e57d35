#!/usr/bin/env bash
# Installs the PyPI tools into the project's .venv, once per version of requirements-tools.txt,
# and the arm64 Rust target the Lambda packages are built for.
set -euo pipefail
cd "$(dirname "$0")/.."

# `sam build` runs one cargo-lambda a function, in parallel; each installs a missing target by
# itself, and the racing rustup runs fail ("can't find crate for `core`"). Install it once here.
target=aarch64-unknown-linux-gnu
if ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target"
fi

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
