"""A command imports what it runs: ``--version``, ``validate`` and ``image`` start
without the Kubernetes client, the HTTP server, the registry's HTTP stack or the other
commands (start-up is most of a one-shot command's time; see tests/bench/bench_startup)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from syncer import cli
from tests.servers import images

QUICKSTART = Path(__file__).resolve().parents[2] / "examples/quickstart/syncer.yaml"

HEAVY = ("kubernetes", "uvicorn", "requests", "git", "syncer.controller", "syncer.commands.run")


def modules_after(*argv: str) -> set[str]:
    """The modules loaded once ``syncer ARGV``'s parser is built for what it runs."""
    code = (
        "import json, os, sys\n"
        "from syncer import cli\n"
        f"cli.build_parser(cli.invoked_command({list(argv)!r}, os.environ))\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(done.stdout))


@pytest.mark.parametrize(
    "argv", [["--version"], ["validate", "-c", "x.yaml"], ["--log-level", "info", "image", "tags"]]
)
def test_a_command_loads_neither_clusters_nor_servers(argv: list[str]) -> None:
    loaded = modules_after(*argv)
    assert not [m for m in HEAVY if m in loaded]


# What only some runs need: -c FILE (the config model and its glue to metrics), -o yaml
# (PyYAML), a shell's completion (argcomplete); ``syncer image tags REPO`` needs none.
OPTIONAL = ("syncer.config.model", "syncer.images", "prometheus_client", "yaml", "argcomplete")


@pytest.mark.parametrize("argv", [["--version"], ["image", "tags"], ["image", "latest"]])
def test_a_registry_query_loads_no_config_model_metrics_or_yaml(argv: list[str]) -> None:
    loaded = modules_after(*argv)
    assert not [m for m in OPTIONAL if m in loaded]


def run_and_list_modules(
    *argv: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """``syncer ARGV`` run to its end in a new process, and the modules it had loaded."""
    code = (
        "import json, sys\n"
        "from syncer import cli\n"
        f"status = cli.main({list(argv)!r})\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
        "sys.exit(status)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    return done, set(json.loads(done.stderr.splitlines()[-1]))


@pytest.mark.integration
def test_image_tags_answers_without_loading_what_it_does_not_use(
    shared_registry: Any, tmp_path: Path
) -> None:
    server = shared_registry.get("anonymous")
    images.push_image(server, "cli/startup", tags=["1.0.0", "1.1.0"])
    env = {**os.environ, "DOCKER_CONFIG": str(tmp_path / "none")}
    done, loaded = run_and_list_modules("image", "tags", f"{server.host}/cli/startup", env=env)
    assert done.returncode == 0, done.stderr
    assert "1.1.0" in done.stdout
    assert not [m for m in (*OPTIONAL, "kubernetes", "git") if m in loaded]


# What only a tenant's app files need (``validate --tenant``: rendering, and the metrics
# its reader counts with), what only planning a rollout needs (its planner, gates and
# status model: validate checks pipelines with ``syncer.rollout.validate``), and what
# only printing a Secret needs (hashlib).
NOT_FOR_VALIDATE = (
    "prometheus_client", "syncer.metrics", "syncer.render", "syncer.reconcile",
    "syncer.rollout.planner", "syncer.rollout.model", "hashlib",
)  # fmt: skip


def test_validate_checks_a_config_without_loading_rendering_metrics_or_hashing() -> None:
    done, loaded = run_and_list_modules("validate", "-c", str(QUICKSTART))
    assert done.returncode == 0, done.stderr
    assert "valid: 1 source" in done.stdout
    assert not [m for m in (*NOT_FOR_VALIDATE, *HEAVY) if m in loaded]


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["status", "web"], "status"),
        (["--color", "never", "suspend", "web"], "suspend"),
        (["--log-format=json", "reject", "web", "prod"], "reject"),
        (["--version"], ""),
        # Every command's parser: help lists them, a typo is named among them, and
        # completion offers them.
        (["status", "--help"], "status"),
        (["--help"], None),
        (["stauts"], None),
        ([], None),
    ],
)
def test_the_command_is_found_before_any_is_imported(argv: list[str], command: str | None) -> None:
    assert cli.invoked_command(argv, {}) == command
    assert cli.invoked_command(argv, {"_ARGCOMPLETE": "1"}) is None


def test_the_table_names_every_command_its_module_registers() -> None:
    full = cli.build_parser()
    (commands,) = [a for a in full._actions if isinstance(a, cli.argparse._SubParsersAction)]
    assert set(commands.choices) == set(cli.COMMANDS)
    for name in cli.COMMANDS:
        (alone,) = [
            a for a in cli.build_parser(name)._actions
            if isinstance(a, cli.argparse._SubParsersAction)
        ]  # fmt: skip
        assert name in alone.choices


def test_registry_names_stay_what_they_name_once_every_module_is_loaded() -> None:
    # A submodule named like an exported function would replace it on the package
    # when first imported (``registry.resolve`` was both).
    code = (
        "import importlib, inspect, pkgutil, registry\n"
        "for m in pkgutil.walk_packages(registry.__path__, 'registry.'):\n"
        "    importlib.import_module(m.name)\n"
        "print([n for n in registry.__all__ if inspect.ismodule(getattr(registry, n))])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_yaml_output_still_renders_when_asked_for() -> None:
    from syncer import output

    data = {"apps": [{"name": "web", "status": "Healthy"}]}
    assert output.render(data, fmt="yaml") == "apps:\n- name: web\n  status: Healthy\n"
