"""The OCI Distribution API client for one registry host.

Callers (``registry.resolve``, the CLI, ``syncer.images``) name repositories in full
(``127.0.0.1:5000/team/web``). Each request goes through ``registry.auth`` for
credentials and ``registry.transport`` for rate limits, retries and counting. Always
sends the four manifest media types in ``Accept``: without them registries answer 404.
"""

from __future__ import annotations

import hashlib
import logging
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from registry import (
    answers,
    auth,
    challenges,
    credentials,
    errors,
    reference,
    settings,
    transport,
)

log = logging.getLogger(__name__)

OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST = answers.MANIFEST_TYPES
MANIFEST_TYPES = answers.MANIFEST_TYPES
INDEX_TYPES = answers.INDEX_TYPES
ACCEPT = ", ".join(MANIFEST_TYPES)


@dataclass(frozen=True)
class TagList:
    tags: tuple[str, ...]
    truncated: bool = False
    """True when the scan budget stopped the listing early."""
    pages: int = 1
    etag: str = ""
    not_modified: bool = False
    """The registry answered 304 to our ``If-None-Match``: same tags as last time."""
    fingerprint: str = ""
    """sha256 of the sorted tags: equal lists have equal fingerprints."""
    invalid: int = 0
    """Tags skipped for breaking the OCI tag grammar."""
    limit: str = ""
    """When ``truncated``: which limit stopped the listing, e.g. ``the scan budget of 250
    tags`` or ``the page cap of 1000 pages``."""


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str
    body: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES or "manifests" in self.body


