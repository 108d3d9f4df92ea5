"""Deciding which image each app should run: the glue from syncer's config to ``registry``.

``syncer.reconcile`` (through ``LiveParts.decide``) and ``syncer render`` call
``Images.decide(app_image)``; this module turns the config's ``registries`` settings
into ``registry.ClientSettings`` and credential sources (``env:``/``file:``/``secret:``
refs resolved by ``syncer.config.secrets`` whenever the registry asks us to log in, a
docker ``config.json``, a ``kubernetes.io/dockerconfigjson`` pull Secret), keeps one
``registry.Client`` per host (shared tokens, rate limit and counters) and one
``registry.PollCache`` (a poll where nothing changed costs one request), counts every
request in ``syncer_registry_requests_total``, and turns ``registry`` errors into
``syncer.errors``. Passwords read from docker configs and pull Secrets are registered
with ``syncer.redact`` like every other credential.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import registry
from syncer import errors, metrics, redact
from syncer.config import model, secrets


class ImagePolicyError(errors.PermanentError):
    """The image's repository or policy is invalid: fix the config."""


class NoMatchingTagError(errors.PermanentError):
    """No tag of the repository satisfies the policy (until someone pushes one)."""


class RegistryUnavailableError(errors.TemporaryError):
    """The registry rate-limits us; retry after ``retry_after`` seconds."""


class RegistryError(errors.SyncerError):
    """The registry is unreachable, refused our credentials, or lacks the repository."""


class RegistryUnreachableError(RegistryError):
    """No answer from the registry (DNS, refused connection, timeout, repeated 5xx)."""


def policy_spec(image: model.AppImage) -> str:
    """``KIND:VALUE`` of an image's policy, e.g. ``semver:^1.2``, ``digest:latest`` or
    ``newest-build:linux/amd64``."""
    p = image.policy
    if p.newest_build is not None:
        return f"newest-build:{p.newest_build.platform}"
    for kind in ("semver", "alphabetical", "numerical", "digest"):
        value = getattr(p, kind)
        if value:
            return f"{kind}:{value}"
    raise ImagePolicyError(
        f"image {image.repository}: no policy set; expected one of semver, alphabetical, "
        "numerical, digest, newestBuild"
    )


def policy_key(image: model.AppImage) -> str:
    """A stable name of everything that chooses an image's tag (policy, filter, ignore
    list): images with equal keys in one repository share one decision."""
    key = policy_spec(image)
    if image.filter is not None:
        key += f" filter:{image.filter.pattern}"
        if image.filter.extract:
            key += f" extract:{image.filter.extract}"
    if image.ignore:
        key += f" ignore:{','.join(image.ignore)}"
    return key


def canonical_host(host: str) -> str:
    """``index.docker.io`` -> ``docker.io``; other hosts as written."""
    try:
        return registry.parse_repository(f"{host.strip()}/x").domain
    except registry.RegistryError:
        return host.strip()


def client_settings(reg: model.Registry, *, base_dir: str) -> registry.ClientSettings:
    """``registry.ClientSettings`` from a ``registries[]`` entry."""
    ca_file = os.path.join(base_dir, os.path.expanduser(reg.ca_file)) if reg.ca_file else ""
    return registry.ClientSettings(
        host=canonical_host(reg.host),
        insecure=reg.insecure,
        ca_file=ca_file,
        timeout=reg.timeout,
        deadline=reg.deadline,
        scan_budget=reg.scan_budget,
        max_pages=reg.max_pages,
        max_body=reg.max_body_size,
        per_second=reg.rate_limit.per_second,
        burst=reg.rate_limit.burst,
        max_concurrency=reg.rate_limit.max_concurrency,
    )


def credential_source(
    reg: model.Registry,
    *,
    base_dir: str,
    read_secret: secrets.SecretReader | None = None,
) -> registry.Chain | None:
    """Credentials of a ``registries[]`` entry, read again whenever the registry asks."""
    auth = reg.auth
    if auth is None:
        return None
    sources: list[Any] = []
    if auth.username_from is not None or auth.password_from is not None:
        user_ref, password_ref = auth.username_from, auth.password_from

        def fetch() -> tuple[str, str]:
            user = (
                secrets.resolve(user_ref, base_dir=base_dir, read_secret=read_secret, secret=False)
                if user_ref
                else ""
            )
            password = (
                secrets.resolve(password_ref, base_dir=base_dir, read_secret=read_secret)
                if password_ref
                else ""
            )
            return user, password

        sources.append(registry.Dynamic(fetch))
    if auth.docker_config:
        path = os.path.join(base_dir, os.path.expanduser(auth.docker_config))
        sources.append(registry.DockerConfig(path))
    if auth.pull_secret:
        namespace, _, name = auth.pull_secret.partition("/")

        def pull_secret() -> str:
            if read_secret is None:
                raise ImagePolicyError(
                    f"registry {reg.host}: pullSecret {auth.pull_secret} needs access to a "
                    "Kubernetes cluster, which this command does not have; use dockerConfig "
                    "or usernameFrom/passwordFrom"
                )
            return read_secret(namespace, name, ".dockerconfigjson")

        sources.append(
            registry.DockerConfigJSON(pull_secret, where=f"pullSecret {auth.pull_secret}")
        )
    return registry.Chain([_Masked(source) for source in sources]) if sources else None


