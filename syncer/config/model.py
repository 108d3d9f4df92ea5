"""The configuration schema: every setting syncer reads, as frozen dataclasses.

This module is the truth about configuration. ``syncer.config.loader`` builds these
objects from YAML (camelCase keys map to the snake_case fields below), rejects unknown
fields, and checks cross-references; the README's configuration reference is generated
from the ``doc`` metadata here, so it cannot drift.

Durations are float seconds in Python and strings like ``30s``, ``5m``, ``1h30m`` in YAML.
Credentials are never values: they are ``SecretRef`` strings (``env:NAME``,
``file:PATH``, ``secret:NAMESPACE/NAME#KEY``), resolved when used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


def doc(text: str, **extra: Any) -> dict[str, Any]:
    """Field metadata: the user-facing description (and optional extras)."""
    return {"doc": text, **extra}


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where a credential comes from: ``env:NAME``, ``file:PATH`` or ``secret:NS/NAME#KEY``."""

    kind: Literal["env", "file", "secret"]
    name: str
    """Environment variable name, file path, or ``NAMESPACE/NAME`` of a Secret."""
    key: str = ""
    """The data key inside a Secret; empty for env and file."""

    def __str__(self) -> str:
        if self.kind == "secret":
            return f"secret:{self.name}#{self.key}"
        return f"{self.kind}:{self.name}"


# --- sources -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GitAuth:
    """Credentials for a Git repository; values are secret references, never inline."""

    username_from: SecretRef | None = field(default=None, metadata=doc("HTTPS user name."))
    password_from: SecretRef | None = field(
        default=None, metadata=doc("HTTPS password or access token.")
    )
    ssh_key_from: SecretRef | None = field(
        default=None, metadata=doc("SSH private key (for ssh:// or scp-like URLs).")
    )
    known_hosts_from: SecretRef | None = field(
        default=None,
        metadata=doc("known_hosts content for SSH; without it host keys are not trusted."),
    )


@dataclass(frozen=True, slots=True)
class GitSource:
    """A Git repository and the ref to follow (none of branch/tag/semver/commit: its HEAD)."""

    url: str = field(
        metadata=doc(
            "Repository URL: https://, http://, ssh://, git://, file://, user@host:path, or a"
            " local path (relative to the config file's directory).",
            local_path="url",
        )
    )
    branch: str = field(
        default="",
        metadata=doc("Branch to follow. Exactly one of branch/tag/semver/commit.", nonempty=True),
    )
    tag: str = field(default="", metadata=doc("A fixed tag.", nonempty=True))
    semver: str = field(
        default="",
        metadata=doc("A semver range over tags; the highest matching tag is used.", nonempty=True),
    )
    commit: str = field(default="", metadata=doc("A fixed commit SHA.", nonempty=True))
    interval: float = field(
        default=60.0,
        metadata=doc(
            "Poll interval (default 1m: one cheap ls-remote per repository).",
            unit="s",
            positive=True,
        ),
    )
    timeout: float = field(
        default=60.0,
        metadata=doc(
            "Timeout of each git operation (default 60s).", unit="s", positive=True, maximum=3600.0
        ),
    )
    auth: GitAuth | None = field(default=None, metadata=doc("Credentials, if the repo needs them."))


@dataclass(frozen=True, slots=True)
class ChartAuth:
    """Credentials of a Helm chart repository (HTTP Basic auth); secret references."""

    username_from: SecretRef | None = field(default=None, metadata=doc("User name."))
    password_from: SecretRef | None = field(default=None, metadata=doc("Password or token."))


@dataclass(frozen=True, slots=True)
class ChartSource:
    """A Helm chart from a chart repository or an OCI registry, at the newest version of
    a range (as Flux's HelmRepository + HelmChart, or Argo CD's repoURL + chart)."""

    url: str = field(
        metadata=doc(
            "Repository URL: https://charts.example.com/stable (a repository with an"
            " index.yaml) or oci://registry.example.com/charts (the chart is"
            " <url>/<chart>, credentials from registries[])."
        )
    )
    chart: str = field(metadata=doc("Chart name in the repository, e.g. nginx."))
    version: str = field(
        default="",
        metadata=doc(
            "A version or semver range (1.2.3, ^1.2, ~1.2.3, >=1.0 <2, 1.x); empty = the"
            " newest release that is not a pre-release."
        ),
    )
    interval: float = field(
        default=300.0,
        metadata=doc(
            "Poll interval (default 5m: one index.yaml or tag-list request).",
            unit="s",
            positive=True,
        ),
    )
    timeout: float = field(
        default=60.0,
        metadata=doc(
            "Timeout of each request (default 60s).", unit="s", positive=True, maximum=3600.0
        ),
    )
    auth: ChartAuth | None = field(
        default=None,
        metadata=doc("Credentials of an https:// repository (oci://: the registry's)."),
    )
    pass_credentials: bool = field(
        default=False,
        metadata=doc(
            "Also send the credentials to chart archives on another host than the"
            " repository's (Helm's --pass-credentials)."
        ),
    )
    ca_file: str = field(
        default="",
        metadata=doc("PEM file of the CA of an https:// repository.", local_path="file"),
    )
    max_index_size: int = field(
        default=64 * 1024 * 1024,
        metadata=doc(
            "Most bytes of index.yaml (default 67108864, 64 MiB).",
            positive=True,
            maximum=1024 * 1024 * 1024,
        ),
    )
    max_chart_size: int = field(
        default=16 * 1024 * 1024,
        metadata=doc(
            "Most bytes of a chart archive (default 16777216, 16 MiB); unpacked, at most"
            " 8 times that.",
            positive=True,
            maximum=1024 * 1024 * 1024,
        ),
    )


