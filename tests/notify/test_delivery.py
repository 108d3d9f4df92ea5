"""Deliveries against real HTTP receivers: one per event and provider, also when the
receiver fails first, when the process restarts before sending, and never with a
credential in it."""

from __future__ import annotations

import json
import socket
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from syncer import metrics
from syncer.notify import providers
from syncer.state import records
from tests.binaries import REPO_ROOT
from tests.notify.conftest import COMMIT, process, rollout_events

pytestmark = pytest.mark.integration

HOOK_KEY = "hmac-key-for-the-tests"
TOKEN = "ghp_notarealtokenbutlongenough1234"


def _providers(slack: Any, teams: Any, hook: Any, api: Any) -> str:
    return f"""
notifications:
  providers:
    - {{name: chat, type: slack, urlFrom: file:slack-url}}
    - {{name: teams, type: teams, urlFrom: file:teams-url}}
    - {{name: hook, type: webhook, urlFrom: file:hook-url, secretFrom: file:hook-key}}
    - {{name: gh, type: github, tokenFrom: file:token, address: "{api.url}"}}
    - {{name: gl, type: gitlab, tokenFrom: file:token, address: "{api.url}"}}
    - {{name: gt, type: gitea, tokenFrom: file:token, address: "{api.url}"}}
  rules:
    - {{providers: [chat, teams, hook, gh, gl, gt]}}
"""


def _setup(tmp_path: Path, receiver: Any) -> tuple[Any, dict[str, Any]]:
    servers = {
        "slack": receiver(),
        "teams": receiver(),
        "hook": receiver(),
        "api": receiver(api=True),
    }
    proc = process(
        tmp_path,
        _providers(servers["slack"], servers["teams"], servers["hook"], servers["api"]),
        **{
            "slack-url": f"{servers['slack'].url}/services/T000/B000/XXXX",
            "teams-url": f"{servers['teams'].url}/workflows/abc",
            "hook-url": f"{servers['hook'].url}/syncer",
            "hook-key": HOOK_KEY,
            "token": TOKEN,
        },
    )
    return proc, servers


