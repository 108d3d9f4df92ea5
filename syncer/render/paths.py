"""Paths confined to the snapshot: joining config paths, and spotting escaping symlinks.

Every path ``syncer.render`` opens comes from ``confine`` (app paths, values files,
kustomize references) or from ``walk`` (plain manifest directories). Both check the path
after resolving symlinks, so neither ``..`` nor a link to ``/etc`` leaves the snapshot.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from syncer.render import errors


def confine(*, root: Path, rel: str, what: str) -> Path:
    """``root/rel`` resolved; an error when ``rel`` is absolute, uses ``..`` to leave the
    root, or resolves (through symlinks) outside it."""
    pure = PurePosixPath(rel)
    if pure.is_absolute():
        raise errors.UnsafePathError(f"{what}: {rel!r} is absolute; use a path inside the repo")
    if ".." in pure.parts:
        raise errors.UnsafePathError(
            f"{what}: {rel!r} contains '..'; paths must stay inside the repository"
        )
    root = root.resolve()
    target = (root / pure).resolve()
    check_inside(root=root, path=target, shown=rel, what=what)
    return target


def check_inside(*, root: Path, path: Path, shown: str, what: str) -> None:
    resolved = path.resolve()
    if resolved != root and root not in resolved.parents:
        raise errors.UnsafePathError(
            f"{what}: {shown!r} resolves outside the repository (symlink escape); "
            "links must point inside the repo"
        )


def relative(*, root: Path, path: Path) -> str:
    """``path`` as users see it: relative to the snapshot root, with forward slashes."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def walk(*, root: Path, start: Path, what: str) -> Iterator[Path]:
    """Every regular file under ``start`` in sorted order, following symlinks that stay
    inside ``root`` (and refusing ones that do not); each directory is visited once."""
    root = root.resolve()
    seen: set[Path] = set()

    def visit(directory: Path) -> Iterator[Path]:
        real = directory.resolve()
        if real in seen:
            return  # a link back to a directory already walked
        seen.add(real)
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            path = Path(entry.path)
            if entry.name.startswith("."):
                continue  # .git, editor files: never manifests
            if entry.is_symlink():
                check_inside(root=root, path=path, shown=relative(root=root, path=path), what=what)
            if entry.is_dir():
                yield from visit(path)
            elif entry.is_file():
                yield path

    yield from visit(start)


def escaping_links(*, root: Path, start: Path) -> list[str]:
    """Symlinks under ``start`` that resolve outside ``root`` (for tools that read files
    themselves, like kustomize and helm), relative to ``root``."""
    root = root.resolve()
    bad = []
    for dirpath, dirnames, filenames in os.walk(start):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                resolved = path.resolve()
                if resolved != root and root not in resolved.parents:
                    bad.append(relative(root=root, path=path))
    return sorted(bad)
