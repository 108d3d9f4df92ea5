"""Cluster selections pick configured clusters by name (written order) or by labels
(config order)."""

from __future__ import annotations

from typing import Any

import pytest

from syncer import errors, rollout
from syncer.config import model as config
from tests.rollout import builders


def names(selection: config.ClusterSelection) -> list[str]:
    picked = rollout.resolve(selection, clusters=builders.CLUSTERS, what="stage prod")
    return [c.name for c in picked]


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        (config.ClusterSelection(names=("prod-us", "prod-eu")), ["prod-us", "prod-eu"]),
        (config.ClusterSelection(names=("dev", "dev")), ["dev"]),
        (config.ClusterSelection(selector={"env": "prod"}), ["prod-eu", "prod-us", "prod-ap"]),
        (config.ClusterSelection(selector={"env": "prod", "region": "us"}), ["prod-us"]),
        (config.ClusterSelection(selector={"env": "qa"}), []),
        (config.ClusterSelection(selector={"tier": "prod"}), []),
        (
            config.ClusterSelection(names=("prod-ap", "dev", "prod-eu"), selector={"env": "prod"}),
            ["prod-ap", "prod-eu"],
        ),
        (config.ClusterSelection(), []),
    ],
)
def test_resolve(selection: config.ClusterSelection, expected: list[Any]) -> None:
    assert names(selection) == expected


def test_unknown_name_is_a_permanent_error_naming_it_and_the_known_ones() -> None:
    with pytest.raises(errors.PermanentError) as caught:
        names(config.ClusterSelection(names=("prod-eu", "prod-xx")))
    message = str(caught.value)
    assert message.startswith("stage prod: unknown cluster prod-xx")
    assert "defined: dev, staging, prod-eu, prod-us, prod-ap" in message
