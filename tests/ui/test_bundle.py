"""The committed web UI bundle (``syncer/ui/dist``, what the package serves) is exactly
what its sources build: a clean ``npm ci`` from the lock file (packages cached outside
the checkout), a type check, then ``build.mjs`` into a fresh directory, compared byte
for byte. A source change without a rebuild, or a build that is not reproducible,
fails here."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ui.browser import UI

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

SOURCES = ("package.json", "package-lock.json", "build.mjs", "tsconfig.json", "src")
CACHE = Path(os.environ.get("SYNCER_TEST_CACHE", Path.home() / ".cache" / "syncer-tests")) / "npm"


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def run(*args: str, cwd: Path) -> None:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"


def test_the_committed_bundle_is_what_the_sources_build(tmp_path: Path) -> None:
    if shutil.which("npm") is None:
        pytest.fail("npm is missing: install Node.js 20 or newer")
    work = tmp_path / "ui"
    work.mkdir()
    for name in SOURCES:
        source = UI / name
        if source.is_dir():
            shutil.copytree(source, work / name)
        else:
            shutil.copyfile(source, work / name)
    run("npm", "ci", "--no-audit", "--no-fund", "--prefer-offline", f"--cache={CACHE}", cwd=work)
    run("npx", "--no-install", "tsc", "--noEmit", "-p", ".", cwd=work)
    run("node", "build.mjs", str(tmp_path / "dist"), cwd=work)
    built, committed = tree(tmp_path / "dist"), tree(UI / "dist")
    assert sorted(built) == sorted(committed), "rebuild with: cd syncer/ui && npm run build"
    for name, content in built.items():
        assert content == committed[name], f"{name} differs from a fresh build"
