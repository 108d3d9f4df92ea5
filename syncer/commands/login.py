"""``syncer login URL [--name NAME]``: remember a running syncer and your token for it.

Registered by ``syncer.cli``. The token is read from ``--token-file``, ``SYNCER_TOKEN``
or standard input (a prompt that does not echo on a terminal), never from argv; it is
checked against the server (``GET /api/v1/apps``) and saved with the URL as a context
in the contexts file (``syncer.remote.contexts_path``, mode 0600), which becomes the
current one: commands then go to that server unless given ``-c FILE`` (see
``syncer.commands.backend``).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any
from urllib.parse import urlsplit

from syncer import errors, output, remote
from syncer.commands import backend

EXAMPLES = """examples:
  # the token from a file (or SYNCER_TOKEN, or typed at the prompt)
  syncer login https://syncer.example.com --token-file ~/.syncer-token
  # a second server under a name of its own; then: syncer status --context staging
  syncer login https://syncer.staging.example.com --name staging
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "login",
        help="save a running syncer's URL and your token as the current context",
        description="Check a token against a running syncer and save both as a context "
        "(the token from --token-file, SYNCER_TOKEN or stdin; never an argument).",
        epilog=EXAMPLES,
    )
    parser.add_argument(
        "server", metavar="URL", help="the syncer's URL, e.g. https://syncer.example.com"
    )
    parser.add_argument("--name", help="context name (default: the URL's host)")
    parser.add_argument("--token-file", help="file holding the token")
    output.add_output_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    server = remote.check_url(args.server, what="URL")
    token = backend.token_given(args.token_file, env=os.environ) or _ask()
    if not token:
        raise errors.ConfigError(["no token given: use --token-file, SYNCER_TOKEN or stdin"])
    client = remote.Client(server=server, token=token)
    try:
        apps = client.get("apps")["apps"]
    finally:
        client.close()
    name = args.name or urlsplit(server).netloc
    path = remote.contexts_path(os.environ)
    remote.save_context(path, name=name, server=server, token=token)
    data = {"context": name, "server": server, "file": str(path), "apps": len(apps)}
    output.emit(data, fmt=args.output, text=_text)
    return 0


def _ask() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("token: ").strip()
    return sys.stdin.readline().strip()


def _text(data: dict[str, Any]) -> str:
    return (
        f"logged in to {data['server']} as context {data['context']} ({data['apps']} apps); "
        f"saved in {data['file']}"
    )
