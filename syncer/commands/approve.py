"""``syncer approve|reject [-c FILE | --server URL] APP STAGE``: decide a promotion that
waits for approval.

Registered by ``syncer.cli``; ``POST /api/v1/apps/APP/approve`` (or ``…/reject``) with
``{"stage": STAGE}``, to a running syncer or on the state file through the same API
function (``syncer.commands.backend``). ``approve`` lets the waiting release into the
stage at the controller's next reconcile; ``reject`` refuses it: the release goes
nowhere more (what runs stays) until a newer release comes. Both are recorded in
history with who decided ("promotion into prod approved by alice"). Exit 0 when
recorded, 1 when nothing waits for approval in that stage (the message says why).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from syncer import errors, output
from syncer.commands import backend, common
from syncer.commands import status as status_cmd

EXIT_NOTHING_WAITS = 1

EXAMPLES = """examples:
  # the release waiting to enter prod (see `syncer status web`)
  syncer {0} -c deploy/syncer.yaml web prod
  # on a running syncer, as the user of the token
  syncer {0} --server https://syncer.example.com web prod
"""


def register(subparsers: Any) -> None:
    for name, helptext in (
        ("approve", "let the release waiting for approval into a pipeline stage"),
        ("reject", "refuse the release waiting for approval into a stage: it goes no further"),
    ):
        parser = subparsers.add_parser(
            name, help=helptext, description=helptext + ".", epilog=EXAMPLES.format(name)
        )
        backend.add_flags(parser)
        common.complete(
            parser.add_argument("app", metavar="APP", help="app name"), common.app_names
        )
        common.complete(
            parser.add_argument(
                "stage", metavar="STAGE", help="the pipeline stage the release waits to enter"
            ),
            common.stage_names,
        )
        output.add_output_flag(parser)
        parser.set_defaults(func=run, action=name)


def run(args: argparse.Namespace) -> int:
    try:
        data = backend.act(args, action=args.action, body={"stage": args.stage})
    except errors.ConfigError:
        raise  # an unknown app or stage: a usage error (exit 2)
    except errors.PermanentError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_NOTHING_WAITS
    output.emit(data, fmt=args.output, text=_text)
    return 0


def _text(data: dict[str, Any]) -> str:
    release = str(data.get("release", ""))[:12]
    if "rejectedBy" in data:
        return (
            f"{data['app']}: release {release} rejected for {data['stage']} by "
            f"{data['rejectedBy']}; it goes no further"
        )
    return (
        f"{data['app']}: release {release} approved into {data['stage']} by "
        f"{data['approvedBy']} at {status_cmd.when(data.get('approvedAt'))}"
    )