def _same_origin(url: str, base: str) -> bool:
    a, b = urllib.parse.urlsplit(url), urllib.parse.urlsplit(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def fingerprint(tags: tuple[str, ...]) -> str:
    return hashlib.sha256("\n".join(sorted(tags)).encode()).hexdigest()


class Client:
    """Talks to one registry; thread-safe; keeps tokens and counters across calls."""

    def __init__(
        self,
        config: settings.ClientSettings,
        *,
        credentials_source: credentials.Source | None = None,
        counters: transport.Counters | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        book: challenges.ChallengeBook | None = None,
    ) -> None:
        """``book``: challenges kept across restarts (``registry.challenges``)."""
        self.settings = config
        self.host = config.host
        api_host = reference.DOCKER_HUB_API if config.host == reference.DOCKER_HUB else config.host
        plain = config.insecure or (reference.is_loopback(config.host) and not config.ca_file)
        self.base_url = f"{'http' if plain else 'https'}://{api_host}"
        self.transport = transport.Transport(config, counters=counters, sleep=sleep)
        self.auth = auth.Authenticator(
            host=config.host,
            http=self.transport,
            source=credentials_source,
            clock=clock,
            https=not plain,
            remembered=book.get(config.host) if book else None,
            remember=(lambda found: book.keep(config.host, found)) if book else None,
        )

    @property
    def counters(self) -> transport.Counters:
        return self.transport.counters

    def close(self) -> None:
        self.transport.close()

    # -- plumbing ------------------------------------------------------------------------

    def path(self, repository: str | reference.Reference) -> str:
        """The repository's path in this registry; refuses other registries' names."""
        ref = (
            repository
            if isinstance(repository, reference.Reference)
            else reference.parse_repository(repository)
        )
        if ref.domain != self.host:
            raise errors.InvalidReferenceError(
                f"repository {ref.repository} is not on registry {self.host}"
            )
        return ref.path

    def _request(
        self,
        method: str,
        url: str,
        *,
        kind: str,
        scope: str,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> requests.Response:
        """One request with auth; 401s renegotiate (at most twice), then AuthError.

        The first 401 may only be discovery (no credentials sent yet); the second may
        reject a token that expired early; a third means we are truly refused.
        """
        for attempt in (1, 2, 3):
            credentials = self.auth.headers(scope)
            status = 0
            try:
                response = self.transport.send(
                    method, url, kind=kind, headers={**(headers or {}), **credentials},
                    params=params,
                )  # fmt: skip
                status = response.status_code
                if status != 401:
                    return response
                self.auth.on_unauthorized(response, scope=scope, retry=attempt < 3)
            finally:
                # Also when it failed: a request waiting to learn the scheme goes on.
                self.auth.settled(answered_anonymously=not credentials and status not in (0, 401))
        raise AssertionError("unreachable")  # on_unauthorized raises on the third 401

    def _pull(
        self,
        method: str,
        *,
        path: str,
        resource: str,
        ref: str,
        kind: str,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """A read of ``/v2/<path>/<resource>`` with pull scope; an answer other than 200
        raises the error ``_fail`` makes of it (about ``path`` and ``ref``)."""
        response = self._request(
            method,
            f"{self.base_url}/v2/{path}/{resource}",
            kind=kind,
            scope=f"repository:{path}:pull",
            headers=headers,
        )
        if response.status_code != 200:
            raise self._fail(response, path=path, ref=ref)
        return response

    def _fail(self, response: requests.Response, *, path: str, ref: str = "") -> Exception:
        """The error for a non-2xx answer about ``path`` (and tag/digest ``ref``)."""
        detail = auth.registry_error(response)
        code = detail.partition(":")[0]
        name = f"{self.host}/{path}" + (f":{ref}" if ref else "")
        if response.status_code == 404:
            if code == "NAME_UNKNOWN" or not ref:
                return errors.NotFoundError(
                    f"repository {self.host}/{path} not found (NAME_UNKNOWN)",
                    code="NAME_UNKNOWN",
                )
            # HEAD answers carry no body: a 404 there is an unknown tag or digest.
            return errors.NotFoundError(
                f"{name} not found: no such tag or digest (MANIFEST_UNKNOWN)",
                code=code or "MANIFEST_UNKNOWN",
            )
        if response.status_code == 403:
            return errors.AuthError(
                f"registry {self.host} denied access to {name}{': ' + detail if detail else ''}"
            )
        return errors.ResponseError(
            f"registry {self.host} answered HTTP {response.status_code} for {name}"
            f"{': ' + detail if detail else ''}"
        )

    # -- API -----------------------------------------------------------------------------

    def ping(self) -> None:
        """Check the registry speaks the Distribution API and we may use it."""
        with self.transport.call(f"checking {self.host}/v2/"):
            response = self._request("GET", f"{self.base_url}/v2/", kind="ping", scope="")
        if response.status_code != 200:
            raise self._fail(response, path="", ref="/v2/")

    def list_tags(
        self,
        repository: str | reference.Reference,
        *,
        budget: int | None = None,
        etag: str = "",
    ) -> TagList:
        """All tags (following ``Link: rel="next"``), at most ``budget`` of them.

        With ``etag`` from the previous listing, an unchanged repository may answer 304
        (``not_modified``) and cost nothing more. Tags that break the OCI grammar are
        skipped and counted; a page that is not a tag list, a ``Link`` to another host
        or repository, or one back to a page already read, is a ``ResponseError``.
        """
        path = self.path(repository)
        with self.transport.call(f"listing the tags of {self.host}/{path}"):
            return self._list_tags(path, limit=budget or self.settings.scan_budget, etag=etag)

    def _list_tags(self, path: str, *, limit: int, etag: str) -> TagList:
        scope = f"repository:{path}:pull"
        first = f"{self.base_url}/v2/{path}/tags/list"
        url: str | None = first
        params: dict[str, Any] | None = {"n": min(self.settings.page_size, limit)}
        found: dict[str, None] = {}  # insertion-ordered, without duplicates
        pages, first_etag, invalid, stopped_by = 0, "", 0, ""
        read: set[str] = set()
        while url:
            page_url = url + ("?" + urllib.parse.urlencode(params) if params else "")
            if page_url in read:
                # A Link back to a page already read: following it would never end.
                raise errors.ResponseError(
                    f"registry {self.host} paginates the tags of {path} in a loop: page "
                    f"{pages + 1} links back to an earlier page; refusing to follow it"
                )
            if pages >= self.settings.max_pages:
                stopped_by = f"the page cap of {self.settings.max_pages} pages"
                break
            read.add(page_url)
            headers = {"If-None-Match": etag} if etag and pages == 0 else {}
            response = self._request(
                "GET", url, kind="tags", scope=scope, headers=headers, params=params
            )
            pages += 1
            if response.status_code == 304:
                return TagList((), pages=pages, etag=etag, not_modified=True)
            if response.status_code == 400 and pages == 1 and params:
                # Some registries refuse a page size above their own maximum: ask without.
                params, pages = None, 0
                read.clear()
                continue
            if response.status_code != 200:
                raise self._fail(response, path=path)
            if pages == 1:
                first_etag = response.headers.get("ETag", "")
            try:
                page = answers.tag_page(response.content)
            except answers.Invalid as err:
                raise errors.ResponseError(
                    f"registry {self.host} sent an invalid tag list for {self.host}/{path} "
                    f"(page {pages}): {err}"
                ) from err
            for tag in page:
                if not reference.is_tag(tag):
                    invalid += 1
                    log.debug("registry=%s repository=%s invalid tag %.140r", self.host, path, tag)
                    continue
                if tag in found:
                    continue
                if len(found) >= limit:
                    stopped_by = f"the scan budget of {limit} tags"
                    break
                found[tag] = None
            next_url = response.links.get("next", {}).get("url")
            if stopped_by or not next_url:
                break
            url, params = urllib.parse.urljoin(response.url, next_url), None
            if not _same_origin(url, self.base_url):
                # Our Authorization header would follow the link: never to another host.
                raise errors.ResponseError(
                    f"registry {self.host} paginates {path} to another host; refusing to "
                    "send our credentials there"
                )
            if urllib.parse.urlsplit(url).path != urllib.parse.urlsplit(first).path:
                raise errors.ResponseError(
                    f"registry {self.host} paginates the tags of {path} to another resource "
                    f"({urllib.parse.urlsplit(url).path[:120]!r}); refusing to follow it"
                )
        if invalid:
            log.warning(
                "registry=%s repository=%s skipped=%d tags that are not valid OCI tags",
                self.host,
                path,
                invalid,
            )
        tags = tuple(found)
        return TagList(
            tags,
            bool(stopped_by),
            pages,
            first_etag,
            False,
            fingerprint(tags),
            invalid,
            stopped_by,
        )

    def _manifest(self, method: str, *, path: str, ref: str) -> requests.Response:
        """HEAD or GET of ``manifests/<ref>``, asking for every manifest media type."""
        return self._pull(
            method,
            path=path,
            resource=f"manifests/{ref}",
            ref=ref,
            kind="manifest-head" if method == "HEAD" else "manifest-get",
            headers={"Accept": ACCEPT},
        )

    def _invalid(self, *, path: str, ref: str, what: str, err: Exception) -> errors.ResponseError:
        sep = ":" if reference.digest_problem(ref) else "@"
        return errors.ResponseError(
            f"registry {self.host} sent an invalid {what} for {self.host}/{path}{sep}{ref}: {err}"
        )

    def head_digest(self, repository: str | reference.Reference, ref: str) -> str:
        """The digest a tag (or digest) points at: a HEAD, or GET+hash if none is sent."""
        path = self.path(repository)
        with self.transport.call(f"finding the digest of {self.host}/{path}:{ref}"):
            response = self._manifest("HEAD", path=path, ref=ref)
            sent = response.headers.get("Docker-Content-Digest", "")
            if not sent:
                # Some registries omit the header on HEAD: the digest is the body's sha256.
                return self.get_manifest(repository, ref).digest
            try:
                digest = answers.digest(sent, what="Docker-Content-Digest")
            except answers.Invalid as err:
                raise self._invalid(path=path, ref=ref, what="digest", err=err) from err
            if not reference.digest_problem(ref) and digest != ref:
                raise errors.ResponseError(
                    f"registry {self.host} answered {digest} for {self.host}/{path}@{ref}"
                )
            return digest

    def get_manifest(self, repository: str | reference.Reference, ref: str) -> Manifest:
        """The manifest (or index) ``ref`` names, checked against its digest and the spec."""
        path = self.path(repository)
        with self.transport.call(f"reading the manifest of {self.host}/{path}:{ref}"):
            response = self._manifest("GET", path=path, ref=ref)
        raw = response.content
        digest = answers.digest_of(raw)
        try:
            sent = response.headers.get("Docker-Content-Digest", "")
            if sent:
                answers.digest(sent, what="Docker-Content-Digest")
                algorithm = sent.partition(":")[0]
                if answers.digest_of(raw, algorithm=algorithm) != sent:
                    raise answers.Invalid(f"the body does not match its digest {sent}")
                digest = sent
            if not reference.digest_problem(ref):
                if answers.digest_of(raw, algorithm=ref.partition(":")[0]) != ref:
                    raise answers.Invalid("the body does not match the digest asked for")
                digest = ref
            media_type, body = answers.manifest(
                raw, content_type=response.headers.get("Content-Type", "")
            )
        except answers.Invalid as err:
            raise self._invalid(path=path, ref=ref, what="manifest", err=err) from err
        return Manifest(digest, media_type, body)

    def get_blob(
        self, repository: str | reference.Reference, digest: str, *, max_size: int
    ) -> bytes:
        """The blob ``digest`` (e.g. a Helm chart's archive layer), checked against its
        digest; one larger than ``max_size`` bytes (or the body limit) is refused."""
        path = self.path(repository)
        try:
            answers.digest(digest, what="blob digest")
        except answers.Invalid as err:
            raise errors.InvalidReferenceError(f"{self.host}/{path}@{digest}: {err}") from err
        with self.transport.call(f"reading blob {digest} of {self.host}/{path}"):
            response = self._pull(
                "GET", path=path, resource=f"blobs/{digest}", ref=digest, kind="blob"
            )
        raw = response.content
        if len(raw) > max_size:
            raise errors.ResponseError(
                f"registry {self.host} sent {len(raw)} bytes for {self.host}/{path}@{digest}, "
                f"above the limit of {max_size} bytes; refusing it"
            )
        if answers.digest_of(raw, algorithm=digest.partition(":")[0]) != digest:
            raise self._invalid(
                path=path, ref=digest, what="blob",
                err=answers.Invalid("the body does not match its digest"),
            )  # fmt: skip
        return raw

    def platform_manifest(
        self, repository: str | reference.Reference, ref: str, *, platform: str = "linux/amd64"
    ) -> Manifest:
        """The image for ``os/arch[/variant]``: the manifest itself, or its index's entry."""
        manifest = self.get_manifest(repository, ref)
        if not manifest.is_index:
            return manifest
        want = platform.split("/")
        entries = manifest.body.get("manifests") or []
        for entry in entries:
            plat = entry.get("platform") or {}
            have = [plat.get("os", ""), plat.get("architecture", "")]
            if len(want) > 2:
                have.append(plat.get("variant", ""))
            if have == want:
                # Checked by answers.manifest: the entry's digest is a valid digest.
                return self.get_manifest(repository, str(entry["digest"]))
        available = sorted(
            "/".join(
                filter(
                    None,
                    [
                        (e.get("platform") or {}).get(k, "")
                        for k in ("os", "architecture", "variant")
                    ],
                )
            )
            for e in entries
        )
        raise errors.NotFoundError(
            f"{self.host}/{self.path(repository)}:{ref} has no image for {platform} "
            f"(it has: {', '.join(available) or 'none'})",
            code="PLATFORM_UNKNOWN",
        )

    def image_created(
        self, repository: str | reference.Reference, ref: str, *, platform: str = "linux/amd64"
    ) -> str:
        """The ``created`` time of the image's config blob (RFC 3339), or ""."""
        manifest = self.platform_manifest(repository, ref, platform=platform)
        config_digest = str((manifest.body.get("config") or {}).get("digest") or "")
        if not config_digest:
            return ""
        path = self.path(repository)
        with self.transport.call(f"reading the config of {self.host}/{path}:{ref}"):
            response = self._pull(
                "GET",
                path=path,
                resource=f"blobs/{config_digest}",
                ref=config_digest,
                kind="blob",
            )
        try:
            algorithm = config_digest.partition(":")[0]
            if answers.digest_of(response.content, algorithm=algorithm) != config_digest:
                raise answers.Invalid(f"the blob does not match its digest {config_digest}")
            return answers.image_config(response.content)
        except answers.Invalid as err:
            raise self._invalid(path=path, ref=ref, what="image config", err=err) from err
