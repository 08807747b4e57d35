#!/usr/bin/env bash
# Gives a fresh Debian or Ubuntu build machine (the pipeline's CodeBuild image,
# aws/codebuild/standard:7.0) what this project's development machines have, so that the
# commands CI runs work unchanged: Rust through rustup (the version in rust-toolchain.toml),
# python3-venv, and PostgreSQL and MariaDB set up the way the tests expect them (trust/empty
# password on 127.0.0.1, users `postgres` and `root`). Then `make services` starts them.
#
# Run as root, once per machine: buildspec.yml calls it in its install phase. It opens the
# database servers to password-less local connections: use it on build machines only.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    build-essential pkg-config ca-certificates curl git python3-venv \
    postgresql mariadb-server >/dev/null

# PostgreSQL: trust on loopback (the tests connect as `postgres` without a password).
for hba in /etc/postgresql/*/main/pg_hba.conf; do
    cat >"$hba" <<'HBA'
local all all trust
host all all 127.0.0.1/32 trust
host all all ::1/128 trust
HBA
    version=$(basename "$(dirname "$(dirname "$hba")")")
    # apt may have started the cluster already: make it read the new rules.
    pg_ctlcluster "$version" main reload 2>/dev/null || true
done

# MariaDB: root with an empty password over TCP on 127.0.0.1 (the packaged root uses the
# unix socket only). Started here once to change it; `make services` starts it for the tests.
install -d -o mysql -g mysql /run/mysqld
if ! mysqladmin -uroot ping >/dev/null 2>&1; then
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
    for _ in $(seq 1 60); do mysqladmin -uroot ping >/dev/null 2>&1 && break; sleep 0.5; done
fi
mysql -uroot <<'SQL'
ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('');
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('');
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL

# Rust: rustup, then the toolchain rust-toolchain.toml pins (with rustfmt and clippy).
if ! command -v rustup >/dev/null 2>&1; then
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain none
fi
# shellcheck disable=SC1091
. "$HOME/.cargo/env"
rustup show active-toolchain || rustup toolchain install
echo "ci-install: $(rustc --version), $(psql --version), $(mariadb --version | cut -d, -f1)"
