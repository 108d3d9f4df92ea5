"""The three write-back forms edit only the values they own: comments, order, quoting
and the rest of each file stay byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncer import release
from syncer.config import model
from syncer.writeback import targets

REPO = "registry.example.com/team/web"
NEW = release.Image(repository=REPO, tag="1.1.0", digest="sha256:" + "b" * 64, policy="semver:^1.0")


def app(**write_back: object) -> model.App:
    return model.App(
        name="web",
        source="deploy",
        path="apps/web",
        clusters=model.ClusterSelection(names=("dev",)),
        images=(model.AppImage(repository=REPO, policy=model.ImagePolicy(semver="^1.0")),),
        write_back=model.WriteBack(**write_back),  # type: ignore[arg-type]
    )


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def edit(root: Path, a: model.App) -> dict[str, str]:
    return {e.path: e.text for e in targets.changes(root=root, app=a, images=[NEW])}


KUSTOMIZATION = """\
# the web app
resources:
  - deployment.yaml   # the workload
images:
  - name: registry.example.com/team/web   # set by syncer
    newTag: "1.0.0"
  - name: nginx
    newTag: 1.25 # someone else's
"""


def test_kustomization_sets_new_tag_and_keeps_everything_else(tmp_path: Path) -> None:
    root = tree(tmp_path, {"apps/web/kustomization.yaml": KUSTOMIZATION})
    out = edit(root, app(kustomization="kustomization.yaml"))
    assert out == {"apps/web/kustomization.yaml": KUSTOMIZATION.replace('"1.0.0"', '"1.1.0"')}


def test_kustomization_adds_digest_and_missing_entries(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {"apps/web/kustomization.yaml": "resources: [deployment.yaml]  # keep\n"},
    )
    out = edit(root, app(kustomization="kustomization.yaml", digest=True))
    assert out["apps/web/kustomization.yaml"] == (
        "resources: [deployment.yaml]  # keep\n"
        "images:\n"
        f"- name: {REPO}\n"
        "  newTag: 1.1.0\n"
        f"  digest: sha256:{'b' * 64}\n"
    )
    # Once written, the same images change nothing.
    tree(root, out)
    assert edit(root, app(kustomization="kustomization.yaml", digest=True)) == {}


def test_kustomization_entry_without_new_tag_gets_one(tmp_path: Path) -> None:
    text = "images:\n- name: registry.example.com/team/web\n  newName: other/web # moved\nx: 1\n"
    root = tree(tmp_path, {"apps/web/kustomization.yaml": text})
    out = edit(root, app(kustomization="kustomization.yaml"))
    assert out["apps/web/kustomization.yaml"] == text.replace(
        "# moved\n", "# moved\n  newTag: 1.1.0\n"
    )


VALUES = """\
replicaCount: 2
image:
  repository: registry.example.com/team/web  # the app
  # the tag syncer keeps updated
  tag: '1.0.0'
  pullPolicy: IfNotPresent
"""


def test_helm_values_key_is_set_in_its_quoting(tmp_path: Path) -> None:
    root = tree(tmp_path, {"apps/web/values.yaml": VALUES})
    target = model.HelmValuesTarget(file="values.yaml", tag="image.tag")
    out = edit(root, app(helm_values=(target,)))
    assert out == {"apps/web/values.yaml": VALUES.replace("'1.0.0'", "'1.1.0'")}


def test_helm_values_missing_key_is_named(tmp_path: Path) -> None:
    root = tree(tmp_path, {"apps/web/values.yaml": VALUES})
    target = model.HelmValuesTarget(file="values.yaml", tag="image.version")
    with pytest.raises(
        targets.WriteBackError, match=r"apps/web/values.yaml has no value at 'image.version'"
    ):
        edit(root, app(helm_values=(target,)))


MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: web}
spec:
  template:
    spec:
      containers:
        - name: web
          image: registry.example.com/team/web:1.0.0   # plain container
        - name: sidecar
          image: nginx:1.25
---
apiVersion: example.com/v1
kind: Rollout
metadata:
  name: canary
spec:
  image: registry.example.com/team/web:1.0.0 # {"$imagepolicy": "web:web"}
  tag: "1.0.0" # {"$imagepolicy": "web:web:tag"}
  other: "1.0.0" # {"$imagepolicy": "another-app:web:tag"}
"""


