"""``syncer status -c FILE [-o json]``: every app, the release on each cluster, health.

Registered by ``syncer.cli``; reads the state file (what ``syncer run``/``sync``
recorded) through the same ``Controller.apps_status`` the HTTP API serves. Touches no
cluster, Git server or registry.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
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
    """A controller over the state file only (for status, history).

    With no state file yet it answers from an empty store rather than create the file,
    and says so on stderr.
    """
    config = loader.load(config_path)
    path = state.state_path(base_dir=config.base_dir, path=config.state.path)
    if not path.exists():
        print(
            f"syncer: no state yet at {path} (run `syncer sync` or `syncer run` first)",
            file=sys.stderr,
        )
    store = state.open_store(path if path.exists() else ":memory:")
    parts: parts_.Parts = _NoParts()  # type: ignore[assignment]
    return controller.Controller(config=config, store=store, parts=parts), store


def run(args: argparse.Namespace) -> int:
    ctl, store = read_only(args.config)
    try:
        data = ctl.apps_status()
    finally:
        store.close()
    output.emit(data if args.output == "text" else iso_times(data), fmt=args.output, text=_text)
    return 0


TIME_KEYS = frozenset({"at", "since"})


def iso_times(data: Any) -> Any:
    """``data`` with its timestamps (``*At``, ``at``, ``since``) as ISO-8601 UTC strings."""
    if isinstance(data, list):
        return [iso_times(item) for item in data]
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    for key, value in data.items():
        timed = key in TIME_KEYS or (key.endswith("At") and key[:1].islower())
        if timed and isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = iso(value)
        else:
            out[key] = iso_times(value)
    return out


def iso(ts: float) -> str:
    return (
        dt.datetime.fromtimestamp(ts, tz=dt.UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z")
    )


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
