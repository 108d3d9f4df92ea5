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
