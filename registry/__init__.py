"""Container registries: image references, the OCI Distribution API, auth, tag policies.

Usable on its own; knows nothing of Kubernetes, Git or ``syncer``. The one question it
answers: given an image repository and a policy, which tag and digest should run now,
and why::

    import registry
    pool = registry.Pool(registries={"127.0.0.1:5000": registry.ClientSettings(
        host="127.0.0.1:5000")})
    decision = registry.resolve("127.0.0.1:5000/team/web", "semver:^1.2", client=pool)
    decision.ref   # '127.0.0.1:5000/team/web:1.4.2@sha256:…'

Errors are ``registry.RegistryError`` subclasses (see ``registry.errors``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry.client import Client, Manifest, TagList
    from registry.credentials import (
        Chain,
        Credentials,
        DockerConfig,
        DockerConfigJSON,
        Dynamic,
        Static,
    )
    from registry.decision import Decision
    from registry.errors import (
        AuthError,
        InvalidPolicyError,
        InvalidReferenceError,
        NoCandidateError,
        NotFoundError,
        RateLimitedError,
        RegistryError,
        ResponseError,
        UnreachableError,
    )
    from registry.policies import Policy
    from registry.policies import build as build_policy
    from registry.policies import parse as parse_policy
    from registry.pool import Pool
    from registry.reference import Reference, parse_repository
    from registry.reference import parse as parse_reference
    from registry.resolution import PollCache, resolve
    from registry.settings import ClientSettings
    from registry.transport import Counters

# Each name is imported on first use: reading a policy or a reference (config checks, a
# command that asks no registry) must not pay for the HTTP stack.
_WHERE: dict[str, tuple[str, str]] = {
    "AuthError": ("registry.errors", "AuthError"),
    "Chain": ("registry.credentials", "Chain"),
    "Client": ("registry.client", "Client"),
    "ClientSettings": ("registry.settings", "ClientSettings"),
    "Counters": ("registry.transport", "Counters"),
    "Credentials": ("registry.credentials", "Credentials"),
    "Decision": ("registry.decision", "Decision"),
    "DockerConfig": ("registry.credentials", "DockerConfig"),
    "DockerConfigJSON": ("registry.credentials", "DockerConfigJSON"),
    "Dynamic": ("registry.credentials", "Dynamic"),
    "InvalidPolicyError": ("registry.errors", "InvalidPolicyError"),
    "InvalidReferenceError": ("registry.errors", "InvalidReferenceError"),
    "Manifest": ("registry.client", "Manifest"),
    "NoCandidateError": ("registry.errors", "NoCandidateError"),
    "NotFoundError": ("registry.errors", "NotFoundError"),
    "Policy": ("registry.policies", "Policy"),
    "PollCache": ("registry.resolution", "PollCache"),
    "Pool": ("registry.pool", "Pool"),
    "RateLimitedError": ("registry.errors", "RateLimitedError"),
    "Reference": ("registry.reference", "Reference"),
    "RegistryError": ("registry.errors", "RegistryError"),
    "ResponseError": ("registry.errors", "ResponseError"),
    "Static": ("registry.credentials", "Static"),
    "TagList": ("registry.client", "TagList"),
    "UnreachableError": ("registry.errors", "UnreachableError"),
    "build_policy": ("registry.policies", "build"),
    "parse_policy": ("registry.policies", "parse"),
    "parse_reference": ("registry.reference", "parse"),
    "parse_repository": ("registry.reference", "parse_repository"),
    "resolve": ("registry.resolution", "resolve"),
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'registry' has no attribute {name!r}")
    module, attr = _WHERE[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


__all__ = [
    "AuthError",
    "Chain",
    "Client",
    "ClientSettings",
    "Counters",
    "Credentials",
    "Decision",
    "DockerConfig",
    "DockerConfigJSON",
    "Dynamic",
    "InvalidPolicyError",
    "InvalidReferenceError",
    "Manifest",
    "NoCandidateError",
    "NotFoundError",
    "Policy",
    "PollCache",
    "Pool",
    "RateLimitedError",
    "Reference",
    "RegistryError",
    "ResponseError",
    "Static",
    "TagList",
    "UnreachableError",
    "build_policy",
    "parse_policy",
    "parse_reference",
    "parse_repository",
    "resolve",
]
