"""A real Helm chart repository on 127.0.0.1: charts made by the real ``helm package``,
indexed by ``helm repo index``, served by a stdlib HTTP server with optional Basic auth.

``ChartRepo.publish(name, version, templates)`` packages a chart and re-indexes the
directory (as a CI job publishing charts does); ``requests`` records what was asked and
whether credentials came with it.
"""

from __future__ import annotations

import base64
import functools
import http.server
import os
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import binaries


def helm_runner(home: Path) -> Callable[..., str]:
    """Run the real helm with its cache/config/data homes under ``home``."""
    binary = binaries.require("helm")
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }

    def run(*args: str, stdin: str | None = None) -> str:
        proc = subprocess.run(
            [binary, *args], input=stdin, capture_output=True, text=True, env=env, timeout=120,
            check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"helm {' '.join(args)} failed: {proc.stderr}")
        return proc.stdout

    return run


def write_chart(
    root: Path, *, name: str, version: str, files: Mapping[str, str], deps: str = ""
) -> Path:
    """A chart directory ``root/name`` with ``files`` (relative to the chart)."""
    chart = root / name
    chart.mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: {version}\n{deps}")
    for rel, text in files.items():
        (chart / rel).parent.mkdir(parents=True, exist_ok=True)
        (chart / rel).write_text(text)
    return chart


@dataclass
class ChartRepo:
    root: Path
    port: int
    helm: Callable[..., str]
    auth: tuple[str, str] | None = None
    requests: list[tuple[str, bool]] = field(default_factory=list)
    """(path, sent credentials) of every request served."""
    server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/charts"

    def publish(self, name: str, version: str, files: Mapping[str, str], *, deps: str = "") -> Path:
        """``helm package`` a chart into the repository and ``helm repo index`` it."""
        work = self.root.parent / "work" / f"{name}-{version}"
        chart = write_chart(work, name=name, version=version, files=files, deps=deps)
        self.helm("package", str(chart), "--destination", str(self.root))
        self.helm("repo", "index", str(self.root), "--url", self.url)
        return self.root / f"{name}-{version}.tgz"


class _Handler(http.server.SimpleHTTPRequestHandler):
    repo: ChartRepo

    def do_GET(self) -> None:
        header = self.headers.get("Authorization", "")
        self.repo.requests.append((self.path, bool(header)))
        if self.repo.auth is not None:
            wanted = "Basic " + base64.b64encode(":".join(self.repo.auth).encode()).decode()
            if header != wanted:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="charts"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        if not self.path.startswith("/charts/"):
            self.send_error(404)
            return
        self.path = self.path[len("/charts") :]
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(
    root: Path, *, port: int, helm: Callable[..., str], auth: tuple[str, str] | None
) -> ChartRepo:
    root.mkdir(parents=True, exist_ok=True)
    repo = ChartRepo(root=root, port=port, helm=helm, auth=auth)
    handler = type("Handler", (_Handler,), {"repo": repo})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", port), functools.partial(handler, directory=str(root))
    )
    repo.server = server
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return repo


@pytest.fixture
def chart_repo(tmp_path: Path) -> Iterator[ChartRepo]:
    """A chart repository behind Basic auth as ``chart-user`` / ``chart-pass-1``."""
    from tests.servers import lifecycle

    repo = serve(
        tmp_path / "chart-repo" / "charts", port=lifecycle.free_port(),
        helm=helm_runner(tmp_path / "helm-home"), auth=("chart-user", "chart-pass-1"),
    )  # fmt: skip
    yield repo
    assert repo.server is not None
    repo.server.shutdown()
    repo.server.server_close()
