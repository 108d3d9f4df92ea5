"""Done-when 4: a signed registry webhook starts the rollout at once (latency printed);
a badly signed one is refused with 401 and starts nothing."""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.e2e.conftest import WEBHOOK_TOKEN, PushEnv, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def event(host: str, repository: str, tag: str) -> bytes:
    return json.dumps(
        {
            "events": [
                {
                    "action": "push",
                    "target": {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "repository": repository,
                        "tag": tag,
                        "digest": "sha256:" + "0" * 64,
                    },
                    "request": {"host": host},
                }
            ]
        }
    ).encode()


def settle(env: PushEnv) -> int:
    """The registry's request count once it has not moved for 1.5s."""
    count = env.registry.request_count()
    while True:
        time.sleep(1.5)
        now = env.registry.request_count()
        if now == count:
            return now
        count = now


def test_signed_webhook_rolls_out_now_and_bad_signature_does_nothing(push_env: PushEnv) -> None:
    env = push_env
    host = env.registry.host
    first = env.push("team/web", "1.0.0")
    env.push("team/worker", "latest")
    # Polls are an hour apart: only a webhook can make anything happen quickly.
    with env.running(image_interval="1h", git_interval="1h") as ctl:
        wait_until(
            lambda: env.runs("web", f"{host}/team/web:1.0.0@{first.digest}"),
            what="web 1.0.0 on both clusters",
        )
        url = f"http://127.0.0.1:{env.webhook_port}/webhooks/distribution"
        headers = {"Content-Type": "application/vnd.docker.distribution.events.v1+json"}

        # Let notifications of the pushes made before syncer listened (the registry
        # retries them) arrive first, so that what follows is ours alone.
        before = settle(env)
        # A badly signed event: 401, and not one request to the registry follows.
        releases = len(ctl.releases("web"))
        bad = requests.post(
            url,
            data=event(host, "team/web", "1.0.0"),
            headers={**headers, "Authorization": "Bearer wrong"},
            timeout=5,
        )
        assert bad.status_code == 401
        time.sleep(1.5)
        assert env.registry.request_count() == before
        assert len(ctl.releases("web")) == releases

        # The same event correctly signed: the image repository is polled at once.
        good = requests.post(
            url,
            data=event(host, "team/web", "1.0.0"),
            headers={**headers, "Authorization": f"Bearer {WEBHOOK_TOKEN}"},
            timeout=5,
        )
        assert good.status_code in (200, 202), good.text
        assert "web" in json.dumps(good.json())
        wait_until(lambda: env.registry.request_count() > before, what="a registry poll")

        # A real push: the registry's own notification reaches syncer's webhook.
        started = time.monotonic()
        newer = env.push("team/web", "1.1.0")
        ref = f"{host}/team/web:1.1.0@{newer.digest}"
        wait_until(lambda: env.runs("web", ref), timeout=30, what="web 1.1.0 via webhook")
        latency = time.monotonic() - started
        print(f"push-to-redeploy via registry webhook: {latency:.2f}s to both clusters healthy")
