"""Reading manifest and values files under the per-file and per-app byte limits.

Used by ``plain``, ``helm`` and ``kustomize`` before anything is parsed: the size is
checked from ``stat`` first, so a 50 MB file is refused without being read.
"""

from __future__ import annotations

from pathlib import Path

from syncer.render import errors, limits


class Budget:
    """Bytes left for one app; every file read or tool output is charged to it."""

    def __init__(self, *, limits: limits.Limits, app: str) -> None:
        self.limits = limits
        self.app = app
        self.used = 0

    def charge(self, *, size: int, shown: str) -> None:
        self.used += size
        if self.used > self.limits.max_app_bytes:
            raise errors.LimitError(
                f"app {self.app!r}: manifests exceed {_mib(self.limits.max_app_bytes)} in "
                f"total (at {shown}); split the app or raise the limit"
            )

    def read(self, *, path: Path, shown: str) -> str:
        size = path.stat().st_size
        if size > self.limits.max_file_bytes:
            raise errors.LimitError(
                f"{shown}: file is {_mib(size)}, over the limit of "
                f"{_mib(self.limits.max_file_bytes)} per file"
            )
        self.charge(size=size, shown=shown)
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise errors.RenderError(f"{shown}: not UTF-8 text ({exc.reason})") from exc
        except OSError as exc:
            raise errors.RenderError(f"{shown}: cannot read: {exc.strerror}") from exc


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"