@dataclass(frozen=True, slots=True)
class Source:
    """A named Git repository, or Helm chart, that apps read manifests from."""

    name: str = field(metadata=doc("Unique name that apps refer to."))
    git: GitSource | None = field(
        default=None, metadata=doc("A Git repository. Exactly one of git / helm.")
    )
    helm: ChartSource | None = field(
        default=None, metadata=doc("A Helm chart from a chart repository or OCI registry.")
    )

    @property
    def url(self) -> str:
        """What is polled: the Git URL, or the chart's repository URL."""
        if self.helm is not None:
            return self.helm.url
        return self.git.url if self.git is not None else ""

    @property
    def interval(self) -> float:
        if self.helm is not None:
            return self.helm.interval
        return self.git.interval if self.git is not None else 60.0

    @property
    def ref(self) -> str:
        """What the source follows: a branch, tag, range or commit; ``chart@version``."""
        if self.helm is not None:
            return f"{self.helm.chart}@{self.helm.version or '*'}"
        git = self.git
        return (git.branch or git.tag or git.semver or git.commit) if git is not None else ""


# --- registries ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegistryAuth:
    """Registry credentials: usernameFrom + passwordFrom, or dockerConfig, or pullSecret."""

    username_from: SecretRef | None = field(default=None, metadata=doc("Registry user name."))
    password_from: SecretRef | None = field(
        default=None, metadata=doc("Registry password or token.")
    )
    docker_config: str = field(
        default="",
        metadata=doc(
            "Path of a docker config.json (auths, credHelpers, credsStore).", local_path="file"
        ),
    )
    pull_secret: str = field(
        default="",
        metadata=doc("A kubernetes.io/dockerconfigjson Secret as NAMESPACE/NAME."),
    )


@dataclass(frozen=True, slots=True)
class RateLimit:
    """How hard syncer may hit one registry."""

    per_second: float = field(
        default=5.0,
        metadata=doc("Sustained requests per second (default 5).", positive=True, maximum=10000),
    )
    burst: int = field(
        default=10,
        metadata=doc("Requests allowed at once after idling.", positive=True, maximum=10000),
    )
    max_concurrency: int = field(
        default=4,
        metadata=doc(
            "Requests in flight at once to this registry (default 4).", positive=True, maximum=256
        ),
    )


@dataclass(frozen=True, slots=True)
class Registry:
    """Settings for one registry host; optional (anonymous HTTPS when absent)."""

    host: str = field(metadata=doc("Registry host[:port], e.g. registry.example.com."))
    auth: RegistryAuth | None = field(default=None, metadata=doc("Credentials."))
    insecure: bool = field(
        default=False,
        metadata=doc("Use plain HTTP (automatic for localhost and 127.0.0.1)."),
    )
    ca_file: str = field(
        default="", metadata=doc("PEM file of the CA that signed its cert.", local_path="file")
    )
    rate_limit: RateLimit = field(default_factory=RateLimit, metadata=doc("Request budget."))
    timeout: float = field(
        default=30.0,
        metadata=doc(
            "Total time for one request: connecting, the headers and the whole body, not per "
            "read (default 30s).",
            unit="s",
            positive=True,
            maximum=3600.0,
        ),
    )
    deadline: float = field(
        default=120.0,
        metadata=doc(
            "Total time for one registry call: all pages of a tag list, retries, waits and "
            "token fetches (default 2m).",
            unit="s",
            positive=True,
            maximum=3600.0,
        ),
    )
    scan_budget: int = field(
        default=50_000,
        metadata=doc(
            "Most tags read from one repository per poll (default 50000); a cut list never "
            "chooses below the running tag.",
            positive=True,
            maximum=10_000_000,
        ),
    )
    max_pages: int = field(
        default=1000,
        metadata=doc("Most pages of one tag list (default 1000).", positive=True, maximum=100_000),
    )
    max_body_size: int = field(
        default=16 * 1024 * 1024,
        metadata=doc(
            "Most bytes of one answer's body (default 16777216, 16 MiB); larger ones are refused.",
            positive=True,
            maximum=1024 * 1024 * 1024,
        ),
    )


