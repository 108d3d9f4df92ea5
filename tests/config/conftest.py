"""Helpers for the configuration tests: load YAML text as if it were a file."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from syncer import errors
from syncer.config import loader, model

TESTDATA = Path(__file__).parent / "testdata"

PRELUDE = """\
sources:
  - name: deploy
    git: {url: https://git.example.com/team/deploy.git}
clusters:
  - {name: dev, labels: {env: dev}}
  - {name: prod, labels: {env: prod}}
"""


def load_text(text: str, *, base_dir: str = "/etc/syncer") -> model.Config:
    return loader.loads(textwrap.dedent(text), filename="syncer.yaml", base_dir=base_dir)


def problems_of(text: str, *, base_dir: str = "/etc/syncer") -> list[str]:
    with pytest.raises(errors.ConfigError) as caught:
        load_text(text, base_dir=base_dir)
    return caught.value.problems


def with_app(app_lines: str) -> str:
    """The prelude plus one app ``web`` (source deploy, clusters dev and prod) + extra lines."""
    extra = textwrap.indent(textwrap.dedent(app_lines), "    ")
    return PRELUDE + "apps:\n  - name: web\n    source: deploy\n    clusters: [dev, prod]\n" + extra
