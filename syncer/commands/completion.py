"""``syncer completion bash|zsh|fish``: print the shell code that completes ``syncer``.

Registered by ``syncer.cli``. The script is ``argcomplete``'s: on TAB the shell runs
``syncer`` with the words typed so far in its environment, and ``syncer.cli.main``
answers from the same argparse definitions that parse the command line (subcommands,
flags, choices) plus the names ``syncer.commands.common`` reads from the config file
given with ``-c`` (apps, clusters, stages). Nothing here can drift from the real flags.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import argcomplete

SHELLS = ("bash", "zsh", "fish")

INSTALL = {
    "bash": "echo 'eval \"$(syncer completion bash)\"' >> ~/.bashrc",
    "zsh": "echo 'eval \"$(syncer completion zsh)\"' >> ~/.zshrc   # after compinit",
    "fish": "syncer completion fish > ~/.config/fish/completions/syncer.fish",
}

EXAMPLES = """examples:
  # this shell only
  eval "$(syncer completion bash)"
  # every new shell
  {bash}
  {zsh}
  {fish}
  # then: syncer hist<TAB>, syncer history -c deploy/syncer.yaml <TAB> (app names)
""".format(**INSTALL)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "completion",
        help="print shell completion code (bash, zsh, fish)",
        description="Print the code that makes SHELL complete syncer's commands, flags, "
        "and the app, cluster and stage names of the config file given with -c "
        "(default: syncer.yaml in the current directory).",
        epilog=EXAMPLES,
    )
    parser.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash, zsh or fish")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(argcomplete.shellcode(["syncer"], shell=args.shell))
    return 0
