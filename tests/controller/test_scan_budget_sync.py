"""``syncer sync`` and ``plan`` with a tag list longer than the registry's ``scanBudget``,
against the real registry: the newest tag read may be older than the one running, and a
cut list must never roll the app back to it. The running tag is kept, with a warning
naming the image and the budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from syncer import cli
from tests.controller import registry_apps
from tests.controller.test_secrets_live import DEPLOYMENT
from tests.servers import images as test_images

pytestmark = pytest.mark.integration


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def served_order(reg: Any, repository: str) -> list[str]:
    """The tags in the order the registry sends them (distribution: directory order)."""
    answer = requests.get(f"{reg.url}/v2/{repository}/tags/list", timeout=10)
    answer.raise_for_status()
    return list(answer.json()["tags"])


def test_a_cut_tag_list_keeps_the_running_tag(
    tmp_path: Path,
    git_http: Any,
    registry_server: Any,
    kube_clusters: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    reg = registry_server.start("anonymous")
    test_images.push_image(reg, "team/web", tags=[f"1.0.{i}" for i in range(12)])
    # Push newer versions until the newest is not the first tag the registry sends: a
    # budget of its position then reads only older tags.
    patch = 12
    newest = test_images.push_image(reg, "team/web", tags=[f"1.0.{patch}"])
    while served_order(reg, "team/web").index(f"1.0.{patch}") == 0:
        patch += 1
        newest = test_images.push_image(reg, "team/web", tags=[f"1.0.{patch}"])
    budget = served_order(reg, "team/web").index(f"1.0.{patch}")
    repo = git_http.create_repo(
        "deploy", {"web/deploy.yaml": DEPLOYMENT % f"{reg.host}/team/web:1.0.0"}
    )

    def write(scan_budget: int) -> str:
        data = registry_apps.web_config(
            source_url=repo.url,
            kubeconfig=a.kubeconfig,
            registry={"host": reg.host, "scanBudget": scan_budget},
        )
        config = tmp_path / "syncer.yaml"
        config.write_text(yaml.safe_dump(data))
        return str(config)

    def live_image() -> str:
        live = a.get("apps/v1", "Deployment", "web", namespace="web")
        return str(live["spec"]["template"]["spec"]["containers"][0]["image"])

    running = f"{reg.host}/team/web:1.0.{patch}@{newest.digest}"
    code, out, err = run(capsys, "sync", "-c", write(50_000))
    assert code == 0, out + err
    assert live_image() == running

    # The repository now has more tags than the budget: the tags read are all older.
    config = write(budget)
    code, out, err = run(capsys, "sync", "-c", config)
    assert code == 0, out + err
    assert live_image() == running
    assert f"warning: {reg.host}/team/web: the tag list is longer than the scan budget of " in out
    assert f"{budget} tags" in out and f"running 1.0.{patch}, so 1.0.{patch} is kept" in out

    # The plan agrees: nothing to change, and the same warning as a note.
    code, out, _ = run(capsys, "plan", "-c", config)
    assert code == 0, out
    assert f"scan budget of {budget} tags" in out and "cluster a: 1 unchanged" in out
    assert f"image {running}: 1.0.{patch}: kept the running tag" in out
