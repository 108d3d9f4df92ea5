"""Helpers for render tests: write a repository tree, make an app, render it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from syncer.config import model
from syncer.render import pipeline, tools


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (path -> text; text starting with ``-> `` makes a symlink)."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if text.startswith("-> "):
            os.symlink(text[3:], path)
        else:
            path.write_text(text)
    return root


def make_app(path: str = "app", **extra: Any) -> model.App:
    return model.App(name="web", source="repo", path=path, namespace="shop", **extra)


def render_tree(
    root: Path, *, path: str = "app", cluster: model.Cluster | None = None, **kw: Any
) -> pipeline.Rendered:
    tool_paths = kw.pop("tool_paths", tools.Tools())
    app = kw.pop("app", None) or make_app(path)
    return pipeline.render(app=app, snapshot=root, cluster=cluster, tool_paths=tool_paths, **kw)


CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\n"


# Render tests of hostile Git repositories poll them like the controller does.
from tests.source.conftest import git_sources  # noqa: E402, F401
