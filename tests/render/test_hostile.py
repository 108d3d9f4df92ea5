"""Hostile or broken repositories are refused with a clear error naming what is wrong."""

from __future__ import annotations

import os

import pytest

from syncer import errors
from syncer.config import model
from syncer.render import errors as render_errors
from syncer.render import limits, tools
from tests import binaries
from tests.render.conftest import CM, make_app, render_tree, write_tree
from tests.servers.git_fixtures import Symlink
from tests.source.conftest import make_source

BOMB = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: lol}
data:
  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
  h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
  i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_path_traversal_in_app_path(tmp_path):
    write_tree(tmp_path / "repo", {"app/a.yaml": CM % "a"})
    (tmp_path / "secret.yaml").write_text(CM % "stolen")
    with pytest.raises(render_errors.UnsafePathError, match=r"'\.\./secret.yaml' contains '\.\.'"):
        render_tree(tmp_path / "repo", path="../secret.yaml")
    with pytest.raises(render_errors.UnsafePathError, match="is absolute"):
        render_tree(tmp_path / "repo", path="/etc")


def test_traversal_through_a_cluster_label(tmp_path):
    write_tree(tmp_path / "repo", {"envs/dev/a.yaml": CM % "a"})
    evil = model.Cluster(name="c", labels={"env": "../../.."})
    with pytest.raises(render_errors.UnsafePathError, match=r"contains '\.\.'"):
        render_tree(tmp_path / "repo", path="envs/{env}", cluster=evil)


def test_symlink_escape_of_a_file_and_a_directory(tmp_path):
    outside = write_tree(tmp_path / "outside", {"x.yaml": CM % "stolen"})
    repo = write_tree(
        tmp_path / "repo",
        {"app/a.yaml": CM % "a", "app/link.yaml": f"-> {outside / 'x.yaml'}"},
    )
    with pytest.raises(render_errors.UnsafePathError, match=r"'app/link.yaml' resolves outside"):
        render_tree(repo)
    os.unlink(repo / "app/link.yaml")
    os.symlink(outside, repo / "app/dir")
    with pytest.raises(render_errors.UnsafePathError, match="app/dir"):
        render_tree(repo)


def test_symlinks_inside_the_repo_are_fine(tmp_path):
    repo = write_tree(
        tmp_path / "repo",
        {
            "shared/cm.yaml": CM % "shared",
            "app/a.yaml": CM % "a",
            "app/s.yaml": "-> ../shared/cm.yaml",
        },
    )
    names = [o["metadata"]["name"] for o in render_tree(repo).objects]
    assert names == ["a", "shared"]


def test_symlink_escape_from_a_git_repository(git_http, git_sources):
    repo = git_http.create_repo(
        "evil", {"app/a.yaml": CM % "a", "app/passwd.yaml": Symlink("../../../../../../etc/passwd")}
    )
    rev = git_sources().poll(make_source("evil", repo.url, branch="main"))
    assert (rev.path / "app/passwd.yaml").is_symlink()
    with pytest.raises(render_errors.UnsafePathError, match="symlink escape"):
        render_tree(rev.path)


