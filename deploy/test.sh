#!/usr/bin/env bash
# Sets up and runs every test: unit and handler tests in memory, a short run
# of each fuzz target (deploy/fuzz.sh), the store conformance suite, and the
# integration tests that start real nginx and the real worker pool, on both
# backends: SQLite, and a throwaway PostgreSQL server that this script starts
# for the run and removes at the end.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ensure_packages python3 python3-pip postgresql pgbouncer curl iproute2
# The OpenAPI test checks the document with an independent validator.
python3 -c "import openapi_spec_validator" 2>/dev/null || python3 -m pip install -q openapi-spec-validator ||
    python3 -m pip install -q --break-system-packages openapi-spec-validator
# The FineTune Lab test drives the platform's own SDK, unchanged; its client needs only requests.
python3 -c "import requests" 2>/dev/null || python3 -m pip install -q requests ||
    python3 -m pip install -q --break-system-packages requests
python3 -c "import importlib.metadata as m, sys; sys.exit(m.version('finetune-lab') != '0.6.0')" 2>/dev/null ||
    python3 -m pip install -q --no-deps finetune-lab==0.6.0 ||
    python3 -m pip install -q --no-deps --break-system-packages finetune-lab==0.6.0
command -v swift >/dev/null || die "swift is not on PATH"
cd "$REPO"
log "checking the format (.swift-format: 150 columns)"
swift format lint --strict --recursive Sources Tests Package.swift Fuzz/Sources Fuzz/Package.swift
log "building (debug, with tests)"
swift build --build-tests
export FTAPI_BIN="$REPO/.build/debug/ftapi"
log "fuzzing each parser briefly (deploy/fuzz.sh: its own build in .build-fuzz, ${FUZZ_SECONDS:-20} s per target)"
FUZZ_SECONDS=${FUZZ_SECONDS:-20} "$REPO/deploy/fuzz.sh"
PG_RUN=$(mktemp -d /tmp/ftapi-test-pg.XXXXXX)
trap 'stop_throwaway_pgbouncer; stop_throwaway_postgres' EXIT
start_throwaway_postgres "$PG_RUN"
export FTAPI_TEST_DATABASE_URL=$DATABASE_URL
unset DATABASE_URL
log "running the tests on SQLite (the store conformance suite on both backends)"
swift test --skip-build "$@"
log "deploy/run.sh: a taken port, nginx killed, the pool's master killed"
"$REPO/deploy/run-test.sh"
log "running the handler and integration tests on PostgreSQL"
FTAPI_TEST_BACKEND=postgres swift test --skip-build --filter 'APITests|IntegrationTests' "$@"
log "through pgbouncer in transaction mode, 2 server connections for every client: the PostgreSQL store, handler and integration tests"
# DATABASE_POOL_MODE=transaction; a store that kept anything in the server session (named statements, SET) fails here.
DATABASE_URL=$FTAPI_TEST_DATABASE_URL start_throwaway_pgbouncer "$(mktemp -d /tmp/ftapi-test-pgb.XXXXXX)" 2
FTAPI_TEST_BACKEND=postgres FTAPI_TEST_DATABASE_URL=$PGBOUNCER_URL FTAPI_TEST_DATABASE_POOL_MODE=transaction \
    swift test --skip-build --filter 'StorageTests|APITests|IntegrationTests' --skip 'PostgreSQLFaultTests' "$@"
log "restarting PostgreSQL under load behind pgbouncer"
"$PG_BIN/psql" "$FTAPI_TEST_DATABASE_URL" -qAtc CHECKPOINT
FTAPI_TEST_BACKEND=postgres FTAPI_TEST_DATABASE_URL=$PGBOUNCER_URL FTAPI_TEST_DATABASE_POOL_MODE=transaction FTAPI_TEST_PG_CTL="$PG_CTL" \
    swift test --skip-build --filter PostgreSQLFaultTests "$@"
stop_throwaway_pgbouncer
log "restarting PostgreSQL under load (alone: it takes the server away from every other test)"
# Written out first: the restart's own shutdown checkpoint then has only this test's writes to flush,
# not those of every schema the suites above made and dropped (tens of seconds on a busy disk,
# past pg_ctl's 30 s wait).
"$PG_BIN/psql" "$FTAPI_TEST_DATABASE_URL" -qAtc CHECKPOINT
FTAPI_TEST_BACKEND=postgres FTAPI_TEST_PG_CTL="$PG_CTL" swift test --skip-build --filter PostgreSQLFaultTests "$@"
log "the cluster: 2 pool hosts in network namespaces behind one nginx (rate limit and revocation across hosts; under mixed load a host SIGKILLed, a link cut, PostgreSQL restarted; files shared)"
"$REPO/deploy/cluster/test.sh"
log "schemathesis against the served OpenAPI document (real nginx and pool on SQLite)"
"$REPO/deploy/schemathesis.sh"
