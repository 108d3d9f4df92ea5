"""The ``syncer`` command line: parses arguments and dispatches to ``syncer/commands/``.

Each module in ``COMMAND_MODULES`` exposes ``register(subparsers)`` which adds its
subcommand and sets ``func`` (taking the parsed namespace, returning an exit code).
Every subcommand also takes the colour flags (``--color``, ``--no-color``) and keeps the
line breaks of its examples (``epilog``); shell completion (``syncer completion``) is
answered here, before any command runs, by ``argcomplete``.
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
import os
import sys
from collections.abc import Iterator, Mapping, Sequence

from syncer import __version__, errors, logs, output, redact
from syncer.commands import common

COMMANDS: dict[str, str] = {
    # command -> the module that registers it (a module may register several)
    "validate": "syncer.commands.validate",
    "run": "syncer.commands.run",
    "sync": "syncer.commands.sync",
    "plan": "syncer.commands.plan",
    "status": "syncer.commands.status",
    "history": "syncer.commands.history",
    "releases": "syncer.commands.releases",
    "rollback": "syncer.commands.rollback",
    "suspend": "syncer.commands.hold",
    "resume": "syncer.commands.hold",
    "approve": "syncer.commands.approve",
    "reject": "syncer.commands.approve",
    "login": "syncer.commands.login",
    "render": "syncer.commands.render",
    "image": "syncer.commands.image",
    "state": "syncer.commands.state",
    "completion": "syncer.commands.completion",
}
COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(COMMANDS.values()))

EXIT_USAGE = 2
EXIT_REMOTE = 3
EXIT_DENIED = 4


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only`` (a command), only that command's module is
    imported and registered, none for ``""`` (start-up pays for what runs)."""
    parser = argparse.ArgumentParser(
        prog="syncer",
        description="GitOps continuous deployment: Git + registries -> releases -> clusters.",
    )
    parser.add_argument("--version", action="version", version=f"syncer {__version__}")
    _log_flags(parser, default_level="warning", default_format="text")
    add_colour_flags(parser, default="auto")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = COMMAND_MODULES if only is None else (COMMANDS[only],) if only else ()
    for module_name in modules:
        importlib.import_module(module_name).register(subparsers)
    # The same flags after the command (`syncer run --log-format json`); given there,
    # they win over the ones before it.
    for command in subparsers.choices.values():
        _log_flags(command, default_level=argparse.SUPPRESS, default_format=argparse.SUPPRESS)
    for sub in _subcommands(parser):
        sub.formatter_class = HelpFormatter
        if sub.get_default("func") is not None:
            # Also after the command (`syncer status --no-color`); SUPPRESS keeps a
            # value given before the command.
            add_colour_flags(sub, default=argparse.SUPPRESS)
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


class HelpFormatter(argparse.HelpFormatter):
    """Descriptions are wrapped to the terminal as usual; a text of several lines (the
    examples in an epilog) is printed as written, so commands stay one per line."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def add_colour_flags(parser: argparse.ArgumentParser, *, default: str) -> None:
    parser.add_argument(
        "--color",
        choices=output.COLOUR_MODES,
        default=default,
        help="colour state words: auto (on a terminal, unless NO_COLOR is set; "
        "FORCE_COLOR forces it), always, never (default: auto)",
    )
    parser.add_argument(
        "--no-color", dest="color", action="store_const", const="never", default=default,
        help="same as --color=never",
    )  # fmt: skip


def _subcommands(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every parser under ``parser`` (``image tags`` included), depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield sub
                yield from _subcommands(sub)


# Options before the command that take a value as the next word.
_VALUED_OPTIONS = frozenset({"--log-level", "--log-format", "--color"})


def invoked_command(argv: Sequence[str], env: Mapping[str, str]) -> str | None:
    """The command ``argv`` runs, so that only its module is imported: ``""`` for a bare
    ``--version``, None when every command is needed (help, completion, a typo for
    argparse to name)."""
    if "_ARGCOMPLETE" in env:
        return None
    words = iter(argv)
    for word in words:
        if word in ("-h", "--help"):
            return None
        if word in _VALUED_OPTIONS:
            next(words, None)
        elif not word.startswith("-"):
            return word if word in COMMANDS else None
    return "" if "--version" in argv else None


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(invoked_command(words, os.environ))
    if "_ARGCOMPLETE" in os.environ:
        # Under a shell's completion this prints the candidates and exits; imported only
        # then, as every command would otherwise pay for it at start-up.
        import argcomplete

        argcomplete.autocomplete(parser)
    args = parser.parse_args(words)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    common.finish(args)
    output.configure(
        colour=output.colour_wanted(mode=args.color, env=os.environ, stream=sys.stdout)
    )
    logs.setup(level=args.log_level, fmt=args.log_format)
    # Mask credentials in every log line from the start, not only once a secret is read.
    redact.install()
    try:
        return int(args.func(args))
    except errors.ConfigError as err:
        for problem in err.problems:
            logs.say(problem, prefix="error: ", level=logging.ERROR)
        return EXIT_USAGE
    except errors.Denied as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_DENIED
    except errors.SyncerError as err:
        logs.say(str(err), prefix="error: ", level=logging.ERROR)
        return EXIT_REMOTE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
