"""``syncer render -c FILE APP``: print exactly the objects that would be applied.

Registered by ``syncer.cli``. Polls the app's Git source (``syncer.source``; or checks
out ``--revision``), asks the registries which image each of the app's policies picks
(``syncer.images``; skipped with ``--no-images``), renders for one cluster
(``syncer.render``) and prints the objects as a YAML stream (``-o json``: a list). What
the image policies changed goes to stderr, so stdout stays a clean manifest stream.
The Git cache is the controller's (next to the state file), shared safely.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from syncer import errors, images, redact, render, source, state
from syncer.commands import common
from syncer.config import loader, model
from syncer.rollout import selection


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "render",
        help="print the objects an app would apply on a cluster",
        description="Render one app for one cluster from its Git source, with the images "
        "its policies pick now, and print the objects exactly as they would be applied.",
        epilog=EXAMPLES,
    )
    parser.add_argument("-c", "--config", default="syncer.yaml", help="config file")
    common.add_app_arguments(parser, command="render", many=False)
    common.complete(
        parser.add_argument(
            "--cluster", help="render for this cluster (needed when the app targets several)"
        ),
        common.cluster_names,
    )
    parser.add_argument("--revision", help="render this commit instead of the source's ref")
    parser.add_argument(
        "--no-images",
        action="store_true",
        help="leave images as written in Git (no registry requests)",
    )
    parser.add_argument(
        "-o", "--output", choices=("yaml", "json"), default="yaml", help="default: yaml"
    )
    parser.add_argument("--cache-dir", help="Git cache directory (default: next to the state file)")
    parser.set_defaults(func=run)


EXAMPLES = """examples:
  # the objects web would apply (YAML stream); image changes are listed on stderr
  syncer render -c deploy/syncer.yaml web
  # for one of its clusters, at an older commit, with the images written in Git
  syncer render -c deploy/syncer.yaml web --cluster prod --revision 1a2b3c4 --no-images
  syncer render -c deploy/syncer.yaml web | kubectl apply --dry-run=server -f -
"""


def run(args: argparse.Namespace) -> int:
    config = loader.load(args.config)
    app = _find_app(config, args.app)
    cluster = pick_cluster(config, app=app, wanted=args.cluster)
    src = next(s for s in config.sources if s.name == app.source)
    cache_dir = (
        Path(args.cache_dir)
        if args.cache_dir
        else state.cache_path(base_dir=config.base_dir, path=config.state.path)
    )
    sources = source.GitSources(
        source.Settings(cache_dir=cache_dir, base_dir=Path(config.base_dir), auto_cleanup=False)
    )
    resolver = images.Images(config)  # oci:// charts use the registries' credentials
    try:
        charts = source.ChartSources(
            source.ChartSettings(cache_dir=cache_dir, base_dir=Path(config.base_dir)),
            sources=config.sources,
            registry_clients=lambda host: resolver.pool.client_for(images.canonical_host(host)),
        )
        polled: Any = charts if src.helm is not None else sources
        revision = polled.checkout(src, args.revision) if args.revision else polled.poll(src)
        choices = [] if args.no_images else _decide(config, app)
        rendered = render.render(
            app=app, snapshot=revision.path, commit=revision.commit, cluster=cluster,
            choices=choices, fetch=charts.fetch,
        )  # fmt: skip
    finally:
        resolver.close()
    for change in rendered.image_changes:
        print(
            f"image: {change.object} {change.container or change.field}: {change.old} -> "
            f"{change.new} ({change.policy}: {change.reason})",
            file=sys.stderr,
        )
    if not args.no_images:
        for warning in rendered.unmatched_images:
            print(f"warning: {warning}", file=sys.stderr)
    # Secret values are shown as hashes, like everywhere else: they are in the repository.
    write([redact.secret_object(o) for o in rendered.objects], fmt=args.output, stream=sys.stdout)
    return 0


def write(objects: list[dict[str, Any]], *, fmt: str, stream: Any) -> None:
    """A YAML stream (one document per object) or a JSON list."""
    if fmt == "json":
        stream.write(json.dumps(objects, indent=2) + "\n")
    elif objects:
        stream.write(yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False))


def pick_cluster(
    config: model.Config, *, app: model.App, wanted: str | None
) -> model.Cluster | None:
    """The cluster to render for: ``--cluster``, or the app's only (or any, when its
    path and values do not vary per cluster) target; None when it has none."""
    targets = selection.resolve(app.clusters, clusters=config.clusters, what=f"app {app.name!r}")
    if wanted:
        for cluster in targets:
            if cluster.name == wanted:
                return cluster
        names = ", ".join(c.name for c in targets) or "none"
        raise errors.ConfigError(
            [f"app {app.name!r} does not deploy to cluster {wanted!r}; its clusters: {names}"]
        )
    if len(targets) > 1 and _varies_per_cluster(app):
        names = ", ".join(c.name for c in targets)
        raise errors.ConfigError(
            [f"app {app.name!r} renders differently per cluster; pick one with --cluster "
             f"({names})"]
        )  # fmt: skip
    return targets[0] if targets else None


def _varies_per_cluster(app: model.App) -> bool:
    texts = [app.path, *app.helm.values_files, json.dumps(app.helm.values)]
    return any(re.search(r"\{[^{}\s]+\}", text) for text in texts)


def _find_app(config: model.Config, name: str) -> model.App:
    for app in config.apps:
        if app.name == name:
            return app
    names = ", ".join(a.name for a in config.apps) or "none"
    raise errors.ConfigError([f"no app named {name!r} in the config; apps: {names}"])


def _decide(config: model.Config, app: model.App) -> list[Any]:
    if not app.images:
        return []
    resolver = images.Images(config)
    try:
        return [resolver.decide(image) for image in app.images]
    except images.RegistryUnreachableError as err:
        raise images.RegistryUnreachableError(f"{err}; {NO_IMAGES_HINT}") from err
    except images.RegistryUnavailableError as err:
        raise images.RegistryUnavailableError(
            f"{err}; {NO_IMAGES_HINT}", retry_after=err.retry_after
        ) from err


NO_IMAGES_HINT = "add --no-images to render with the image tags written in Git"