# --- clusters ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cluster:
    """A Kubernetes cluster to deploy to."""

    name: str = field(metadata=doc("Unique cluster name."))
    kubeconfig: str = field(
        default="",
        metadata=doc(
            "Kubeconfig path; empty means $KUBECONFIG or ~/.kube/config.", local_path="file"
        ),
    )
    context: str = field(default="", metadata=doc("Context in the kubeconfig; empty = current."))
    in_cluster: bool = field(
        default=False, metadata=doc("Use the pod's service account (syncer runs in it).")
    )
    labels: dict[str, str] = field(
        default_factory=dict, metadata=doc("Labels for selectors and path templates.")
    )
    qps: float = field(
        default=0.0,
        metadata=doc(
            "Requests per second to its API, with bursts of as many at once. 0 (the"
            " default) is automatic: no limit of syncer's own where the API server has API"
            " Priority and Fairness (on by default since Kubernetes 1.20; it queues and sheds"
            " load itself, answering 429 with Retry-After, which syncer honours), as"
            " controller-runtime and Flux do; 200 where it has not. A number above 0 is"
            " always kept: set one to spare a small shared API server.",
            maximum=10000,
        ),
    )
    timeout: float = field(
        default=30.0,
        metadata=doc("Per-request timeout (default 30s).", unit="s", positive=True, maximum=3600.0),
    )
    drift_source: str = field(
        default="watch",
        metadata=doc(
            "How `syncer run` sees drift here: watch (default: one LIST+WATCH per kind of"
            " syncer's objects, shared by all apps; changes checked within seconds, no reads"
            " when nothing changes; a kind that cannot be watched is listed) or poll (each"
            " drift check lists the app's objects)."
        ),
    )


DRIFT_SOURCES = ("watch", "poll")
"""``clusters[].driftSource`` values: watches feeding a cache, or a LIST per drift check."""


@dataclass(frozen=True, slots=True)
class ClusterSelection:
    """Which clusters: a list of names, or ``{selector: {label: value}}``."""

    names: tuple[str, ...] = ()
    selector: dict[str, str] = field(default_factory=dict)


# --- apps ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TagFilter:
    """Keeps only tags matching a regex, optionally ordering an extracted part instead."""

    pattern: str = field(metadata=doc("Regex a tag must match (searched, anchor it yourself)."))
    extract: str = field(
        default="",
        metadata=doc("Template of named/numbered groups ($ts, $1) ordered instead of the tag."),
    )


@dataclass(frozen=True, slots=True)
class NewestBuild:
    """Pick the tag whose image was built last (its config's ``created`` time)."""

    platform: str = field(
        default="linux/amd64",
        metadata=doc("Whose build time counts in a multi-arch index (os/arch[/variant])."),
    )


@dataclass(frozen=True, slots=True)
class ImagePolicy:
    """Exactly one of semver / alphabetical / numerical / digest / newestBuild."""

    semver: str = field(
        default="", metadata=doc("Semver range (npm): ^1.2, ~1.2.3, >=1.0 <2, 1.x, >=1.0.0-0.")
    )
    alphabetical: str = field(default="", metadata=doc("asc or desc: highest tag wins."))
    numerical: str = field(default="", metadata=doc("asc or desc over numeric tags."))
    digest: str = field(
        default="", metadata=doc("A mutable tag (latest, main) whose digest is tracked.")
    )
    newest_build: NewestBuild | None = field(
        default=None, metadata=doc("The most recently built image ({} for the defaults).")
    )


@dataclass(frozen=True, slots=True)
class AppImage:
    """An image repository whose tag syncer keeps updated in the app's workloads."""

    repository: str = field(metadata=doc("Image repository, e.g. registry.example.com/team/web."))
    policy: ImagePolicy = field(metadata=doc("How to choose the tag."))
    filter: TagFilter | None = field(default=None, metadata=doc("Regex filter before ordering."))
    ignore: tuple[str, ...] = field(
        default=(), metadata=doc("Tags never to choose: globs such as '*-debug', 'v1.2.?'.")
    )
    interval: float = field(
        default=60.0,
        metadata=doc("Registry poll interval (default 1m).", unit="s", positive=True),
    )


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """How an app's objects are applied and kept in sync."""

    prune: bool = field(default=True, metadata=doc("Delete objects that left Git."))
    self_heal: bool = field(default=True, metadata=doc("Re-apply when others change our fields."))
    wait: float = field(
        default=300.0, metadata=doc("How long to wait for health (default 5m).", unit="s")
    )
    rollback_on_failure: bool = field(
        default=True, metadata=doc("Roll back to the last healthy release when unhealthy.")
    )
    force: bool = field(
        default=False, metadata=doc("Take over fields owned by other managers (SSA force).")
    )
    create_namespace: bool = field(
        default=True, metadata=doc("Create the app's namespace when missing.")
    )
    drift_interval: float = field(
        default=300.0,
        metadata=doc("How often to check for drift (default 5m).", unit="s", positive=True),
    )


