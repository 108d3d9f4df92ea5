"""``syncer sync`` never hangs on a registry: a body dripped a byte at a time meets the
registry's total ``timeout`` (an outage: the tag written in Git is kept and the app still
syncs), and a tag list whose ``Link`` points back at itself is refused (the app fails
with the reason). pytest-timeout bounds each run; the stub misbehaves for far longer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from syncer import cli
from tests.controller.test_secrets_live import DEPLOYMENT
from tests.servers import registry_stub

pytestmark = pytest.mark.integration


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("mode", "code", "said"),
    [
        ("drip-body", 0, ("no complete answer within 1s", "keeping the tag in Git")),
        ("self-link", 1, ("paginates the tags of team/web in a loop",)),
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
        data = {
            "sources": [{"name": "deploy", "git": {"url": repo.url, "branch": "main"}}],
            "registries": [{"host": stub.host, "timeout": "1s", "deadline": "3s"}],
            "clusters": [{"name": "a", "kubeconfig": a.kubeconfig, "context": "a"}],
            "apps": [
                {
                    "name": "web",
                    "source": "deploy",
                    "path": "web",
                    "namespace": "web",
                    "clusters": ["a"],
                    "sync": {"wait": "5s"},
                    "images": [{"repository": f"{stub.host}/team/web", "policy": {"semver": "^1"}}],
                }
            ],
            "state": {"path": "state/syncer.db"},
        }
        config = tmp_path / "syncer.yaml"
        config.write_text(yaml.safe_dump(data))
        result = cli.main(["sync", "-c", str(config)])
        out, err = capsys.readouterr()
    finally:
        stub.stop()
    assert result == code, out + err
    assert all(part in out for part in said), out + err
    assert "Traceback" not in out + err
