"""Valid configs load, and every field kind arrives in Python as documented."""

from __future__ import annotations

import pytest

from syncer.config import loader, model
from tests.config.conftest import TESTDATA

VALID = TESTDATA / "valid"


@pytest.mark.parametrize("path", sorted(VALID.glob("*.yaml")), ids=lambda path: path.stem)
def test_valid_config_loads(path):
    config = loader.load(path)
    assert config.base_dir == str(VALID)


@pytest.fixture(scope="module")
def everything() -> model.Config:
    return loader.load(VALID / "everything.yaml")


def _src(config, i):
    return config.sources[i].git


FIELD_KINDS = [
    ("duration 1h30m", lambda c: _src(c, 0).interval, 5400.0),
    ("plain number of seconds", lambda c: _src(c, 0).timeout, 90.0),
    ("git semver range", lambda c: _src(c, 0).semver, ">=1.0 <2"),
    ("env reference", lambda c: _src(c, 0).auth.username_from, model.SecretRef("env", "GIT_USER")),
    (
        "file reference, relative to the config's directory",
        lambda c: _src(c, 0).auth.password_from,
        model.SecretRef("file", str(VALID / "secrets" / "git-token")),
    ),
    (
        "Secret reference",
        lambda c: _src(c, 1).auth.ssh_key_from,
        model.SecretRef("secret", "syncer/git-ssh", "identity"),
    ),
    (
        "absolute file reference",
        lambda c: _src(c, 1).auth.known_hosts_from,
        model.SecretRef("file", "/etc/ssh/known_hosts"),
    ),
    ("scp-like URL kept", lambda c: _src(c, 1).url, "git@git.example.com:team/infra.git"),
    ("commit", lambda c: _src(c, 1).commit, "0123abc"),
    ("relative URL is a path", lambda c: _src(c, 2).url, str(TESTDATA / "repo")),
    ("no ref: remote HEAD", lambda c: (_src(c, 2).branch, _src(c, 2).tag), ("", "v1.0.0")),
    ("caFile resolved", lambda c: c.registries[0].ca_file, str(VALID / "certs" / "ca.pem")),
    ("rate limit", lambda c: c.registries[0].rate_limit, model.RateLimit(2.5, 5, 2)),
    ("registry timeout", lambda c: c.registries[0].timeout, 10.0),
    (
        "host with port",
        lambda c: (c.registries[1].host, c.registries[1].insecure),
        ("127.0.0.1:5000", True),
    ),
    ("pull secret", lambda c: c.registries[2].auth.pull_secret, "syncer/ghcr-pull"),
    ("kubeconfig resolved", lambda c: c.clusters[0].kubeconfig, str(VALID / "kube" / "dev.yaml")),
    ("labels", lambda c: c.clusters[0].labels, {"env": "dev", "region": "eu"}),
    ("integer for a number", lambda c: c.clusters[0].qps, 50.0),
    ("in cluster", lambda c: c.clusters[1].in_cluster, True),
    ("default timeout", lambda c: c.clusters[2].timeout, 30.0),
    ("selector", lambda c: c.apps[0].clusters, model.ClusterSelection(selector={"env": "prod"})),
    (
        "cluster names",
        lambda c: c.apps[1].clusters,
        model.ClusterSelection(names=("dev", "prod-eu", "prod-us")),
    ),
    ("path template", lambda c: c.apps[0].path, "overlays/{region}/{cluster}"),
    ("image policy", lambda c: c.apps[0].images[0].policy, model.ImagePolicy(semver="^1.2")),
    (
        "tag filter",
        lambda c: c.apps[0].images[1].filter,
        model.TagFilter(pattern=r"^main-(?P<ts>\d+)-[0-9a-f]+$", extract="$ts"),
    ),
    ("digest policy", lambda c: c.apps[0].images[2].policy.digest, "latest"),
    ("default image interval", lambda c: c.apps[0].images[0].interval, 60.0),
    (
        "image fields",
        lambda c: c.apps[0].image_fields,
        (model.ImageFieldPath("Rollout", "spec.template.spec.containers[0].image"),),
    ),
    (
        "sync options",
        lambda c: (c.apps[0].sync.wait, c.apps[0].sync.drift_interval),
        (120.0, 600.0),
    ),
    ("sync defaults", lambda c: c.apps[1].sync, model.SyncOptions()),
    ("namespace default", lambda c: c.apps[1].namespace, "default"),
    ("gateway lists", lambda c: c.apps[0].gateway.allowed_namespaces, ("web", "web-jobs")),
    (
        "gateway quantities",
        lambda c: (c.apps[0].gateway.max_cpu, c.apps[0].gateway.max_memory),
        ("500m", "1Gi"),
    ),
    (
        "free-form Helm values",
        lambda c: c.apps[0].helm.values,
        {"replicaCount": 3, "image": {"pullPolicy": "IfNotPresent"}},
    ),
    ("values files", lambda c: c.apps[0].helm.values_files, ("values.yaml", "values-prod.yaml")),
    (
        "window",
        lambda c: c.pipelines[0].stages[1].window,
        model.TimeWindow(cron="*/15 9-16 * jan-jun,sep 1-5", duration=2700.0),
    ),
    ("soak 1.5h", lambda c: c.pipelines[0].stages[1].soak, 5400.0),
    (
        "stage flags",
        lambda c: (c.pipelines[0].stages[1].approval, c.pipelines[0].stages[1].one_at_a_time),
        (True, True),
    ),
    ("server", lambda c: c.server.listen, "0.0.0.0:8080"),
    ("webhook listener", lambda c: c.server.webhook_listen, "0.0.0.0:8081"),
    (
        "webhook Secret reference",
        lambda c: c.server.webhooks.registry,
        model.SecretRef("secret", "syncer/registry-webhook", "token"),
    ),
    ("state path resolved", lambda c: c.state.path, str(VALID / "data" / "state.db")),
    ("settings", lambda c: c.settings, model.Settings(workers=8, jitter=0.25)),
]


@pytest.mark.parametrize(("what", "get", "expected"), FIELD_KINDS, ids=[c[0] for c in FIELD_KINDS])
def test_field_kind(everything, what, get, expected):
    value = get(everything)
    assert value == expected
    assert type(value) is type(expected)


def test_defaults_apply_when_sections_are_absent():
    config = loader.load(VALID / "design-sketch.yaml")
    assert config.server == model.Server()
    assert config.state.path == str(VALID / "syncer-state.db")
    assert config.settings == model.Settings()


def test_anchors_and_merge_keys_share_settings():
    config = loader.load(VALID / "anchors.yaml")
    assert config.apps[0].images[0].interval == 120.0
    assert config.apps[0].images[0].policy.semver == "1.x"


def test_the_result_is_frozen():
    config = loader.load(VALID / "anchors.yaml")
    with pytest.raises(AttributeError):
        config.apps = ()  # type: ignore[misc]
