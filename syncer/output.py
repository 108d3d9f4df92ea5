"""Printing command results: human text by default, ``-o json`` / ``-o yaml`` on request.

Commands build plain data (dicts, lists, str) and hand it here with a text renderer;
they never print JSON themselves, so every command supports ``-o json`` the same way.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

import yaml

FORMATS = ("text", "json", "yaml")


def add_output_flag(parser: Any) -> None:
    """Give a subcommand the shared ``-o/--output`` flag."""
    parser.add_argument(
        "-o", "--output", choices=FORMATS, default="text", help="output format (default: text)"
    )


def emit(
    data: Any,
    *,
    fmt: str,
    text: Callable[[Any], str] | None = None,
    stream: TextIO | None = None,
) -> None:
    """Write ``data`` to ``stream`` (stdout) as text, JSON or YAML."""
    out = stream or sys.stdout
    if fmt == "json":
        out.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    elif fmt == "yaml":
        out.write(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
    else:
        rendered = text(data) if text else str(data)
        out.write(rendered if rendered.endswith("\n") else rendered + "\n")
