"""A Git cache whose files were damaged (disk trouble, a killed process) heals itself: a
git failure that is not the network's or the credentials' runs ``git fsck``; a corrupt
cache is removed and cloned again, and the log says why."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from syncer.source import errors as source_errors
from tests.source.conftest import make_source

pytestmark = pytest.mark.integration

FILES = {
    "apps/web/cm.yaml": "kind: ConfigMap\nmetadata: {name: web}\n",
    "apps/web/big.yaml": "data:\n" + "".join(f"  k{i}: value-{i}\n" for i in range(2000)),
    # More objects than git's unpack limit (100): the first fetch keeps them in a pack.
    **{f"apps/other/f{i}.yaml": f"n: {i}\n" for i in range(150)},
}


def damage(path: Path) -> None:
    """Overwrite every other 64 bytes after the header with garbage, as failing disk
    blocks would (the pack header and loose object prefix stay, so git still tries)."""
    data = bytearray(path.read_bytes())
    path.chmod(0o644)
    for start in range(12, max(13, len(data) - 20), 128):
        data[start : start + 64] = b"\xde\xad\xbe\xef" * 16
    path.write_bytes(bytes(data[: len(path.read_bytes())]))


def cache_objects(cache: Path) -> list[Path]:
    found = [p for p in cache.glob("*/repo.git/objects/pack/*.pack")]
    found += [p for p in cache.glob("*/repo.git/objects/??/*")]
    return found


@pytest.mark.parametrize("what", ["packs", "loose-and-packs"])
def test_a_corrupt_cache_is_checked_removed_and_cloned_again(
    git_http, git_sources, tmp_path, caplog, what
):
    repo = git_http.create_repo("deploy", FILES)
    src = make_source("deploy", repo.url, branch="main", timeout=30.0)
    first = git_sources().poll(src)
    objects = cache_objects(tmp_path / "cache")
    assert objects, "the first poll made no cache"
    packs = [p for p in objects if p.suffix == ".pack"]
    assert packs, "the first fetch kept no pack"
    for path in objects if what == "loose-and-packs" else packs:
        damage(path)

    # A restarted controller (fresh memory) sees a new commit that changes one file: the
    # unchanged ones come from the damaged objects.
    new = repo.commit({"apps/web/cm.yaml": "kind: ConfigMap\nmetadata: {name: web2}\n"})
    caplog.set_level(logging.WARNING, logger="syncer.source")
    rev = git_sources().poll(src)

    assert rev.commit == new != first.commit
    assert (rev.path / "apps/web/cm.yaml").read_text().endswith("{name: web2}\n")
    assert (rev.path / "apps/web/big.yaml").read_text() == FILES["apps/web/big.yaml"]
    (line,) = [r.getMessage() for r in caplog.records if "event=cache-corrupt" in r.getMessage()]
    assert "re-cloning" in line and "fsck" in line and repo.url in line


def test_a_network_error_does_not_touch_the_cache(git_http, git_sources, tmp_path, caplog):
    repo = git_http.create_repo("deploy", FILES)
    src = make_source("deploy", repo.url, branch="main", timeout=30.0)
    sources = git_sources()
    sources.poll(src)
    git_dir = next((tmp_path / "cache").glob("*/repo.git"))
    before = sorted(p.name for p in git_dir.rglob("*"))

    git_http.stop()
    caplog.set_level(logging.INFO, logger="syncer.source")
    with pytest.raises(source_errors.GitUnavailableError):
        git_sources().poll(src)

    assert sorted(p.name for p in git_dir.rglob("*")) == before
    assert not [r for r in caplog.records if "fsck" in r.getMessage()]
