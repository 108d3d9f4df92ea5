"""The state file's writer lock: one process at a time rolls out from a state file.

``syncer run``, ``sync`` and ``rollback`` hold an exclusive ``flock`` on ``STATE.lock``
(next to the state file) for as long as they may write; a second one refuses to start,
naming the pid that holds it. Read-only commands (``status``, ``history``, ``plan``)
take no lock. With ``--leader-elect`` a replica takes it only once it leads.
The kernel drops the lock when the process dies, so a crash never leaves it stale.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from syncer import errors


class StateLockedError(errors.PermanentError):
    """Another process holds the state file's lock."""


class StateLock:
    """An exclusive lock on ``<state file>.lock``; ``acquire`` then ``release``."""

    def __init__(self, state_file: str | Path) -> None:
        self.state_file = str(state_file)
        self.path = Path(f"{state_file}.lock")
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, *, wait: float = 0.0) -> None:
        """Take the lock, waiting up to ``wait`` seconds; ``StateLockedError`` if held."""
        if self._fd is not None or self.state_file == ":memory:":
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise errors.PermanentError(f"state lock {self.path}: {err}") from err
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _holder(fd)
                    os.close(fd)
                    raise StateLockedError(
                        f"another syncer{holder} is running on the state file "
                        f"{self.state_file} (lock {self.path}); stop it first, or give each "
                        "controller its own state.path (replicas: use --leader-elect)"
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def _holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""
