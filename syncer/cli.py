"""The ``syncer`` command line: parses arguments and dispatches to ``syncer/commands/``.

Each module in ``COMMAND_MODULES`` exposes ``register(subparsers)`` which adds its
subcommand and sets ``func`` (taking the parsed namespace, returning an exit code).
Errors reach the user as one line on stderr and a non-zero exit, never a traceback:
exit 2 for usage and configuration errors (an unknown app or stage, also as a server
says it), 3 for errors of remote systems (a server that does not answer), 4 when a
server refuses the token or the user's role does not allow the command, 1 for "ran
fine, but the answer is no / something failed".
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from syncer import __version__, errors, logs, redact, remote

COMMAND_MODULES: tuple[str, ...] = (
    "syncer.commands.validate",
    "syncer.commands.run",
    "syncer.commands.sync",
    "syncer.commands.plan",
    "syncer.commands.status",
    "syncer.commands.history",
    "syncer.commands.rollback",
    "syncer.commands.hold",
    "syncer.commands.approve",
    "syncer.commands.releases",
    "syncer.commands.login",
    "syncer.commands.render",
    "syncer.commands.image",
)

EXIT_USAGE = 2
EXIT_REMOTE = 3
EXIT_DENIED = 4


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncer",
        description="GitOps continuous deployment: Git + registries -> releases -> clusters.",
    )
    parser.add_argument("--version", action="version", version=f"syncer {__version__}")
    _log_flags(parser, default_level="warning", default_format="text")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    # The same flags after the command (`syncer run --log-format json`); given there,
    # they win over the ones before it.
    for command in subparsers.choices.values():
        _log_flags(command, default_level=argparse.SUPPRESS, default_format=argparse.SUPPRESS)
    return parser


def _log_flags(parser: argparse.ArgumentParser, *, default_level: str, default_format: str) -> None:
    parser.add_argument(
        "--log-level", default=default_level, choices=logs.LEVELS,
        help="log verbosity on stderr (default: warning)",
    )  # fmt: skip
    parser.add_argument(
        "--log-format", default=default_format, choices=logs.FORMATS,
        help="log lines as text (default), logfmt or JSON, one record per line",
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    logs.setup(level=args.log_level, fmt=args.log_format)
    # Mask credentials in every log line from the start, not only once a secret is read.
    redact.install()
    try:
        return int(args.func(args))
    except errors.ConfigError as err:
        for problem in err.problems:
            logs.say(problem, prefix="error: ", level=logging.ERROR)
        return EXIT_USAGE
    except remote.Denied as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_DENIED
    except errors.SyncerError as err:
        logs.say(str(err), prefix="error: ", level=logging.ERROR)
        return EXIT_REMOTE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
