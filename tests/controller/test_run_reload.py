"""``syncer run`` reloads its config without a restart: the file is a ConfigMap-style
symlink (``syncer.yaml -> ..data/syncer.yaml``, ``..data -> a timestamped directory``)
whose target is swapped like the kubelet does; an added app deploys, a broken file keeps
the running config and ``/readyz``, ``/metrics`` and the log say why with file:line, and
the fixed file is applied."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.controller import test_run_metrics
from tests.controller.test_cli_live import CONFIGMAP, DEPLOYMENT, write_config
from tests.server.test_metrics_exposition import parse
from tests.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

OTHER = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: other}
data: {GREETING: %s}
"""


def _swap(folder: Path, data: dict[str, Any], *, text: str | None = None) -> None:
    """Publish a new version of ``folder/syncer.yaml`` as the kubelet updates a ConfigMap
    volume: a new directory, then ``..data`` swapped to it in one rename."""
    versions = sorted(folder.glob("..v*"))
    new = folder / f"..v{len(versions) + 1:03d}"
    new.mkdir()
    (new / "syncer.yaml").write_text(text if text is not None else yaml.safe_dump(data))
    link = folder / "..data_tmp"
    link.symlink_to(new.name)
    os.replace(link, folder / "..data")


def _metric(url: str, sample: str, **labels: str) -> float | None:
    return test_run_metrics._value(
        parse(requests.get(f"{url}/metrics", timeout=10).text), sample, **labels
    )


def test_an_edited_config_applies_and_a_broken_one_keeps_the_running_one(
    tmp_path: Path, git_http: Any, kube_clusters: Any
) -> None:
    (a,) = kube_clusters(1, names=["a"])
    repo = git_http.create_repo(
        "deploy",
        {
            "site/cm.yaml": CONFIGMAP % "one",
            "site/deploy.yaml": DEPLOYMENT % "web:1",
            "other/cm.yaml": OTHER % "two",
        },
    )
    data = yaml.safe_load(
        write_config(tmp_path, url=repo.url, kubeconfig=a.kubeconfig, clusters=["a"]).read_text()
    )
    data["server"] = {"listen": "127.0.0.1:0", "webhookListen": "127.0.0.1:0"}
    folder = tmp_path / "conf"
    folder.mkdir()
    _swap(folder, data)
    (folder / "syncer.yaml").symlink_to("..data/syncer.yaml")
    log = tmp_path / "run.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncer", "--log-level", "info", "run",
         "-c", str(folder / "syncer.yaml"), "--grace=5", "--reload-interval=0.3"],
        stdout=subprocess.DEVNULL, stderr=log.open("w"),
    )  # fmt: skip
    try:
        assert eventually(lambda: "HTTP on http://" in log.read_text()), log.read_text()
        found = re.search(r"HTTP on (http://[^\s,]+)", log.read_text())
        assert found is not None
        url = found.group(1)
        assert eventually(lambda: a.get("v1", "ConfigMap", "site", namespace="site"), timeout=90), (
            log.read_text()
        )

        # A team's app is added to the file: it deploys, with no restart.
        other = {**data["apps"][0], "name": "other", "path": "other", "namespace": "other"}
        data["apps"].append(other)
        _swap(folder, data)
        assert eventually(
            lambda: a.get("v1", "ConfigMap", "other", namespace="other"), timeout=90
        ), log.read_text()
        assert _metric(url, "syncer_config_reloads_total", result="applied") == 1
        assert "running: 2 apps" in requests.get(f"{url}/readyz", timeout=10).text

        # A broken file: the running config stays, and everyone is told why.
        broken = yaml.safe_dump(data).replace("path: other", "path: other\n  sync: {wait: soon}")
        _swap(folder, data, text=broken)
        line = broken.splitlines().index("  sync: {wait: soon}") + 1
        assert eventually(
            lambda: _metric(url, "syncer_config_reloads_total", result="invalid") == 1
        ), log.read_text()
        ready = requests.get(f"{url}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text  # the previous config still runs
        assert f"syncer.yaml:{line}" in ready.text, ready.text
        assert "not reloaded, the previous one runs" in ready.text
        assert "running: 2 apps" in ready.text
        assert _metric(url, "syncer_config_last_reload_successful") == 0
        assert f"syncer.yaml:{line}" in log.read_text()
        assert "invalid, the previous one keeps running" in log.read_text()

        # Fixed, and the team's app renamed away: applied, the old one's objects go
        # (prune is on) and the new one deploys.
        data["apps"][1] = {**other, "name": "other2", "namespace": "other2"}
        _swap(folder, data)
        assert eventually(
            lambda: a.get("v1", "ConfigMap", "other", namespace="other2"), timeout=90
        ), log.read_text()
        assert eventually(
            lambda: not a.get("v1", "ConfigMap", "other", namespace="other"), timeout=90
        ), log.read_text()
        assert _metric(url, "syncer_config_reloads_total", result="applied") == 2
        assert _metric(url, "syncer_config_last_reload_successful") == 1
        ready = requests.get(f"{url}/readyz", timeout=10).text
        assert "not reloaded" not in ready, ready

        # A listener change needs a restart: said, and the running listener stays.
        data["server"]["listen"] = "127.0.0.1:1"
        _swap(folder, data)
        assert eventually(
            lambda: "need a restart: server" in requests.get(f"{url}/readyz", timeout=10).text
        ), log.read_text()
        assert _metric(url, "syncer_config_reloads_total", result="applied") == 3

        # SIGHUP reloads the file as it is, unchanged.
        proc.send_signal(signal.SIGHUP)
        assert eventually(
            lambda: _metric(url, "syncer_config_reloads_total", result="applied") == 4
        ), log.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert proc.returncode == 0, log.read_text()
