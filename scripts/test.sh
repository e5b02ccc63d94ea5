#!/usr/bin/env bash
# `npm test`: installs what is missing (idempotent), type-checks and compiles,
# then runs every suite with node's test runner: unit, end-to-end (real Envoy,
# real sidecar, real MCP peers) and the conformance comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
set -a; source .tools/paths.env; set +a
export ENVOY_BIN OPA_BIN NODE24_BIN RATELIMIT_BIN REDIS_SERVER_BIN JAEGER_BIN HELM_BIN KUBECONFORM_BIN
# One runner, one summary line. E2E files each start their own gateway on free ports;
# run files one at a time so that load from one does not skew another's timing assertions.
exec node --import tsx --test --test-concurrency=1 --test-reporter=spec \
  test/unit/*.test.ts test/fuzz/*.test.ts test/e2e/*.test.ts
