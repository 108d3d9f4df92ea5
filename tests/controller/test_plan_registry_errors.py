"""``syncer plan`` when the registry fails: an outage keeps the image of the last release
(as ``sync`` does), never a downgrade to the tag in Git; a refused login fails the plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
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


def test_registry_outage_keeps_the_last_image_and_a_bad_password_fails_the_plan(
    tmp_path: Path,
    git_http: Any,
    registry_server: Any,
    kube_clusters: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    reg = registry_server.start("basic")
    pushed = test_images.push_image(reg, "team/web", tags=["1.0.0", "1.4.4"])
    repo = git_http.create_repo(
        "deploy", {"web/deploy.yaml": DEPLOYMENT % f"{reg.host}/team/web:1.0.0"}
    )
    auth = {"usernameFrom": "env:REG_USER", "passwordFrom": "env:REG_PASSWORD"}
    data = registry_apps.web_config(
        source_url=repo.url, kubeconfig=a.kubeconfig, registry={"host": reg.host, "auth": auth}
    )
    config = tmp_path / "syncer.yaml"
    config.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("REG_USER", reg.username)
    monkeypatch.setenv("REG_PASSWORD", reg.password)
    code, out, err = run(capsys, "sync", "-c", str(config))
    assert code == 0, out + err
    running = f"{reg.host}/team/web:1.4.4@{pushed.digest}"

    def live_image() -> str:
        live = a.get("apps/v1", "Deployment", "web", namespace="web")
        return str(live["spec"]["template"]["spec"]["containers"][0]["image"])

    assert live_image() == running

    # A wrong password is not an outage: the plan fails, naming the refusal.
    monkeypatch.setenv("REG_PASSWORD", "wrong")
    code, out, _ = run(capsys, "plan", "-c", str(config))
    assert code == 1, out
    assert "error: images:" in out and "unreachable" not in out
    assert "1.0.0" not in out  # no plan to go back to the tag written in Git

    # An outage keeps what the last release runs: nothing to change.
    monkeypatch.setenv("REG_PASSWORD", reg.password)
    reg.stop()
    code, out, _ = run(capsys, "plan", "-c", str(config))
    assert code == 0, out
    assert "registry unreachable: " in out and f"keeping {running} (its last release)" in out
    assert "cluster a: 1 unchanged" in out
    assert "team/web:1.0.0" not in out
