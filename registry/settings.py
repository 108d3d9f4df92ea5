"""Plain settings of one registry client; built by callers from their own config.

``syncer.images`` fills these from ``syncer.config.model.Registry``; the CLI from its
flags. Nothing here reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClientSettings:
    host: str
    """Registry host[:port] as in image references (``docker.io`` for Docker Hub)."""
    insecure: bool = False
    """Plain HTTP. Automatic for localhost/127.0.0.1 unless ``ca_file`` is set, like docker."""
    ca_file: str = ""
    """PEM bundle trusted for this registry instead of the system store."""
    timeout: float = 30.0
    """Seconds for one HTTP request in total: connecting, the headers and the whole body,
    however slowly they come (not per read). 30 s: registries answer in well under 1 s."""
    deadline: float = 120.0
    """Seconds for one whole registry call in total: every page of a tag list, every retry,
    backoff, ``Retry-After`` wait and token fetch. 120 s bounds a poll of a dying registry
    (4 tries of 30 s) without cutting a healthy listing of a large repository."""
    max_body: int = 16 * 1024 * 1024
    """Bytes of one answer's body at most (read as it streams, refused past the cap).
    16 MiB: a 100,000-tag list in one page fits; OCI manifests stay under 4 MiB."""
    max_pages: int = 1000
    """Pages of one tag list at most; a longer listing stops there like the scan budget.
    1000: 50,000 tags in Docker Hub's pages of 100 take 500."""
    max_redirects: int = 5
    """Redirects followed per request (registries redirect blobs to storage once)."""
    per_second: float = 5.0
    """Sustained requests per second (token bucket). 5/s keeps us far from Hub's limits."""
    burst: int = 10
    """Requests allowed at once after idling (bucket size)."""
    max_concurrency: int = 4
    """Requests in flight at once to this registry."""
    retries: int = 3
    """Extra attempts after a 5xx, a connection error or a short 429."""
    backoff: float = 0.5
    """First retry delay in seconds, doubled each time (0.5, 1, 2)."""
    max_retry_after: float = 30.0
    """Longest 429 ``Retry-After`` waited inline; longer ones raise RateLimitedError."""
    scan_budget: int = 50_000
    """Most tags read from one repository per poll; bounds time and memory."""
    page_size: int = 1000
    """``n`` asked per tags/list page (registries may ignore or cap it)."""
    user_agent: str = "syncer-registry/0.1"

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("registry host is empty; write e.g. registry.example.com:5000")
        for name in ("timeout", "deadline", "per_second"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} of registry {self.host} must be > 0")
        for name in (
            "burst",
            "max_concurrency",
            "scan_budget",
            "page_size",
            "max_body",
            "max_pages",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} of registry {self.host} must be >= 1")
        if self.max_redirects < 0:
            raise ValueError(f"max_redirects of registry {self.host} must be >= 0")
        if self.retries < 0 or self.backoff < 0 or self.max_retry_after < 0:
            raise ValueError(f"retries/backoff/max_retry_after of {self.host} must be >= 0")
