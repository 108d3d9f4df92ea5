"""A pipeline that cannot be planned is rejected with a sentence naming stage and field."""

from __future__ import annotations

import pytest

from syncer import errors, rollout
from syncer.config import model as config
from tests.rollout import builders as b


def problems(pipe: config.Pipeline, app: config.App | None = None) -> list[str]:
    return rollout.problems(app=app or b.app(), pipeline=pipe, clusters=b.CLUSTERS)


def test_the_reference_pipeline_is_sound() -> None:
    assert problems(b.three_stages(soak=600, approval=True, window=b.window("0 9 * * *"))) == []


@pytest.mark.parametrize(
    ("pipe", "expected"),
    [
        (
            config.Pipeline(app="api", stages=b.three_stages().stages),
            "pipeline api: belongs to app 'api', not 'web'",
        ),
        (b.pipeline(), "pipeline web: stages: give at least one stage"),
        (
            b.pipeline(b.stage("dev", ["dev"]), b.stage("dev", ["staging"])),
            "pipeline web: stage dev: name: used twice",
        ),
        (
            b.pipeline(b.stage("dev", ["dev"], after="prod"), b.stage("prod", {"env": "prod"})),
            "pipeline web: stage dev: after: 'prod' is not an earlier stage "
            "(earlier: none: it is the first stage)",
        ),
        (
            b.pipeline(b.stage("dev", ["dev"]), b.stage("prod", {"env": "prod"}, after="stagin")),
            "pipeline web: stage prod: after: 'stagin' is not an earlier stage (earlier: dev)",
        ),
        (
            b.pipeline(b.stage("dev", ["dev"], soak=60)),
            "pipeline web: stage dev: soak: counts time healthy in the 'after' stage",
        ),
        (
            b.pipeline(b.stage("dev", ["dev"], window=b.window("0 9 * * xyz"))),
            'pipeline web: stage dev: window.cron: cron "0 9 * * xyz": day-of-week "xyz"',
        ),
        (
            b.pipeline(b.stage("dev", ["dev"], window=b.window("0 9 * * *", 0))),
            "pipeline web: stage dev: window.duration: must be longer than 0s",
        ),
        (
            b.pipeline(b.stage("dev", [])),
            "pipeline web: stage dev: clusters: give names or a selector",
        ),
        (
            b.pipeline(b.stage("dev", ["dev", "qa"])),
            "pipeline web: stage dev: clusters: unknown cluster qa",
        ),
        (
            b.pipeline(b.stage("dev", ["dev", "staging"]), b.stage("qa", ["staging"])),
            "pipeline web: stage qa: clusters: staging is already in stage dev",
        ),
        (
            b.pipeline(b.stage("dev", ["dev"])),
            "pipeline web: cluster prod-ap of app web is in no stage",
        ),
    ],
)
def test_problems(pipe: config.Pipeline, expected: str) -> None:
    found = problems(pipe)
    assert any(p.startswith(expected) for p in found), found


def test_stage_cluster_outside_the_apps_clusters() -> None:
    found = problems(b.three_stages(), app=b.app(["dev", "staging", "prod-eu"]))
    assert "pipeline web: stage prod: clusters: prod-us is not one of app web's clusters" in found


def test_unknown_app_cluster() -> None:
    found = problems(b.three_stages(), app=b.app(["dev", "nowhere"]))
    assert "app web: clusters: unknown cluster nowhere" in found


def test_plan_refuses_a_pipeline_with_problems_and_lists_them_all() -> None:
    pipe = b.pipeline(b.stage("dev", ["dev"], after="x"), b.stage("dev", ["qa"]))
    with pytest.raises(errors.ConfigError) as caught:
        b.run(pipe=pipe)
    assert len(caught.value.problems) >= 3
    assert isinstance(caught.value, errors.PermanentError)
