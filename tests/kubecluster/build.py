"""Where the real control plane's binaries are, and building them (build.sh) when missing.

tests/setup runs ``python -m tests.kubecluster.build`` (which runs build.sh once per
version into a cache outside the checkout); cluster.py asks ``installed()`` for the
binaries' folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("build.sh")
VERSION = os.environ.get("SYNCER_KUBE_VERSION", "1.37.2")
BINARIES = ("kube-apiserver", "kube-controller-manager", "etcd")


def cache_dir() -> Path:
    """$SYNCER_TEST_CACHE, else $XDG_CACHE_HOME/syncer-tests, else ~/.cache/syncer-tests."""
    explicit = os.environ.get("SYNCER_TEST_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "syncer-tests"


def installed() -> Path | None:
    """The folder holding every binary of VERSION, or None when one is missing."""
    folder = cache_dir() / f"kube-v{VERSION}" / "bin"
    if all(os.access(folder / name, os.X_OK) for name in BINARIES):
        return folder
    return None


def main() -> int:
    if installed() is not None:
        print(f"kube: control plane v{VERSION} cached in {installed()}")
        return 0
    print(
        f"kube: building the control plane v{VERSION} (once; cached in {cache_dir()})", flush=True
    )
    done = subprocess.run(["bash", str(SCRIPT)], check=False)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
