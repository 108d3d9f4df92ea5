"""``syncer validate -c FILE``: check a configuration file without touching anything.

Registered by ``syncer.cli``; calls ``syncer.config.loader.load``, then the checks each
pipeline gets when it is planned (``syncer.rollout.validate``), and prints a one-line
summary (or, with ``-o json``, the same as data). An invalid file exits 2 with every
problem on stderr, one line each (and, with ``-o json``, ``{"valid": false, ...}``).
"""

from __future__ import annotations

import argparse
import sys
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
    output.add_output_flag(parser)
    parser.set_defaults(func=run)


EXAMPLES = """examples:
  # exit 0 and a summary when valid; 2 and one line per problem (file:line: field) when not
  syncer validate -c deploy/syncer.yaml
  syncer validate -c deploy/syncer.yaml -o json | jq .valid
"""


def run(args: argparse.Namespace) -> int:
    try:
        config = loader.load(args.config)
        pipeline_problems(config, file=args.config)
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
