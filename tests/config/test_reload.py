"""The reload decision (``syncer.reload.decide``) and the watcher's rules: what a new
config changes, what needs a restart, and that only a valid file is applied."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from syncer import metrics
from syncer import reload as reload_
from syncer.commands import run as run_cmd
from syncer.config import loader, model


def _data() -> dict[str, Any]:
    return {
        "sources": [{"name": "deploy", "git": {"url": "https://git.example/d.git"}}],
        "clusters": [{"name": "a", "kubeconfig": "kc"}, {"name": "b", "kubeconfig": "kc"}],
        "apps": [
            {"name": "web", "source": "deploy", "path": "web", "namespace": "web",
             "clusters": ["a"]},
            {"name": "api", "source": "deploy", "path": "api", "namespace": "api",
             "clusters": ["a"]},
        ],
        "server": {"listen": "127.0.0.1:8080"},
    }  # fmt: skip


def _config(data: dict[str, Any]) -> model.Config:
    return loader.loads(yaml.safe_dump(data), filename="syncer.yaml", base_dir="/etc/syncer")


def test_apps_added_removed_and_changed_are_told_apart() -> None:
    running = _config(_data())
    data = _data()
    data["apps"][0]["clusters"] = ["a", "b"]  # web changed
    del data["apps"][1]  # api removed
    data["apps"].append({**data["apps"][0], "name": "jobs", "path": "jobs"})
    decision = reload_.decide(running=running, new=_config(data))
    assert (decision.added, decision.removed, decision.changed) == (("jobs",), ("api",), ("web",))
    assert decision.needs_restart == ()
    assert decision.summary() == "added jobs; removed api; changed web"


def test_a_changed_source_changes_the_apps_on_it_only() -> None:
    data = _data()
    data["sources"].append({"name": "other", "git": {"url": "https://git.example/o.git"}})
    running = _config(data)
    data["sources"][1]["git"]["branch"] = "release"
    assert reload_.decide(running=running, new=_config(data)).changed == ()
    data["sources"][0]["git"]["branch"] = "release"
    decision = reload_.decide(running=running, new=_config(data))
    assert decision.changed == ("api", "web")


def test_restart_only_settings_keep_their_running_values() -> None:
    running = _config(_data())
    data = _data()
    data["server"]["listen"] = "0.0.0.0:9090"
    data["state"] = {"path": "elsewhere.db"}
    data["settings"] = {"workers": 9, "jitter": 0.3}
    decision = reload_.decide(running=running, new=_config(data))
    assert decision.needs_restart == ("server", "state", "settings.workers")
    assert decision.config.server == running.server
    assert decision.config.state == running.state
    assert decision.config.settings.workers == running.settings.workers
    assert decision.config.settings.jitter == 0.3  # reloadable: the new value
    assert "needs a restart to change server, state, settings.workers" in decision.summary()


def _watcher(path: Path, applied: list[reload_.Decision]) -> reload_.Watcher:
    return reload_.Watcher(
        str(path), running=run_cmd.load_checked(str(path)), load=run_cmd.load_checked,
        apply=applied.append,
    )  # fmt: skip


def test_only_a_valid_file_is_applied_and_an_invalid_one_says_where(tmp_path: Path) -> None:
    path = tmp_path / "syncer.yaml"
    path.write_text(yaml.safe_dump(_data()))
    applied: list[reload_.Decision] = []
    watcher = _watcher(path, applied)
    invalid = metrics.value("syncer_config_reloads_total", result="invalid")
    assert watcher.check() == "unchanged"

    text = yaml.safe_dump(_data()).replace("  path: api\n", "  path: api\n  prune: maybe\n")
    path.write_text(text)
    assert watcher.check() == reload_.INVALID
    assert applied == []
    line = text.splitlines().index("  prune: maybe") + 1
    assert watcher.status.errors and watcher.status.errors[0].startswith(f"{path}:{line}")
    assert "the previous one runs" in watcher.status.describe()
    assert metrics.value("syncer_config_reloads_total", result="invalid") == invalid + 1
    assert metrics.value("syncer_config_last_reload_successful") == 0
    assert watcher.check() == "unchanged"  # told once, not every few seconds

    data = _data()
    data["apps"].pop()
    path.write_text(yaml.safe_dump(data))
    assert watcher.check() == reload_.APPLIED
    assert [d.removed for d in applied] == [("api",)]
    assert watcher.status.describe() == ""
    assert metrics.value("syncer_config_last_reload_successful") == 1
    assert [a.name for a in watcher.running.apps] == ["web"]


def test_sighup_reloads_an_unchanged_file_and_a_swapped_symlink_is_seen(tmp_path: Path) -> None:
    first, second = tmp_path / "v1", tmp_path / "v2"
    first.mkdir()
    second.mkdir()
    (first / "syncer.yaml").write_text(yaml.safe_dump(_data()))
    data = _data()
    data["apps"].pop()
    (second / "syncer.yaml").write_text(yaml.safe_dump(data))
    os.symlink("v1", tmp_path / "..data")
    path = tmp_path / "syncer.yaml"
    path.symlink_to("..data/syncer.yaml")
    applied: list[reload_.Decision] = []
    watcher = _watcher(path, applied)

    assert watcher.check(force=True) == reload_.APPLIED  # SIGHUP: reloaded as it is
    assert applied[-1].summary() == "no app changed"
    os.symlink("v2", tmp_path / "..tmp")
    os.replace(tmp_path / "..tmp", tmp_path / "..data")
    assert watcher.check() == reload_.APPLIED
    assert applied[-1].removed == ("api",)
