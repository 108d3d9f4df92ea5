"""Printing command results: human text by default, ``-o wide`` / ``-o json`` / ``-o yaml``.

Commands build plain data (dicts, lists, str) and hand it here with a text renderer;
they never print JSON themselves, so every command supports ``-o json`` the same way.
Listing commands (status, history, releases, plan, image tags) render their text as a
``table`` whose ``wide`` columns appear only with ``-o wide``, like ``kubectl get``.
State words (Healthy, Degraded, ...) are coloured when ``syncer.cli`` decided colour is
wanted (``colour_wanted``: a terminal, ``NO_COLOR``, ``FORCE_COLOR``, ``--color``);
JSON and YAML never carry colour. ``watch`` re-renders a command's data until Ctrl-C
(``syncer status --watch``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import io
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

TEXT = "text"
WIDE = "wide"
FORMATS = (TEXT, "json", "yaml")
TABLE_FORMATS = (TEXT, WIDE, "json", "yaml")


def add_output_flag(parser: Any, *, wide: bool = False) -> None:
    """Give a subcommand the shared ``-o/--output`` flag (``wide`` for table commands)."""
    formats = TABLE_FORMATS if wide else FORMATS
    extra = ", wide: a table with more columns" if wide else ""
    parser.add_argument(
        "-o",
        "--output",
        choices=formats,
        default=TEXT,
        help=f"output format: {', '.join(formats)} (default: text{extra})",
    )


def emit(
    data: Any,
    *,
    fmt: str,
    text: Callable[[Any], str] | None = None,
    stream: TextIO | None = None,
) -> None:
    """Write ``data`` to ``stream`` (stdout) as text, JSON or YAML.

    ``text`` renders both ``text`` and ``wide`` (the command knows its columns)."""
    (stream or sys.stdout).write(render(data, fmt=fmt, text=text))


def render(data: Any, *, fmt: str, text: Callable[[Any], str] | None = None) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"
    if fmt == "yaml":
        import yaml  # only -o yaml needs it: commands start faster without it

        return str(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
    rendered = text(data) if text else str(data)
    return rendered if rendered.endswith("\n") else rendered + "\n"


# --- colour --------------------------------------------------------------------------

COLOUR_MODES = ("auto", "always", "never")


@dataclasses.dataclass
class _Settings:
    colour: bool = False
    """Set once by ``syncer.cli`` from ``colour_wanted``; off by default (library use)."""


_settings = _Settings()


def colour_wanted(*, mode: str, env: Mapping[str, str], stream: Any) -> bool:
    """Whether to colour: ``--color always|never`` wins; then ``NO_COLOR`` (no-color.org:
    set and not empty turns colour off), then ``FORCE_COLOR`` (set and not empty turns
    it on, even in a pipe); otherwise only on a terminal that is not ``TERM=dumb``.
    ``NO_COLOR`` wins over ``FORCE_COLOR`` because turning colour off is the
    accessibility request."""
    if mode == "always":
        return True
    if mode == "never":
        return False
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    is_tty = getattr(stream, "isatty", lambda: False)()
    return bool(is_tty) and env.get("TERM") != "dumb"


def configure(*, colour: bool) -> None:
    _settings.colour = colour


RED, GREEN, YELLOW, BLUE, MAGENTA, CYAN, GREY = "31", "32", "33", "34", "35", "36", "90"

STATE_COLOURS: dict[str, str] = {
    # What is fine.
    "healthy": GREEN, "ok": GREEN, "applied": GREEN, "resume": GREEN, "approved": GREEN,
    # Under way or waiting: not an error, not done.
    "progressing": YELLOW, "pending": YELLOW, "waiting": YELLOW, "missing": YELLOW,
    "drift": YELLOW, "warning": YELLOW, "not applied": YELLOW, "changes": YELLOW,
    "unreachable": YELLOW, "in sync": GREEN, "rollout": CYAN,
    "release": CYAN,
    # Something is wrong.
    "degraded": RED, "failing": RED, "failed": RED, "unhealthy": RED, "error": RED,
    "rollback": RED, "rejected": RED, "rolled-back": RED,
    # Held on purpose, or not known.
    "suspend": MAGENTA, "suspended": MAGENTA, "pin": MAGENTA, "pinned": MAGENTA,
    "unknown": GREY,
}  # fmt: skip
"""State and event words and their colours (lower case), the way Argo CD and Flux colour
health: green fine, yellow under way, red wrong, magenta held, grey unknown."""


def paint(text: str, code: str) -> str:
    """``text`` in the ANSI colour ``code`` when colour is on."""
    if not _settings.colour or not text or not code:
        return text
    return f"\x1b[{code}m{text}\x1b[0m"


def state(word: str) -> str:
    """A state word (``Healthy``, ``Degraded``, ``FAILED``) in its colour."""
    return paint(word, STATE_COLOURS.get(word.lower(), ""))


def diff_line(line: str) -> str:
    """One line of a unified diff, coloured like ``git diff``."""
    if line.startswith(("+++", "---")):
        return paint(line, "1")
    if line.startswith("+"):
        return paint(line, GREEN)
    if line.startswith("-"):
        return paint(line, RED)
    if line.startswith("@@"):
        return paint(line, CYAN)
    return line


# --- tables --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Column:
    """One table column: its header and how a row (one data item) shows in it."""

    header: str
    value: Callable[[Any], str]
    wide: bool = False
    """Shown only with ``-o wide``."""
    coloured: bool = False
    """The cell is a state word (``state``)."""


def table(rows: Sequence[Any], columns: Sequence[Column], *, wide: bool) -> str:
    """``rows`` under upper-case headers, columns three spaces apart, like ``kubectl get``.

    Widths are measured before colouring, so colour codes never shift a column."""
    shown = [c for c in columns if wide or not c.wide]
    cells = [[" ".join(c.value(row).split()) or "-" for c in shown] for row in rows]
    widths = [max([len(c.header), *(len(r[i]) for r in cells)]) for i, c in enumerate(shown)]
    lines = [_line([c.header for c in shown], widths)]
    for row in cells:
        painted = [state(v) if c.coloured else v for c, v in zip(shown, row, strict=True)]
        lines.append(_line(row, widths, painted=painted))
    return "\n".join(lines)


def _line(values: list[str], widths: list[int], *, painted: list[str] | None = None) -> str:
    out = painted or values
    padded = [p + " " * (w - len(v)) for v, p, w in zip(values, out, widths, strict=True)]
    return "   ".join(padded).rstrip()


def age(ts: float | str | None, *, now: float | None = None) -> str:
    """How long ago ``ts`` was, kubectl style: ``45s``, ``12m``, ``3h``, ``2d``; ``-``."""
    at = moment(ts)
    if at is None:
        return "-"
    seconds = max(0, int((now if now is not None else time.time()) - at))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def moment(ts: float | str | None) -> float | None:
    """Seconds since 1970 of ``ts``, given so or as the API's ISO-8601 UTC string."""
    if not ts:
        return None
    if isinstance(ts, str):
        return dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    return float(ts)