@dataclass(frozen=True, slots=True)
class GatewayPolicy:
    """Checks the rendered objects must pass before anything is applied."""

    require_resources: bool = field(
        default=False, metadata=doc("Every container declares CPU/memory requests and limits.")
    )
    max_cpu: str = field(default="", metadata=doc("Highest CPU limit per container, e.g. 2."))
    max_memory: str = field(
        default="", metadata=doc("Highest memory limit per container, e.g. 2Gi.")
    )
    max_replicas: int = field(
        default=0, metadata=doc("Highest replicas; 0 = no limit.", maximum=1_000_000)
    )
    allowed_registries: tuple[str, ...] = field(
        default=(), metadata=doc("Image hosts allowed; empty = any.")
    )
    require_digest: bool = field(default=False, metadata=doc("Images must be pinned by digest."))
    allowed_namespaces: tuple[str, ...] = field(
        default=(), metadata=doc("Namespaces objects may go to; empty = the app's namespace.")
    )
    allow_cluster_scoped: bool = field(
        default=False, metadata=doc("Allow cluster-scoped kinds (Namespaces, CRDs, RBAC roles).")
    )
    check_quota: bool = field(
        default=True,
        metadata=doc(
            "Before any write, refuse a rollout that would not fit the target namespaces'"
            " ResourceQuotas (replicas, rolling-update surge and LimitRange defaults counted)."
        ),
    )
    tenant: Tenant | None = field(
        default=None,
        metadata=doc(
            "The tenant whose rules the objects must also keep (set by the loader).",
            internal=True,
        ),
    )


@dataclass(frozen=True, slots=True)
class HelmOptions:
    """Options used when the app's path holds a Helm chart."""

    values_files: tuple[str, ...] = field(
        default=(), metadata=doc("Values files, relative to the app path.")
    )
    values: dict[str, Any] = field(default_factory=dict, metadata=doc("Inline values."))
    release_name: str = field(
        default="", metadata=doc("Release name; default the app name.", nonempty=True)
    )


@dataclass(frozen=True, slots=True)
class ImageFieldPath:
    """Where an image string lives in a custom resource."""

    kind: str = field(metadata=doc("Kind of custom resource, e.g. Rollout."))
    path: str = field(metadata=doc("Dotted path to an image string, e.g. spec.image."))


DEFAULT_WRITE_BACK_MESSAGE = """syncer: update images of {app}

{changes}
Syncer-Write-Back: {app}
"""
"""The default commit message of a write-back; ``{changes}`` is one line per change."""


@dataclass(frozen=True, slots=True)
class HelmValuesTarget:
    """A Helm values file whose keys hold an image's tag (and repository, digest)."""

    file: str = field(
        metadata=doc("Values file, relative to the app path, e.g. values.yaml.", nonempty=True)
    )
    tag: str = field(metadata=doc("Dotted key of the tag, e.g. image.tag.", nonempty=True))
    image: str = field(
        default="",
        metadata=doc("The app image (repository) it is for; default the app's only image."),
    )
    repository: str = field(
        default="", metadata=doc("Dotted key of the repository, if the file has one.")
    )
    digest: str = field(default="", metadata=doc("Dotted key of the digest, if the file has one."))


@dataclass(frozen=True, slots=True)
class WriteBackCommit:
    """Who commits a write-back, how it is signed, and what its message says."""

    author_name: str = field(default="syncer", metadata=doc("Author and committer name."))
    author_email: str = field(
        default="syncer@localhost", metadata=doc("Author and committer e-mail.")
    )
    message: str = field(
        default=DEFAULT_WRITE_BACK_MESSAGE,
        metadata=doc(
            "Message template: {app}, {branch}, {changes} (one line per change: file, object,"
            " old -> new, policy), {images} (the new references)."
        ),
    )
    signing_key_from: SecretRef | None = field(
        default=None,
        metadata=doc("Private key that signs the commits: an SSH key, or an armored OpenPGP key."),
    )


