"""``plan`` decides exactly as ``sync`` does (one decision path): an image a rollback held
back is not shown as an update; ``--exit-code`` gates CI (2: a sync would change
something); pipeline gates are shown per cluster; ``--local`` plans a working tree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import control
from tests.servers import images as test_images

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_plan_agrees_with_sync_after_an_image_was_held_back(
    tmp_path: Path,
    git_http: Any,
    registry_server: Any,
    kube_clusters: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    reg = control.web_registry(registry_server, monkeypatch)
    good = test_images.push_image(reg, "team/web", tags=["1.0.0"])
    repository = f"{reg.host}/team/web"
    repo = git_http.create_repo(
        "mono", control.app_files("web", greeting="one", image=f"{repository}:1.0.0")
    )
    path = control.write_config(
        tmp_path, url=repo.url, clusters=[a], apps=["web"], images={"web": repository},
        registry=reg,
    )  # fmt: skip
    config = str(path)
    assert control.cli_run(capsys, "sync", "-c", config)[0] == 0
    a.fail_image("team/web:1.1.0")
    bad = test_images.push_image(reg, "team/web", tags=["1.1.0"])
    code, out, _ = control.cli_run(capsys, "sync", "-c", config)
    assert code == 1 and "rolled-back" in out, out
    code, out, _ = control.cli_run(capsys, "sync", "-c", config)
    assert "up to date" in out, out

    # Plan says what sync says: nothing to change, and why the newer image stays out.
    code, out, _ = control.cli_run(capsys, "plan", "-c", config, "--exit-code")
    assert code == 0, out
    assert "cluster a: no changes" in out or "cluster a: 2 unchanged" in out, out
    assert f"held back image {repository}:1.1.0@{bad.digest}" in out
    assert f"image {repository}:1.0.0@{good.digest}" in out
    assert "1.1.0" not in out.split("held back image")[0]

    # A commit: a sync would change something, so --exit-code says 2 (a CI gate).
    repo.commit(control.app_files("web", greeting="two", image=f"{repository}:1.0.0"))
    code, out, _ = control.cli_run(capsys, "plan", "-c", config, "--exit-code")
    assert code == 2, out
    assert "+  GREETING: two" in out and "cluster a: 1 update" in out
    code, out, _ = control.cli_run(capsys, "plan", "-c", config)
    assert code == 0, out  # without --exit-code, changes are no failure
    assert control.cli_run(capsys, "sync", "-c", config)[0] == 0
    assert control.cli_run(capsys, "plan", "-c", config, "--exit-code")[0] == 0

    # A pull request's working tree, planned before it is merged.
    tree = tmp_path / "checkout"
    for name, text in control.app_files(
        "web", greeting="three", image=f"{repository}:1.0.0"
    ).items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(str(text))
    code, out, _ = control.cli_run(
        capsys, "plan", "-c", config, "--local", str(tree), "--exit-code"
    )
    assert code == 2, out
    assert "+  GREETING: three" in out and f"local tree {tree}" in out
    code, _, err = control.cli_run(capsys, "plan", "-c", config, "--local", str(tmp_path / "no"))
    assert code == 2 and "--local" in err and "not a directory" in err


def test_plan_shows_the_pipeline_gates_per_cluster(
    tmp_path: Path, git_http: Any, kube_clusters: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    dev, prod = kube_clusters(2, names=["dev", "prod"], workload_delay=0.02)
    repo = git_http.create_repo("mono", control.app_files("site", greeting="one"))
    stages = [
        {"name": "dev", "clusters": ["dev"]},
        {"name": "prod", "clusters": ["prod"], "after": "dev", "approval": True},
    ]
    config = str(
        control.write_config(
            tmp_path, url=repo.url, clusters=[dev, prod], apps=["site"], stages=stages
        )
    )
    assert control.cli_run(capsys, "sync", "-c", config)[0] == 0
    code, out, _ = control.cli_run(capsys, "plan", "-c", config, "--exit-code")
    # dev runs the release; prod waits for an approval, which a sync cannot give.
    assert code == 0, out
    assert "cluster prod: not rolled out by a sync now: stage prod: waiting for approval" in out
    (report,) = json.loads(control.cli_run(capsys, "plan", "-c", config, "-o", "json")[1])
    gates = {c["cluster"]: c["gate"] for c in report["clusters"]}
    assert gates["dev"] == "" and "waiting for approval" in gates["prod"]
    assert report["changes"] is False
    repo.commit(control.app_files("site", greeting="two"))
    (report,) = json.loads(control.cli_run(capsys, "plan", "-c", config, "-o", "json")[1])
    by_cluster = {c["cluster"]: c for c in report["clusters"]}
    assert by_cluster["dev"]["changes"] is True and by_cluster["dev"]["gate"] == ""
    assert by_cluster["prod"]["changes"] is False
    assert "stage prod:" in by_cluster["prod"]["gate"]
