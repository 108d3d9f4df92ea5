"""Every command's ``--help`` ends with examples, and every example is a command line the
parser accepts (so no example names a flag or command that does not exist)."""

from __future__ import annotations

import argparse
import contextlib
import io
import shlex
import subprocess

import pytest

from syncer import cli


def _commands() -> dict[str, argparse.ArgumentParser]:
    """``"image tags"`` -> its parser, for every command that runs something."""
    found: dict[str, argparse.ArgumentParser] = {}
    for sub in cli._subcommands(cli.build_parser()):
        if sub.get_default("func") is not None:
            found[sub.prog.removeprefix("syncer ")] = sub
    return found


def _examples(help_text: str) -> list[list[str]]:
    """The ``syncer ...`` lines of the epilog as argv, joined across ``\\`` and cut at the
    first shell operator (``|``, ``>``)."""
    text = help_text.split("\nexamples:\n", 1)[1].replace("\\\n", " ")
    found = []
    for line in (raw.strip() for raw in text.splitlines()):
        if not line.startswith("syncer "):
            continue  # comments, and the shell lines around completion
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
        operators = [i for i, w in enumerate(words) if w in ("|", ">", ">>", "&&", ";")]
        found.append(words[1 : operators[0] if operators else len(words)])
    return found


def test_every_command_has_examples_that_parse() -> None:
    commands = _commands()
    assert {"status", "history", "releases", "sync", "plan", "render", "rollback",
            "suspend", "resume", "validate", "run", "image tags", "image latest",
            "completion"} <= set(commands)  # fmt: skip
    for name, parser in commands.items():
        help_text = parser.format_help()
        assert "\nexamples:\n" in help_text, f"syncer {name} --help has no examples"
        examples = _examples(help_text)
        assert examples, f"syncer {name}: no `syncer ...` line among its examples"
        for argv in examples:
            with contextlib.redirect_stderr(io.StringIO()) as err:
                try:
                    cli.build_parser().parse_args(argv)
                except SystemExit:
                    pytest.fail(f"syncer {name}: `syncer {shlex.join(argv)}`: {err.getvalue()}")


@pytest.mark.integration
def test_help_prints_the_examples_with_their_line_breaks(syncer_exe: str) -> None:
    done = subprocess.run(
        [syncer_exe, "status", "--help"], capture_output=True, text=True, check=True
    )
    assert "examples:\n  # every app: release, health and last sync per cluster\n" in done.stdout
    assert "  syncer status -c deploy/syncer.yaml --watch\n" in done.stdout
