# Pinned versions of the tools the project installs (sourced by bootstrap.sh).
ENVOY_VERSION=1.40.0
OPA_VERSION=v1.22.0
NODE24_VERSION=24.9.0
# Jaeger v2 (an OpenTelemetry Collector with Jaeger's storage and query): the OTLP back end of the tracing tests.
JAEGER_VERSION=v1.75.0
