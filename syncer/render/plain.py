"""Plain manifest directories: every YAML/JSON file, recursively, in a stable order.

Called by ``syncer.render.render`` when the app's path holds neither a
``kustomization.yaml`` nor a ``Chart.yaml``. Files are read in sorted path order and
documents in file order, so the same commit always gives the same object list.
"""

from __future__ import annotations

import json
from pathlib import Path

from syncer.render import errors, files, limits, objects, paths, yamlload

SUFFIXES = (".yaml", ".yml", ".json")


def render(
    *, root: Path, directory: Path, budget: files.Budget, limits: limits.Limits
) -> list[objects.Item]:
    items: list[objects.Item] = []
    targets = (
        [directory]
        if directory.is_file()
        else paths.walk(root=root, start=directory, what="manifests")
    )
    for path in targets:
        if path.suffix.lower() not in SUFFIXES:
            continue
        shown = paths.relative(root=root.resolve(), path=path)
        text = budget.read(path=path, shown=shown)
        items += parse_file(text=text, shown=shown, is_json=path.suffix == ".json", limits=limits)
    return items


def parse_file(
    *, text: str, shown: str, is_json: bool, limits: limits.Limits
) -> list[objects.Item]:
    """The objects of one file (a JSON file holds one object or a List)."""
    if is_json:
        try:
            data = json.loads(text) if text.strip() else None
        except json.JSONDecodeError as exc:
            raise errors.RenderError(f"{shown}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
        return [] if data is None else objects.collect(data=data, origin=shown)
    items: list[objects.Item] = []
    for doc in yamlload.load_all(text, shown=shown, max_nodes=limits.max_yaml_nodes):
        origin = f"{shown}:{doc.line} (document {doc.index})"
        items += objects.collect(data=doc.data, origin=origin)
    return items
