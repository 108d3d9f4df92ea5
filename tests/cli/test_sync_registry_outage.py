"""``syncer sync`` with a registry that stopped answering: the Git change still goes out
with the image of the last release, the outage is named, and the exit status is 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncer import cli
from tests.controller import registry_apps
from tests.controller.test_cli_live import CONFIGMAP
from tests.controller.test_secrets_live import DEPLOYMENT
from tests.servers import images as test_images

pytestmark = pytest.mark.integration


def web_with_greeting(
    tmp_path: Path, *, git_http: Any, registry_host: str, kubeconfig: str, **extra: Any
) -> tuple[Any, Path]:
    """A repository of app ``web`` (its Deployment on ``team/web:1.0.0`` and a ConfigMap
    greeting "one") and the config that deploys it to cluster ``a`` (``extra`` sets the
    Git and image poll ``interval``); returns the repository and the config path."""
    repo = git_http.create_repo(
        "deploy",
        {
            "web/deploy.yaml": DEPLOYMENT % f"{registry_host}/team/web:1.0.0",
            "web/cm.yaml": CONFIGMAP.replace("site", "web") % "one",
        },
    )
    data = registry_apps.web_config(
        source_url=repo.url, kubeconfig=kubeconfig, registry={"host": registry_host}
    )
    data["apps"][0]["sync"]["wait"] = "10s"
    if "interval" in extra:
        data["sources"][0]["git"]["interval"] = extra["interval"]
        data["apps"][0]["images"][0]["interval"] = extra["interval"]
    config = tmp_path / "syncer.yaml"
    config.write_text(yaml.safe_dump(data))
    return repo, config


def test_sync_exits_1_and_names_an_unreachable_registry(
    tmp_path: Path,
    git_http: Any,
    registry_server: Any,
    kube_clusters: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    reg = registry_server.start("anonymous")
    pushed = test_images.push_image(reg, "team/web", tags=["1.2.0"])
    repo, config = web_with_greeting(
        tmp_path, git_http=git_http, registry_host=reg.host, kubeconfig=a.kubeconfig
    )
    assert cli.main(["sync", "-c", str(config)]) == 0, capsys.readouterr()
    capsys.readouterr()
    running = f"{reg.host}/team/web:1.2.0@{pushed.digest}"

    reg.stop()
    repo.commit({"web/cm.yaml": CONFIGMAP.replace("site", "web") % "two"})
    code = cli.main(["sync", "-c", str(config)])
    out = capsys.readouterr().out
    assert code == 1, out
    assert f"cannot reach registry {reg.host}" in out and f"keeping {running}" in out, out
    # Git was not held back: the commit is applied, with the image of the last release.
    cm = a.get("v1", "ConfigMap", "web", namespace="web")
    assert cm["data"]["GREETING"] == "two"
    live = a.get("apps/v1", "Deployment", "web", namespace="web")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == running

    code = cli.main(["sync", "-c", str(config), "-o", "json"])
    (entry,) = json.loads(capsys.readouterr().out)
    assert code == 1 and entry["ok"] is False
    assert f"cannot reach registry {reg.host}" in entry["message"]
