"""Safety limits of rendering, as settings with their reasons.

Passed to ``syncer.render.render`` by the caller; checked by ``files`` (bytes read) and
``yamlload`` (documents and aliases). A hostile or broken repository hits a limit and
gets a clear error instead of exhausting the controller's memory.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 4 * 1024 * 1024
    """Bytes per manifest or values file (default 4 MiB: Kubernetes refuses objects over
    1.5 MiB, so a larger file is a mistake or an attack)."""
    max_app_bytes: int = 32 * 1024 * 1024
    """Bytes read, or produced by kustomize/helm, for one app (default 32 MiB)."""
    max_objects: int = 10_000
    """Objects per app (default 10,000)."""
    max_yaml_nodes: int = 1_000_000
    """YAML nodes per file once aliases are expanded (default 1,000,000): anchors and
    aliases stay usable, while an alias bomb (a few lines expanding to billions of
    nodes) is refused before anything is built."""
    tool_timeout: float = 120.0
    """Seconds kustomize or helm may run (default 2m)."""
