"""Per-cluster variation: ``{cluster}`` and ``{<label>}`` in an app's path and values.

``syncer.render.render`` expands the app's path (``overlays/{env}``), Helm values file
names and string values in inline Helm values with the target cluster's name and
labels, so one app definition serves dev, staging and prod.
"""

from __future__ import annotations

import re
from typing import Any

from syncer.config import model
from syncer.render import errors

_PLACEHOLDER = re.compile(r"\{([^{}\s]+)\}")


def variables(cluster: model.Cluster | None) -> dict[str, str]:
    """What placeholders can name: the cluster's labels, and ``cluster`` (its name)."""
    if cluster is None:
        return {}
    return {**cluster.labels, "cluster": cluster.name}


def expand(text: str, *, values: dict[str, str], what: str) -> str:
    """``text`` with every ``{name}`` replaced; an unknown name is an error."""

    def replace(match: re.Match[str]) -> str:
        name = match[1]
        if name not in values:
            known = ", ".join(sorted(values)) or "none (no cluster given)"
            raise errors.RenderError(
                f"{what}: unknown placeholder {{{name}}} in {text!r}; known: {known}"
            )
        return values[name]

    return _PLACEHOLDER.sub(replace, text)


def expand_values(data: Any, *, values: dict[str, str], what: str) -> Any:
    """A copy of inline Helm values with placeholders in strings expanded."""
    if isinstance(data, str):
        return expand(data, values=values, what=what)
    if isinstance(data, dict):
        return {k: expand_values(v, values=values, what=what) for k, v in data.items()}
    if isinstance(data, list):
        return [expand_values(v, values=values, what=what) for v in data]
    return data
