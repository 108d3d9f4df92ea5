"""``syncer status -c FILE [-o json]``: every app, the release on each cluster, health.

Registered by ``syncer.cli``; reads the state file (what ``syncer run``/``sync``
recorded) through the same ``Controller.apps_status`` the HTTP API serves. Touches no
cluster, Git server or registry.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from syncer import controller, output, state
from syncer.config import loader
from syncer.reconcile import parts as parts_


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="show each app's release, clusters and health",
        description="What runs where, as recorded in the state file.",
    )
    parser.add_argument("-c", "--config", default="syncer.yaml", help="config file")
    output.add_output_flag(parser)
    parser.set_defaults(func=run)


class _NoParts:
    """Reading state needs no Git, registry or cluster access."""

    def cleanup(self) -> None:
        pass

    def close(self) -> None:
        pass


def read_only(config_path: str) -> tuple[controller.Controller, state.Store]:
    """A controller over the state file only (for status, history)."""
    config = loader.load(config_path)
    path = state.state_path(base_dir=config.base_dir, path=config.state.path)
    # Nothing recorded yet: answer from an empty store rather than create the file.
    store = state.open_store(path if path.exists() else ":memory:")
    parts: parts_.Parts = _NoParts()  # type: ignore[assignment]
    return controller.Controller(config=config, store=store, parts=parts), store


def run(args: argparse.Namespace) -> int:
    ctl, store = read_only(args.config)
    try:
        data = ctl.apps_status()
    finally:
        store.close()
    output.emit(data, fmt=args.output, text=_text)
    return 0


def when(ts: float | None) -> str:
    if not ts:
        return "never"
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _text(apps: list[dict[str, Any]]) -> str:
    if not apps:
        return "no apps configured"
    lines = []
    for a in apps:
        release = a["release"][:12] or ", ".join(r[:12] for r in a["releases"]) or "-"
        lines.append(
            f"{a['name']}: {a['status']}  release {release}  last sync {when(a['lastAttemptAt'])}"
        )
        for c in a["clusters"]:
            health = "healthy" if c["healthy"] else "not healthy"
            lines.append(f"  {c['cluster']}: {c['release'][:12]} {health}")
        for wait in a.get("waiting", []):
            lines.append(f"  {wait}")
        for e in a["errors"]:
            where = f"{e['cluster']}: " if e["cluster"] else ""
            lines.append(f"  error: {where}{e['stage']}: {e['message']}")
        if a["message"] and a["status"] != "Healthy":
            lines.append(f"  last: {a['message']}")
    return "\n".join(lines)
