"""Two apps declaring the same new object, syncing at the same moment on one controller:
one creates it, the other is refused naming the first, and the object keeps the first
app's label (before, both applied as the same field manager and the last one won)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from syncer.apply import errors
from tests.apply.conftest import NS, config_map, run_sync

pytestmark = pytest.mark.integration


def test_only_one_of_two_apps_creates_a_shared_new_object(
    kube_clusters: Any, connect: Any, options: Any
) -> None:
    [cluster] = kube_clusters(1)
    client = connect(cluster)
    run_sync(client, [config_map("ns-marker")], options=options, app="setup")
    # Both syncs read the cluster (object absent) before either writes.
    cluster.set_fault("latency", seconds=1.0, method="PATCH", count=2)
    outcomes: dict[str, Any] = {}
    start = threading.Barrier(2)

    def sync_as(app: str) -> None:
        start.wait()
        try:
            outcomes[app] = run_sync(
                client, [config_map("shared", {"owner": app})], options=options, app=app
            )
        except errors.OwnershipConflict as err:
            outcomes[app] = err

    threads = [threading.Thread(target=sync_as, args=(app,)) for app in ("alpha", "beta")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    refused = {app: o for app, o in outcomes.items() if isinstance(o, errors.OwnershipConflict)}
    assert len(refused) == 1, outcomes
    [(loser, error)] = refused.items()
    winner = ({"alpha", "beta"} - {loser}).pop()
    assert f"being created by app {winner!r}" in str(error)
    assert f"app {loser!r} will not touch it" in str(error)
    live = cluster.get("v1", "ConfigMap", "shared", namespace=NS)
    assert live["data"] == {"owner": winner}
    assert live["metadata"]["labels"]["syncer.io/app"] == winner
    # Later passes of the loser still refuse it, now from the object's label.
    with pytest.raises(errors.OwnershipConflict, match=f"belongs to app {winner!r}"):
        run_sync(client, [config_map("shared", {"owner": loser})], options=options, app=loser)
