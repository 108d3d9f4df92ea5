"""``syncer history [-c FILE | --server URL] APP [-o json]``: what happened to an app,
newest first.

Registered by ``syncer.cli``; ``GET /api/v1/apps/APP/history`` of a running syncer, or
the same answer from the state file (``syncer.commands.backend``): new releases,
rollouts, applies, health, rollbacks, drift, errors, and who approved, rejected,
rolled back or suspended, each with its cluster and release.
"""

from __future__ import annotations

import argparse
from typing import Any

from syncer import errors, output
from syncer.commands import backend
from syncer.commands import status as status_cmd
from syncer.server import api


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "history",
        help="show an app's history (releases, rollouts, rollbacks, errors)",
        description="An app's recorded history, newest first.",
    )
    backend.add_flags(parser)
    parser.add_argument("app", help="app name")
    parser.add_argument("-n", "--limit", type=int, default=50, help="entries (default 50)")
    output.add_output_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    source = backend.open_backend(args)
    try:
        try:
            data = source.get(f"apps/{args.app}/history", {"limit": args.limit})["history"]
        except errors.ConfigError as err:
            if not isinstance(source, backend.Local):
                raise
            data = _removed_app(source, app=args.app, limit=args.limit, err=err)
    finally:
        source.close()
    output.emit(data, fmt=args.output, text=_text)
    return 0


def _removed_app(
    source: backend.Local, *, app: str, limit: int, err: errors.ConfigError
) -> list[dict[str, Any]]:
    """An app removed from the config keeps its history in the state file (what became
    of its objects), though the API knows configured apps only."""
    ctl = source.controller
    if ctl.app_status(app) is not None:
        raise err  # a configured app: the API's own problem (a bad limit)
    kept = ctl.history(app, limit) if limit > 0 else []
    if kept:
        return list(api.iso_times(kept))
    names = ", ".join(a.name for a in ctl.config.apps) or "none"
    raise errors.ConfigError([f"no app named {app!r} in {source.path} (apps: {names})"])


def _text(events: list[dict[str, Any]]) -> str:
    if not events:
        return "no history yet"
    lines = []
    for e in events:
        where = f" [{e['cluster']}]" if e["cluster"] else ""
        lines.append(f"{status_cmd.when(e['at'])}  {e['kind']:<10}{where} {e['message']}")
    return "\n".join(lines)
