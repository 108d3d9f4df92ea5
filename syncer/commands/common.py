"""Argument conventions shared by the subcommands: how an app is named, and the names
shell completion offers for apps, clusters and stages.

Used by the ``register`` functions of ``syncer/commands/*`` and by ``syncer.cli`` (which
calls ``finish`` on the parsed arguments before a command runs). One convention for
every command, like ``argocd app sync NAME`` and ``flux reconcile kustomization NAME``:
the app is a positional ``APP``. The older ``--app NAME`` still works where it existed,
with a deprecation note on stderr.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from syncer import errors

DEPRECATED_APP_FLAG = (
    "warning: --app is deprecated: name the app as an argument (`syncer {command} {apps}`)"
)


def add_app_arguments(parser: argparse.ArgumentParser, *, command: str, many: bool) -> None:
    """A positional ``APP`` (``APP ...`` when ``many``: none means every app) plus the
    deprecated ``--app`` flag, merged into ``args.app`` by ``finish``: a list (or None
    for all) when ``many``, else one name."""
    if many:
        action = parser.add_argument(
            "app", nargs="*", metavar="APP", help="only these apps (default: every app)"
        )
    else:
        action = parser.add_argument("app", nargs="?", metavar="APP", help="the app")
    complete(action, app_names)
    flag = parser.add_argument(
        "--app",
        dest="app_flag",
        action="append",
        metavar="APP",
        help="deprecated: give APP as an argument instead",
    )
    complete(flag, app_names)
    parser.set_defaults(finish=_merge(parser, command=command, many=many))


def _merge(parser: argparse.ArgumentParser, *, command: str, many: bool) -> Any:
    def finish(args: argparse.Namespace) -> None:
        flagged: list[str] = args.app_flag or []
        named = (args.app or []) if many else ([args.app] if args.app else [])
        if flagged:
            apps = " ".join(flagged)
            print(DEPRECATED_APP_FLAG.format(command=command, apps=apps), file=sys.stderr)
        if many:
            # None keeps meaning "every app" for the commands' selection code.
            args.app = list(dict.fromkeys([*named, *flagged])) or None
            return
        given = [*named, *flagged]
        if not given:
            parser.error("the following arguments are required: APP")
        if len(given) > 1:
            parser.error(f"one APP only (got {', '.join(given)})")
        args.app = given[0]

    return finish


def finish(args: argparse.Namespace) -> None:
    """Apply the conventions above to parsed arguments (a no-op for other commands)."""
    done = getattr(args, "finish", None)
    if done is not None:
        done(args)


def check_apps(config: Any, wanted: list[str] | None, *, config_path: str) -> None:
    """Unknown APP arguments: a usage error (exit 2) listing the apps there are."""
    names = [a.name for a in config.apps]
    unknown = [w for w in wanted or [] if w not in names]
    if unknown:
        raise errors.ConfigError(
            [f"APP {u}: no such app in {config_path} (apps: {', '.join(names) or 'none'})"
             for u in unknown]
        )  # fmt: skip


# --- completion: names from the config file given with -c (default syncer.yaml) -----------


def _config(parsed_args: argparse.Namespace) -> Any:
    from syncer.config import loader

    try:
        return loader.load(getattr(parsed_args, "config", None) or "syncer.yaml")
    except (errors.SyncerError, OSError, ValueError):
        return None  # no config (yet) or an invalid one: nothing to offer


def app_names(*, prefix: str, parsed_args: argparse.Namespace, **_kwargs: Any) -> list[str]:
    config = _config(parsed_args)
    return [a.name for a in config.apps if a.name.startswith(prefix)] if config else []


def cluster_names(*, prefix: str, parsed_args: argparse.Namespace, **_kwargs: Any) -> list[str]:
    config = _config(parsed_args)
    return [c.name for c in config.clusters if c.name.startswith(prefix)] if config else []


def stage_names(*, prefix: str, parsed_args: argparse.Namespace, **_kwargs: Any) -> list[str]:
    """The stages of the app's pipeline (every pipeline's when no app is named yet)."""
    config = _config(parsed_args)
    if config is None:
        return []
    app = getattr(parsed_args, "app", None)
    stages = [
        s.name
        for p in config.pipelines
        if not app or p.app in ([app] if isinstance(app, str) else app)
        for s in p.stages
    ]
    return [s for s in dict.fromkeys(stages) if s.startswith(prefix)]


def complete(action: argparse.Action, completer: Any) -> argparse.Action:
    """Attach a shell-completion function (``syncer completion``) to ``action``."""
    action.completer = completer  # type: ignore[attr-defined]
    return action
