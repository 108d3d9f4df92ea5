"""Running kustomize and helm: finding the binary, a clean environment, a timeout.

``syncer.render.kustomize`` and ``syncer.render.helm`` call ``run``. Tools get a minimal
environment (no kubeconfig, so they never talk to a cluster; temporary HELM_*_HOME
directories, so no user repositories or plugins) and their output is charged to the
app's byte budget. A missing binary is a ``ToolMissingError`` that names it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from syncer.render import errors, files


@dataclass(frozen=True)
class Tools:
    """Where the binaries are; empty means "look on PATH"."""

    kustomize: str = ""
    kubectl: str = ""
    helm: str = ""

    def find(self, name: str) -> str | None:
        configured = getattr(self, name, "")
        return configured or shutil.which(name)


def run(
    args: list[str],
    *,
    cwd: Path,
    timeout: float,
    budget: files.Budget,
    what: str,
    extra_env: dict[str, str] | None = None,
) -> str:
    """Run a render tool and return its stdout; errors carry its last stderr lines."""
    with tempfile.TemporaryDirectory(prefix="syncer-render-") as home:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": home,
            "KUBECONFIG": os.path.join(home, "no-kubeconfig"),
            "HELM_CACHE_HOME": os.path.join(home, "cache"),
            "HELM_CONFIG_HOME": os.path.join(home, "config"),
            "HELM_DATA_HOME": os.path.join(home, "data"),
            "LC_ALL": "C",
            **(extra_env or {}),
        }
        try:
            proc = subprocess.run(
                args, cwd=cwd, env=env, capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise errors.ToolFailedError(
                f"{what}: {Path(args[0]).name} ran longer than {timeout:g}s"
            ) from exc
        except OSError as exc:
            raise errors.ToolMissingError(f"{what}: cannot run {args[0]}: {exc.strerror}") from exc
    budget.charge(size=len(proc.stdout), shown=f"{what} output")
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().replace(home, "$HOME")
        lines = [line for line in detail.splitlines() if line.strip()][-5:]
        raise errors.ToolFailedError(
            f"{what}: {Path(args[0]).name} failed: {' | '.join(lines) or f'exit {proc.returncode}'}"
        )
    return proc.stdout.decode(errors="replace")