def test_fifty_megabyte_file_is_refused(tmp_path):
    repo = write_tree(tmp_path / "repo", {"app/a.yaml": CM % "a"})
    with open(repo / "app/huge.yaml", "wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    with pytest.raises(render_errors.LimitError, match=r"app/huge.yaml: file is 50.0 MiB, over"):
        render_tree(repo)


def test_app_size_limit(tmp_path):
    repo = write_tree(tmp_path / "repo", {f"app/{n}.yaml": CM % n + "#" * 600 for n in "abc"})
    small = limits.Limits(max_app_bytes=1500)
    with pytest.raises(render_errors.LimitError, match="app 'web': manifests exceed"):
        render_tree(repo, limits=small)


def test_yaml_alias_bomb_is_refused(tmp_path):
    repo = write_tree(tmp_path / "repo", {"app/bomb.yaml": BOMB})
    with pytest.raises(render_errors.LimitError, match=r"app/bomb.yaml: document 0 .*alias bomb"):
        render_tree(repo)


def test_ordinary_anchors_still_work(tmp_path):
    text = CM % "a" + "data: {x: &v '1', z: *v}\n"
    repo = write_tree(tmp_path / "repo", {"app/a.yaml": text})
    objs = render_tree(repo).objects
    assert objs[0]["data"] == {"x": "1", "z": "1"}


def test_invalid_yaml_names_file_and_line(tmp_path):
    text = CM % "a" + "data:\n  key: [unclosed\n  other: 1\n"
    repo = write_tree(tmp_path / "repo", {"app/ok.yaml": CM % "ok", "app/sub/bad.yaml": text})
    with pytest.raises(
        render_errors.RenderError, match=r"^app/sub/bad.yaml:\d+: invalid YAML"
    ) as err:
        render_tree(repo)
    line = int(str(err.value).split(":")[1])
    assert 5 <= line <= 7
    assert isinstance(err.value, errors.PermanentError)


def test_document_that_is_not_an_object_names_file_and_index(tmp_path):
    text = CM % "a" + "---\n# empty\n---\n- just\n- a list\n"
    repo = write_tree(tmp_path / "repo", {"app/x.yaml": text})
    with pytest.raises(
        render_errors.RenderError,
        match=r"app/x.yaml:7 \(document 2\): not a Kubernetes object \(a list",
    ):
        render_tree(repo)
    repo2 = write_tree(tmp_path / "r2", {"app/x.yaml": "apiVersion: v1\nmetadata: {name: a}\n"})
    with pytest.raises(render_errors.RenderError, match=r"document 0.*missing kind"):
        render_tree(repo2)


def test_duplicate_objects_are_refused(tmp_path):
    repo = write_tree(tmp_path / "repo", {"app/a.yaml": CM % "same", "app/b.yaml": CM % "same"})
    with pytest.raises(
        render_errors.RenderError,
        match=r"app/b.yaml.*duplicate ConfigMap shop/same \(also in app/a.yaml",
    ):
        render_tree(repo)


@pytest.mark.parametrize(
    "kind_and_api",
    [("ClusterRole", "rbac.authorization.k8s.io/v1"), ("Widget", "example.com/v1")],
)
def test_cluster_scoped_copies_differing_by_a_stray_namespace_are_duplicates(
    tmp_path, kind_and_api
):
    # The API server drops metadata.namespace of a cluster-scoped object: both copies are
    # the same object, and the second would silently overwrite the first.
    kind, api = kind_and_api
    crd = (
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata: {name: widgets.example.com}\n"
        "spec: {group: example.com, scope: Cluster, names: {kind: Widget, plural: widgets},"
        " versions: [{name: v1, served: true, storage: true}]}\n"
    )
    copy = f"apiVersion: {api}\nkind: {kind}\nmetadata: {{name: same%s}}\n"
    repo = write_tree(
        tmp_path / "repo",
        {
            "app/0-crd.yaml": crd,
            "app/a.yaml": copy % "",
            "app/b.yaml": copy % ", namespace: team",
        },
    )
    with pytest.raises(
        render_errors.RenderError,
        match=rf"app/b.yaml.*duplicate {kind} (team/)?same \(also in app/a.yaml",
    ):
        render_tree(repo)


def test_unknown_placeholder_lists_known_ones(tmp_path):
    repo = write_tree(tmp_path / "repo", {"app/a.yaml": CM % "a"})
    cluster = model.Cluster(name="c1", labels={"env": "dev"})
    with pytest.raises(
        render_errors.RenderError, match=r"unknown placeholder \{region\}.*known: cluster, env"
    ):
        render_tree(repo, path="envs/{region}", cluster=cluster)


def test_missing_path_names_it(tmp_path):
    repo = write_tree(tmp_path / "repo", {"app/a.yaml": CM % "a"})
    with pytest.raises(render_errors.RenderError, match="path 'nope' does not exist"):
        render_tree(repo, path="nope")


def test_kustomize_reference_leaving_the_repo(tmp_path):
    write_tree(
        tmp_path / "outside", {"kustomization.yaml": "resources: [cm.yaml]\n", "cm.yaml": CM % "x"}
    )
    repo = write_tree(tmp_path / "repo", {"app/kustomization.yaml": "resources: [../../outside]\n"})
    with pytest.raises(
        render_errors.UnsafePathError, match=r"'\.\./\.\./outside' resolves outside"
    ):
        render_tree(repo)
    remote = write_tree(
        tmp_path / "r2", {"app/kustomization.yaml": "resources: [https://github.com/x/y//base]\n"}
    )
    with pytest.raises(render_errors.UnsafePathError, match="remote resources are not allowed"):
        render_tree(remote)


def test_helm_values_file_leaving_the_repo(tmp_path):
    repo = write_tree(
        tmp_path / "repo", {"app/Chart.yaml": "apiVersion: v2\nname: x\nversion: 1.0.0\n"}
    )
    app = make_app(helm=model.HelmOptions(values_files=("../../../etc/passwd",)))
    with pytest.raises(render_errors.UnsafePathError, match="resolves outside"):
        render_tree(repo, app=app, tool_paths=tools.Tools(helm="/bin/false"))


def test_helm_chart_symlink_escape(tmp_path):
    repo = write_tree(
        tmp_path / "repo",
        {"app/Chart.yaml": "apiVersion: v2\nname: x\nversion: 1.0.0\n",
         "app/templates/x.yaml": "-> /etc/hostname"},
    )  # fmt: skip
    with pytest.raises(render_errors.UnsafePathError, match=r"app/templates/x\.yaml"):
        render_tree(repo, tool_paths=tools.Tools(helm="/bin/false"))


def test_missing_binaries_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    chart = write_tree(
        tmp_path / "c", {"app/Chart.yaml": "apiVersion: v2\nname: x\nversion: 1.0.0\n"}
    )
    with pytest.raises(render_errors.ToolMissingError, match="needs the 'helm' binary"):
        render_tree(chart)
    kust = write_tree(tmp_path / "k", {"app/kustomization.yaml": "resources: []\n"})
    with pytest.raises(render_errors.ToolMissingError, match="'kustomize' binary \\(or 'kubectl'"):
        render_tree(kust)


def test_helm_template_error_is_reported(tmp_path):
    helm = binaries.require("helm")
    repo = write_tree(
        tmp_path / "repo",
        {"app/Chart.yaml": "apiVersion: v2\nname: x\nversion: 1.0.0\n",
         "app/templates/cm.yaml": "{{ .Values.missing.field }}\n"},
    )  # fmt: skip
    with pytest.raises(
        render_errors.ToolFailedError, match=r"app 'web': helm failed: .*nil pointer"
    ):
        render_tree(repo, tool_paths=tools.Tools(helm=helm))