@dataclass(frozen=True, slots=True)
class WriteBack:
    """Write chosen images to Git: one or more of kustomization, helmValues, manifests."""

    kustomization: str = field(
        default="",
        metadata=doc("A kustomization file (relative to the app path) whose images: to set."),
    )
    helm_values: tuple[HelmValuesTarget, ...] = field(
        default=(), metadata=doc("Helm values files and the keys that hold images.")
    )
    manifests: bool = field(
        default=False,
        metadata=doc(
            "Rewrite the YAML files under the app path: lines marked"
            ' # {"$imagepolicy": "APP:IMAGE"} (or :tag, :name, :digest), and the image of'
            " every container whose repository is an app image."
        ),
    )
    branch: str = field(
        default="",
        metadata=doc(
            "Branch to push to; default the source's branch. A template: {app}, e.g."
            " syncer/{app} for pull requests."
        ),
    )
    digest: bool = field(
        default=False,
        metadata=doc(
            "Write digests too (repo:tag@sha256:...); always for digest policies, whose tag"
            " never changes."
        ),
    )
    commit: WriteBackCommit = field(
        default_factory=WriteBackCommit, metadata=doc("Author, signing and message.")
    )


@dataclass(frozen=True, slots=True)
class App:
    """What to deploy (a path in a source), where (clusters) and which images to update."""

    name: str = field(metadata=doc("Unique app name."))
    source: str = field(metadata=doc("Name of a source."))
    path: str = field(
        default=".",
        metadata=doc("Path in the repo; may use {cluster} and cluster labels, e.g. {env}."),
    )
    namespace: str = field(default="default", metadata=doc("Default namespace of its objects."))
    clusters: ClusterSelection = field(
        default_factory=ClusterSelection,
        metadata=doc("Cluster names, or {selector: {label: value}}; required."),
    )
    images: tuple[AppImage, ...] = field(default=(), metadata=doc("Images to keep updated."))
    image_fields: tuple[ImageFieldPath, ...] = field(
        default=(), metadata=doc("Where images live in custom resources.")
    )
    sync: SyncOptions = field(default_factory=SyncOptions, metadata=doc("Sync behaviour."))
    gateway: GatewayPolicy = field(
        default_factory=GatewayPolicy,
        metadata=doc("Checks before applying; in a tenant, they may only tighten the tenant's."),
    )
    tenant: str = field(
        default="",
        metadata=doc(
            "Name of the tenant the app belongs to; empty = the platform's own app, bound by"
            " no tenant.",
            nonempty=True,
        ),
    )
    helm: HelmOptions = field(default_factory=HelmOptions, metadata=doc("For Helm charts."))
    write_back: WriteBack | None = field(
        default=None, metadata=doc("Write the chosen images back to Git.")
    )
    origin: str = field(
        default="",
        metadata=doc(
            "Where the app is defined: empty for this file, else the tenant's file"
            " (SOURCE:PATH, set when a tenant's appsFrom is read).",
            internal=True,
        ),
    )


# --- tenants -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TenantSource:
    """Where a tenant's apps may read manifests from."""

    repo: str = field(
        metadata=doc(
            "Glob over the source's URL (Git URL or chart repository URL), e.g."
            " https://git.example.com/team-a/*; !glob refuses what it matches.",
            nonempty=True,
        )
    )
    path: str = field(
        default="*", metadata=doc("Glob over the app's path in it (default any).", nonempty=True)
    )


@dataclass(frozen=True, slots=True)
class TenantKinds:
    """Which kinds a tenant's apps may create; a kind is written Kind or group/Kind
    (globs allowed: *.example.com/*); the core group is empty (/Secret or Secret)."""

    allow: tuple[str, ...] = field(default=(), metadata=doc("Kinds allowed; empty = any."))
    deny: tuple[str, ...] = field(
        default=(), metadata=doc("Kinds refused, even when allow matches.")
    )
    cluster_scoped: bool = field(
        default=False,
        metadata=doc(
            "Allow cluster-scoped kinds (Namespaces, CRDs, ClusterRoles) at all; default not."
        ),
    )
    cluster_allow: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "With clusterScoped: the only cluster-scoped kinds allowed (as Argo CD's"
            " clusterResourceWhitelist); empty = any that allow and deny let through."
        ),
    )


@dataclass(frozen=True, slots=True)
class Impersonation:
    """Whom requests for a tenant's apps act as, so the cluster's RBAC bounds them."""

    service_account: str = field(
        default="",
        metadata=doc(
            "NAMESPACE/NAME of a ServiceAccount (Impersonate-User"
            " system:serviceaccount:NAMESPACE:NAME). Exactly one of serviceAccount / user.",
            nonempty=True,
        ),
    )
    user: str = field(default="", metadata=doc("A user name (Impersonate-User).", nonempty=True))
    groups: tuple[str, ...] = field(
        default=(), metadata=doc("Groups (Impersonate-Group), with user.")
    )
    clusters: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "Clusters (by name) where it applies; empty = all. A cluster named by no entry"
            " is reached with syncer's own credentials."
        ),
    )


@dataclass(frozen=True, slots=True)
class TenantDefaults:
    """Settings a tenant's apps get when they write none."""

    namespace: str = field(
        default="",
        metadata=doc("Namespace of apps that set none (instead of default).", nonempty=True),
    )


