"""Renders kept per process: objects for the last few thousand, digests far beyond, so a
reconcile of an unchanged app (a drift check, a poll) renders nothing again."""

from __future__ import annotations

from typing import Any

import pytest

from syncer import state
from syncer.reconcile import decide as decide_
from syncer.source import errors as source_errors
from tests.controller import fakes


class CountingParts(fakes.FakeParts):
    def __init__(self) -> None:
        super().__init__()
        self.renders = 0

    def render(self, **kwargs: Any) -> list[dict[str, Any]]:
        self.renders += 1
        return super().render(**kwargs)


def test_past_the_objects_kept_an_unchanged_app_is_decided_from_digests_alone(
    store: state.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decide_, "RENDER_CACHE_SIZE", 1)  # 2 clusters: one is not kept
    parts = CountingParts()
    rec = fakes.reconciler(store, parts)
    first = rec.reconcile("web", fresh=True)
    assert first.ok and first.clusters == {"a": "healthy", "b": "healthy"}
    rendered = parts.renders
    for _ in range(3):
        again = rec.reconcile("web", fresh=True)
        assert again.ok and again.release == first.release and again.clusters == {}
    assert parts.renders == rendered


def test_objects_not_kept_are_rendered_when_asked_and_match_the_release(
    store: state.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decide_, "RENDER_CACHE_SIZE", 1)
    parts = CountingParts()
    rec = fakes.reconciler(store, parts)
    [app] = rec.config.apps
    rec.decide(app, fresh=True)  # fills the cache: a's objects were dropped for b's
    decision = rec.decide(app, fresh=True)
    assert set(decision.render_later) == {"a"} and set(decision.rendered) == {"b"}
    before = parts.renders
    objects = decision.objects("a")
    assert parts.renders == before + 1 and decision.objects("a") is objects
    assert decision.objects("nowhere") is None
    # The same release and objects as a decision that rendered everything afresh.
    afresh = decide_.decide(
        app=app, source=rec.config.sources[0], clusters=rec.clusters_of(app.name),
        inputs=rec.inputs, parts=parts, store=store, fresh=True, cache=decide_.RenderCache(),
    )  # fmt: skip
    assert afresh.release.id == decision.release.id and objects == afresh.rendered["a"]


def test_a_rollout_and_its_drift_checks_render_each_cluster_once(store: state.Store) -> None:
    """Applying the release just decided, and checking it for drift later, use the
    decision's render instead of rendering again."""
    parts = CountingParts()
    rec = fakes.reconciler(store, parts)
    first = rec.reconcile("web", fresh=True)
    assert first.ok and first.clusters == {"a": "healthy", "b": "healthy"}
    assert parts.renders == 2  # one per cluster: the decision's
    assert sorted(cluster for cluster, _ in parts.applies) == ["a", "b"]
    for _ in range(2):
        assert rec.reconcile("web", reasons=frozenset({"drift"})).ok
    assert parts.renders == 2 and len(parts.drift_checks) == 4


def test_a_render_that_failed_is_tried_again_next_time() -> None:
    """A chart server down, or credentials rotated since: the next render may succeed,
    so a failure is never kept."""

    class FailingOnce(CountingParts):
        def render(self, **kwargs: Any) -> list[dict[str, Any]]:
            if self.renders == 0:
                self.renders += 1
                raise source_errors.ChartUnavailableError("charts.example.com: connection refused")
            return super().render(**kwargs)

    parts = FailingOnce()
    cache = decide_.RenderCache()
    cfg = fakes.config()
    app, cluster = cfg.apps[0], cfg.clusters[0]
    snapshot = parts.poll_source(cfg.sources[0])

    def render(objects: bool) -> decide_.Rendered:
        return cache.render(
            parts=parts, app=app, cluster=cluster, snapshot=snapshot, chosen=[], objects=objects
        )

    failed = render(False)
    assert failed.objects is None and failed.problem == "charts.example.com: connection refused"
    again = render(False)
    assert not again.problem and again.digest and parts.renders == 2
    assert render(True).objects and parts.renders == 2
