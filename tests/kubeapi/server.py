"""HTTP front of a test cluster: parse, fault-inject, authenticate, route, answer, log.

cluster.py starts one ``ThreadingHTTPServer`` per cluster with ``Handler``; each request
goes through faults.py, auth.py, then discovery.py (discovery/OpenAPI), watch.py
(watches) or objects.py (CRUD), and is appended to the cluster's request log. Errors
are ``Status`` objects (errors.py).
"""

from __future__ import annotations

import contextlib
import copy
import http.server
import json
import socket
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

import yaml

from tests.kubeapi import (
    access,
    crd_schema,
    discovery,
    errors,
    fields,
    patch,
    protobuf,
    resources,
    tables,
    watch,
)

if TYPE_CHECKING:
    from tests.kubeapi.cluster import KubeCluster

_WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    cluster: KubeCluster


class _Drop(Exception):
    """Close the connection without answering."""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no delayed-ACK stall between headers and body
    server: Server

    def setup(self) -> None:
        super().setup()
        # every open connection, idle keep-alive ones included, is cut by stop()
        self.server.cluster.connections.add(self.connection)

    def finish(self) -> None:
        self.server.cluster.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        return  # the request log is the cluster's request_log

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    # --- plumbing ------------------------------------------------------------------------

    def _handle(self) -> None:
        cluster = self.server.cluster
        url = urllib.parse.urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        self._status = 0
        self._logged = False
        self._log_entry = (path, url.query)
        self._cut_after: float | None = None
        self._warnings: list[str] = []
        self._parsed_override: Any = None
        try:
            if not cluster.running:
                raise _Drop()  # a request on a connection that outlived stop()
            body = self._read_body()
            self._dispatch(path, query, body)
        except _Drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        except errors.ApiError as exc:
            self._send_json(exc.code, exc.status(), headers=exc.headers)
        except OSError:  # the client went away (also ssl.SSLEOFError)
            self.close_connection = True
        except Exception as exc:  # an internal error answers 500 rather than hanging the client
            err = errors.ApiError(500, "InternalError", f"Internal error occurred: {exc!r}")
            with contextlib.suppress(OSError):
                self._send_json(500, err.status())
            raise
        finally:
            self._record(self._status)  # dropped connections are logged with status 0

    def _record(self, status: int) -> None:
        """Log the request once, before its answer is written (tests read the log next)."""
        self._status = status
        if self._logged:
            return
        self._logged = True
        path, query = self._log_entry
        dry = "dryRun=All" in query
        self.server.cluster.request_log.record(self.command, path, query, status, dry_run=dry)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(
        self,
        code: int,
        body: Any,
        *,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        data = json.dumps(body).encode()
        self._record(code)
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Audit-Id", "test")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        for warning in self._warnings:
            self.send_header("Warning", f'299 - "{warning}"')
        self.end_headers()
        self.wfile.write(data)

    def _parse(self, body: bytes) -> Any:
        if self._parsed_override is not None:
            return self._parsed_override  # the body after fieldValidation dropped fields
        ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
        if ctype == "application/vnd.kubernetes.protobuf":
            return protobuf.decode(body)
        if "protobuf" in ctype or "cbor" in ctype:
            raise errors.ApiError(415, "UnsupportedMediaType", f"unsupported media type {ctype}")
        if not body:
            return None
        try:
            if ctype == patch.APPLY_PATCH or "yaml" in ctype:
                return yaml.safe_load(body)
            return json.loads(body)
        except (ValueError, yaml.YAMLError) as exc:
            raise errors.bad_request(
                f"the body of the request could not be decoded: {exc}"
            ) from exc

    # --- routing -------------------------------------------------------------------------

    def _dispatch(self, path: str, query: dict[str, str], body: bytes) -> None:
        cluster = self.server.cluster
        watching = query.get("watch") in ("true", "1") or "/watch/" in path
        for fault in cluster.faults.pick(method=self.command, path=path, watch=watching):
            if fault.kind == "latency":
                time.sleep(fault.seconds)
            elif fault.kind == "drop":
                raise _Drop()
            elif fault.kind == "status":
                reason = {
                    429: "TooManyRequests",
                    500: "InternalError",
                    503: "ServiceUnavailable",
                    504: "Timeout",
                }.get(fault.status, "InternalError")
                raise errors.ApiError(fault.status, reason, f"injected fault: HTTP {fault.status}")
            elif fault.kind == "retry_after":
                raise errors.ApiError(
                    429,
                    "TooManyRequests",
                    "the server has received too many requests",
                    details={"retryAfterSeconds": int(fault.seconds)},
                    headers={"Retry-After": str(int(fault.seconds))},
                )
            elif fault.kind == "watch_cut":
                self._cut_after = fault.seconds
        grant = cluster.auth.authenticate(self.headers.get("Authorization"), path)
        self._grant = grant
        registry = cluster.registry
        if path in ("/healthz", "/livez", "/readyz"):
            return self._send_text(200, "ok")
        if path == "/version":
            return self._send_json(200, discovery.VERSION)
        wants_aggregated = "as=APIGroupDiscoveryList" in (self.headers.get("Accept") or "")
        if path in ("/api", "/apis") and wants_aggregated:
            listing = discovery.aggregated(registry, legacy=path == "/api")
            return self._send_json(200, listing, content_type=discovery.AGGREGATED)
        if path == "/api":
            return self._send_json(200, discovery.api_versions(f"127.0.0.1:{cluster.port}"))
        if path == "/apis":
            return self._send_json(200, discovery.api_group_list(registry))
        if path == "/openapi/v3":
            return self._send_json(200, discovery.openapi_v3_index(registry))
        if path.startswith("/openapi/v3/"):
            parts = path[len("/openapi/v3/") :].split("/")
            doc = None
            if parts[0] == "api" and len(parts) == 2:
                doc = discovery.openapi_v3_doc(registry, "", parts[1])
            elif parts[0] == "apis" and len(parts) == 3:
                doc = discovery.openapi_v3_doc(registry, parts[1], parts[2])
            if doc is None:
                raise errors.ApiError(
                    404, "NotFound", "the server could not find the requested resource"
                )
            return self._send_json(200, doc)
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 2:
            if len(parts) == 2:
                doc = discovery.api_group(registry, parts[1])
                if doc is None:
                    raise errors.ApiError(
                        404, "NotFound", "the server could not find the requested resource"
                    )
                return self._send_json(200, doc)
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        if not rest:
            doc = discovery.resource_list(registry, group, version)
            if doc is None:
                raise errors.ApiError(
                    404, "NotFound", "the server could not find the requested resource"
                )
            return self._send_json(200, doc)
        if rest[0] == "watch":
            watching, rest = True, rest[1:]
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        if len(rest) > 3 or not rest:
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        rt = registry.find(group=group, version=version, plural=rest[0])
        if rt is None:
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        name = rest[1] if len(rest) >= 2 else ""
        sub = rest[2] if len(rest) == 3 else ""
        token_request = sub == "token" and rt.plural == "serviceaccounts"
        if sub and not (
            (sub == "status" and rt.status) or (sub == "scale" and rt.scale) or token_request
        ):
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        if namespace and not rt.namespaced:
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        self._resource(rt, namespace, name, sub, query, body, watching)

    def _verb(self, name: str, watching: bool) -> str:
        method = self.command
        if method == "GET":
            return "watch" if watching else ("get" if name else "list")
        if method == "DELETE":
            return "delete" if name else "deletecollection"
        return {"POST": "create", "PUT": "update", "PATCH": "patch"}[method]

    def _resource(
        self,
        rt: resources.ResourceType,
        namespace: str,
        name: str,
        sub: str,
        query: dict[str, str],
        body: bytes,
        watching: bool,
    ) -> None:
        cluster = self.server.cluster
        verb = self._verb(name, watching)
        cluster.auth.authorize(
            self._grant,
            verb=verb,
            resource=rt.plural if not sub else f"{rt.plural}/{sub}",
            group=rt.group,
            namespace=namespace,
            name=name,
        )
        if verb not in rt.verbs and not sub:
            raise errors.method_not_allowed(f"{verb} is not supported on {rt.plural}")
        objects = cluster.objects
        dry = query.get("dryRun") == "All"
        if query.get("dryRun") not in (None, "", "All"):
            raise errors.bad_request(f"unsupported dryRun value {query['dryRun']!r}; only All")
        manager = query.get("fieldManager") or self._default_manager()
        ns = namespace if rt.namespaced else ""
        if verb == "watch":
            return self._watch(rt, namespace or None, name, query)
        if verb == "list":
            listed = objects.list_collection(
                rt,
                namespace or None,
                label_selector=query.get("labelSelector"),
                field_selector=query.get("fieldSelector"),
                limit=int(query.get("limit") or 0),
                continue_token=query.get("continue"),
            )
            return self._send_object(200, listed, rt, many=True)
        if verb == "get":
            obj = objects.get(rt, ns, name)
            if sub == "scale":
                obj = _scale(obj, rt)
            return self._send_object(200, obj, rt)
        if verb in ("create", "update", "patch") and not sub:
            body = self._checked_fields(rt, body, query)
        if verb == "create" and sub == "token":
            return self._send_json(201, access.token_request(cluster, namespace=ns, name=name))
        if verb == "create" and rt.kind == "SelfSubjectAccessReview":
            review = access.review(cluster, self._grant, self._parse(body))
            return self._send_json(201, review)
        if verb == "create":
            if name:
                raise errors.method_not_allowed("POST to a named object is not allowed")
            obj = objects.create(rt, ns, self._parse(body), manager=manager, dry_run=dry)
            return self._send_object(201, obj, rt)
        if verb == "update":
            parsed = self._parse(body)
            if sub == "scale":
                obj = cluster.scale(rt, ns, name, parsed, manager=manager, dry_run=dry)
                return self._send_object(200, obj, rt)
            existed = sub or objects.exists(rt, ns, name)
            obj = objects.replace(
                rt, ns, name, parsed, manager=manager, dry_run=dry, subresource=sub
            )
            return self._send_object(200 if existed else 201, obj, rt)
        if verb == "patch":
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if "force" in query and ctype != patch.APPLY_PATCH:
                raise errors.bad_request("force must be unset for non-apply patch requests")
            parsed = self._parse(body)
            if sub == "scale":
                current = _scale(objects.get(rt, ns, name), rt)
                merged = patch.apply_patch(
                    content_type=ctype, original=current, body=parsed, kind="Scale"
                )
                obj = cluster.scale(rt, ns, name, merged, manager=manager, dry_run=dry)
                return self._send_object(200, obj, rt)
            existed = sub or ctype != patch.APPLY_PATCH or objects.exists(rt, ns, name)
            obj = objects.patch(
                rt,
                ns,
                name,
                parsed,
                content_type=ctype,
                manager=query.get("fieldManager")
                or (None if ctype == patch.APPLY_PATCH else manager),
                force=query.get("force") in ("true", "1"),
                dry_run=dry,
                subresource=sub,
            )
            return self._send_object(200 if existed else 201, obj, rt)
        options = self._parse(body) or {}
        policy = query.get("propagationPolicy") or options.get("propagationPolicy")
        if verb == "deletecollection":
            listed = objects.delete_collection(
                rt,
                namespace or None,
                label_selector=query.get("labelSelector"),
                field_selector=query.get("fieldSelector"),
                dry_run=dry,
                propagation=policy,
            )
            return self._send_object(200, listed, rt, many=True)
        if options.get("orphanDependents") is True and not policy:
            policy = "Orphan"
        pre = options.get("preconditions") or {}
        result, finished = objects.delete(
            rt,
            ns,
            name,
            dry_run=dry,
            propagation=policy,
            precondition_rv=pre.get("resourceVersion"),
            precondition_uid=pre.get("uid"),
        )
        # kube-apiserver answers 200 also when finalizers hold the object (202 only for
        # the deprecated orphanDependents=false)
        code = 202 if not finished and options.get("orphanDependents") is False else 200
        return self._send_object(code, result, rt)

    def _checked_fields(
        self, rt: resources.ResourceType, body: bytes, query: dict[str, str]
    ) -> bytes:
        """Apply fieldValidation: Strict refuses unknown fields, Warn/Ignore drop them."""
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype == patch.JSON_PATCH or not body:
            return body
        parsed = self._parse(body)
        if not isinstance(parsed, dict):
            return body
        found = fields.unknown(parsed, kind=rt.kind)
        schema = self.server.cluster.objects.schema_of(rt)
        if schema is not None:
            # a patch body is partial: only its unknown fields matter here
            found = crd_schema.apply(
                copy.deepcopy(parsed), schema, kind=rt.kind, group=rt.group, validate=False
            )
        if not found:
            return body
        level = query.get("fieldValidation") or "Warn"
        if level not in ("Strict", "Warn", "Ignore"):
            raise errors.bad_request(
                f"fieldValidation must be Strict, Warn or Ignore, not {level!r}"
            )
        listed = ", ".join(f'unknown field "{p}"' for p in found)
        if level == "Strict":
            raise errors.bad_request(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                f"strict decoding error: {listed}"
            )
        if level == "Warn":
            self._warnings += [f'unknown field \\"{p}\\"' for p in found]
        fields.drop(parsed, found)
        self._parsed_override = parsed
        return body

    def _default_manager(self) -> str:
        agent = self.headers.get("User-Agent") or "unknown"
        return agent.split("/")[0] or "unknown"

    def _wants_table(self) -> bool:
        return "as=Table" in (self.headers.get("Accept") or "")

    def _send_object(
        self, code: int, obj: dict[str, Any], rt: resources.ResourceType, *, many: bool = False
    ) -> None:
        if self._wants_table() and obj.get("kind") not in ("Status", "Scale"):
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
            items = obj["items"] if many else [obj]
            rv = obj["metadata"].get("resourceVersion", "")
            table = tables.to_table(
                items,
                kind=rt.kind,
                resource_version=rv,
                include=query.get("includeObject", "PartialObjectMetadata"),
                printer_columns=self.server.cluster.objects.printer_columns(rt),
            )
            if many and obj["metadata"].get("continue"):
                table["metadata"]["continue"] = obj["metadata"]["continue"]
            return self._send_json(code, table)
        return self._send_json(code, obj)

    def _send_text(self, code: int, text: str) -> None:
        data = text.encode()
        self._record(code)
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _watch(
        self, rt: resources.ResourceType, namespace: str | None, name: str, query: dict[str, str]
    ) -> None:
        cluster = self.server.cluster
        if name:  # GET .../name?watch=true watches one object
            extra = f"metadata.name={name}"
            query = {
                **query,
                "fieldSelector": ",".join(filter(None, [query.get("fieldSelector"), extra])),
            }
        table = self._wants_table()
        include = query.get("includeObject", "PartialObjectMetadata")
        self._record(200)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        first = [True]

        def send(event: dict[str, Any]) -> None:
            if table and event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                obj = event["object"]
                event = {
                    "type": event["type"],
                    "object": tables.to_table(
                        [obj],
                        kind=rt.kind,
                        resource_version=obj["metadata"].get("resourceVersion", ""),
                        include=include,
                        with_columns=first[0],
                        printer_columns=cluster.objects.printer_columns(rt),
                    ),
                }
                first[0] = False
            data = json.dumps(event).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        graceful = watch.run(
            st=cluster.store,
            rt=rt,
            namespace=namespace,
            query=query,
            send=send,
            stopping=lambda: not cluster.running,
            bookmark_interval=cluster.bookmark_interval,
            cut_after=self._cut_after,
            served=lambda: (
                cluster.registry.find(group=rt.group, version=rt.version, plural=rt.plural)
                is not None
            ),
        )
        if graceful:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        else:
            raise _Drop()


def _scale(obj: dict[str, Any], rt: resources.ResourceType) -> dict[str, Any]:
    meta = obj["metadata"]
    selector = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(selector.items())),
        },
    }
