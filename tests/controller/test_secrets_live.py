"""``secret:NAMESPACE/NAME#KEY`` references and pull Secrets, end to end: credentials held
in a Kubernetes Secret (API test server) log in to a real Git server and a real
registry during a sync; a missing key fails only the app that references it."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncer import controller, errors, images
from syncer.apply import secrets as apply_secrets
from syncer.config import model
from syncer.config import secrets as config_secrets
from tests.controller import registry_apps
from tests.controller.test_cli_live import CONFIGMAP
from tests.servers import images as test_images

pytestmark = pytest.mark.integration

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - {name: web, image: "%s"}
"""


def put_secret(cluster: Any, namespace: str, name: str, data: dict[str, str]) -> None:
    cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    cluster.put(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "type": "Opaque",
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        }
    )


def test_git_token_and_registry_password_from_a_secret_drive_a_sync(
    tmp_path: Path, git_http_factory: Any, registry_server: Any, kube_clusters: Any
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    git = git_http_factory(auth=("deployer", "git-t0ken"))
    reg = registry_server.start("basic")
    pushed = test_images.push_image(reg, "team/web", tags=["1.2.0"])
    repo = git.create_repo(
        "deploy",
        {
            "web/deploy.yaml": DEPLOYMENT % f"{reg.host}/team/web:1.0.0",
        },
    )
    other_repo = git.create_repo("other", {"other/cm.yaml": CONFIGMAP % "other"})
    put_secret(
        a, "syncer", "creds",
        {"git-token": "git-t0ken", "registry-password": reg.password},
    )  # fmt: skip
    git_auth = {"usernameFrom": "env:GIT_USER", "passwordFrom": "secret:syncer/creds#git-token"}
    registry_auth = {
        "usernameFrom": "env:REGISTRY_USER",
        "passwordFrom": "secret:syncer/creds#registry-password",
    }
    data = registry_apps.web_config(
        source_url=repo.url,
        kubeconfig=a.kubeconfig,
        registry={"host": reg.host, "auth": registry_auth},
    )
    data["sources"][0]["git"]["auth"] = git_auth
    data["sources"].append(
        {
            "name": "broken",
            "git": {
                "url": other_repo.url,
                "branch": "main",
                "auth": {**git_auth, "passwordFrom": "secret:syncer/creds#no-such-key"},
            },
        }
    )
    data["apps"].append(
        {
            "name": "other",
            "source": "broken",
            "path": "other",
            "namespace": "other",
            "clusters": ["a"],
            "sync": {"wait": "5s"},
        }
    )
    data["settings"] = {"secretsCluster": "a"}
    path = tmp_path / "syncer.yaml"
    path.write_text(yaml.safe_dump(data))
    mp = pytest.MonkeyPatch()
    mp.setenv("GIT_USER", "deployer")
    mp.setenv("REGISTRY_USER", reg.username)
    session = controller.open_session(str(path))
    try:
        outcomes = {o.app: o for o in session.controller.sync_all()}
        assert outcomes["web"].ok, outcomes["web"].message
        live = a.get("apps/v1", "Deployment", "web", namespace="web")
        image = live["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == f"{reg.host}/team/web:1.2.0@{pushed.digest}"
        # The app whose source names a missing key fails alone, with the reference named.
        other = outcomes["other"]
        assert not other.ok and other.stage == "source"
        assert "secret:syncer/creds#no-such-key" in other.message
        assert "no key 'no-such-key'" in other.message
        assert "git-t0ken" not in other.message and reg.password not in other.message
        assert a.get("v1", "ConfigMap", "site", namespace="other") is None
        history = [e["message"] for e in session.controller.history("other", 10)]
        assert any("no-such-key" in m for m in history), history
        # One read of the Secret served the Git login and the registry login.
        assert session.read_secret is not None
        assert session.read_secret.reads == 1  # type: ignore[attr-defined]
    finally:
        session.close()
        mp.undo()


def test_pull_secret_logs_in_to_the_registry(
    registry_server: Any, kube_clusters: Any, tmp_path: Path
) -> None:
    (a,) = kube_clusters(1, names=["a"])
    reg = registry_server.start("token")
    pushed = test_images.push_image(reg, "team/api", tags=["2.0.0"])
    auth = base64.b64encode(f"{reg.username}:{reg.password}".encode()).decode()
    dockerconfig = json.dumps({"auths": {reg.host: {"auth": auth}}})
    put_secret(a, "syncer", "pull", {".dockerconfigjson": dockerconfig})
    cluster = model.Cluster(name="a", kubeconfig=a.kubeconfig, context="a")
    config = model.Config(
        registries=(
            model.Registry(host=reg.host, auth=model.RegistryAuth(pull_secret="syncer/pull")),
        ),
        clusters=(cluster,),
        settings=model.Settings(secrets_cluster="a"),
    )
    reader = apply_secrets.reader(config)
    resolver = images.Images(config, read_secret=reader)
    try:
        image = model.AppImage(
            repository=f"{reg.host}/team/api", policy=model.ImagePolicy(semver="^2")
        )
        decision = resolver.decide(image)
        assert (decision.tag, decision.digest) == ("2.0.0", pushed.digest)
        # A pull Secret without the key fails clearly and names it.
        put_secret(a, "syncer", "empty", {"other": "x"})
        broken = model.Config(
            registries=(
                model.Registry(host=reg.host, auth=model.RegistryAuth(pull_secret="syncer/empty")),
            ),
            clusters=(cluster,),
            settings=model.Settings(secrets_cluster="a"),
        )
        with pytest.raises(errors.SyncerError, match=r"no key '\.dockerconfigjson'"):
            images.Images(broken, read_secret=reader).decide(image)
    finally:
        resolver.close()
        reader.close()


def test_reader_caches_briefly_names_refs_and_tells_unreachable_apart(
    kube_clusters: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (a,) = kube_clusters(1, names=["a"])
    put_secret(a, "team", "token", {"value": "one"})
    now = [0.0]
    # No secretsCluster: the current context of $KUBECONFIG is used.
    monkeypatch.setenv("KUBECONFIG", a.kubeconfig)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    cluster = apply_secrets.secrets_cluster(model.Config())
    assert (cluster.name, cluster.in_cluster) == (apply_secrets.CURRENT, False)
    reader = apply_secrets.SecretReader(cluster=cluster, ttl=30, clock=lambda: now[0])
    try:
        assert (
            config_secrets.resolve("secret:team/token#value", base_dir=".", read_secret=reader)
            == "one"
        )
        put_secret(a, "team", "token", {"value": "two"})
        now[0] = 29
        assert reader("team", "token", "value") == "one"  # cached
        now[0] = 31
        assert reader("team", "token", "value") == "two"  # rotation picked up
        assert reader.reads == 2
        with pytest.raises(
            errors.PermanentError, match=r"secret:team/nope#value: no Secret 'nope'"
        ):
            reader("team", "nope", "value")
        with pytest.raises(errors.PermanentError, match=r"has no key 'other' \(keys: value\)"):
            reader("team", "token", "other")
        a.stop()
        now[0] = 100
        with pytest.raises(errors.TemporaryError, match="secret:team/token#value") as caught:
            reader("team", "token", "value")
        assert not isinstance(caught.value, errors.PermanentError)
        assert "two" not in str(caught.value)
    finally:
        reader.close()
