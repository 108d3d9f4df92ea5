"""HTTP to one registry: rate limit, concurrency cap, retries, timeouts, request counts.

``registry.client`` and ``registry.auth`` send every request through ``Transport.send``;
it is the only module that touches ``requests``' exceptions, turning them into
``registry.errors``. The session ignores the process environment (``trust_env=False``),
so ``REQUESTS_CA_BUNDLE`` and proxies never override the registry's own ``ca_file``.
"""

from __future__ import annotations

import email.utils
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import requests

from registry import errors, settings

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({500, 502, 503, 504})


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; ``take()`` waits for one."""

    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate, self.burst = rate, burst
        self._clock, self._sleep = clock, sleep
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Wait until a token is available; return the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1
            # A negative balance is this caller's place in the queue: wait it off.
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait:
            self._sleep(wait)
        return wait


class Counters:
    """Requests sent, by (registry host, kind); thread-safe."""

    def __init__(self, *, listener: Callable[[str, str], None] | None = None) -> None:
        """``listener(host, kind)`` is told of each request (e.g. to feed a metric)."""
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._listener = listener

    def add(self, *, host: str, kind: str) -> None:
        with self._lock:
            self._counts[(host, kind)] += 1
        if self._listener is not None:
            self._listener(host, kind)

    def total(self, *, host: str | None = None, kind: str | None = None) -> int:
        with self._lock:
            return sum(
                n
                for (h, k), n in self._counts.items()
                if (host is None or h == host) and (kind is None or k == kind)
            )

    def snapshot(self) -> dict[str, dict[str, int]]:
        """``{host: {kind: count}}``."""
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            for (host, kind), n in sorted(self._counts.items()):
                out.setdefault(host, {})[kind] = n
        return out


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None when absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class Transport:
    """Sends requests to one registry (and its token server) with care."""

    def __init__(
        self,
        config: settings.ClientSettings,
        *,
        counters: Counters | None = None,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        self.settings = config
        self.counters = counters or Counters()
        self._sleep = sleep
        self._bucket = TokenBucket(rate=config.per_second, burst=config.burst, sleep=sleep)
        self._slots = threading.BoundedSemaphore(config.max_concurrency)
        self.session = session or requests.Session()
        self.session.trust_env = False  # never let REQUESTS_CA_BUNDLE/proxies override us
        self.session.verify = config.ca_file or True
        self.session.headers["User-Agent"] = config.user_agent

    def close(self) -> None:
        self.session.close()

    def send(
        self,
        method: str,
        url: str,
        *,
        kind: str,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        auth: tuple[str, str] | None = None,
        data: Any = None,
    ) -> requests.Response:
        """One logical request, retried on 5xx / connection errors / short 429s.

        Returns any other response (including 401/404) for the caller to interpret.
        """
        attempts = self.settings.retries + 1
        delay = self.settings.backoff
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            self._bucket.take()
            self.counters.add(host=self.settings.host, kind=kind)
            try:
                with self._slots:
                    response = self.session.request(
                        method,
                        url,
                        headers=dict(headers or {}),
                        params=params,
                        auth=auth,
                        data=data,
                        timeout=self.settings.timeout,
                        allow_redirects=True,
                    )
            except requests.exceptions.SSLError as err:
                # A certificate problem does not heal by retrying.
                raise errors.UnreachableError(
                    f"TLS handshake with {self.settings.host} failed ({_short(err)}); set the "
                    "registry's CA file (caFile / --ca-file), or insecure for plain HTTP"
                ) from err
            except (requests.ConnectionError, requests.Timeout) as err:
                cause = connection_failure(err, timeout=self.settings.timeout)
                # A name that does not resolve will not resolve a second later: fail now.
                if last or cause == NAME_RESOLUTION:
                    tries = "" if attempt == 1 else f" (after {attempt} attempts)"
                    raise errors.UnreachableError(
                        f"cannot reach registry {self.settings.host}: {cause}{tries}"
                    ) from err
                log.info(
                    "registry=%s kind=%s retry=%d error=%s",
                    self.settings.host,
                    kind,
                    attempt,
                    type(err).__name__,
                )
                self._sleep(delay)
                delay *= 2
                continue
            except requests.RequestException as err:
                raise errors.ResponseError(
                    f"request to registry {self.settings.host} failed: {_short(err)}"
                ) from err
            except OSError as err:
                # requests raises a bare OSError for a CA bundle path it cannot use.
                raise errors.UnreachableError(
                    f"cannot use the CA file {self.settings.ca_file!r} of registry "
                    f"{self.settings.host}: {_short(err)}"
                ) from err
            if response.status_code == 429:
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                wait = delay if wait is None else wait
                if last or wait > self.settings.max_retry_after:
                    raise errors.RateLimitedError(
                        f"registry {self.settings.host} is rate limiting us (HTTP 429); "
                        f"retry after {wait:.0f}s",
                        retry_after=wait,
                    )
                log.info(
                    "registry=%s kind=%s status=429 wait=%.1fs", self.settings.host, kind, wait
                )
                self._sleep(wait)
                delay *= 2
                continue
            if response.status_code in RETRY_STATUSES:
                if last:
                    raise errors.UnreachableError(
                        f"registry {self.settings.host} keeps failing: HTTP "
                        f"{response.status_code} on {kind} after {attempts} attempts"
                    )
                log.info(
                    "registry=%s kind=%s status=%d retry=%d",
                    self.settings.host,
                    kind,
                    response.status_code,
                    attempt,
                )
                self._sleep(delay)
                delay *= 2
                continue
            return response
        raise AssertionError("unreachable")  # the loop always returns or raises


NAME_RESOLUTION = "name resolution failed"


def connection_failure(err: BaseException, *, timeout: float) -> str:
    """What went wrong with a connection, in a few plain words (no transport internals).

    Walks the exception's causes (``requests`` wraps ``urllib3`` wraps ``socket``)."""
    seen: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        nxt = current.__cause__ or current.__context__
        if nxt is None and current.args and isinstance(current.args[0], BaseException):
            nxt = current.args[0]  # requests keeps urllib3's error as its argument
        if nxt is None:
            reason = getattr(current, "reason", None)
            nxt = reason if isinstance(reason, BaseException) else None
        current = nxt
    names = {type(e).__name__ for e in seen}
    if names & {"NameResolutionError", "gaierror"}:
        return NAME_RESOLUTION
    if names & {"ConnectTimeoutError", "ConnectTimeout"}:
        return f"connecting timed out after {timeout:g}s"
    if names & {"ReadTimeoutError", "ReadTimeout", "Timeout", "TimeoutError", "timeout"}:
        return f"no answer within {timeout:g}s"
    if any(isinstance(e, ConnectionRefusedError) for e in seen):
        return "connection refused"
    if any(isinstance(e, ConnectionResetError) for e in seen) or names & {
        "RemoteDisconnected",
        "ProtocolError",
    }:
        return "connection closed by the registry"
    if "ProxyError" in names:
        return "the proxy refused the connection"
    return "connection failed"


def _short(err: Exception) -> str:
    """The exception's text without URLs' query strings, cut to a readable length."""
    text = re.sub(r"\?[^\s)'\"]*", "?…", str(err))
    return text if len(text) <= 200 else text[:200] + "…"
