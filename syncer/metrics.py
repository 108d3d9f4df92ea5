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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import prometheus_client
import prometheus_client.exposition
from prometheus_client import core, registry

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

RECONCILE_DURATION = prometheus_client.Histogram(
    "syncer_reconcile_duration_seconds",
    "Time one reconcile of an app took, from trigger to applied and healthy (or failed).",
    ["app"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
SYNCS = _counter(
    "syncer_syncs_total",
    "Reconciles of an app (a poll, webhook, drift check or request), by result (ok, failed).",
    ["app", "result"],
)
RECONCILE_FAILURES = _counter(
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
LAST_SUCCESS = _gauge(
    "syncer_last_success_timestamp_seconds",
    "Unix time of the app's last successful reconcile.",
    ["app"],
)
APPLIES = _counter(
    "syncer_applies_total",
    "Server-side applies of an app's objects to a cluster, by result (ok, failed, error).",
    ["app", "cluster", "result"],
)
ROLLOUTS = _counter(
    "syncer_rollouts_total",
    "Releases carried out on a cluster, by the state reached (healthy, unhealthy, "
    "rolled-back, failed, error); stage is the pipeline stage, empty without a pipeline.",
    ["app", "cluster", "stage", "result"],
)
ROLLBACKS = _counter(
    "syncer_rollbacks_total",
    "Rollbacks to an earlier release (automatic or requested), per app and cluster.",
    ["app", "cluster"],
)
DRIFT_DETECTED = _counter(
    "syncer_drift_detected_total",
    "Live objects found differing from the release running there, per drift check.",
    ["app", "cluster"],
)
DRIFT_HEALED = _counter(
    "syncer_drift_healed_total",
    "Drifted live objects put back as the release has them (sync.selfHeal).",
    ["app", "cluster"],
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
    first value as its start, not as an increase."""
    SYNCS.labels(app=app, result="ok")
    SYNCS.labels(app=app, result="failed")
    for cluster, stage in stages.items():
        ROLLBACKS.labels(app=app, cluster=cluster)
        DRIFT_DETECTED.labels(app=app, cluster=cluster)
        DRIFT_HEALED.labels(app=app, cluster=cluster)
        for result in results:
            ROLLOUTS.labels(app=app, cluster=cluster, stage=stage, result=result)


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
