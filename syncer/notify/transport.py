"""Sending one notification request: one attempt, a hard time limit, a verdict.

``worker`` calls ``send`` for each due delivery; retrying is the worker's (the
delivery goes back into the queue with a backoff), never a loop here, so one slow
receiver cannot hold the thread. The only module of ``syncer.notify`` that touches
``requests``; ``registry.watchdog`` bounds the whole exchange (a receiver that drips
bytes cannot stretch it), and ``registry.transport.retry_after_seconds`` reads
``Retry-After``. Errors never quote URLs (a chat webhook URL is a credential) or more
than a little of a response body.
"""

from __future__ import annotations

import dataclasses

import requests

from registry import transport as registry_transport
from registry import watchdog
from syncer import redact
from syncer.notify import providers

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
"""Answers worth trying again: the receiver is busy or briefly broken."""

BODY_QUOTE = 200
"""Characters of an error answer's body quoted in the delivery's last error."""


@dataclasses.dataclass(frozen=True)
class Result:
    ok: bool
    error: str = ""
    retry: bool = False
    """Worth another attempt (timeouts, connection errors, 429, 5xx)."""
    retry_after: float | None = None
    """Seconds the receiver asked us to wait (``Retry-After``), if it did."""


class Sender:
    """One ``requests`` session for every notification of the process."""

    def __init__(self) -> None:
        self.session = requests.Session()
        for prefix in ("http://", "https://"):
            self.session.mount(prefix, watchdog.adapter())

    def close(self) -> None:
        self.session.close()

    def send(self, req: providers.Request, *, timeout: float) -> Result:
        watch = watchdog.Watch(timeout)
        try:
            with watch:
                response = self.session.request(
                    req.method, req.url, headers=req.headers, data=req.body, timeout=timeout,
                    allow_redirects=False,
                )  # fmt: skip
                body = response.text[:BODY_QUOTE] if response.status_code >= 300 else ""
        except requests.RequestException as err:
            late = watch.fired or isinstance(err, requests.Timeout)
            # The exception's own text quotes the URL, which may be the credential.
            why = f"no answer within {timeout:g}s" if late else type(err).__name__
            return Result(ok=False, error=f"{req.what}: {why}", retry=True)
        status = response.status_code
        if 200 <= status < 300:
            return Result(ok=True)
        error = redact.mask(f"{req.what}: HTTP {status} {body.strip()}".strip())
        return Result(
            ok=False,
            error=error,
            retry=status in RETRY_STATUSES,
            retry_after=registry_transport.retry_after_seconds(response.headers.get("Retry-After")),
        )
