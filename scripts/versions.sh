# Pinned versions of the tools the project installs (sourced by bootstrap.sh).
ENVOY_VERSION=1.40.0
OPA_VERSION=v1.22.0
NODE24_VERSION=24.9.0
# envoyproxy/ratelimit has no tagged release the Go proxy serves past v1.4.0: a pseudo-version of main.
RATELIMIT_VERSION=v1.4.1-0.20260122083618-3fb702589d36
# redis-server from Debian bookworm (apt-get download + dpkg -x; no root-installed state).
REDIS_DEB_VERSION=5:7.0.15-1~deb12u10
# Jaeger v2 (an OpenTelemetry Collector with Jaeger's storage and query): the OTLP back end of the tracing tests.
JAEGER_VERSION=v1.75.0
# Manifest checks (test/unit/manifests.test.ts): helm lint/template and kubeconform.
HELM_VERSION=v4.3.2
KUBECONFORM_VERSION=v0.8.0
# chromium from Debian bookworm-security (headless browser of the approval-page tests).
CHROMIUM_DEB_VERSION=156.0.8078.114-1~deb12u1
