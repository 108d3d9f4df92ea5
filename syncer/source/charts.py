"""Helm chart sources: from ``sources[].helm`` to an unpacked chart directory at a version.

The chart counterpart of ``syncer.source.sources``: the reconcile loop (through
``syncer.reconcile.live``) calls ``ChartSources.poll`` / ``checkout`` and gets a
``Revision`` whose ``path`` is the chart directory that ``syncer.render`` renders like a
chart in Git; ``syncer.render.dependencies`` calls ``fetch`` for the dependencies a
chart does not vendor. A poll reads the repository's ``index.yaml`` (https://) or the
chart's tag list (oci://, through the ``registry`` package's client, with the
registry's credentials) and picks the newest version in the source's range, as a Git
source's ``semver`` picks a tag; the archive is downloaded once per digest, checked
and unpacked (``syncer.source.chartfiles``) into a cache beside the Git cache, outside
the state. The "commit" of a chart revision is ``VERSION@sha256:HEX``: a re-published
version with other content is another revision.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import registry
from registry import settings as registry_settings
from registry import transport as registry_transport
from registry.policies import semver
from syncer.config import model, secrets
from syncer.source import auth, chartfiles, errors
from syncer.source import sources as git_sources

log = logging.getLogger(__name__)

CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
"""Media type of the chart archive in an OCI chart manifest (what ``helm push`` writes)."""

KEEP_RECENT = 20
"""Unpacked charts kept beyond the ones sources are at: recent versions for rollbacks,
and the dependencies of the charts being rendered."""

RegistryClients = Callable[[str], registry.Client]
"""The shared registry client of a host (``syncer.images``' pool)."""


@dataclasses.dataclass(frozen=True)
class Settings:
    cache_dir: Path
    """Where chart archives and their unpacked trees are kept; survives restarts."""
    base_dir: Path = Path(".")
    """Directory of the config file (for ``caFile`` and ``file:`` secrets)."""


@dataclasses.dataclass(frozen=True)
class Chosen:
    version: str
    digest: str
    """``sha256:HEX`` of the archive."""


class ChartSources:
    """Every chart source of a config; thread-safe."""

    def __init__(
        self,
        settings: Settings,
        *,
        sources: tuple[model.Source, ...] = (),
        registry_clients: RegistryClients | None = None,
        resolve_secret: auth.Resolver | None = None,
        read_secret: secrets.SecretReader | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``sources``: the config's, whose credentials also serve dependencies
        on the same repository URL."""
        self.settings = settings
        self._configured = [s.helm for s in sources if s.helm is not None]
        self._registry = registry_clients
        self._resolve = resolve_secret or functools.partial(
            secrets.resolve, base_dir=str(settings.base_dir), read_secret=read_secret
        )
        self._clock = clock
        self._current: dict[str, git_sources.Revision] = {}
        self._indexes: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._fetching = threading.Lock()
        self.counts = {"index": 0, "tags": 0, "archive": 0}

    @property
    def root(self) -> Path:
        return self.settings.cache_dir / "charts"

    # --- public ----------------------------------------------------------------------

    def poll(self, source: model.Source, *, max_age: float = 0.0) -> git_sources.Revision:
        """The newest version of the source's chart in its range, unpacked."""
        helm = _helm(source)
        where = f"source {source.name!r} ({helm.url}, chart {helm.chart})"
        chosen = self._choose(helm, where=where, max_age=max_age, wanted=None)
        path, digest, fetched = self._unpacked(helm, chosen, where=where)
        return self._record(
            source, helm=helm, version=chosen.version, digest=digest, path=path, fetched=fetched
        )

    def checkout(self, source: model.Source, commit: str) -> git_sources.Revision:
        """The chart at ``commit`` (``VERSION@sha256:HEX``), downloaded again if needed."""
        helm = _helm(source)
        where = f"source {source.name!r} ({helm.url}, chart {helm.chart})"
        version, _, digest = commit.partition("@")
        if not version or not digest.startswith("sha256:"):
            raise errors.RefNotFoundError(f"{where}: {commit!r} is not VERSION@sha256:DIGEST")
        chosen = Chosen(version=version, digest=digest)
        path, _digest, fetched = self._unpacked(helm, chosen, where=where, check=True)
        return git_sources.Revision(
            source=source.name, url=helm.url, ref=source.ref, commit=commit, path=path,
            label=f"chart {helm.chart} {version}", fetched=fetched,
        )  # fmt: skip

    def current(self, name: str) -> git_sources.Revision | None:
        return self._current.get(name)

    def cleanup(self, *, keep_recent: int = KEEP_RECENT) -> list[str]:
        """Delete cached charts no source is at, but the ``keep_recent`` used last
        (rollbacks and dependencies)."""
        with self._lock:
            in_use = {rev.commit.partition("@")[2] for rev in self._current.values()}
        return chartfiles.prune(root=self.root, keep=in_use, keep_recent=keep_recent)

    def fetch(self, *, url: str, chart: str, version: str, what: str) -> Path:
        """A dependency: ``chart`` at the newest ``version`` in ``url``, unpacked. The
        credentials and limits of a configured chart source on the same URL apply."""
        helm = self.settings_for(url=url, chart=chart, version=version)
        where = f"{what}: dependency {chart} {version or '*'} from {url}"
        chosen = self._choose(helm, where=where, max_age=60.0, wanted=None)
        return self._unpacked(helm, chosen, where=where)[0]

    def settings_for(self, *, url: str, chart: str, version: str) -> model.ChartSource:
        for known in self._configured:
            if known.url.rstrip("/") == url.rstrip("/"):
                return dataclasses.replace(known, url=url, chart=chart, version=version)
        return model.ChartSource(url=url, chart=chart, version=version)

    # --- choosing a version ----------------------------------------------------------

    def _choose(
        self, helm: model.ChartSource, *, where: str, max_age: float, wanted: str | None
    ) -> Chosen:
        if helm.url.startswith("oci://"):
            candidates = self._oci_tags(helm, where=where)
        else:
            entries = self._index_entries(helm, where=where, max_age=max_age)
            candidates = {str(e.get("version", "")): e for e in entries}
        versions = list(candidates) if wanted is None else [v for v in candidates if v == wanted]
        try:
            chooser = semver.Semver.build(helm.version or "*")
        except registry.InvalidPolicyError as err:
            # A dependency's range comes from a Chart.yaml, not from validated config.
            raise errors.RefNotFoundError(f"{where}: {err}") from err
        outcome = chooser.pick([(v, v) for v in versions])
        if outcome.tag is None:
            shown = ", ".join(sorted(candidates)[:10]) or "none"
            raise errors.RefNotFoundError(
                f"{where}: no version matches {helm.version or 'any release'!r} "
                f"(versions: {shown}); publish one or change the version range"
            )
        found = candidates[outcome.tag]
        if helm.url.startswith("oci://"):
            digest = self._oci_layer(helm, tag=outcome.tag, where=where)
            return Chosen(version=outcome.tag.replace("_", "+"), digest=digest)
        digest = found.get("digest")
        if digest is None:
            return Chosen(version=outcome.tag, digest="")  # old indexes: checked on download
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise errors.ChartInvalidError(
                f"{where}: index.yaml lists {digest!r} as the digest of version "
                f"{outcome.tag}, which is not a sha256 digest"
            )
        return Chosen(version=outcome.tag, digest=f"sha256:{digest}")

    def _index_entries(
        self, helm: model.ChartSource, *, where: str, max_age: float
    ) -> list[dict[str, Any]]:
        index = self._index(helm, where=where, max_age=max_age)
        entries = (index.get("entries") or {}).get(helm.chart)
        if not isinstance(entries, list) or not entries:
            raise errors.RefNotFoundError(
                f"{where}: the repository has no chart named {helm.chart!r}"
            )
        return [e for e in entries if isinstance(e, dict)]

    def _index(self, helm: model.ChartSource, *, where: str, max_age: float) -> dict[str, Any]:
        url = helm.url.rstrip("/") + "/index.yaml"
        with self._lock:
            cached = self._indexes.get(url)
        if cached is not None and self._clock() - cached[0] <= max_age:
            return cached[1]
        self.counts["index"] += 1
        raw = self._get(helm, url=url, limit=helm.max_index_size, kind="index", where=where)
        index = chartfiles.parse_index(raw, where=f"{where}: index.yaml")
        with self._lock:
            self._indexes[url] = (self._clock(), index)
        return index

    def _oci_tags(self, helm: model.ChartSource, *, where: str) -> dict[str, Any]:
        client, repository = self._oci(helm, where=where)
        self.counts["tags"] += 1
        try:
            listing = client.list_tags(repository)
        except registry.RegistryError as err:
            raise _converted(err, where=where) from err
        return {tag: None for tag in listing.tags}

    def _oci(self, helm: model.ChartSource, *, where: str) -> tuple[registry.Client, str]:
        if self._registry is None:
            raise errors.SourceError(f"{where}: no registry client for oci:// charts")
        rest = helm.url[len("oci://") :].strip("/")
        host = rest.split("/", 1)[0]
        return self._registry(host), f"{rest}/{helm.chart}"

    # --- archives ----------------------------------------------------------------------

    def _unpacked(
        self, helm: model.ChartSource, chosen: Chosen, *, where: str, check: bool = False
    ) -> tuple[Path, str, bool]:
        """The chart directory of ``chosen`` (downloading it when not cached), its
        archive's digest, and whether it was downloaded now; ``check``: the download must
        have ``chosen.digest`` (a revision asked for by commit)."""
        if chosen.digest:
            found = chartfiles.cached(root=self.root, digest=chosen.digest)
            if found is not None:
                return found, chosen.digest, False
        with self._fetching:
            raw = self._download(helm, chosen, where=where)
            digest = "sha256:" + hashlib.sha256(raw).hexdigest()
            if chosen.digest and digest != chosen.digest:
                problem = (
                    "was re-published with other content"
                    if check
                    else "does not match the digest its repository lists"
                )
                raise errors.ChartInvalidError(
                    f"{where}: the archive of version {chosen.version} ({digest}) {problem} "
                    f"({chosen.digest})"
                )
            path = chartfiles.unpack(
                raw, root=self.root, digest=digest, max_size=8 * helm.max_chart_size,
                where=f"{where}: version {chosen.version}",
            )  # fmt: skip
        return path, digest, True

    def _download(self, helm: model.ChartSource, chosen: Chosen, *, where: str) -> bytes:
        self.counts["archive"] += 1
        if helm.url.startswith("oci://"):
            return self._oci_archive(helm, chosen, where=where)
        entries = self._index_entries(helm, where=where, max_age=60.0)
        entry = next((e for e in entries if str(e.get("version")) == chosen.version), None)
        urls = entry.get("urls") if entry else None
        if not isinstance(urls, list) or not urls or not isinstance(urls[0], str):
            raise errors.RefNotFoundError(
                f"{where}: version {chosen.version} has no archive URL in index.yaml"
            )
        url = urllib.parse.urljoin(helm.url.rstrip("/") + "/", urls[0])
        return self._get(helm, url=url, limit=helm.max_chart_size, kind="archive", where=where)

    def _oci_layer(self, helm: model.ChartSource, *, tag: str, where: str) -> str:
        """The digest of the chart archive that ``tag`` names (one manifest GET)."""
        client, repository = self._oci(helm, where=where)
        try:
            manifest = client.get_manifest(repository, tag)
        except registry.RegistryError as err:
            raise _converted(err, where=where) from err
        layers = manifest.body.get("layers") or []
        layer = next((x for x in layers if x.get("mediaType") == CHART_LAYER), None)
        if layer is None:
            raise errors.ChartInvalidError(
                f"{where}: {repository}:{tag} is not a Helm chart (no {CHART_LAYER} layer)"
            )
        size = int(layer.get("size") or 0)
        if size > helm.max_chart_size:
            raise errors.ChartInvalidError(
                f"{where}: the chart archive of {tag} has {size} bytes, above the limit of "
                f"{helm.max_chart_size} (maxChartSize)"
            )
        return str(layer["digest"])

    def _oci_archive(self, helm: model.ChartSource, chosen: Chosen, *, where: str) -> bytes:
        client, repository = self._oci(helm, where=where)
        try:
            return client.get_blob(repository, chosen.digest, max_size=helm.max_chart_size)
        except registry.RegistryError as err:
            raise _converted(err, where=where) from err

    def _get(
        self, helm: model.ChartSource, *, url: str, limit: int, kind: str, where: str
    ) -> bytes:
        """One GET of ``url`` from an https:// repository, body at most ``limit`` bytes;
        credentials go to the repository's own host only (unless ``passCredentials``)."""
        host = urllib.parse.urlsplit(url).netloc
        ca_file = str(self.settings.base_dir / helm.ca_file) if helm.ca_file else ""
        config = registry_settings.ClientSettings(
            host=host, ca_file=ca_file, timeout=helm.timeout, deadline=3 * helm.timeout,
            max_body=limit, user_agent="syncer-charts/0.1",
        )  # fmt: skip
        client = registry_transport.Transport(config)
        same = _origin(url) == _origin(helm.url.rstrip("/") + "/")
        send = same or helm.pass_credentials
        credentials = self._credentials(helm, where=where) if send else None
        try:
            response = client.send("GET", url, kind=f"chart-{kind}", auth=credentials)
        except registry.ResponseError as err:
            if "above the limit" not in str(err):
                raise _converted(err, where=where) from err
            setting = "maxIndexSize" if kind == "index" else "maxChartSize"
            raise errors.ChartInvalidError(
                f"{where}: the {kind} at {_shown(url)} is larger than {limit} bytes "
                f"({setting}); refusing it"
            ) from err
        except registry.RegistryError as err:
            raise _converted(err, where=where) from err
        finally:
            client.close()
        if response.status_code in (401, 403):
            said = "refused the credentials" if credentials else "needs credentials"
            raise errors.ChartAuthError(
                f"{where}: the repository {said} (HTTP {response.status_code} for {kind}); "
                "set sources[].helm.auth (usernameFrom, passwordFrom)"
            )
        if response.status_code == 404:
            raise errors.RefNotFoundError(f"{where}: {_shown(url)} not found (HTTP 404)")
        if response.status_code != 200:
            raise errors.SourceError(
                f"{where}: the repository answered HTTP {response.status_code} for {_shown(url)}"
            )
        return bytes(response.content)

    def _credentials(self, helm: model.ChartSource, *, where: str) -> tuple[str, str] | None:
        if helm.auth is None or helm.auth.password_from is None:
            return None
        try:
            user = self._resolve(helm.auth.username_from) if helm.auth.username_from else ""
            return user, self._resolve(helm.auth.password_from)
        except (OSError, ValueError, KeyError) as err:
            raise errors.ChartAuthError(f"{where}: cannot read credentials: {err}") from err

    def _record(
        self,
        source: model.Source,
        *,
        helm: model.ChartSource,
        version: str,
        digest: str,
        path: Path,
        fetched: bool,
    ) -> git_sources.Revision:
        commit = f"{version}@{digest}"
        with self._lock:
            before = self._current.get(source.name)
            label = f"chart {helm.chart} {version}"
            revision = git_sources.Revision(
                source=source.name, url=helm.url, ref=source.ref, commit=commit, path=path,
                label=label + (f" ({helm.version})" if helm.version else ""),
                previous=before.commit if before else "", fetched=fetched,
            )  # fmt: skip
            self._current[source.name] = revision
        if revision.changed:
            log.info(
                "event=revision source=%s url=%s chart=%s version=%s digest=%s",
                source.name, helm.url, helm.chart, version, digest,
            )  # fmt: skip
        return revision


def _helm(source: model.Source) -> model.ChartSource:
    if source.helm is None:
        raise errors.SourceError(f"source {source.name!r} is not a Helm chart")
    return source.helm


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, parts.netloc


def _shown(url: str) -> str:
    """The URL without its query (signed storage URLs carry tokens there)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _converted(err: registry.RegistryError, *, where: str) -> errors.SourceError | Exception:
    text = f"{where}: {err}"
    if isinstance(err, registry.AuthError):
        return errors.ChartAuthError(text)
    if isinstance(err, registry.NotFoundError):
        return errors.RefNotFoundError(text)
    if isinstance(err, registry.UnreachableError | registry.RateLimitedError):
        return errors.ChartUnavailableError(text)
    if isinstance(err, registry.ResponseError) and "above the limit" in str(err):
        return errors.ChartInvalidError(text)
    return errors.SourceError(text)
