"""``status``, ``history`` and ``releases`` print tables after a real sync (a real Git
server and Kubernetes control plane), with more columns under ``-o wide``, like
``kubectl get``; ``-o json`` keeps every field."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from syncer import cli
from tests.controller.test_cli_live import CONFIGMAP, write_config

pytestmark = pytest.mark.integration


def _table(syncer_exe: str, env: dict[str, str], *args: str) -> list[list[str]]:
    """The rows of a table, split on the three-space column gaps."""
    done = subprocess.run(
        [syncer_exe, *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n\n")[0].splitlines()  # the table, not the notes under it
    return [[cell.strip() for cell in line.split("   ") if cell.strip()] for line in lines]


@pytest.mark.timeout(600)
def test_status_history_and_releases_tables_and_their_wide_columns(
    tmp_path: Path, git_http: Any, kube_clusters: Any, syncer_exe: str, cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    repo = git_http.create_repo("deploy", {"site/cm.yaml": CONFIGMAP % "one"})
    config = str(write_config(tmp_path, url=repo.url, kubeconfig=a.kubeconfig, clusters=["a"]))
    assert cli.main(["sync", "-c", config]) == 0
    capsys.readouterr()
    (release,) = json.loads(
        subprocess.run(
            [syncer_exe, "releases", "-c", config, "site", "-o", "json"],
            capture_output=True, text=True, env=cli_env, check=True,
        ).stdout
    )  # fmt: skip
    rid, commit = release["id"], release["commit"]

    status = _table(syncer_exe, cli_env, "status", "-c", config)
    assert status[0] == ["APP", "STATUS", "CLUSTER", "HEALTH", "RELEASE", "SYNCED"]
    assert status[1][:5] == ["site", "Healthy", "a", "Healthy", rid[:12]]
    assert status[1][5].endswith(("s", "m"))  # an age, like kubectl's

    wide = _table(syncer_exe, cli_env, "status", "-c", config, "-o", "wide")
    assert wide[0][6:] == ["COMMIT", "IMAGES", "APPLIED", "MESSAGE"]
    assert wide[1][6] == commit[:7] and wide[1][8].startswith("20") and wide[1][9] == "-"

    history = _table(syncer_exe, cli_env, "history", "-c", config, "site")
    assert history[0] == ["TIME", "KIND", "CLUSTER", "MESSAGE"]
    kinds = [row[1] for row in history[1:]]
    assert "release" in kinds and "healthy" in kinds, history
    wide = _table(syncer_exe, cli_env, "history", "-c", config, "site", "-o", "wide")
    assert wide[0] == ["TIME", "KIND", "CLUSTER", "RELEASE", "MESSAGE"]
    assert {row[3] for row in wide[1:] if row[1] == "healthy"} == {rid[:12]}

    releases = _table(syncer_exe, cli_env, "releases", "-c", config, "site")
    assert releases[0] == ["RELEASE", "COMMIT", "AGE", "CLUSTERS"]
    assert releases[1][:2] == [rid[:12], commit[:7]] and releases[1][3] == "a=healthy"
    wide = _table(syncer_exe, cli_env, "releases", "-c", config, "site", "-o", "wide")
    assert wide[0] == ["RELEASE", "COMMIT", "AGE", "CLUSTERS", "IMAGES", "CREATED"]


@pytest.mark.timeout(600)
def test_plan_summarises_each_app_and_cluster_in_a_table_above_the_objects(
    tmp_path: Path, git_http: Any, syncer_exe: str, cli_env: dict[str, str]
) -> None:
    repo = git_http.create_repo("deploy", {"site/cm.yaml": CONFIGMAP % "one"})
    missing = str(tmp_path / "no-kubeconfig")
    config = str(write_config(tmp_path, url=repo.url, kubeconfig=missing, clusters=["a"]))
    done = subprocess.run(
        [syncer_exe, "plan", "-c", config, "site", "-o", "wide"],
        capture_output=True, text=True, env=cli_env, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # a cluster it cannot reach: refused
    table, details = done.stdout.split("\n\n", 1)
    header, row = (
        [c.strip() for c in line.split("   ") if c.strip()] for line in table.splitlines()
    )
    assert header == [
        "APP", "CLUSTER", "RESULT", "CHANGES", "RELEASE", "COMMIT", "IMAGES", "GATE", "MESSAGE",
    ]  # fmt: skip
    assert row[:4] == ["site", "a", "unreachable", "1 create"]
    assert row[5] == repo.head()[:7], done.stdout
    # Under the table: what would be applied, as before.
    assert details.startswith("site:\n") and "GREETING: one" in details
