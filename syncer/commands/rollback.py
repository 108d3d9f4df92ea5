"""``syncer rollback [-c FILE | --server URL] APP [--to RELEASE]``: put an earlier
release back, now.

Registered by ``syncer.cli``. Without ``--to``, the last release that was healthy
before the current one. The app (or, with ``--stage``, that pipeline stage) is pinned to
the release until ``syncer resume``: neither a later ``sync`` nor a running ``syncer
run`` rolls anything else out there, whatever new commits or images appear. The release
rolled back from is rejected, so even after ``resume`` only a newer release goes out.
Waits for health; exit 0 when healthy everywhere, 1 otherwise. With a server
(``syncer.commands.backend``) the running syncer is asked (``POST …/rollback``): the
pin is recorded before it answers, and the rollout follows at once; exit 0 when accepted.
"""

from __future__ import annotations

import argparse
from typing import Any

from syncer import controller, errors, output
from syncer.commands import backend, common
from syncer.commands import hold as hold_cmd
from syncer.commands import sync as sync_cmd


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rollback",
        help="roll an app back to an earlier release",
        description="Re-apply an earlier release of an app to all its clusters.",
        epilog=EXAMPLES,
    )
    backend.add_flags(parser)
    common.complete(parser.add_argument("app", metavar="APP", help="app name"), common.app_names)
    parser.add_argument("--to", help="release id or unique prefix (default: last healthy)")
    common.complete(
        parser.add_argument(
            "--stage",
            help="only the clusters of this pipeline stage (pins the stage, not the app)",
        ),
        common.stage_names,
    )
    output.add_output_flag(parser)
    parser.set_defaults(func=run)


EXAMPLES = """examples:
  # back to the last release that was healthy before the current one, pinned there
  syncer rollback -c deploy/syncer.yaml web
  # to a chosen release (ids: `syncer releases web`), in the prod stage only
  syncer rollback -c deploy/syncer.yaml web --to 3f2a9c1b --stage prod
  # follow new releases again
  syncer resume -c deploy/syncer.yaml web
"""


def run(args: argparse.Namespace) -> int:
    if backend.is_remote(args):
        body = {k: v for k, v in (("to", args.to), ("stage", args.stage)) if v}
        answer = backend.act(args, action="rollback", body=body)
        output.emit(answer, fmt=args.output, text=sync_cmd.scheduled_text)
        return 0
    config_path = backend.config_path(args)
    session = controller.open_session(config_path, progress=sync_cmd.progress_printer())
    writer = sync_cmd.lock_state(session)
    try:
        _check_usage(session, app=args.app, to=args.to, config_path=config_path)
        hold_cmd.check_target(
            session.config, app=args.app, stage=args.stage, config_path=config_path
        )
        outcome = session.controller.reconciler.rollback(
            args.app, to=args.to, by=backend.cli_user(), stage=args.stage
        )
    finally:
        sync_cmd.flush_notifications(session)
        session.close()
        writer.release()
    output.emit(outcome.to_dict(), fmt=args.output, text=_text)
    return 0 if outcome.ok else sync_cmd.EXIT_FAILED


def _check_usage(
    session: controller.Session, *, app: str, to: str | None, config_path: str
) -> None:
    """Unknown app or release: a usage error (exit 2) naming the argument."""
    names = [a.name for a in session.config.apps]
    if app not in names:
        raise errors.ConfigError(
            [f"APP {app}: no such app in {config_path} (apps: {', '.join(names) or 'none'})"]
        )
    if to is None:
        return
    try:
        found = session.store.get_release(app, to)
    except errors.PermanentError as err:  # an ambiguous prefix
        raise errors.ConfigError([f"--to {to}: {err}"]) from err
    if found is None:
        raise errors.ConfigError(
            [f"--to {to}: app {app!r} has no release starting with {to!r} "
             f"(ids: `syncer history -c {config_path} {app}`)"]
        )  # fmt: skip


def _text(data: dict[str, Any]) -> str:
    lines = [f"{data['app']}: {data['message']}"]
    lines += [f"  cluster {c}: {output.state(s)}" for c, s in sorted(data["clusters"].items())]
    return "\n".join(lines)
