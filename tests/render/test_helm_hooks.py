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
