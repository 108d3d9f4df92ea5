"""An image policy that governs no container in the rendered objects is warned about,
naming the policy and the images that were found (e.g. a host:port mismatch)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from registry import decision
from syncer import render
from syncer.config import model
from syncer.render import images, objects

WEB = decision.make(
    repository="127.0.0.1:35000/team/web", tag="1.4.3", digest="sha256:" + "b" * 64,
    reason="1.4.3: highest in ^1.4", policy="semver:^1.4",
)  # fmt: skip


def deployment(image: str) -> dict:
    pod = {"containers": [{"name": "web", "image": image}]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"template": {"spec": pod}},
    }


def test_a_port_mismatch_is_named_with_the_images_found():
    item = objects.Item(obj=deployment("127.0.0.1:5000/team/web:1.0"), origin="d.yaml")
    assert images.rewrite(items=[item], choices=[WEB]) == []
    (warning,) = images.unmatched(objs=[item.obj], choices=[WEB])
    assert warning == (
        "image policy 127.0.0.1:35000/team/web (semver:^1.4) matches no container image "
        "in the rendered objects; images found: 127.0.0.1:5000/team/web:1.0"
    )


def test_a_matching_policy_is_quiet_even_when_already_pinned():
    pinned = f"127.0.0.1:35000/team/web:1.4.3@sha256:{'b' * 64}"
    item = objects.Item(obj=deployment(pinned), origin="d.yaml")
    assert images.rewrite(items=[item], choices=[WEB]) == []  # nothing to change
    assert images.unmatched(objs=[item.obj], choices=[WEB]) == []
    assert images.unmatched(objs=[item.obj], choices=[]) == []


def test_no_containers_at_all_says_none():
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    (warning,) = images.unmatched(objs=[cm], choices=[WEB])
    assert warning.endswith("images found: none")


def test_render_reports_it_with_the_objects(tmp_path: Path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "deploy.yaml").write_text(
        textwrap.dedent(
            """\
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web}
            spec:
              template:
                spec:
                  containers: [{name: web, image: "127.0.0.1:5000/team/web:1.0"}]
            """
        )
    )
    app = model.App(name="web", source="deploy", path="app")
    rendered = render.render(app=app, snapshot=tmp_path, choices=[WEB])
    assert rendered.image_changes == []
    assert len(rendered.unmatched_images) == 1
    assert "127.0.0.1:35000/team/web" in rendered.unmatched_images[0]
    assert "127.0.0.1:5000/team/web:1.0" in rendered.unmatched_images[0]
