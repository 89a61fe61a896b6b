#!/usr/bin/env bash
# The one test command: installs everything the tests need, then runs lint, types and the whole suite.
#   - Debian packages: Kannel (bearerbox, smsbox) and kannel-extras (fakesmsc) for the real-gateway tests;
#     postgresql for the PostgreSQL ledger (each pytest session starts one throwaway server as `postgres`
#     on 127.0.0.1; every ledger, engine, receiver and proof test runs on SQLite and on PostgreSQL);
#   - a virtual environment in .venv with smsrun and its `test` extra (pytest, hypothesis, mypy, ruff,
#     the official `ovh` package to check request signatures (uvicorn/starlette, runtime dependencies of
#     `smsrun receive`, also serve the loopback providers),
#     openapi-core to check requests against Twilio's OpenAPI spec, smpp34 for the SMSC simulator);
#   - ajv (npm, pinned in tests/tools/ajv/package-lock.json) to compile the schemas in strict mode.
# Extra arguments go to pytest, e.g. `bash tests/install-and-run.sh -k ledger`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash .ci/install-kannel.sh
# the PostgreSQL ledger's tests start a throwaway server from these binaries (tests/support/pg.py)
bash .ci/install-postgresql.sh

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

# test tools outside Python: ajv checks the JSON Schemas under strict mode (tests/test_schemas_ajv.py)
if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; }
fi
if command -v npm >/dev/null 2>&1; then
  (cd tests/tools/ajv && npm ci --silent --no-audit --no-fund)
else
  echo "npm not found: the ajv schema test will be skipped (it fails under CI=true)"
fi

echo "== ruff"
.venv/bin/ruff check runner tests bench
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
# two workers (pytest-xdist): the suite mostly waits (leases expiring, processes killed, Kannel queues), so
# two halve its wall time (20 -> 11 minutes) on two cores; each worker starts its own PostgreSQL and Kannel
.venv/bin/pytest -q -n 2 "$@"
