"""Status says what runs: per cluster the commit, the images (``tag@digest``), health,
the last apply and the last error, in the CLI and the API; a cluster whose API stopped
answering reads Unknown, never the last "healthy"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e import control
from tests.e2e.conftest import wait_until
from tests.servers import images as test_images

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_status_per_cluster_and_a_stopped_cluster_reads_unknown(
    tmp_path: Path,
    git_http: Any,
    registry_server: Any,
    kube_clusters: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = kube_clusters(2, names=["a", "b"], workload_delay=0.02)
    reg = control.web_registry(registry_server, monkeypatch)
    pushed = test_images.push_image(reg, "team/web", tags=["1.2.0"])
    repository = f"{reg.host}/team/web"
    repo = git_http.create_repo(
        "mono", control.app_files("web", greeting="one", image=f"{repository}:1.0.0")
    )
    commit = repo.head()
    port = control.free_port()
    path = control.write_config(
        tmp_path, url=repo.url, clusters=[a, b], apps=["web"], images={"web": repository},
        registry=reg, drift_interval="1s", port=port,
    )  # fmt: skip
    api = control.Api(port)
    ref = f"{repository}:1.2.0@{pushed.digest}"
    with control.running(path, monkeypatch) as ctl:

        def clusters() -> dict[str, dict[str, Any]]:
            return {c["cluster"]: c for c in api.get("apps/web")["clusters"]}

        wait_until(
            lambda: (
                {c["health"] for c in clusters().values()} == {"Healthy"} and len(clusters()) == 2
            ),
            what="both clusters healthy",
        )
        for entry in clusters().values():
            assert entry["commit"] == commit and entry["images"] == [ref]
            assert entry["lastAppliedAt"] and entry["error"] == ""
        _code, out, _ = control.cli_run(capsys, "status", "-c", str(path), "-o", "wide")
        # APP STATUS CLUSTER HEALTH RELEASE SYNCED COMMIT IMAGES APPLIED (date time)
        row = next(x.split() for x in out.splitlines() if x.split()[2:3] == ["b"])
        assert row[3] == "Healthy" and row[6] == commit[:7], out
        assert row[7] == f"web:1.2.0@{pushed.digest[:19]}" and row[8].startswith("20"), out

        b.stop()
        wait_until(lambda: clusters()["b"]["health"] == "Unknown", timeout=30, what="Unknown")
        entry = clusters()["b"]
        assert entry["healthy"] is False and "cannot reach cluster b" in entry["error"]
        assert clusters()["a"]["health"] == "Healthy"
        assert api.get("apps/web")["status"] == "Degraded"
        _code, out, _ = control.cli_run(capsys, "status", "-c", str(path))
        assert "b: " in out and "health unknown (cluster not answering)" in out, out

        b.start()
        ctl.sync_now("web")
        wait_until(lambda: clusters()["b"]["health"] == "Healthy", timeout=30, what="b back")
        assert clusters()["b"]["error"] == ""
