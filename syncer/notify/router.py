"""Which deliveries a history entry makes: the rules of ``notifications``.

``worker`` hands ``Router.route`` to ``Store.route_events``, which calls it for each
event waiting in the state's outbox and queues what it returns in the same
transaction; ``worker`` asks ``Router.rule_for`` again at send time for the template.
Pure: nothing here sends or writes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from syncer import rollout
from syncer.config import model
from syncer.notify import catalog
from syncer.state import records


def delivery_id(event: records.Event, *, provider: str, cluster: str) -> str:
    """Stable for one event, provider and cluster, whoever computes it and when."""
    key = f"{event.app}\0{event.id}\0{event.at!r}\0{provider}\0{cluster}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def event_clusters(event: records.Event) -> list[str]:
    """The clusters an event is about (a rollout's start names several)."""
    if event.cluster:
        return [event.cluster]
    return [str(c) for c in event.data.get("clusters", [])]


class Router:
    """The rules of one config."""

    def __init__(self, *, config: model.Config) -> None:
        self.notifications = config.notifications
        self.providers = {p.name: p for p in config.notifications.providers}
        self._stages: dict[tuple[str, str], str] = {}
        for pipeline in config.pipelines:
            for stage in pipeline.stages:
                what = f"pipeline {pipeline.app}: {stage.name}"
                for c in rollout.resolve(stage.clusters, clusters=config.clusters, what=what):
                    self._stages.setdefault((pipeline.app, c.name), stage.name)

    def stages(self, event: records.Event, *, clusters: Sequence[str]) -> list[str]:
        """The pipeline stages an event is about: its own (approvals, holds), else those
        of its clusters."""
        if event.data.get("stage"):
            return [str(event.data["stage"])]
        found = (self._stages.get((event.app, c), "") for c in clusters)
        return list(dict.fromkeys(s for s in found if s))

    def _matches(
        self, rule: model.NotificationRule, *, event: records.Event, kind: str,
        clusters: Sequence[str],
    ) -> bool:  # fmt: skip
        if rule.events and kind not in rule.events:
            return False
        if catalog.SEVERITIES.index(catalog.EVENTS[kind]) < catalog.SEVERITIES.index(rule.severity):
            return False
        if rule.apps and event.app not in rule.apps:
            return False
        if rule.clusters and not set(clusters) & set(rule.clusters):
            return False
        stages = self.stages(event, clusters=clusters)
        return not rule.stages or bool(set(stages) & set(rule.stages))

    def rule_for(
        self, event: records.Event, *, provider: str, cluster: str
    ) -> model.NotificationRule | None:
        """The first rule that sends ``event`` to ``provider`` (for ``cluster``)."""
        kind = catalog.classify(event.kind, event.data)
        if kind is None:
            return None
        clusters = [cluster] if cluster else event_clusters(event)
        for rule in self.notifications.rules:
            if provider in rule.providers and self._matches(
                rule, event=event, kind=kind, clusters=clusters
            ):
                return rule
        return None

    def route(self, event: records.Event) -> list[records.NewDelivery]:
        kind = catalog.classify(event.kind, event.data)
        if kind is None:
            return []
        found: dict[str, records.NewDelivery] = {}
        for rule in self.notifications.rules:
            for name in rule.providers:
                provider = self.providers[name]
                if not catalog.accepts(provider.type, kind):
                    continue
                # Per-cluster providers get one delivery per cluster the event names.
                if catalog.per_cluster(provider.type):
                    targets = [[c] for c in event_clusters(event)]
                else:
                    targets = [event_clusters(event)]
                for clusters in targets:
                    if not self._matches(rule, event=event, kind=kind, clusters=clusters):
                        continue
                    cluster = clusters[0] if catalog.per_cluster(provider.type) else ""
                    did = delivery_id(event, provider=name, cluster=cluster)
                    found.setdefault(did, records.NewDelivery(did, name, cluster))
        return list(found.values())
