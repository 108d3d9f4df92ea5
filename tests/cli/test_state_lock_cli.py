"""Two controllers on one state file: the second ``syncer run`` (or a ``sync``) refuses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def syncer(*args: str) -> list[str]:
    return [sys.executable, "-m", "syncer", *args]


def test_second_run_and_sync_refuse_while_run_holds_the_state_file(tmp_path: Path) -> None:
    config = tmp_path / "syncer.yaml"
    config.write_text(
        "state: {path: state/syncer.db}\n"
        "server: {listen: 127.0.0.1:0, webhookListen: 127.0.0.1:0}\n"
    )
    first = subprocess.Popen(
        syncer("run", "-c", str(config), "--grace=2"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
    )  # fmt: skip
    try:
        lock = tmp_path / "state" / "syncer.db.lock"
        deadline = time.monotonic() + 20
        while not (lock.exists() and lock.read_text().strip()):
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            assert time.monotonic() < deadline, "the first controller never took the lock"
            time.sleep(0.05)
        for command in (["run", "--listen", "127.0.0.1:0"], ["sync"]):
            second = subprocess.run(
                syncer(*command[:1], "-c", str(config), *command[1:]),
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            assert second.returncode == 3, second.stderr
            assert f"another syncer (pid {first.pid}) is running on the state file" in (
                second.stderr
            )
            assert second.stderr.count("\n") == 1  # one line, no traceback
        # Read-only commands do not need the lock.
        status = subprocess.run(
            syncer("status", "-c", str(config)), capture_output=True, text=True, check=False
        )
        assert status.returncode == 0, status.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0
    started = first.stderr.read() if first.stderr else ""
    assert "no API users (server.users, server.tokenFile): the API, and the CLI's" in started
    # Once the first one stopped, the state file is free again.
    done = subprocess.run(
        syncer("sync", "-c", str(config)), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
