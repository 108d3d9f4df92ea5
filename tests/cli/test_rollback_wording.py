"""``syncer rollback`` usage errors exit 2 naming the argument; after a rollback,
``syncer sync`` says which release runs and why the newer one is skipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from syncer import cli
from tests.controller.test_cli_live import CONFIGMAP, write_config

pytestmark = pytest.mark.integration


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_rollback_usage_errors_and_the_sync_message_after_it(
    tmp_path: Path, git_http: Any, kube_clusters: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    repo = git_http.create_repo("deploy", {"site/cm.yaml": CONFIGMAP % "one"})
    config = str(write_config(tmp_path, url=repo.url, kubeconfig=a.kubeconfig, clusters=["a"]))
    code, out, _ = _run(capsys, "sync", "-c", config, "-o", "json")
    first = json.loads(out)[0]["release"]
    repo.commit({"site/cm.yaml": CONFIGMAP % "two"})
    code, out, _ = _run(capsys, "sync", "-c", config, "-o", "json")
    second = json.loads(out)[0]["release"]
    assert code == 0 and second != first

    code, _, err = _run(capsys, "rollback", "-c", config, "nope")
    assert code == 2 and err.startswith("error: APP nope: no such app") and "--app" not in err
    code, _, err = _run(capsys, "rollback", "-c", config, "site", "--to", "zzz")
    assert code == 2 and err.startswith("error: --to zzz: app 'site' has no release")

    code, out, err = _run(capsys, "rollback", "-c", config, "site")
    assert code == 0, out + err
    code, out, _ = _run(capsys, "sync", "-c", config)
    assert code == 0
    assert out.startswith(f"site: ok release {first[:12]}: pinned to {first[:12]} by "), out
    assert f"newest release {second[:12]} waits (`syncer resume site`" in out
    assert _run(capsys, "resume", "-c", config, "site")[0] == 0
    code, out, _ = _run(capsys, "sync", "-c", config)
    assert code == 0
    assert out.startswith(
        f"site: ok, runs {first[:12]} ({second[:12]} not rolled out: rolled back by "
    ), out
    code, out, _ = _run(capsys, "sync", "-c", config, "-o", "json")
    (entry,) = json.loads(out)
    assert entry["running"] == [first] and entry["rejected"].startswith("rolled back by")
