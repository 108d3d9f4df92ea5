"""``syncer status --watch``, run as its user would: a process that prints again whenever
the state file changes (here: another ``syncer`` suspends an app) and ends with exit 0 on
Ctrl-C or SIGTERM."""

from __future__ import annotations

import json
import os
import pty
import queue
import select
import signal
import subprocess
import threading
from pathlib import Path
from typing import IO

import pytest

pytestmark = pytest.mark.integration

WAIT = 180.0  # seconds a loaded machine may take to start syncer and answer


class Lines:
    """The lines a process writes, read as they come (a thread, so reads can time out)."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)

    def next(self) -> str:
        return self._lines.get(timeout=WAIT)

    def until(self, text: str) -> list[str]:
        seen = [self.next()]
        while text not in seen[-1]:
            seen.append(self.next())
        return seen

    def rest(self) -> list[str]:
        return list(self._lines.queue)


def _watch(
    syncer_exe: str, cli_env: dict[str, str], config: Path, *args: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [syncer_exe, "status", "-c", str(config), "--watch", "--interval", "0.2", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env,
    )  # fmt: skip


def _suspend(syncer_exe: str, cli_env: dict[str, str], config: Path) -> None:
    done = subprocess.run(
        [syncer_exe, "suspend", "-c", str(config), "web"],
        capture_output=True, text=True, env=cli_env, timeout=WAIT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.mark.timeout(600)
def test_watch_json_prints_one_document_per_change_and_ctrl_c_exits_0(
    syncer_exe: str, cli_env: dict[str, str], names_config: Path
) -> None:
    proc = _watch(syncer_exe, cli_env, names_config, "-o", "json")
    assert proc.stdout is not None and proc.stderr is not None
    try:
        out = Lines(proc.stdout)
        first = json.loads(out.next())  # one document on one line
        assert [a["name"] for a in first] == ["web", "worker"]
        assert first[0]["status"] == "Pending" and first[0]["holds"] == []

        _suspend(syncer_exe, cli_env, names_config)
        second = json.loads(out.next())
        (hold,) = second[0]["holds"]
        assert hold["kind"] == "suspend" and "suspended by " in hold["message"]
        assert second[1] == first[1]  # worker did not change
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=WAIT)
    assert code == 0
    assert out.rest() == []  # nothing printed while nothing changed
    err = proc.stderr.read()
    # Said once, not at every refresh while there was no state file; no traceback.
    assert err.count("no state yet at ") == 1 and "Traceback" not in err, err


@pytest.mark.timeout(600)
def test_watch_text_in_a_pipe_prints_the_table_again_on_change_and_sigterm_exits_0(
    syncer_exe: str, cli_env: dict[str, str], names_config: Path
) -> None:
    proc = _watch(syncer_exe, cli_env, names_config, "web")
    assert proc.stdout is not None
    try:
        out = Lines(proc.stdout)
        table = out.until("web ")
        assert table[0].split() == ["APP", "STATUS", "CLUSTER", "HEALTH", "RELEASE", "SYNCED"]
        assert table[1].split()[:2] == ["web", "Pending"]
        _suspend(syncer_exe, cli_env, names_config)
        again = out.until("suspended by ")
        # A blank line, the table again (no terminal: no screen clearing, no colour).
        assert again[0] == "\n" and again[1].startswith("APP ")
        assert "\x1b[" not in "".join(table + again)
        assert "(`syncer resume web`)" in again[-1]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=WAIT)
    assert code == 0


@pytest.mark.timeout(600)
def test_watch_on_a_terminal_redraws_the_screen_every_interval(
    syncer_exe: str, cli_env: dict[str, str], names_config: Path
) -> None:
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [syncer_exe, "status", "-c", str(names_config), "--watch", "--interval", "0.2"],
        stdout=follower, stderr=subprocess.DEVNULL, env={**cli_env, "TERM": "xterm"},
    )  # fmt: skip
    os.close(follower)
    screen = b""
    try:
        # Nothing changes in the state, yet the screen is redrawn (ages move on).
        while screen.count(b"\x1b[H\x1b[2J") < 3:
            ready, _, _ = select.select([leader], [], [], WAIT)
            assert ready, screen
            screen += os.read(leader, 65536)
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=WAIT)
        os.close(leader)
    assert code == 0
    last = screen.decode().split("\x1b[H\x1b[2J")[-2]  # a whole frame
    assert last.startswith(f"syncer status -c {names_config}   20")  # title and time
    assert "\x1b[33mPending\x1b[0m" in last  # a terminal: coloured
