"""HTTP to one registry: rate limit, concurrency cap, retries, timeouts, request counts.

``registry.client`` and ``registry.auth`` send every request through ``Transport.send``;
it is the only module that touches ``requests``' exceptions, turning them into
``registry.errors``. The session ignores the process environment (``trust_env=False``),
so ``REQUESTS_CA_BUNDLE`` and proxies never override the registry's own ``ca_file``.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import re
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests

from registry import errors, settings, watchdog

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
        self._calls = threading.local()
        self.session = session or requests.Session()
        self.session.trust_env = False  # never let REQUESTS_CA_BUNDLE/proxies override us
        self.session.verify = config.ca_file or True
        self.session.headers["User-Agent"] = config.user_agent
        for prefix in ("http://", "https://"):
            self.session.mount(prefix, watchdog.adapter())

    def close(self) -> None:
        self.session.close()

    @contextlib.contextmanager
    def call(self, what: str) -> Iterator[None]:
        """One registry call (``what``: ``listing tags of team/web``): every request, retry
        and wait inside it ends within ``settings.deadline``. Nested calls share the
        outermost one's deadline."""
        if getattr(self._calls, "deadline", None) is not None:
            yield
            return
        self._calls.deadline = time.monotonic() + self.settings.deadline
        self._calls.what = what
        try:
            yield
        finally:
            self._calls.deadline = None

    def _remaining(self, *, kind: str) -> float:
        """Seconds left in the current call; a request outside any call has a deadline
        of its own."""
        if getattr(self._calls, "deadline", None) is None:
            self._calls.deadline = time.monotonic() + self.settings.deadline
            self._calls.what = kind
        return float(self._calls.deadline - time.monotonic())

    def _late(self, *, kind: str) -> errors.UnreachableError:
        what = getattr(self._calls, "what", "") or kind
        return errors.UnreachableError(
            f"registry {self.settings.host} gave no complete answer within the deadline of "
            f"{self.settings.deadline:g}s ({what})"
        )

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

        Returns any other response (including 401/404) for the caller to interpret, its
        body already read (at most ``max_body`` bytes) within ``timeout`` seconds.
        """
        lone = getattr(self._calls, "deadline", None) is None
        try:
            return self._send(
                method, url, kind=kind, headers=headers, params=params, auth=auth, data=data
            )
        finally:
            if lone:
                self._calls.deadline = None

    def _send(
        self,
        method: str,
        url: str,
        *,
        kind: str,
        headers: Mapping[str, str] | None,
        params: Mapping[str, Any] | None,
        auth: tuple[str, str] | None,
        data: Any,
    ) -> requests.Response:
        attempts = self.settings.retries + 1
        delay = self.settings.backoff
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            if self._remaining(kind=kind) <= 0:
                raise self._late(kind=kind)
            self._bucket.take()
            self.counters.add(host=self.settings.host, kind=kind)
            seconds = min(self.settings.timeout, self._remaining(kind=kind))
            watch = watchdog.Watch(seconds)
            try:
                with self._slots, watch:
                    response = self._exchange(
                        method,
                        url,
                        kind=kind,
                        headers=dict(headers or {}),
                        params=params,
                        auth=auth,
                        data=data,
                        watch=watch,
                    )
            except requests.exceptions.SSLError as err:
                if watch.fired:
                    raise self._late_or(kind=kind, seconds=seconds) from err
                # A certificate problem does not heal by retrying.
                raise errors.UnreachableError(
                    f"TLS handshake with {self.settings.host} failed ({_short(err)}); set the "
                    "registry's CA file (caFile / --ca-file), or insecure for plain HTTP"
                ) from err
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as err:
                timed_out = watch.fired or isinstance(err, requests.Timeout)
                if timed_out and seconds < self.settings.timeout:
                    # The call's deadline, not the registry's timeout, cut this request.
                    raise self._late(kind=kind) from err
                cause = (
                    f"no complete answer within {seconds:g}s"
                    if watch.fired
                    else connection_failure(err, timeout=seconds)
                )
                # A name that does not resolve will not resolve a second later: fail now.
                if last or cause == NAME_RESOLUTION or self._remaining(kind=kind) <= delay:
                    tries = "" if attempt == 1 else f" (after {attempt} attempts)"
                    raise errors.UnreachableError(
                        f"cannot reach registry {self.settings.host}: {cause}{tries}"
                    ) from err
                log.info(
                    "registry=%s kind=%s retry=%d error=%s",
                    self.settings.host,
                    kind,
                    attempt,
                    "deadline" if watch.fired else type(err).__name__,
                )
                self._sleep(delay)
                delay *= 2
                continue
            except requests.RequestException as err:
                if watch.fired:
                    raise self._late_or(kind=kind, seconds=seconds) from err
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
                if (
                    last
                    or wait > self.settings.max_retry_after
                    or wait >= self._remaining(kind=kind)
                ):
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
                if last or delay >= self._remaining(kind=kind):
                    tries = f"after {attempt} attempts" if attempt > 1 else "with no time left"
                    raise errors.UnreachableError(
                        f"registry {self.settings.host} keeps failing: HTTP "
                        f"{response.status_code} on {kind} {tries}"
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

    def _late_or(self, *, kind: str, seconds: float) -> errors.UnreachableError:
        if self._remaining(kind=kind) <= 0:
            return self._late(kind=kind)
        return errors.UnreachableError(
            f"cannot reach registry {self.settings.host}: no complete answer within "
            f"{seconds:g}s ({kind})"
        )

    def _exchange(
        self,
        method: str,
        url: str,
        *,
        kind: str,
        headers: dict[str, str],
        params: Mapping[str, Any] | None,
        auth: tuple[str, str] | None,
        data: Any,
        watch: watchdog.Watch,
    ) -> requests.Response:
        """One request and its redirects, followed here so that a redirect's body is
        never read and our credentials never follow it to another host."""
        origin = urllib.parse.urlsplit(url).netloc
        for _hop in range(self.settings.max_redirects + 1):
            left = watch.left()
            response = self.session.request(
                method,
                url,
                headers=headers,
                params=params,
                auth=auth,
                data=data,
                timeout=(left, left),
                allow_redirects=False,
                stream=True,
            )
            location = response.headers.get("Location")
            if response.status_code not in REDIRECT_STATUSES or not location:
                self._read_body(response, kind=kind, method=method)
                return response
            response.close()
            url, params = urllib.parse.urljoin(response.url, location), None
            if response.status_code == 303 or (
                response.status_code in (301, 302) and method == "POST"
            ):
                method, data = "GET", None
            if urllib.parse.urlsplit(url).netloc != origin:
                # Storage redirects (S3, GCS) carry their own signature: send nothing of ours.
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                auth = None
        raise errors.ResponseError(
            f"registry {self.settings.host} redirected {kind} more than "
            f"{self.settings.max_redirects} times (a redirect loop?)"
        )

    def _read_body(self, response: requests.Response, *, kind: str, method: str) -> None:
        """Read the body as it streams, at most ``max_body`` bytes; refuse a larger one.

        An error answer's body only names the error: its first ``ERROR_BODY`` bytes are
        kept and the rest is not read.
        """
        if method == "HEAD" or response.status_code in (204, 304):
            response._content = b""
            response.close()
            return
        failed = response.status_code >= 400
        limit = min(self.settings.max_body, ERROR_BODY) if failed else self.settings.max_body
        length = response.headers.get("Content-Length", "")
        if not failed and length.isdigit() and int(length) > limit:
            response.close()
            raise self._too_large(kind=kind, size=f"{int(length)} bytes")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(CHUNK):
            size += len(chunk)
            if size > limit:
                response.close()
                if failed:
                    chunks.append(chunk[: limit - size + len(chunk)])
                    break
                raise self._too_large(kind=kind, size=f"more than {limit} bytes")
            chunks.append(chunk)
        # requests keeps a read body in ``_content``: .json(), .text and .content use it.
        response._content = b"".join(chunks)
        response.close()

    def _too_large(self, *, kind: str, size: str) -> errors.ResponseError:
        return errors.ResponseError(
            f"registry {self.settings.host} sent {size} for {kind}, above the limit of "
            f"{self.settings.max_body} bytes (maxBodySize); refusing it"
        )


REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024
"""Bytes read at a time from a streamed body."""
ERROR_BODY = 64 * 1024
"""Bytes kept of an error answer's body (it only carries an error code and message)."""


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
