"""``syncer history -c FILE APP [-o json]``: what happened to an app, newest first.

Registered by ``syncer.cli``; reads the state file: new releases, rollouts, applies,
health, rollbacks, drift and errors, each with its cluster and release.
"""

from __future__ import annotations

import argparse
from typing import Any

from syncer import errors, output
from syncer.commands import status as status_cmd


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "history",
        help="show an app's history (releases, rollouts, rollbacks, errors)",
        description="An app's recorded history, newest first.",
    )
    parser.add_argument("-c", "--config", default="syncer.yaml", help="config file")
    parser.add_argument("app", help="app name")
    parser.add_argument("-n", "--limit", type=int, default=50, help="entries (default 50)")
    output.add_output_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    ctl, store = status_cmd.read_only(args.config)
    try:
        # An app removed from the config keeps its history (what became of its objects).
        if ctl.app_status(args.app) is None and not ctl.history(args.app, 1):
            raise errors.ConfigError(
                [f"no app named {args.app!r} in {args.config} "
                 f"(apps: {', '.join(a.name for a in ctl.config.apps) or 'none'})"]
            )  # fmt: skip
        data = ctl.history(args.app, args.limit)
    finally:
        store.close()
    output.emit(
        data if args.output == "text" else status_cmd.iso_times(data),
        fmt=args.output, text=_text,
    )  # fmt: skip
    return 0


def _text(events: list[dict[str, Any]]) -> str:
    if not events:
        return "no history yet"
    lines = []
    for e in events:
        where = f" [{e['cluster']}]" if e["cluster"] else ""
        lines.append(f"{status_cmd.when(e['at'])}  {e['kind']:<10}{where} {e['message']}")
    return "\n".join(lines)
