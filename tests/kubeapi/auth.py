"""Bearer-token authentication and a small authorizer for test clusters.

server.py calls ``Authorizer.check`` before routing: unknown or missing tokens get 401
(except the public ``/version`` and health endpoints), a token limited by ``make_token``
gets 403 Forbidden for verbs, namespaces or resources outside its grant, so tests can
prove least privilege and error handling.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading

from tests.kubeapi import errors, rbac, store

PUBLIC_PATHS = ("/version", "/healthz", "/livez", "/readyz")


@dataclasses.dataclass(frozen=True)
class Grant:
    """What one token may do; None = anything."""

    user: str
    verbs: frozenset[str] | None = None
    namespaces: frozenset[str] | None = None
    resources: frozenset[str] | None = None
    rbac: bool = False  # decided by the cluster's Roles and bindings instead
    groups: tuple[str, ...] = ()

    def allows(self, *, verb: str, resource: str, namespace: str) -> bool:
        if self.verbs is not None and verb not in self.verbs:
            return False
        if self.resources is not None and resource not in self.resources:
            return False
        # cluster-wide requests (namespace "") need a grant without namespace limits
        return self.namespaces is None or namespace in self.namespaces


class Authorizer:
    def __init__(self, *, objects: store.Store) -> None:
        self._store = objects
        self._lock = threading.Lock()
        self._tokens: dict[str, Grant] = {}
        self.admin_token = self.add(Grant(user="admin"))

    def add(self, grant: Grant) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = grant
        return token

    def make_token(
        self,
        *,
        verbs: list[str] | None = None,
        namespaces: list[str] | None = None,
        resources: list[str] | None = None,
        user: str | None = None,
        service_account: str | None = None,
        groups: list[str] | None = None,
    ) -> str:
        if service_account is not None:
            namespace, _, name = service_account.partition("/")
            if not name:
                raise ValueError(
                    f"service_account must be 'namespace/name', not {service_account!r}"
                )
            sa_user, sa_groups = rbac.service_account_user(namespace, name)
            return self.add(Grant(user=sa_user, rbac=True, groups=sa_groups))
        if user is not None and verbs is None and namespaces is None and resources is None:
            return self.add(
                Grant(user=user, rbac=True, groups=(*(groups or ()), "system:authenticated"))
            )
        return self.add(
            Grant(
                user=user or f"limited-{len(self._tokens)}",
                verbs=frozenset(verbs) if verbs is not None else None,
                namespaces=frozenset(namespaces) if namespaces is not None else None,
                resources=frozenset(resources) if resources is not None else None,
            )
        )

    def authenticate(self, header: str | None, path: str) -> Grant | None:
        """The caller's grant; None for anonymous access to a public path; else 401."""
        token = ""
        if header and header.lower().startswith("bearer "):
            token = header[7:].strip()
        with self._lock:
            grant = self._tokens.get(token)
        if grant is not None:
            return grant
        if not token and path in PUBLIC_PATHS:
            return None
        raise errors.ApiError(401, "Unauthorized", "Unauthorized")

    def authorize(
        self,
        grant: Grant | None,
        *,
        verb: str,
        resource: str,
        group: str,
        namespace: str,
        name: str,
    ) -> None:
        if (
            self.can(
                grant, verb=verb, resource=resource, group=group, namespace=namespace, name=name
            )
            or grant is None
        ):
            return
        what = (
            f'{resource}.{group} "{name}"'
            if group and name
            else (
                f"{resource}.{group}" if group else (f'{resource} "{name}"' if name else resource)
            )
        )
        scope = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
        message = (
            f'{what} is forbidden: User "{grant.user}" cannot {verb} resource "{resource}" '
            f'in API group "{group}"{scope}'
        )
        details = {"name": name, "kind": resource}
        if group:
            details["group"] = group
        raise errors.ApiError(403, "Forbidden", message, details=details)

    def can(
        self,
        grant: Grant | None,
        *,
        verb: str,
        resource: str,
        group: str,
        namespace: str,
        name: str,
    ) -> bool:
        if grant is None:
            return True  # public endpoints never reach authorization
        if resource == "selfsubjectaccessreviews" and group == "authorization.k8s.io":
            return True  # system:basic-user: everyone may ask what they may do
        if grant.rbac:
            return rbac.allowed(
                self._store,
                user=grant.user,
                groups=grant.groups,
                verb=verb,
                group=group,
                resource=resource,
                namespace=namespace,
                name=name,
            )
        return grant.allows(verb=verb, resource=resource, namespace=namespace)
