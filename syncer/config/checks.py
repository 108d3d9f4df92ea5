"""Rules about one config object at a time: one-of choices, value syntax, conflicts.

``walker`` calls ``run`` on every dataclass it builds. Each rule is a pure function of
the object returning ``(field, message)`` findings (``field`` is the camelCase key, or
``""`` for the object itself); ``run`` turns them into located problems. Rules that
span objects (names that must exist, selectors) live in ``crossrefs``.
"""

from __future__ import annotations

import os
import posixpath
import re
import string
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

from syncer.config import cron, model, names, nodes, policies
from syncer.notify import catalog

Finding = tuple[str, str] | tuple[str, str, bool]
"""(camelCase field or "" for the object, message[, COMBINED])."""
COMBINED = True
"""Marks a finding about several fields together (one-of choices, pairs, conflicts)."""

_COMMIT = re.compile(r"[0-9a-fA-F]{7,40}")
_REF = re.compile(r"[^\s~^:?*\[\\]+")
_QUANTITY = re.compile(r"\d+(\.\d+)?([eE]\d+|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_FIELD_PATH = re.compile(r"[A-Za-z0-9_-]+(\[\d+\])*(\.[A-Za-z0-9_-]+(\[\d+\])*)*")
_LISTEN = re.compile(r"(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9.-]*):(\d{1,5})")


def run(obj: Any, *, path: str, ctx: nodes.Context) -> bool:
    """Report what ``obj`` breaks; ``True`` when nothing."""
    rule = RULES.get(type(obj))
    findings = list(rule(obj)) if rule else []
    for field, message, *combined in findings:
        where = nodes.join(path, field) if field else path
        # A field that failed to build holds its default: judging it again, alone or
        # together with its neighbours, would repeat that problem in other words.
        if ctx.is_broken(where) or (combined and ctx.has_own_problem(path)):
            continue
        ctx.problem(where, where, message)
    return not findings


def _name(value: str, what: str) -> Iterator[Finding]:
    # Names end up in label values, Lease and Secret names, helm release names and
    # paths: the strictest of those, a DNS-1123 label, fits them all.
    if not names.is_dns_label(value):
        yield "name", f"invalid {what} name {value!r}; {names.DNS_EXPECTED}"


def _source(obj: model.Source) -> Iterator[Finding]:
    yield from _name(obj.name, "source")
    if (obj.git is None) == (obj.helm is None):
        said = "both git and helm are set" if obj.git else "neither git nor helm is set"
        yield "", f"{said}; expected exactly one of: git, helm", COMBINED


def _chart_source(obj: model.ChartSource) -> Iterator[Finding]:
    scheme = obj.url.partition("://")[0] if "://" in obj.url else ""
    if scheme not in ("https", "http", "oci"):
        yield (
            "url",
            (
                f"unsupported chart repository URL {obj.url!r}; expected https://host/path"
                " (an index.yaml repository) or oci://host/path"
            ),
        )
    else:
        parts = urllib.parse.urlsplit(obj.url)
        if parts.username is not None or parts.password is not None:
            yield "url", _CREDENTIALS.replace("sources[].git.auth", "sources[].helm.auth")
        elif not parts.hostname:
            yield "url", f"the URL {obj.url!r} has no host"
    if not names.is_dns_subdomain(obj.chart.lower()) or "/" in obj.chart:
        yield "chart", f"invalid chart name {obj.chart!r}; expected a name such as nginx"
    if obj.version:
        problem = policies.semver_range_problem(obj.version)
        if problem:
            yield "version", problem
    if scheme == "oci" and obj.auth is not None:
        yield (
            "auth",
            "oci:// charts use the credentials of the registry's registries[] entry;"
            " expected no auth here",
        )
    if obj.auth is not None and bool(obj.auth.username_from) != bool(obj.auth.password_from):
        yield "auth", "expected both usernameFrom and passwordFrom", COMBINED


def _is_ssh(url: str) -> bool:
    return url.startswith("ssh://") or bool(re.match(r"^[\w.-]+@[\w.-]+:", url))


_URL_EXPECTED = "expected https://host/path, ssh://host/path, user@host:path or a path"
_CREDENTIALS = (
    "credentials in the URL are not allowed (they would show in git's arguments and logs);"
    " expected the URL without 'user:password@' and the credentials in sources[].git.auth"
    " (usernameFrom, passwordFrom)"
)


def _url_problem(url: str) -> str | None:
    """What is wrong with a Git URL (local paths were resolved already), or None."""
    if not url.strip():
        return "the URL is empty; expected https://..., ssh://..., user@host:path or a path"
    if "://" not in url:
        return None  # a local path or user@host:path
    scheme = url.split("://", 1)[0]
    if scheme not in ("https", "http", "ssh", "git", "file"):
        return f"unsupported scheme {scheme}://; expected https, http, ssh, git or file"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return f"the URL contains spaces or control characters; {_URL_EXPECTED}"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as err:
        reason = str(err)
        if "Port" in reason or "port" in reason:
            return f"invalid port in the URL ({reason}); expected 1 to 65535"
        return f"not a valid URL ({reason}); {_URL_EXPECTED}"
    if parts.password is not None or (parts.username is not None and scheme in ("http", "https")):
        # A user name alone is no secret over SSH (git@host), but over HTTP(S) it is
        # where tokens are pasted (https://ghp_...@github.com).
        return _CREDENTIALS
    if scheme != "file" and not parts.hostname:
        return f"the URL has no host; {_URL_EXPECTED}"
    if port == 0:
        return "invalid port in the URL (0); expected 1 to 65535"
    return None


def _git(obj: model.GitSource) -> Iterator[Finding]:
    problem = _url_problem(obj.url)
    if problem:
        yield "url", problem
    chosen = [key for key in ("branch", "tag", "semver", "commit") if getattr(obj, key)]
    if len(chosen) > 1:
        yield (
            chosen[1],
            f"{' and '.join(chosen)} are both set;"
            " expected at most one of: branch, tag, semver, commit",
            COMBINED,
        )
    for key in ("branch", "tag"):
        value = getattr(obj, key)
        if value and (not _REF.fullmatch(value) or ".." in value or value.startswith("-")):
            yield key, f"invalid {key} name {value!r}; expected a Git ref name such as main"
    if obj.commit and not _COMMIT.fullmatch(obj.commit):
        yield "commit", f"invalid commit {obj.commit!r}; expected 7 to 40 hexadecimal digits"
    if obj.semver:
        problem = policies.semver_range_problem(obj.semver)
        if problem:
            yield "semver", problem
    if obj.auth and _is_ssh(obj.url) and (obj.auth.username_from or obj.auth.password_from):
        yield (
            "auth",
            "usernameFrom/passwordFrom are for HTTPS URLs; expected sshKeyFrom for SSH",
            COMBINED,
        )
    if obj.auth and obj.auth.ssh_key_from and not _is_ssh(obj.url):
        yield (
            "auth.sshKeyFrom",
            "an SSH key with a non-SSH URL; expected ssh:// or user@host:path",
            COMBINED,
        )


def _git_auth(obj: model.GitAuth) -> Iterator[Finding]:
    if obj.username_from and not obj.password_from:
        yield (
            "usernameFrom",
            "usernameFrom without passwordFrom; expected both, or passwordFrom",
            COMBINED,
        )


def _registry_auth(obj: model.RegistryAuth) -> Iterator[Finding]:
    if bool(obj.username_from) != bool(obj.password_from):
        field = "usernameFrom" if obj.username_from else "passwordFrom"
        yield field, "only one of usernameFrom/passwordFrom is set; expected both", COMBINED
    ways = [
        name
        for name, used in (
            ("usernameFrom/passwordFrom", obj.username_from or obj.password_from),
            ("dockerConfig", obj.docker_config),
            ("pullSecret", obj.pull_secret),
        )
        if used
    ]
    if len(ways) > 1:
        yield (
            "",
            f"{' and '.join(ways)} are set together; expected one way to authenticate",
            COMBINED,
        )
    if obj.pull_secret:
        namespace, slash, name = obj.pull_secret.partition("/")
        if not (slash and names.is_dns_label(namespace) and names.is_dns_subdomain(name)):
            yield "pullSecret", f"invalid Secret {obj.pull_secret!r}; expected NAMESPACE/NAME"


def _registry(obj: model.Registry) -> Iterator[Finding]:
    problem = policies.host_problem(obj.host)
    if problem:
        yield "host", problem


def _cluster(obj: model.Cluster) -> Iterator[Finding]:
    yield from _name(obj.name, "cluster")
    if obj.in_cluster and (obj.kubeconfig or obj.context):
        yield (
            "inCluster",
            "inCluster: true uses the pod's service account; expected no kubeconfig or context",
            COMBINED,
        )
    if obj.drift_source not in model.DRIFT_SOURCES:
        yield (
            "driftSource",
            f"unknown drift source {obj.drift_source!r}; expected one of: "
            f"{', '.join(model.DRIFT_SOURCES)}",
        )


def _tag_filter(obj: model.TagFilter) -> Iterator[Finding]:
    problem = policies.regex_problem(obj.pattern)
    if problem:
        yield "pattern", problem
    elif obj.extract:
        problem = policies.extract_problem(obj.pattern, obj.extract)
        if problem:
            yield "extract", problem


def _image_policy(obj: model.ImagePolicy) -> Iterator[Finding]:
    kinds = ("semver", "alphabetical", "numerical", "digest", "newestBuild")
    chosen = [kind for kind, attr in zip(kinds, _POLICY_ATTRS, strict=True) if getattr(obj, attr)]
    if not chosen:
        yield "", f"no policy set; expected one of: {', '.join(kinds)}", COMBINED
        return
    if len(chosen) > 1:
        yield (
            chosen[1],
            f"{' and '.join(chosen)} are both set; expected one of: {', '.join(kinds)}",
            COMBINED,
        )
        return
    kind = chosen[0]
    if kind == "newestBuild":
        assert obj.newest_build is not None
        problem = policies.platform_problem(obj.newest_build.platform)
        if problem:
            yield "newestBuild.platform", problem
        return
    value = getattr(obj, kind)
    check: Callable[[str], str | None] = {
        "semver": policies.semver_range_problem,
        "alphabetical": policies.order_problem,
        "numerical": policies.order_problem,
        "digest": policies.tag_problem,
    }[kind]
    problem = check(value)
    if problem:
        yield kind, problem


_POLICY_ATTRS = ("semver", "alphabetical", "numerical", "digest", "newest_build")


def _app_image(obj: model.AppImage) -> Iterator[Finding]:
    problem = policies.repository_problem(obj.repository)
    if problem:
        yield "repository", problem
    if obj.filter and obj.policy.digest:
        yield "filter", "a digest policy follows one tag; expected no filter with it", COMBINED
    if obj.ignore and obj.policy.digest:
        yield "ignore", "a digest policy follows one tag; expected no ignore list with it", COMBINED
    for index, glob in enumerate(obj.ignore):
        problem = policies.ignore_glob_problem(glob)
        if problem:
            yield f"ignore[{index}]", problem


def _gateway(obj: model.GatewayPolicy) -> Iterator[Finding]:
    for key, value in (("maxCpu", obj.max_cpu), ("maxMemory", obj.max_memory)):
        if value and not _QUANTITY.fullmatch(value):
            yield (
                key,
                f"invalid quantity {value!r}; expected a Kubernetes quantity like 500m, 2, 1Gi",
            )
    for i, host in enumerate(obj.allowed_registries):
        problem = policies.host_problem(host)
        if problem:
            yield f"allowedRegistries[{i}]", problem
    for i, namespace in enumerate(obj.allowed_namespaces):
        if not names.is_dns_label(namespace):
            yield (
                f"allowedNamespaces[{i}]",
                f"invalid namespace {namespace!r}; {names.DNS_EXPECTED}",
            )


def _relative_path_problem(value: str) -> str | None:
    if value.startswith("/") or ".." in posixpath.normpath(value).split("/"):
        return f"{value!r} leaves the repository; expected a path inside it (no leading /, no ..)"
    return None


def _helm(obj: model.HelmOptions) -> Iterator[Finding]:
    for i, value in enumerate(obj.values_files):
        problem = _relative_path_problem(value)
        if problem:
            yield f"valuesFiles[{i}]", problem


def _image_field(obj: model.ImageFieldPath) -> Iterator[Finding]:
    if not obj.kind.strip():
        yield "kind", "the kind is empty; expected a kind such as Rollout"
    if not _FIELD_PATH.fullmatch(obj.path):
        yield "path", f"invalid path {obj.path!r}; expected a dotted path such as spec.image"


def _app(obj: model.App) -> Iterator[Finding]:
    yield from _name(obj.name, "app")
    if not names.is_dns_label(obj.namespace):
        yield "namespace", f"invalid namespace {obj.namespace!r}; {names.DNS_EXPECTED}"
    problem = _relative_path_problem(obj.path)
    if problem:
        yield "path", problem
    for placeholder in _PLACEHOLDER.findall(obj.path):
        if not re.fullmatch(r"[A-Za-z0-9_./-]+", placeholder):
            yield (
                "path",
                f"invalid placeholder {{{placeholder}}}; expected {{cluster}} or {{label}}",
            )
    if not obj.clusters.names and not obj.clusters.selector:
        yield (
            "clusters",
            "missing required field; expected a list of cluster names or {selector: …}",
            COMBINED,
        )


def _tenant(obj: model.Tenant) -> Iterator[Finding]:
    yield from _name(obj.name, "tenant")
    if obj.gateway.allow_cluster_scoped:
        yield (
            "gateway.allowClusterScoped",
            "a tenant allows cluster-scoped kinds with kinds.clusterScoped; expected it there",
        )
    for i, entry in enumerate(obj.cluster_impersonate):
        if not entry.clusters:
            yield (
                f"clusterImpersonate[{i}].clusters",
                "missing; expected the clusters this account is for",
            )
    if obj.defaults.namespace and not names.is_dns_label(obj.defaults.namespace):
        yield (
            "defaults.namespace",
            f"invalid namespace {obj.defaults.namespace!r}; {names.DNS_EXPECTED}",
        )


def _tenant_kinds(obj: model.TenantKinds) -> Iterator[Finding]:
    if obj.cluster_allow and not obj.cluster_scoped:
        yield (
            "clusterAllow",
            "lists cluster-scoped kinds while clusterScoped is false; expected clusterScoped:"
            " true with it",
        )
    for key, kinds in (
        ("allow", obj.allow),
        ("deny", obj.deny),
        ("clusterAllow", obj.cluster_allow),
    ):
        for i, kind in enumerate(kinds):
            if not re.fullmatch(r"([A-Za-z0-9.*?-]*/)?[A-Za-z0-9*?]+", kind):
                yield (
                    f"{key}[{i}]",
                    f"invalid kind {kind!r}; expected Kind or group/Kind, e.g. Deployment,"
                    " apps/Deployment, rbac.authorization.k8s.io/*",
                )


def _impersonation(obj: model.Impersonation) -> Iterator[Finding]:
    if bool(obj.service_account) == bool(obj.user):
        said = "both given" if obj.service_account else "neither given"
        yield "", f"{said}; expected exactly one of: serviceAccount, user", COMBINED
    if obj.service_account:
        namespace, _, name = obj.service_account.partition("/")
        if not (names.is_dns_label(namespace) and names.is_dns_subdomain(name)):
            yield (
                "serviceAccount",
                f"invalid service account {obj.service_account!r}; expected NAMESPACE/NAME",
            )
        if obj.groups:
            yield (
                "groups",
                "a service account has its own groups; expected groups only with user",
            )


_DOTTED_KEY = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
_BRANCH_TEMPLATE_KEYS = frozenset({"app"})


def _helm_values_target(obj: model.HelmValuesTarget) -> Iterator[Finding]:
    problem = _relative_path_problem(obj.file)
    if problem:
        yield "file", problem
    for key in ("tag", "repository", "digest"):
        value = getattr(obj, key)
        if value and not _DOTTED_KEY.fullmatch(value):
            yield key, f"invalid key {value!r}; expected a dotted key such as image.tag"


def _write_back(obj: model.WriteBack) -> Iterator[Finding]:
    if not (obj.kustomization or obj.helm_values or obj.manifests):
        yield (
            "",
            "nothing to write; expected at least one of kustomization, helmValues, manifests",
            COMBINED,
        )
    if obj.kustomization:
        problem = _relative_path_problem(obj.kustomization)
        if problem:
            yield "kustomization", problem
    unknown = set(_PLACEHOLDER.findall(obj.branch)) - _BRANCH_TEMPLATE_KEYS
    if unknown:
        yield "branch", f"unknown placeholder {{{sorted(unknown)[0]}}}; expected {{app}}"
    elif obj.branch:
        branch = obj.branch.replace("{app}", "app")
        if not _REF.fullmatch(branch) or ".." in branch or branch.startswith("-"):
            yield (
                "branch",
                f"invalid branch name {obj.branch!r}; expected a name like syncer/{{app}}",
            )
    try:
        obj.commit.message.format(app="", branch="", changes="", images="")
    except KeyError as err:
        yield (
            "commit.message",
            f"unknown placeholder {{{err.args[0]}}}; expected {{app}}, {{branch}}, {{changes}}"
            " or {images} (double {{ }} for literal braces)",
        )
    except (IndexError, ValueError) as err:
        yield (
            "commit.message",
            f"invalid template ({err}); expected text with {{app}}, {{branch}}, {{changes}},"
            " {images} (double {{ }} for literal braces)",
        )


def _window(obj: model.TimeWindow) -> Iterator[Finding]:
    problem = cron.problem(obj.cron)
    if problem:
        yield "cron", problem


def _stage(obj: model.Stage) -> Iterator[Finding]:
    yield from _name(obj.name, "stage")


def _pipeline(obj: model.Pipeline) -> Iterator[Finding]:
    if not obj.stages:
        yield "stages", "no stages; expected at least one stage"


def _state(obj: model.StateSettings) -> Iterator[Finding]:
    if obj.path and os.path.isdir(obj.path):
        yield (
            "path",
            f"{obj.path!r} is a directory; expected the path of a file, e.g. state/syncer.db",
        )


def _server(obj: model.Server) -> Iterator[Finding]:
    for key, value, example in (
        ("listen", obj.listen, "0.0.0.0:8080"),
        ("webhookListen", obj.webhook_listen, "0.0.0.0:8081"),
    ):
        match = _LISTEN.fullmatch(value)
        if not match or int(match.group(2)) > 65535:
            yield key, f"invalid address {value!r}; expected HOST:PORT, e.g. {example}"
    if obj.listen == obj.webhook_listen and not obj.listen.endswith(":0"):
        yield (
            "webhookListen",
            f"{obj.webhook_listen!r} is also server.listen; give webhooks their own port,"
            " e.g. 0.0.0.0:8081",
        )


def _api_user(obj: model.ApiUser) -> Iterator[Finding]:
    if obj.role not in model.ROLES:
        yield "role", f"unknown role {obj.role!r}; expected one of: {', '.join(model.ROLES)}"
    elif obj.stages and obj.role != "approver":
        yield (
            "stages",
            f"only approvers are limited to stages; remove it or make {obj.name!r} an approver",
        )
    if not obj.name.strip() or any(c.isspace() or c == "," for c in obj.name):
        yield "name", f"invalid user name {obj.name!r}; expected a word without spaces or commas"


_PROVIDER_FIELDS = {
    "urlFrom": ("slack", "teams", "webhook"),
    "secretFrom": ("webhook",),
    "tokenFrom": catalog.COMMIT_STATUS,
    "address": catalog.COMMIT_STATUS,
    "repository": catalog.COMMIT_STATUS,
}
"""Provider fields and the types that use them."""
_PROVIDER_NEEDS = {
    "slack": ("urlFrom",),
    "teams": ("urlFrom",),
    "webhook": ("urlFrom", "secretFrom"),
    "github": ("tokenFrom",),
    "gitlab": ("tokenFrom",),
    "gitea": ("tokenFrom", "address"),
    "kubernetes": (),
}


def _provider(obj: model.NotificationProvider) -> Iterator[Finding]:
    yield from _name(obj.name, "provider")
    if obj.type not in catalog.PROVIDER_TYPES:
        yield (
            "type",
            (
                f"unknown provider type {obj.type!r}; expected one of: "
                f"{', '.join(catalog.PROVIDER_TYPES)}"
            ),
        )
        return
    values = {
        "urlFrom": obj.url_from, "secretFrom": obj.secret_from, "tokenFrom": obj.token_from,
        "address": obj.address, "repository": obj.repository,
    }  # fmt: skip
    for key in _PROVIDER_NEEDS[obj.type]:
        if not values[key]:
            yield key, f"required for a {obj.type} provider"
    for key, types in _PROVIDER_FIELDS.items():
        if values[key] and obj.type not in types:
            yield key, f"not used by a {obj.type} provider (only by {', '.join(types)})"
    if obj.address:
        problem = _url_problem(obj.address)
        if obj.address.split("://", 1)[0] not in ("http", "https"):
            problem = f"invalid API address {obj.address!r}; expected an http(s):// URL"
        if problem:
            yield "address", problem
    if obj.repository and not re.fullmatch(r"[\w.-]+(/[\w.-]+)+", obj.repository):
        yield "repository", f"invalid repository {obj.repository!r}; expected OWNER/REPO"


def _notification_rule(obj: model.NotificationRule) -> Iterator[Finding]:
    if not obj.providers:
        yield "providers", "is empty; expected the names of one or more providers"
    for event in obj.events:
        if event not in catalog.EVENTS:
            yield (
                "events",
                (f"unknown event {event!r}; expected one of: {', '.join(catalog.EVENTS)}"),
            )
    if obj.severity not in catalog.SEVERITIES:
        allowed = ", ".join(catalog.SEVERITIES)
        yield "severity", f"unknown severity {obj.severity!r}; expected one of: {allowed}"
    if obj.template:
        template = string.Template(obj.template)
        unknown = sorted(set(template.get_identifiers()) - set(catalog.TEMPLATE_FIELDS))
        if not template.is_valid():
            yield (
                "template",
                ("invalid placeholder: write $name or ${name}, and $$ for a dollar sign"),
            )
        elif unknown:
            yield (
                "template",
                (
                    f"unknown placeholder ${unknown[0]}; expected some of: "
                    f"{', '.join('$' + f for f in catalog.TEMPLATE_FIELDS)}"
                ),
            )


RULES: dict[type, Callable[[Any], Iterator[Finding]]] = {
    model.Source: _source,
    model.GitSource: _git,
    model.ChartSource: _chart_source,
    model.GitAuth: _git_auth,
    model.RegistryAuth: _registry_auth,
    model.Registry: _registry,
    model.Cluster: _cluster,
    model.TagFilter: _tag_filter,
    model.ImagePolicy: _image_policy,
    model.AppImage: _app_image,
    model.GatewayPolicy: _gateway,
    model.HelmOptions: _helm,
    model.ImageFieldPath: _image_field,
    model.App: _app,
    model.Tenant: _tenant,
    model.TenantKinds: _tenant_kinds,
    model.Impersonation: _impersonation,
    model.HelmValuesTarget: _helm_values_target,
    model.WriteBack: _write_back,
    model.TimeWindow: _window,
    model.Stage: _stage,
    model.Pipeline: _pipeline,
    model.Server: _server,
    model.ApiUser: _api_user,
    model.StateSettings: _state,
    model.NotificationProvider: _provider,
    model.NotificationRule: _notification_rule,
}
