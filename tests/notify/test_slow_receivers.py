"""A receiver slow to answer (close to its provider's timeout) delays its own deliveries
only: the other receivers get theirs meanwhile, and new events are routed meanwhile.
Real HTTP receivers on 127.0.0.1, a real state file, the worker's own threads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from syncer.notify import worker
from tests import waiting
from tests.notify.conftest import Process, process, rollout_events

pytestmark = pytest.mark.integration

SLOW = 4.0
"""Seconds the slow receiver takes to answer, within its provider's 5s timeout."""


def _slow_and_fast(tmp_path: Path, receiver: Any) -> tuple[Process, Any, Any]:
    slow, fast = receiver(), receiver()
    slow.delay = SLOW
    proc = process(
        tmp_path,
        """
notifications:
  providers:
    - {name: slow, type: webhook, urlFrom: file:slow-url, secretFrom: file:slow-key,
       timeout: 5s}
    - {name: chat, type: slack, urlFrom: file:chat-url}
  rules:
    - {providers: [slow, chat]}
""",
        **{
            "slow-url": f"{slow.url}/hook",
            "slow-key": "k" * 16,
            "chat-url": f"{fast.url}/services/x",
        },
    )
    return proc, slow, fast


def _wait_for(condition: Callable[[], object], *, what: str, timeout: float = 30) -> None:
    assert waiting.eventually(condition, timeout=timeout), f"not reached: {what}"


def test_a_fast_receiver_gets_its_deliveries_while_a_slow_one_answers_its_first(
    tmp_path: Path, receiver: Any
) -> None:
    proc, slow, fast = _slow_and_fast(tmp_path, receiver)
    try:
        rollout_events(proc.store)  # three events, each for both receivers
        proc.worker.start()
        _wait_for(lambda: len(fast.accepted()) == 3, what="the fast receiver has all three")
        # The slow receiver has not answered its first request yet, and was sent no
        # second one meanwhile: one request at a time per receiver.
        assert slow.requests == []
        assert len(slow.arrived) == 1
    finally:
        proc.close()
    # Each receiver's deliveries in the order of their events.
    texts = [r.json()["text"] for r in fast.accepted()]
    assert ["new release" in texts[0], "rolling out" in texts[1], "healthy" in texts[2]] == [
        True, True, True,
    ], texts  # fmt: skip


def test_an_event_is_routed_and_sent_elsewhere_while_a_send_is_in_flight(
    tmp_path: Path, receiver: Any
) -> None:
    proc, slow, fast = _slow_and_fast(tmp_path, receiver)
    try:
        proc.worker.start()
        proc.store.record(app="api", kind="unreachable", message="registry failing for 10m")
        proc.worker.wake()
        _wait_for(lambda: slow.arrived, what="the slow receiver's first request")
        proc.store.record(app="api", kind="unreachable", message="Git source failing for 10m")
        proc.worker.wake()  # as the controller does once an event is recorded

        def routed() -> list[Any]:
            return [d for d in proc.store.deliveries() if "Git source" in d.event.message]

        _wait_for(lambda: len(routed()) == 2, what="the second event's deliveries queued")
        _wait_for(lambda: len(fast.accepted()) == 2, what="the fast receiver has both")
        assert slow.requests == [], "the slow receiver's first answer came before"
        # The slow receiver gets both, in order, once each.
        _wait_for(lambda: len(slow.accepted()) == 2, what="the slow receiver has both")
    finally:
        proc.close()
    assert [r.json()["detail"] for r in slow.accepted()] == [
        "registry failing for 10m", "Git source failing for 10m",
    ]  # fmt: skip
    assert len(set(slow.arrived)) == 2 and len(slow.arrived) == 2


def test_a_slow_receivers_backlog_hides_no_other_receivers_delivery(
    tmp_path: Path, receiver: Any
) -> None:
    slow, fast = receiver(), receiver()
    slow.delay = SLOW
    proc = process(
        tmp_path,
        """
notifications:
  providers:
    - {name: slow, type: webhook, urlFrom: file:slow-url, secretFrom: file:slow-key,
       timeout: 5s}
    - {name: chat, type: slack, urlFrom: file:chat-url}
  rules:
    - {providers: [slow], apps: [api]}
    - {providers: [chat], apps: [web]}
""",
        **{
            "slow-url": f"{slow.url}/hook",
            "slow-key": "k" * 16,
            "chat-url": f"{fast.url}/services/x",
        },
    )
    try:
        # More of the slow receiver's deliveries wait, and longer, than are read at once.
        for n in range(2 * worker.BATCH):
            proc.store.record(app="api", kind="unreachable", message=f"registry failing ({n})")
        proc.store.record(app="web", kind="unreachable", message="Git source failing for 10m")
        proc.worker.start()
        _wait_for(lambda: len(fast.accepted()) == 1, what="the fast receiver's delivery")
        assert slow.requests == [] and len(slow.arrived) == 1
    finally:
        proc.close()


def test_a_flush_starts_no_attempt_after_its_time(tmp_path: Path, receiver: Any) -> None:
    proc, slow, fast = _slow_and_fast(tmp_path, receiver)
    try:
        rollout_events(proc.store)
        # `syncer sync` at its end: the slow receiver's first answer comes after the
        # flush's time is up; its other two deliveries are left for the next run.
        left = proc.worker.drain(timeout=2.0)
    finally:
        proc.close()
    assert len(slow.arrived) == 1 and len(slow.accepted()) == 1
    assert left == 6 - len(slow.accepted()) - len(fast.accepted()) >= 2
