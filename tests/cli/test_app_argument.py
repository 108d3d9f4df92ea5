"""One way to name apps in every command: a positional ``APP`` (``syncer sync web api``,
``syncer render web``), as ``argocd app sync NAME`` does. The older ``--app NAME`` still
works, says on stderr that it is deprecated, and does exactly the same."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.controller.test_cli_live import CONFIGMAP, write_config

pytestmark = pytest.mark.integration

DEPRECATED = "warning: --app is deprecated: name the app as an argument"


def _run(syncer_exe: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [syncer_exe, *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


@pytest.mark.timeout(600)
def test_render_takes_the_app_as_an_argument_and_the_old_flag_with_a_note(
    syncer_exe: str, cli_env: dict[str, str], git_http: Any, tmp_path: Path
) -> None:
    repo = git_http.create_repo("deploy", {"site/cm.yaml": CONFIGMAP % "hello"})
    config = str(write_config(tmp_path, url=repo.url, kubeconfig="none", clusters=["a"]))
    new = _run(syncer_exe, cli_env, "render", "-c", config, "site")
    assert new.returncode == 0, new.stderr
    assert "GREETING: hello" in new.stdout and new.stderr == ""

    old = _run(syncer_exe, cli_env, "render", "-c", config, "--app", "site")
    assert old.returncode == 0 and old.stdout == new.stdout
    assert old.stderr == f"{DEPRECATED} (`syncer render site`)\n"

    missing = _run(syncer_exe, cli_env, "render", "-c", config)
    assert missing.returncode == 2
    assert "error: the following arguments are required: APP" in missing.stderr
    both = _run(syncer_exe, cli_env, "render", "-c", config, "site", "--app", "other")
    assert both.returncode == 2 and "one APP only (got site, other)" in both.stderr


@pytest.mark.parametrize("command", ["sync", "plan"])
def test_sync_and_plan_name_apps_as_arguments_and_refuse_unknown_ones(
    syncer_exe: str, cli_env: dict[str, str], names_config: Path, command: str
) -> None:
    config = str(names_config)
    new = _run(syncer_exe, cli_env, command, "-c", config, "web", "nope")
    assert new.returncode == 2
    assert new.stderr == ("error: APP nope: no such app in the config (apps: web, worker)\n"), (
        new.stderr
    )
    old = _run(syncer_exe, cli_env, command, "-c", config, "--app", "web", "--app", "nope")
    assert old.returncode == 2
    assert old.stderr == f"{DEPRECATED} (`syncer {command} web nope`)\n" + new.stderr


def test_status_filters_by_app_and_refuses_unknown_ones(
    syncer_exe: str, cli_env: dict[str, str], names_config: Path
) -> None:
    shown = _run(syncer_exe, cli_env, "status", "-c", str(names_config), "worker")
    assert shown.returncode == 0
    assert [line.split()[0] for line in shown.stdout.splitlines()] == ["APP", "worker"]
    unknown = _run(syncer_exe, cli_env, "status", "-c", str(names_config), "nope")
    assert unknown.returncode == 2
    assert unknown.stderr.splitlines()[-1] == (
        f"error: APP nope: no such app in {names_config} (apps: web, worker)"
    )