class _Masked:
    """A credential source whose secrets are registered with ``syncer.redact``."""

    def __init__(self, source: Any) -> None:
        self._source = source

    def lookup(self, host: str) -> registry.Credentials | None:
        found: registry.Credentials | None = self._source.lookup(host)
        if found:
            for value in (found.password, found.identity_token):
                if value:
                    redact.register(value)
        return found


def convert(err: registry.RegistryError, *, image: str) -> errors.SyncerError:
    """The syncer error for a registry error, saying which image it is about."""
    message = f"image {image}: {err}"
    if isinstance(err, registry.InvalidPolicyError | registry.InvalidReferenceError):
        return ImagePolicyError(message)
    if isinstance(err, registry.NoCandidateError):
        return NoMatchingTagError(message)
    if isinstance(err, registry.RateLimitedError):
        return RegistryUnavailableError(message, retry_after=err.retry_after)
    if isinstance(err, registry.UnreachableError):
        return RegistryUnreachableError(message)
    return RegistryError(message)


def _count_request(host: str, kind: str) -> None:
    metrics.REGISTRY_REQUESTS.labels(registry=host, kind=kind).inc()


ERROR_REASONS: tuple[tuple[type[registry.RegistryError], str], ...] = (
    (registry.RateLimitedError, "rate-limited"),
    (registry.UnreachableError, "unreachable"),
    (registry.AuthError, "auth"),
    (registry.NotFoundError, "not-found"),
    (registry.ResponseError, "response"),
)
"""The ``reason`` label of ``syncer_registry_errors_total`` per error the registry
answered with (or failed to); the first match wins."""


def _count_error(repository: str, err: registry.RegistryError) -> None:
    """Count a failed look at ``repository`` in ``syncer_registry_errors_total``; a bad
    policy or reference, or no tag in range, is the config's problem, not the registry's."""
    reason = next((r for kind, r in ERROR_REASONS if isinstance(err, kind)), "")
    try:
        host = registry.parse_repository(repository.strip()).domain
    except registry.RegistryError:
        return  # an invalid repository: reported as such, no registry was asked
    if reason:
        metrics.REGISTRY_ERRORS.labels(registry=host, reason=reason).inc()


class Images:
    """Image decisions for one config; thread-safe; call ``close()`` when done."""

    def __init__(
        self,
        config: model.Config,
        *,
        read_secret: secrets.SecretReader | None = None,
        defaults: Callable[[str], registry.ClientSettings] | None = None,
        challenges_file: Path | None = None,
    ) -> None:
        """``challenges_file``: where how each registry authenticates is kept, so that a
        restarted controller meets no 401 to learn it again (``registry.challenges``)."""
        self.config = config
        configured = {canonical_host(r.host): r for r in config.registries}
        self.pool = registry.Pool(
            registries={
                host: client_settings(reg, base_dir=config.base_dir)
                for host, reg in configured.items()
            },
            credentials_for=lambda host: (
                credential_source(
                    configured[host], base_dir=config.base_dir, read_secret=read_secret
                )
                if host in configured
                else None
            ),
            defaults=defaults,
            on_request=_count_request,
            challenges_file=challenges_file,
        )
        self.cache = registry.PollCache()

    def decide(
        self,
        image: model.AppImage,
        *,
        running: Callable[[], Iterable[tuple[str, str]]] | None = None,
        seen: tuple[str, str] | None = None,
    ) -> registry.Decision:
        """Which tag and digest ``image`` should run now, and why.

        ``running``: the (tag, digest) pairs running now; asked only when a limit cut the
        tag list, so that a cut list never chooses below them (``registry.resolve``).
        ``seen``: the (tag, digest) picked before, recorded in the state: picked again,
        that tag needs no HEAD.

        Raises ``ImagePolicyError``/``NoMatchingTagError`` (permanent),
        ``RegistryUnavailableError`` (temporary) or ``RegistryError``.
        """
        pattern = image.filter.pattern if image.filter else ""
        extract = image.filter.extract if image.filter else ""
        try:
            return registry.resolve(
                image.repository.strip(),
                policy_spec(image),
                client=self.pool,
                cache=self.cache,
                pattern=pattern,
                extract=extract,
                ignore_tags=image.ignore,
                running=running,
                seen=seen,
            )
        except registry.RegistryError as err:
            _count_error(image.repository, err)
            raise convert(err, image=image.repository) from err

    def forget(self, repository: str) -> None:
        """Drop what the last poll saw (a webhook said the repository changed)."""
        try:
            name = registry.parse_repository(repository.strip()).repository
        except registry.RegistryError:
            return
        self.cache.forget(name)

    def counts(self) -> dict[str, dict[str, int]]:
        """Registry requests so far: ``{host: {kind: n}}`` (kinds: tags, manifest-head…)."""
        return self.pool.counters.snapshot()

    def close(self) -> None:
        self.pool.close()
