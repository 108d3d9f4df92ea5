"""Colour of state words, decided as no-color.org and force-color.org ask: on a terminal
only, off with ``NO_COLOR`` or ``--no-color``/``--color=never``, on in a pipe with
``FORCE_COLOR`` or ``--color=always``; never in JSON. Run through the real ``syncer``."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

YELLOW_PENDING = "\x1b[33mPending\x1b[0m"


def _status(
    syncer_exe: str, env: dict[str, str], config: Path, *args: str, tty: bool = False
) -> str:
    argv = [syncer_exe, "status", "-c", str(config), *args]
    if not tty:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
        return done.stdout
    # A real terminal on stdout (a pseudo-terminal), as in an interactive shell.
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(argv, stdout=follower, stderr=subprocess.DEVNULL, env=env, check=True)
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other side is closed, all is read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
    assert done.returncode == 0
    return b"".join(chunks).decode()


@pytest.mark.parametrize(
    ("env", "args", "tty", "coloured"),
    [
        ({}, [], True, True),  # a terminal
        ({}, [], False, False),  # a pipe
        ({"NO_COLOR": "1"}, [], True, False),
        ({"NO_COLOR": ""}, [], True, True),  # set but empty: ignored, as no-color.org says
        ({"TERM": "dumb"}, [], True, False),
        ({}, ["--no-color"], True, False),
        ({}, ["--color=never"], True, False),
        ({"FORCE_COLOR": "1"}, [], False, True),
        ({}, ["--color=always"], False, True),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, [], False, False),
        ({"NO_COLOR": "1"}, ["--color=always"], False, True),  # a flag beats the environment
        ({"FORCE_COLOR": "1"}, ["--no-color"], False, False),
    ],
)
def test_state_words_are_coloured_only_when_wanted(
    syncer_exe: str,
    cli_env: dict[str, str],
    names_config: Path,
    env: dict[str, str],
    args: list[str],
    tty: bool,
    coloured: bool,
) -> None:
    out = _status(syncer_exe, {**cli_env, "TERM": "xterm", **env}, names_config, *args, tty=tty)
    assert "Pending" in out
    assert (YELLOW_PENDING in out) is coloured, repr(out)
    if not coloured:
        assert "\x1b[" not in out


def test_colour_never_reaches_json_and_keeps_columns_aligned(
    syncer_exe: str, cli_env: dict[str, str], names_config: Path
) -> None:
    out = _status(syncer_exe, cli_env, names_config, "-o", "json", "--color=always")
    assert "\x1b[" not in out
    plain = _status(syncer_exe, cli_env, names_config, "--no-color").splitlines()
    painted = _status(syncer_exe, cli_env, names_config, "--color", "always").splitlines()
    assert [line.replace(YELLOW_PENDING, "Pending") for line in painted] == plain
    # Before or after the command: both are honoured.
    before = subprocess.run(
        [syncer_exe, "--color=always", "status", "-c", str(names_config)],
        capture_output=True, text=True, env=cli_env, check=True,
    )  # fmt: skip
    assert YELLOW_PENDING in before.stdout
