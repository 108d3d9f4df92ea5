"""Prometheus metrics: the families syncer exports, on ``prometheus_client``.

Every layer records into the module-level metrics below (``metrics.APPLIES.labels(
app="web", cluster="dev", result="ok").inc()``); ``syncer.server.http`` answers
``GET /metrics`` with ``exposition(accept)``, which picks the Prometheus text format or
OpenMetrics from the request's ``Accept`` header. A started ``syncer.controller``
(``syncer run``, on the replica that acts) points ``APPS`` at itself, so that each scrape
reports every app's status (``syncer_app_info``) and the approvals it waits for, read
from state at that moment.

All of it lives in ``REGISTRY``, one registry per process (not the client library's
global one), created once on import: counters keep counting across HTTP server and
controller restarts within a process, and nothing else a program imports can add to or
clash with what ``/metrics`` serves. Process, Python platform and garbage-collector
metrics (``process_*``, ``python_*``) are registered with it.

Labels have bounded values only: names from the config (app, cluster, stage, source,
registry host) and fixed sets (result, reason, kind, status). Never a tag, digest,
commit, message or URL path: each new value would be a new series kept forever.
"""

from __future__ import annotations

import dataclasses
import logging
import platform
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import prometheus_client
import prometheus_client.exposition
from prometheus_client import core, registry, utils

import syncer

log = logging.getLogger("syncer.metrics")

# A ``*_created`` series per counter and histogram child (OpenMetrics' creation time)
# doubles what every scrape carries and what Prometheus stores; rate() does not need it.
prometheus_client.disable_created_metrics()

REGISTRY = registry.CollectorRegistry(auto_describe=True)
"""The registry ``/metrics`` serves; every metric below lives in it."""

prometheus_client.ProcessCollector(registry=REGISTRY)
prometheus_client.PlatformCollector(registry=REGISTRY)
prometheus_client.GCCollector(registry=REGISTRY)

DURATION_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
"""Seconds: a reconcile takes from tens of milliseconds (nothing changed) to minutes
(waiting for health), so the buckets span both."""


def exposition(accept: str | None, *, source: registry.Collector = REGISTRY) -> tuple[str, bytes]:
    """``(content type, body)`` of a ``GET /metrics`` whose ``Accept`` header is
    ``accept``: OpenMetrics 1.0 when the scraper asks for ``application/openmetrics-text``
    (Prometheus does by default), else the text format 0.0.4."""
    encoder, content_type = prometheus_client.exposition.choose_encoder(accept or "")
    return content_type, encoder(source)


def value(name: str, **labels: str) -> float:
    """The current value of one sample of ``REGISTRY`` (0 when it has none yet): for the
    ``syncer`` commands and tests that read a count back."""
    found = REGISTRY.get_sample_value(name, labels)
    return 0.0 if found is None else found


def _counter(name: str, help: str, labels: Sequence[str]) -> prometheus_client.Counter:
    return prometheus_client.Counter(name, help, labels, registry=REGISTRY)


def _gauge(name: str, help: str, labels: Sequence[str] = ()) -> prometheus_client.Gauge:
    return prometheus_client.Gauge(name, help, labels, registry=REGISTRY)


BUILD_INFO = _gauge(
    "syncer_build_info",
    "Always 1; its labels say which syncer version runs on which Python.",
    ["version", "python"],
)
BUILD_INFO.labels(version=syncer.__version__, python=platform.python_version()).set(1)

Labels = tuple[str, ...]
Zeros = Callable[[str, tuple[tuple[str, str], ...], tuple[str, ...]], Iterable[Labels]]
"""The label values of an app's series shown at 0 until counted: ``(app, ((cluster,
stage), ...), rollout results)`` -> label tuples."""

_DECLARED: dict[str, tuple[tuple[tuple[str, str], ...], tuple[str, ...]]] = {}
"""App -> its clusters' stages and the rollout results (``declare_app``)."""
_DECLARED_LOCK = threading.Lock()


