"""Rollbacks stick, and apps or pipeline stages can be suspended: a rollback (API or CLI)
pins the app or stage to the chosen release until someone resumes it, whatever polls and
new commits come; a suspended app is still polled but nothing is applied. Status (CLI,
API) and history say who held what, and when."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e import control
from tests.e2e.conftest import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_an_api_rollback_stays_through_polls_until_resumed(
    tmp_path: Path,
    git_http: Any,
    kube_clusters: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    repo = git_http.create_repo("mono", control.app_files("site", greeting="one"))
    port = control.free_port()
    config = control.write_config(
        tmp_path, url=repo.url, clusters=[a], apps=["site"], git_interval="1s", port=port
    )
    api = control.Api(port)
    with control.running(config, monkeypatch) as ctl:
        wait_until(lambda: control.greeting(a, "site") == "one", what="first release")
        # The ConfigMap is there before the pass that applied it has recorded its release.
        wait_until(lambda: api.get("apps/site")["release"], what="the first release recorded")
        first = api.get("apps/site")["release"]
        repo.commit(control.app_files("site", greeting="two"))
        wait_until(lambda: control.greeting(a, "site") == "two", what="second release")
        assert ctl.wait_idle(10)

        assert api.post("apps/site/rollback", token=False).status_code == 401
        answer = api.post("apps/site/rollback")
        assert answer.status_code == 202 and answer.json()["to"] == first
        wait_until(lambda: control.greeting(a, "site") == "one", what="the rollback")
        assert ctl.wait_idle(10)

        # A new commit and three polls later, the app is still where the rollback put it.
        third = repo.commit(control.app_files("site", greeting="three"))
        polls = git_http.count("ls-refs")
        wait_until(lambda: git_http.count("ls-refs") >= polls + 3, what="three polls")
        assert ctl.wait_idle(10)
        assert control.greeting(a, "site") == "one"
        status = api.get("apps/site")
        (pin,) = status["holds"]
        assert pin["kind"] == "pin" and pin["release"] == first and pin["by"] == "api"
        assert pin["at"].endswith("Z") and "pinned to" in pin["message"]  # ISO-8601
        assert status["release"] == first
        _code, out, _ = control.cli_run(capsys, "status", "-c", str(config))
        assert f"pinned to {first[:12]} by api at " in out and "`syncer resume site`" in out
        (cluster,) = status["clusters"]
        assert cluster["health"] == "Healthy" and cluster["lastAppliedAt"]
        assert cluster["commit"] != third  # what runs is the pinned release's commit

        # Resumed: the newest release goes out at once.
        answer = api.post("apps/site/resume")
        assert answer.status_code == 200 and answer.json()["resumed"][0]["kind"] == "pin"
        wait_until(lambda: control.greeting(a, "site") == "three", what="after resume")
        wait_until(lambda: api.get("apps/site")["clusters"][0]["commit"] == third, what="status")
        assert api.get("apps/site")["holds"] == []
        kinds = [e["kind"] for e in api.get("apps/site/history?limit=100")["history"]]
        assert "pin" in kinds and "resume" in kinds

        # Stage names are checked; no pipeline here.
        answer = api.post("apps/site/suspend", {"stage": "prod"})
        assert answer.status_code == 400 and "no pipeline" in answer.json()["error"]
        assert api.post("apps/site/suspend", token=False).status_code == 401


def two_stages(tmp_path: Path, git_http: Any, kube_clusters: Any) -> tuple[Any, Any, Any, Path]:
    """App ``site`` on dev, then prod (``control.TWO_STAGES``): clusters, repo, config."""
    dev, prod = kube_clusters(2, names=["dev", "prod"], workload_delay=0.02)
    repo = git_http.create_repo("mono", control.app_files("site", greeting="one"))
    path = control.write_config(
        tmp_path, url=repo.url, clusters=[dev, prod], apps=["site"], stages=control.TWO_STAGES
    )
    return dev, prod, repo, path


def test_suspend_and_resume_a_stage_then_the_app_from_the_cli(
    tmp_path: Path, git_http: Any, kube_clusters: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    dev, prod, repo, path = two_stages(tmp_path, git_http, kube_clusters)
    config = str(path)

    def sync() -> str:
        code, out, err = control.cli_run(capsys, "sync", "-c", config)
        assert code == 0, out + err
        return out

    def both() -> tuple[str, str]:
        return control.greeting(dev, "site"), control.greeting(prod, "site")

    sync()
    assert both() == ("one", "one")
    code, out, _ = control.cli_run(capsys, "suspend", "-c", config, "site", "--stage", "prod")
    assert code == 0 and "stage prod suspended by " in out
    code, _, err = control.cli_run(capsys, "suspend", "-c", config, "site", "--stage", "qa")
    # The API's own words, the same locally and from a server.
    assert code == 2 and "no stage 'qa' in the pipeline of 'site' (stages: dev, prod)" in err

    repo.commit(control.app_files("site", greeting="two"))
    sync()
    assert both() == ("two", "one")
    (status,) = control.cli_json(capsys, "status", "-c", config)
    assert [h["stage"] for h in status["holds"]] == ["prod"]
    code, out, _ = control.cli_run(capsys, "status", "-c", config)
    assert "stage prod suspended by " in out

    assert control.cli_run(capsys, "resume", "-c", config, "site", "--stage", "prod")[0] == 0
    sync()
    assert both() == ("two", "two")

    # The whole app: still polled (its status is fresh), nothing applied.
    assert control.cli_run(capsys, "suspend", "-c", config, "site")[0] == 0
    third = repo.commit(control.app_files("site", greeting="three"))
    out = sync()
    assert "suspended by " in out and "nothing applied" in out
    assert both() == ("two", "two")
    (after,) = control.cli_json(capsys, "status", "-c", config)
    assert after["holds"][0]["kind"] == "suspend" and after["holds"][0]["stage"] == ""
    assert "suspended by " in after["message"]
    store = control.open_store(path)
    try:  # polled all the same: the new commit's release is known
        assert store.releases("site")[0].commit == third
    finally:
        store.close()

    code, out, _ = control.cli_run(capsys, "resume", "-c", config, "site")
    assert code == 0 and "was suspended by " in out
    sync()
    assert both() == ("three", "three")
    code, out, _ = control.cli_run(capsys, "history", "-c", config, "site")
    assert out.count("suspended by ") >= 2 and out.count("resumed by ") == 2


def test_a_cli_rollback_of_one_stage_pins_that_stage_only(
    tmp_path: Path, git_http: Any, kube_clusters: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    dev, prod, repo, path = two_stages(tmp_path, git_http, kube_clusters)
    config = str(path)
    assert control.cli_run(capsys, "sync", "-c", config)[0] == 0
    repo.commit(control.app_files("site", greeting="two"))
    assert control.cli_run(capsys, "sync", "-c", config)[0] == 0
    code, out, err = control.cli_run(capsys, "rollback", "-c", config, "site", "--stage", "prod")
    assert code == 0, out + err
    assert "`syncer resume site --stage prod`" in out
    assert (control.greeting(dev, "site"), control.greeting(prod, "site")) == ("two", "one")
    repo.commit(control.app_files("site", greeting="three"))
    for _ in range(3):
        assert control.cli_run(capsys, "sync", "-c", config)[0] == 0
    # dev follows new releases; prod stays pinned until resumed.
    assert (control.greeting(dev, "site"), control.greeting(prod, "site")) == ("three", "one")
    code, out, _ = control.cli_run(capsys, "status", "-c", config)
    assert "stage prod pinned to " in out and "(rollback)" in out
    assert control.cli_run(capsys, "resume", "-c", config, "site", "--stage", "prod")[0] == 0
    assert control.cli_run(capsys, "sync", "-c", config)[0] == 0
    assert control.greeting(prod, "site") == "three"
