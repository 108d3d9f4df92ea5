"""Helm charts: ``helm template`` of a chart directory in the snapshot.

Called by ``syncer.render.render`` when the app's path holds a ``Chart.yaml``. Values
files (relative to the chart, templated per cluster) must resolve inside the snapshot;
inline values from the config go last, so they win. The release name defaults to the
app's name and the namespace is the app's. CRDs in ``crds/`` are included; chart tests
are not; hooks are placed in sync waves before or after the chart's objects (helmhooks).
``.Capabilities`` are the target cluster's (its version and served APIs) when the
caller can ask the cluster, as Argo CD passes them. A chart whose templates generate
values (``randAlphaNum``, ``genCA``...) is rendered twice and the fields that differ are
marked for ``syncer.render.generated``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from syncer.config import model
from syncer.render import (
    dependencies,
    errors,
    files,
    generated,
    helmhooks,
    limits,
    objects,
    paths,
    tools,
    yamlload,
)

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What ``.Capabilities`` tells a chart about the target cluster, from its discovery:
    ``helm template`` otherwise assumes its own default version and the built-in APIs
    only, so objects gated on ``.Capabilities.APIVersions.Has`` never render."""

    kube_version: str
    """e.g. ``v1.37.2``."""
    api_versions: tuple[str, ...]
    """``group/version`` and ``group/version/Kind`` of every served resource."""


def render(
    *,
    root: Path,
    chart: Path,
    app: model.App,
    values_files: list[str],
    values: dict[str, Any],
    budget: files.Budget,
    limits: limits.Limits,
    tool_paths: tools.Tools,
    what: str,
    capabilities: Callable[[], Capabilities | None] | None = None,
    fetch: dependencies.Fetch | None = None,
) -> list[objects.Item]:
    """``fetch`` gets chart dependencies missing from ``charts/`` (``dependencies``)."""
    root = root.resolve()
    bad_links = paths.escaping_links(root=root, start=chart)
    if bad_links:
        raise errors.UnsafePathError(
            f"{bad_links[0]}: symlink resolves outside the repository (symlink escape); "
            "links must point inside the repo"
        )
    for path in _chart_files(chart):
        if path.stat().st_size > limits.max_file_bytes:
            budget.read(path=path, shown=paths.relative(root=root, path=path))
    helm = tool_paths.find("helm")
    if not helm:
        raise errors.ToolMissingError(
            f"{what}: a Helm chart needs the 'helm' binary, which was not found on PATH: "
            "install helm"
        )
    args = [
        helm, "template", app.helm.release_name or app.name, str(chart),
        "--namespace", app.namespace, "--include-crds", "--skip-tests",
    ]  # fmt: skip
    found = capabilities() if capabilities is not None else None
    if found is not None:
        args += ["--kube-version", found.kube_version]
        for api_version in found.api_versions:
            args += ["--api-versions", api_version]
    else:
        log.info("%s: no cluster discovery: helm's default .Capabilities apply", what)
    for name in values_files:
        if name.startswith("/") or "://" in name:
            raise errors.UnsafePathError(
                f"{what}: values file {name!r} must be a path relative to the chart"
            )
        target = (chart / name).resolve()
        paths.check_inside(root=root, path=target, shown=name, what=f"{what}: values file")
        if not target.is_file():
            raise errors.RenderError(f"{what}: values file {name!r} does not exist in the chart")
        budget.read(path=target, shown=paths.relative(root=root, path=target))
        args += ["--values", str(target)]
    with tempfile.TemporaryDirectory(prefix="syncer-values-") as tmp:
        if dependencies.missing(chart):
            copy = dependencies.resolve(
                root=root, chart=chart, into=Path(tmp), fetch=fetch, what=what
            )
            args[args.index(str(chart))] = str(copy)
            chart = copy
        if values:
            inline = Path(tmp) / "inline-values.yaml"
            inline.write_text(yaml.safe_dump(values, sort_keys=True))
            args += ["--values", str(inline)]
        out = tools.run(args, cwd=chart, timeout=limits.tool_timeout, budget=budget, what=what)
        again = None
        if generated.may_generate(chart):
            # The same inputs once more: what differs is made anew at each render.
            # Its output is not charged to the app's budget a second time.
            spare = files.Budget(limits=limits, app=app.name)
            again = tools.run(args, cwd=chart, timeout=limits.tool_timeout, budget=spare, what=what)
    items, notes = helmhooks.order(parse_output(out, what=what, max_nodes=limits.max_yaml_nodes))
    if again is not None and again != out:
        second = parse_output(again, what=what, max_nodes=limits.max_yaml_nodes)
        notes += generated.differing(items, helmhooks.order(second)[0])
    for note in notes:
        log.warning("%s: %s", what, note)
    return items


def parse_output(out: str, *, what: str, max_nodes: int) -> list[objects.Item]:
    """Objects of ``helm template`` output, each with the template it came from (helm
    writes ``# Source: chart/templates/x.yaml`` at the top of every document)."""
    items: list[objects.Item] = []
    # A top-level "---" line always separates documents (block scalars are indented).
    for chunk in _SEPARATOR.split(out):
        source = _SOURCE.search(chunk)
        origin = f"helm template {source[1]}" if source else "helm output"
        for doc in yamlload.load_all(chunk, shown=f"{what}: {origin}", max_nodes=max_nodes):
            where = origin if doc.index == 0 else f"{origin} (document {doc.index})"
            items += objects.collect(data=doc.data, origin=where)
    return items


_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)
_SOURCE = re.compile(r"^# Source: (.+)$", re.MULTILINE)


def _chart_files(chart: Path) -> list[Path]:
    return [p for p in chart.rglob("*") if p.is_file() and not p.is_symlink()]