class _Series:
    """One series of an ``AppFamily``: what ``labels()`` returns."""

    __slots__ = ("_family", "_key")

    def __init__(self, family: AppFamily, key: Labels) -> None:
        self._family, self._key = family, key

    def inc(self, amount: float = 1.0) -> None:
        self._family.record(self._key, amount, add=True)

    def set(self, value: float) -> None:
        self._family.record(self._key, value, add=False)

    def observe(self, value: float) -> None:
        self._family.observe(self._key, value)


class AppFamily(registry.Collector):
    """A counter, gauge or histogram with an ``app`` label, kept as plain numbers in one
    dict: ``prometheus_client`` keeps an object with a lock per series (about 700 bytes),
    and an app has 18 of them from its start, 120 MiB at 10,000 apps. Series an app has
    declared (``declare_app``) and not counted yet are reported at 0, computed at each
    scrape, so that an alert on ``increase()`` sees the first one."""

    def __init__(
        self,
        name: str,
        help: str,
        labels: Sequence[str],
        *,
        kind: str = "counter",
        buckets: Sequence[float] = (),
        zeros: Zeros | None = None,
    ) -> None:
        self.name, self.help, self.labelnames, self.kind = name, help, tuple(labels), kind
        self.buckets = tuple(buckets)
        self._zeros = zeros
        self._values: dict[Labels, float] = {}
        self._histograms: dict[Labels, list[float]] = {}
        """Per series: a count per bucket (not cumulative), then +Inf's, then the sum."""
        self._lock = threading.Lock()
        REGISTRY.register(self)

    def labels(self, **labels: str) -> _Series:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name}: labels {sorted(labels)}, expected {self.labelnames}")
        return _Series(self, tuple(str(labels[n]) for n in self.labelnames))

    def record(self, key: Labels, value: float, *, add: bool) -> None:
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + value if add else value

    def observe(self, key: Labels, value: float) -> None:
        with self._lock:
            counts = self._histograms.get(key)
            if counts is None:
                counts = self._histograms[key] = [0.0] * (len(self.buckets) + 2)
            slot = next((i for i, le in enumerate(self.buckets) if value <= le), len(self.buckets))
            counts[slot] += 1
            counts[-1] += value

    def describe(self) -> Iterator[core.Metric]:
        return iter([self._family()])

    def collect(self) -> Iterator[core.Metric]:
        family = self._family()
        with self._lock:
            values = dict(self._values)
            histograms = {key: list(counts) for key, counts in self._histograms.items()}
        if isinstance(family, core.HistogramMetricFamily):
            for key, counts in histograms.items():
                running, buckets = 0.0, []
                # counts: one per bucket, then +Inf's, then the sum (zip stops before it).
                for le, count in zip((*self.buckets, float("inf")), counts, strict=False):
                    running += count
                    buckets.append((utils.floatToGoString(le), running))
                family.add_metric(list(key), buckets, counts[-1])
            yield family
            return
        for key, value in values.items():
            family.add_metric(list(key), value)
        if self._zeros is not None:
            with _DECLARED_LOCK:
                declared = list(_DECLARED.items())
            for app, (stages, results) in declared:
                for key in self._zeros(app, stages, results):
                    if key not in values:
                        family.add_metric(list(key), 0.0)
        yield family

    def _family(
        self,
    ) -> core.CounterMetricFamily | core.GaugeMetricFamily | core.HistogramMetricFamily:
        labels = list(self.labelnames)
        if self.kind == "histogram":
            return core.HistogramMetricFamily(self.name, self.help, labels=labels)
        if self.kind == "gauge":
            return core.GaugeMetricFamily(self.name, self.help, labels=labels)
        return core.CounterMetricFamily(self.name, self.help, labels=labels)


