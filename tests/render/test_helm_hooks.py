"""Helm hooks rendered with the real helm: placed in sync waves before or after the chart's
objects, hooks of other events left out; and on a real cluster a failing pre-upgrade Job
stops the rollout before the Deployment changes, as Helm does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from syncer import apply
from syncer.config import model
from tests.render.conftest import render_tree, write_tree

pytestmark = pytest.mark.integration

CHART = {
    "app/Chart.yaml": "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
    "app/values.yaml": "image: shop:1\n",
    "app/templates/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec: {containers: [{name: shop, image: "{{ .Values.image }}"}]}
""",
    "app/templates/migrate.yaml": """\
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "5"
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: "migrate-{{ .Values.image }}"}]
""",
    "app/templates/notify.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: notify
  annotations: {helm.sh/hook: post-install}
data: {done: "yes"}
""",
    "app/templates/cleanup.yaml": """\
apiVersion: batch/v1
kind: Job
metadata:
  name: cleanup
  annotations: {helm.sh/hook: pre-delete}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: cleanup:1}]
""",
}


def _annotations(rendered: Any, name: str) -> dict[str, str]:
    [obj] = [o for o in rendered.objects if o["metadata"]["name"] == name]
    return dict(obj["metadata"].get("annotations") or {})


def test_hooks_go_before_or_after_the_chart_and_delete_hooks_are_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rendered = render_tree(write_tree(tmp_path, CHART))
    names = sorted(o["metadata"]["name"] for o in rendered.objects)
    assert names == ["migrate", "notify", "shop"]
    assert _annotations(rendered, "migrate")["syncer.io/sync-wave"] == "-995"
    assert "syncer.io/replace" not in _annotations(rendered, "migrate")  # Jobs always are
    assert _annotations(rendered, "notify")["syncer.io/sync-wave"] == "1000"
    assert _annotations(rendered, "notify")["syncer.io/replace"] == "true"
    assert "syncer.io/sync-wave" not in _annotations(rendered, "shop")
    assert "Job cleanup is a Helm pre-delete hook" in caplog.text


def test_a_failing_pre_upgrade_job_stops_the_rollout_before_the_deployment(
    tmp_path: Path, kube_clusters: Any
) -> None:
    (cluster,) = kube_clusters(1)
    cluster.fail_image("migrate-shop:2")
    client = apply.connect(
        model.Cluster(name=cluster.name, kubeconfig=cluster.kubeconfig, context=cluster.context)
    )
    options = model.SyncOptions(wait=60.0, create_namespace=True)

    def deploy(image: str, previous: list[Any]) -> Any:
        files = {**CHART, "app/values.yaml": f"image: {image}\n"}
        rendered = render_tree(write_tree(tmp_path / image, files))
        return apply.sync(
            client, app_name="web", objects=rendered.objects, options=options,
            gateway_policy=model.GatewayPolicy(), namespace="shop", previous_inventory=previous,
        )  # fmt: skip

    first = deploy("shop:1", [])
    job = cluster.get("batch/v1", "Job", "migrate", "shop")
    assert job is not None and job["status"].get("succeeded") == 1
    assert cluster.get("v1", "ConfigMap", "notify", "shop") is not None
    with pytest.raises(apply.errors.ApplyError) as caught:
        deploy("shop:2", first.inventory)
    assert "Job shop/migrate" in str(caught.value), str(caught.value)
    live = cluster.get("apps/v1", "Deployment", "shop", "shop")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "shop:1"


CAPABLE_CHART = {
    "app/Chart.yaml": "apiVersion: v2\nname: watched\nversion: 0.1.0\n",
    "app/templates/info.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata: {name: info}
data:
  kube: "{{ .Capabilities.KubeVersion.Version }}"
""",
    "app/templates/widget.yaml": """\
{{- if .Capabilities.APIVersions.Has "example.com/v1/Widget" }}
apiVersion: example.com/v1
kind: Widget
metadata: {name: gated}
spec: {size: 1}
{{- end }}
""",
}
WIDGET_CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""


def test_charts_see_the_target_clusters_version_and_apis(
    tmp_path: Path, kube_clusters: Any
) -> None:
    from syncer.reconcile import live
    from syncer.reconcile import parts as parts_

    (cluster,) = kube_clusters(1)
    cluster.kubectl("apply", "--server-side", "-f", "-", input=WIDGET_CRD, check=True)
    cluster.kubectl("wait", "--for=condition=Established", "crd/widgets.example.com", check=True)
    target = model.Cluster(
        name=cluster.name, kubeconfig=cluster.kubeconfig, context=cluster.context
    )
    config = model.Config(clusters=(target,), base_dir=str(tmp_path))
    parts = live.LiveParts(config)
    found = parts.capabilities(target)
    assert found is not None and found.kube_version == "v1.37.2"
    assert "example.com/v1/Widget" in found.api_versions and "apps/v1" in found.api_versions
    root = write_tree(tmp_path / "repo", CAPABLE_CHART)
    snapshot = parts_.Snapshot(source="repo", commit="c0ffee", path=root, label="test")
    app = model.App(
        name="web", source="repo", path="app", namespace="shop", clusters=(target.name,)
    )
    kinds = {
        o["kind"]: o for o in parts.render(app=app, cluster=target, snapshot=snapshot, images=[])
    }
    assert kinds["ConfigMap"]["data"]["kube"] == "v1.37.2"
    assert "Widget" in kinds  # gated on the CRD the cluster serves
    # Without a cluster to ask (syncer render, an offline plan): helm's defaults.
    offline = render_tree(write_tree(tmp_path / "offline", CAPABLE_CHART))
    assert {o["kind"] for o in offline.objects} == {"ConfigMap"}
