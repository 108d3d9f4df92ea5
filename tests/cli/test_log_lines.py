"""``syncer run`` logs: one line per record (newlines escaped) and no apscheduler
per-job lines at info level; they come back with ``--log-level debug``."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from syncer import logs
from tests.waiting import eventually

pytestmark = pytest.mark.integration


def test_formatter_escapes_newlines_in_messages_and_tracebacks() -> None:
    formatter = logs.TextFormatter()
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        record = logging.LogRecord(
            "syncer.x", logging.WARNING, __file__, 1, "gateway policy violated:\n%s", ("a\nb",),
            sys.exc_info(),
        )  # fmt: skip
    line = formatter.format(record)
    assert "\n" not in line
    assert "gateway policy violated:\\na\\nb" in line and "Traceback" in line


def _run_briefly(tmp_path: Path, level: str) -> str:
    """Run until a few polls of the (unreachable) source were logged, then stop it."""
    config = tmp_path / f"{level}.yaml"
    config.write_text(
        f"state: {{path: {level}.db}}\n"
        "server: {listen: 127.0.0.1:0, webhookListen: 127.0.0.1:0}\n"
        "sources:\n  - {name: s, git: {url: 'http://127.0.0.1:9/none.git', interval: 1s}}\n"
    )
    log = tmp_path / f"{level}.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "syncer", "--log-level", level, "run", "-c", str(config)],
            stdout=subprocess.DEVNULL, stderr=sink, text=True, env=dict(os.environ),
        )  # fmt: skip
        try:
            assert eventually(lambda: log.read_text().count("logger=syncer") >= 2, timeout=60)
            time.sleep(1.5)  # one more poll interval, for the job lines at debug level
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    return log.read_text()


def test_apscheduler_job_lines_only_at_debug(tmp_path: Path) -> None:
    info = _run_briefly(tmp_path, "info")
    assert "logger=syncer" in info
    assert "logger=apscheduler" not in info and "Running job" not in info
    for line in info.splitlines():
        assert line.startswith(("20", "syncer:")), line  # each record starts a line
    debug = _run_briefly(tmp_path, "debug")
    assert "Running job" in debug
