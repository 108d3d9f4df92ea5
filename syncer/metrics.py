"""Prometheus metrics: a small thread-safe registry and the metrics syncer exports.

Every layer records into the module-level metrics below (``metrics.APPLIES.labels(
app="web", cluster="dev", result="ok").inc()``); ``syncer.server.http`` serves
``REGISTRY.expose()`` on ``/metrics`` in the Prometheus text format 0.0.4. No
third-party client: counters, gauges and histograms with labels are all syncer needs.

Label values are free text (app, cluster and repository names); they are escaped on
exposition, never trusted. A metric's label names are fixed when it is created, and
``labels()`` insists on exactly those names so that a typo fails loudly in tests.
"""

from __future__ import annotations

import abc
import math
import re
import threading
import time
from collections.abc import Iterator, Sequence

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The ``Content-Type`` of ``Registry.expose()``."""

DEFAULT_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
"""Seconds: a reconcile takes from tens of milliseconds (nothing changed) to minutes
(waiting for health), so the buckets span both."""

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _escape_label(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _labelset(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape_label(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class _Metric(abc.ABC):
    """Shared parts: name, help, label names, children keyed by label values."""

    kind = ""

    def __init__(self, name: str, help: str, labelnames: Sequence[str] = ()) -> None:
        if not _NAME.match(name):
            raise ValueError(f"metric name {name!r} is invalid: use letters, digits, _ and :")
        for label in labelnames:
            if not _LABEL.match(label) or label.startswith("__"):
                raise ValueError(f"label name {label!r} of {name} is invalid: use [a-zA-Z0-9_]")
        if len(set(labelnames)) != len(labelnames):
            raise ValueError(f"label names of {name} repeat: {list(labelnames)}")
        self.name = name
        self.help = help
        self.labelnames = tuple(labelnames)
        self._lock = threading.Lock()
        self._children: dict[tuple[str, ...], object] = {}

    def _key(self, labels: dict[str, str]) -> tuple[str, ...]:
        if set(labels) != set(self.labelnames):
            raise ValueError(
                f"{self.name} takes labels {list(self.labelnames)}, got {sorted(labels)}"
            )
        return tuple(str(labels[n]) for n in self.labelnames)

    def header(self) -> Iterator[str]:
        yield f"# HELP {self.name} {_escape_help(self.help)}"
        yield f"# TYPE {self.name} {self.kind}"

    def _items(self) -> list[tuple[tuple[str, ...], object]]:
        with self._lock:
            return sorted(self._children.items())

    @abc.abstractmethod
    def samples(self) -> Iterator[str]:
        """The sample lines of every label combination, sorted by label values."""

    def clear(self) -> None:
        """Forget every label combination (e.g. an app was removed from the config)."""
        with self._lock:
            self._children.clear()


class _Value:
    """A float behind a lock: the child of a counter or gauge."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0.0

    def add(self, amount: float) -> None:
        with self._lock:
            self.value += amount

    def set(self, value: float) -> None:
        with self._lock:
            self.value = value


