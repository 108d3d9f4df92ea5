"""A real CNCF distribution registry (``docker-registry``) notifies the server of pushes:
with the right bearer token the pushed tag and digest trigger a poll of exactly that
repository; with a wrong one nothing is triggered."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from syncer import metrics
from syncer.server import http
from tests.server.conftest import FakePort
from tests.servers import images

pytestmark = pytest.mark.integration


def wait_for(condition: Callable[[], bool], *, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_signed_push_notification_triggers_the_pushed_repository(
    server: http.HttpServer, fake_port: FakePort, registry_server: Any
) -> None:
    registry = registry_server.start(
        notifications=[
            {
                "url": f"{server.webhook_url}/webhooks/distribution",
                "headers": {"Authorization": ["Bearer registry-token"]},
            }
        ]
    )
    pushed = images.push_image(registry, "team/web", tags=["1.4.2"])
    expected = ("trigger_image", f"{registry.host}/team/web", "1.4.2", pushed.digest)
    wait_for(lambda: expected in fake_port.triggers())
    time.sleep(0.5)  # anything else the registry sends has arrived by now
    # Layer and config uploads are notified too; only the manifest push triggers.
    assert set(fake_port.triggers()) == {expected}


def test_wrongly_signed_notifications_trigger_nothing(
    server: http.HttpServer, fake_port: FakePort, registry_server: Any
) -> None:
    def refused() -> float:
        return metrics.value("syncer_webhooks_total", kind="distribution", result="unauthorized")

    before = refused()
    registry = registry_server.start(
        notifications=[
            {
                "url": f"{server.webhook_url}/webhooks/distribution",
                "headers": {"Authorization": ["Bearer not-the-token"]},
            }
        ]
    )
    images.push_image(registry, "team/web", tags=["1.4.3"])
    wait_for(lambda: refused() > before)
    assert fake_port.triggers() == []
