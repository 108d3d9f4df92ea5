"""Values that used to crash a command or pass validation though nothing could use them.

Each case is one line of ``syncer validate``'s output (``FILE:LINE: field: what; expected``),
and nothing else: no traceback, exit 2.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from syncer import cli
from syncer.config import durations, policies
from tests.config.conftest import PRELUDE, load_text, problems_of, with_app


def validate(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> tuple[int, str]:
    path = tmp_path / "syncer.yaml"
    path.write_text(text)
    code = cli.main(["validate", "-c", str(path)])
    return code, capsys.readouterr().err


def test_a_password_in_a_git_url_is_refused_with_the_auth_field_to_use_instead():
    problems = problems_of(
        """\
        sources:
          - name: deploy
            git: {url: "https://alice:hunter2-secret@git.example.com/team/deploy.git"}
        """
    )
    assert problems == [
        "syncer.yaml:3: sources[0].git.url: credentials in the URL are not allowed (they would"
        " show in git's arguments and logs); expected the URL without 'user:password@' and the"
        " credentials in sources[].git.auth (usernameFrom, passwordFrom)"
    ]
    assert "hunter2" not in problems[0]


@pytest.mark.parametrize(
    "url",
    [
        "https://ghp_0123456789abcdef@github.com/team/deploy.git",  # a token as user name
        "http://user:pw@127.0.0.1:8080/deploy.git",
        "ssh://git:secret@git.example.com/team/deploy.git",
    ],
)
def test_any_credential_in_a_url_is_refused(url):
    (problem,) = problems_of(
        f"sources:\n  - name: deploy\n    git: {{url: {url!r}}}\n".replace("'", '"')
    )
    assert "credentials in the URL are not allowed" in problem
    assert "sources[].git.auth" in problem


def test_an_ssh_user_name_is_not_a_credential():
    config = load_text(
        """\
        sources:
          - {name: a, git: {url: "ssh://git@git.example.com/team/deploy.git"}}
          - {name: b, git: {url: "git@git.example.com:team/deploy.git"}}
        """
    )
    assert len(config.sources) == 2


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://", "has no host"),
        ("https:///team/deploy.git", "has no host"),
        ("https://git.example.com:99999/x.git", "invalid port"),
        ("https://git example.com/x.git", "spaces or control characters"),
        ("ht!tp://git.example.com/x.git", "unsupported scheme ht!tp://"),
        ("https://[::1/x.git", "not a valid URL"),
    ],
)
def test_a_garbage_url_is_refused(url, expected):
    (problem,) = problems_of(f'sources:\n  - name: deploy\n    git: {{url: "{url}"}}\n')
    assert problem.startswith("syncer.yaml:3: sources[0].git.url: ")
    assert expected in problem


def test_deep_nesting_is_one_error_not_a_recursion_error(tmp_path, capsys):
    code, err = validate(tmp_path, capsys, "apps: " + "[" * 5000 + "]" * 5000 + "\n")
    assert code == 2
    assert err.splitlines() == [
        f"error: {tmp_path / 'syncer.yaml'}:1: the YAML nests deeper than 64 levels;"
        " expected a flatter syncer config"
    ]


def test_deep_nesting_in_mappings_is_refused_too(tmp_path, capsys):
    text = "apps:\n" + "".join("  " * i + f"- k{i}:\n" for i in range(200))
    code, err = validate(tmp_path, capsys, text)
    assert code == 2
    assert "nests deeper than 64 levels" in err
    assert "Traceback" not in err


def test_a_huge_interval_is_refused_at_validation(tmp_path, capsys):
    text = (
        PRELUDE.replace("deploy.git}", "deploy.git, interval: 99999999999999999999h}")
        + "apps: []\n"
    )
    code, err = validate(tmp_path, capsys, text)
    assert code == 2
    assert err.splitlines() == [
        f"error: {tmp_path / 'syncer.yaml'}:3: sources[0].git.interval: 99999999999999999999h"
        " is too large; expected at most 365d"
    ]


def test_every_duration_that_validates_can_be_scheduled():
    # The largest accepted duration still makes a datetime (APScheduler adds it to now).
    assert dt.datetime.now(dt.UTC) + dt.timedelta(seconds=durations.MAXIMUM) > dt.datetime.now(
        dt.UTC
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "settings: {workers: 1000000000000}\n",
            "syncer.yaml:1: settings.workers: 1000000000000 is too large; expected at most 256",
        ),
        (
            "registries:\n  - {host: r.example.com, rateLimit: {burst: 99999999}}\n",
            "syncer.yaml:2: registries[0].rateLimit.burst: 99999999 is too large;"
            " expected at most 10000",
        ),
        (
            "clusters:\n  - {name: dev, timeout: 30d}\n",
            "syncer.yaml:2: clusters[0].timeout: 30d is too large; expected at most 1h",
        ),
    ],
)
def test_counts_and_timeouts_have_ranges(text, expected):
    assert problems_of(text) == [expected]


def test_the_state_path_may_not_be_a_directory(tmp_path):
    problems = problems_of("state: {path: /}\n", base_dir=str(tmp_path))
    assert problems == [
        "syncer.yaml:1: state.path: '/' is a directory; expected the path of a file,"
        " e.g. state/syncer.db"
    ]


def test_a_yaml_boolean_where_a_string_is_expected_is_refused():
    problems = problems_of(with_app("namespace: true\n"))
    assert problems == [
        "syncer.yaml:11: apps[0].namespace: got true (a YAML boolean); expected a string"
        " (quote it: 'true')"
    ]


def test_numbers_written_for_strings_stay_text():
    config = load_text(
        """\
        sources:
          - {name: deploy, git: {url: https://git.example.com/d.git, tag: 2024}}
        """
    )
    assert config.sources[0].git.tag == "2024"


@pytest.mark.parametrize("field", ["branch", "tag", "semver", "commit"])
def test_an_empty_ref_is_refused(field):
    (problem,) = problems_of(
        f'sources:\n  - name: deploy\n    git: {{url: https://g.example.com/d.git, {field}: ""}}\n'
    )
    assert problem.startswith(f"syncer.yaml:3: sources[0].git.{field}: ")
    assert "is empty" in problem and "leave the field out" in problem


@pytest.mark.parametrize("name", ["Web", "web_1", "web.site", "-web"])
def test_names_are_dns_labels(name):
    problems = problems_of(
        f"sources:\n  - name: {name}\n    git: {{url: https://g.example.com/d.git}}\n"
    )
    assert problems == [
        f"syncer.yaml:2: sources[0].name: invalid source name {name!r}; expected lowercase"
        " letters, digits and '-', starting and ending with a letter or digit, at most 63"
        " characters (a DNS-1123 label)"
    ]


@pytest.mark.parametrize(
    "pattern",
    [
        "(a+)+$",
        "^(a*)*b",
        "(\\w+\\s?)*$",
        "^(.*a)+$",
        "(x+x+)+y",
        "((ab)*)+c",
        "(?:[0-9]+)*-",
    ],
)
def test_regexes_that_backtrack_catastrophically_are_refused(pattern):
    problem = policies.regex_problem(pattern)
    assert problem is not None
    assert "nested quantifier" in problem


@pytest.mark.parametrize(
    "pattern",
    [
        "^main-[0-9a-f]+-(?P<ts>\\d+)$",
        "^v?(\\d+\\.)+\\d+$",
        "^(\\d+-)*\\d+$",
        "^[a-z]+(-[a-z0-9]+)*$",
        "^(ab|cd)+$",
        "^(a{2})+$",
    ],
)
def test_ordinary_tag_regexes_are_fine(pattern):
    assert policies.regex_problem(pattern) is None


def test_a_catastrophic_filter_is_a_config_error_naming_the_field():
    (problem,) = problems_of(
        with_app(
            """\
            images:
              - repository: registry.example.com/team/web
                policy: {numerical: asc}
                filter: {pattern: "(a+)+$"}
            """
        )
    )
    assert problem.startswith("syncer.yaml:14: apps[0].images[0].filter.pattern: ")


def test_an_alias_bomb_is_refused(tmp_path, capsys):
    lines = ["x-a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"x-a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    text = PRELUDE + "\n".join(lines) + "\napps:\n  - {name: web, source: deploy,"
    text += " clusters: [dev], helm: {values: {bomb: *a8}}}\n"
    code, err = validate(tmp_path, capsys, text)
    assert code == 2
    assert err.splitlines() == [
        f"error: {tmp_path / 'syncer.yaml'}:1: the YAML expands to more than 1,000,000 values"
        " through aliases (an alias bomb?); expected ordinary anchors"
    ]


def test_ordinary_anchors_still_work():
    config = load_text(
        PRELUDE
        + "x-sync: &sync {wait: 1m, prune: false}\n"
        + "apps:\n"
        + "  - {name: web, source: deploy, clusters: [dev], sync: *sync}\n"
        + "  - {name: api, source: deploy, clusters: [dev], sync: *sync}\n"
    )
    assert [a.sync.wait for a in config.apps] == [60.0, 60.0]
