"""Manifests load with the values kubectl gives them (go-yaml v2), not YAML 1.1's.

Each file in ``testdata/kubectl-yaml/`` is read by the real kubectl, offline
(``kubectl label --local -o json``: the same decoder as ``create``/``apply``, without a
server), and by syncer's loader; the objects must be equal. A kustomization with tabs
after its keys must be checked and built like kustomize builds it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from syncer.render import errors as render_errors
from syncer.render import tools, yamlload
from tests import binaries
from tests.render.conftest import render_tree, write_tree

FIXTURES = sorted((Path(__file__).parent / "testdata" / "kubectl-yaml").glob("*.yaml"))


def _kubectl_reads(kubectl: str, path: Path) -> dict:
    out = subprocess.run(
        [kubectl, "label", "--local", "-o", "json", "-f", str(path), "syncer-test-none-"],
        capture_output=True,
        text=True,
        check=True,
        env={"KUBECONFIG": "/dev/null", "PATH": "/usr/bin:/bin"},
    ).stdout
    obj = json.loads(out)
    # `label` adds an empty labels map when there was none; it is not the file's content.
    if obj["metadata"].get("labels") == {}:
        del obj["metadata"]["labels"]
    return obj


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_loads_what_kubectl_reads(path: Path) -> None:
    kubectl = binaries.require("kubectl")
    (doc,) = yamlload.load_all(path.read_text(), shown=path.name, max_nodes=100_000)
    assert doc.data == _kubectl_reads(kubectl, path)
    # Read again, the text comes from the parsed documents kept: the same values.
    (kept,) = yamlload.load_all(path.read_text(), shown=path.name, max_nodes=100_000)
    assert kept == doc and kept.data is not doc.data


def test_bare_equals_sign_in_a_crd_enum_is_a_string() -> None:
    path = Path(__file__).parent / "testdata" / "kubectl-yaml" / "prometheus-operator-matchers.yaml"
    (doc,) = yamlload.load_all(path.read_text(), shown=path.name, max_nodes=100_000)
    schema = doc.data["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    enum = schema["properties"]["matchers"]["items"]["properties"]["matchType"]["enum"]
    assert enum == ["!=", "=", "=~", "!~"]


def test_keys_that_collide_in_python_stay_apart() -> None:
    (doc,) = yamlload.load_all("{1: one, true: yes}", shown="x", max_nodes=100)
    assert doc.data == {"1": "one", "true": True}


def test_tab_after_a_key_in_a_kustomization(tmp_path: Path) -> None:
    binaries.require("kubectl")
    repo = write_tree(
        tmp_path / "repo",
        {
            "app/kustomization.yaml": (
                "apiVersion: kustomize.config.k8s.io/v1beta1\n"
                "kind: Kustomization\n"
                "namePrefix:\tdev-\n"
                "resources:\t\n"
                "- cm.yaml\n"
                "commonLabels:\t# tab, then a comment\n"
                "  tier:\tweb\n"
            ),
            "app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name:\tsettings\n",
        },
    )
    kubectl = binaries.find("kubectl")
    rendered = render_tree(repo, tool_paths=tools.Tools(kubectl=kubectl))
    (obj,) = rendered.objects
    assert obj["metadata"]["name"] == "dev-settings"
    assert obj["metadata"]["labels"]["tier"] == "web"


def test_kustomization_scalars_stay_strings(tmp_path: Path) -> None:
    # kustomize decodes `resources` as strings: the base named "on" is the directory "on"
    # (not YAML 1.1's True), so its own kustomization is checked like any other.
    (tmp_path / "secret.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n")
    repo = write_tree(
        tmp_path / "repo",
        {
            "app/kustomization.yaml": "resources:\n- on\n",
            "app/on/kustomization.yaml": "resources:\n- ../../../secret.yaml\n",
        },
    )
    with pytest.raises(render_errors.UnsafePathError, match=r"\.\./\.\./\.\./secret\.yaml"):
        render_tree(repo)
