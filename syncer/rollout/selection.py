"""Cluster selection: which configured clusters a ``ClusterSelection`` names.

``syncer.rollout.plan`` resolves the app's and each stage's clusters here;
``syncer.rollout.validate`` reports unknown names. Order matters (a ``oneAtATime``
stage goes through its clusters in this order): a list of names keeps the order it was
written in; a label selector keeps the order of the top-level ``clusters:`` list.
"""

from __future__ import annotations

from collections.abc import Sequence

from syncer import errors
from syncer.config import model


def is_empty(selection: model.ClusterSelection) -> bool:
    """Neither names nor a selector: selects nothing."""
    return not selection.names and not selection.selector


def unknown_names(
    selection: model.ClusterSelection, *, clusters: Sequence[model.Cluster]
) -> list[str]:
    """The names in ``selection`` that no configured cluster has."""
    known = {c.name for c in clusters}
    return [name for name in selection.names if name not in known]


def matches(selector: dict[str, str], *, cluster: model.Cluster) -> bool:
    """Every ``label: value`` of the selector is on the cluster."""
    return all(cluster.labels.get(key) == value for key, value in selector.items())


def resolve(
    selection: model.ClusterSelection, *, clusters: Sequence[model.Cluster], what: str
) -> list[model.Cluster]:
    """The clusters ``selection`` picks, in order; ``what`` names it in errors.

    Names and a selector together pick the named clusters that also match the
    selector. An unknown name is a ``PermanentError`` (the loader reports it first).
    """
    if selection.names:
        missing = unknown_names(selection, clusters=clusters)
        if missing:
            raise errors.PermanentError(
                f"{what}: unknown cluster {', '.join(missing)} "
                f"(defined: {', '.join(c.name for c in clusters) or 'none'})"
            )
        by_name = {c.name: c for c in clusters}
        picked = [by_name[name] for name in dict.fromkeys(selection.names)]
        return [c for c in picked if matches(selection.selector, cluster=c)]
    if selection.selector:
        return [c for c in clusters if matches(selection.selector, cluster=c)]
    return []