RECONCILE_DURATION = AppFamily(
    "syncer_reconcile_duration_seconds",
    "Time one reconcile of an app took, from trigger to applied and healthy (or failed).",
    ["app"],
    kind="histogram",
    buckets=DURATION_BUCKETS,
)
SYNCS = AppFamily(
    "syncer_syncs_total",
    "Reconciles of an app (a poll, webhook, drift check or request), by result (ok, failed).",
    ["app", "result"],
    zeros=lambda app, _stages, _results: ((app, "ok"), (app, "failed")),
)
RECONCILE_FAILURES = AppFamily(
    "syncer_reconcile_failures_total",
    "Reconciles that failed, by reason (source, images, config, pipeline, apply, health).",
    ["app", "reason"],
)
CONFIG_RELOADS = _counter(
    "syncer_config_reloads_total",
    "Reloads of the config file by syncer run, by result (applied; invalid: refused, the "
    "previous config runs; failed: valid but not applied).",
    ["result"],
)
CONFIG_LAST_RELOAD_OK = _gauge(
    "syncer_config_last_reload_successful",
    "1 when the config file as it is now runs; 0 when its last reload was refused.",
)
CONFIG_LAST_RELOAD_SUCCESS = _gauge(
    "syncer_config_last_reload_success_timestamp_seconds",
    "Unix time the running config was loaded (at start or by a reload).",
)
TENANT_APPS_LOADS = _counter(
    "syncer_tenant_apps_loads_total",
    "Reads of a tenant's appsFrom after a new commit or a config reload, by result"
    " (applied; invalid: refused, its last good apps run; failed: its source could not be"
    " read).",
    ["tenant", "result"],
)
TENANT_APPS = _gauge(
    "syncer_tenant_apps",
    "Apps a tenant's appsFrom defines in the running config.",
    ["tenant"],
)
LAST_SUCCESS = AppFamily(
    "syncer_last_success_timestamp_seconds",
    "Unix time of the app's last successful reconcile.",
    ["app"],
    kind="gauge",
)


def _per_cluster(
    app: str, stages: tuple[tuple[str, str], ...], _results: tuple[str, ...]
) -> Iterable[Labels]:
    return ((app, cluster) for cluster, _ in stages)


APPLIES = AppFamily(
    "syncer_applies_total",
    "Server-side applies of an app's objects to a cluster, by result (ok, failed, error).",
    ["app", "cluster", "result"],
)
ROLLOUTS = AppFamily(
    "syncer_rollouts_total",
    "Releases carried out on a cluster, by the state reached (healthy, unhealthy, "
    "rolled-back, failed, error); stage is the pipeline stage, empty without a pipeline.",
    ["app", "cluster", "stage", "result"],
    zeros=lambda app, stages, results: (
        (app, cluster, stage, result) for cluster, stage in stages for result in results
    ),
)
ROLLBACKS = AppFamily(
    "syncer_rollbacks_total",
    "Rollbacks to an earlier release (automatic or requested), per app and cluster.",
    ["app", "cluster"],
    zeros=_per_cluster,
)
DRIFT_DETECTED = AppFamily(
    "syncer_drift_detected_total",
    "Live objects found differing from the release running there, per drift check.",
    ["app", "cluster"],
    zeros=_per_cluster,
)
DRIFT_HEALED = AppFamily(
    "syncer_drift_healed_total",
    "Drifted live objects put back as the release has them (sync.selfHeal).",
    ["app", "cluster"],
    zeros=_per_cluster,
)
REGISTRY_REQUESTS = _counter(
    "syncer_registry_requests_total",
    "HTTP requests to container registries, by registry host and kind (ping, tags, "
    "manifest-head, manifest-get, blob, token).",
    ["registry", "kind"],
)
REGISTRY_ERRORS = _counter(
    "syncer_registry_errors_total",
    "Failed looks at an image repository, by registry host and reason (unreachable, "
    "rate-limited, auth, not-found, response).",
    ["registry", "reason"],
)
GIT_REQUESTS = _counter(
    "syncer_git_requests_total",
    "Git operations against remote repositories, by kind (ls-remote, fetch).",
    ["repository", "kind"],
)
GIT_ERRORS = _counter(
    "syncer_git_errors_total",
    "Failed polls of a Git source, by source name and reason (unreachable, auth,"
    " ref-not-found, other; corrupt-cache: its cache was found corrupt and cloned again).",
    ["source", "reason"],
)
WEBHOOKS = _counter(
    "syncer_webhooks_total",
    "Webhook requests received, by kind (github, gitlab, gitea, generic, distribution, "
    "dockerhub, harbor, registry) and result (triggered, ignored, unauthorized, invalid, "
    "forwarded, busy, error).",
    ["kind", "result"],
)
SHARD_HELD = _gauge(
    "syncer_shard_held",
    "1 while this replica holds the shard's Lease (syncer run --shards), else 0.",
    ["shard"],
)
SHARD_APPS = _gauge(
    "syncer_shard_apps",
    "Apps of the config in the shard, on the replica holding it (0 elsewhere).",
    ["shard"],
)
SHARD_RECONCILES = _counter(
    "syncer_shard_reconciles_total",
    "Reconciles this replica ran for apps of the shard.",
    ["shard"],
)
SHARD_TRANSITIONS = _counter(
    "syncer_shard_lease_transitions_total",
    "Times this replica took (result=acquired) or gave up (released, lost) a shard Lease.",
    ["shard", "result"],
)
LEADER = _gauge(
    "syncer_leader",
    "1 while this replica holds the leader-election Lease, else 0 (standbys, and every "
    "replica without --leader-elect).",
)
NOTIFICATIONS = _counter(
    "syncer_notifications_total",
    "Notification deliveries by provider and result (queued, delivered, retried, failed: "
    "given up; dropped: the queue was full, notifications.maxQueued).",
    ["provider", "result"],
)


