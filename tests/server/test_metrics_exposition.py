"""syncer.metrics: what a Prometheus server scrapes, in both formats it asks for.

The text format is parsed with the client library's parser, OpenMetrics with its strict
OpenMetrics parser (which refuses what Prometheus would refuse); ``promtool check
metrics`` runs on a live scrape in tests/run/test_metrics_promtool.py.
"""

from __future__ import annotations

import platform
from collections.abc import Iterator

import pytest
from prometheus_client import parser
from prometheus_client.openmetrics import parser as om_parser

import syncer
from syncer import metrics

OPENMETRICS = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
"""What Prometheus 2.x/3.x sends by default."""


def parse(text: str) -> dict[str, dict]:
    """Families of a text-format scrape: ``{name: {"type", "help", "samples"}}`` with
    samples as ``(name, labels, value)``."""
    return {
        f.name: {
            "type": f.type,
            "help": f.documentation,
            "samples": [(s.name, s.labels, s.value) for s in f.samples],
        }
        for f in parser.text_string_to_metric_families(text)
    }


@pytest.fixture
def apps_reported() -> Iterator[list[metrics.AppFacts]]:
    """Facts the scrape reports while the test runs (as a running controller would)."""
    facts: list[metrics.AppFacts] = []

    def read() -> list[metrics.AppFacts]:
        return facts

    metrics.APPS.watch(read)
    yield facts
    metrics.APPS.unwatch(read)


FAMILIES = {
    # Families the README's metrics reference documents; users alert on these.
    "syncer_build_info": "gauge",
    "syncer_reconcile_duration_seconds": "histogram",
    "syncer_syncs": "counter",
    "syncer_reconcile_failures": "counter",
    "syncer_last_success_timestamp_seconds": "gauge",
    "syncer_applies": "counter",
    "syncer_rollouts": "counter",
    "syncer_rollbacks": "counter",
    "syncer_drift_detected": "counter",
    "syncer_drift_healed": "counter",
    "syncer_registry_requests": "counter",
    "syncer_registry_errors": "counter",
    "syncer_git_requests": "counter",
    "syncer_git_errors": "counter",
    "syncer_webhooks": "counter",
    "syncer_leader": "gauge",
    "syncer_app_info": "gauge",
    "syncer_pending_approvals": "gauge",
    "syncer_approval_requested_timestamp_seconds": "gauge",
}


def test_the_registry_has_every_documented_family_with_its_type() -> None:
    _, body = metrics.exposition(OPENMETRICS)
    families = {f.name: f.type for f in om_parser.text_string_to_metric_families(body.decode())}
    assert {name: families.get(name) for name in FAMILIES} == FAMILIES
    # Process and Python runtime metrics come with it.
    assert {"process_cpu_seconds", "process_resident_memory_bytes", "python_info"} <= set(families)
    assert "python_gc_collections" in families
    python = platform.python_version()
    assert metrics.value("syncer_build_info", version=syncer.__version__, python=python) == 1
    # No *_created series beside every counter.
    assert not [name for name in families if name.endswith("_created")]


@pytest.mark.parametrize(
    ("accept", "content_type", "ends"),
    [
        (OPENMETRICS, "application/openmetrics-text; version=1.0.0; charset=utf-8", "# EOF\n"),
        ("application/openmetrics-text", "application/openmetrics-text; version=1.0.0", "# EOF\n"),
        (None, "text/plain; version=0.0.4; charset=utf-8", "\n"),
        ("text/plain", "text/plain; version=0.0.4; charset=utf-8", "\n"),
        ("*/*", "text/plain; version=0.0.4; charset=utf-8", "\n"),
    ],
)
def test_the_format_follows_the_accept_header(
    accept: str | None, content_type: str, ends: str
) -> None:
    got_type, body = metrics.exposition(accept)
    assert got_type.startswith(content_type)
    text = body.decode()
    assert text.endswith(ends)
    if ends == "# EOF\n":
        families = {f.name: f.type for f in om_parser.text_string_to_metric_families(text)}
    else:
        assert "# EOF" not in text
        families = {name: f["type"] for name, f in parse(text).items()}
    assert families["syncer_applies"] == "counter"


