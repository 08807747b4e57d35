#!/usr/bin/env bash
# Makes sure the database servers the tests use are up on loopback: PostgreSQL on
# 127.0.0.1:5432 and MariaDB on 127.0.0.1:3306. moto and the HTTP servers are started by the
# tests themselves, on free ports.
set -euo pipefail

wait_for() { # name, command...
    local name=$1; shift
    for _ in $(seq 1 60); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.5
    done
    echo "error: $name did not come up" >&2
    return 1
}

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    if command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
        echo "starting PostgreSQL"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
        wait_for PostgreSQL pg_isready -q -h 127.0.0.1 -p 5432
    else
        echo "error: no PostgreSQL on 127.0.0.1:5432 and no cluster to start; install PostgreSQL or set STACKWRIGHT_PG_URL" >&2
        exit 1
    fi
fi

if ! mysqladmin -h 127.0.0.1 -P 3306 -uroot ping >/dev/null 2>&1; then
    if [[ -x /usr/sbin/mariadbd ]]; then
        echo "starting MariaDB"
        start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
        wait_for MariaDB mysqladmin -h 127.0.0.1 -P 3306 -uroot ping
    else
        echo "error: no MariaDB/MySQL on 127.0.0.1:3306 and no mariadbd to start" >&2
        exit 1
    fi
fi
echo "services: PostgreSQL and MariaDB are up"
