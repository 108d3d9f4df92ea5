"""How each kind of field reads YAML, and that one mistake is reported once."""

from __future__ import annotations

import os

import pytest

from syncer import errors
from syncer.config import loader
from tests.config.conftest import PRELUDE, load_text, problems_of, with_app


def test_strings_are_kept_as_written():
    config = load_text(
        with_app("images:\n  - {repository: r.example.com/a, policy: {semver: 1.10}}\n").replace(
            "team/deploy.git}", "team/deploy.git, tag: 2024}"
        )
    )
    assert config.apps[0].images[0].policy.semver == "1.10"
    assert config.sources[0].git.tag == "2024"


def test_null_collections_and_sections_are_empty():
    config = load_text(with_app("images:\nsync:\n"))
    assert config.apps[0].images == ()
    assert config.apps[0].sync.prune is True


def test_quoted_boolean_is_not_a_boolean():
    assert problems_of(with_app('sync: {prune: "true"}\n')) == [
        "syncer.yaml:11: apps[0].sync.prune: got 'true'; expected true or false"
    ]


def test_boolean_is_not_an_integer():
    assert problems_of(with_app("gateway: {maxReplicas: true}\n")) == [
        "syncer.yaml:11: apps[0].gateway.maxReplicas: got 'true'; expected an integer"
    ]


def test_null_string_is_an_error():
    assert problems_of(with_app("namespace:\n")) == [
        "syncer.yaml:11: apps[0].namespace: got nothing (null); expected a string"
    ]


def test_label_values_written_as_numbers_are_text():
    config = load_text("clusters:\n  - {name: a, labels: {tier: 1, canary: true}}\n")
    assert config.clusters[0].labels == {"tier": "1", "canary": "true"}


def test_invalid_label_key():
    assert problems_of("clusters:\n  - {name: a, labels: {'bad key': x}}\n") == [
        "syncer.yaml:2: clusters[0].labels.bad key: invalid label key 'bad key'; expected letters,"
        " digits, '-', '_' or '.', starting and ending with a letter or digit, at most 63"
        " characters (optionally after a DNS prefix/)"
    ]


def test_x_keys_are_ignored_at_any_level():
    config = load_text(
        "x-common: &c {interval: 5m}\n"
        "sources:\n  - name: s\n    x-note: anything\n    git: {url: https://h/r.git, <<: *c}\n"
    )
    assert config.sources[0].git.interval == 300.0


def test_explicit_keys_win_over_merged_ones():
    config = load_text(
        "x-c: &c {interval: 5m, timeout: 10s}\n"
        "sources:\n  - name: s\n    git: {<<: *c, url: https://h/r.git, interval: 1m}\n"
    )
    assert (config.sources[0].git.interval, config.sources[0].git.timeout) == (60.0, 10.0)


def test_lists_reached_through_anchors_are_whole_in_every_app_that_uses_them():
    # The loader lets go of each list item's nodes once built, except where an alias
    # may reach the list again: an anchored list, and any list inside an anchored value.
    config = load_text(
        PRELUDE + "x-base: &base\n"
        "  source: deploy\n"
        "  images: [{repository: r.example.com/base, policy: {semver: ^1.0}}]\n"
        "apps:\n"
        "  - name: a\n    <<: *base\n    clusters: &both [dev, prod]\n"
        "    images: &imgs\n      - {repository: r.example.com/a, policy: {semver: ^2.0}}\n"
        "  - {name: b, <<: *base, clusters: *both}\n"
        "  - {name: c, <<: *base, clusters: *both, images: *imgs}\n"
        "  - {name: d, <<: *base, clusters: *both}\n"
    )
    images = {app.name: [i.repository for i in app.images] for app in config.apps}
    assert images == {
        "a": ["r.example.com/a"],
        "b": ["r.example.com/base"],
        "c": ["r.example.com/a"],
        "d": ["r.example.com/base"],
    }
    assert [len(app.clusters.names) for app in config.apps] == [2, 2, 2, 2]


def test_relative_paths_resolve_against_the_config_directory(tmp_path):
    config = load_text(
        "sources:\n"
        "  - {name: a, git: {url: ../repos/a}}\n"
        "  - {name: b, git: {url: file:///srv/git/b.git}}\n"
        "  - {name: c, git: {url: ~/src/c}}\n"
        "clusters:\n  - {name: dev, kubeconfig: kube/dev}\n",
        base_dir=str(tmp_path / "conf"),
    )
    urls = [source.git.url for source in config.sources]
    assert urls == [
        str(tmp_path / "repos" / "a"),
        "file:///srv/git/b.git",
        os.path.expanduser("~/src/c"),
    ]
    assert config.clusters[0].kubeconfig == str(tmp_path / "conf" / "kube" / "dev")
    assert config.state.path == str(tmp_path / "conf" / "syncer-state.db")


def test_an_inline_credential_is_never_echoed():
    problems = problems_of(
        "sources:\n  - name: s\n    git: {url: https://h/r.git, auth: {passwordFrom: ghp_S3CRET}}\n"
    )
    assert len(problems) == 1
    assert "ghp_S3CRET" not in problems[0]
    assert "not a secret reference (value not shown)" in problems[0]


def test_an_unbuildable_cluster_does_not_cause_false_reference_errors():
    text = (
        "sources:\n  - {name: deploy, git: {url: https://h/r.git}}\n"
        "clusters:\n  - {labels: {env: dev}}\n"
        "apps:\n  - {name: web, source: deploy, clusters: [dev]}\n"
    )
    assert problems_of(text) == [
        "syncer.yaml:4: clusters[0].name: missing required field;"
        " expected a string (unique cluster name)"
    ]


def test_a_bad_field_is_reported_once_not_again_by_object_rules():
    # clusters is invalid (not a list or selector); the app is not also told it has none.
    assert problems_of(PRELUDE + "apps:\n  - {name: web, source: deploy, clusters: dev}\n") == [
        "syncer.yaml:8: apps[0].clusters: got 'dev'; expected a list of cluster names"
        " or {selector: {label: value}}"
    ]


def test_duplicate_keys_inside_flow_mappings():
    assert problems_of("settings: {workers: 2, workers: 3}\n") == [
        "syncer.yaml:1: settings.workers: duplicate key (first at line 1); expected it once"
    ]


def test_a_cluster_listed_twice():
    assert problems_of(with_app("").replace("[dev, prod]", "[dev, dev]")) == [
        "syncer.yaml:10: apps[0].clusters[1]: cluster 'dev' is listed twice; expected each once"
    ]


ODD_DOCUMENTS = [
    "apps:\n  - helm: {values: {x: !!python/object:os.system ls}}\n",
    "settings: {workers: !!int 'abc'}\n",
    "settings: {jitter: .nan}\n",
    "clusters:\n  - {name: a, qps: .inf}\n",
    "? [a, b]\n: 1\n",
    "sources: &a\n  - *a\n",
    "apps:\n  - <<: [1, 2]\n",
    "apps:\n  - <<: *undefined\n",
    "\tsources: []\n",
    "---\na: 1\n---\nb: 2\n",
    "apps: !!set {a, b}\n",
    "a: 1\n\x00",
    "[",
]


@pytest.mark.parametrize("text", ODD_DOCUMENTS)
def test_odd_yaml_is_a_config_error_never_a_yaml_exception(text):
    with pytest.raises(errors.ConfigError) as caught:
        loader.loads(text, filename="syncer.yaml", base_dir="/etc/syncer")
    problems = caught.value.problems
    assert problems
    for problem in problems:
        assert problem.startswith("syncer.yaml:")
        assert "\n" not in problem
