"""``syncer sync`` says why a cluster failed, on stdout and in ``-o json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from syncer import cli
from tests.controller.test_cli_live import CONFIGMAP, write_config

pytestmark = pytest.mark.integration

TYPO = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: site}
spec:
  replica: 1
  selector: {matchLabels: {app: site}}
  template:
    metadata: {labels: {app: site}}
    spec:
      containers:
        - {name: web, image: "web:1"}
"""


def test_a_refused_manifest_names_the_reason_per_cluster(
    tmp_path: Path, git_http: Any, kube_clusters: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    repo = git_http.create_repo("deploy", {"site/cm.yaml": CONFIGMAP % "one", "site/d.yaml": TYPO})
    config = str(write_config(tmp_path, url=repo.url, kubeconfig=a.kubeconfig, clusters=["a"]))

    code = cli.main(["sync", "-c", config])
    out = capsys.readouterr().out
    assert code == 1
    (line,) = [x for x in out.splitlines() if x.startswith("  cluster a:")]
    assert "spec.replica" in line, out

    code = cli.main(["sync", "-c", config, "-o", "json"])
    (entry,) = json.loads(capsys.readouterr().out)
    assert code == 1 and not entry["ok"]
    assert "spec.replica" in entry["errors"]["a"]
    assert "\n" not in entry["errors"]["a"]
