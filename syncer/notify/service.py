"""Building the notification worker of a session (``syncer.controller.open_session``).

Kept apart from the worker so that the controller imports one function: the router of
the config, Kubernetes Events through the session's cluster clients when a
``kubernetes`` provider is configured, and the worker itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from syncer.config import model, secrets
from syncer.notify import router, worker
from syncer.state import store as store_

if TYPE_CHECKING:
    from syncer import apply


def worker_for(
    *,
    config: model.Config,
    store: store_.Store,
    read_secret: secrets.SecretReader | None,
    client: Callable[[model.Cluster], apply.ClusterClient],
) -> worker.Worker:
    """The worker that routes and sends ``store``'s notifications under ``config``."""
    events: Any = None
    if any(p.type == "kubernetes" for p in config.notifications.providers):
        # Imported here: the cluster client (and ``kubernetes``) only when it is used.
        from syncer.notify import kube

        events = kube.KubeEvents(clusters=config.clusters, client=client, store=store)
    return worker.Worker(
        config=config, store=store, routes=router.Router(config=config),
        read_secret=read_secret, kube=events,
    )  # fmt: skip
