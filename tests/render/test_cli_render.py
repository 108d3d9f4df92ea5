"""``syncer render``: the objects an app would apply, from a real Git server, on stdout."""

from __future__ import annotations

import json
import textwrap
import uuid

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
    code = cli.main(["render", "-c", str(config), "web", "--cluster", "dev", "--no-images"])
    out = capsys.readouterr().out
    assert code == 0
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs] == ["ConfigMap", "Deployment"]
    assert all(d["metadata"]["namespace"] == "web" for d in docs)
    assert docs[1]["metadata"]["labels"]["syncer.io/app"] == "web"


def test_render_json_for_another_cluster(setup, capsys):
    _repo, config = setup
    code = cli.main(["render", "-c", str(config), "web", "--cluster", "prod",
                     "--no-images", "-o", "json"])  # fmt: skip
    objs = json.loads(capsys.readouterr().out)
    assert code == 0
    image = objs[0]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example.com/team/web:0.9"


def test_render_an_older_revision(setup, capsys):
    repo, config = setup
    first = repo.head()
    repo.commit({"envs/dev/cm.yaml": None})
    cli.main(["render", "-c", str(config), "web", "--cluster", "dev", "--no-images"])
    assert [d["kind"] for d in yaml.safe_load_all(capsys.readouterr().out)] == ["Deployment"]
    code = cli.main(["render", "-c", str(config), "web", "--cluster", "dev",
                     "--revision", first, "--no-images"])  # fmt: skip
    assert code == 0
    assert len(list(yaml.safe_load_all(capsys.readouterr().out))) == 2


def test_cluster_must_be_chosen_when_paths_differ(setup, capsys):
    _repo, config = setup
    code = cli.main(["render", "-c", str(config), "web", "--no-images"])
    err = capsys.readouterr().err
    assert code == 2
    assert "pick one with --cluster (dev, prod)" in err
    code = cli.main(["render", "-c", str(config), "web", "--cluster", "qa"])
    assert code == 2 and "does not deploy to cluster 'qa'" in capsys.readouterr().err


def test_errors_are_one_line_without_traceback(setup, capsys):
    _repo, config = setup
    assert cli.main(["render", "-c", str(config), "nope"]) == 2
    assert "no app named 'nope'; apps: web, broken" in capsys.readouterr().err.replace(
        " in the config", ""
    )
    assert cli.main(["render", "-c", str(config), "broken", "--no-images"]) != 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "path 'nowhere' does not exist" in captured.err
    assert "Traceback" not in captured.err


def test_render_pins_images_from_a_real_registry(git_http, shared_registry, tmp_path, capsys):
    from tests.servers import images as pushed

    server = shared_registry.get("anonymous")
    repo_name = f"team/render-{uuid.uuid4().hex[:8]}"
    pushed.push_image(server, repo_name, tags=["1.4.2"], content=b"a")
    newest = pushed.push_image(server, repo_name, tags=["1.5.0"], content=b"b")
    pushed.push_image(server, repo_name, tags=["2.0.0"], content=b"c")
    image = f"{server.host}/{repo_name}"
    repo = git_http.create_repo("deploy", {"app/deploy.yaml": DEPLOY.replace(
        "registry.example.com/team/web:%s", f"{image}:1.0.0")})  # fmt: skip
    config = image_app_config(
        tmp_path, repo_url=repo.url, host=server.host, image=image, semver="^1.4"
    )
    code = cli.main(["render", "-c", str(config), "web"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    (deploy,) = yaml.safe_load_all(captured.out)
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == (
        f"{image}:1.5.0@{newest.digest}"
    )
    assert f"{image}:1.0.0 -> {image}:1.5.0@{newest.digest}" in captured.err


def test_unreachable_registry_suggests_no_images(setup, tmp_path, capsys):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    repo, _ = setup
    config = tmp_path / "unreachable.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            sources: [{{name: deploy, git: {{url: "{repo.url}", branch: main}}}}]
            registries: [{{host: "127.0.0.1:{port}", insecure: true}}]
            clusters: [{{name: dev, labels: {{env: dev}}}}]
            apps:
              - name: web
                source: deploy
                path: envs/dev
                clusters: [dev]
                images: [{{repository: "127.0.0.1:{port}/team/web", policy: {{semver: "^1"}}}}]
            """
        )
    )
    code = cli.main(["render", "-c", str(config), "web"])
    err = capsys.readouterr().err
    assert code == 3
    assert f"cannot reach registry 127.0.0.1:{port}" in err
    assert err.rstrip().endswith("add --no-images to render with the image tags written in Git")
    assert len(err.strip().splitlines()) == 1


def test_a_policy_matching_no_container_is_warned_about(
    git_http, shared_registry, tmp_path, capsys
):
    from tests.servers import images as pushed

    server = shared_registry.get("anonymous")
    repo_name = f"team/render-{uuid.uuid4().hex[:8]}"
    pushed.push_image(server, repo_name, tags=["1.5.0"], content=b"u")
    image = f"{server.host}/{repo_name}"
    elsewhere = f"127.0.0.1:5000/{repo_name}:1.0.0"  # the same repository on another port
    repo = git_http.create_repo("deploy", {"app/deploy.yaml": DEPLOY.replace(
        "registry.example.com/team/web:%s", elsewhere)})  # fmt: skip
    config = image_app_config(
        tmp_path, repo_url=repo.url, host=server.host, image=image, semver="^1"
    )
    code = cli.main(["render", "-c", str(config), "web"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    (deploy,) = yaml.safe_load_all(captured.out)
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == elsewhere
    assert (
        f"warning: image policy {image} (semver:^1) matches no container image in the "
        f"rendered objects; images found: {elsewhere}"
    ) in captured.err


def image_app_config(tmp_path, *, repo_url: str, host: str, image: str, semver: str):
    """A config with one app rendering ``app/`` of ``repo_url`` and one semver image policy."""
    config = tmp_path / "syncer.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            sources: [{{name: deploy, git: {{url: "{repo_url}", branch: main}}}}]
            registries: [{{host: "{host}", insecure: true}}]
            clusters: [{{name: dev}}]
            apps:
              - name: web
                source: deploy
                path: app
                clusters: [dev]
                images: [{{repository: "{image}", policy: {{semver: "{semver}"}}}}]
            """
        )
    )
    return config
