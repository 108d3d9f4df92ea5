"""``syncer run``'s /metrics, scraped live after a rollout, passes ``promtool check metrics``
(Prometheus's own linter of the exposition) and reports what happened."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from prometheus_client.openmetrics import parser as om_parser

from tests.controller.test_cli_live import CONFIGMAP, DEPLOYMENT, write_config
from tests.promtool import build as promtool_build
from tests.server.test_metrics_exposition import OPENMETRICS, parse
from tests.waiting import eventually

# A real cluster and a real syncer (or helm install twice): more than the default on a busy machine.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _value(families: dict[str, dict], sample: str, **labels: str) -> float | None:
    """The value of one sample (by its own name, e.g. ``x_total``), None when absent."""
    found = [
        s[2] for f in families.values() for s in f["samples"] if s[0] == sample and s[1] == labels
    ]
    return found[0] if found else None


def test_a_live_scrape_passes_promtool_and_tells_what_happened(
    tmp_path: Path, git_http: Any, kube_clusters: Any
) -> None:
    promtool = promtool_build.require()
    (a,) = kube_clusters(1, names=["a"])
    repo = git_http.create_repo(
        "deploy", {"site/cm.yaml": CONFIGMAP % "one", "site/deploy.yaml": DEPLOYMENT % "web:1"}
    )
    config = write_config(tmp_path, url=repo.url, kubeconfig=a.kubeconfig, clusters=["a"])
    data = yaml.safe_load(config.read_text())
    data["server"] = {"listen": "127.0.0.1:0", "webhookListen": "127.0.0.1:0"}
    config.write_text(yaml.safe_dump(data))
    log = tmp_path / "run.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncer", "run", "-c", str(config), "--grace=5"],
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    try:
        assert eventually(lambda: "HTTP on http://" in log.read_text()), log.read_text()
        url = re.search(r"HTTP on (http://\S+)", log.read_text())
        assert url is not None
        metrics_url = f"{url.group(1)}/metrics"

        def scrape() -> dict[str, dict]:
            return parse(requests.get(metrics_url, timeout=10).text)

        healthy = {"app": "site", "health_status": "Healthy", "sync_status": "Synced"}
        assert eventually(
            lambda: _value(scrape(), "syncer_app_info", **healthy) == 1, timeout=90
        ), log.read_text()
        started = time.perf_counter()
        text = requests.get(metrics_url, timeout=10)
        took = time.perf_counter() - started
        openmetrics = requests.get(metrics_url, headers={"Accept": OPENMETRICS}, timeout=10)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert text.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    series = sum(1 for line in text.text.splitlines() if line and not line.startswith("#"))
    print(f"live /metrics: {len(text.content)} bytes, {series} series, {took * 1000:.1f} ms")

    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text.text, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout + checked.stderr == ""  # not one lint finding

    # OpenMetrics, strictly parsed, carries the same families.
    assert openmetrics.headers["Content-Type"].startswith("application/openmetrics-text")
    om_families = {f.name for f in om_parser.text_string_to_metric_families(openmetrics.text)}
    families = parse(text.text)
    assert set(families) == om_families

    # What the scrape says happened: one rollout to a, healthy; this replica acts
    # without leader election, so it does not hold a Lease.
    rollout = {"app": "site", "cluster": "a", "stage": ""}
    assert _value(families, "syncer_rollouts_total", **rollout, result="healthy") == 1
    assert _value(families, "syncer_rollouts_total", **rollout, result="rolled-back") == 0
    assert (_value(families, "syncer_syncs_total", app="site", result="ok") or 0) >= 1
    assert _value(families, "syncer_applies_total", app="site", cluster="a", result="ok") == 1
    assert _value(families, "syncer_leader") == 0
    assert (_value(families, "syncer_reconcile_duration_seconds_count", app="site") or 0) >= 1
    kinds = {s[1]["kind"] for s in families["syncer_git_requests"]["samples"] if s[2] > 0}
    assert kinds >= {"ls-remote", "fetch"}
    assert (_value(families, "process_resident_memory_bytes") or 0) > 0
