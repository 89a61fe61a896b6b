#!/bin/bash
# Install Debian's PostgreSQL server binaries (initdb, pg_ctl, postgres) for the PostgreSQL ledger tests.
# Idempotent: does nothing but check when they are there. The tests start their own throwaway server
# (tests/support/pg.py): as the `postgres` user, in a temporary data folder, on a free 127.0.0.1 port.
# The packaged cluster service is stopped and disabled (it would hold port 5432 for nothing).
# Needs root; without root it only reports (the PostgreSQL tests then skip, or fail under CI=true).
set -euo pipefail

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "install-postgresql: PostgreSQL is missing and this is not root; its tests will be skipped" >&2
        exit 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }
fi

if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    if [ -x /etc/init.d/postgresql ]; then
        /etc/init.d/postgresql stop >/dev/null 2>&1 || true
        update-rc.d postgresql disable >/dev/null 2>&1 || true
    fi
fi
ls -d /usr/lib/postgresql/*/bin | tail -1
