"""Who calls the JSON API, and what their role lets them do.

``syncer.server.http`` builds one ``Directory`` from the ``server`` settings and asks
``syncer.server.api.authorize`` about every ``/api/`` request: the bearer token is
looked up here (``Directory.identify``), the route's action is checked against the
user's role (``User.may``), and the user's name goes into history ("approved by alice").

Tokens come from three places, all read again when they change, so a rotation needs no
restart: each ``server.users[]`` entry's ``SecretRef`` (through the server's secret cache,
``SECRET_TTL`` seconds), the ``server.tokenFile`` (``TOKEN,USER,ROLE[,STAGE...]`` lines,
read again when its size, inode or modification time changes), and the deprecated single
``server.apiToken`` (the admin user ``api``). Every known token is compared with the one
given, in constant time and without stopping at a match; tokens are never logged.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable

from syncer import errors
from syncer.config import model
from syncer.server import signatures

log = logging.getLogger("syncer.server.users")

READ = "read"
"""The action of every GET: viewers and everyone above them."""
VIEWER, DEPLOYER, APPROVER, ADMIN = model.ROLES
DEPLOYS = frozenset({"sync", "rollback", "suspend", "resume"})
DECIDES = frozenset({"approve", "reject"})
GRANTS: dict[str, frozenset[str]] = {
    VIEWER: frozenset({READ}),
    DEPLOYER: frozenset({READ, *DEPLOYS}),
    APPROVER: frozenset({READ, *DECIDES}),
    ADMIN: frozenset({READ, *DEPLOYS, *DECIDES}),
}
STAGED = DECIDES
"""Actions an approver's ``stages`` limit."""
LEGACY_USER = "api"
"""The name ``server.apiToken`` acts under (what history said before there were users)."""

Resolve = Callable[[model.SecretRef], str]


@dataclasses.dataclass(frozen=True)
class User:
    """An authenticated caller (or the anonymous reader, where allowed)."""

    name: str
    role: str
    stages: frozenset[str] = frozenset()
    """Stages an approver may approve or reject; empty: all."""

    def may(self, action: str) -> bool:
        return action in GRANTS.get(self.role, frozenset())

    def may_stage(self, action: str, stage: str) -> bool:
        return action not in STAGED or not self.stages or stage in self.stages


ANONYMOUS = User(name="anonymous", role=VIEWER)


class TokenFile:
    """``server.tokenFile``, parsed again whenever the file changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._entries: list[tuple[str, User]] = []

    def entries(self) -> list[tuple[str, User]]:
        try:
            st = os.stat(self.path)
        except OSError as err:
            with self._lock:
                if self._seen != (0, 0, 0):
                    log.error(
                        "msg=API token file unreadable path=%s error=%s fix=create it or fix "
                        "server.tokenFile",
                        self.path, err.strerror or err,
                    )  # fmt: skip
                self._seen, self._entries = (0, 0, 0), []
            return []
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            if key != self._seen:
                self._entries = self._read()
                self._seen = key
            return self._entries

    def _read(self) -> list[tuple[str, User]]:
        try:
            with open(self.path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except (OSError, UnicodeDecodeError) as err:
            log.error("msg=API token file unreadable path=%s error=%s", self.path, err)
            return []
        found = []
        for number, line in enumerate(lines, 1):
            entry, problem = parse_line(line)
            if problem:
                # The line number, never the line: it holds a token.
                log.error("msg=API token file line ignored path=%s line=%d problem=%s",
                          self.path, number, problem)  # fmt: skip
            elif entry is not None:
                found.append(entry)
        log.info("msg=API token file read path=%s users=%d", self.path, len(found))
        return found


def parse_line(line: str) -> tuple[tuple[str, User] | None, str]:
    """``TOKEN,USER,ROLE[,STAGE...]`` -> (token, user); blank lines and ``#`` comments
    give neither; a bad line gives a problem naming what is wrong (never the token)."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None, ""
    fields = [f.strip() for f in text.split(",")]
    if len(fields) < 3 or not all(fields[:3]):
        return None, "expected TOKEN,USER,ROLE[,STAGE...]"
    token, name, role, *stages = fields
    if role not in GRANTS:
        return None, f"unknown role {role!r}; expected one of: {', '.join(model.ROLES)}"
    if stages and role != APPROVER:
        return None, f"stages are for approvers only (user {name!r} is a {role})"
    return (token, User(name=name, role=role, stages=frozenset(s for s in stages if s))), ""


class Directory:
    """Every API user syncer knows of, looked up by bearer token."""

    def __init__(self, *, settings: model.Server, resolve: Resolve) -> None:
        self.settings = settings
        self._resolve = resolve
        self._file = TokenFile(settings.token_file) if settings.token_file else None
        if settings.api_token is not None:
            log.warning(
                "msg=server.apiToken is deprecated: it acts as admin user %r; "
                "fix=give each person a server.users entry with a role",
                LEGACY_USER,
            )

    @property
    def configured(self) -> bool:
        """Whether any token can be accepted at all."""
        s = self.settings
        return bool(s.users or s.token_file or s.api_token is not None)

    def identify(self, token: str) -> User | None:
        """The user whose token this is; None when it is nobody's."""
        found: User | None = None
        for known, user in self._known():
            # Every token is compared (no early exit), each in constant time.
            if signatures.check_token(given=token, secret=known) and found is None:
                found = user
        return found

    def _known(self) -> list[tuple[str, User]]:
        known: list[tuple[str, User]] = []
        for entry in self.settings.users:
            value = self._secret(entry.token, who=entry.name)
            if value:
                user = User(name=entry.name, role=entry.role, stages=frozenset(entry.stages))
                known.append((value, user))
        if self._file is not None:
            known.extend(self._file.entries())
        if self.settings.api_token is not None:
            value = self._secret(self.settings.api_token, who=LEGACY_USER)
            if value:
                known.append((value, User(name=LEGACY_USER, role=ADMIN)))
        return known

    def _secret(self, ref: model.SecretRef, *, who: str) -> str:
        """The token's value; a token that cannot be read locks out its user only."""
        try:
            return self._resolve(ref).strip()
        except (errors.SyncerError, OSError, KeyError, ValueError) as err:
            log.error("msg=API token unavailable user=%s ref=%s error=%s", who, ref, err)
            return ""