class CounterChild:
    def __init__(self, value: _Value) -> None:
        self._value = value

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` (>= 0): counters only go up."""
        if amount < 0:
            raise ValueError("a counter only goes up: use a Gauge for values that go down")
        self._value.add(amount)

    def get(self) -> float:
        return self._value.value


class Counter(_Metric):
    kind = "counter"

    def labels(self, **labels: str) -> CounterChild:
        key = self._key(labels)
        with self._lock:
            value = self._children.setdefault(key, _Value())
        assert isinstance(value, _Value)
        return CounterChild(value)

    def inc(self, amount: float = 1.0) -> None:
        """For a counter without labels."""
        self.labels().inc(amount)

    def samples(self) -> Iterator[str]:
        for key, value in self._items():
            assert isinstance(value, _Value)
            labels = _labelset(self.labelnames, key)
            yield f"{self.name}{labels} {_number(value.value)}"


class GaugeChild:
    def __init__(self, value: _Value) -> None:
        self._value = value

    def set(self, value: float) -> None:
        self._value.set(value)

    def inc(self, amount: float = 1.0) -> None:
        self._value.add(amount)

    def dec(self, amount: float = 1.0) -> None:
        self._value.add(-amount)

    def set_to_current_time(self) -> None:
        self._value.set(time.time())

    def get(self) -> float:
        return self._value.value


class Gauge(_Metric):
    kind = "gauge"

    def labels(self, **labels: str) -> GaugeChild:
        key = self._key(labels)
        with self._lock:
            value = self._children.setdefault(key, _Value())
        assert isinstance(value, _Value)
        return GaugeChild(value)

    def set(self, value: float) -> None:
        """For a gauge without labels."""
        self.labels().set(value)

    def samples(self) -> Iterator[str]:
        for key, value in self._items():
            assert isinstance(value, _Value)
            yield f"{self.name}{_labelset(self.labelnames, key)} {_number(value.value)}"


class _Buckets:
    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._lock = threading.Lock()
        self.bounds = bounds
        self.counts = [0] * len(bounds)  # per bucket, not cumulative
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        with self._lock:
            for i, bound in enumerate(self.bounds):
                if value <= bound:
                    self.counts[i] += 1
                    break
            self.count += 1
            self.sum += value

    def snapshot(self) -> tuple[list[int], int, float]:
        with self._lock:
            return list(self.counts), self.count, self.sum


class HistogramChild:
    def __init__(self, buckets: _Buckets) -> None:
        self._buckets = buckets

    def observe(self, value: float) -> None:
        self._buckets.observe(value)

    def time(self) -> _Timer:
        """``with HISTOGRAM.labels(app=...).time(): ...`` observes the elapsed seconds."""
        return _Timer(self)

    def get(self) -> tuple[int, float]:
        """(count, sum) of the observations so far."""
        _, count, total = self._buckets.snapshot()
        return count, total


class _Timer:
    def __init__(self, child: HistogramChild) -> None:
        self._child = child
        self._start = 0.0

    def __enter__(self) -> _Timer:
        self._start = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self._child.observe(time.monotonic() - self._start)


class Histogram(_Metric):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        help: str,
        labelnames: Sequence[str] = (),
        *,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        super().__init__(name, help, labelnames)
        if "le" in self.labelnames:
            raise ValueError(f"{name}: 'le' is reserved for histogram buckets")
        bounds = tuple(float(b) for b in buckets if not math.isinf(b))
        if not bounds or list(bounds) != sorted(set(bounds)):
            raise ValueError(f"{name}: buckets must be a non-empty increasing list")
        self.bounds = bounds

    def labels(self, **labels: str) -> HistogramChild:
        key = self._key(labels)
        with self._lock:
            buckets = self._children.setdefault(key, _Buckets(self.bounds))
        assert isinstance(buckets, _Buckets)
        return HistogramChild(buckets)

    def observe(self, value: float) -> None:
        """For a histogram without labels."""
        self.labels().observe(value)

    def samples(self) -> Iterator[str]:
        for key, buckets in self._items():
            assert isinstance(buckets, _Buckets)
            counts, count, total = buckets.snapshot()
            cumulative = 0
            for bound, n in zip(self.bounds, counts, strict=True):
                cumulative += n
                le = f'le="{_number(bound)}"'
                yield f"{self.name}_bucket{_labelset(self.labelnames, key, le)} {cumulative}"
            inf = _labelset(self.labelnames, key, 'le="+Inf"')
            yield f"{self.name}_bucket{inf} {count}"
            yield f"{self.name}_sum{_labelset(self.labelnames, key)} {_number(total)}"
            yield f"{self.name}_count{_labelset(self.labelnames, key)} {count}"


class Registry:
    """A set of metrics with unique names, exposed together."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._metrics: dict[str, _Metric] = {}

    def register(self, metric: _Metric) -> None:
        with self._lock:
            if metric.name in self._metrics:
                raise ValueError(f"metric {metric.name} is already registered")
            self._metrics[metric.name] = metric

    def counter(self, name: str, help: str, labelnames: Sequence[str] = ()) -> Counter:
        metric = Counter(name, help, labelnames)
        self.register(metric)
        return metric

    def gauge(self, name: str, help: str, labelnames: Sequence[str] = ()) -> Gauge:
        metric = Gauge(name, help, labelnames)
        self.register(metric)
        return metric

    def histogram(
        self,
        name: str,
        help: str,
        labelnames: Sequence[str] = (),
        *,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> Histogram:
        metric = Histogram(name, help, labelnames, buckets=buckets)
        self.register(metric)
        return metric

    def get(self, name: str) -> _Metric:
        """The metric registered under ``name`` (``KeyError`` when there is none)."""
        with self._lock:
            return self._metrics[name]

    def expose(self) -> str:
        """Every metric in the Prometheus text format 0.0.4 (see ``CONTENT_TYPE``)."""
        with self._lock:
            metrics = sorted(self._metrics.values(), key=lambda m: m.name)
        lines: list[str] = []
        for metric in metrics:
            lines.extend(metric.header())
            lines.extend(metric.samples())
        return "\n".join(lines) + "\n"


REGISTRY = Registry()
"""The registry ``/metrics`` serves; the metrics below live in it."""

RECONCILE_DURATION = REGISTRY.histogram(
    "syncer_reconcile_duration_seconds",
    "Time one reconcile of an app took, from trigger to applied and healthy (or failed).",
    ["app"],
)
APPLIES = REGISTRY.counter(
    "syncer_applies_total",
    "Server-side applies of an app's objects to a cluster, by result (ok, failed, blocked).",
    ["app", "cluster", "result"],
)
RECONCILE_FAILURES = REGISTRY.counter(
    "syncer_reconcile_failures_total",
    "Reconciles that failed, by reason (source, render, registry, policy, gateway, apply, health).",
    ["app", "reason"],
)
ROLLBACKS = REGISTRY.counter(
    "syncer_rollbacks_total",
    "Rollbacks to an earlier release (automatic or requested), per app and cluster.",
    ["app", "cluster"],
)
REGISTRY_REQUESTS = REGISTRY.counter(
    "syncer_registry_requests_total",
    "HTTP requests to container registries, by registry host and kind (ping, tags, "
    "manifest-head, manifest-get, blob, token).",
    ["registry", "kind"],
)
GIT_REQUESTS = REGISTRY.counter(
    "syncer_git_requests_total",
    "Git operations against remote repositories, by kind (ls-remote, fetch).",
    ["repository", "kind"],
)
GIT_ERRORS = REGISTRY.counter(
    "syncer_git_errors_total",
    "Failed polls of a Git source, by source name and reason (unreachable, auth,"
    " ref-not-found, other; corrupt-cache: its cache was found corrupt and cloned again).",
    ["source", "reason"],
)
LAST_SUCCESS = REGISTRY.gauge(
    "syncer_last_success_timestamp_seconds",
    "Unix time of the app's last successful reconcile.",
    ["app"],
)
WEBHOOKS = REGISTRY.counter(
    "syncer_webhooks_total",
    "Webhook requests received, by kind (github, gitlab, gitea, generic, distribution, "
    "dockerhub, harbor, registry) and result (triggered, ignored, unauthorized, invalid, "
    "forwarded to the leader, error).",
    ["kind", "result"],
)
LEADER = REGISTRY.gauge(
    "syncer_leader",
    "1 while this replica holds the leader-election Lease, else 0 (0 without --leader-elect).",
)
NOTIFICATIONS = REGISTRY.counter(
    "syncer_notifications_total",
    "Notification deliveries by provider and result (queued, delivered, retried, failed: "
    "given up; dropped: the queue was full, notifications.maxQueued).",
    ["provider", "result"],
)
