"""``syncer status [-c FILE | --server URL] [-o json]``: every app, the release on each
cluster, health.

Registered by ``syncer.cli``; asks ``GET /api/v1/apps`` of a running syncer, or answers
it from the state file (what ``syncer run``/``sync`` recorded) through the same API
function (``syncer.commands.backend``). Touches no cluster, Git server or registry.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from syncer import output
from syncer.commands import backend


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="show each app's release, clusters and health",
        description="What runs where: as recorded in the state file, or as a running "
        "syncer (--server) says.",
    )
    backend.add_flags(parser)
    output.add_output_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    source = backend.open_backend(args)
    try:
        data = source.get("apps")["apps"]
    finally:
        source.close()
    output.emit(data, fmt=args.output, text=_text)
    return 0


def when(ts: float | str | None) -> str:
    """A time for people; ``ts`` as the API gives it (ISO-8601) or seconds since 1970."""
    if not ts:
        return "never"
    at = (
        dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
        if isinstance(ts, str)
        else dt.datetime.fromtimestamp(ts, tz=dt.UTC)
    )
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


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
            if not c["release"]:
                # Never got a release (unreachable, bad kubeconfig context): say why.
                lines.append(
                    f"  {c['cluster']}: not deployed: {c.get('error') or 'no release yet'}"
                )
                continue
            lines.append(f"  {c['cluster']}: {c['release'][:12]} {_health(c)}{_runs(c)}")
        for hold in a.get("holds", []):
            stage = f" --stage {hold['stage']}" if hold["stage"] else ""
            lines.append(f"  {hold['message']} (`syncer resume {a['name']}{stage}`)")
        for wait in a.get("waiting", []):
            lines.append(f"  {wait}")
        for warning in a.get("warnings", []):
            lines.append(f"  warning: {warning}")
        for e in a["errors"]:
            where = f"{e['cluster']}: " if e["cluster"] else ""
            lines.append(f"  error: {where}{e['stage']}: {e['message']}")
        lines += _write_back(a.get("writeBack"))
        if a["message"] and a["status"] != "Healthy":
            lines.append(f"  last: {a['message']}")
    return "\n".join(lines)


def _write_back(found: dict[str, Any] | None) -> list[str]:
    """Where Git was last told the app's images, and what it has not been told yet."""
    if not found:
        return []
    lines = []
    if found["commit"]:
        lines.append(
            f"  write-back: commit {found['commit'][:7]} on {found['branch']}"
            f" at {when(found['at'])}"
        )
    if found["pending"]:
        images = " ".join(short_image(ref) for ref in found["pending"])
        lines.append(f"  write-back pending: {images}")
    return lines


def _health(cluster: dict[str, Any]) -> str:
    health = cluster.get("health", "")
    if health == "Unknown":
        return "health unknown (cluster not answering)"
    if health == "Progressing":
        return "progressing"
    return "healthy" if cluster["healthy"] else "not healthy"


def _runs(cluster: dict[str, Any]) -> str:
    """`` commit 1a2b3c4, images web:1.4.2@sha256:3f2a…, applied 2026-…Z`` for one line."""
    parts = []
    if cluster.get("commit"):
        parts.append(f"commit {cluster['commit'][:7]}")
    images = [short_image(ref) for ref in cluster.get("images", [])]
    if images:
        parts.append(f"images {' '.join(images)}")
    if cluster.get("lastAppliedAt"):
        parts.append(f"applied {when(cluster['lastAppliedAt'])}")
    return f"  ({', '.join(parts)})" if parts else ""


def short_image(ref: str) -> str:
    """``host/team/web:1.4.2@sha256:<64 hex>`` -> ``web:1.4.2@sha256:<12 hex>``."""
    name, at, digest = ref.partition("@")
    name = name.rsplit("/", 1)[-1]
    return f"{name}{at}{digest[:19]}" if at else name
