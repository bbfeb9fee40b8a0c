#!/usr/bin/env bash
# Validates deploy/kubernetes/*.yaml against the Kubernetes OpenAPI schemas, offline, with the
# kubernetes-validate package (its schemas ship in the wheel). Optional: CI does not need Python.
#   python3 -m venv target/venv-k8s && target/venv-k8s/bin/pip install kubernetes-validate
#   scripts/validate-k8s.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VALIDATE=${VALIDATE:-target/venv-k8s/bin/kubernetes-validate}
VERSION=${K8S_VERSION:-1.30.0}
"$VALIDATE" --strict --kubernetes-version "$VERSION" deploy/kubernetes/*.yaml
