"""Ownership labels render stamps on every object; apply reads the same keys back.

Kept in this small module so every layer (``syncer.apply`` lists and prunes by them)
uses the same constants; values must stay identical to ``syncer.apply.ownership``.
"""

from __future__ import annotations

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
"""Standard Kubernetes label naming the tool that manages an object."""
MANAGED_BY_VALUE = "syncer"
APP_LABEL = "syncer.io/app"
"""The app an object belongs to; apply builds the inventory from it."""
SYNC_WAVE_ANNOTATION = "syncer.io/sync-wave"
"""An integer; lower waves are applied first (default 0), like Argo CD's sync waves."""
REPLACE_ANNOTATION = "syncer.io/replace"
"""``"true"`` on a desired object: delete and re-create it when a change hits an
immutable field (Jobs are always replaced)."""
