"""``syncer sync`` never hangs on a registry and never writes what a registry made up:
a body dripped a byte at a time meets the registry's total ``timeout`` (an outage: the
tag written in Git is kept and the app still syncs, but reads DEGRADED and sync exits 1);
a tag list whose ``Link`` points back at itself, or a ``Docker-Content-Digest`` that is no
digest, fails the app with the reason; tags that break the OCI grammar are skipped.
pytest-timeout bounds each run; the stub misbehaves for far longer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import registry
from syncer import cli
from tests.controller import registry_apps
from tests.controller.test_secrets_live import DEPLOYMENT
from tests.servers import registry_stub

pytestmark = pytest.mark.integration


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("mode", "code", "said"),
    [
        ("drip-body", 1, ("no complete answer within 1s", "keeping the tag in Git", "DEGRADED")),
        ("self-link", 1, ("paginates the tags of team/web in a loop",)),
        ("bad-digest", 1, ("sent an invalid digest for", "team/web:1.1.0")),
        ("non-oci-tags", 0, ("1.1.0: highest of 2 tags in ^1", "5 invalid tags skipped")),
    ],
)
def test_sync_ends_on_a_misbehaving_registry(
    tmp_path: Path,
    git_http: Any,
    kube_clusters: Any,
    capsys: pytest.CaptureFixture[str],
    mode: str,
    code: int,
    said: tuple[str, ...],
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    stub = registry_stub.StubRegistry(tags={"team/web": ["1.0.0", "1.1.0"]}, mode=mode).start()
    try:
        repo = git_http.create_repo(
            "deploy", {"web/deploy.yaml": DEPLOYMENT % f"{stub.host}/team/web:1.0.0"}
        )
        data = registry_apps.web_config(
            source_url=repo.url,
            kubeconfig=a.kubeconfig,
            registry={"host": stub.host, "timeout": "1s", "deadline": "3s"},
        )
        config = tmp_path / "syncer.yaml"
        config.write_text(yaml.safe_dump(data))
        result = cli.main(["sync", "-c", str(config)])
        out, err = capsys.readouterr()
        if mode == "non-oci-tags":
            # The plan shows why the image was chosen.
            assert cli.main(["plan", "-c", str(config)]) == 0
            out += capsys.readouterr().out
    finally:
        stub.stop()
    assert result == code, out + err
    assert all(part in out for part in said), out + err
    assert "Traceback" not in out + err
    live = a.get("apps/v1", "Deployment", "web", namespace="web")
    if live is not None:
        ref = registry.parse_reference(live["spec"]["template"]["spec"]["containers"][0]["image"])
        assert ref.tag in ("1.0.0", "1.1.0"), ref
