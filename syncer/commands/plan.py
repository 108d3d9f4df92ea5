"""``syncer plan [-c FILE | --server URL] [APP ...]``: what a sync would change, with
nothing written.

Registered by ``syncer.cli``; runs ``syncer.reconcile.plan`` for each app: fresh Git
and registry polls, rendering per cluster, and a server-side dry run against each
reachable cluster (a unified diff per object). The release is decided by the same code
as ``sync`` (``syncer.reconcile.decide``), and each cluster says why a sync would not
roll it out now (pipeline gate, suspension, pin). Unreachable clusters and registries
are reported in plain words and the objects that would be applied are printed (Secret
values as hashes). Exit 0 when the sync would succeed everywhere; 1 when it would be
refused or fail anywhere (gateway violation, invalid object, conflict, immutable field,
registry policy or credential error, unknown context or unreachable cluster), with the
reason per cluster; with ``--exit-code``, 2 when it would change something. ``--local
PATH`` renders a working tree instead of the fetched commit. Apps the tenants keep in
their own repositories (``tenants[].appsFrom``) are read at their newest commit and
planned with the file's; a tenant whose files are refused is named on stderr (exit 1).
The state file is only read (inventories, so pruning shows up; cluster states,
approvals and holds, for gates).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from syncer import errors, output, state
from syncer.commands import backend, common
from syncer.commands import status as status_cmd
from syncer.commands import sync as sync_cmd
from syncer.config import loader
from syncer.reconcile import plan as plan_
from syncer.reconcile import tenantapps


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="show what a sync would change (nothing is written)",
        description="Render every app for its clusters with the images its policies pick "
        "now, and diff against the live clusters (server-side dry run).",
        epilog=EXAMPLES,
    )
    backend.add_flags(parser)
    common.add_app_arguments(parser, command="plan", many=True)
    parser.add_argument(
        "--exit-code",
        action="store_true",
        help="exit 2 when a sync now would change something (0: nothing; 1: refused/error)",
    )
    parser.add_argument(
        "--local",
        metavar="PATH",
        help="render this working tree of the app's repository instead of the fetched "
        "commit (e.g. a pull request's checkout)",
    )
    output.add_output_flag(parser, wide=True)
    parser.set_defaults(func=run)


EXAMPLES = """examples:
  # what a sync now would change, per app and cluster, with a diff per object
  syncer plan -c deploy/syncer.yaml
  # a pull request's check: 0 nothing changes, 2 something does, 1 refused
  syncer plan -c deploy/syncer.yaml web --local "$GITHUB_WORKSPACE" --exit-code
  # the summary table with commits, images and gates; or everything as JSON
  syncer plan -c deploy/syncer.yaml -o wide
  # as a running syncer would do it, with its own credentials
  syncer plan --server https://syncer.example.com web
  syncer plan -c deploy/syncer.yaml web -o json | jq '.[].clusters[].summary'
"""


def run(args: argparse.Namespace) -> int:
    from syncer.reconcile import live  # the real Git/registry/cluster clients, when needed

    if backend.is_remote(args):
        return _finish(args, _remote_reports(args))
    config = loader.load(backend.config_path(args))
    parts = live.LiveParts(config)
    try:
        # The tenants' own apps (appsFrom) are planned like the file's.
        config, book = tenantapps.include(config, snapshot=parts.poll_source)
        unread = book.describe()
        names = sync_cmd.select_apps(config, args.app)
    except BaseException:
        parts.close()
        raise
    local = Path(args.local) if args.local else None
    if local is not None and len({a.source for a in config.apps if a.name in names}) > 1:
        parts.close()
        raise errors.ConfigError(["--local: the apps planned read different sources; name one APP"])
    store = state.open_for(config, create=False)
    try:
        with parts.read_round():  # every app's reads share one LIST per kind and cluster
            reports = [
                plan_.plan_app(
                    config=config, parts=parts, store=store, name=name, local=local
                ).to_dict()
                for name in names
            ]
    finally:
        parts.close()
        if store is not None:
            store.close()
    if unread:
        # What a running syncer would keep refusing: said, and the plan is not clean.
        print(f"syncer: {unread}", file=sys.stderr)
        code = _finish(args, reports)
        return code if code == sync_cmd.EXIT_FAILED else sync_cmd.EXIT_FAILED
    return _finish(args, reports)


def _remote_reports(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The running syncer's plans: its own polls and dry runs, with its credentials."""
    if args.local:
        raise errors.ConfigError(
            ["--local: a working tree on this machine cannot be planned by a server; "
             "plan it with -c FILE"]
        )  # fmt: skip
    target = backend.open_backend(args)
    try:
        names = args.app or [a["name"] for a in target.get("apps")["apps"]]
        return [target.get(f"apps/{name}/plan") for name in dict.fromkeys(names)]
    finally:
        target.close()


def _finish(args: argparse.Namespace, reports: list[dict[str, Any]]) -> int:
    output.emit(reports, fmt=args.output, text=status_cmd.renderer(text, fmt=args.output))
    if not all(r["ok"] for r in reports):
        return sync_cmd.EXIT_FAILED
    return EXIT_CHANGES if args.exit_code and any(r["changes"] for r in reports) else 0


EXIT_CHANGES = 2
"""``plan --exit-code``: a sync now would change something (a CI gate)."""


COLUMNS = (
    output.Column("APP", lambda r: r["app"]["app"]),
    output.Column("CLUSTER", lambda r: r["cluster"].get("cluster", "")),
    output.Column("RESULT", lambda r: _result(r["app"], r["cluster"]), coloured=True),
    output.Column("CHANGES", lambda r: _changes(r["cluster"])),
    output.Column("RELEASE", lambda r: r["app"]["release"][:12]),
    output.Column("COMMIT", lambda r: r["app"]["commit"][:7] or r["app"]["tree"], wide=True),
    output.Column(
        "IMAGES", lambda r: ",".join(status_cmd.short_image(i["ref"]) for i in r["app"]["images"]),
        wide=True,
    ),
    output.Column("GATE", lambda r: r["cluster"].get("gate", ""), wide=True),
    output.Column(
        "MESSAGE", lambda r: r["cluster"].get("error") or r["app"]["error"], wide=True
    ),
)  # fmt: skip
"""One row per app and cluster, above the diffs; ``-o wide`` adds what the release is
made of and why a sync would not roll it out now."""


def text(reports: list[dict[str, Any]], *, wide: bool = False) -> str:
    """The summary table, then per app its release, images and a diff per object."""
    rows = [{"app": r, "cluster": c} for r in reports for c in (r["clusters"] or [{}])]
    lines: list[str] = [output.table(rows, COLUMNS, wide=wide)] if rows else []
    for report in reports:
        lines.append("")
        lines.append(f"{report['app']}:")
        for line in sync_cmd.plan_text(report):
            # A multi-line message (gateway violations, conflicts) stays under its line.
            first, *rest = line.split("\n")
            lines.append("  " + first)
            lines.extend("      " + more for more in rest)
    return "\n".join(lines)


def _result(report: dict[str, Any], cluster: dict[str, Any]) -> str:
    if cluster.get("error") or report["error"]:
        return "error"
    if not cluster:
        return "no clusters"
    if not cluster["reachable"]:
        return "unreachable"
    return "changes" if cluster["changes"] else "in sync"


def _changes(cluster: dict[str, Any]) -> str:
    summary = cluster.get("summary") or {}
    return ", ".join(f"{n} {k}" for k, n in summary.items() if n)
