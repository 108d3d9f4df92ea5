"""``Controller.reload``: a running controller takes a new config: jobs rebuilt to match,
added apps deployed on the new parts, the previous parts closed once idle."""

from __future__ import annotations

import dataclasses

import pytest

from syncer import controller, errors, state
from syncer import reload as reload_
from syncer.config import model
from tests.controller import fakes
from tests.waiting import eventually


class ClosingParts(fakes.FakeParts):
    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_a_reload_rebuilds_jobs_deploys_added_apps_and_closes_old_parts(
    store: state.Store,
) -> None:
    running = fakes.config()
    first, second = ClosingParts(), ClosingParts()
    built: list[model.Config] = []

    def rebuild(config: model.Config) -> controller.Rebuilt:
        built.append(config)
        return controller.Rebuilt(parts=second, notifier=None)

    ctl = controller.Controller(config=running, store=store, parts=first, rebuild=rebuild)
    ctl.start()
    try:
        assert eventually(lambda: store.deployments("web"))
        other = model.Source(name="other", git=model.GitSource(url="http://git/o.git"))
        web = running.apps[0]
        api = dataclasses.replace(web, name="api", source="other", images=())
        new = dataclasses.replace(running, sources=(other,), apps=(api,))
        ctl.reload(reload_.decide(running=running, new=new))

        assert built == [new]
        assert ctl.parts is second and ctl.config is new
        assert sorted(ctl._jobs.ids()) == ["drift:api", "git:http://git/o.git", "removed-apps"]
        assert eventually(lambda: store.deployments("api"))
        assert eventually(lambda: first.closed)
        assert not second.closed
        assert ctl.app_status("web") is None  # left the config
        # Work queued for it before (a drift check, a retry) is dropped, not retried.
        ctl._queue.request("web", "drift", now=True)
        assert ctl.wait_idle(10)
        assert ctl._queue.failures("web") == 0
        assert "config reloaded: app added" in [e.message for e in store.history("api", limit=50)]
        assert ctl.app_status("api") is not None
    finally:
        ctl.stop(timeout=10)


def test_a_controller_without_a_rebuild_refuses_to_reload(store: state.Store) -> None:
    running = fakes.config()
    ctl = controller.Controller(config=running, store=store, parts=fakes.FakeParts())
    with pytest.raises(errors.PermanentError, match="cannot reload"):
        ctl.reload(reload_.decide(running=running, new=running))
