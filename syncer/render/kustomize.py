"""Kustomize: ``kustomize build`` (or ``kubectl kustomize``) of a directory in the snapshot.

Called by ``syncer.render.render`` when the app's path holds a kustomization file.
Before the tool runs, every kustomization it would read is checked: each local
reference (resources, components, patches, generator files...) must resolve inside the
snapshot, no symlink may leave it, files respect the size limit, and every reference
kustomize would fetch over the network is refused (``syncer.render.remote``): the
repository must say everything that gets deployed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syncer.render import errors, files, limits, objects, paths, remote, tools, yamlload

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

# Fields whose entries are paths (or, for resources/components, directories).
_PATH_LISTS = (
    "resources", "bases", "components", "crds", "patchesStrategicMerge",
    "transformers", "generators", "validators", "configurations",
)  # fmt: skip
_PATH_ITEMS = ("patches", "patchesJson6902", "replacements")
_GENERATORS = ("configMapGenerator", "secretGenerator")


def kustomization_file(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        if (directory / name).is_file():
            return directory / name
    return None


def render(
    *,
    root: Path,
    directory: Path,
    budget: files.Budget,
    limits: limits.Limits,
    tool_paths: tools.Tools,
    what: str,
) -> list[objects.Item]:
    check_tree(root=root.resolve(), directory=directory, budget=budget, seen=set())
    kustomize = tool_paths.find("kustomize")
    kubectl = tool_paths.find("kubectl")
    if kustomize:
        args = [kustomize, "build", str(directory)]
    elif kubectl:
        args = [kubectl, "kustomize", str(directory)]
    else:
        raise errors.ToolMissingError(
            f"{what}: a kustomization needs the 'kustomize' binary (or 'kubectl' for "
            "'kubectl kustomize'); neither was found on PATH: install one of them"
        )
    out = tools.run(args, cwd=directory, timeout=limits.tool_timeout, budget=budget, what=what)
    items: list[objects.Item] = []
    for doc in yamlload.load_all(out, shown=f"{what} output", max_nodes=limits.max_yaml_nodes):
        items += objects.collect(data=doc.data, origin=f"kustomize output (document {doc.index})")
    return items


def check_tree(*, root: Path, directory: Path, budget: files.Budget, seen: set[Path]) -> None:
    """Check one kustomization directory and, recursively, those it references."""
    real = directory.resolve()
    if real in seen:
        return
    seen.add(real)
    bad_links = paths.escaping_links(root=root, start=real)
    if bad_links:
        raise errors.UnsafePathError(
            f"{bad_links[0]}: symlink resolves outside the repository (symlink escape); "
            "links must point inside the repo"
        )
    kfile = kustomization_file(real)
    if kfile is None:
        return
    shown = paths.relative(root=root, path=kfile)
    text = budget.read(path=kfile, shown=shown)
    # kustomize decodes these fields as strings: `resources: [on]` names a directory "on".
    docs = yamlload.load_all(
        text, shown=shown, max_nodes=budget.limits.max_yaml_nodes, scalars="strings"
    )
    data = docs[0].data if docs else {}
    if not isinstance(data, dict):
        raise errors.RenderError(f"{shown}: a kustomization must be a mapping")
    for entry in _references(data):
        _check_reference(root=root, base=real, entry=entry, shown=shown, budget=budget, seen=seen)


def _references(data: dict[str, Any]) -> list[str]:
    refs: list[str] = []
    for key in _PATH_LISTS:
        refs += [e for e in _list(data, key) if isinstance(e, str)]
    for key in _PATH_ITEMS:
        refs += [e["path"] for e in _list(data, key) if isinstance(e, dict) and "path" in e]
    for key in _GENERATORS:
        for gen in _list(data, key):
            if not isinstance(gen, dict):
                continue
            for field in ("files", "envs"):
                refs += [str(f).rpartition("=")[2] for f in _list(gen, field)]
            if isinstance(gen.get("env"), str):
                refs.append(gen["env"])
    return refs


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    return value if isinstance(value, list) else []


def _check_reference(
    *, root: Path, base: Path, entry: str, shown: str, budget: files.Budget, seen: set[Path]
) -> None:
    why = remote.reason(entry)
    if why is not None:
        raise errors.UnsafePathError(
            f"{shown}: {entry!r} is {why}; remote resources are not allowed: vendor it "
            "into the repository"
        )
    if entry.startswith("/"):
        raise errors.UnsafePathError(f"{shown}: {entry!r} is absolute; use a relative path")
    target = (base / entry).resolve()
    paths.check_inside(root=root, path=target, shown=entry, what=shown)
    if target.is_dir():
        check_tree(root=root, directory=target, budget=budget, seen=seen)
    elif target.is_file() and target.stat().st_size > budget.limits.max_file_bytes:
        budget.read(path=target, shown=paths.relative(root=root, path=target))
