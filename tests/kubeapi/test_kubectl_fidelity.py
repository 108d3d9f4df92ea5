"""The real kubectl treats a test cluster as a Kubernetes cluster.

Each test drives kubectl (v1.35) through one workflow a user or syncer relies on and
checks the outcome both in kubectl's output and in the server's state.
"""

from __future__ import annotations

import copy
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import binaries
from tests.kubeapi import cluster
from tests.kubeapi.conftest import Api, configmap, deployment

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _kubectl() -> None:
    binaries.require("kubectl")


def ok(kube: cluster.KubeCluster, *args: str, input: str | None = None) -> str:
    proc = kube.kubectl(*args, input=input)
    assert proc.returncode == 0, f"kubectl {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout


def dump(*objs: dict[str, Any]) -> str:
    return yaml.safe_dump_all(objs)


def test_create_namespace_then_apply_and_reapply_a_change(kube: cluster.KubeCluster) -> None:
    assert "namespace/web created" in ok(kube, "create", "namespace", "web")
    web = deployment("web", ns="web")
    web["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "2"},
    ]
    assert "deployment.apps/web created" in ok(kube, "apply", "-f", "-", input=dump(web))
    # someone else labels the live object; a client-side re-apply must keep that label
    ok(kube, "-n", "web", "label", "deployment", "web", "team=blue")
    container = web["spec"]["template"]["spec"]["containers"][0]
    container["image"] = "nginx:1.26"
    container["env"] = [{"name": "A", "value": "10"}]  # B removed from the manifest
    assert "deployment.apps/web configured" in ok(kube, "apply", "-f", "-", input=dump(web))
    live = kube.get("apps/v1", "Deployment", "web", "web")
    assert live is not None
    live_container = live["spec"]["template"]["spec"]["containers"][0]
    assert live_container["image"] == "nginx:1.26"
    assert live_container["env"] == [{"name": "A", "value": "10"}]
    assert live["metadata"]["labels"] == {"app": "web", "team": "blue"}
    assert live_container["imagePullPolicy"] == "IfNotPresent"  # server default kept
    last = json.loads(
        live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    )
    assert last["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert live["metadata"]["generation"] == 2
    assert "deployment.apps/web unchanged" in ok(kube, "apply", "-f", "-", input=dump(web))


def test_server_side_apply_conflict_between_managers_then_force(kube: cluster.KubeCluster) -> None:
    manifest = deployment("api", replicas=1)
    ok(kube, "apply", "--server-side", "--field-manager=alice", "-f", "-", input=dump(manifest))
    manifest["spec"]["replicas"] = 3
    proc = kube.kubectl(
        "apply", "--server-side", "--field-manager=bob", "-f", "-", input=dump(manifest)
    )
    assert proc.returncode != 0
    assert 'conflict with "alice"' in proc.stderr and ".spec.replicas" in proc.stderr
    assert kube.get("apps/v1", "Deployment", "api")["spec"]["replicas"] == 1  # type: ignore[index]
    ok(
        kube,
        "apply",
        "--server-side",
        "--field-manager=bob",
        "--force-conflicts",
        "-f",
        "-",
        input=dump(manifest),
    )
    live = kube.get("apps/v1", "Deployment", "api")
    assert live is not None and live["spec"]["replicas"] == 3
    owners = {mf["manager"]: mf for mf in live["metadata"]["managedFields"]}
    assert "f:replicas" in owners["bob"]["fieldsV1"]["f:spec"]
    assert "f:replicas" not in owners["alice"]["fieldsV1"]["f:spec"]
    assert owners["alice"]["operation"] == owners["bob"]["operation"] == "Apply"


def test_diff_is_a_server_side_dry_run(kube: cluster.KubeCluster) -> None:
    manifest = deployment("web", replicas=2)
    ok(kube, "apply", "-f", "-", input=dump(manifest))
    manifest["spec"]["replicas"] = 5
    kube.request_log.clear()
    proc = kube.kubectl("diff", "-f", "-", input=dump(manifest))
    assert proc.returncode == 1, proc.stderr  # 1 = differences found
    assert "-  replicas: 2" in proc.stdout and "+  replicas: 5" in proc.stdout
    assert kube.request_log.writes() == 0
    assert any("dryRun=All" in r.query for r in kube.request_log if r.method == "PATCH")
    assert kube.get("apps/v1", "Deployment", "web")["spec"]["replicas"] == 2  # type: ignore[index]
    manifest["spec"]["replicas"] = 2
    assert kube.kubectl("diff", "-f", "-", input=dump(manifest)).returncode == 0


def test_patch_strategic_merge_and_json(kube: cluster.KubeCluster) -> None:
    web = deployment("web")
    web["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "envoy:1"})
    ok(kube, "apply", "-f", "-", input=dump(web))
    # strategic: containers merge by name, the sidecar stays
    ok(
        kube,
        "patch",
        "deployment",
        "web",
        "-p",
        json.dumps(
            {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}}}}
        ),
    )
    containers = kube.get("apps/v1", "Deployment", "web")["spec"]["template"]["spec"]["containers"]  # type: ignore[index]
    assert [(c["name"], c["image"]) for c in containers] == [
        ("web", "nginx:2"),
        ("sidecar", "envoy:1"),
    ]
    # merge patch: lists are replaced wholesale, null deletes
    ok(
        kube,
        "patch",
        "deployment",
        "web",
        "--type=merge",
        "-p",
        json.dumps({"metadata": {"labels": {"app": None, "tier": "front"}}}),
    )
    assert kube.get("apps/v1", "Deployment", "web")["metadata"]["labels"] == {"tier": "front"}  # type: ignore[index]
    ok(
        kube,
        "patch",
        "deployment",
        "web",
        "--type=json",
        "-p",
        json.dumps(
            [
                {"op": "replace", "path": "/spec/replicas", "value": 4},
                {"op": "remove", "path": "/spec/template/spec/containers/1"},
            ]
        ),
    )
    live = kube.get("apps/v1", "Deployment", "web")
    assert live is not None and live["spec"]["replicas"] == 4
    assert [c["name"] for c in live["spec"]["template"]["spec"]["containers"]] == ["web"]
    proc = kube.kubectl(
        "patch",
        "deployment",
        "web",
        "--type=json",
        "-p",
        json.dumps([{"op": "test", "path": "/spec/replicas", "value": 9}]),
    )
    assert proc.returncode != 0 and "test failed" in proc.stderr


