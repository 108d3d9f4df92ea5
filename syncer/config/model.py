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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Source:
    """A named Git repository that apps read manifests from."""

    name: str = field(metadata=doc("Unique name that apps refer to."))
    git: GitSource = field(metadata=doc("The Git repository."))


# --- registries ----------------------------------------------------------------------


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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
        default=20.0,
        metadata=doc("Requests per second to its API (default 20).", positive=True, maximum=10000),
    )
    timeout: float = field(
        default=30.0,
        metadata=doc("Per-request timeout (default 30s).", unit="s", positive=True, maximum=3600.0),
    )


@dataclass(frozen=True)
class ClusterSelection:
    """Which clusters: a list of names, or ``{selector: {label: value}}``."""

    names: tuple[str, ...] = ()
    selector: dict[str, str] = field(default_factory=dict)


# --- apps ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TagFilter:
    """Keeps only tags matching a regex, optionally ordering an extracted part instead."""

    pattern: str = field(metadata=doc("Regex a tag must match (searched, anchor it yourself)."))
    extract: str = field(
        default="",
        metadata=doc("Template of named/numbered groups ($ts, $1) ordered instead of the tag."),
    )


@dataclass(frozen=True)
class NewestBuild:
    """Pick the tag whose image was built last (its config's ``created`` time)."""

    platform: str = field(
        default="linux/amd64",
        metadata=doc("Whose build time counts in a multi-arch index (os/arch[/variant])."),
    )


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class HelmOptions:
    """Options used when the app's path holds a Helm chart."""

    values_files: tuple[str, ...] = field(
        default=(), metadata=doc("Values files, relative to the app path.")
    )
    values: dict[str, Any] = field(default_factory=dict, metadata=doc("Inline values."))
    release_name: str = field(
        default="", metadata=doc("Release name; default the app name.", nonempty=True)
    )


@dataclass(frozen=True)
class ImageFieldPath:
    """Where an image string lives in a custom resource."""

    kind: str = field(metadata=doc("Kind of custom resource, e.g. Rollout."))
    path: str = field(metadata=doc("Dotted path to an image string, e.g. spec.image."))


@dataclass(frozen=True)
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
        default_factory=GatewayPolicy, metadata=doc("Checks before applying.")
    )
    helm: HelmOptions = field(default_factory=HelmOptions, metadata=doc("For Helm charts."))


# --- pipelines -----------------------------------------------------------------------


@dataclass(frozen=True)
class TimeWindow:
    """A recurring window (cron, UTC) during which a stage may roll out."""

    cron: str = field(metadata=doc("When the window opens (5-field cron, UTC)."))
    duration: float = field(metadata=doc("How long it stays open.", unit="s", positive=True))


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Pipeline:
    """Promotes an app's releases stage by stage."""

    app: str = field(metadata=doc("Name of the app it promotes."))
    stages: tuple[Stage, ...] = field(metadata=doc("Stages in order."))


# --- the controller itself -----------------------------------------------------------


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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
    api_token: SecretRef | None = field(
        default=None, metadata=doc("Bearer token for the API's POST endpoints.")
    )
    webhooks: WebhookSecrets = field(
        default_factory=WebhookSecrets, metadata=doc("Webhook secrets.")
    )


@dataclass(frozen=True)
class StateSettings:
    """Where durable state (releases, history, inventories) is kept."""

    path: str = field(
        default="syncer-state.db",
        metadata=doc("SQLite file, relative to the config file.", local_path="file", nonempty=True),
    )


@dataclass(frozen=True)
class Settings:
    """Controller tuning."""

    workers: int = field(
        default=4,
        metadata=doc("Apps reconciled in parallel (default 4).", positive=True, maximum=256),
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


@dataclass(frozen=True)
class Config:
    """The whole configuration file."""

    sources: tuple[Source, ...] = field(default=(), metadata=doc("Git repositories."))
    registries: tuple[Registry, ...] = field(default=(), metadata=doc("Registry settings."))
    clusters: tuple[Cluster, ...] = field(default=(), metadata=doc("Target clusters."))
    apps: tuple[App, ...] = field(default=(), metadata=doc("What to deploy where."))
    pipelines: tuple[Pipeline, ...] = field(default=(), metadata=doc("Promotion pipelines."))
    server: Server = field(default_factory=Server, metadata=doc("HTTP server."))
    state: StateSettings = field(default_factory=StateSettings, metadata=doc("Durable state."))
    settings: Settings = field(default_factory=Settings, metadata=doc("Controller tuning."))
    base_dir: str = field(
        default=".",
        metadata=doc("Directory of the config file (set by the loader).", internal=True),
    )
