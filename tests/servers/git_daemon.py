"""A real ``git daemon`` for tests: the ``git://`` protocol on a free 127.0.0.1 port.

Serves every bare repository under ``root`` at ``git://127.0.0.1:PORT/<name>.git``
(pushes enabled). The daemon forks one child per connection; it runs in its own process
group so ``stop()`` ends the parent and any child still serving.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.servers import git_repo, lifecycle


class GitDaemon:
    """A running git daemon; ``stop()`` (or the fixture) shuts it down."""

    def __init__(self, *, root: Path, log_path: Path) -> None:
        self.root = root
        self.log_path = log_path
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        port = lifecycle.start_on_free_port(self._start)
        if port is None:
            raise RuntimeError(f"git daemon did not start:\n{self.logs()}")
        self.port = port
        self.base_url = f"git://127.0.0.1:{self.port}"

    def create_repo(
        self, name: str, files: dict[str, git_repo.FileValue] | None = None, *, branch: str = "main"
    ) -> git_repo.BareRepo:
        return git_repo.create_served(
            root=self.root, name=name, files=files, branch=branch, url_for=self.url_for
        )

    def url_for(self, repo: git_repo.BareRepo) -> str:
        return f"{self.base_url}/{repo.path.relative_to(self.root).as_posix()}"

    def requests(self) -> int:
        """Service requests (upload-pack / receive-pack connections) served so far."""
        return self.logs().count("Request upload-pack") + self.logs().count("Request receive-pack")

    def logs(self) -> str:
        return lifecycle.read_log(self.log_path)

    def stop(self) -> None:
        if self._proc is None:
            return
        lifecycle.stop_group(self._proc)
        self._proc = None

    def _start(self, port: int) -> bool:
        with self.log_path.open("ab") as log:
            proc = subprocess.Popen(
                [
                    "git", "daemon", "--reuseaddr", "--verbose", "--informative-errors",
                    "--listen=127.0.0.1", f"--port={port}", f"--base-path={self.root}",
                    "--export-all", "--enable=receive-pack", str(self.root),
                ],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        if not lifecycle.wait_listening(proc, port=port):
            return False
        self._proc = proc
        return True
