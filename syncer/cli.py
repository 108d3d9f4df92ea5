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

from syncer import __version__, errors, redact, remote

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
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="log verbosity on stderr (default: warning)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


LOG_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"


class OneLineFormatter(logging.Formatter):
    """Every record on one line: newlines in messages and tracebacks are escaped as
    ``\\n``, so line-based log shippers keep a record (and its key=value pairs) whole."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\r", "\\r").replace("\n", "\\n")


def setup_logging(level: str) -> None:
    """Log to stderr at ``level``; the scheduler's per-job lines only with debug."""
    root = logging.getLogger()
    if not root.handlers:  # else someone (a test harness) already set logging up
        handler = logging.StreamHandler()
        handler.setFormatter(OneLineFormatter(LOG_FORMAT))
        root.addHandler(handler)
        root.setLevel(getattr(logging, level.upper()))
    # apscheduler logs two INFO lines per poll ("Running job", "executed successfully").
    quiet = logging.DEBUG if level == "debug" else logging.WARNING
    logging.getLogger("apscheduler").setLevel(quiet)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    setup_logging(args.log_level)
    # Mask credentials in every log line from the start, not only once a secret is read.
    redact.install()
    try:
        return int(args.func(args))
    except errors.ConfigError as err:
        for problem in err.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except remote.Denied as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_DENIED
    except errors.SyncerError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_REMOTE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
