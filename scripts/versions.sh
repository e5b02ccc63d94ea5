# Pinned versions of the tools the project installs (sourced by bootstrap.sh).
ENVOY_VERSION=1.40.0
OPA_VERSION=v1.22.0
NODE24_VERSION=24.9.0
# Manifest checks (test/unit/manifests.test.ts): helm lint/template and kubeconform.
HELM_VERSION=v4.3.2
KUBECONFORM_VERSION=v0.8.0
