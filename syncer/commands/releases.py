"""``syncer releases [-c FILE | --server URL] APP [-o json]``: an app's releases, newest
first, with where each went and how it fared.

Registered by ``syncer.cli``; ``GET /api/v1/apps/APP/releases`` of a running syncer, or
the same answer from the state file (``syncer.commands.backend``). The release ids are
what ``syncer rollback --to`` takes.
"""

from __future__ import annotations

import argparse
from typing import Any

from syncer import output
from syncer.commands import backend
from syncer.commands import status as status_cmd


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "releases",
        help="list an app's releases (what rollback --to takes)",
        description="An app's releases, newest first, with each cluster's outcome.",
    )
    backend.add_flags(parser)
    parser.add_argument("app", help="app name")
    output.add_output_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    source = backend.open_backend(args)
    try:
        data = source.get(f"apps/{args.app}/releases")["releases"]
    finally:
        source.close()
    output.emit(data, fmt=args.output, text=_text)
    return 0


def _text(releases: list[dict[str, Any]]) -> str:
    if not releases:
        return "no releases yet"
    lines = []
    for rel in releases:
        images = " ".join(status_cmd.short_image(i["ref"]) for i in rel["images"]) or "-"
        commit = rel["commit"][:7] or "-"
        lines.append(
            f"{rel['id'][:12]}  {status_cmd.when(rel['createdAt'])}  commit {commit}  {images}"
        )
        for t in rel.get("targets", []):
            lines.append(f"  {t['cluster']}: {t['state']}")
    return "\n".join(lines)