@dataclass(frozen=True, slots=True)
class TenantAppsFrom:
    """A directory of one of the platform's Git sources where the tenant keeps its own
    app definitions (files with a top-level apps: list, each entry as in apps[])."""

    source: str = field(
        metadata=doc(
            "Name of a Git source in sources[]; the tenant's sources bounds must allow it"
            " and the path.",
            nonempty=True,
        )
    )
    path: str = field(
        default=".",
        metadata=doc("Directory in the repository, relative to its root; searched recursively."),
    )
    files: tuple[str, ...] = field(
        default=("*.yaml", "*.yml"),
        metadata=doc("Globs over file names read there (others are ignored)."),
    )


@dataclass(frozen=True, slots=True)
class Tenant:
    """A team's bounds, set by the platform: where its apps come from, where they go,
    what they may create, and the gateway rules they can only tighten."""

    name: str = field(metadata=doc("Unique tenant name that apps refer to."))
    sources: tuple[TenantSource, ...] = field(
        default=(), metadata=doc("Repositories and paths its apps may use; empty = none.")
    )
    clusters: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "Globs over cluster names its apps may deploy to, !glob to exclude; empty = none."
        ),
    )
    namespaces: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "Globs over namespaces its objects may be in, !glob to exclude (['*',"
            " '!kube-*']); empty = none."
        ),
    )
    registries: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "Image repository prefixes its images must start with (registry.example.com/team-a);"
            " empty = any."
        ),
    )
    kinds: TenantKinds = field(
        default_factory=TenantKinds, metadata=doc("Kinds allowed and refused.")
    )
    gateway: GatewayPolicy = field(
        default_factory=GatewayPolicy,
        metadata=doc("Gateway rules of all its apps; an app may only tighten them."),
    )
    defaults: TenantDefaults = field(
        default_factory=TenantDefaults, metadata=doc("Defaults of its apps.")
    )
    impersonate: Impersonation | None = field(
        default=None,
        metadata=doc(
            "Act as this ServiceAccount or user in its clusters: every read and apply for its"
            " apps carries Impersonate-User/-Group, so the cluster's RBAC bounds them."
        ),
    )
    cluster_impersonate: tuple[Impersonation, ...] = field(
        default=(),
        metadata=doc(
            "A different account in some clusters (each entry names its clusters, as Argo"
            " CD's destinationServiceAccounts); the first entry naming a cluster wins over"
            " impersonate there."
        ),
    )
    apps_from: TenantAppsFrom | None = field(
        default=None,
        metadata=doc(
            "Where the team adds its own apps without editing this file: re-read on every"
            " new commit of that source; an invalid set keeps its last good apps running."
        ),
    )


# --- pipelines -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A recurring window (cron, UTC) during which a stage may roll out."""

    cron: str = field(metadata=doc("When the window opens (5-field cron, UTC)."))
    duration: float = field(metadata=doc("How long it stays open.", unit="s", positive=True))


@dataclass(frozen=True, slots=True)
class Stage:
    """One step of a promotion pipeline."""

    name: str = field(metadata=doc("Stage name, unique in the pipeline."))
    clusters: ClusterSelection = field(
        metadata=doc("Names, or {selector: {...}}; only clusters of the app.")
    )
    after: str = field(default="", metadata=doc("An earlier stage that must be healthy first."))
    soak: float = field(
        default=0.0, metadata=doc("Time healthy in 'after' before moving on.", unit="s")
    )
    approval: bool = field(default=False, metadata=doc("Wait for a manual approval."))
    window: TimeWindow | None = field(default=None, metadata=doc("Only roll out inside it."))
    one_at_a_time: bool = field(
        default=False, metadata=doc("One cluster at a time; stop at the first failure.")
    )


@dataclass(frozen=True, slots=True)
class Pipeline:
    """Promotes an app's releases stage by stage."""

    app: str = field(metadata=doc("Name of the app it promotes."))
    stages: tuple[Stage, ...] = field(metadata=doc("Stages in order."))


# --- the controller itself -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebhookSecrets:
    """Secrets that incoming webhooks are verified with."""

    github: SecretRef | None = field(default=None, metadata=doc("X-Hub-Signature-256 secret."))
    gitlab: SecretRef | None = field(default=None, metadata=doc("X-Gitlab-Token value."))
    gitea: SecretRef | None = field(default=None, metadata=doc("X-Gitea-Signature secret."))
    generic: SecretRef | None = field(
        default=None, metadata=doc("HMAC-SHA256 secret (X-Signature-256) for anything else.")
    )
    registry: SecretRef | None = field(
        default=None, metadata=doc("Bearer token registry notifications must carry.")
    )


ROLES = ("viewer", "deployer", "approver", "admin")
"""What an API user may do: viewer reads; deployer also syncs, rolls back, suspends and
resumes; approver also approves and rejects promotions; admin does everything."""


