"""The README's configuration reference is generated from the schema and cannot drift."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

from syncer.config import model, reference, walker

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_reference_matches_the_schema():
    document = README.read_text(encoding="utf-8")
    assert reference.BEGIN in document and reference.END in document, (
        f"README.md lost its reference markers; put them back and run: {reference.REGENERATE}"
    )
    assert reference.between_markers(document) == reference.render(), (
        f"README.md's configuration reference is out of date; run: {reference.REGENERATE}"
    )


def test_every_field_a_user_can_write_is_documented():
    for value in vars(model).values():
        if isinstance(value, type) and dataclasses.is_dataclass(value):
            if value in (model.SecretRef, model.ClusterSelection):
                continue
            for key, field in walker.yaml_fields(value).items():
                assert field.metadata.get("doc"), f"{value.__name__}.{key} has no doc"


def test_every_section_and_field_appears():
    text = reference.render()
    for heading in (
        "`apps[].images[].policy`",
        "`pipelines[].stages[].window`",
        "`server.webhooks`",
    ):
        assert f"### {heading}" in text
    assert "| `rollbackOnFailure` | boolean | `true` |" in text
    assert "| `interval` | duration | `1m` |" in text
    assert "| `passwordFrom` | secret reference |" in text
    assert "| `clusters` | cluster selection | **required** |" in text


def test_update_rewrites_only_between_the_markers(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(f"# title\n\nbefore\n\n{reference.BEGIN}\nstale\n{reference.END}\n\nafter\n")
    done = subprocess.run(
        [sys.executable, "-m", "syncer.config.reference", "--update", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text = path.read_text()
    assert text.startswith("# title\n\nbefore\n\n")
    assert text.endswith(f"{reference.END}\n\nafter\n")
    assert "stale" not in text
    assert reference.between_markers(text) == reference.render()


def test_printing_the_reference():
    done = subprocess.run(
        [sys.executable, "-m", "syncer.config.reference"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout == reference.render()
