"""Running one golden-file case: ``testdata/<case>/`` holds a syncer config (``syncer.yaml``)
whose source is ``input/`` (the repository), the image ``choices.yaml``, and
``expected/<cluster>.yaml`` (+ ``<cluster>.changes.yaml``) per target cluster.

``UPDATE_GOLDEN=1 pytest tests/render`` rewrites the expected files; review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from registry import decision
from syncer.config import loader, model
from syncer.render import pipeline, tools

TESTDATA = Path(__file__).parent / "testdata"


def cases() -> list[str]:
    return sorted(p.name for p in TESTDATA.iterdir() if (p / "syncer.yaml").is_file())


def load_case(name: str) -> tuple[model.Config, list[decision.Decision]]:
    case = TESTDATA / name
    config = loader.load(case / "syncer.yaml")
    raw = yaml.safe_load((case / "choices.yaml").read_text()) or []
    return config, [decision.make(**c) for c in raw]


def targets(config: model.Config, app: model.App) -> list[model.Cluster]:
    names = app.clusters.names
    return [c for c in config.clusters if c.name in names] if names else list(config.clusters)


def dump(data: Any) -> str:
    return yaml.safe_dump_all(data, sort_keys=False, default_flow_style=False)


def check(name: str, *, tool_paths: tools.Tools) -> list[str]:
    """Render every (app, cluster) of the case; return mismatches (empty = all equal)."""
    config, choices = load_case(name)
    case = TESTDATA / name
    problems = []
    for app in config.apps:
        for cluster in targets(config, app):
            rendered = pipeline.render(
                app=app, snapshot=case / "input", commit="0" * 40, cluster=cluster,
                choices=choices, tool_paths=tool_paths,
            )  # fmt: skip
            outputs = {f"{cluster.name}.yaml": dump(rendered.objects)}
            if rendered.image_changes:
                changes = [c.to_dict() for c in rendered.image_changes]
                outputs[f"{cluster.name}.changes.yaml"] = dump(changes)
            for filename, text in outputs.items():
                expected = case / "expected" / filename
                if os.environ.get("UPDATE_GOLDEN"):
                    expected.parent.mkdir(exist_ok=True)
                    expected.write_text(text)
                elif not expected.is_file():
                    problems.append(f"{name}: missing expected/{filename}")
                elif expected.read_text() != text:
                    problems.append(f"{name}: expected/{filename} differs:\n{text}")
    return problems
