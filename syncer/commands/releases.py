"""``syncer releases [-c FILE | --server URL] APP [-o wide|json|yaml]``: an app's
releases, newest first, with where each went and how it fared.

Registered by ``syncer.cli``; ``GET /api/v1/apps/APP/releases`` of a running syncer, or
the same answer from the state file (``syncer.commands.backend``): each release's id,
the commit it was made from, its images and, per cluster, the state its rollout
reached. The release ids are what ``syncer rollback APP --to RELEASE`` takes.
"""

from __future__ import annotations

import argparse
from typing import Any

from syncer import output
from syncer.commands import backend, common
from syncer.commands import status as status_cmd

EXAMPLES = """examples:
  # the releases of web, newest first, and their state per cluster
  syncer releases -c deploy/syncer.yaml web
  # with the images each release deploys and its creation time
  syncer releases -c deploy/syncer.yaml web -o wide
  # as a running syncer knows them
  syncer releases --server https://syncer.example.com web
  # roll back to one of them
  syncer rollback -c deploy/syncer.yaml web --to 3f2a9c1b
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "releases",
        help="list an app's releases and where each went (what rollback --to takes)",
        description="An app's releases (commit, images), newest first, with the state of "
        "each one's rollout per cluster.",
        epilog=EXAMPLES,
    )
    backend.add_flags(parser)
    common.complete(parser.add_argument("app", metavar="APP", help="app name"), common.app_names)
    output.add_output_flag(parser, wide=True)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    source = backend.open_backend(args)
    try:
        data = source.get(f"apps/{args.app}/releases")["releases"]
    finally:
        source.close()
    status_cmd.emit_listing(data, fmt=args.output, text=text)
    return 0


COLUMNS = (
    output.Column("RELEASE", lambda r: r["id"][:12]),
    output.Column("COMMIT", lambda r: r["commit"][:7]),
    output.Column("AGE", lambda r: output.age(r["createdAt"])),
    output.Column("CLUSTERS", lambda r: _where(r.get("targets", []))),
    output.Column(
        "IMAGES", lambda r: ",".join(status_cmd.short_image(i["ref"]) for i in r["images"]),
        wide=True,
    ),
    output.Column("CREATED", lambda r: status_cmd.when(r["createdAt"]), wide=True),
)  # fmt: skip


def _where(targets: list[dict[str, Any]]) -> str:
    """``a=healthy,b=rolled-back``: the state of the release's rollout per cluster."""
    return ",".join(f"{t['cluster']}={t['state']}" for t in targets)


def text(releases: list[dict[str, Any]], *, wide: bool = False) -> str:
    if not releases:
        return "no releases yet"
    return output.table(releases, COLUMNS, wide=wide)
