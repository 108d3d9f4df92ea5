"""The newest-build policy: the tag whose image was built last (Argo CD's ``newest-build``).

Built by ``registry.policies.build`` from ``newest-build[:os/arch]``. Tags say nothing
about when they were built, so ``registry.resolve`` gives the orderer a ``created``
lookup (the image config's ``created`` time, read through ``registry.client`` and cached
per tag) before the tag pipeline runs; the artifact, ignore and regex filters come first,
which is what keeps the number of lookups small. Equal build times (one image under
several tags) go to the alphabetically last tag, as in Argo CD Image Updater.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from registry import errors
from registry.policies import base

DEFAULT_PLATFORM = "linux/amd64"
MAX_TAGS = 100
"""At most this many candidate tags are looked up (each costs two or three requests)."""

_PLATFORM = re.compile(r"[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?")
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?\d*([Zz]|[+-]\d{2}:\d{2})"
)


def instant(text: str) -> tuple[int, int] | None:
    """(seconds since the epoch, nanoseconds) of an RFC 3339 time, or None."""
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        return None
    day, clock, fraction, zone = match.groups()
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        moment = dt.datetime.fromisoformat(f"{day}T{clock}{zone}")
    except ValueError:
        return None
    return int(moment.timestamp()), int((fraction or "0").ljust(9, "0"))


@dataclass(frozen=True)
class NewestBuild:
    platform: str = DEFAULT_PLATFORM
    created: Callable[[str], str] | None = dataclasses.field(
        default=None, compare=False, repr=False
    )
    """Tag -> RFC 3339 build time ("" when unknown); set by ``registry.resolve``."""

    @classmethod
    def build(cls, platform: str) -> NewestBuild:
        value = (platform or DEFAULT_PLATFORM).strip()
        if not _PLATFORM.fullmatch(value):
            raise errors.InvalidPolicyError(
                f"invalid platform {platform!r} for the newest-build policy; expected "
                "os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8"
            )
        return cls(value)

    @property
    def label(self) -> str:
        return "newest-build" + ("" if self.platform == DEFAULT_PLATFORM else f":{self.platform}")

    def with_lookup(self, created: Callable[[str], str]) -> NewestBuild:
        return dataclasses.replace(self, created=created)

    def pick(self, candidates: list[tuple[str, str]]) -> base.Outcome:
        if self.created is None:
            raise errors.InvalidPolicyError(
                "the newest-build policy reads build times from the registry; use "
                "registry.resolve, not select()"
            )
        if len(candidates) > MAX_TAGS:
            raise errors.InvalidPolicyError(
                f"newest-build would read the build time of {len(candidates)} tags (at most "
                f"{MAX_TAGS}, each costs 2-3 requests); narrow them with a filter or an "
                "ignore list"
            )
        dated: list[tuple[tuple[int, int], str, str]] = []
        for tag, _value in candidates:
            try:
                when = self.created(tag)
            except errors.NotFoundError:
                when = ""  # deleted since the listing, or no image for our platform
            moment = instant(when)
            if moment is not None:
                dated.append((moment, tag, when))
        undated = len(candidates) - len(dated)
        notes = (f"{base.plural(undated, 'tag')} without a build time",) if undated else ()
        if not dated:
            return base.Outcome(None, "no candidate has a build time", notes)
        _, tag, when = max(dated)
        count = base.plural(len(dated), "tag")
        return base.Outcome(tag, f"newest build ({when}) of {count}", notes)
