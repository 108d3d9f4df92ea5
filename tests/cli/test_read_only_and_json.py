"""Read-only commands and ``-o json`` for scripts: ``status``/``history`` without a state
file create none and say so; ``image latest -o json`` answers a JSON object even when no
tag matches; ``status -o json`` gives ISO-8601 UTC times."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from syncer import cli
from tests.controller.test_cli_live import CONFIGMAP, write_config
from tests.servers import images

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_status_and_history_without_state_create_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, url="https://git.invalid/x.git", kubeconfig="k", clusters=["a"])
    db = tmp_path / "state" / "syncer.db"
    for argv in (["status"], ["history", "site"], ["status", "-o", "json"]):
        code, out, err = _run(capsys, *argv[:1], "-c", str(config), *argv[1:])
        assert code == 0, err
        assert f"no state yet at {db} (run `syncer sync` or `syncer run` first)" in err
    assert json.loads(out)[0]["status"] == "Pending"
    assert not db.exists() and not db.parent.exists()


@pytest.mark.integration
def test_image_latest_json_without_a_match_is_still_json(
    shared_registry: Any, capsys: pytest.CaptureFixture[str], monkeypatch: Any, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "none"))
    server = shared_registry.get("anonymous")
    images.push_image(server, "cli/json-nomatch", tags=["1.0.0"])
    repo = f"{server.host}/cli/json-nomatch"
    code, out, err = _run(capsys, "image", "latest", repo, "--policy", "semver:^9", "-o", "json")
    assert code == 1 and err.startswith("error: ")
    data = json.loads(out)
    assert data["tag"] is None and data["repository"] == repo
    assert "none in ^9" in data["error"]


@pytest.mark.integration
def test_status_json_times_are_iso_utc(
    tmp_path: Path, git_http: Any, kube_clusters: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    repo = git_http.create_repo("deploy", {"site/cm.yaml": CONFIGMAP % "one"})
    config = str(write_config(tmp_path, url=repo.url, kubeconfig=a.kubeconfig, clusters=["a"]))
    assert _run(capsys, "sync", "-c", config)[0] == 0
    code, out, _ = _run(capsys, "status", "-c", config, "-o", "json")
    (app,) = json.loads(out)
    assert ISO.match(app["lastAttemptAt"]) and ISO.match(app["clusters"][0]["updatedAt"])
    assert code == 0
    code, out, _ = _run(capsys, "history", "-c", config, "site", "-o", "json")
    assert code == 0
    assert all(ISO.match(event["at"]) for event in json.loads(out))
