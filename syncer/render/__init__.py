"""Rendering: from a snapshot directory to the exact objects one cluster should run.

Sits between ``syncer.source`` (which gives the snapshot) and ``syncer.apply`` (which
applies ``Rendered.objects``). Public API::

    rendered = render.render(app=app, snapshot=revision.path, commit=revision.commit,
                             cluster=cluster, choices=decisions)
    rendered.objects          # list of dicts, apply-ready (namespaced, labelled)
    rendered.image_changes    # [ImageChange(object, container, field, old, new, policy, reason)]

Errors are ``RenderError`` subclasses (all ``syncer.errors.PermanentError``).
"""

from __future__ import annotations

from syncer.render.errors import (
    LimitError,
    RenderError,
    ToolFailedError,
    ToolMissingError,
    UnsafePathError,
)
from syncer.render.helm import Capabilities
from syncer.render.images import ImageChange, ImageChoice, find
from syncer.render.labels import APP_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE
from syncer.render.limits import Limits
from syncer.render.pipeline import Rendered, render
from syncer.render.tools import Tools

__all__ = [
    "APP_LABEL",
    "MANAGED_BY_LABEL",
    "MANAGED_BY_VALUE",
    "Capabilities",
    "ImageChange",
    "ImageChoice",
    "LimitError",
    "Limits",
    "RenderError",
    "Rendered",
    "ToolFailedError",
    "ToolMissingError",
    "Tools",
    "UnsafePathError",
    "find",
    "render",
]
