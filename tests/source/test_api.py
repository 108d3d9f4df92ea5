"""The source and render packages' public surface, and the rule that GitPython stays
behind ``syncer/source/gitcli.py``."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest

from syncer import errors, render, source
from tests.source.conftest import make_source

ROOT = Path(__file__).resolve().parents[2]


def test_public_api_is_pinned():
    assert sorted(source.__all__) == [
        "ChartAuthError", "ChartInvalidError", "ChartSettings", "ChartSources",
        "ChartUnavailableError", "GitAuthError", "GitBinaryMissingError", "GitSources",
        "GitUnavailableError",
        "RefNotFoundError", "Result", "Revision", "Settings", "SourceError",
    ]  # fmt: skip
    assert sorted(render.__all__) == [
        "APP_LABEL", "Capabilities", "ImageChange", "ImageChoice", "LimitError", "Limits",
        "MANAGED_BY_LABEL",
        "MANAGED_BY_VALUE", "RenderError", "Rendered", "ToolFailedError", "ToolMissingError",
        "Tools", "UnsafePathError", "find", "render",
    ]  # fmt: skip


def test_gitpython_is_imported_only_by_gitcli():
    offenders = []
    for path in sorted(
        [*ROOT.joinpath("syncer").rglob("*.py"), *ROOT.joinpath("registry").rglob("*.py")]
    ):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            if any(n == "git" or n.startswith("git.") for n in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert sorted(set(offenders)) == ["syncer/source/gitcli.py"]  # where it is used


def test_no_gitpython_exception_leaks(tmp_path, git_sources):
    import git

    bad = make_source("bad", str(tmp_path / "no-such-repo"), branch="main", timeout=5.0)
    with pytest.raises(errors.SyncerError) as err:
        git_sources().poll(bad)
    assert not isinstance(err.value, git.exc.GitError)
    assert isinstance(err.value, source.GitUnavailableError)
    assert "no-such-repo" in str(err.value)


def test_concurrent_polls_of_one_repo_share_one_fetch(git_http, git_sources):
    repo = git_http.create_repo("deploy", {"a": "1"})
    sources = git_sources()
    srcs = [make_source(f"app{i}", repo.url, branch="main") for i in range(8)]
    results = {}

    def poll(src):
        results[src.name] = sources.poll(src)

    threads = [threading.Thread(target=poll, args=(s,)) for s in srcs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert {r.commit for r in results.values()} == {repo.head()}
    assert git_http.count("fetch") == 1
    assert sources.counts()["fetch"] == 1