def _once_each(received: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in received:
        counts[r.delivery] = counts.get(r.delivery, 0) + 1
    return counts


def test_every_provider_gets_each_event_once_in_its_own_shape(
    tmp_path: Path, receiver: Any
) -> None:
    proc, servers = _setup(tmp_path, receiver)
    try:
        rel = rollout_events(proc.store)
        assert proc.worker.drain(timeout=30) == 0
    finally:
        proc.close()
    slack = servers["slack"].accepted()
    assert [r.path for r in slack] == ["/services/T000/B000/XXXX"] * 3
    texts = [r.json()["text"] for r in slack]
    assert texts == [
        f"web: new release {rel.short_id} (commit {COMMIT[:12]}): "
        f"registry.example.com/team/web:1.2.3@sha256:{'a' * 64}",
        f"web: rolling out {rel.short_id} to dev",
        f"web: {rel.short_id} is healthy on dev",
    ]
    assert len(set(_once_each(slack))) == 3 and set(_once_each(slack).values()) == {1}
    teams = servers["teams"].accepted()
    card = teams[2].json()["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["body"][0]["text"] == texts[2]
    hooks = servers["hook"].accepted()
    assert [r.json()["event"] for r in hooks] == [
        "release-created", "rollout-started", "rollout-healthy",
    ]  # fmt: skip
    healthy = hooks[2]
    assert healthy.json()["cluster"] == "dev" and healthy.json()["stage"] == "dev"
    assert healthy.json()["commit"] == COMMIT and healthy.json()["release"] == rel.id
    assert healthy.headers["X-Syncer-Delivery"] == healthy.json()["id"]
    assert healthy.headers["Idempotency-Key"] == healthy.json()["id"]
    assert providers.verify(
        key=HOOK_KEY.encode(), timestamp=healthy.headers["X-Syncer-Timestamp"],
        body=healthy.body, signature=healthy.headers["X-Syncer-Signature-256"],
    )  # fmt: skip
    assert not providers.verify(
        key=b"another key", timestamp=healthy.headers["X-Syncer-Timestamp"],
        body=healthy.body, signature=healthy.headers["X-Syncer-Signature-256"],
    )  # fmt: skip
    assert abs(int(healthy.headers["X-Syncer-Timestamp"]) - time.time()) < 3600
    # Commit statuses: only the rollout's events, on the release's commit, per cluster.
    statuses = sorted(
        (r.path, r.json().get("state"), r.json().get("context") or r.json().get("name"))
        for r in servers["api"].accepted()
    )
    assert statuses == sorted(
        [
            (f"/repos/team/deploy/statuses/{COMMIT}", "pending", "syncer/web/dev"),
            (f"/repos/team/deploy/statuses/{COMMIT}", "success", "syncer/web/dev"),
            (f"/api/v1/repos/team/deploy/statuses/{COMMIT}", "pending", "syncer/web/dev"),
            (f"/api/v1/repos/team/deploy/statuses/{COMMIT}", "success", "syncer/web/dev"),
            (f"/api/v4/projects/team%2Fdeploy/statuses/{COMMIT}", "running", "syncer/web/dev"),
            (f"/api/v4/projects/team%2Fdeploy/statuses/{COMMIT}", "success", "syncer/web/dev"),
        ]
    )
    auth = {r.path.split("/")[1]: r.headers for r in servers["api"].accepted()}
    assert auth["repos"]["Authorization"] == f"Bearer {TOKEN}"
    assert auth["api"].get("Authorization", f"token {TOKEN}") == f"token {TOKEN}"
    # Credentials go only where a provider needs them: never into a body.
    for server in servers.values():
        for r in server.requests:
            assert TOKEN.encode() not in r.body and HOOK_KEY.encode() not in r.body
            assert b"XXXX" not in r.body


def test_a_receiver_failing_twice_gets_the_event_once_with_the_same_id(
    tmp_path: Path, receiver: Any
) -> None:
    proc, servers = _setup(tmp_path, receiver)
    for server in servers.values():
        server.fail_each = [(503, {"Retry-After": "0"}), (500, {})]
    before = metrics.value("syncer_notifications_total", provider="hook", result="retried")
    try:
        rollout_events(proc.store)
        assert proc.worker.drain(timeout=60) == 0
    finally:
        proc.close()
    for name, server in servers.items():
        accepted = server.accepted()
        assert len(accepted) == (6 if name == "api" else 3), name
        assert set(_once_each(accepted).values()) == {1}, name
        # Each delivery was tried three times, always with the same id.
        assert set(_once_each(server.requests).values()) == {3}, name
        assert set(_once_each(server.requests)) == set(_once_each(accepted)), name
    assert (
        metrics.value("syncer_notifications_total", provider="hook", result="retried") == before + 6
    )
    reopened = process(tmp_path, "").store
    try:
        done = reopened.deliveries(limit=100)
        assert {d.state for d in done} == {records.DELIVERED}
        assert {d.attempts for d in done} == {3}
    finally:
        reopened.close()


def test_retry_after_is_honoured(tmp_path: Path, receiver: Any) -> None:
    proc, servers = _setup(tmp_path, receiver)
    servers["slack"].fail = [(429, {"Retry-After": "120"})]
    try:
        proc.store.record(app="api", kind="unreachable", message="registry failing for 10m")
        proc.worker.route()
        asked = time.time()
        proc.worker.send_due()
        (waiting,) = [d for d in proc.store.deliveries() if d.provider == "chat"]
        assert waiting.state == records.PENDING_DELIVERY and waiting.attempts == 1
        assert waiting.next_at >= asked + 120
        assert "HTTP 429" in waiting.last_error
        assert proc.worker.send_due() == 0  # not due yet: nothing sent again
        assert len(servers["slack"].requests) == 1
    finally:
        proc.close()


def test_deliveries_queued_before_a_restart_are_sent_once_after_it(
    tmp_path: Path, receiver: Any
) -> None:
    proc, servers = _setup(tmp_path, receiver)
    rollout_events(proc.store)  # the process dies before its worker ran
    proc = proc.restart()
    try:
        assert servers["hook"].requests == []
        assert proc.worker.drain(timeout=30) == 0
        proc = proc.restart()
        assert proc.worker.drain(timeout=30) == 0  # nothing left: nothing sent again
    finally:
        proc.close()
    assert len(servers["hook"].requests) == 3
    assert set(_once_each(servers["hook"].requests).values()) == {1}
    assert len(servers["api"].requests) == 6


def test_a_refusal_is_given_up_at_once_and_says_why_without_the_url(
    tmp_path: Path, receiver: Any
) -> None:
    proc, servers = _setup(tmp_path, receiver)
    servers["slack"].fail = [(404, {})] * 3
    try:
        rollout_events(proc.store)
        assert proc.worker.drain(timeout=30) == 0
        failed = [d for d in proc.store.deliveries() if d.provider == "chat"]
    finally:
        proc.close()
    assert len(servers["slack"].requests) == 3  # one attempt each, no retries
    assert {d.state for d in failed} == {records.GAVE_UP}
    for d in failed:
        assert d.last_error.startswith("slack provider chat: HTTP 404"), d.last_error
        assert "XXXX" not in d.last_error and "127.0.0.1" not in d.last_error
    assert len(servers["hook"].accepted()) == 3  # other providers unaffected


def test_an_unreachable_receiver_is_retried_later_not_waited_for(
    tmp_path: Path, receiver: Any
) -> None:
    proc, servers = _setup(tmp_path, receiver)
    servers["hook"].stop()
    try:
        proc.store.record(app="api", kind="unreachable", message="Git source failing for 10m")
        proc.worker.route()
        proc.worker.send_due()
        (hook,) = [d for d in proc.store.deliveries() if d.provider == "hook"]
        assert hook.state == records.PENDING_DELIVERY and hook.attempts == 1
        assert hook.last_error == "webhook provider hook: ConnectionError"
        assert hook.next_at > time.time()
    finally:
        proc.close()


def test_a_full_queue_drops_new_deliveries_and_counts_them(tmp_path: Path, receiver: Any) -> None:
    hook = receiver()
    proc = process(
        tmp_path,
        """
notifications:
  maxQueued: 2
  providers:
    - {name: hook, type: webhook, urlFrom: file:hook-url, secretFrom: file:hook-key}
  rules:
    - {providers: [hook]}
""",
        **{"hook-url": f"{hook.url}/x", "hook-key": HOOK_KEY},
    )
    before = metrics.value("syncer_notifications_total", provider="hook", result="dropped")
    try:
        rollout_events(proc.store)  # three events, room for two
        assert proc.worker.route() == 2
        assert (
            metrics.value("syncer_notifications_total", provider="hook", result="dropped")
            == before + 1
        )
        assert proc.worker.drain(timeout=30) == 0
    finally:
        proc.close()
    assert [json.loads(r.body)["event"] for r in hook.requests] == [
        "release-created", "rollout-started",
    ]  # fmt: skip


def test_a_receiver_that_never_answers_costs_one_timeout_and_holds_up_no_other(
    tmp_path: Path, receiver: Any
) -> None:
    slack = receiver()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # connections are accepted by the kernel; nothing ever answers
    proc = process(
        tmp_path,
        """
notifications:
  providers:
    - {name: chat, type: slack, urlFrom: file:slack-url}
    - {name: hook, type: webhook, urlFrom: file:hook-url, secretFrom: file:hook-key, timeout: 1s}
  rules:
    - {providers: [hook, chat]}
""",
        **{
            "slack-url": f"{slack.url}/services/x",
            "hook-url": f"http://127.0.0.1:{silent.getsockname()[1]}/hook",
            "hook-key": HOOK_KEY,
        },
    )
    try:
        rollout_events(proc.store)
        proc.worker.route()
        assert proc.worker.send_due() == 3  # every Slack message, in one pass
        hooks = sorted(
            (d for d in proc.store.deliveries() if d.provider == "hook"), key=lambda d: d.attempts
        )
        assert [d.attempts for d in hooks] == [0, 0, 1]
        assert hooks[2].last_error == "webhook provider hook: no answer within 1s"
        assert hooks[2].state == records.PENDING_DELIVERY
    finally:
        proc.close()
        silent.close()
    assert len(slack.accepted()) == 3


def test_the_readme_verification_snippet_accepts_a_real_request_and_refuses_a_forged_one(
    tmp_path: Path, receiver: Any
) -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    start = readme.index("  ```python\n  import hashlib, hmac, time")
    snippet = readme[start:].split("\n", 1)[1].split("  ```", 1)[0]
    scope: dict[str, Any] = {}
    exec(textwrap.dedent(snippet), scope)  # the documented code, as a receiver runs it
    proc, servers = _setup(tmp_path, receiver)
    try:
        proc.store.record(app="api", kind="unreachable", message="registry failing for 10m")
        assert proc.worker.drain(timeout=30) == 0
    finally:
        proc.close()
    (got,) = servers["hook"].accepted()
    assert scope["verify"](HOOK_KEY.encode(), got.headers, got.body)
    assert not scope["verify"](HOOK_KEY.encode(), got.headers, got.body.replace(b"api", b"web"))
    old = {**got.headers, "X-Syncer-Timestamp": str(int(got.headers["X-Syncer-Timestamp"]) - 900)}
    assert not scope["verify"](HOOK_KEY.encode(), old, got.body)
