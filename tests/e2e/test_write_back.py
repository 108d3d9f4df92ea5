"""Git write-back end to end: ``syncer run`` picks an image pushed to the real registry,
deploys it to a real cluster, and commits it to the Git smart-HTTP server (Basic auth)
in each target form; a push race keeps both changes; nothing is committed when Git
already names the image, and the write-back commit makes no second release."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e import control
from tests.e2e.conftest import free_port, wait_until
from tests.servers import images
from tests.servers.syncer_run import serve

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

GIT_AUTH = ("deployer", "wb-git-s3cret")

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  progressDeadlineSeconds: 30
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers:
        - name: migrate
          image: REGISTRY/team/web:1.0.0
      containers:
        - name: web
          # the app itself
          image: REGISTRY/team/web:1.0.0 # {"$imagepolicy": "web:web"}
"""

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data: {GREETING: hello}
"""

KUSTOMIZATION = """\
# web, built by kustomize
resources:
  - deployment.yaml
images:
  - name: REGISTRY/team/web   # syncer keeps newTag
    newTag: "1.0.0"
"""

CHART = "apiVersion: v2\nname: web\nversion: 0.1.0\n"
VALUES = """\
# values of the web chart
image:
  repository: REGISTRY/team/web
  tag: 1.0.0   # written by syncer
replicas: 1
"""
TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: {{ .Values.replicas }}
  progressDeadlineSeconds: 30
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
"""


def files_for(form: str, host: str) -> dict[str, str]:
    plain = DEPLOYMENT.replace(' # {"$imagepolicy": "web:web"}', "")
    found = {
        "kustomization": {
            "apps/web/kustomization.yaml": KUSTOMIZATION,
            "apps/web/deployment.yaml": plain,
        },
        "helm": {
            "apps/web/Chart.yaml": CHART,
            "apps/web/values.yaml": VALUES,
            "apps/web/templates/deployment.yaml": TEMPLATE,
        },
        "manifests": {
            "apps/web/deployment.yaml": DEPLOYMENT,
            "apps/web/configmap.yaml": CONFIGMAP,
        },
    }[form]
    found["README.md"] = "# deploy repo\n"
    return {k: v.replace("REGISTRY", host) for k, v in found.items()}


def write_back_for(form: str) -> dict[str, Any]:
    return {
        "kustomization": {"kustomization": "kustomization.yaml"},
        "helm": {"helmValues": [{"file": "values.yaml", "tag": "image.tag"}]},
        "manifests": {"manifests": True},
    }[form]


class Env:
    def __init__(self, *, tmp: Path, git: Any, registry: Any, cluster: Any) -> None:
        self.tmp, self.git, self.registry, self.cluster = tmp, git, registry, cluster
        self.repo: Any = None

    def config(self, write_back: dict[str, Any]) -> Path:
        data = {
            "sources": [
                {
                    "name": "deploy",
                    "git": {
                        "url": self.repo.url, "branch": "main", "interval": "1s",
                        "auth": {"usernameFrom": "env:GIT_USER", "passwordFrom": "env:GIT_TOKEN"},
                    },
                }
            ],
            "registries": [
                {
                    "host": self.registry.host,
                    "auth": {
                        "usernameFrom": "env:REGISTRY_USER",
                        "passwordFrom": "env:REGISTRY_PASSWORD",
                    },
                }
            ],
            "clusters": [
                {"name": "dev", "kubeconfig": str(self.cluster.kubeconfig),
                 "context": self.cluster.context}
            ],
            "apps": [
                {
                    "name": "web", "source": "deploy", "path": "apps/web", "namespace": "web",
                    "clusters": ["dev"],
                    "images": [
                        {"repository": f"{self.registry.host}/team/web",
                         "policy": {"semver": "^1.0"}, "interval": "1s"}
                    ],
                    "sync": {"wait": "20s", "driftInterval": "1h"},
                    "writeBack": write_back,
                }
            ],
            "server": {"listen": f"127.0.0.1:{free_port()}", "webhookListen": "127.0.0.1:0"},
            "state": {"path": str(self.tmp / "state" / "syncer.db")},
        }  # fmt: skip
        path = self.tmp / "syncer.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def runs(self, ref: str) -> bool:
        obj = self.cluster.get("apps/v1", "Deployment", "web", namespace="web")
        if obj is None:
            return False
        spec = obj["spec"]["template"]["spec"]
        status = obj.get("status") or {}
        return spec["containers"][0]["image"] == ref and status.get("availableReplicas") == 1

    def show(self, ref: str, path: str) -> str:
        return str(self.repo.git("show", f"{ref}:{path}")) + "\n"


