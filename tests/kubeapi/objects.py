"""The object lifecycle of one test cluster: what each REST verb does to stored objects.

server.py parses a request and calls one ``Objects`` method; it writes through store.py,
merges with patch.py / apply.py, defaults and validates with defaults.py, and handles
what kube-apiserver's registry and controllers do around a write: uid, timestamps,
generation, resourceVersion preconditions, namespaces (existence, termination),
finalizers and deletionTimestamp, ownerReferences garbage collection, CRD registration
(crds.py) and dry runs. Every method runs under the store lock, so writes are serial.
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import secrets
import uuid
from typing import Any

from tests.kubeapi import (
    apply,
    crd_schema,
    crds,
    defaults,
    errors,
    patch,
    resources,
    selectors,
    store,
)

Obj = dict[str, Any]


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _spec_part(obj: Obj, rt: resources.ResourceType) -> Any:
    """What a generation bump looks at: spec, or for CRs everything but metadata/status."""
    if rt.crd or "spec" not in obj:
        return {
            k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")
        }
    return obj.get("spec")


class Objects:
    """create/get/list/update/patch/delete on one cluster's store."""

    def __init__(self, *, store: store.Store, registry: resources.Registry) -> None:
        self.store = store
        self.registry = registry

    # --- reads ---------------------------------------------------------------------------

    def get(self, rt: resources.ResourceType, namespace: str, name: str) -> Obj:
        obj = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        if obj is None:
            raise errors.not_found(plural=rt.plural, group=rt.group, name=name)
        return self._as_version(obj, rt)

    def schema_of(self, rt: resources.ResourceType) -> dict[str, Any] | None:
        """The openAPIV3Schema of a custom resource's version, if its CRD declares one."""
        if not rt.crd:
            return None
        crd = self.store.get(
            ("apiextensions.k8s.io", "customresourcedefinitions"), "", f"{rt.plural}.{rt.group}"
        )
        return crd_schema.version_schema(crd, rt.version) if crd else None

    def printer_columns(self, rt: resources.ResourceType) -> list[dict[str, Any]] | None:
        """additionalPrinterColumns of a custom resource's version, if its CRD has some."""
        if not rt.crd:
            return None
        crd = self.store.get(
            ("apiextensions.k8s.io", "customresourcedefinitions"), "", f"{rt.plural}.{rt.group}"
        )
        for version in ((crd or {}).get("spec") or {}).get("versions") or []:
            if version.get("name") == rt.version:
                return version.get("additionalPrinterColumns") or None
        return None

    def exists(self, rt: resources.ResourceType, namespace: str, name: str) -> bool:
        return self.store.get(rt.key, namespace if rt.namespaced else "", name) is not None

    def _as_version(self, obj: Obj, rt: resources.ResourceType) -> Obj:
        obj["apiVersion"] = rt.api_version
        obj["kind"] = rt.kind
        return obj

    def list_collection(
        self,
        rt: resources.ResourceType,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = 0,
        continue_token: str | None = None,
    ) -> Obj:
        labels = selectors.parse_labels(label_selector)
        fields = selectors.parse_fields(field_selector, kind=rt.kind)
        with self.store.lock:
            rv = self.store.resource_version
            items = [
                self._as_version(o, rt)
                for o in self.store.select(
                    rt.key,
                    namespace if rt.namespaced else None,
                    where=lambda o: selectors.matches(o, labels=labels, fields=fields),
                )
            ]
        start = ""
        if continue_token:
            try:
                token = json.loads(base64.urlsafe_b64decode(continue_token.encode()))
                start = str(token["start"])
            except (ValueError, KeyError, TypeError) as exc:
                raise errors.bad_request(f"continue key is not valid: {exc}") from exc
            items = [o for o in items if _pos(o) > start]
        meta: Obj = {"resourceVersion": str(rv)}
        if limit and len(items) > limit:
            remaining = len(items) - limit
            items = items[:limit]
            token = {"v": "meta.k8s.io/v1", "rv": rv, "start": _pos(items[-1])}
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
            meta["remainingItemCount"] = remaining
        return {
            "kind": f"{rt.kind}List",
            "apiVersion": rt.api_version,
            "metadata": meta,
            "items": items,
        }

    # --- writes --------------------------------------------------------------------------

    def create(
        self,
        rt: resources.ResourceType,
        namespace: str,
        body: Any,
        *,
        manager: str,
        dry_run: bool,
    ) -> Obj:
        obj = self._check_body(rt, body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        with self.store.lock:
            self._check_namespace(rt, namespace)
            name = meta.get("name", "")
            if name and self.store.get(rt.key, meta.get("namespace", ""), name) is not None:
                raise errors.already_exists(plural=rt.plural, group=rt.group, name=name)
            if rt.status and rt.kind not in ("Namespace", "Service", "PersistentVolumeClaim"):
                obj.pop("status", None)
            return self._commit(rt, None, obj, manager=manager, dry_run=dry_run, subresource="")

    def replace(
        self,
        rt: resources.ResourceType,
        namespace: str,
        name: str,
        body: Any,
        *,
        manager: str,
        dry_run: bool,
        subresource: str = "",
    ) -> Obj:
        obj = self._check_body(rt, body)
        meta = obj.setdefault("metadata", {})
        if meta.get("name", name) != name:
            raise errors.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on "
                f"the URL ({name})"
            )
        with self.store.lock:
            old = self._existing(rt, namespace, name)
            if old is None:
                if subresource:
                    raise errors.not_found(plural=rt.plural, group=rt.group, name=name)
                # PUT creates when the object does not exist (AllowCreateOnUpdate kinds)
                meta["name"] = name
                return self.create(rt, namespace, obj, manager=manager, dry_run=dry_run)
            wanted = meta.get("resourceVersion")
            if wanted and wanted != old["metadata"]["resourceVersion"]:
                raise errors.conflict(plural=rt.plural, group=rt.group, name=name)
            return self._commit(
                rt, old, obj, manager=manager, dry_run=dry_run, subresource=subresource
            )

    def patch(
        self,
        rt: resources.ResourceType,
        namespace: str,
        name: str,
        body: Any,
        *,
        content_type: str,
        manager: str | None,
        force: bool,
        dry_run: bool,
        subresource: str = "",
    ) -> Obj:
        with self.store.lock:
            old = self._existing(rt, namespace, name)
            if content_type == patch.APPLY_PATCH:
                if not manager:
                    raise errors.bad_request(
                        "PATCH, application/apply-patch+yaml requires fieldManager to be set"
                    )
                config = self._check_body(rt, body)
                cmeta = config.setdefault("metadata", {})
                if cmeta.get("name", name) != name:
                    raise errors.bad_request("the name of the object does not match the URL")
                wanted = cmeta.get("resourceVersion")
                if wanted and (old is None or wanted != old["metadata"]["resourceVersion"]):
                    raise errors.conflict(plural=rt.plural, group=rt.group, name=name)
                if old is None and subresource:
                    raise errors.not_found(plural=rt.plural, group=rt.group, name=name)
                if old is None:
                    self._check_namespace(rt, namespace)
                new = apply.server_side_apply(
                    live=old,
                    config=config,
                    manager=manager,
                    force=force,
                    subresource=subresource,
                    kind=rt.kind,
                    group=rt.group,
                    has_status=rt.status,
                    openapi=self.schema_of(rt),
                )
                new["metadata"]["name"] = name
                if rt.namespaced:
                    new["metadata"]["namespace"] = namespace
                return self._commit(
                    rt, old, new, manager=None, dry_run=dry_run, subresource=subresource
                )
            if rt.crd and content_type == patch.STRATEGIC_PATCH:
                raise errors.ApiError(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types "
                    "include: application/json-patch+json, application/merge-patch+json, "
                    "application/apply-patch+yaml",
                )
            if old is None:
                raise errors.not_found(plural=rt.plural, group=rt.group, name=name)
            new = patch.apply_patch(
                content_type=content_type, original=old, body=body, kind=rt.kind
            )
            if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
                raise errors.bad_request("the patch removed the object's metadata")
            wanted = new["metadata"].get("resourceVersion")
            if wanted and wanted != old["metadata"]["resourceVersion"]:
                raise errors.conflict(plural=rt.plural, group=rt.group, name=name)
            new["metadata"]["name"] = name
            return self._commit(
                rt, old, new, manager=manager or "unknown", dry_run=dry_run, subresource=subresource
            )

    def delete(
        self,
        rt: resources.ResourceType,
        namespace: str,
        name: str,
        *,
        dry_run: bool,
        propagation: str | None = None,
        precondition_rv: str | None = None,
        precondition_uid: str | None = None,
    ) -> tuple[Obj, bool]:
        """(object or Status, finished): finished is False when finalizers hold it."""
        with self.store.lock:
            old = self._existing(rt, namespace, name)
            if old is None:
                raise errors.not_found(plural=rt.plural, group=rt.group, name=name)
            if precondition_uid and precondition_uid != old["metadata"].get("uid"):
                raise errors.conflict(plural=rt.plural, group=rt.group, name=name)
            if precondition_rv and precondition_rv != old["metadata"]["resourceVersion"]:
                raise errors.conflict(plural=rt.plural, group=rt.group, name=name)
            policy = propagation or ("Foreground" if rt.kind == "Namespace" else "Background")
            if policy not in ("Background", "Foreground", "Orphan"):
                raise errors.bad_request(f"unsupported propagationPolicy {policy!r}")
            if dry_run:
                return self._as_version(old, rt), True
            return self._delete(rt, old, policy=policy)

    def _delete(self, rt: resources.ResourceType, old: Obj, *, policy: str) -> tuple[Obj, bool]:
        meta = old["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if policy == "Orphan":
            self._orphan(meta["uid"])
        dependents = self._dependents(meta["uid"])
        if rt.kind == "Namespace":
            return self._delete_namespace(rt, old)
        if policy == "Foreground" and dependents and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        if finalizers:
            if not meta.get("deletionTimestamp"):
                new = copy.deepcopy(old)
                new["metadata"]["deletionTimestamp"] = now()
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                new["metadata"]["finalizers"] = finalizers
                old = self.store.save(rt.key, new, event="MODIFIED", prev=old)
            if "foregroundDeletion" in finalizers:
                for drt, dep in dependents:
                    self._delete(drt, dep, policy="Foreground")
                self._settle_foreground(rt, old)
                current = self.store.get(rt.key, meta.get("namespace", ""), meta["name"])
                if current is None:
                    return self._success(rt, old), True
                old = current
            return self._as_version(old, rt), False
        gone = self.store.remove(rt.key, old)
        self._after_removal(rt, gone)
        return self._success(rt, gone), True

    def _success(self, rt: resources.ResourceType, obj: Obj) -> Obj:
        details: Obj = {
            "name": obj["metadata"]["name"],
            "kind": rt.plural,
            "uid": obj["metadata"].get("uid"),
        }
        if rt.group:
            details["group"] = rt.group
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }

    def delete_collection(
        self,
        rt: resources.ResourceType,
        namespace: str | None,
        *,
        label_selector: str | None,
        field_selector: str | None,
        dry_run: bool,
        propagation: str | None,
    ) -> Obj:
        with self.store.lock:
            listed = self.list_collection(
                rt, namespace, label_selector=label_selector, field_selector=field_selector
            )
            for item in listed["items"]:
                m = item["metadata"]
                self.delete(
                    rt, m.get("namespace", ""), m["name"], dry_run=dry_run, propagation=propagation
                )
            return listed

    # --- the write path ------------------------------------------------------------------

    def _check_body(self, rt: resources.ResourceType, body: Any) -> Obj:
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request must be a JSON or YAML object")
        obj = copy.deepcopy(body)
        if obj.get("kind") and obj["kind"] != rt.kind:
            raise errors.bad_request(
                f"the kind of the object ({obj['kind']}) does not match the resource ({rt.kind})"
            )
        if obj.get("apiVersion") and obj["apiVersion"] != rt.api_version:
            raise errors.bad_request(
                f"the API version in the data ({obj['apiVersion']}) does not match the expected "
                f"API version ({rt.api_version})"
            )
        obj["apiVersion"] = rt.api_version
        obj["kind"] = rt.kind
        if not isinstance(obj.get("metadata", {}), dict):
            raise errors.bad_request("metadata must be an object")
        return obj

    def _existing(self, rt: resources.ResourceType, namespace: str, name: str) -> Obj | None:
        return self.store.get(rt.key, namespace if rt.namespaced else "", name)

    def _check_namespace(self, rt: resources.ResourceType, namespace: str) -> None:
        if not rt.namespaced:
            return
        ns = self.store.get(("", "namespaces"), "", namespace)
        if ns is None:
            raise errors.not_found(plural="namespaces", group="", name=namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise errors.ApiError(
                403,
                "Forbidden",
                f"{rt.plural} is forbidden: unable to create new content in namespace "
                f"{namespace} because it is being terminated",
                details={
                    "kind": rt.plural,
                    "group": rt.group,
                    "causes": [
                        {
                            "reason": "NamespaceTerminating",
                            "message": f"namespace {namespace} is being terminated",
                            "field": "metadata.namespace",
                        }
                    ],
                },
            )

    def _commit(
        self,
        rt: resources.ResourceType,
        old: Obj | None,
        new: Obj,
        *,
        manager: str | None,
        dry_run: bool,
        subresource: str,
    ) -> Obj:
        meta = new.setdefault("metadata", {})
        defaults.check_types(new, kind=rt.kind, group=rt.group)
        if subresource == "status" and old is not None:
            merged = copy.deepcopy(old)
            merged["status"] = new.get("status")
            if merged["status"] is None:
                merged.pop("status")
            merged["metadata"]["managedFields"] = meta.get(
                "managedFields", old["metadata"].get("managedFields")
            )
            new, meta = merged, merged["metadata"]
        if old is None:
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now()
            if rt.tracks_generation:
                meta["generation"] = 1
            for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
                meta.pop(key, None)
        else:
            om = old["metadata"]
            for key in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ):
                if key in om:
                    meta[key] = om[key]
                else:
                    meta.pop(key, None)
            if rt.namespaced:
                meta["namespace"] = om.get("namespace", "")
            if rt.status and subresource != "status" and "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            elif rt.status and subresource != "status":
                new.pop("status", None)
            defaults.check_immutable(old, new, kind=rt.kind, group=rt.group)
            added = set(meta.get("finalizers") or []) - set(om.get("finalizers") or [])
            if om.get("deletionTimestamp") and added:
                raise errors.invalid(
                    kind=rt.kind,
                    group=rt.group,
                    name=om["name"],
                    causes=[
                        (
                            "FieldValueForbidden",
                            "metadata.finalizers",
                            "Forbidden: no new finalizers can be added if the object is being "
                            f"deleted, found new finalizers {sorted(added)}",
                        )
                    ],
                )
        if rt.kind == "CustomResourceDefinition":
            crds.prepare(new)
        defaults.apply_defaults(new, kind=rt.kind)
        schema = self.schema_of(rt)
        if schema is not None:
            crd_schema.apply(new, schema, kind=rt.kind, group=rt.group)
        if old is not None and rt.tracks_generation:
            meta["generation"] = (
                int(old["metadata"].get("generation") or 1) + 1
                if _spec_part(old, rt) != _spec_part(new, rt)
                else int(old["metadata"].get("generation") or 1)
            )
        defaults.validate(new, kind=rt.kind, group=rt.group)
        if manager is not None:
            apply.track_update(
                old=old,
                new=new,
                manager=manager,
                subresource=subresource,
                kind=rt.kind,
                has_status=rt.status,
                openapi=self.schema_of(rt),
            )
        if old is not None and _same(old, new):
            return self._as_version(old, rt)  # a no-op write keeps the resourceVersion
        if dry_run:
            if old is None:
                meta.pop("resourceVersion", None)
            return self._as_version(new, rt)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            gone = self.store.remove(rt.key, new)
            self._after_removal(rt, gone)
            return self._as_version(gone, rt)
        saved = self.store.save(rt.key, new, event="ADDED" if old is None else "MODIFIED", prev=old)
        if rt.kind == "CustomResourceDefinition":
            crds.sync_registry(self.registry, saved)
        return self._as_version(saved, rt)

    # --- garbage collection --------------------------------------------------------------

    def _typed(
        self, found: list[tuple[store.Key, Obj]]
    ) -> list[tuple[resources.ResourceType, Obj]]:
        out = []
        for key, obj in found:
            versions = self.registry.versions_of(group=key[0], plural=key[1])
            if versions:
                out.append((versions[0], obj))
        return out

    def _dependents(self, uid: str) -> list[tuple[resources.ResourceType, Obj]]:
        return self._typed(self.store.dependents(uid))

    def _orphan(self, uid: str) -> None:
        for rt, dep in self._dependents(uid):
            new = copy.deepcopy(dep)
            refs = [r for r in dep["metadata"]["ownerReferences"] if r.get("uid") != uid]
            if refs:
                new["metadata"]["ownerReferences"] = refs
            else:
                new["metadata"].pop("ownerReferences")
            self.store.save(rt.key, new, event="MODIFIED", prev=dep)

    def _after_removal(self, rt: resources.ResourceType, gone: Obj) -> None:
        """What the garbage collector and the namespace/CRD controllers do next."""
        if rt.kind == "CustomResourceDefinition":
            crds.unregister(self.registry, self.store, gone)
        for drt, dep in self._dependents(gone["metadata"]["uid"]):
            refs = dep["metadata"].get("ownerReferences") or []
            orphaned = not any(self.store.has_uid(str(r.get("uid"))) for r in refs)
            if orphaned and not dep["metadata"].get("deletionTimestamp"):
                self._delete(drt, dep, policy="Background")
        self._settle_all()

    def _settle_foreground(self, rt: resources.ResourceType, owner: Obj) -> None:
        meta = owner["metadata"]
        if "foregroundDeletion" not in (meta.get("finalizers") or []):
            return
        blocking = [
            d
            for _, d in self._dependents(meta["uid"])
            if any(
                r.get("uid") == meta["uid"] and r.get("blockOwnerDeletion")
                for r in d["metadata"]["ownerReferences"]
            )
        ]
        if blocking:
            return
        new = copy.deepcopy(owner)
        new["metadata"]["finalizers"] = [f for f in meta["finalizers"] if f != "foregroundDeletion"]
        if new["metadata"]["finalizers"]:
            self.store.save(rt.key, new, event="MODIFIED", prev=owner)
            return
        new["metadata"].pop("finalizers")
        gone = self.store.remove(rt.key, new)
        self._after_removal(rt, gone)

    def _settle_all(self) -> None:
        """Finish foreground deletions and namespace terminations that no longer wait."""
        for rt, obj in self._typed(self.store.terminating()):
            current = self._existing(
                rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
            )
            if current is None or not current["metadata"].get("deletionTimestamp"):
                continue
            if rt.kind == "Namespace":
                self._finish_namespace(rt, current)
            else:
                self._settle_foreground(rt, current)

    def _delete_namespace(self, rt: resources.ResourceType, ns: Obj) -> tuple[Obj, bool]:
        name = ns["metadata"]["name"]
        if not ns["metadata"].get("deletionTimestamp"):
            new = copy.deepcopy(ns)
            new["metadata"]["deletionTimestamp"] = now()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            new.setdefault("status", {})["phase"] = "Terminating"
            ns = self.store.save(rt.key, new, event="MODIFIED", prev=ns)
        for crt, obj in self._typed(self.store.in_namespace(name)):
            if crt.namespaced:
                current = self.store.get(crt.key, name, obj["metadata"]["name"])
                if current is not None and not current["metadata"].get("deletionTimestamp"):
                    self._delete(crt, current, policy="Background")
        current = self.store.get(rt.key, "", name)
        if current is None:
            return self._success(rt, ns), True
        return self._finish_namespace(rt, current)

    def _finish_namespace(self, rt: resources.ResourceType, ns: Obj) -> tuple[Obj, bool]:
        name = ns["metadata"]["name"]
        left = self.store.count_in_namespace(name)
        if left or ns["metadata"].get("finalizers"):
            return self._as_version(ns, rt), False
        gone = self.store.remove(rt.key, ns)
        return self._success(rt, gone), True


def _pos(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


def _same(old: Obj, new: Obj) -> bool:
    """Equal but for resourceVersion and managedFields timestamps: nothing to write."""

    def norm(obj: Obj) -> Obj:
        meta = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
        meta["managedFields"] = [
            {k: v for k, v in mf.items() if k != "time"} for mf in meta.get("managedFields") or []
        ]
        return {**obj, "metadata": meta}

    return norm(old) == norm(new)
