"""The JSON Schema of syncer.yaml for editors: published, generated from the model (no
drift), a valid draft 2020-12 schema, accepting every valid config the project has and
refusing what the loader refuses by structure (unknown keys, wrong types, missing keys)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from syncer.config import schema
from tests.binaries import REPO_ROOT

VALID = sorted(
    [
        *REPO_ROOT.glob("examples/*/syncer.yaml"),
        *(Path(__file__).parent / "testdata" / "valid").glob("*.yaml"),
    ]
)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    published = json.loads(schema.PUBLISHED.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(published)
    return jsonschema.Draft202012Validator(published)


def test_the_published_schema_is_what_the_model_generates() -> None:
    assert schema.PUBLISHED.read_text(encoding="utf-8") == schema.text(), (
        "regenerate it: python -m syncer.config.schema --update syncer/config/syncer.schema.json"
    )


@pytest.mark.parametrize("path", VALID, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_valid_config_passes(validator: Any, path: Path) -> None:
    errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


UNKNOWN = "does not match any of the regexes: '^x-'"  # only x- keys are free
BASE = {
    "sources": [{"name": "deploy", "git": {"url": "https://git.example.com/d.git"}}],
    "clusters": [{"name": "dev", "kubeconfig": "~/.kube/config"}],
    "apps": [
        {
            "name": "web",
            "source": "deploy",
            "path": "web",
            "namespace": "web",
            "clusters": ["dev"],
            "images": [{"repository": "r.example.com/web", "policy": {"semver": "^1"}}],
            "sync": {"wait": "5m", "prune": True},
        }
    ],
}


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(BASE))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (_with(["settingz"], {}), f"'settingz' {UNKNOWN}"),
        (_with(["apps", 0, "images", 0, "policy"], {"semvr": "^1"}), f"'semvr' {UNKNOWN}"),
        (_with(["apps", 0, "sync", "wait"], "five minutes"), "is not valid under any"),
        (_with(["apps", 0, "sync", "prune"], "yes"), "is not of type 'boolean'"),
        (_with(["apps", 0, "clusters"], {"dev": True}), "is not valid under any"),
        (_with(["sources", 0, "git"], {"branch": "main"}), "'url' is a required property"),
        (_with(["clusters", 0, "qps"], -1), "is less than the minimum of 0"),
    ],
    ids=["unknown-key", "misspelt-policy", "bad-duration", "string-boolean", "bad-selection",
         "missing-url", "negative-qps"],
)  # fmt: skip
def test_structural_mistakes_are_flagged(
    validator: Any, doc: dict[str, Any], expected: str
) -> None:
    assert validator.is_valid(BASE)
    messages = " | ".join(e.message for e in validator.iter_errors(doc))
    assert expected in messages, messages


def test_x_keys_are_allowed_for_anchors(validator: Any) -> None:
    assert validator.is_valid({**BASE, "x-defaults": {"anything": [1, 2]}})
