"""``Controller`` with tenants' appsFrom: a new commit's valid set replaces the running
one through the reload decision; an invalid one, or a platform reload whose rules the
set no longer passes, keeps the last good apps running and says why; one tenant's
failure leaves the other's apps alone."""

from __future__ import annotations

import textwrap
from pathlib import Path

from syncer import controller, state
from syncer import reload as reload_
from syncer.config import loader, model
from syncer.reconcile import parts
from tests.controller import fakes
from tests.waiting import eventually

PLATFORM = """\
sources:
  - {name: a-deploy, git: {url: "http://git/a.git"}}
  - {name: b-deploy, git: {url: "http://git/b.git"}}
clusters: [{name: a}]
tenants:
  - name: team-a
    sources: [{repo: "http://git/a.git"}]
    clusters: [a]
    namespaces: [NAMESPACES]
    appsFrom: {source: a-deploy, path: apps}
  - name: team-b
    sources: [{repo: "http://git/b.git"}]
    clusters: [a]
    namespaces: [team-b]
    appsFrom: {source: b-deploy, path: apps}
"""


def app(name: str, namespace: str, source: str) -> str:
    return f"apps:\n  - {{name: {name}, source: {source}, namespace: {namespace}, clusters: [a]}}\n"


class RepoParts(fakes.FakeParts):
    """Fake parts whose Git sources are directories, one per commit, per source."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.heads: dict[str, str] = {}
        self.trees: dict[str, dict[str, str]] = {}

    def push(self, source: str, commit: str, files: dict[str, str]) -> None:
        """A commit on top of the last: ``files`` changed or added."""
        tree = self.trees.setdefault(source, {})
        tree.update(files)
        for name, text in tree.items():
            path = self.root / source / commit / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        self.heads[source] = commit

    def poll_source(self, source: model.Source, *, max_age: float = 0.0) -> parts.Snapshot:
        return self.checkout(source, self.heads[source.name])

    def checkout(self, source: model.Source, commit: str) -> parts.Snapshot:
        path = self.root / source.name / commit
        return parts.Snapshot(source=source.name, commit=commit, path=path)


def platform(tmp: Path, namespaces: str = "team-a") -> model.Config:
    text = textwrap.dedent(PLATFORM).replace("NAMESPACES", namespaces)
    return loader.loads(text, filename="syncer.yaml", base_dir=str(tmp))


def test_sets_replace_only_when_valid_and_a_platform_reload_checks_them_again(
    tmp_path: Path,
) -> None:
    store = state.open_store(":memory:")
    repo = RepoParts(tmp_path / "git")
    repo.push("a-deploy", "a1", {"apps/web.yaml": app("a-web", "team-a", "a-deploy")})
    repo.push("b-deploy", "b1", {"apps/api.yaml": app("b-api", "team-b", "b-deploy")})
    running = platform(tmp_path)
    rebuilt: list[model.Config] = []

    def rebuild(config: model.Config) -> controller.Rebuilt:
        rebuilt.append(config)
        return controller.Rebuilt(parts=repo, notifier=None)

    ctl = controller.Controller(config=running, store=store, parts=repo, rebuild=rebuild)
    ctl.start()
    try:
        assert {a.name for a in ctl.config.apps} == {"a-web", "b-api"}
        assert eventually(lambda: store.deployments("a-web") and store.deployments("b-api"))

        # A valid new commit of team A: the new app is added, nothing else changes.
        repo.push("a-deploy", "a2", {"apps/worker.yaml": app("a-worker", "team-a", "a-deploy")})
        ctl._poll_git("http://git/a.git")
        assert {a.name for a in ctl.config.apps} == {"a-web", "a-worker", "b-api"}
        assert eventually(lambda: store.deployments("a-worker"))
        # Only apps changed: the parts run on (clients, watches, Git memory kept).
        assert len(rebuilt) == 1 and repo.followed is ctl.config

        # Team B breaks its file: its last good app stays, team A is untouched.
        repo.push("b-deploy", "b2", {"apps/api.yaml": "apps: [\n"})
        ctl._poll_git("http://git/b.git")
        (tenant_a, tenant_b) = ctl.tenants()
        assert tenant_b["commit"] == "b2" and tenant_b["loadedCommit"] == "b1"
        assert tenant_b["errors"][0].startswith("apps/api.yaml:2: invalid YAML")
        assert tenant_a["ok"] and tenant_a["loadedCommit"] == "a2"
        assert {a.name for a in ctl.config.apps} == {"a-web", "a-worker", "b-api"}
        assert "tenant team-b apps at b2 not loaded, its last good apps run" in ctl.ready()[1]

        # The platform narrows team A's namespaces: its running apps no longer pass, so
        # they stay as they ran and the tenant says why.
        narrowed = platform(tmp_path, namespaces="team-a-only")
        ctl.reload_config(reload_.decide(running=running, new=narrowed))
        (tenant_a, _b) = ctl.tenants()
        assert any("tenant team-a allows namespaces team-a-only" in e for e in tenant_a["errors"])
        assert {a.name for a in ctl.config.apps} == {"a-web", "a-worker", "b-api"}
        assert ctl.platform is narrowed
        assert len(rebuilt) == 2  # the platform's file changed: built afresh
    finally:
        ctl.stop(timeout=10)
        store.close()


def test_a_team_cannot_take_over_another_teams_running_app_by_its_name(
    tmp_path: Path,
) -> None:
    store = state.open_store(str(tmp_path / "state.db"))
    repo = RepoParts(tmp_path / "git")
    repo.push("a-deploy", "a1", {"apps/web.yaml": app("a-web", "team-a", "a-deploy")})
    repo.push("b-deploy", "b1", {"apps/api.yaml": app("api", "team-b", "b-deploy")})

    def rebuild(_config: model.Config) -> controller.Rebuilt:
        return controller.Rebuilt(parts=repo, notifier=None)

    ctl = controller.Controller(config=platform(tmp_path), store=store, parts=repo, rebuild=rebuild)
    ctl.start()
    try:
        assert eventually(lambda: store.deployments("api"))
        # Team A is listed first, but team B ran "api" first: team A's claim is refused.
        repo.push("a-deploy", "a2", {"apps/api.yaml": app("api", "team-a", "a-deploy")})
        ctl._poll_git("http://git/a.git")
        (api,) = [a for a in ctl.config.apps if a.name == "api"]
        assert api.tenant == "team-b"
        (tenant_a, _b) = ctl.tenants()
        assert tenant_a["refused"] == [
            "a-deploy:apps/api.yaml: app api is refused: the name is taken by tenant"
            " team-b (b-deploy:apps/api.yaml) (the platform's apps come first, then the"
            " tenant that ran the app first); expected another name"
        ]
    finally:
        ctl.stop(timeout=10)
    # After a restart the owner is still the team that ran it, whatever the order.
    again = controller.Controller(
        config=platform(tmp_path), store=store, parts=repo, rebuild=rebuild
    )
    again.start()
    try:
        (api,) = [a for a in again.config.apps if a.name == "api"]
        assert api.tenant == "team-b"
    finally:
        again.stop(timeout=10)
        store.close()
