"""Writing kubeconfig files for test clusters (one context per cluster).

fixtures.py and __main__.py call ``write`` with every cluster of a set; the context,
cluster and user entries are all named after the cluster, the first is current.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import yaml

from tests.kubecluster import tls


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    url: str
    token: str


def document(entries: list[Entry]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": e.name,
                "cluster": {"server": e.url, "certificate-authority-data": tls.ca_data()},
            }
            for e in entries
        ],
        "users": [{"name": e.name, "user": {"token": e.token}} for e in entries],
        "contexts": [
            {"name": e.name, "context": {"cluster": e.name, "user": e.name, "namespace": "default"}}
            for e in entries
        ],
        "current-context": entries[0].name if entries else "",
    }


def write(path: str | Path, entries: list[Entry]) -> Path:
    """Write the kubeconfig (mode 0600, it holds tokens) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        os.chmod(tmp, 0o600)
        yaml.safe_dump(document(entries), fh, sort_keys=False)
    tmp.replace(path)
    return path


def contexts(path: str | Path) -> list[tuple[str, str]]:
    """(context name, server URL) for every context of an existing kubeconfig."""
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    servers = {c["name"]: c.get("cluster", {}).get("server", "") for c in doc.get("clusters") or []}
    return [
        (c["name"], servers.get(c.get("context", {}).get("cluster", ""), ""))
        for c in doc.get("contexts") or []
    ]
