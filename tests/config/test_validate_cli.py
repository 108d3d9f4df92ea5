"""``syncer validate``: exit codes, one line per problem on stderr, no traceback, -o json."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from syncer import cli
from tests.config.conftest import TESTDATA

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart" / "syncer.yaml"


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syncer", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def test_the_quickstart_example_is_valid():
    done = run_cli("validate", "-c", "examples/quickstart/syncer.yaml")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "examples/quickstart/syncer.yaml: valid:"
        " 1 source, 0 registries, 1 cluster, 1 app, 0 pipelines\n"
    )


def test_the_quickstart_follows_this_repository_and_the_current_context():
    from syncer.config import loader

    config = loader.load(QUICKSTART)
    git = config.sources[0].git
    assert git.url == str(ROOT)
    assert (git.branch, git.tag, git.semver, git.commit) == ("", "", "", "")
    assert (config.clusters[0].name, config.clusters[0].kubeconfig) == ("current", "")
    app = config.apps[0]
    assert (ROOT / app.path).is_dir()
    assert app.images[0].repository == "docker.io/library/nginx"
    assert app.images[0].policy.semver == "^1.27"
    assert app.gateway.require_resources


def test_summary_counts_every_section(capsys):
    assert cli.main(["validate", "-c", str(TESTDATA / "valid" / "everything.yaml")]) == 0
    out = capsys.readouterr().out
    assert out.endswith(": valid: 5 sources, 3 registries, 3 clusters, 2 apps, 1 pipeline\n")


def test_json_output_of_a_valid_file(capsys):
    path = str(TESTDATA / "valid" / "design-sketch.yaml")
    assert cli.main(["validate", "-c", path, "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "file": path,
        "valid": True,
        "sources": 1,
        "registries": 1,
        "clusters": 2,
        "apps": 1,
        "pipelines": 1,
    }


def test_invalid_file_exits_2_with_one_stderr_line_per_problem(tmp_path):
    shutil.copy(TESTDATA / "broken" / "many-problems.yaml", tmp_path / "syncer.yaml")
    done = run_cli("validate", "-c", "syncer.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 6
    assert all(line.startswith("error: syncer.yaml:") for line in lines)
    assert "Traceback" not in done.stderr
    assert lines[0] == (
        "error: syncer.yaml:10: sources[0].git.interval: invalid duration 'soon';"
        " expected seconds or a duration like 30s, 5m, 1h30m, 1.5h"
    )


def test_default_config_path_is_syncer_yaml(tmp_path):
    shutil.copy(TESTDATA / "valid" / "anchors.yaml", tmp_path / "syncer.yaml")
    done = run_cli("validate", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("syncer.yaml: valid: ")


def test_json_output_of_an_invalid_file(capsys):
    path = str(TESTDATA / "broken" / "unknown-policy.yaml")
    assert cli.main(["validate", "-c", path, "-o", "json"]) == 2
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["valid"] is False
    assert len(data["errors"]) == 1
    assert "unknown policy 'semvr'" in data["errors"][0]
    assert captured.err == f"error: {data['errors'][0]}\n"


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda d: None, "error: missing.yaml: no such file; expected the path of a syncer config"),
        (lambda d: (d / "missing.yaml").mkdir(), "error: missing.yaml: is a directory"),
        (
            lambda d: (d / "missing.yaml").write_bytes(b"apps: \xff\xfe\n"),
            "error: missing.yaml: not UTF-8 text",
        ),
    ],
    ids=["missing", "directory", "binary"],
)
def test_unreadable_file_is_one_clear_line(tmp_path, setup, expected):
    setup(tmp_path)
    done = run_cli("validate", "-c", "missing.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith(expected)
    assert "Traceback" not in done.stderr


def test_invalid_yaml_names_the_line(tmp_path):
    (tmp_path / "syncer.yaml").write_text("apps:\n  - name: web\n    source: [unclosed\n")
    done = run_cli("validate", "-c", "syncer.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("error: syncer.yaml:4: invalid YAML:")
    assert len(done.stderr.splitlines()) == 1


def test_readme_shows_the_real_quickstart_output():
    done = run_cli("validate", "-c", "examples/quickstart/syncer.yaml")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"# {done.stdout.strip()}\n" in readme


def test_quickstart_manifests_pass_its_gateway_resource_rule():
    import yaml

    objects = [
        obj
        for path in sorted((QUICKSTART.parent / "manifests").glob("*.yaml"))
        for obj in yaml.safe_load_all(path.read_text(encoding="utf-8"))
    ]
    assert sorted(obj["kind"] for obj in objects) == ["ConfigMap", "Deployment", "Service"]
    assert all("namespace" not in obj["metadata"] for obj in objects)
    [deployment] = [obj for obj in objects if obj["kind"] == "Deployment"]
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        assert container["image"].startswith("docker.io/library/nginx:1.27")
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) == {"cpu", "memory"}


PIPELINE = """\
sources:
  - name: deploy
    git: {url: https://git.example.com/team/deploy.git}
clusters:
  - {name: dev}
  - {name: prod}
  - {name: qa}
apps:
  - {name: web, source: deploy, clusters: %s}
pipelines:
  - app: web
    stages:
      - {name: dev, clusters: [dev]}
      - {name: prod, clusters: [prod], after: dev, window: {cron: "%s", duration: 1h}}
"""


@pytest.mark.parametrize(
    ("clusters", "cron", "problem"),
    [
        ("[dev, prod]", "0 0 30 2 *", 'window.cron: cron "0 0 30 2 *": '),
        (
            "[dev, prod, qa]",
            "0 9 * * mon-fri",
            "pipeline web: cluster qa of app web is in no stage",
        ),
    ],
)
def test_validate_refuses_what_sync_would_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clusters: str, cron: str, problem: str
) -> None:
    path = tmp_path / "syncer.yaml"
    path.write_text(PIPELINE % (clusters, cron))
    code = cli.main(["validate", "-c", str(path)])
    _out, err = capsys.readouterr()
    assert code == 2 and problem in err, err
    assert len(err.strip().splitlines()) == 1