@pytest.fixture
def env(
    tmp_path: Path,
    git_http_factory: Any,
    registry_server: Any,
    kube_clusters: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Env:
    registry = registry_server.start("basic")
    git = git_http_factory(auth=GIT_AUTH)
    (cluster,) = kube_clusters(1, names=["dev"], workload_delay=0.05)
    for name, value in {
        "GIT_USER": GIT_AUTH[0],
        "GIT_TOKEN": GIT_AUTH[1],
        "REGISTRY_USER": registry.username,
        "REGISTRY_PASSWORD": registry.password,
    }.items():
        monkeypatch.setenv(name, value)
    return Env(tmp=tmp_path, git=git, registry=registry, cluster=cluster)


def reconciled_after(ctl: Any, moment: float) -> bool:
    run = ctl.store.run("web")
    return run is not None and run.last_attempt_at > moment


EXPECTED = {
    "kustomization": {"apps/web/kustomization.yaml": KUSTOMIZATION.replace('"1.0.0"', '"1.1.0"')},
    "helm": {"apps/web/values.yaml": VALUES.replace("tag: 1.0.0", "tag: 1.1.0")},
    "manifests": {
        "apps/web/deployment.yaml": DEPLOYMENT.replace("web:1.0.0", "web:1.1.0"),
        "apps/web/configmap.yaml": CONFIGMAP,
    },
}


@pytest.mark.parametrize("form", ["kustomization", "helm", "manifests"])
def test_chosen_image_is_committed_once_and_makes_no_second_release(
    env: Env, form: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    host = env.registry.host
    first = images.push_image(env.registry, "team/web", tags=["1.0.0"])
    env.repo = env.git.create_repo("team/deploy", files_for(form, host))
    initial = env.repo.head()
    with serve(env.config(write_back_for(form))) as ctl:
        wait_until(lambda: env.runs(f"{host}/team/web:1.0.0@{first.digest}"), what="1.0.0 runs")
        # Git names 1.0.0 already: recorded as written, and no commit made.
        wait_until(lambda: ctl.store.write_back("web") is not None, what="write-back checked")
        assert env.repo.head() == initial
        assert env.git.count("push") == 0

        newer = images.push_image(env.registry, "team/web", tags=["1.1.0"])
        wait_until(
            lambda: env.runs(f"{host}/team/web:1.1.0@{newer.digest}"), timeout=40, what="1.1.0"
        )
        wait_until(lambda: env.repo.head() != initial, what="the write-back commit")
        commit = env.repo.head()
        for path, text in EXPECTED[form].items():
            assert env.show(commit, path) == text.replace("REGISTRY", host), path
        assert env.repo.git("rev-parse", f"{commit}^") == initial
        author = env.repo.git("log", "-1", "--format=%an <%ae>", commit)
        assert author == "syncer <syncer@localhost>"
        message = env.repo.git("log", "-1", "--format=%B", commit)
        assert message.startswith("syncer: update images of web")
        assert "1.1.0 (semver:^1.0)" in message and "Syncer-Write-Back: web" in message

        # The write-back commit comes back through the poll: same content, no release.
        wait_until(lambda: ctl.store.git_head("deploy", "main") == commit, what="the poll sees it")
        moment = time.time()
        ctl.sync_now("web")
        wait_until(lambda: reconciled_after(ctl, moment), what="a reconcile of that commit")
        assert ctl.store.run("web").desired_release == ctl.releases("web")[0]["id"]
        assert len(ctl.releases("web")) == 2
        kinds = [e["kind"] for e in ctl.history("web", 200)]
        assert kinds.count("release") == 2 and kinds.count("write-back") == 1
        done = next(e for e in ctl.history("web", 200) if e["kind"] == "write-back")
        assert done["data"]["commit"] == commit
        assert {c["new"].rsplit(":", 1)[-1] for c in done["data"]["changes"]} == {"1.1.0"}
        assert env.git.count("push") == 1
        shown = ctl.app_status("web")["writeBack"]
        assert shown["commit"] == commit and shown["branch"] == "main" and shown["pending"] == []
    assert GIT_AUTH[1] not in caplog.text


def test_plan_shows_what_would_be_written_and_writes_nothing(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    host = env.registry.host
    images.push_image(env.registry, "team/web", tags=["1.0.0", "1.1.0"])
    env.repo = env.git.create_repo("team/deploy", files_for("helm", host))
    initial = env.repo.head()
    config = str(env.config(write_back_for("helm")))
    code, out, _ = control.cli_run(capsys, "plan", "-c", config, "-o", "json")
    assert code == 0, out
    (report,) = json.loads(out)
    assert report["writeBack"]["branch"] == "main"
    assert [
        (c["file"], c["field"], c["old"], c["new"]) for c in report["writeBack"]["changes"]
    ] == [("apps/web/values.yaml", "image.tag", "1.0.0", "1.1.0")]
    code, out, _ = control.cli_run(capsys, "plan", "-c", config)
    assert "write-back to main would change:" in out
    assert "apps/web/values.yaml: values image.tag 1.0.0 -> 1.1.0 (semver:^1.0)" in out
    assert env.repo.head() == initial and env.git.count("push") == 0


def test_push_race_is_fetched_reapplied_and_keeps_both_changes(env: Env) -> None:
    host = env.registry.host
    first = images.push_image(env.registry, "team/web", tags=["1.0.0"])
    files = files_for("manifests", host)
    env.repo = env.git.create_repo("team/deploy", files)
    theirs: list[str] = []

    def someone_pushes() -> None:
        theirs.append(
            env.repo.commit(
                {"apps/web/configmap.yaml": CONFIGMAP.replace("hello", "bonjour")},
                message="someone else's change",
            )
        )

    with serve(env.config(write_back_for("manifests"))) as ctl:
        wait_until(lambda: env.runs(f"{host}/team/web:1.0.0@{first.digest}"), what="1.0.0 runs")
        env.git.before_push.append(someone_pushes)
        newer = images.push_image(env.registry, "team/web", tags=["1.1.0"])
        wait_until(
            lambda: env.runs(f"{host}/team/web:1.1.0@{newer.digest}"), timeout=40, what="1.1.0"
        )
        wait_until(lambda: theirs and env.repo.head() != theirs[0], what="the write-back commit")
        commit = env.repo.head()
        # On top of their commit, with both changes.
        assert env.repo.git("rev-parse", f"{commit}^") == theirs[0]
        assert env.show(commit, "apps/web/configmap.yaml") == CONFIGMAP.replace("hello", "bonjour")
        assert env.show(commit, "apps/web/deployment.yaml") == DEPLOYMENT.replace(
            "REGISTRY", host
        ).replace("web:1.0.0", "web:1.1.0")

        def write_backs() -> list[dict[str, Any]]:
            return [e for e in ctl.history("web", 200) if e["kind"] == "write-back"]

        # Recorded once the push returned: the Git server may show the commit first.
        wait_until(write_backs, what="the write-back in history")
        (done,) = write_backs()
        assert done["data"]["commit"] == commit and done["data"]["attempts"] == 2

        # Their change is deployed, from the commit that carries it.
        def greeting() -> str:
            cm = env.cluster.get("v1", "ConfigMap", "web-config", namespace="web")
            return str((cm or {}).get("data", {}).get("GREETING", ""))

        wait_until(lambda: greeting() == "bonjour", timeout=40, what="their change deployed")
        assert env.runs(f"{host}/team/web:1.1.0@{newer.digest}")


def test_separate_branch_signed_with_an_ssh_key(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "signing"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "syncer", "-f", str(key)], check=True
    )
    monkeypatch.setenv("SIGNING_KEY", key.read_text())
    host = env.registry.host
    images.push_image(env.registry, "team/web", tags=["1.0.0"])
    env.repo = env.git.create_repo("team/deploy", files_for("kustomization", host))
    main = env.repo.head()
    write_back = {
        **write_back_for("kustomization"),
        "branch": "syncer/{app}",
        "commit": {
            "authorName": "Image Bot", "authorEmail": "bot@example.com",
            "signingKeyFrom": "env:SIGNING_KEY",
            "message": "web: {images}\n\n{changes}",
        },
    }  # fmt: skip
    with serve(env.config(write_back)) as ctl:
        wait_until(lambda: ctl.store.write_back("web") is not None, what="write-back checked")
        newer = images.push_image(env.registry, "team/web", tags=["1.1.0"])
        wait_until(
            lambda: env.repo.has_ref("refs/heads/syncer/web"), timeout=40, what="the PR branch"
        )
        commit = env.repo.head("syncer/web")
        assert env.repo.head() == main  # the tracked branch is left alone
        assert env.repo.git("rev-parse", f"{commit}^") == main
        assert env.show(commit, "apps/web/kustomization.yaml") == KUSTOMIZATION.replace(
            "REGISTRY", host
        ).replace('"1.0.0"', '"1.1.0"')
        message = env.repo.git("log", "-1", "--format=%B", commit)
        assert message.startswith(f"web: {host}/team/web:1.1.0@{newer.digest}")
        assert (
            env.repo.git("log", "-1", "--format=%an <%ae>", commit) == "Image Bot <bot@example.com>"
        )
    signers = tmp_path / "allowed_signers"
    signers.write_text(f"bot@example.com {(tmp_path / 'signing.pub').read_text()}")
    verified = subprocess.run(
        ["git", f"--git-dir={env.repo.path}", "-c", f"gpg.ssh.allowedSignersFile={signers}",
         "verify-commit", commit],
        capture_output=True, text=True,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    assert 'Good "git" signature for bot@example.com' in verified.stderr
