"""An app removed from the config: its objects are deleted when its last sync had prune
on (as Flux does for a deleted Kustomization), else left and reported as orphans; the
outcome is in its history; a cluster that is down is tried again later."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from syncer import controller, state
from syncer.reconcile import removed
from tests.controller import fakes
from tests.controller.test_cli_live import CONFIGMAP, run

KEY = '{"apiVersion":"v1","kind":"ConfigMap","name":"site","namespace":"gone"}'


def test_removed_app_collected_with_fakes(tmp_path: Path) -> None:
    store = state.open_store(tmp_path / "s.db")
    parts = fakes.FakeParts()
    config = fakes.config()
    try:
        for app, prune in (("gone", True), ("kept", False)):
            for cluster in ("a", "b"):
                store.set_inventory(app=app, cluster=cluster, objects=[KEY])
                store.record(app=app, kind="applied", cluster=cluster, message="applied",
                             data={"prune": prune})  # fmt: skip
        store.set_inventory(app="web", cluster="a", objects=[KEY])  # still configured
        parts.down = {"b"}
        ctl = controller.Controller(config=config, store=store, parts=parts)
        outcomes = {(r.app, r.cluster): r for r in ctl.collect_removed()}
        assert set(outcomes) == {("gone", "a"), ("gone", "b"), ("kept", "a"), ("kept", "b")}
        assert parts.removed == [("gone", "a")]
        assert outcomes[("gone", "a")].deleted == [KEY]
        assert "unreachable" in outcomes[("gone", "b")].error
        assert outcomes[("kept", "a")].orphans == ["ConfigMap gone/site"]
        assert store.inventory("gone", "a") == [] and store.inventory("gone", "b") == [KEY]
        assert store.inventory("kept", "a") == [] and store.inventory("web", "a") == [KEY]
        kept = [e.message for e in store.history("kept", limit=10) if e.kind == "removed"]
        assert len(kept) == 2 and "prune off" in kept[0] and "ConfigMap gone/site" in kept[0]
        # The down cluster is tried again (once it is back); nothing else is redone.
        parts.down = set()
        again = ctl.collect_removed()
        assert [(r.app, r.cluster, r.ok) for r in again] == [("gone", "b", True)]
        assert removed.removed_apps(config=config, store=store) == {}
        assert ctl.collect_removed() == []
    finally:
        store.close()


def test_a_tenants_app_is_not_collected_while_its_files_were_not_read(tmp_path: Path) -> None:
    store = state.open_store(tmp_path / "s.db")
    parts = fakes.FakeParts()
    config = fakes.config()
    try:
        for app, tenant in (("team-app", "team-a"), ("other-team-app", "team-b")):
            store.set_inventory(app=app, cluster="a", objects=[KEY])
            data = {"prune": True, "tenant": tenant, "origin": f"{tenant}:x.yaml"}
            store.record(app=app, kind="applied", cluster="a", message="applied", data=data)
        outcomes = removed.collect(
            config=config, store=store, parts=parts, unknown_tenants=frozenset({"team-a"})
        )
        # team-a's repository could not be read: its app is not known to be removed.
        assert [(r.app, r.pruned) for r in outcomes] == [("other-team-app", True)]
        assert store.inventory("team-app", "a") == [KEY]
    finally:
        store.close()


@pytest.mark.integration
def test_removed_app_pruned_or_orphaned_by_syncer_sync(
    tmp_path: Path, git_http: Any, kube_clusters: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    files = {f"{name}/cm.yaml": CONFIGMAP % name for name in ("site", "pruned", "kept")}
    repo = git_http.create_repo("deploy", files)

    def app(name: str, prune: bool = True) -> dict[str, Any]:
        return {
            "name": name, "source": "deploy", "path": name, "namespace": name,
            "clusters": ["a"], "sync": {"wait": "3s", "prune": prune},
        }  # fmt: skip

    data = {
        "sources": [{"name": "deploy", "git": {"url": repo.url, "branch": "main"}}],
        "clusters": [{"name": "a", "kubeconfig": a.kubeconfig, "context": "a"}],
        "apps": [app("site"), app("pruned"), app("kept", prune=False)],
        "state": {"path": "state/syncer.db"},
    }
    path = tmp_path / "syncer.yaml"
    path.write_text(yaml.safe_dump(data))
    code, _out, err = run(capsys, "sync", "-c", str(path))
    assert code == 0, err
    for name in ("site", "pruned", "kept"):
        assert a.get("v1", "ConfigMap", "site", namespace=name) is not None

    data["apps"] = [app("site")]
    path.write_text(yaml.safe_dump(data))
    a.request_log.clear()
    code, out, err = run(capsys, "sync", "-c", str(path))
    assert code == 0, err
    assert "pruned: ok: a: app left the config: deleted 1 object(s)" in out
    assert "kept: ok: a: app left the config: 1 orphan(s) left in place (prune off)" in out
    assert a.get("v1", "ConfigMap", "site", namespace="pruned") is None
    assert a.get("v1", "ConfigMap", "site", namespace="kept") is not None  # prune was off
    assert a.get("v1", "ConfigMap", "site", namespace="site") is not None
    deletes = [r for r in a.request_log if r.method == "DELETE"]
    assert len(deletes) == 1 and "/namespaces/pruned/configmaps/site" in deletes[0].path

    code, out, err = run(capsys, "history", "-c", str(path), "pruned")
    assert code == 0, err
    assert "left the config; deleted 1 object(s) from a" in out
    code, out, _err = run(capsys, "history", "-c", str(path), "kept")
    assert "left in place on a (its last sync had prune off): ConfigMap kept/site" in out

    # Done once: the next pass neither deletes nor reports again.
    a.request_log.clear()
    code, out, err = run(capsys, "sync", "-c", str(path))
    assert code == 0 and "left the config" not in out, out
    assert a.request_log.writes() == 0
