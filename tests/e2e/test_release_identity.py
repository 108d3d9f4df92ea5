"""A release is what an app deploys, not a commit: in a monorepo, a commit that changes
nothing an app deploys makes no release of it, moves nothing through its pipeline and
keeps its pending approval; history still says which commit last changed each app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e import control

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

STAGES = [
    {"name": "dev", "clusters": ["dev"]},
    {"name": "prod", "clusters": ["prod"], "after": "dev", "approval": True},
]


def waiting(capsys: pytest.CaptureFixture[str], config: str) -> dict[str, list[str]]:
    return {a["name"]: a["waiting"] for a in control.cli_json(capsys, "status", "-c", config)}


def test_a_commit_touching_one_app_leaves_the_others_approval_pending(
    tmp_path: Path, git_http: Any, kube_clusters: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    dev, prod = kube_clusters(2, names=["dev", "prod"], workload_delay=0.02)
    files = {
        "README.md": "the monorepo\n",
        **control.app_files("one", greeting="hello"),
        **control.app_files("two", greeting="hi"),
    }
    repo = git_http.create_repo("mono", files)
    first_commit = repo.head()
    path = control.write_config(
        tmp_path, url=repo.url, clusters=[dev, prod], apps=["one", "two"], stages=STAGES
    )
    config = str(path)
    synced = {e["app"]: e for e in control.cli_json(capsys, "sync", "-c", config)}
    first = {app: synced[app]["release"] for app in ("one", "two")}
    assert control.greeting(dev, "two") == "hi" and control.greeting(prod, "two") == ""
    before = waiting(capsys, config)
    assert f"waiting for approval of release {first['two'][:12]}" in before["two"][0], before

    # A README-only commit: no release, nothing moves, the approvals stay as they were.
    repo.commit({"README.md": "the monorepo, documented\n"})
    synced = {e["app"]: e for e in control.cli_json(capsys, "sync", "-c", config)}
    assert {app: synced[app]["release"] for app in ("one", "two")} == first
    assert waiting(capsys, config) == before

    # A commit touching app one only: a release of one; two keeps its release and its
    # pending approval (the same request, not a new one).
    store = control.open_store(path)
    try:
        requested = {a.release_id: a.requested_at for a in store.approvals("two")}
    finally:
        store.close()
    touching = repo.commit(control.app_files("one", greeting="bonjour"))
    synced = {e["app"]: e for e in control.cli_json(capsys, "sync", "-c", config)}
    assert synced["one"]["release"] != first["one"]
    assert synced["two"]["release"] == first["two"]
    assert control.greeting(dev, "one") == "bonjour" and control.greeting(dev, "two") == "hi"
    assert control.greeting(prod, "one") == "" and control.greeting(prod, "two") == ""
    now = waiting(capsys, config)
    assert now["two"] == before["two"]
    assert f"waiting for approval of release {synced['one']['release'][:12]}" in now["one"][0]

    store = control.open_store(path)
    try:
        (approval,) = store.approvals("two")
        assert approval.approved_at is None and approval.release_id == first["two"]
        assert {approval.release_id: approval.requested_at} == requested
        # History records which commit last changed each app.
        assert [r.commit for r in store.releases("two")] == [first_commit]
        assert [r.commit for r in store.releases("one")] == [touching, first_commit]
        kinds = [e.kind for e in store.history("two", limit=500)]
        assert kinds.count("release") == 1 and kinds.count("rollout") == 1
    finally:
        store.close()
    code, out, _ = control.cli_run(capsys, "history", "-c", config, "one")
    assert code == 0 and f"commit {touching[:7]}" in out
