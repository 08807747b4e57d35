#!/usr/bin/env bash
# `make test-unit`: every unit test and doctest of the workspace, with no service at all, for
# the fast loop. The integration tests (each package's tests/ folder and the stackwright-tests
# package) need PostgreSQL, MariaDB, moto or npm, and are left to `make test`.
#
# Where it can (as root, or with unprivileged user namespaces), it runs the tests in a network
# namespace of their own that has nothing but a loopback interface: the machine's PostgreSQL
# (5432) and MariaDB (3306) are unreachable, as is every other host, and moto cannot be
# started. A unit test that needs a service then fails here, instead of passing because the
# machine happens to run one.
set -euo pipefail
cd "$(dirname "$0")/.."

tests() {
  cargo test --workspace --lib --bins
  cargo test --workspace --doc
}

if [[ "${1:-}" == "--isolated" ]]; then
  # Loopback only: in-process test servers bind 127.0.0.1; nothing else answers.
  ip link set lo up
  # Nothing to download (cargo would fail without a network anyway); no moto; no instance
  # metadata service for the AWS SDK to look for.
  export CARGO_NET_OFFLINE=true MOTO_SERVER=/bin/false AWS_EC2_METADATA_DISABLED=true
  if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null || (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null; then
    echo "test-unit: PostgreSQL or MariaDB is reachable inside the namespace" >&2
    exit 1
  fi
  echo "test-unit: in a network namespace of its own: no PostgreSQL, MariaDB, moto or network"
  tests
  exit
fi

if command -v ip >/dev/null; then
  for isolate in "unshare --net" "unshare --map-root-user --net"; do
    if $isolate true 2>/dev/null; then
      exec $isolate "$0" --isolated
    fi
  done
fi
echo "test-unit: no network namespace can be made here (it needs root or user namespaces);" \
  "running with the machine's network" >&2
tests
