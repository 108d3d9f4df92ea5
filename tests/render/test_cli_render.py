"""``syncer render``: the objects an app would apply, from a real Git server, on stdout."""

from __future__ import annotations

import json
import textwrap

import pytest
import yaml

from syncer import cli

pytestmark = pytest.mark.integration

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "registry.example.com/team/web:%s"}]
"""


@pytest.fixture
def setup(git_http, tmp_path):
    repo = git_http.create_repo(
        "deploy",
        {
            "envs/dev/deploy.yaml": DEPLOY % "1.0",
            "envs/prod/deploy.yaml": DEPLOY % "0.9",
            "envs/dev/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        },
    )
    config = tmp_path / "syncer.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            sources: [{{name: deploy, git: {{url: "{repo.url}", branch: main}}}}]
            clusters:
              - {{name: dev, labels: {{env: dev}}}}
              - {{name: prod, labels: {{env: prod}}}}
            apps:
              - name: web
                source: deploy
                path: "envs/{{env}}"
                namespace: web
                clusters: [dev, prod]
              - name: broken
                source: deploy
                path: nowhere
                clusters: [dev]
            """
        )
    )
    return repo, config


def test_render_prints_a_yaml_stream(setup, capsys):
    _repo, config = setup
    code = cli.main(
        ["render", "-c", str(config), "--app", "web", "--cluster", "dev", "--no-images"]
    )
    out = capsys.readouterr().out
    assert code == 0
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs] == ["ConfigMap", "Deployment"]
    assert all(d["metadata"]["namespace"] == "web" for d in docs)
    assert docs[1]["metadata"]["labels"]["syncer.io/app"] == "web"


def test_render_json_for_another_cluster(setup, capsys):
    _repo, config = setup
    code = cli.main(["render", "-c", str(config), "--app", "web", "--cluster", "prod",
                     "--no-images", "-o", "json"])  # fmt: skip
    objs = json.loads(capsys.readouterr().out)
    assert code == 0
    image = objs[0]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example.com/team/web:0.9"


def test_render_an_older_revision(setup, capsys):
    repo, config = setup
    first = repo.head()
    repo.commit({"envs/dev/cm.yaml": None})
    cli.main(["render", "-c", str(config), "--app", "web", "--cluster", "dev", "--no-images"])
    assert [d["kind"] for d in yaml.safe_load_all(capsys.readouterr().out)] == ["Deployment"]
    code = cli.main(["render", "-c", str(config), "--app", "web", "--cluster", "dev",
                     "--revision", first, "--no-images"])  # fmt: skip
    assert code == 0
    assert len(list(yaml.safe_load_all(capsys.readouterr().out))) == 2


def test_cluster_must_be_chosen_when_paths_differ(setup, capsys):
    _repo, config = setup
    code = cli.main(["render", "-c", str(config), "--app", "web", "--no-images"])
    err = capsys.readouterr().err
    assert code == 2
    assert "pick one with --cluster (dev, prod)" in err
    code = cli.main(["render", "-c", str(config), "--app", "web", "--cluster", "qa"])
    assert code == 2 and "does not deploy to cluster 'qa'" in capsys.readouterr().err


def test_errors_are_one_line_without_traceback(setup, capsys):
    _repo, config = setup
    assert cli.main(["render", "-c", str(config), "--app", "nope"]) == 2
    assert "no app named 'nope'; apps: web, broken" in capsys.readouterr().err.replace(
        " in the config", ""
    )
    assert cli.main(["render", "-c", str(config), "--app", "broken", "--no-images"]) != 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "path 'nowhere' does not exist" in captured.err
    assert "Traceback" not in captured.err
