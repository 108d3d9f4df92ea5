"""Charts in Git whose dependencies are not vendored in charts/: fetched from a real Helm
repository (Basic auth, the credentials of the chart source on that URL) at the version
Chart.lock pins, else the newest in range; file:// dependencies come from the repository
only; a dependency that cannot be had is an error naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncer.config import model
from syncer.render import errors
from syncer.source import charts
from tests.render.conftest import render_tree, write_tree
from tests.servers import chart_repo as chart_repo_mod
from tests.source.test_charts import AUTH, SECRETS

pytestmark = pytest.mark.integration

SUB = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cache}\n"
    "data: {v: '%s', size: '{{ .Values.size }}'}\n"
)
PARENT = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {x: '1'}\n"


def app_chart(url: str, *, lock: str = "", version: str = "^1.0") -> dict[str, str]:
    tree = {
        "app/Chart.yaml": (
            "apiVersion: v2\nname: web\nversion: 0.1.0\ndependencies:\n"
            f"  - {{name: cache, version: '{version}', repository: '{url}', alias: redis}}\n"
        ),
        "app/values.yaml": "redis: {size: large}\n",
        "app/templates/cm.yaml": PARENT,
    }
    if lock:
        tree["app/Chart.lock"] = (
            f"dependencies:\n- name: cache\n  repository: {url}\n  version: {lock}\n"
            "digest: sha256:0\ngenerated: '2026-01-01T00:00:00Z'\n"
        )
    return tree


def fetcher(tmp_path: Path, url: str) -> charts.ChartSources:
    configured = model.Source(
        name="repo", helm=model.ChartSource(url=url, chart="anything", auth=AUTH)
    )
    return charts.ChartSources(
        charts.Settings(cache_dir=tmp_path / "cache"),
        sources=(configured,),
        resolve_secret=lambda ref: SECRETS[ref.name],
    )


def test_dependencies_are_fetched_at_the_locked_or_newest_version(
    tmp_path: Path, chart_repo: chart_repo_mod.ChartRepo
) -> None:
    for version in ("1.0.0", "1.1.0"):
        chart_repo.publish("cache", version, {"templates/cm.yaml": SUB % version})
    fetch = fetcher(tmp_path, chart_repo.url).fetch
    newest = render_tree(write_tree(tmp_path / "a", app_chart(chart_repo.url)), fetch=fetch)
    by_name = {o["metadata"]["name"]: o for o in newest.objects}
    assert by_name["cache"]["data"] == {"v": "1.1.0", "size": "large"}  # alias values
    assert "web" in by_name
    locked = render_tree(
        write_tree(tmp_path / "b", app_chart(chart_repo.url, lock="1.0.0")), fetch=fetch
    )
    assert {o["metadata"]["name"]: o for o in locked.objects}["cache"]["data"]["v"] == "1.0.0"
    # Nothing is written into the repository's chart.
    assert not (tmp_path / "a" / "app" / "charts").exists()


def test_a_dependency_that_cannot_be_had_is_named(
    tmp_path: Path, chart_repo: chart_repo_mod.ChartRepo
) -> None:
    chart_repo.publish("cache", "1.0.0", {"templates/cm.yaml": SUB % "1.0.0"})
    root = write_tree(tmp_path / "a", app_chart(chart_repo.url, version="^2"))
    fetch = fetcher(tmp_path, chart_repo.url).fetch
    with pytest.raises(
        errors.RenderError, match=r"chart dependency 'cache' \(http://.*no version matches '\^2'"
    ):
        render_tree(root, fetch=fetch)
    bad_range = write_tree(tmp_path / "e", app_chart(chart_repo.url, version="not-a-range"))
    with pytest.raises(errors.RenderError, match=r"dependency 'cache'.*invalid semver range"):
        render_tree(bad_range, fetch=fetch)
    anonymous = charts.ChartSources(charts.Settings(cache_dir=tmp_path / "anon")).fetch
    with pytest.raises(errors.RenderError, match=r"dependency 'cache'.*needs credentials"):
        render_tree(write_tree(tmp_path / "b", app_chart(chart_repo.url)), fetch=anonymous)
    with pytest.raises(errors.RenderError, match="not vendored in charts/ and cannot be fetched"):
        render_tree(write_tree(tmp_path / "c", app_chart(chart_repo.url)))
    named = {**app_chart("@stable"), "app/Chart.lock": ""}
    with pytest.raises(errors.RenderError, match="helm repo add"):
        render_tree(write_tree(tmp_path / "d", named), fetch=fetch)


def test_file_dependencies_stay_inside_the_repository(tmp_path: Path) -> None:
    tree = {
        **app_chart("file://../cache"),
        "cache/Chart.yaml": "apiVersion: v2\nname: cache\nversion: 1.0.0\n",
        "cache/templates/cm.yaml": SUB % "local",
    }
    rendered = render_tree(write_tree(tmp_path / "a", tree))
    assert {o["metadata"]["name"] for o in rendered.objects} == {"web", "cache"}
    outside = write_tree(tmp_path / "b", app_chart("file://../../outside"))
    chart_repo_mod.write_chart(tmp_path, name="outside", version="1.0.0", files={})
    with pytest.raises(errors.UnsafePathError):
        render_tree(outside)
