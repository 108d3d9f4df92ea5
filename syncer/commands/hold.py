"""``syncer suspend|resume [-c FILE | --server URL] APP [--stage S]``: hold an app or a
stage, or let it go.

Registered by ``syncer.cli``. A suspended app (or pipeline stage) is still polled, so
its status stays fresh, but nothing is applied to it; ``resume`` lifts suspensions and
the pins a rollback sets (``syncer rollback``), so the app follows new releases again.
Both are ``POST /api/v1/apps/APP/suspend`` and ``…/resume``: of a running syncer, or the
same function on the state file (``syncer.commands.backend``), which writes one record
(``Store.hold``/``release_holds``, recorded in history with who and when); a running
controller reads it at the app's next reconcile, so neither waits for the state file's
lock.
"""

from __future__ import annotations

import argparse
from typing import Any

from syncer import errors, output
from syncer.commands import backend, common
from syncer.reconcile import app as app_


def register(subparsers: Any) -> None:
    for name, helptext in (
        ("suspend", "apply nothing more to an app or a pipeline stage (still polled)"),
        ("resume", "lift a suspension or a rollback's pin: follow new releases again"),
    ):
        parser = subparsers.add_parser(
            name, help=helptext, description=helptext + ".", epilog=EXAMPLES.format(name)
        )
        backend.add_flags(parser)
        common.complete(
            parser.add_argument("app", metavar="APP", help="app name"), common.app_names
        )
        common.complete(
            parser.add_argument("--stage", help="only this stage of the app's pipeline"),
            common.stage_names,
        )
        output.add_output_flag(parser)
        parser.set_defaults(func=run, action=name)


EXAMPLES = """examples:
  # the whole app
  syncer {0} -c deploy/syncer.yaml web
  # one stage of its pipeline
  syncer {0} -c deploy/syncer.yaml web --stage prod
"""


def run(args: argparse.Namespace) -> int:
    data = backend.act(args, action=args.action, body={"stage": args.stage} if args.stage else {})
    output.emit(data, fmt=args.output, text=_text)
    return 0


def check_target(config: Any, *, app: str, stage: str | None, config_path: str) -> str:
    """Unknown app or stage: a usage error (exit 2) naming the argument."""
    found = next((a for a in config.apps if a.name == app), None)
    if found is None:
        names = ", ".join(a.name for a in config.apps) or "none"
        raise errors.ConfigError([f"APP {app}: no such app in {config_path} (apps: {names})"])
    if stage is not None:
        pipeline = next((p for p in config.pipelines if p.app == app), None)
        stages = app_.stage_clusters(app=found, config=config, pipeline=pipeline)
        if stage not in stages:
            known = ", ".join(stages) or "none: the app has no pipeline"
            raise errors.ConfigError([f"--stage {stage}: no such stage of {app} ({known})"])
    return app


def _text(data: dict[str, Any]) -> str:
    if "resumed" not in data:
        return f"{data['app']}: {data['message']}"
    if not data["resumed"]:
        where = f" stage {data['stage']}" if data["stage"] else ""
        return f"{data['app']}:{where} nothing to resume (not suspended or pinned)"
    lines = [f"{data['app']}: resumed, follows new releases again"]
    lines += [f"  was {h['message']}" for h in data["resumed"]]
    return "\n".join(lines)