def test_manifests_markers_and_matching_containers(tmp_path: Path) -> None:
    root = tree(tmp_path, {"apps/web/all.yaml": MANIFEST, "apps/web/notes.txt": "1.0.0"})
    found = targets.changes(root=root, app=app(manifests=True), images=[NEW])
    assert [e.path for e in found] == ["apps/web/all.yaml"]
    expected = (
        MANIFEST.replace("team/web:1.0.0   # plain", "team/web:1.1.0   # plain")
        .replace('1.0.0 # {"$imagepolicy": "web:web"}', '1.1.0 # {"$imagepolicy": "web:web"}')
        .replace(
            '"1.0.0" # {"$imagepolicy": "web:web:tag"}', '"1.1.0" # {"$imagepolicy": "web:web:tag"}'
        )
    )
    assert found[0].text == expected
    assert [(c.object, c.old, c.new) for c in found[0].changes] == [
        ("Deployment/web/web", f"{REPO}:1.0.0", f"{REPO}:1.1.0"),
        ("Rollout/canary", f"{REPO}:1.0.0", f"{REPO}:1.1.0"),
        ("Rollout/canary", "1.0.0", "1.1.0"),
    ]


def test_paths_stay_inside_the_checkout(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text(KUSTOMIZATION)
    root = tree(tmp_path / "repo", {"apps/web/x.yaml": "a: 1\n"})
    (root / "apps/web/kustomization.yaml").symlink_to(outside)
    with pytest.raises(targets.WriteBackError, match="outside the repository"):
        edit(root, app(kustomization="kustomization.yaml"))
    assert outside.read_text() == KUSTOMIZATION


def test_a_symlink_inside_is_edited_where_it_points(tmp_path: Path) -> None:
    root = tree(tmp_path, {"shared/kustomization.yaml": KUSTOMIZATION})
    (root / "apps/web").mkdir(parents=True)
    (root / "apps/web/kustomization.yaml").symlink_to("../../shared/kustomization.yaml")
    assert list(edit(root, app(kustomization="kustomization.yaml"))) == [
        "shared/kustomization.yaml"
    ]


def test_each_values_file_gets_its_own_image_and_an_unchosen_one_is_left(tmp_path: Path) -> None:
    worker = "registry.example.com/team/worker"
    values = "web: {tag: 1.0.0}\nworker: {tag: 0.9.0}\n"
    root = tree(tmp_path, {"apps/web/values.yaml": values})
    two = model.App(
        name="web", source="deploy", path="apps/web",
        clusters=model.ClusterSelection(names=("dev",)),
        images=(
            model.AppImage(repository=REPO, policy=model.ImagePolicy(semver="^1.0")),
            model.AppImage(repository=worker, policy=model.ImagePolicy(semver="^1.0")),
        ),
        write_back=model.WriteBack(helm_values=(
            model.HelmValuesTarget(file="values.yaml", image=REPO, tag="web.tag"),
            model.HelmValuesTarget(file="values.yaml", image=worker, tag="worker.tag"),
        )),
    )  # fmt: skip
    # The worker's registry could not be asked: only the web image was chosen.
    [edited] = targets.changes(root=root, app=two, images=[NEW])
    assert edited.text == "web: {tag: 1.1.0}\nworker: {tag: 0.9.0}\n"
    worker_image = release.Image(repository=worker, tag="1.0.0", digest="", policy="semver:^1.0")
    [edited] = targets.changes(root=root, app=two, images=[NEW, worker_image])
    assert edited.text == "web: {tag: 1.1.0}\nworker: {tag: 1.0.0}\n"
