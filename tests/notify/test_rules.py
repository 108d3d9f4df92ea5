"""Which deliveries an event makes (rules: events, apps, stages, clusters, severity) and
what they say (templates): the router and the message, without sending anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from syncer import errors
from syncer.config import loader
from syncer.notify import message, router
from syncer.state import records
from tests.notify.conftest import BASE

PROVIDERS = """
notifications:
  providers:
    - {name: chat, type: slack, urlFrom: env:SLACK_URL}
    - {name: gh, type: github, tokenFrom: env:GH_TOKEN}
    - {name: kube, type: kubernetes}
  rules:
"""


def _router(tmp_path: Path, rules: str) -> router.Router:
    config = loader.loads(
        BASE + PROVIDERS + rules, filename=str(tmp_path / "syncer.yaml"), base_dir=str(tmp_path)
    )
    return router.Router(config=config)


def _event(kind: str, *, app: str = "web", cluster: str = "", **data: Any) -> records.Event:
    return records.Event(
        id=7, app=app, at=1_700_000_000.0, kind=kind, release_id="r" * 64, cluster=cluster,
        message=f"{kind} happened", data=data,
    )  # fmt: skip


def _routed(r: router.Router, event: records.Event) -> list[tuple[str, str]]:
    return sorted((d.provider, d.cluster) for d in r.route(event))


@pytest.mark.parametrize(
    ("rule", "event", "expected"),
    [
        # No filter: every event; commit statuses and Events only about rollouts, per cluster.
        ("{providers: [chat, gh, kube]}", _event("release"), [("chat", "")]),
        (
            "{providers: [chat, gh, kube]}",
            _event("rollout", clusters=["dev", "prod"]),
            [("chat", ""), ("gh", "dev"), ("gh", "prod"), ("kube", "dev"), ("kube", "prod")],
        ),
        (
            "{providers: [chat, gh, kube]}",
            _event("unhealthy", cluster="dev"),
            [("chat", ""), ("gh", "dev"), ("kube", "dev")],
        ),
        # History entries that are no notification event.
        ("{providers: [chat]}", _event("applied", cluster="dev"), []),
        ("{providers: [chat]}", _event("drift", cluster="dev", healed=False), []),
        ("{providers: [chat]}", _event("drift", cluster="dev", healed=True), [("chat", "")]),
        # Event types.
        ("{providers: [chat], events: [rolled-back]}", _event("healthy", cluster="dev"), []),
        ("{providers: [chat], events: [rolled-back]}", _event("rollback"), [("chat", "")]),
        # Severity: the lowest sent.
        ("{providers: [chat], severity: warning}", _event("healthy", cluster="dev"), []),
        ("{providers: [chat], severity: warning}", _event("error", held=["x"]), [("chat", "")]),
        ("{providers: [chat], severity: error}", _event("error", held=["x"]), []),
        ("{providers: [chat]}", _event("error"), []),  # an app error is no event by itself
        ("{providers: [chat], severity: error}", _event("failed", cluster="dev"), [("chat", "")]),
        # Apps.
        ("{providers: [chat], apps: [api]}", _event("release"), []),
        ("{providers: [chat], apps: [api]}", _event("release", app="api"), [("chat", "")]),
        # Stages: of the event's cluster, or the event's own (approvals).
        ("{providers: [chat], stages: [prod]}", _event("healthy", cluster="dev"), []),
        ("{providers: [chat], stages: [prod]}", _event("healthy", cluster="prod"), [("chat", "")]),
        ("{providers: [chat], stages: [prod]}", _event("approval", stage="prod"), [("chat", "")]),
        ("{providers: [chat], stages: [prod]}", _event("release"), []),
        (
            "{providers: [gh], stages: [prod]}",
            _event("rollout", clusters=["dev", "prod"]),
            [("gh", "prod")],
        ),
        # Clusters.
        ("{providers: [chat], clusters: [prod]}", _event("rollout", clusters=["dev"]), []),
        (
            "{providers: [chat], clusters: [prod]}",
            _event("rollout", clusters=["dev", "prod"]),
            [("chat", "")],
        ),
    ],
)
def test_rules_select_deliveries(
    tmp_path: Path, rule: str, event: records.Event, expected: list[tuple[str, str]]
) -> None:
    assert _routed(_router(tmp_path, f"    - {rule}\n"), event) == expected


def test_two_rules_naming_one_provider_make_one_delivery_with_the_first_rules_text(
    tmp_path: Path,
) -> None:
    r = _router(
        tmp_path,
        '    - {providers: [chat], template: "first: $app"}\n'
        '    - {providers: [chat], template: "second: $app"}\n',
    )
    event = _event("release")
    assert [d.provider for d in r.route(event)] == ["chat"]
    rule = r.rule_for(event, provider="chat", cluster="")
    assert rule is not None and rule.template == "first: $app"


def test_delivery_ids_are_stable_and_distinct() -> None:
    event = _event("rollout", clusters=["dev", "prod"])
    same = router.delivery_id(event, provider="gh", cluster="dev")
    assert same == router.delivery_id(event, provider="gh", cluster="dev")
    others = {
        router.delivery_id(event, provider="gh", cluster="prod"),
        router.delivery_id(event, provider="chat", cluster="dev"),
        router.delivery_id(_event("rollout", app="api"), provider="gh", cluster="dev"),
    }
    assert same not in others and len(others) == 3


def _note(template: str, event: records.Event) -> message.Note:
    delivery = records.Delivery(
        id="d1", provider="chat", cluster="", event=event, state="pending", attempts=0,
        last_error="", created_at=0, next_at=0, done_at=None,
    )  # fmt: skip
    return message.note(
        delivery=delivery, release=None, stages=["prod"], clusters=["prod"], template=template
    )


def test_templates_substitute_fields_and_nothing_else() -> None:
    event = _event("approved", stage="prod", by="alice")
    assert _note("", event).text == f"web: {'r' * 12} approved into stage prod by alice"
    text = _note("$$5 for ${app} on $cluster ($severity $event): $message", event).text
    assert text == "$5 for web on prod (info approved): approved happened"


def test_secrets_in_event_text_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    from syncer import redact

    redact.register("hunter2-secret-value")
    event = records.Event(
        id=1, app="web", at=0, kind="failed", release_id="", cluster="dev",
        message="apply failed: token hunter2-secret-value refused", data={},
    )  # fmt: skip
    assert "hunter2" not in _note("$message", event).text


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ('{providers: [chat], template: "${app.__class__}"}', "invalid placeholder"),
        ('{providers: [chat], template: "{app}"}', None),
        ('{providers: [chat], template: "$secret"}', "unknown placeholder $secret"),
        ("{providers: [chat], events: [deployed]}", "unknown event 'deployed'"),
        ("{providers: [chat], severity: critical}", "unknown severity 'critical'"),
        ("{providers: [slack]}", "unknown provider 'slack'"),
        ("{providers: []}", "is empty"),
        ("{providers: [chat], apps: [wbe]}", "unknown app 'wbe' (did you mean 'web'?)"),
        ("{providers: [chat], stages: [qa]}", "unknown stage 'qa'"),
    ],
)
def test_bad_rules_are_config_errors_naming_the_field(
    tmp_path: Path, rule: str, problem: str | None
) -> None:
    if problem is None:
        _router(tmp_path, f"    - {rule}\n")  # literal braces are plain text
        return
    with pytest.raises(errors.ConfigError) as caught:
        _router(tmp_path, f"    - {rule}\n")
    assert any("notifications.rules[0]" in p and problem in p for p in caught.value.problems), (
        caught.value.problems
    )


@pytest.mark.parametrize(
    ("provider", "problem"),
    [
        ("{name: a, type: slack}", "urlFrom: required for a slack provider"),
        ("{name: a, type: slack, url: https://hooks.slack.com/x}", "unknown"),
        ("{name: a, type: webhook, urlFrom: env:U}", "secretFrom: required for a webhook"),
        ("{name: a, type: gitea, tokenFrom: env:T}", "address: required for a gitea"),
        ("{name: a, type: github, tokenFrom: env:T, urlFrom: env:U}", "urlFrom: not used"),
        ("{name: a, type: github, tokenFrom: env:T, repository: x}", "expected OWNER/REPO"),
        ("{name: a, type: github, tokenFrom: env:T, address: ftp://x}", "http(s)"),
        ("{name: a, type: pagerduty}", "unknown provider type 'pagerduty'"),
        ("{name: a, type: slack, urlFrom: https://hooks.slack.com/x}", "urlFrom"),
    ],
)
def test_bad_providers_are_config_errors(tmp_path: Path, provider: str, problem: str) -> None:
    text = BASE + f"notifications:\n  providers:\n    - {provider}\n"
    with pytest.raises(errors.ConfigError) as caught:
        loader.loads(text, filename=str(tmp_path / "syncer.yaml"), base_dir=str(tmp_path))
    assert any("notifications.providers[0]" in p and problem in p for p in caught.value.problems), (
        caught.value.problems
    )