def test_get_yaml_shows_managed_fields(kube: cluster.KubeCluster) -> None:
    ok(kube, "apply", "-f", "-", input=dump(configmap("cfg", {"a": "1"})))
    out = yaml.safe_load(ok(kube, "get", "configmap", "cfg", "-o", "yaml", "--show-managed-fields"))
    entry = out["metadata"]["managedFields"][0]
    assert entry["manager"] == "kubectl-client-side-apply" and entry["operation"] == "Update"
    assert entry["fieldsType"] == "FieldsV1"
    assert "f:a" in entry["fieldsV1"]["f:data"]
    assert (
        "managedFields"
        not in yaml.safe_load(ok(kube, "get", "configmap", "cfg", "-o", "yaml"))["metadata"]
    )


def test_get_watch_receives_events(kube: cluster.KubeCluster, api: Api) -> None:
    cache = Path(kube.kubeconfig).parent / "watch-cache"
    proc = subprocess.Popen(
        [
            binaries.require("kubectl"),
            f"--kubeconfig={kube.kubeconfig}",
            f"--cache-dir={cache}",
            "get",
            "configmaps",
            "-w",
            "--output-watch-events",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not any("watch=true" in r.query for r in list(kube.request_log)):
            assert time.monotonic() < deadline, "kubectl never started watching"
            time.sleep(0.05)
        api.call("POST", "/api/v1/namespaces/default/configmaps", configmap("w1", {"a": "1"}))
        api.call(
            "PATCH",
            "/api/v1/namespaces/default/configmaps/w1",
            {"data": {"b": "2"}},
            ctype="application/merge-patch+json",
        )
        api.call("DELETE", "/api/v1/namespaces/default/configmaps/w1")
        time.sleep(1.0)  # kubectl prints each event as it arrives
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    rows = [line.split()[:3] for line in out.splitlines()]
    expected = [["ADDED", "w1", "1"], ["MODIFIED", "w1", "2"], ["DELETED", "w1", "2"]]
    assert rows == [["EVENT", "NAME", "DATA"], *expected], err


def test_rollout_status_succeeds_for_a_good_image_and_fails_for_a_failing_one(
    kube: cluster.KubeCluster,
) -> None:
    kube.fail_image("broken")
    ok(
        kube,
        "apply",
        "-f",
        "-",
        input=dump(deployment("good"), deployment("bad", image="example.com/broken:1")),
    )
    assert 'deployment "good" successfully rolled out' in ok(
        kube, "rollout", "status", "deployment/good", "--timeout=20s"
    )
    ok(kube, "wait", "--for=condition=Available", "deployment/good", "--timeout=20s")
    proc = kube.kubectl("rollout", "status", "deployment/bad", "--timeout=20s")
    assert proc.returncode != 0
    assert 'deployment "bad" exceeded its progress deadline' in proc.stderr
    bad = kube.get("apps/v1", "Deployment", "bad")
    assert bad is not None
    progressing = next(c for c in bad["status"]["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")
    proc = kube.kubectl("wait", "--for=condition=Available", "deployment/bad", "--timeout=1s")
    assert proc.returncode != 0 and "timed out" in proc.stderr


def test_rollout_undo_restores_the_previous_template(kube: cluster.KubeCluster) -> None:
    web = deployment("web")
    ok(kube, "apply", "-f", "-", input=dump(web))
    ok(kube, "rollout", "status", "deployment/web", "--timeout=20s")
    web["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
    ok(kube, "apply", "-f", "-", input=dump(web))
    ok(kube, "rollout", "status", "deployment/web", "--timeout=20s")
    assert "2" in ok(kube, "rollout", "history", "deployment/web")
    ok(kube, "rollout", "undo", "deployment/web")
    ok(kube, "rollout", "status", "deployment/web", "--timeout=20s")
    live = kube.get("apps/v1", "Deployment", "web")
    assert live is not None
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert live["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"


def test_delete_cascades_to_owned_replicasets(kube: cluster.KubeCluster) -> None:
    ok(kube, "apply", "-f", "-", input=dump(deployment("web"), deployment("keep")))
    ok(kube, "rollout", "status", "deployment/web", "--timeout=20s")
    ok(kube, "rollout", "status", "deployment/keep", "--timeout=20s")
    names = ok(kube, "get", "replicasets", "-o", "name").split()
    assert len(names) == 2 and all(n.startswith("replicaset.apps/") for n in names)
    ok(kube, "delete", "deployment", "web")
    left = [rs["metadata"]["name"] for rs in kube.list_objects("apps/v1", "ReplicaSet", "default")]
    assert len(left) == 1 and left[0].startswith("keep-")
    ok(kube, "delete", "deployment", "keep", "--cascade=orphan")
    (orphan,) = kube.list_objects("apps/v1", "ReplicaSet", "default")
    assert "ownerReferences" not in orphan["metadata"]


CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {
            "plural": "widgets",
            "singular": "widget",
            "kind": "Widget",
            "shortNames": ["wd"],
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


def test_crd_then_custom_resource_crud(kube: cluster.KubeCluster) -> None:
    assert "created" in ok(kube, "apply", "-f", "-", input=dump(CRD))
    ok(kube, "wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=10s")
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 1},
    }
    assert "widget.example.com/w created" in ok(kube, "apply", "-f", "-", input=dump(widget))
    assert ok(kube, "get", "wd", "-o", "name").split() == ["widget.example.com/w"]
    ok(kube, "patch", "widget", "w", "--type=merge", "-p", '{"spec":{"size":2}}')
    got = json.loads(ok(kube, "get", "widget", "w", "-o", "json"))
    assert got["spec"] == {"size": 2} and got["metadata"]["generation"] == 2
    ok(kube, "delete", "widget", "w")
    assert ok(kube, "get", "widgets", "-o", "name").strip() == ""
    ok(kube, "apply", "-f", "-", input=dump(widget))
    ok(kube, "delete", "crd", "widgets.example.com")
    proc = kube.kubectl("get", "widgets")
    # kubectl's cached discovery still knows the type: the server answers 404 for it
    assert proc.returncode != 0 and "could not find the requested resource" in proc.stderr
    fresh = str(Path(kube.kubeconfig).parent / "fresh-cache")
    proc = kube.kubectl("get", "widgets", "--cache-dir", fresh)
    assert proc.returncode != 0 and "doesn't have a resource type" in proc.stderr
    assert kube.store.select(("example.com", "widgets")) == []


def test_imperative_create_commands(kube: cluster.KubeCluster) -> None:
    """kubectl create <kind> sends protobuf bodies; the server decodes them."""
    ok(kube, "create", "namespace", "team")
    ok(kube, "-n", "team", "create", "configmap", "cfg", "--from-literal=a=1")
    ok(kube, "-n", "team", "create", "secret", "generic", "s", "--from-literal=password=x")
    ok(kube, "-n", "team", "create", "serviceaccount", "robot")
    assert kube.get("v1", "ConfigMap", "cfg", "team")["data"] == {"a": "1"}  # type: ignore[index]
    assert kube.get("v1", "Secret", "s", "team")["data"] == {"password": "eA=="}  # type: ignore[index]
    assert kube.get("v1", "ServiceAccount", "robot", "team") is not None
    assert kube.get("v1", "Namespace", "team")["status"]["phase"] == "Active"  # type: ignore[index]
    ok(
        kube,
        "-n",
        "team",
        "create",
        "deployment",
        "web",
        "--image=nginx:1.27",
        "--replicas=2",
        "--port=8080",
    )
    ok(kube, "-n", "team", "create", "service", "nodeport", "web", "--tcp=80:8080")
    ok(kube, "-n", "team", "create", "job", "once", "--image=busybox:1", "--", "echo", "hi")
    web = kube.get("apps/v1", "Deployment", "web", "team")
    assert web is not None and web["spec"]["replicas"] == 2
    (container,) = web["spec"]["template"]["spec"]["containers"]
    assert (container["image"], container["ports"]) == (
        "nginx:1.27",
        [{"containerPort": 8080, "protocol": "TCP"}],
    )
    assert (
        container["imagePullPolicy"] == "IfNotPresent"
    )  # defaulted: protobuf zero values are unset
    (port,) = kube.get("v1", "Service", "web", "team")["spec"]["ports"]  # type: ignore[index]
    assert (port["port"], port["targetPort"], port["nodePort"] >= 30000) == (80, 8080, True)
    job = kube.get("batch/v1", "Job", "once", "team")
    assert job is not None and job["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "echo",
        "hi",
    ]
    ok(kube, "-n", "team", "rollout", "status", "deployment/web", "--timeout=20s")


def test_scale_restart_and_server_side_diff(kube: cluster.KubeCluster) -> None:
    web = deployment("web", replicas=1)
    ok(kube, "apply", "--server-side", "--field-manager=syncer", "-f", "-", input=dump(web))
    ok(kube, "rollout", "status", "deployment/web", "--timeout=20s")
    assert "deployment.apps/web scaled" in ok(kube, "scale", "deployment/web", "--replicas=3")
    ok(kube, "rollout", "status", "deployment/web", "--timeout=20s")
    assert kube.get("apps/v1", "Deployment", "web")["status"]["availableReplicas"] == 3  # type: ignore[index]
    assert "restarted" in ok(kube, "rollout", "restart", "deployment/web")
    ok(kube, "rollout", "status", "deployment/web", "--timeout=20s")
    assert len(kube.list_objects("apps/v1", "ReplicaSet", "default")) == 2  # a new template
    # the scale went through the scale subresource, so syncer's manifest now conflicts on it
    web["spec"]["replicas"] = 2
    proc = kube.kubectl(
        "diff", "--server-side", "--field-manager=syncer", "-f", "-", input=dump(web)
    )
    assert proc.returncode > 1 and 'conflict with "kubectl"' in proc.stderr
    proc = kube.kubectl(
        "diff",
        "--server-side",
        "--force-conflicts",
        "--field-manager=syncer",
        "-f",
        "-",
        input=dump(web),
    )
    assert (
        proc.returncode == 1 and "-  replicas: 3" in proc.stdout and "+  replicas: 2" in proc.stdout
    )
    assert kube.get("apps/v1", "Deployment", "web")["spec"]["replicas"] == 3  # type: ignore[index]


def test_apply_prune_removes_labeled_objects_left_out(kube: cluster.KubeCluster) -> None:
    a = configmap("a", {"x": "1"}, labels={"app": "p"})
    b = configmap("b", {"x": "1"}, labels={"app": "p"})
    ok(kube, "apply", "-l", "app=p", "--prune", "-f", "-", input=dump(a, b))
    out = ok(kube, "apply", "-l", "app=p", "--prune", "-f", "-", input=dump(a))
    assert "configmap/b pruned" in out
    assert [o["metadata"]["name"] for o in kube.list_objects("v1", "ConfigMap", "default")] == ["a"]


def test_kubectl_get_prints_crd_printer_columns(kube: cluster.KubeCluster) -> None:
    crd = copy.deepcopy(CRD)
    crd["spec"]["versions"][0]["additionalPrinterColumns"] = [
        {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
        {
            "name": "Ready",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        },
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    ok(kube, "apply", "-f", "-", input=dump(crd))
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 3},
    }
    ok(kube, "apply", "-f", "-", input=dump(widget))
    kube.put({**widget, "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    header, row = ok(kube, "get", "widgets").splitlines()
    assert header.split() == ["NAME", "SIZE", "READY", "AGE"]
    assert row.split()[:3] == ["w", "3", "True"] and row.split()[3].endswith("s")
