"""Done-when 5: ``kill -9`` of ``syncer run`` mid-rollout; after a restart the rollout
completes, exactly once. Also: SIGTERM stops ``syncer run`` cleanly with exit 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import pytest
import requests

from syncer.state import records
from tests.e2e.conftest import API_TOKEN, TEST_DEADLINE, PushEnv, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def start(env: PushEnv, config: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "syncer", "--log-level", "info", "run", "-c", config],
        env={**os.environ, **env.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def commit_deadline(env: PushEnv, *, seconds: int) -> None:
    """Commit web's Deployment with a progress deadline of ``seconds``: a slow rollout
    in the test below must not count as a failed one."""
    manifest = "deploy/apps/web/deployment.yaml"
    slow = env.example_files()[manifest].replace(
        TEST_DEADLINE, f"progressDeadlineSeconds: {seconds}"
    )
    env.commit({manifest: slow})


def generation(cluster: Any) -> int:
    obj = cluster.get("apps/v1", "Deployment", "web", namespace="web")
    return int(obj["metadata"]["generation"]) if obj else 0


def open_rollouts(env: PushEnv) -> list[records.Rollout]:
    store = env.store()
    try:
        return [r for app in ("web", "worker") for r in store.open_rollouts(app)]
    finally:
        store.close()


def test_kill_9_mid_rollout_then_restart_completes_once(push_env: PushEnv) -> None:
    env = push_env
    host = env.registry.host
    first = env.push("team/web", "1.0.0")
    env.push("team/worker", "latest")
    config = str(env.write_config(wait="30s"))
    proc = start(env, config)
    try:
        wait_until(
            lambda: env.runs("web", f"{host}/team/web:1.0.0@{first.digest}"),
            timeout=30,
            what="web 1.0.0 on both clusters",
        )
        # The first rollouts are recorded as finished, so the kill below lands in the
        # rollout of 1.1.0 and not in the health wait of 1.0.0 (or of worker).
        wait_until(lambda: not open_rollouts(env), timeout=30, what="first rollouts closed")
        # The rollout below takes a while to turn healthy (pods ready after 4s): a slow
        # rollout, not a failed one, so its Deployment gets a deadline longer than that.
        commit_deadline(env, seconds=60)
        wait_until(
            lambda: all(
                c.get("apps/v1", "Deployment", "web", "web")["spec"]["progressDeadlineSeconds"]
                == 60
                for c in env.clusters
            ),
            timeout=30,
            what="the longer deadline applied",
        )
        wait_until(lambda: not open_rollouts(env), timeout=30, what="that rollout closed")
        before = {c.name: generation(c) for c in env.clusters}
        for cluster in env.clusters:
            cluster.workload_delay = 4.0
        newer = env.push("team/web", "1.1.0")

        def mid_rollout() -> bool:
            store = env.store()
            try:
                return any(
                    t.state in (records.APPLYING, records.APPLIED)
                    for r in store.open_rollouts("web")
                    for t in r.targets
                    if (rel := store.get_release("web", r.release_id)) is not None
                    and rel.images[0].tag == "1.1.0"
                )
            finally:
                store.close()

        wait_until(mid_rollout, timeout=30, what="the rollout of 1.1.0 under way")
        proc.kill()
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        print(proc.stdout.read() if proc.stdout else "")

    for cluster in env.clusters:
        cluster.workload_delay = 0.05
    proc = start(env, config)
    try:
        ref = f"{host}/team/web:1.1.0@{newer.digest}"
        wait_until(lambda: env.runs("web", ref), timeout=30, what="1.1.0 after restart")

        def finished() -> bool:
            store = env.store()
            try:
                return not store.open_rollouts("web")
            finally:
                store.close()

        try:
            wait_until(finished, timeout=30, what="no open rollout left")
        except AssertionError:
            store = env.store()
            try:
                for app in ("web", "worker"):
                    print(app, [e.to_dict() for e in store.errors(app)])
                    print(app, [r.to_dict() for r in store.open_rollouts(app)])
                    print(app, [e.message for e in store.history(app, limit=15)])
            finally:
                store.close()
            raise
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        print(proc.stdout.read() if proc.stdout else "")

    store = env.store()
    try:
        (release,) = [r for r in store.releases("web") if r.images[0].tag == "1.1.0"]
        rollouts = [r for r in store.rollouts("web") if r.release_id == release.id]
        assert len(rollouts) == 1, rollouts
        assert sorted(t.cluster for t in rollouts[0].targets) == ["prod", "staging"]
        assert {t.state for t in rollouts[0].targets} == {records.HEALTHY}
        events = [e for e in store.history("web", limit=500) if e.release_id == release.id]
        assert [e.kind for e in events].count("rollout") == 1
        assert sorted(e.cluster for e in events if e.kind == "healthy") == ["prod", "staging"]
    finally:
        store.close()
    # The new pod template reached each cluster once: one generation step, not two.
    assert {c.name: generation(c) for c in env.clusters} == {
        name: gen + 1 for name, gen in before.items()
    }


def test_an_acknowledged_rollback_survives_kill_9(push_env: PushEnv) -> None:
    """POST …/rollback answers 202 only once the rollback is in state: killed right after
    the answer (its worker still busy with the app's slow rollout), the restarted
    controller rolls back all the same and keeps the pin."""
    env = push_env
    host = env.registry.host
    first = env.push("team/web", "1.0.0")
    env.push("team/worker", "latest")
    config = str(env.write_config(wait="60s"))
    commit_deadline(env, seconds=120)
    good = f"{host}/team/web:1.0.0@{first.digest}"
    proc = start(env, config)
    try:
        wait_until(lambda: env.runs("web", good), timeout=60, what="web 1.0.0 on both clusters")
        wait_until(lambda: not open_rollouts(env), timeout=30, what="first rollouts closed")
        api = f"http://127.0.0.1:{env.port}/api/v1/apps/web"
        auth = {"Authorization": f"Bearer {API_TOKEN}"}
        first_release = requests.get(api, headers=auth, timeout=30).json()["release"]
        for cluster in env.clusters:
            cluster.workload_delay = 30.0  # 1.1.0's pods take long: its worker stays busy
        env.push("team/web", "1.1.0")
        wait_until(
            lambda: any(f"{host}/team/web:1.1.0" in env.image(c, "web") for c in env.clusters),
            timeout=30,
            what="the rollout of 1.1.0 under way",
        )
        # Named: while 1.1.0 is half out, "the last healthy release before what runs" may
        # be none (one cluster recorded on 1.0.0, the other not yet on 1.1.0).
        answer = requests.post(
            f"{api}/rollback",
            json={"to": first_release},
            headers={"Authorization": f"Bearer {API_TOKEN}"},
            timeout=30,
        )
        proc.kill()
        assert answer.status_code == 202, answer.text
        assert answer.json()["to"] == first_release
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        print(proc.stdout.read() if proc.stdout else "")
    for cluster in env.clusters:
        cluster.workload_delay = 0.05
    proc = start(env, config)
    try:
        wait_until(lambda: env.runs("web", good), timeout=60, what="web back on 1.0.0")
        store = env.store()
        try:
            holds = store.holds("web")
        finally:
            store.close()
        assert [h.kind for h in holds] == [records.PIN], holds
        assert holds[0].release_id == answer.json()["to"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
