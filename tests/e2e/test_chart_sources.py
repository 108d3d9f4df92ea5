"""Apps deploying charts from a Helm repository (index.yaml behind Basic auth) or an OCI
registry (pushed with ``helm push``): ``syncer sync`` installs the newest version in the
range on a real cluster, and a newer version in the range is a new release, as a new Git
commit is; one outside the range changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e import control
from tests.servers import chart_repo as chart_repo_mod

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

CM = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shop}\n"
    "data: {version: '%s', greeting: '{{ .Values.greeting }}'}\n"
)


def chart_files(version: str) -> dict[str, str]:
    return {"values.yaml": "greeting: hello\n", "templates/cm.yaml": CM % version}


def write_config(tmp: Path, *, cluster: Any, source: dict[str, Any], **extra: Any) -> str:
    data = {
        "sources": [{"name": "shop-chart", "helm": source}],
        "clusters": [{"name": cluster.name, "kubeconfig": str(cluster.kubeconfig),
                      "context": cluster.context}],
        "apps": [{"name": "shop", "source": "shop-chart", "namespace": "shop",
                  "clusters": [cluster.name], "helm": {"values": {"greeting": "hi"}},
                  "sync": {"wait": "10s"}}],
        "state": {"path": "state/syncer.db"},
        **extra,
    }  # fmt: skip
    path = tmp / "syncer.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def deployed(cluster: Any) -> dict[str, str]:
    cm = cluster.get("v1", "ConfigMap", "shop", namespace="shop")
    return dict((cm or {}).get("data") or {})


def test_a_chart_from_a_helm_repository_follows_its_range(
    tmp_path: Path,
    chart_repo: chart_repo_mod.ChartRepo,
    kube_clusters: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (cluster,) = kube_clusters(1, names=["dev"])
    monkeypatch.setenv("CHART_USER", "chart-user")
    monkeypatch.setenv("CHART_PASS", "chart-pass-1")
    chart_repo.publish("shop", "1.0.0", chart_files("1.0.0"))
    config = write_config(
        tmp_path, cluster=cluster,
        source={"url": chart_repo.url, "chart": "shop", "version": "~1.0",
                "auth": {"usernameFrom": "env:CHART_USER", "passwordFrom": "env:CHART_PASS"}},
    )  # fmt: skip
    (first,) = control.cli_json(capsys, "sync", "-c", config)
    assert first["ok"], first
    assert deployed(cluster) == {"version": "1.0.0", "greeting": "hi"}
    code, out, err = control.cli_run(capsys, "render", "-c", config, "--app", "shop")
    assert code == 0 and "version: 1.0.0" in out and "greeting: hi" in out, err

    chart_repo.publish("shop", "1.1.0", chart_files("1.1.0"))  # outside ~1.0
    (same,) = control.cli_json(capsys, "sync", "-c", config)
    assert same["release"] == first["release"]
    chart_repo.publish("shop", "1.0.1", chart_files("1.0.1"))
    (newer,) = control.cli_json(capsys, "sync", "-c", config)
    assert newer["ok"] and newer["release"] != first["release"], newer
    assert deployed(cluster)["version"] == "1.0.1"
    store = control.open_store(Path(config))
    try:
        commits = [r.commit.partition("@")[0] for r in store.releases("shop")]
    finally:
        store.close()
    assert commits == ["1.0.1", "1.0.0"]


def test_an_oci_chart_with_the_registrys_credentials(
    tmp_path: Path,
    registry_server: Any,
    kube_clusters: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (cluster,) = kube_clusters(1, names=["dev"])
    server = registry_server.start("token")
    helm = chart_repo_mod.helm_runner(tmp_path / "helm-home")
    helm(
        "registry", "login", server.host, "--username", server.username,
        "--password-stdin", "--plain-http", stdin=server.password,
    )  # fmt: skip

    def push(version: str) -> None:
        chart = chart_repo_mod.write_chart(
            tmp_path / "work" / version, name="shop", version=version, files=chart_files(version)
        )
        helm("package", str(chart), "--destination", str(tmp_path / "pkg"))
        package = str(tmp_path / "pkg" / f"shop-{version}.tgz")
        helm("push", package, f"oci://{server.host}/charts", "--plain-http")

    push("2.0.0")
    monkeypatch.setenv("REG_USER", server.username)
    monkeypatch.setenv("REG_PASSWORD", server.password)
    config = write_config(
        tmp_path, cluster=cluster,
        source={"url": f"oci://{server.host}/charts", "chart": "shop", "version": "^2"},
        registries=[{"host": server.host, "auth": {"usernameFrom": "env:REG_USER",
                                                   "passwordFrom": "env:REG_PASSWORD"}}],
    )  # fmt: skip
    (first,) = control.cli_json(capsys, "sync", "-c", config)
    assert first["ok"], first
    assert deployed(cluster)["version"] == "2.0.0"
    push("2.1.0")
    (newer,) = control.cli_json(capsys, "sync", "-c", config)
    assert newer["ok"] and newer["release"] != first["release"], newer
    assert deployed(cluster)["version"] == "2.1.0"
