"""syncer.metrics: the text exposition a Prometheus server scrapes parses strictly."""

from __future__ import annotations

import re
import threading

import pytest

from syncer import metrics

_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r"(?:\{(?P<labels>[^}]*)\})?"
    r" (?P<value>[+-]?(?:\d+(?:\.\d*)?(?:e[+-]?\d+)?|Inf|NaN))$"
)
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value)


def parse(text: str) -> dict[str, dict]:
    """A strict parser of the text format 0.0.4: families with HELP, TYPE and samples."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    families: dict[str, dict] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert name not in families, f"family {name} declared twice"
            families[name] = {"help": _unescape(help_text), "type": None, "samples": []}
            current = name
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert name == current, f"TYPE {name} does not follow its HELP"
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped")
            families[name]["type"] = kind
        else:
            match = _SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            name = match["name"]
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            family = families.get(name) or families.get(base)
            assert family is not None and (current in (name, base)), f"{name} outside family"
            labels: dict[str, str] = {}
            raw = match["labels"] or ""
            pos = 0
            while pos < len(raw):
                label = _LABEL.match(raw, pos)
                assert label, f"bad labels in {line!r}"
                labels[label[1]] = _unescape(label[2])
                pos = label.end()
            family["samples"].append((name, labels, float(match["value"].replace("Inf", "inf"))))
    return families


@pytest.fixture
def registry() -> metrics.Registry:
    return metrics.Registry()


def test_default_registry_has_the_metrics_the_controller_reports() -> None:
    families = parse(metrics.REGISTRY.expose())
    expected = {
        "syncer_reconcile_duration_seconds": "histogram",
        "syncer_applies_total": "counter",
        "syncer_reconcile_failures_total": "counter",
        "syncer_rollbacks_total": "counter",
        "syncer_registry_requests_total": "counter",
        "syncer_git_requests_total": "counter",
        "syncer_last_success_timestamp_seconds": "gauge",
        "syncer_webhooks_total": "counter",
    }
    assert {name: families[name]["type"] for name in expected} == expected
    assert metrics.APPLIES.labelnames == ("app", "cluster", "result")
    assert metrics.RECONCILE_DURATION.labelnames == ("app",)


def test_counter_and_gauge_samples_with_escaped_labels(registry: metrics.Registry) -> None:
    applies = registry.counter("x_applies_total", "Applies.\nSecond line \\ here", ["app"])
    applies.labels(app='we"b\\1\nx').inc()
    applies.labels(app='we"b\\1\nx').inc(2)
    applies.labels(app="api").inc()
    last = registry.gauge("x_last_seconds", "Last.", ["app"])
    last.labels(app="api").set(1700000000.5)
    families = parse(registry.expose())
    assert families["x_applies_total"]["help"] == "Applies.\nSecond line \\ here"
    assert families["x_applies_total"]["samples"] == [
        ("x_applies_total", {"app": "api"}, 1.0),
        ("x_applies_total", {"app": 'we"b\\1\nx'}, 3.0),
    ]
    assert families["x_last_seconds"]["samples"] == [
        ("x_last_seconds", {"app": "api"}, 1700000000.5)
    ]


def test_histogram_buckets_are_cumulative_and_end_in_inf(registry: metrics.Registry) -> None:
    duration = registry.histogram("x_seconds", "Duration.", ["app"], buckets=[0.1, 1, 10])
    for value in (0.05, 0.5, 0.5, 5, 50):
        duration.labels(app="web").observe(value)
    samples = parse(registry.expose())["x_seconds"]["samples"]
    buckets = [(s[1]["le"], s[2]) for s in samples if s[0] == "x_seconds_bucket"]
    assert buckets == [("0.1", 1), ("1", 3), ("10", 4), ("+Inf", 5)]
    assert ("x_seconds_count", {"app": "web"}, 5.0) in samples
    assert ("x_seconds_sum", {"app": "web"}, 56.05) in samples


def test_wrong_label_names_and_negative_increments_are_refused(
    registry: metrics.Registry,
) -> None:
    applies = registry.counter("x_total", "X.", ["app", "cluster"])
    with pytest.raises(ValueError, match=r"takes labels \['app', 'cluster'\]"):
        applies.labels(app="web")
    with pytest.raises(ValueError, match="only goes up"):
        applies.labels(app="web", cluster="dev").inc(-1)
    with pytest.raises(ValueError, match="already registered"):
        registry.counter("x_total", "again")
    with pytest.raises(ValueError, match="invalid"):
        registry.counter("x-total", "bad name")


def test_concurrent_increments_are_not_lost(registry: metrics.Registry) -> None:
    counter = registry.counter("x_total", "X.", ["app"])

    def work() -> None:
        for _ in range(2000):
            counter.labels(app="web").inc()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.labels(app="web").get() == 8000
