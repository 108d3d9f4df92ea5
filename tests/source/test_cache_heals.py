"""A Git cache whose files were damaged (disk trouble, a killed process) heals itself: a
git failure that is not the network's or the credentials' runs ``git fsck``; a corrupt
cache is removed and cloned again, and the log says why."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from syncer.source import cache
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
    """Overwrite everything after the header with garbage, as failing disk blocks would
    (a pack keeps its 12-byte header and its checksum, so git still opens it)."""
    data = bytearray(path.read_bytes())
    path.chmod(0o644)
    end = len(data) - 20 if path.suffix == ".pack" else len(data)
    start = 12 if path.suffix == ".pack" else 2
    data[start:end] = (b"\xde\xad\xbe\xef" * (len(data) // 4 + 1))[: max(0, end - start)]
    path.write_bytes(bytes(data))


def cache_objects(cache_dir: Path) -> list[Path]:
    found = list(cache_dir.glob("*/repo.git/objects/pack/*.pack"))
    found += list(cache_dir.glob("*/repo.git/objects/??/*"))
    return found


@pytest.mark.parametrize("what", ["packs", "loose-and-packs"])
def test_a_corrupt_cache_is_checked_removed_and_cloned_again(
    git_http, git_sources, tmp_path, caplog, what
):
    repo = git_http.create_repo("deploy", FILES)
    src = make_source("deploy", repo.url, branch="main", timeout=30.0)
    first = git_sources().poll(src)
    new = repo.commit({"apps/web/cm.yaml": "kind: ConfigMap\nmetadata: {name: web2}\n"})
    assert git_sources().poll(src).commit == new
    objects = cache_objects(tmp_path / "cache")
    packs = [p for p in objects if p.suffix == ".pack"]
    assert packs, "the first fetch kept no pack"
    for path in objects if what == "loose-and-packs" else packs:
        damage(path)
    # The branch goes back to the first commit, whose snapshot was cleaned up: a
    # restarted controller must read it from the damaged objects.
    cache.RepoCache(
        root=tmp_path / "cache", url=repo.url, display_url=repo.url, timeout=30.0
    ).cleanup(keep=set(), keep_recent=0)
    repo.move_branch("main", first.commit)
    caplog.set_level(logging.WARNING, logger="syncer.source")
    fetches = git_http.count("fetch")

    rev = git_sources().poll(src)

    assert rev.commit == first.commit
    assert (rev.path / "apps/web/cm.yaml").read_text() == FILES["apps/web/cm.yaml"]
    assert (rev.path / "apps/web/big.yaml").read_text() == FILES["apps/web/big.yaml"]
    (line,) = [r.getMessage() for r in caplog.records if "event=cache-corrupt" in r.getMessage()]
    assert "re-cloning" in line and "fsck" in line and repo.url in line
    assert git_http.count("fetch") == fetches + 1  # cloned again, once


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