# --- watching ------------------------------------------------------------------------

CLEAR_SCREEN = "\x1b[H\x1b[2J"


def watch(
    fetch: Callable[[], Any],
    *,
    fmt: str,
    text: Callable[[Any], str],
    interval: float,
    title: str,
    stream: TextIO | None = None,
) -> int:
    """Call ``fetch`` every ``interval`` seconds and print its data until interrupted.

    ``-o json``: one JSON document per line, each time the data changes (JSON Lines, for
    ``jq`` and scripts); ``-o yaml``: one ``---`` document per change. Text on a terminal
    redraws the screen every interval (ages move on), like ``watch``; text in a pipe
    prints the table again, after a blank line, only when the data changed. Messages
    ``fetch`` writes on stderr are shown once, not at every refresh. Ctrl-C or SIGTERM
    end it with exit 0; a closed pipe (``| head``) ends it quietly."""
    out = stream or sys.stdout
    redraw = fmt in (TEXT, WIDE) and bool(getattr(out, "isatty", lambda: False)())
    stop = threading.Event()
    previous_handlers = _on_stop_signals(stop)
    said: set[str] = set()
    last: str | None = None
    try:
        while not stop.is_set():
            data = _fetch_quietly(fetch, said=said)
            current = json.dumps(data, sort_keys=True, default=str)
            if redraw or current != last:
                out.write(_frame(data, fmt=fmt, text=text, redraw=redraw, title=title,
                                 first=last is None))  # fmt: skip
                out.flush()
            last = current
            stop.wait(interval)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        # The reader went away: nothing more to say, and no second error when Python
        # flushes stdout at exit (the recipe of the Python docs on SIGPIPE).
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
    finally:
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)
    return 0


def _fetch_quietly(fetch: Callable[[], Any], *, said: set[str]) -> Any:
    captured = io.StringIO()
    with contextlib.redirect_stderr(captured):
        data = fetch()
    for line in captured.getvalue().splitlines():
        if line not in said:
            said.add(line)
            print(line, file=sys.stderr)
    return data


def _frame(
    data: Any, *, fmt: str, text: Callable[[Any], str], redraw: bool, title: str, first: bool
) -> str:
    if fmt == "json":
        return json.dumps(data, default=str) + "\n"
    if fmt == "yaml":
        return "---\n" + render(data, fmt=fmt)
    body = render(data, fmt=fmt, text=text)
    if redraw:
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return f"{CLEAR_SCREEN}{title}   {now}\n\n{body}"
    return body if first else "\n" + body


def _on_stop_signals(stop: threading.Event) -> dict[int, Any]:
    """SIGTERM and Ctrl-C end a watch (exit 0) between two refreshes, so that none cuts
    a fetch half-way (a state file being opened, a request in flight); a second Ctrl-C
    interrupts at once. Main thread only; returns the handlers to put back."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def on_interrupt(_signum: int, _frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    return {
        signal.SIGTERM: signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set()),
        signal.SIGINT: signal.signal(signal.SIGINT, on_interrupt),
    }