def declare_app(*, app: str, stages: Mapping[str, str], results: Iterable[str]) -> None:
    """Create the app's per-cluster series at 0 (``stages``: cluster -> its pipeline
    stage, or ""; ``results``: the rollout results). An alert on ``increase()`` only sees
    a first failure when the series existed before it: Prometheus takes a new series'
    first value as its start, not as an increase. Nothing is stored per series: the
    zeros are made at each scrape from what is declared here."""
    declared = (tuple(stages.items()), tuple(results))
    with _DECLARED_LOCK:
        _DECLARED[app] = declared


@dataclasses.dataclass(frozen=True)
class AppFacts:
    """What a scrape reports of one app, read from state when it happens."""

    app: str
    health_status: str
    """The status word of ``syncer status`` (Healthy, Progressing, Degraded, ...)."""
    sync_status: str
    """Synced, OutOfSync or Unknown (no release decided yet)."""
    pending_approvals: dict[str, float] = dataclasses.field(default_factory=dict)
    """Stage -> Unix time the desired release's promotion into it asked for approval."""


class AppsCollector(registry.Collector):
    """``syncer_app_info`` and the pending-approval gauges, from a function asked at
    each scrape (``watch``). Nothing while no controller acts in this process (a standby):
    only the replica that reconciles knows where its apps stand."""

    def __init__(self) -> None:
        self._read: Callable[[], Iterable[AppFacts]] | None = None

    def watch(self, read: Callable[[], Iterable[AppFacts]]) -> None:
        """Report what ``read()`` returns from now on."""
        self._read = read

    def unwatch(self, read: Callable[[], Iterable[AppFacts]]) -> None:
        """Stop reporting ``read``'s apps (unless another controller took over since)."""
        if self._read == read:
            self._read = None

    def describe(self) -> Iterator[core.Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[core.Metric]:
        info, pending, since = self._families()
        read = self._read
        if read is not None:
            try:
                facts = list(read())
            except Exception:
                # A scrape must still answer (process metrics, counters); the failure
                # shows as missing app series and in the log.
                log.exception("msg=reading app status for metrics failed")
                facts = []
            for f in facts:
                info.add_metric([f.app, f.health_status, f.sync_status], 1)
                for stage, at in sorted(f.pending_approvals.items()):
                    pending.add_metric([f.app, stage], 1)
                    since.add_metric([f.app, stage], at)
        yield from (info, pending, since)

    @staticmethod
    def _families() -> tuple[core.GaugeMetricFamily, ...]:
        return (
            core.GaugeMetricFamily(
                "syncer_app_info",
                "Always 1 per app; health_status and sync_status say where it stands.",
                labels=["app", "health_status", "sync_status"],
            ),
            core.GaugeMetricFamily(
                "syncer_pending_approvals",
                "Promotions of the app's desired release waiting for a manual approval.",
                labels=["app", "stage"],
            ),
            core.GaugeMetricFamily(
                "syncer_approval_requested_timestamp_seconds",
                "Unix time a pending promotion into the stage asked for approval.",
                labels=["app", "stage"],
            ),
        )


APPS = AppsCollector()
"""Where ``syncer run`` plugs in its controller's view of the apps."""
REGISTRY.register(APPS)


class WatchesCollector(registry.Collector):
    """Drift watches (``syncer.apply.informer``), per cluster and kind, from a function
    asked at each scrape (``watch``): whether each is synced (drift read from its cache)
    or not (drift checks list that kind), the objects cached, events received, LISTs and
    restarts. Kinds are those syncer's apps deploy, namespace "" for a watch of all
    namespaces (else the namespaces apps deploy to): bounded sets."""

    def __init__(self) -> None:
        self._read: Callable[[], Iterable[Mapping[str, object]]] | None = None

    def watch(self, read: Callable[[], Iterable[Mapping[str, object]]]) -> None:
        self._read = read

    def unwatch(self, read: Callable[[], Iterable[Mapping[str, object]]]) -> None:
        if self._read == read:
            self._read = None

    def describe(self) -> Iterator[core.Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[core.Metric]:
        synced, objects, events, lists, restarts = families = self._families()
        read = self._read
        entries: list[Mapping[str, object]] = []
        if read is not None:
            try:
                entries = list(read())
            except Exception:
                log.exception("msg=reading watch status for metrics failed")
        for entry in entries:
            if not entry.get("kind"):
                continue  # a cluster polled by config: nothing is watched there
            labels = [str(entry["cluster"]), str(entry["kind"]), str(entry.get("namespace", ""))]
            synced.add_metric(labels, 1 if entry.get("state") == "synced" else 0)
            objects.add_metric(labels, _number(entry.get("objects")))
            events.add_metric(labels, _number(entry.get("events")))
            lists.add_metric(labels, _number(entry.get("lists")))
            restarts.add_metric(labels, _number(entry.get("restarts")))
        yield from families

    @staticmethod
    def _families() -> tuple[
        core.GaugeMetricFamily,
        core.GaugeMetricFamily,
        core.CounterMetricFamily,
        core.CounterMetricFamily,
        core.CounterMetricFamily,
    ]:
        labels = ["cluster", "kind", "namespace"]
        return (
            core.GaugeMetricFamily(
                "syncer_watch_synced",
                "1 when drift of this kind is read from its watch; 0 when drift checks list "
                "it (watch starting, reconnecting, or unavailable: see the log and /readyz).",
                labels=labels,
            ),
            core.GaugeMetricFamily(
                "syncer_watch_objects", "Objects of syncer's in the watch cache.", labels=labels
            ),
            core.CounterMetricFamily(
                "syncer_watch_events", "Watch events received.", labels=labels
            ),
            core.CounterMetricFamily(
                "syncer_watch_lists",
                "Full LISTs by the watch (the first, and after an expired resourceVersion).",
                labels=labels,
            ),
            core.CounterMetricFamily(
                "syncer_watch_restarts",
                "Watches re-opened after an error, an expired resourceVersion or a refusal.",
                labels=labels,
            ),
        )


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


WATCHES = WatchesCollector()
"""Where ``syncer run`` plugs in its controller's watch status."""
REGISTRY.register(WATCHES)
