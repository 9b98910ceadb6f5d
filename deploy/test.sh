#!/usr/bin/env bash
# Sets up and runs every test: unit and handler tests in memory, and the
# integration tests that start real nginx, the real worker pool and SQLite.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ensure_packages python3 python3-pip
# The OpenAPI test checks the document with an independent validator.
python3 -c "import openapi_spec_validator" 2>/dev/null || python3 -m pip install -q openapi-spec-validator ||
    python3 -m pip install -q --break-system-packages openapi-spec-validator
command -v swift >/dev/null || die "swift is not on PATH"
cd "$REPO"
log "checking the format (.swift-format: 150 columns)"
swift format lint --strict --recursive Sources Tests Package.swift
log "building (debug, with tests)"
swift build --build-tests
export FTAPI_BIN="$REPO/.build/debug/ftapi"
log "running the tests"
swift test --skip-build "$@"