def test_app_info_and_pending_approvals_come_from_the_watched_controller(
    apps_reported: list[metrics.AppFacts],
) -> None:
    apps_reported.append(
        metrics.AppFacts(
            app="web",
            health_status="Progressing",
            sync_status="OutOfSync",
            pending_approvals={"prod": 1700000000.0},
        )
    )
    apps_reported.append(
        metrics.AppFacts(app='we"ird\\app', health_status="Healthy", sync_status="Synced")
    )
    families = parse(metrics.exposition(None)[1].decode())
    assert families["syncer_app_info"]["samples"] == [
        (
            "syncer_app_info",
            {"app": "web", "health_status": "Progressing", "sync_status": "OutOfSync"},
            1.0,
        ),
        (
            "syncer_app_info",
            {"app": 'we"ird\\app', "health_status": "Healthy", "sync_status": "Synced"},
            1.0,
        ),
    ]
    assert families["syncer_pending_approvals"]["samples"] == [
        ("syncer_pending_approvals", {"app": "web", "stage": "prod"}, 1.0)
    ]
    assert families["syncer_approval_requested_timestamp_seconds"]["samples"] == [
        ("syncer_approval_requested_timestamp_seconds", {"app": "web", "stage": "prod"}, 1.7e9)
    ]


def test_without_a_controller_no_app_series_are_reported() -> None:
    families = parse(metrics.exposition(None)[1].decode())
    assert families["syncer_app_info"]["samples"] == []
    assert families["syncer_pending_approvals"]["samples"] == []


def test_a_failing_status_read_still_answers_the_scrape(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> list[metrics.AppFacts]:
        raise RuntimeError("state database is locked")

    metrics.APPS.watch(broken)
    try:
        families = parse(metrics.exposition(None)[1].decode())
    finally:
        metrics.APPS.unwatch(broken)
    assert families["syncer_app_info"]["samples"] == []
    assert families["syncer_leader"]["samples"]  # the rest is there
    assert "reading app status for metrics failed" in caplog.text


def test_unwatch_leaves_a_newer_controller_in_place(
    apps_reported: list[metrics.AppFacts],
) -> None:
    apps_reported.append(metrics.AppFacts(app="web", health_status="Healthy", sync_status="Synced"))

    def older() -> list[metrics.AppFacts]:
        return []

    metrics.APPS.unwatch(older)  # an older controller stopping after the new one started
    samples = parse(metrics.exposition(None)[1].decode())["syncer_app_info"]["samples"]
    assert [s[1]["app"] for s in samples] == ["web"]


def test_counters_are_read_back_by_value() -> None:
    before = metrics.value(
        "syncer_rollouts_total", app="web", cluster="dev", stage="", result="healthy"
    )
    metrics.ROLLOUTS.labels(app="web", cluster="dev", stage="", result="healthy").inc()
    after = metrics.value(
        "syncer_rollouts_total", app="web", cluster="dev", stage="", result="healthy"
    )
    assert after == before + 1
    assert (
        metrics.value(
            "syncer_rollouts_total", app="never-seen", cluster="x", stage="", result="healthy"
        )
        == 0
    )


def test_declared_apps_are_scraped_at_zero_without_a_series_object_each() -> None:
    import tracemalloc

    stages = {"dev": "", "prod": "live"}
    results = ("healthy", "failed")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(1000):
            metrics.declare_app(app=f"declared-{n}", stages=stages, results=results)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # 14 series an app, 14,000 here: an object each would be about 10 MB.
    assert grown < 1_000_000
    families = parse(metrics.exposition(None)[1].decode())
    rollouts = {
        (s[1]["app"], s[1]["cluster"], s[1]["stage"], s[1]["result"]): s[2]
        for s in families["syncer_rollouts"]["samples"]
    }
    assert rollouts[("declared-7", "prod", "live", "failed")] == 0
    assert rollouts[("declared-7", "dev", "", "healthy")] == 0
    metrics.ROLLOUTS.labels(app="declared-7", cluster="prod", stage="live", result="failed").inc()
    families = parse(metrics.exposition(None)[1].decode())
    found = [
        s[2] for s in families["syncer_rollouts"]["samples"]
        if s[1] == {"app": "declared-7", "cluster": "prod", "stage": "live", "result": "failed"}
    ]  # fmt: skip
    assert found == [1.0]  # counted once, not beside its zero
    drift = {(s[1]["app"], s[1]["cluster"]) for s in families["syncer_drift_detected"]["samples"]}
    assert {("declared-3", "dev"), ("declared-3", "prod")} <= drift
