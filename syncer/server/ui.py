"""The web UI's files, served at ``/`` on the API listener (``server.ui``).

``syncer.server.http`` asks ``answer`` for every GET that is not the API, a probe or
``/metrics``. The files are the built bundle in ``syncer/ui/dist`` (package data, built
from ``syncer/ui/src`` by ``syncer/ui/build.mjs``): ``index.html`` plus assets whose
names carry a hash of their content. Nothing is fetched from elsewhere at run time; the
page reads and acts only through the JSON API, with the user's token in an
``Authorization`` header (never a cookie), so other sites cannot act in its name.

Headers: a strict Content-Security-Policy (scripts and styles from this origin only, no
inline script, no framing), ``nosniff``, no referrer; the hashed assets are cached for a
year, ``index.html`` is revalidated every time so a new bundle is picked up at once.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from pathlib import Path

DIST = Path(__file__).resolve().parent.parent / "ui" / "dist"
"""Where the built bundle lies inside the package."""

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".map": "application/json",
}
IMMUTABLE = "public, max-age=31536000, immutable"
"""For assets named by their content's hash: a new build gives new names."""
REVALIDATE = "no-cache"
"""For ``index.html``: always asked again (cheaply, with its ETag)."""


@dataclasses.dataclass(frozen=True)
class File:
    body: bytes
    content_type: str
    headers: dict[str, str]


class Missing(Exception):
    """The bundle is not in the package (a source checkout that was never built)."""


@functools.cache
def files(root: Path = DIST) -> dict[str, File]:
    """URL path → file, for every file of the bundle (read once: it is a few hundred KiB)."""
    if not (root / "index.html").is_file():
        raise Missing(f"the web UI is not built: {root / 'index.html'} is missing")
    found: dict[str, File] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        body = path.read_bytes()
        content_type = TYPES.get(path.suffix, "application/octet-stream")
        index = rel == "index.html"
        headers = {
            **SECURITY_HEADERS,
            "Cache-Control": REVALIDATE if index else IMMUTABLE,
            "ETag": '"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        }
        found["/" if index else f"/{rel}"] = File(body, content_type, headers)
    return found


def answer(path: str, *, if_none_match: str | None, root: Path = DIST) -> tuple[int, File] | None:
    """(status, file) for ``path`` (200, or 304 when the client's ETag matches); None
    when the bundle has no such file. ``/index.html`` is ``/``."""
    found = files(root).get("/" if path == "/index.html" else path)
    if found is None:
        return None
    if if_none_match and found.headers["ETag"] in {t.strip() for t in if_none_match.split(",")}:
        return 304, found
    return 200, found