@dataclass(frozen=True, slots=True)
class ApiUser:
    """A user of the JSON API: a name recorded in history, a role, and their token."""

    name: str = field(metadata=doc('User name, recorded in history ("approved by alice").'))
    role: str = field(
        metadata=doc(
            "viewer (reads), deployer (+ sync, rollback, suspend, resume), approver (+ approve,"
            " reject), or admin (everything)."
        )
    )
    token: SecretRef = field(
        metadata=doc("Their bearer token; a changed Secret or file is read again within 10s.")
    )
    stages: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "Approvers: the only pipeline stages they may approve or reject (default all)."
        ),
    )


@dataclass(frozen=True, slots=True)
class Server:
    """The HTTP server: API, /metrics and health probes on one listener, webhooks on another."""

    listen: str = field(
        default="127.0.0.1:8080",
        metadata=doc("HOST:PORT of the API, /metrics and the health probes."),
    )
    webhook_listen: str = field(
        default="127.0.0.1:8081",
        metadata=doc(
            "HOST:PORT of the webhook receivers (/webhooks/...); a separate port, so only"
            " it need be exposed to Git hosts and registries."
        ),
    )
    users: tuple[ApiUser, ...] = field(
        default=(), metadata=doc("API users: name, role and token of each.")
    )
    token_file: str = field(
        default="",
        metadata=doc(
            "A file of API users, one `TOKEN,USER,ROLE[,STAGE...]` per line; read again when it"
            " changes, so tokens rotate without a restart.",
            local_path="file",
        ),
    )
    anonymous_reads: bool = field(
        default=False,
        metadata=doc("Let requests without a token read the API (GET); off by default."),
    )
    ui: bool = field(
        default=True,
        metadata=doc(
            "Serve the web UI at / on the API listener (it logs in with an API user's token)."
        ),
    )
    api_token: SecretRef | None = field(
        default=None,
        metadata=doc("Deprecated (use users): one bearer token, acting as admin user 'api'."),
    )
    webhooks: WebhookSecrets = field(
        default_factory=WebhookSecrets, metadata=doc("Webhook secrets.")
    )


IN_CLUSTER = "in-cluster"
"""``state.kubernetes.cluster`` naming the cluster syncer runs in (its service account)."""


@dataclass(frozen=True, slots=True)
class StateKubernetes:
    """State kept as Secrets in one namespace of a cluster (see "State in Kubernetes")."""

    cluster: str = field(
        default=IN_CLUSTER,
        metadata=doc(
            "A cluster of clusters: by name, or in-cluster (default): the cluster syncer"
            " runs in, through its pod's service account.",
            nonempty=True,
        ),
    )
    namespace: str = field(
        default="",
        metadata=doc(
            "Namespace of the state Secrets; empty = the pod's own namespace (in a pod).",
            nonempty=True,
        ),
    )


@dataclass(frozen=True, slots=True)
class StateSettings:
    """Where durable state (releases, history, inventories) is kept."""

    path: str = field(
        default="syncer-state.db",
        metadata=doc(
            "SQLite file, relative to the config file (also where Git caches go, beside it).",
            local_path="file",
            nonempty=True,
        ),
    )
    kubernetes: StateKubernetes | None = field(
        default=None,
        metadata=doc(
            "Keep state in the Kubernetes API instead of the SQLite file: survives a lost"
            " node, shared by replicas."
        ),
    )


@dataclass(frozen=True, slots=True)
class Settings:
    """Controller tuning."""

    workers: int = field(
        default=32,
        metadata=doc(
            "Apps reconciled in parallel (default 32). Under `syncer run` a rollout"
            " waiting for health holds its worker for at most 1.5 s after its apply (not at"
            " all while other apps wait for a worker), then the worker goes on to other"
            " apps and the app comes back (for one look, not held again) when its objects"
            " change, so any"
            " number of health waits overlap (`syncer sync` waits in one go). Requests to"
            " one cluster stay bounded by its qps and by the 32 requests in flight of the"
            " whole process.",
            positive=True,
            maximum=256,
        ),
    )
    jitter: float = field(
        default=0.1,
        metadata=doc(
            "Fraction of each interval added at random to spread polls (0 to 1).", maximum=1.0
        ),
    )
    secrets_cluster: str = field(
        default="",
        metadata=doc(
            "Cluster (by name) whose Secrets secret: references and pullSecret read; empty"
            " = the pod's own cluster when syncer runs in one, else the current kubeconfig"
            " context."
        ),
    )


