"""Keeping credentials out of logs and error text.

``syncer.config.secrets.resolve`` registers every credential it hands out here; any
code may ``register`` more (a token fetched from a registry, say). ``mask`` replaces
registered values and well-known credential shapes (``Authorization:`` headers,
``password=``/``token=`` pairs, the password in ``https://user:pass@host``) with
``***``. ``RedactingFilter`` applies ``mask`` to log records, and ``install`` makes that
process-wide for every logger and handler, present or future (``register`` does it on
first use; entry points should call it at start-up so that credential shapes in log
lines are masked before any secret is resolved).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

MASK = "***"
MIN_LENGTH = 6
"""Shorter values are not registered: masking 'main' everywhere would garble every log
line (and a credential that short is not one worth the name)."""

_lock = threading.Lock()
_values: set[str] = set()
_pattern: re.Pattern[str] | None = None

_SHAPES = (
    # Authorization: Bearer abc / 'Authorization': 'Basic abc' (headers in dict reprs too)
    (
        re.compile(
            r"((?:proxy-)?authorization['\"]?\s*[:=]\s*['\"]?)(?:(basic|bearer|token)\s+)?[^\s'\",}]+",
            re.IGNORECASE,
        ),
        lambda m: f"{m.group(1)}{m.group(2) + ' ' if m.group(2) else ''}{MASK}",
    ),
    # password=..., token: ..., client_secret=... in query strings, forms and key=value logs
    (
        re.compile(
            r"\b((?:password|passwd|token|access_token|refresh_token|secret|client_secret|api_?key)"
            # key=value, key: value, "key": "value" (not "secret:ns/name#key", a reference)
            r"(?:\s*=\s*|['\"]?\s*:\s+['\"]?|['\"]\s*:\s*['\"]))[^\s&'\",}]+",
            re.IGNORECASE,
        ),
        lambda m: f"{m.group(1)}{MASK}",
    ),
    # scheme://user:password@host -> scheme://user:***@host
    (
        re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^/\s@]+@", re.IGNORECASE),
        lambda m: f"{m.group(1)}{MASK}@",
    ),
    # https://token@host (a bare token as user name) -> https://***@host
    (
        re.compile(r"(\bhttps?://)[^/\s:@]{16,}@", re.IGNORECASE),
        lambda m: f"{m.group(1)}{MASK}@",
    ),
)


def register(value: str) -> None:
    """Mask ``value`` (and each long line of a multi-line value) from now on.

    Registering also ``install``s the masking of log records, so that a credential in
    use is masked even when nobody remembered to call ``install`` at start-up.
    """
    global _pattern
    install()
    candidates = {value.strip(), *(line.strip() for line in value.splitlines())}
    fresh = {c for c in candidates if len(c) >= MIN_LENGTH} - _values
    if not fresh:
        return
    with _lock:
        _values.update(fresh)
        _pattern = values_pattern(_values)


def values_pattern(values: Iterable[str]) -> re.Pattern[str] | None:
    """A pattern of ``values`` as whole tokens (not inside a longer word: a secret equal
    to a common word masks that word alone, never 'releases' for 'release'), longest
    first; values shorter than ``MIN_LENGTH`` are left out."""
    ordered = sorted({v for v in values if len(v) >= MIN_LENGTH}, key=len, reverse=True)
    if not ordered:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(v) for v in ordered) + r")(?!\w)")


def mask_values(text: str, values: Iterable[str]) -> str:
    """``text`` with each of ``values`` (whole tokens) replaced by ``***``."""
    pattern = values_pattern(values)
    return pattern.sub(MASK, text) if pattern is not None else text


def forget_all() -> None:
    """Clear the registry (tests)."""
    global _pattern
    with _lock:
        _values.clear()
        _pattern = None


def mask(text: str) -> str:
    """``text`` with registered secrets and credential shapes replaced by ``***``."""
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for shape, replacement in _SHAPES:
        text = shape.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that masks the formatted message, exception and stack text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_syncer_redacted", False):
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # A bad format string: leave it to logging's own error report.
            return True
        record.msg = mask(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        setattr(record, "_syncer_redacted", True)  # noqa: B010 - LogRecord has no such slot
        return True


_previous_factory: Callable[..., logging.LogRecord] | None = None


def install() -> None:
    """Mask every log record of this process, whichever logger or handler emits it.

    A record factory rather than a handler filter: handlers added later (by
    ``logging.basicConfig`` or a library) are covered too, and records are only
    built for messages that pass the level check, so quiet loggers cost nothing.
    """
    global _previous_factory
    with _lock:
        if _previous_factory is not None:
            return
        previous = _previous_factory = logging.getLogRecordFactory()
        redacting = RedactingFilter()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            redacting.filter(record)
            return record

        logging.setLogRecordFactory(factory)


def uninstall() -> None:
    """Undo ``install`` (tests)."""
    global _previous_factory
    with _lock:
        if _previous_factory is not None:
            logging.setLogRecordFactory(_previous_factory)
            _previous_factory = None


SECRET_FIELDS = ("data", "stringData")
"""Fields of a Kubernetes Secret whose values are never shown, only a hash of them."""


def hashed(value: Any) -> str:
    """What is shown instead of a Secret value: a short hash, enough to see it changed."""
    # Imported here: every command loads this module at start-up, few print Secrets.
    import hashlib

    digest = hashlib.sha256(str(value).encode()).hexdigest()[:12]
    return f"(masked, sha256 {digest})"


def secret_object(obj: Any) -> Any:
    """``obj`` with the values of a Secret's ``data`` and ``stringData`` hashed (any other
    object is returned as it is). Every printed, stored or served object goes through
    it: plans, offline sync output, history."""
    if not isinstance(obj, dict) or obj.get("kind") != "Secret":
        return obj
    import copy  # as hashlib above: only a Secret needs it

    out = copy.copy(obj)
    for key in SECRET_FIELDS:
        if isinstance(obj.get(key), dict):
            out[key] = {name: hashed(value) for name, value in obj[key].items()}
    return out


def secret_path(*, kind: str, path: str) -> bool:
    """Whether the dotted field ``path`` of a ``kind`` object holds a Secret value."""
    return kind == "Secret" and path.split(".", 1)[0] in SECRET_FIELDS
