"""The config the live tests with a registry share: app ``web`` (path ``web``, namespace
``web``, cluster ``a``) whose Deployment runs ``<registry>/team/web``, kept on the
highest ``^1`` tag, with its state in ``state/syncer.db``."""

from __future__ import annotations

from typing import Any


def web_config(*, source_url: str, kubeconfig: str, registry: dict[str, Any]) -> dict[str, Any]:
    """The config as data; ``registry`` is its ``registries[]`` entry (``host`` at least)."""
    return {
        "sources": [{"name": "deploy", "git": {"url": source_url, "branch": "main"}}],
        "registries": [registry],
        "clusters": [{"name": "a", "kubeconfig": kubeconfig, "context": "a"}],
        "apps": [
            {
                "name": "web",
                "source": "deploy",
                "path": "web",
                "namespace": "web",
                "clusters": ["a"],
                "sync": {"wait": "5s"},
                "images": [
                    {"repository": f"{registry['host']}/team/web", "policy": {"semver": "^1"}}
                ],
            }
        ],
        "state": {"path": "state/syncer.db"},
    }
