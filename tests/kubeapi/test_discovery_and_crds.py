"""Discovery documents, OpenAPI v3 for kubectl's validation, and CRD registration."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import binaries
from tests.kubeapi import cluster, kubeconfig
from tests.kubeapi.conftest import Api
from tests.kubeapi.test_kubectl_fidelity import CRD

pytestmark = pytest.mark.integration


def test_discovery_documents(api: Api) -> None:
    assert api.call("GET", "/api").json()["versions"] == ["v1"]
    groups = {g["name"]: g for g in api.call("GET", "/apis").json()["groups"]}
    for name in (
        "apps",
        "batch",
        "rbac.authorization.k8s.io",
        "networking.k8s.io",
        "policy",
        "coordination.k8s.io",
        "apiextensions.k8s.io",
    ):
        assert groups[name]["preferredVersion"] == {"groupVersion": f"{name}/v1", "version": "v1"}
    core = api.call("GET", "/api/v1").json()
    assert core["kind"] == "APIResourceList" and core["groupVersion"] == "v1"
    by_name = {r["name"]: r for r in core["resources"]}
    assert by_name["namespaces"]["namespaced"] is False and by_name["namespaces"]["shortNames"] == [
        "ns"
    ]
    assert (
        by_name["configmaps"]["kind"] == "ConfigMap"
        and "deletecollection" in by_name["configmaps"]["verbs"]
    )
    apps = {r["name"]: r for r in api.call("GET", "/apis/apps/v1").json()["resources"]}
    assert apps["deployments/status"]["verbs"] == ["get", "patch", "update"]
    assert (
        apps["deployments/scale"]["group"] == "autoscaling"
        and apps["deployments/scale"]["kind"] == "Scale"
    )
    assert api.call("GET", "/apis/apps").json()["kind"] == "APIGroup"
    assert api.call("GET", "/apis/nope/v1").status_code == 404


def test_aggregated_discovery_lists_every_group_in_one_document(api: Api) -> None:
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    resp = api.session.get(f"{api.base}/apis", headers={"Accept": accept}, timeout=10)
    assert (
        resp.headers["Content-Type"]
        == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    )
    groups = {g["metadata"]["name"]: g for g in resp.json()["items"]}
    (apps,) = groups["apps"]["versions"]
    deployments = next(r for r in apps["resources"] if r["resource"] == "deployments")
    assert deployments["scope"] == "Namespaced" and deployments["shortNames"] == ["deploy"]
    assert {s["subresource"] for s in deployments["subresources"]} == {"status", "scale"}
    core = api.session.get(f"{api.base}/api", headers={"Accept": accept}, timeout=10).json()
    assert [g["metadata"]["name"] for g in core["items"]] == [""]
    assert api.call("GET", "/api").json()["kind"] == "APIVersions"  # legacy without the Accept


def test_openapi_v3_advertises_server_side_field_validation(api: Api) -> None:
    index = api.call("GET", "/openapi/v3").json()["paths"]
    url = index["apis/apps/v1"]["serverRelativeURL"]
    doc = api.call("GET", url).json()
    op = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert op["x-kubernetes-group-version-kind"] == {
        "group": "apps",
        "version": "v1",
        "kind": "Deployment",
    }
    assert {"name": "fieldValidation", "in": "query"}.items() <= op["parameters"][2].items()


def test_kubectl_validation_is_delegated_to_the_server(kube: cluster.KubeCluster) -> None:
    binaries.require("kubectl")
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"a": "1"},
    }
    proc = kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))
    assert proc.returncode == 0, proc.stderr
    assert any(
        "fieldValidation=Strict" in r.query
        for r in kube.request_log
        if r.method in ("POST", "PATCH")
    )


def test_crd_registers_resources_with_scope_versions_and_status(
    kube: cluster.KubeCluster, api: Api
) -> None:
    crd = copy.deepcopy(CRD)
    crd["spec"]["versions"].append({"name": "v2", "served": True, "storage": False})
    crd["spec"]["versions"].append({"name": "v0", "served": False, "storage": False})
    created = api.call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert created.status_code == 201
    status = created.json()["status"]
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "NamesAccepted": "True",
        "Established": "True",
    }
    assert status["acceptedNames"]["listKind"] == "WidgetList"
    group = next(g for g in api.call("GET", "/apis").json()["groups"] if g["name"] == "example.com")
    assert [v["version"] for v in group["versions"]] == ["v1", "v2"]
    resources = {r["name"]: r for r in api.call("GET", "/apis/example.com/v1").json()["resources"]}
    assert resources["widgets"]["namespaced"] and resources["widgets"]["shortNames"] == ["wd"]
    assert "widgets/status" in resources
    assert "widgets/status" not in {
        r["name"] for r in api.call("GET", "/apis/example.com/v2").json()["resources"]
    }
    assert api.call("GET", "/apis/example.com/v0/widgets").status_code == 404
    base = "/apis/example.com/v1/namespaces/default/widgets"
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 1},
        "status": {"ready": True},
    }
    stored = api.call("POST", base, widget).json()
    assert "status" not in stored and stored["metadata"]["generation"] == 1
    merge = "application/merge-patch+json"
    api.call("PATCH", f"{base}/w/status", {"status": {"ready": True}}, ctype=merge)
    smp = api.call(
        "PATCH", f"{base}/w", {"spec": {"size": 3}}, ctype="application/strategic-merge-patch+json"
    )
    assert smp.status_code == 415  # no strategic merge for custom resources
    meta_only = api.call(
        "PATCH", f"{base}/w", {"metadata": {"labels": {"a": "b"}}}, ctype=merge
    ).json()
    assert meta_only["metadata"]["generation"] == 1 and meta_only["status"] == {"ready": True}
    # the same object is served in every served version
    assert (
        api.call("GET", "/apis/example.com/v2/namespaces/default/widgets/w").json()["apiVersion"]
        == "example.com/v2"
    )
    assert api.call("POST", "/apis/example.com/v1/widgets", widget).status_code in (404, 405)
    rv = api.call("GET", base).json()["metadata"]["resourceVersion"]
    stream = Api(kube, kube.token).session.get(
        f"{kube.url}{base}",
        params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": "30"},
        stream=True,
        timeout=10,
    )
    started = time.monotonic()
    api.call(
        "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com"
    )
    events = [json.loads(line)["type"] for line in stream.iter_lines() if line]
    assert events == ["DELETED"] and time.monotonic() - started < 5  # the watch ends with its type
    assert api.call("GET", base).status_code == 404
    assert "example.com" not in {g["name"] for g in api.call("GET", "/apis").json()["groups"]}


def test_cluster_scoped_crd_and_invalid_crd(api: Api) -> None:
    crd = copy.deepcopy(CRD)
    crd["metadata"]["name"] = "gadgets.example.com"
    crd["spec"]["scope"] = "Cluster"
    crd["spec"]["names"] = {"plural": "gadgets", "kind": "Gadget"}
    assert (
        api.call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd).status_code
        == 201
    )
    gadget = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}
    assert api.call("POST", "/apis/example.com/v1/gadgets", gadget).status_code == 201
    assert api.call("GET", "/apis/example.com/v1/namespaces/default/gadgets/g").status_code == 404
    bad = copy.deepcopy(CRD)
    bad["metadata"]["name"] = "wrong.example.com"
    resp = api.call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", bad)
    assert (
        resp.status_code == 422 and resp.json()["details"]["causes"][0]["field"] == "metadata.name"
    )


def test_serve_command_writes_a_kubeconfig_and_serves_until_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "kc"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.kubeapi",
            "serve",
            "--port",
            "0",
            "--kubeconfig",
            str(path),
            "--clusters",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        deadline = time.monotonic() + 20
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        contexts = kubeconfig.contexts(path)
        assert [name for name, _ in contexts] == ["kube-0", "kube-1"]
        assert os.stat(path).st_mode & 0o077 == 0
        if binaries.find("kubectl"):
            for name, _ in contexts:
                listed = subprocess.run(
                    [
                        binaries.find("kubectl") or "",
                        f"--kubeconfig={path}",
                        f"--context={name}",
                        f"--cache-dir={tmp_path / name}",
                        "get",
                        "ns",
                        "-o",
                        "name",
                    ],
                    capture_output=True,
                    text=True,
                    timeout=30,
                )
                assert "namespace/default" in listed.stdout.split(), listed.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "cluster kube-1 serving on https://127.0.0.1:" in out


def test_serve_command_reports_a_busy_port(tmp_path: Path, kube: cluster.KubeCluster) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.kubeapi",
            "serve",
            "--port",
            str(kube.port),
            "--kubeconfig",
            str(tmp_path / "kc"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 1 and proc.stderr.startswith("error: cannot listen on 127.0.0.1")


def test_unknown_fields_strict_from_kubectl_warn_and_drop_by_default(
    kube: cluster.KubeCluster, api: Api
) -> None:
    binaries.require("kubectl")
    typo = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx", "imagee": "x"}]},
            },
        },
    }
    proc = kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(typo))
    assert proc.returncode != 0
    assert (
        'strict decoding error: unknown field "spec.template.spec.containers[0].imagee"'
        in proc.stderr
    )
    assert kube.get("apps/v1", "Deployment", "web") is None
    resp = api.call("POST", "/apis/apps/v1/namespaces/default/deployments", typo)
    assert resp.status_code == 201
    assert (
        resp.headers["Warning"]
        == '299 - "unknown field \\"spec.template.spec.containers[0].imagee\\""'
    )
    assert "imagee" not in resp.json()["spec"]["template"]["spec"]["containers"][0]


def test_crd_schema_defaults_prunes_and_validates(kube: cluster.KubeCluster, api: Api) -> None:
    crd = copy.deepcopy(CRD)
    crd["spec"]["versions"][0]["schema"] = {
        "openAPIV3Schema": {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["color"],
                    "properties": {
                        "size": {"type": "integer", "minimum": 1, "default": 1},
                        "color": {"type": "string", "enum": ["red", "blue"]},
                        "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    },
                },
                "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
            },
        }
    }
    api.call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    base = "/apis/example.com/v1/namespaces/default/widgets"

    def widget(name: str, spec: dict) -> dict:
        return {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": name},
            "spec": spec,
        }

    created = api.call(
        "POST", base, widget("w", {"color": "red", "bogus": 1, "extra": {"free": "form"}})
    )
    assert created.status_code == 201
    assert created.json()["spec"] == {"color": "red", "size": 1, "extra": {"free": "form"}}
    assert 'unknown field \\"spec.bogus\\"' in created.headers["Warning"]
    bad = api.call(
        "POST", base, widget("b", {"color": "green", "size": 0, "tags": ["a", "b", "c"]})
    )
    assert bad.status_code == 422
    fields_ = sorted(c["field"] for c in bad.json()["details"]["causes"])
    assert fields_ == ["spec.color", "spec.size", "spec.tags"]
    missing = api.call("POST", base, widget("m", {"size": 2}))
    assert (
        missing.status_code == 422
        and missing.json()["details"]["causes"][0]["field"] == "spec.color"
    )
    typed = api.call(
        "PATCH", f"{base}/w", {"spec": {"size": "big"}}, ctype="application/merge-patch+json"
    )
    assert typed.status_code == 422 and "must be of type integer" in typed.json()["message"]
    proc = kube.kubectl(
        "apply", "-f", "-", input=yaml.safe_dump(widget("s", {"color": "blue", "bogus": 1}))
    )
    assert (
        proc.returncode != 0 and 'strict decoding error: unknown field "spec.bogus"' in proc.stderr
    )


def test_server_side_apply_uses_the_crd_list_types(api: Api) -> None:
    crd = copy.deepcopy(CRD)
    item = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
    }
    crd["spec"]["versions"][0]["schema"] = {
        "openAPIV3Schema": {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "ports": {
                            "type": "array",
                            "items": item,
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["name"],
                        },
                        "hosts": {"type": "array", "items": {"type": "string"}},
                    },
                }
            },
        }
    }
    api.call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    path = "/apis/example.com/v1/namespaces/default/widgets/w"

    def apply(manager: str, spec: dict) -> Any:
        body = {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w"},
            "spec": spec,
        }
        return api.call(
            "PATCH", path, body, ctype="application/apply-patch+yaml", fieldManager=manager
        )

    assert apply("a", {"ports": [{"name": "http", "port": 80}], "hosts": ["x"]}).status_code == 201
    merged = apply("b", {"ports": [{"name": "metrics", "port": 9090}]}).json()
    assert [p["name"] for p in merged["spec"]["ports"]] == ["http", "metrics"]  # merged by key
    conflict = apply("b", {"hosts": ["y"]})  # an atomic list belongs to one manager
    assert (
        conflict.status_code == 409
        and conflict.json()["details"]["causes"][0]["field"] == ".spec.hosts"
    )