# --- notifications -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NotificationProvider:
    """Where notifications go: a chat webhook, a signed JSON webhook, commit statuses or
    Kubernetes Events."""

    name: str = field(metadata=doc("Unique name that rules refer to."))
    type: str = field(
        metadata=doc("slack, teams, webhook, github, gitlab, gitea or kubernetes.", nonempty=True)
    )
    url_from: SecretRef | None = field(
        default=None,
        metadata=doc(
            "slack, teams, webhook: the URL to POST to, as a secret reference (a chat webhook"
            " URL is a credential)."
        ),
    )
    secret_from: SecretRef | None = field(
        default=None,
        metadata=doc("webhook: HMAC-SHA256 key; requests carry X-Syncer-Signature-256."),
    )
    token_from: SecretRef | None = field(
        default=None, metadata=doc("github, gitlab, gitea: API token allowed to set statuses.")
    )
    address: str = field(
        default="",
        metadata=doc(
            "github, gitlab, gitea: API base URL (default https://api.github.com,"
            " https://gitlab.com; required for gitea).",
            nonempty=True,
        ),
    )
    repository: str = field(
        default="",
        metadata=doc(
            "github, gitlab, gitea: OWNER/REPO whose commits get statuses; default: the"
            " path of the app's source URL.",
            nonempty=True,
        ),
    )
    timeout: float = field(
        default=10.0,
        metadata=doc(
            "Time for one delivery attempt (default 10s).", unit="s", positive=True, maximum=300.0
        ),
    )


@dataclass(frozen=True, slots=True)
class NotificationRule:
    """Which events go to which providers; an empty filter matches everything."""

    providers: tuple[str, ...] = field(metadata=doc("Names of providers to notify."))
    events: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "Event types: release-created, rollout-started, rollout-healthy, rollout-failed,"
            " rolled-back, awaiting-approval, approved, rejected, drift-healed,"
            " image-held-back, unreachable; empty = all."
        ),
    )
    apps: tuple[str, ...] = field(default=(), metadata=doc("App names; empty = all."))
    stages: tuple[str, ...] = field(
        default=(), metadata=doc("Pipeline stages (of the event's cluster); empty = all.")
    )
    clusters: tuple[str, ...] = field(default=(), metadata=doc("Cluster names; empty = all."))
    severity: str = field(
        default="info",
        metadata=doc("Lowest severity sent: info, warning or error (default info).", nonempty=True),
    )
    template: str = field(
        default="",
        metadata=doc(
            "Message text with $app, $event, $severity, $cluster, $stage, $release, $commit,"
            " $images, $by, $message; default: a sentence per event type.",
            nonempty=True,
        ),
    )


@dataclass(frozen=True, slots=True)
class Notifications:
    """Notifications of rollouts, rollbacks, approvals and outages."""

    providers: tuple[NotificationProvider, ...] = field(
        default=(), metadata=doc("Where notifications go.")
    )
    rules: tuple[NotificationRule, ...] = field(default=(), metadata=doc("Which events go where."))
    unreachable_after: float = field(
        default=600.0,
        metadata=doc(
            "A Git source or registry failing this long sends `unreachable` (default 10m).",
            unit="s",
            positive=True,
        ),
    )
    max_queued: int = field(
        default=10_000,
        metadata=doc(
            "Deliveries waiting at most (default 10000); more are dropped and counted.",
            positive=True,
            maximum=1_000_000,
        ),
    )
    max_age: float = field(
        default=86_400.0,
        metadata=doc(
            "A delivery still failing after this long is given up (default 1d).",
            unit="s",
            positive=True,
        ),
    )


@dataclass(frozen=True, slots=True)
class AppsFile:
    """A file of a tenant's ``appsFrom`` directory."""

    apps: tuple[App, ...] = field(
        default=(), metadata=doc("The team's apps, each as an apps[] entry of the config.")
    )


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration file."""

    sources: tuple[Source, ...] = field(
        default=(), metadata=doc("Git repositories and Helm charts.")
    )
    registries: tuple[Registry, ...] = field(default=(), metadata=doc("Registry settings."))
    clusters: tuple[Cluster, ...] = field(default=(), metadata=doc("Target clusters."))
    apps: tuple[App, ...] = field(default=(), metadata=doc("What to deploy where."))
    tenants: tuple[Tenant, ...] = field(
        default=(), metadata=doc("Teams' bounds: what their apps (apps[].tenant) may do.")
    )
    pipelines: tuple[Pipeline, ...] = field(default=(), metadata=doc("Promotion pipelines."))
    server: Server = field(default_factory=Server, metadata=doc("HTTP server."))
    state: StateSettings = field(default_factory=StateSettings, metadata=doc("Durable state."))
    settings: Settings = field(default_factory=Settings, metadata=doc("Controller tuning."))
    notifications: Notifications = field(
        default_factory=Notifications, metadata=doc("Notifications (Slack, commit statuses, ...).")
    )
    base_dir: str = field(
        default=".",
        metadata=doc("Directory of the config file (set by the loader).", internal=True),
    )
