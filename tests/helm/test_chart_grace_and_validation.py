"""The chart's stop grace is a value with ``run --grace`` below it, and an init
container runs ``syncer validate`` on the rendered config, so a bad config fails fast
with the validation message."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.helm.conftest import Rendered


def _pod(rendered: Rendered) -> dict:
    spec: dict = rendered.one("Deployment")["spec"]["template"]["spec"]
    return spec


def test_grace_is_a_value_and_run_stops_waiting_before_it(
    render: Callable[..., Rendered],
) -> None:
    rendered = render()
    assert _pod(rendered)["terminationGracePeriodSeconds"] == 330  # 5m sync.wait + 30 s
    assert "--grace=300" in rendered.container["args"]
    custom = render({"terminationGracePeriodSeconds": 120})
    assert _pod(custom)["terminationGracePeriodSeconds"] == 120
    assert "--grace=90" in custom.container["args"]


def test_init_container_validates_the_mounted_config(render: Callable[..., Rendered]) -> None:
    rendered = render({"existingSecret": "syncer-credentials"})
    pod = _pod(rendered)
    (init,) = pod["initContainers"]
    assert init["name"] == "validate-config"
    assert init["image"] == rendered.container["image"]
    assert init["args"] == ["validate", "--config=/etc/syncer/config/config.yaml"]
    mounts = {m["mountPath"]: m["name"] for m in init["volumeMounts"]}
    assert mounts["/etc/syncer/config"] == "config" and mounts["/etc/syncer/secrets"] == "secrets"
    assert init["securityContext"] == rendered.container["securityContext"]
    assert "initContainers" not in _pod(render({"validateConfig": {"enabled": False}}))


def test_a_bad_config_renders_but_its_validation_fails_with_the_message(
    render: Callable[..., Rendered], tmp_path: Path
) -> None:
    bad = {"clusters": [{"name": "in-cluster", "inCluster": True}], "apps": [{"nam": "x"}]}
    rendered = render({"config": bad})
    path = tmp_path / "config.yaml"
    path.write_text(rendered.one("ConfigMap")["data"]["config.yaml"])
    (init,) = _pod(rendered)["initContainers"]
    args = [a.replace("/etc/syncer/config/config.yaml", str(path)) for a in init["args"]]
    done = subprocess.run(
        [sys.executable, "-m", "syncer", *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert "apps[0]" in done.stderr and "nam" in done.stderr
