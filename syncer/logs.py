"""Log lines: what each one says about where it comes from, and how it is written.

The reconcile path (``syncer.reconcile.app`` for an app, ``syncer.reconcile.target`` for
one cluster and release of it) wraps its work in ``bound(app=…, cluster=…,
release=…)``; every record logged inside, by any module and on that thread, carries
those fields without its log call naming them. ``syncer.cli`` calls ``setup`` with
``--log-format`` and ``--log-level``; the formatters below write each record as one
line:

- ``text``: ``TIME level=… logger=… [app=… cluster=… release=…] MESSAGE`` (the fields
  only when the message does not already name them);
- ``logfmt``: ``time=… level=… logger=… app=… cluster=… release=… msg="…"``, values
  quoted and escaped where they hold spaces, quotes, ``=`` or control characters;
- ``json``: one JSON object per line with the same keys (``exc`` for a traceback).

Records are already masked by ``syncer.redact`` (its record factory runs before any
formatter); fields given to ``bound`` are names, never secrets, and masked again all
the same.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import sys
from collections.abc import Iterator

from syncer import redact

FORMATS = ("text", "logfmt", "json")
LEVELS = ("debug", "info", "warning", "error")
CONTEXT_KEYS = ("app", "cluster", "release")
"""The fields ``bound`` sets, in the order they are written."""

_context: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar(
    "syncer_log_context", default=()
)
_NAMED = re.compile(r"(?:^|\s)(app|cluster|release)=(\S+)")


@contextlib.contextmanager
def bound(**fields: str | None) -> Iterator[None]:
    """Add ``fields`` (those not None or empty) to every record logged inside."""
    merged = {**dict(_context.get()), **{k: v for k, v in fields.items() if v}}
    token = _context.set(tuple(merged.items()))
    try:
        yield
    finally:
        _context.reset(token)


def context() -> dict[str, str]:
    """The fields bound on this thread now."""
    return dict(_context.get())


def _fields(record: logging.LogRecord) -> dict[str, str]:
    """app/cluster/release of a record: bound ones (formatting runs on the thread that
    logs), else as its message names them."""
    found = context()
    for key, value in _NAMED.findall(record.getMessage()):
        found.setdefault(key, value)
    return {key: redact.mask(found[key]) for key in CONTEXT_KEYS if key in found}


# json and datetime are imported where a record needs them: every command loads this
# module at start-up, and a quiet one formats no record at all.


def _time(record: logging.LogRecord) -> str:
    import datetime as dt

    stamp = dt.datetime.fromtimestamp(record.created, tz=dt.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _exception(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    return redact.mask(record.exc_text or "")


class TextFormatter(logging.Formatter):
    """``TIME level=… logger=… MESSAGE`` on one line: newlines in messages and
    tracebacks are escaped as ``\\n``, so line-based log shippers keep a record whole."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s level=%(levelname)s logger=%(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        named = {key for key, _ in _NAMED.findall(message)}
        extra = " ".join(
            f"{key}={_logfmt_value(value)}"
            for key, value in _fields(record).items()
            if key not in named
        )
        line = super().format(record)
        if extra:
            line = line.replace(f"logger={record.name} ", f"logger={record.name} {extra} ", 1)
        return line.replace("\r", "\\r").replace("\n", "\\n")


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        pairs = _pairs(self, record)
        return " ".join(f"{key}={_logfmt_value(value)}" for key, value in pairs.items())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        import json

        return json.dumps(_pairs(self, record), ensure_ascii=False)


def _pairs(formatter: logging.Formatter, record: logging.LogRecord) -> dict[str, str]:
    pairs = {
        "time": _time(record),
        "level": record.levelname.lower(),
        "logger": record.name,
        **_fields(record),
        "msg": record.getMessage(),
    }
    exc = _exception(formatter, record)
    if exc:
        pairs["exc"] = exc
    return pairs


_PLAIN = re.compile(r"[^\s\"=\\\x00-\x1f\x7f]+")


def _logfmt_value(value: str) -> str:
    """``value`` as logfmt writes it: bare when it can be, else double-quoted with
    backslash escapes (``\\"``, ``\\\\``, ``\\n``, ``\\t``, ``\\uXXXX``)."""
    if _PLAIN.fullmatch(value):
        return value
    import json  # JSON's string escapes are the ones logfmt parsers read.

    return json.dumps(value, ensure_ascii=False)


def formatter(name: str) -> logging.Formatter:
    """The formatter for ``--log-format NAME``."""
    if name == "json":
        return JsonFormatter()
    if name == "logfmt":
        return LogfmtFormatter()
    if name == "text":
        return TextFormatter()
    raise ValueError(f"log format {name!r}: use one of {', '.join(FORMATS)}")


_format = "text"


def say(message: str, *, prefix: str = "syncer: ", level: int = logging.INFO) -> None:
    """A line for whoever watches the process (started, stopped, a fatal error), shown
    at any log level: as ``prefix + message`` with ``--log-format text``, else as one
    record of the chosen format, so a log shipper reading JSON gets nothing else."""
    if _format == "text":
        print(prefix + message, file=sys.stderr, flush=True)
        return
    record = logging.LogRecord("syncer", level, __file__, 0, redact.mask(message), None, None)
    print(formatter(_format).format(record), file=sys.stderr, flush=True)


def setup(*, level: str, fmt: str) -> None:
    """Log to stderr at ``level`` in format ``fmt``; the scheduler's per-job lines and
    uvicorn's start/stop lines only with debug."""
    global _format
    _format = fmt
    root = logging.getLogger()
    if not root.handlers:  # else someone (a test harness) already set logging up
        handler = logging.StreamHandler()
        handler.setFormatter(formatter(fmt))
        root.addHandler(handler)
        root.setLevel(getattr(logging, level.upper()))
    quiet = logging.DEBUG if level == "debug" else logging.WARNING
    # apscheduler logs two INFO lines per poll ("Running job", "executed successfully").
    logging.getLogger("apscheduler").setLevel(quiet)
    logging.getLogger("uvicorn.error").setLevel(quiet)
