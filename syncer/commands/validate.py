"""``syncer validate -c FILE``: check a configuration file without touching anything.

Registered by ``syncer.cli``; calls ``syncer.config.loader.load``, then the checks each
pipeline gets when it is planned (``syncer.rollout.validate``) and, with ``--tenant
NAME --local PATH``, reads that tenant's app files from a working tree as ``run`` reads
them from Git (``syncer.reconcile.tenantapps``); then prints a one-line
summary (or, with ``-o json``, the same as data). An invalid file exits 2 with every
problem on stderr, one line each (and, with ``-o json``, ``{"valid": false, ...}``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from syncer import errors, output
from syncer.config import loader, model
from syncer.rollout import validate

EXIT_INVALID = 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check a configuration file",
        description="Check a syncer configuration file: types, allowed values, references.",
        epilog=EXAMPLES,
    )
    parser.add_argument(
        "-c", "--config", default="syncer.yaml", help="config file (default: syncer.yaml)"
    )
    parser.add_argument(
        "--tenant",
        help="also check this tenant's own app files (its appsFrom) in --local PATH, as"
        " syncer run would read them",
    )
    parser.add_argument(
        "--local",
        metavar="PATH",
        help="with --tenant: the root of a working tree of the tenant's repository (e.g."
        " a pull request's checkout); nothing is fetched",
    )
    output.add_output_flag(parser)
    parser.set_defaults(func=run)


EXAMPLES = """examples:
  # exit 0 and a summary when valid; 2 and one line per problem (file:line: field) when not
  syncer validate -c deploy/syncer.yaml
  syncer validate -c deploy/syncer.yaml -o json | jq .valid
  # a team's pull request: its app files (tenants[].appsFrom) within its tenant's rules
  syncer validate -c platform/syncer.yaml --tenant team-a --local "$GITHUB_WORKSPACE"
"""


def run(args: argparse.Namespace) -> int:
    try:
        config = loader.load(args.config)
        pipeline_problems(config, file=args.config)
        if args.tenant or args.local:
            config = with_tenant_files(config, tenant=args.tenant, local=args.local)
    except errors.ConfigError as err:
        for problem in err.problems:
            print(f"error: {problem}", file=sys.stderr)
        if args.output != "text":
            output.emit(
                {"file": args.config, "valid": False, "errors": err.problems}, fmt=args.output
            )
        return EXIT_INVALID
    output.emit(summary(config, file=args.config), fmt=args.output, text=_text)
    return 0


def pipeline_problems(config: model.Config, *, file: str) -> None:
    """The checks a pipeline gets each time its app is planned (``syncer.rollout.validate``:
    every app cluster in a stage, window durations, soak with after, crons that fire), so
    that ``validate`` refuses what ``sync`` would refuse; ConfigError listing them."""
    apps = {a.name: a for a in config.apps}
    found = [
        f"{file}: {problem}"
        for pipeline in config.pipelines
        if pipeline.app in apps
        for problem in validate.problems(
            app=apps[pipeline.app], pipeline=pipeline, clusters=config.clusters
        )
    ]
    if found:
        raise errors.ConfigError(found)


def with_tenant_files(
    config: model.Config, *, tenant: str | None, local: str | None
) -> model.Config:
    """``config`` with ``tenant``'s app files read from the working tree at ``local``
    (``syncer.reconcile.tenantapps.read``: the checks ``run`` makes, and names the
    platform's apps already hold); ConfigError listing the problems."""
    owners = [t for t in config.tenants if t.apps_from is not None]
    found = next((t for t in owners if t.name == tenant), None)
    if found is None or not local:
        known = ", ".join(t.name for t in owners) or "no tenant has appsFrom"
        raise errors.ConfigError(
            [
                f"--tenant {tenant or '?'} --local {local or '?'}: expected a tenant with"
                f" appsFrom ({known}) and the root of a working tree of its repository"
            ]
        )
    root = Path(local)
    if not root.is_dir():
        raise errors.ConfigError([f"--local {local}: no such directory; expected a checkout"])
    # Only --tenant reads app files: the rendering and metrics this pulls in would more
    # than double the start-up of every other validate.
    from syncer.reconcile import tenantapps

    apps = tenantapps.read(platform=config, tenant=found, root=root)
    composed, refused = tenantapps.compose(platform=config, sets={found.name: apps})
    if refused:
        raise errors.ConfigError(list(refused[found.name]))
    return composed


def summary(config: model.Config, *, file: str) -> dict[str, Any]:
    return {
        "file": file,
        "valid": True,
        "sources": len(config.sources),
        "registries": len(config.registries),
        "clusters": len(config.clusters),
        "apps": len(config.apps),
        "pipelines": len(config.pipelines),
    }


def _text(data: dict[str, Any]) -> str:
    counts = [
        _count(data["sources"], "source", "sources"),
        _count(data["registries"], "registry", "registries"),
        _count(data["clusters"], "cluster", "clusters"),
        _count(data["apps"], "app", "apps"),
        _count(data["pipelines"], "pipeline", "pipelines"),
    ]
    return f"{data['file']}: valid: {', '.join(counts)}"


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"
