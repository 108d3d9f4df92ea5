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
from registry.resolve import PollCache, resolve
from registry.settings import ClientSettings
from registry.transport import Counters

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
