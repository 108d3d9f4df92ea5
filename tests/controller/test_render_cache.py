"""Renders kept per process: objects for the last few thousand, digests far beyond, so a
reconcile of an unchanged app (a drift check, a poll) renders nothing again."""

from __future__ import annotations

from typing import Any

import pytest

from syncer import state
from syncer.reconcile import decide as decide_
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


def test_a_render_that_failed_is_kept_as_its_error() -> None:
    class Failing(CountingParts):
        def render(self, **kwargs: Any) -> list[dict[str, Any]]:
            self.renders += 1
            raise decide_.errors.PermanentError("kustomization.yaml: bad patch")

    parts = Failing()
    cache = decide_.RenderCache()
    cfg = fakes.config()
    app, cluster = cfg.apps[0], cfg.clusters[0]
    snapshot = parts.poll_source(cfg.sources[0])
    for objects in (False, True):
        done = cache.render(
            parts=parts, app=app, cluster=cluster, snapshot=snapshot, chosen=[], objects=objects
        )
        assert done.objects is None and done.problem == "kustomization.yaml: bad patch"
    assert parts.renders == 1
