"""Charts that generate values at each render (a password by ``randAlphaNum`` guarded by
``lookup``, which finds nothing under ``helm template``): the live value is kept, the
``checksum/secret`` annotation that hashes it stays put, so a sync with no input change
writes nothing; a real change to the Secret still restarts the pods."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from syncer.render import generated
from tests.e2e import control
from tests.render.conftest import render_tree, write_tree

pytestmark = pytest.mark.integration

SECRET = """\
{{- $found := lookup "v1" "Secret" .Release.Namespace "db-auth" }}
apiVersion: v1
kind: Secret
metadata: {name: db-auth}
type: Opaque
data:
  {{- if $found }}
  password: {{ index $found.data "password" }}
  {{- else }}
  password: {{ randAlphaNum 24 | b64enc | quote }}
  {{- end }}
  user: {{ .Values.user | b64enc | quote }}
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: db}
spec:
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata:
      labels: {app: db}
      annotations:
        checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
    spec:
      containers:
        - name: db
          image: db:1
          envFrom: [{secretRef: {name: db-auth}}]
"""


def chart(prefix: str, *, user: str) -> dict[str, str | None]:
    return {
        f"{prefix}/Chart.yaml": "apiVersion: v2\nname: db\nversion: 0.1.0\n",
        f"{prefix}/values.yaml": f"user: {user}\n",
        f"{prefix}/templates/secret.yaml": SECRET,
        f"{prefix}/templates/deployment.yaml": DEPLOYMENT,
    }


def test_generated_fields_are_found_and_kept_between_renders(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {k: v for k, v in chart("app", user="admin").items() if v})
    keeper = generated.Keeper()
    first = render_tree(root, keeper=keeper)
    second = render_tree(root, keeper=keeper)
    assert first.objects == second.objects
    assert any("Secret shop/db-auth: data.password differs at every render" in n
               for n in first.generated), first.generated  # fmt: skip
    # Without a keeper (syncer render): what helm gives, a new password each time.
    assert render_tree(root).objects != render_tree(root).objects


def test_a_second_sync_writes_nothing_and_the_password_stays(
    tmp_path: Path, git_http: Any, kube_clusters: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (cluster,) = kube_clusters(1, names=["dev"], workload_delay=0.02)
    repo = git_http.create_repo("charts", chart("apps/web", user="admin"))
    config = str(control.write_config(tmp_path, url=repo.url, clusters=[cluster], apps=["web"]))

    def secret() -> dict[str, Any]:
        found = cluster.get("v1", "Secret", "db-auth", namespace="web")
        assert found is not None
        return found

    def deployment() -> dict[str, Any]:
        found = cluster.get("apps/v1", "Deployment", "db", namespace="web")
        assert found is not None
        return found

    (first,) = control.cli_json(capsys, "sync", "-c", config)
    assert first["ok"], first
    password = secret()["data"]["password"]
    versions = (secret()["metadata"]["resourceVersion"], deployment()["metadata"]["generation"])

    (again,) = control.cli_json(capsys, "sync", "-c", config)
    assert again["ok"] and again["release"] == first["release"], again
    assert secret()["data"]["password"] == password
    assert (secret()["metadata"]["resourceVersion"], deployment()["metadata"]["generation"]) == (
        versions
    )

    # A real change to the Secret: the password stays, the pods restart (new checksum).
    repo.commit(chart("apps/web", user="root"))
    (changed,) = control.cli_json(capsys, "sync", "-c", config)
    assert changed["ok"] and changed["release"] != first["release"], changed
    assert secret()["data"]["password"] == password
    assert base64.b64decode(secret()["data"]["user"]) == b"root"
    generation = deployment()["metadata"]["generation"]
    assert generation == versions[1] + 1
    (steady,) = control.cli_json(capsys, "sync", "-c", config)
    assert steady["release"] == changed["release"]
    assert deployment()["metadata"]["generation"] == generation


def _items(*objs: dict[str, Any], marks: list[list[tuple[str | int, ...]]]) -> list[Any]:
    from syncer.render import objects

    return [objects.Item(obj=o, origin="t", generated=m) for o, m in zip(objs, marks, strict=True)]


SECRET_OBJ = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "db", "namespace": "shop"},
              "stringData": {"password": "new-random", "user": "admin"}}  # fmt: skip
POD_OBJ = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "db", "namespace": "shop"},
           "spec": {"template": {"metadata": {
               "annotations": {"checksum/secret": "c-new"}}}}}  # fmt: skip
CHECKSUM = ("spec", "template", "metadata", "annotations", "checksum/secret")


def test_stabilize_keeps_live_values_and_the_checksum_until_a_real_change() -> None:
    import copy

    live = {
        ("Secret", "db"): {**SECRET_OBJ, "stringData": None, "data": {
            "password": base64.b64encode(b"old-random").decode(),
            "user": base64.b64encode(b"admin").decode()}},
        ("Deployment", "db"): {**POD_OBJ, "spec": {"template": {"metadata": {
            "annotations": {"checksum/secret": "c-live"}}}}},
    }  # fmt: skip

    def reader(obj: dict[str, Any]) -> dict[str, Any] | None:
        return live.get((obj["kind"], obj["metadata"]["name"]))

    items = _items(copy.deepcopy(SECRET_OBJ), copy.deepcopy(POD_OBJ),
                   marks=[[("stringData", "password")], [CHECKSUM]])  # fmt: skip
    kept = generated.stabilize(items=items, scope="a/c", live=reader, keeper=None)
    assert items[0].obj["stringData"]["password"] == "old-random"
    assert items[1].obj["spec"]["template"]["metadata"]["annotations"]["checksum/secret"] == (
        "c-live"
    )
    assert [k.origin for k in kept] == ["live", "live"]
    # The user key really changed: the password stays, the checksum moves (pods restart),
    # to a digest that is the same at every render.
    changed = copy.deepcopy(SECRET_OBJ)
    changed["stringData"]["user"] = "root"
    digests = set()
    for _ in range(2):
        items = _items(copy.deepcopy(changed), copy.deepcopy(POD_OBJ),
                       marks=[[("stringData", "password")], [CHECKSUM]])  # fmt: skip
        generated.stabilize(items=items, scope="a/c", live=reader, keeper=None)
        assert items[0].obj["stringData"]["password"] == "old-random"
        digests.add(items[1].obj["spec"]["template"]["metadata"]["annotations"]["checksum/secret"])
    assert len(digests) == 1 and next(iter(digests)).startswith("sha256:")
