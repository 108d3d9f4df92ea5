"""A release id is a content address: same inputs, same id; any change, a new id."""

from __future__ import annotations

import dataclasses

import pytest

from syncer import release
from syncer.config import model

WEB = release.Image(repository="reg.example/team/web", tag="1.4.2", digest="sha256:" + "a" * 64)
API = release.Image(repository="reg.example/team/api", tag="2.0.0", digest="sha256:" + "b" * 64)


def make(**overrides: object) -> release.Release:
    args: dict[str, object] = {
        "app": "web",
        "commit": "c" * 40,
        "images": [WEB, API],
        "config_digest": "sha256:x",
    }
    args.update(overrides)
    return release.make(**args)  # type: ignore[arg-type]


def test_same_inputs_give_same_id_whatever_the_image_order_or_time() -> None:
    a = make(now=1.0)
    b = make(images=[API, WEB], now=2.0)
    assert a.id == b.id
    assert len(a.id) == 64
    assert a.images == b.images  # kept sorted


@pytest.mark.parametrize(
    "change",
    [
        {"app": "api"},
        {"commit": "d" * 40},
        {"images": [WEB]},
        {"images": [dataclasses.replace(WEB, digest="sha256:" + "c" * 64), API]},
        {"images": [dataclasses.replace(WEB, tag="1.4.3"), API]},
        {"config_digest": "sha256:y"},
    ],
)
def test_any_input_change_gives_a_new_id(change: dict[str, object]) -> None:
    assert make(**change).id != make().id


def test_release_is_immutable_and_round_trips_through_dict() -> None:
    r = make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.commit = "x"  # type: ignore[misc]
    assert release.Release.from_dict(r.to_dict()) == r


def test_image_ref_pins_digest_when_known() -> None:
    assert WEB.ref == "reg.example/team/web:1.4.2@sha256:" + "a" * 64
    assert release.Image(repository="r/x", tag="1.0", digest="").ref == "r/x:1.0"


def test_config_digest_follows_render_and_gateway_settings_not_sync_timing() -> None:
    app = model.App(name="web", source="deploy", path="apps/web")
    moved = dataclasses.replace(app, path="apps/web2")
    slower = dataclasses.replace(app, sync=model.SyncOptions(wait=10))
    relaxed = dataclasses.replace(app, gateway=model.GatewayPolicy(max_replicas=20))
    assert release.config_digest(app) != release.config_digest(moved)
    assert release.config_digest(app) != release.config_digest(relaxed)
    assert release.config_digest(app) == release.config_digest(slower)


def test_describe_names_commit_and_tags() -> None:
    text = make().describe()
    assert text.startswith(make().short_id)
    assert "commit ccccccc" in text and "web:1.4.2" in text


def test_a_gateway_rule_added_later_keeps_existing_releases_ids_at_its_default() -> None:
    app = model.App(name="web", source="deploy", path="apps/web")
    # The digest of this app before checkQuota existed (a release recorded by then).
    assert release.config_digest(app) == (
        "sha256:be3d90a1878c885a6335a17fdab49f9ce0375a13c5355799d43ca8453d4e60aa"
    )
    off = dataclasses.replace(app, gateway=model.GatewayPolicy(check_quota=False))
    assert release.config_digest(off) != release.config_digest(app)
