"""syncer renders what the tools render, object by object.

Each chart is rendered by syncer and by ``helm template`` (same release name, namespace,
values, ``--include-crds --skip-tests``), each kustomization by syncer and by ``kubectl
kustomize``; the two must be the same objects with the same content once the intended
differences listed in the README ("Rendering differences from the tools") are applied to
the tool's output: the ownership labels, the app's namespace on namespaced objects that
have none, and Helm hooks placed in sync waves (other hooks left out).

Cases: the project's own chart (``helm/syncer``, with several value sets) and the render
golden cases. More charts or kustomizations (e.g. public ones checked out elsewhere) are
compared too when listed in ``SYNCER_PARITY_DIRS`` (paths separated by ``:``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncer.config import model
from syncer.render import generated, helmhooks, labels, objects, pipeline
from tests.binaries import REPO_ROOT, require

pytestmark = pytest.mark.integration

TESTDATA = Path(__file__).parent / "testdata"
CHART_VALUES: list[tuple[Path, dict[str, Any]]] = [
    (REPO_ROOT / "helm" / "syncer", {}),
    (
        REPO_ROOT / "helm" / "syncer",
        {
            "replicaCount": 2,
            "persistence": {"enabled": True, "size": "2Gi"},
            "serviceMonitor": {"enabled": True},
            "networkPolicy": {"enabled": True},
        },
    ),
    (TESTDATA / "helm-chart" / "input" / "charts" / "shop", {"replicas": 3}),
]
KUSTOMIZATIONS = [
    TESTDATA / "kustomize-overlays" / "input" / "deploy" / "overlays" / "dev",
    TESTDATA / "kustomize-overlays" / "input" / "deploy" / "overlays" / "prod",
]
NAMESPACE = "parity"


def _extra() -> list[Path]:
    return [Path(p) for p in os.environ.get("SYNCER_PARITY_DIRS", "").split(":") if p]


def _tool_env(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HELM_CACHE_HOME": str(tmp / "cache"),
        "HELM_CONFIG_HOME": str(tmp / "config"),
        "HELM_DATA_HOME": str(tmp / "data"),
        "KUBECONFIG": str(tmp / "none"),
    }


def _tool(args: list[str], tmp: Path) -> list[dict[str, Any]]:
    proc = subprocess.run(
        args, capture_output=True, text=True, env=_tool_env(tmp), timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if isinstance(d, dict)]


def _intended(found: list[dict[str, Any]], *, app: str, helm: bool) -> list[dict[str, Any]]:
    """The tool's objects with the README's intended differences applied."""
    items = [objects.Item(obj=o, origin="tool") for o in found]
    if helm:
        items, _notes = helmhooks.order(items)
    scoped = objects.custom_cluster_scoped(items)
    for item in items:
        meta = item.obj.setdefault("metadata", {})
        group = item.obj["apiVersion"].rpartition("/")[0]
        cluster_wide = item.obj["kind"] in objects.CLUSTER_SCOPED_KINDS or (
            (group, item.obj["kind"]) in scoped
        )
        if not cluster_wide and not meta.get("namespace"):
            meta["namespace"] = NAMESPACE
        meta.setdefault("labels", {})
        meta["labels"][labels.MANAGED_BY_LABEL] = labels.MANAGED_BY_VALUE
        meta["labels"][labels.APP_LABEL] = app
    return [i.obj for i in items]


def _by_identity(found: list[dict[str, Any]]) -> dict[tuple[str, str, str, str], Any]:
    return {
        (
            o["apiVersion"], o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]
        ): o
        for o in found
    }  # fmt: skip


def _compare(
    ours: list[dict[str, Any]], theirs: list[dict[str, Any]], *, again: list[dict[str, Any]]
) -> None:
    """Equal objects, except fields that differ between two renders (``again``: values a
    chart generates at each render, another intended difference)."""
    mine, tool, other = _by_identity(ours), _by_identity(theirs), _by_identity(again)
    assert sorted(mine) == sorted(tool)
    for key, obj in tool.items():
        for path in generated.field_differences(mine[key], other[key], ()):
            _mask(mine[key], path)
            _mask(obj, path)
        assert mine[key] == obj, f"{key} differs"


def _mask(obj: Any, path: tuple[str | int, ...]) -> None:
    for part in path[:-1]:
        obj = obj[part]
    if path:
        obj[path[-1]] = "(generated)"


def _render(app: model.App, root: Path) -> list[dict[str, Any]]:
    return pipeline.render(app=app, snapshot=root).objects


def _copy(source: Path, tmp: Path) -> Path:
    """The directory as the repository root (syncer confines paths to a snapshot)."""
    root = tmp / "repo"
    shutil.copytree(source, root / source.name, symlinks=True)
    return root


@pytest.mark.parametrize(
    ("chart", "values"),
    [*CHART_VALUES, *((p, {}) for p in _extra() if (p / "Chart.yaml").is_file())],
    ids=lambda v: v.name if isinstance(v, Path) else ",".join(v) or "defaults",
)
def test_charts_render_as_helm_template_does(
    tmp_path: Path, chart: Path, values: dict[str, Any]
) -> None:
    helm = require("helm")
    root = _copy(chart, tmp_path)
    app = model.App(
        name="parity", source="repo", path=chart.name, namespace=NAMESPACE,
        helm=model.HelmOptions(values=values, release_name="rel"),
    )  # fmt: skip
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    theirs = _tool(
        [helm, "template", "rel", str(root / chart.name), "--namespace", NAMESPACE,
         "--include-crds", "--skip-tests", "--values", str(values_file)],
        tmp_path,
    )  # fmt: skip
    ours = _render(app, root)
    _compare(ours, _intended(theirs, app="parity", helm=True), again=_render(app, root))


@pytest.mark.parametrize(
    "directory",
    [*KUSTOMIZATIONS, *(p for p in _extra() if (p / "kustomization.yaml").is_file())],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_kustomizations_render_as_kubectl_kustomize_does(tmp_path: Path, directory: Path) -> None:
    kubectl = require("kubectl")
    root = tmp_path / "repo"
    top = directory.parent.parent if directory.parent.name == "overlays" else directory.parent
    shutil.copytree(top, root / top.name, symlinks=True)
    path = directory.relative_to(top.parent)
    app = model.App(name="parity", source="repo", path=str(path), namespace=NAMESPACE)
    theirs = _tool([kubectl, "kustomize", str(root / path)], tmp_path)
    ours = _render(app, root)
    _compare(ours, _intended(theirs, app="parity", helm=False), again=ours)
