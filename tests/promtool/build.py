"""Where Prometheus's promtool (and the Prometheus Operator's CRDs) are, and building
them (build.sh) when missing.

tests/setup runs ``python -m tests.promtool.build`` (build.sh, once per version, into
the same cache as the control plane); the tests that check the metrics exposition and
the chart's alert rules ask ``require()`` for the binary.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests import binaries
from tests.kubecluster import build as kube_build

SCRIPT = Path(__file__).with_name("build.sh")
VERSION = os.environ.get("SYNCER_PROMTOOL_VERSION", "0.316.0")
"""The Go module version: Prometheus 3.16.0."""
OPERATOR = os.environ.get("SYNCER_PROMETHEUS_OPERATOR_VERSION", "0.85.0")
CRDS = ("monitoring.coreos.com_servicemonitors.yaml", "monitoring.coreos.com_prometheusrules.yaml")


def installed() -> Path | None:
    """The promtool binary of VERSION, or None when it (or a CRD) is not there yet."""
    path = kube_build.cache_dir() / f"promtool-v{VERSION}" / "bin" / "promtool"
    crds = crd_files()
    return path if os.access(path, os.X_OK) and all(f.is_file() for f in crds) else None


def crd_files() -> list[Path]:
    """The ServiceMonitor and PrometheusRule CRDs of the Prometheus Operator."""
    folder = kube_build.cache_dir() / f"prometheus-operator-v{OPERATOR}" / "crds"
    return [folder / name for name in CRDS]


def require() -> str:
    """The binary's path; fail in CI, skip elsewhere, when tests/setup has not built it."""
    path = installed()
    if path is None:
        binaries.missing("promtool (run tests/setup: it builds promtool with Go)")
    return str(path)


def main() -> int:
    if installed() is not None:
        print(f"promtool: v{VERSION} cached in {installed()}")
        return 0
    print(f"promtool: building v{VERSION} (once; cached in {kube_build.cache_dir()})", flush=True)
    return subprocess.run(["bash", str(SCRIPT)], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
