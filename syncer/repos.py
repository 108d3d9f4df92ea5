"""Repository URLs compared and taken apart the same way everywhere (stdlib only).

``syncer.controller`` matches a webhook's repository to sources with ``repo_key``;
``syncer.notify`` finds the OWNER/REPO of an app's source for commit statuses with
``repo_path``. Apart from ``syncer.source`` so that neither pulls in Git.
"""

from __future__ import annotations

import re


def repo_key(url: str) -> str:
    """A webhook's repository URL compared loosely: host lowercased, no scheme, user,
    ``.git`` suffix or trailing slash (``git@host:team/x.git`` == ``https://host/team/x``)."""
    text = url.strip()
    scp = re.match(r"^[^/@:]+@([^/:]+):(?!//)(.*)$", text)
    if scp:
        host, path = scp.group(1), scp.group(2)
    else:
        text = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", text)
        text = re.sub(r"^[^/@]+@", "", text)
        host, _, path = text.partition("/")
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[:-4]
    return f"{host.lower()}/{path}"


def repo_path(url: str) -> str:
    """``team/deploy`` of ``https://git.example.com/team/deploy.git`` (or of
    ``git@host:team/deploy.git``): the repository's path on its server."""
    return repo_key(url).partition("/")[2]
