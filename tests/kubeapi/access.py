"""TokenRequest (``kubectl create token``) and SelfSubjectAccessReview (``kubectl auth can-i``).

server.py calls these for ``POST …/serviceaccounts/NAME/token`` and
``POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews``; tokens issued here are
authorized by the cluster's RBAC objects (rbac.py), reviews answer with auth.py's
decision for the caller's own token.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from tests.kubeapi import auth, errors

if TYPE_CHECKING:
    from tests.kubeapi.cluster import KubeCluster


def _stamp(delta: float = 0) -> str:
    when = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=delta)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def token_request(cluster: KubeCluster, *, namespace: str, name: str) -> dict[str, Any]:
    if cluster.store.get(("", "serviceaccounts"), namespace, name) is None:
        raise errors.not_found(plural="serviceaccounts", group="", name=name)
    token = cluster.make_token(service_account=f"{namespace}/{name}")
    return {
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": _stamp()},
        "spec": {"audiences": ["https://kubernetes.default.svc"], "expirationSeconds": 3600},
        "status": {"token": token, "expirationTimestamp": _stamp(3600)},
    }


def review(cluster: KubeCluster, grant: auth.Grant | None, body: Any) -> dict[str, Any]:
    spec = (body or {}).get("spec") or {}
    attrs = spec.get("resourceAttributes")
    if attrs:
        resource = attrs.get("resource", "")
        if attrs.get("subresource"):
            resource = f"{resource}/{attrs['subresource']}"
        allowed = cluster.auth.can(
            grant,
            verb=attrs.get("verb", ""),
            resource=resource,
            group=attrs.get("group", ""),
            namespace=attrs.get("namespace", ""),
            name=attrs.get("name", ""),
        )
    elif spec.get("nonResourceAttributes"):
        allowed = True  # discovery, version and health are open to every authenticated user
    else:
        raise errors.invalid(
            kind="SelfSubjectAccessReview",
            group="authorization.k8s.io",
            name="",
            causes=[("FieldValueRequired", "spec.resourceAttributes", "Required value")],
        )
    return {
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": spec,
        "status": {"allowed": allowed},
    }
