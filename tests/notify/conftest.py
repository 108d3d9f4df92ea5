"""Helpers of the notification tests: a config naming the test receivers, a real state
file, events recorded the way the reconcile records them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from syncer import release
from syncer.config import loader, model
from syncer.notify import router, worker
from syncer.state import records, sqlite

COMMIT = "0123456789abcdef0123456789abcdef01234567"

BASE = """
sources:
  - {name: deploy, git: {url: https://git.example.com/team/deploy.git, branch: main}}
clusters:
  - {name: dev, kubeconfig: kubeconfig}
  - {name: prod, kubeconfig: kubeconfig}
apps:
  - {name: web, source: deploy, clusters: [dev, prod]}
  - {name: api, source: deploy, clusters: [dev]}
pipelines:
  - app: web
    stages:
      - {name: dev, clusters: [dev]}
      - {name: prod, clusters: [prod], after: dev, approval: true}
"""


@dataclasses.dataclass
class Process:
    """What one syncer process has: the config, its store, its notification worker."""

    config: model.Config
    path: Path

    def __post_init__(self) -> None:
        self.store = sqlite.SqliteStore(self.path)
        self.worker = worker.Worker(
            config=self.config, store=self.store, routes=router.Router(config=self.config)
        )

    def restart(self) -> Process:
        """A new process on the same state file (this one closes, nothing flushed)."""
        self.close()
        return Process(config=self.config, path=self.path)

    def close(self) -> None:
        self.worker.stop(flush=0)
        self.store.close()


def process(tmp_path: Path, notifications: str, **secrets: str) -> Process:
    """A config with ``notifications`` (YAML text, secrets as files named after their
    keyword) and a state file in ``tmp_path``."""
    for name, value in secrets.items():
        (tmp_path / name).write_text(value)
    config = loader.loads(
        BASE + notifications, filename=str(tmp_path / "syncer.yaml"), base_dir=str(tmp_path)
    )
    return Process(config=config, path=tmp_path / "state.db")


def rollout_events(store: sqlite.SqliteStore, *, app: str = "web") -> release.Release:
    """What a reconcile records for a new release healthy on dev: release created,
    rollout started, rollout healthy (three events)."""
    image = release.Image(
        repository="registry.example.com/team/web", tag="1.2.3", digest="sha256:" + "a" * 64
    )
    rel = release.make(app=app, commit=COMMIT, config_digest="c", images=[image])
    store.put_release(rel)
    store.record(app=app, kind="release", release_id=rel.id, message=f"new release {rel.short_id}")
    rollout = store.begin_rollout(app=app, release_id=rel.id, clusters=["dev"], cause="new")
    (target,) = rollout.targets
    store.set_target(
        target.id, state=records.HEALTHY, message="ok",
        event=records.NewEvent(
            app=app, kind="healthy", release_id=rel.id, cluster="dev",
            message=f"{rel.short_id} healthy on dev",
        ),
    )  # fmt: skip
    return rel
