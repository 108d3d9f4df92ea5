"""An error that outlives a restart of the controller is in history once: the restarted
controller finds the same problem (a registry down, a branch deleted) and does not write
it again."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from syncer import controller
from tests.cli.test_sync_registry_outage import web_with_greeting
from tests.controller.test_cli_live import CONFIGMAP
from tests.controller.test_controller_live import wait_until
from tests.servers import images as test_images

pytestmark = pytest.mark.integration


def errors_of(ctl: controller.Controller) -> list[str]:
    return [e["message"] for e in ctl.history("web", 500) if e["kind"] in ("error", "failed")]


def run_until(config: Path, status: str) -> list[str]:
    """Start a controller, wait until the app has ``status`` (and, when Degraded, has
    tried again), stop; the errors in its history."""
    session = controller.open_session(str(config))
    ctl = session.controller
    ctl.start()
    try:
        wait_until(
            lambda: (ctl.app_status("web") or {}).get("status") == status,
            timeout=30,
            what=status,
        )
        if status == "Degraded":
            # Retries (backoff 1 s, 2 s; polls every 0.5 s) meet the same error again.
            time.sleep(3.5)
        return errors_of(ctl)
    finally:
        ctl.stop(timeout=10)
        session.store.close()


@pytest.mark.parametrize("outage", ["registry", "branch", "cluster"])
def test_an_error_that_outlives_a_restart_is_recorded_once(
    tmp_path: Path, git_http: Any, registry_server: Any, kube_clusters: Any, outage: str
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    reg = registry_server.start("anonymous")
    test_images.push_image(reg, "team/web", tags=["1.2.0"])
    repo, config = web_with_greeting(
        tmp_path, git_http=git_http, registry_host=reg.host, kubeconfig=a.kubeconfig,
        interval="0.5s",
    )  # fmt: skip
    assert run_until(config, "Healthy") == []

    if outage == "registry":
        reg.stop()
    elif outage == "branch":
        repo.delete_branch("main")
    else:
        a.stop()  # and a commit makes a release that cannot be applied there
        repo.commit({"web/cm.yaml": CONFIGMAP.replace("site", "web") % "two"})
    first = run_until(config, "Degraded")
    assert len(first) == 1, first
    again = run_until(config, "Degraded")
    assert again == first, again
