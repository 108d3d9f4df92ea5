"""Value syntaxes on their own: durations, cron, semver ranges, repositories, regex extracts."""

from __future__ import annotations

import pytest
from apscheduler.triggers.cron import CronTrigger

from syncer.config import cron, durations, policies


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("250ms", 0.25),
        ("1d", 86400.0),
        ("2m30s", 150.0),
        ("45", 45.0),
        ("0.5", 0.5),
        (" 10s ", 10.0),
    ],
)
def test_duration_parses(text, seconds):
    assert durations.parse(text) == seconds


@pytest.mark.parametrize("text", ["", "-5m", "5 m", "five", "1h-30m", "m", "1w", "10sec", "1..5s"])
def test_duration_rejects(text):
    with pytest.raises(ValueError, match="expected seconds or a duration like 30s"):
        durations.parse(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.25, "250ms"), (30, "30s"), (60, "1m"), (90, "1m30s"), (5400, "1h30m")],
)
def test_duration_format_round_trips(seconds, text):
    assert durations.format(seconds) == text
    assert durations.parse(text) == seconds


VALID_CRON = [
    "0 9-16 * * mon-fri",
    "*/15 * * * *",
    "0 0 1 jan,jul *",
    "30 2 * * 0",
    "30 2 * * 7",
    "0 9 1-15/2 * SUN",
    "5,10,15 0-23/6 * 1-12 1-5",
]


@pytest.mark.parametrize("expr", VALID_CRON)
def test_cron_accepts(expr):
    assert cron.problem(expr) is None


@pytest.mark.parametrize("expr", [e for e in VALID_CRON if not e.endswith((" 0", " 7", "1-5"))])
def test_accepted_cron_is_accepted_by_apscheduler_too(expr):
    CronTrigger.from_crontab(expr, timezone="UTC")


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("0 9 * *", "expected 5 fields"),
        ("@daily", "got 1"),
        ("60 * * * *", "minute 60 is out of range; expected 0-59"),
        ("* 24 * * *", "hour 24 is out of range"),
        ("* * 0 * *", "day-of-month 0 is out of range; expected 1-31"),
        ("* * * 13 *", "month 13"),
        ("* * * foo *", 'month "foo" is not a number; expected 1-12 or jan-dec'),
        ("* * * * 8", "day-of-week 8"),
        ("* * * * fri-mon", "runs backwards"),
        ("*/0 * * * *", 'minute step "0" is not a number >= 1'),
        ("1,,2 * * * *", 'minute "" is not a number'),
        ("0 0 30 2 *", "never fires"),
    ],
)
def test_cron_rejects(expr, message):
    problem = cron.problem(expr)
    assert problem is not None and message in problem


@pytest.mark.parametrize(
    "text",
    [
        "^1.2",
        "~1.2.3",
        ">=1.0 <2",
        "1.x",
        "*",
        "1.2.3",
        ">= 1.0, < 2",
        "^1.2 || ^2.0",
        "1.2 - 1.4",
        "~>1.2",
        "v1.2.3",
        ">=1.0.0-rc.1",
        "=1.0.0+build.5",
        "!=1.2.0",
        "=>1.0",
        ">=1.0.0-0",
        "^1.x-0",
        "2.x-0",
    ],
)
def test_semver_range_accepts(text):
    assert policies.semver_range_problem(text) is None


@pytest.mark.parametrize(
    "text",
    ["", "latest", ">= one", "1.2.3.4", "^^1", "1.2 ||", "1.2.3 -", "1.x.5", "1.x-rc", "x.1"],
)
def test_semver_range_rejects(text):
    assert policies.semver_range_problem(text) is not None


@pytest.mark.parametrize(
    ("repository", "fragment"),
    [
        ("registry.example.com/team/web", None),
        ("docker.io/library/nginx", None),
        ("nginx", None),
        ("localhost:5000/team/web", None),
        ("127.0.0.1:5000/a/b/c", None),
        ("ghcr.io/org/my_app.v2", None),
        ("registry.example.com/team/web:1.2", "carries a tag or digest"),
        ("registry.example.com/team/web@sha256:abcd", "carries a tag or digest"),
        ("https://registry.example.com/team/web", "has a scheme"),
        ("registry.example.com/Team/Web", "lowercase path components"),
        ("team//web", "lowercase path components"),
    ],
)
def test_repository(repository, fragment):
    problem = policies.repository_problem(repository)
    if fragment is None:
        assert problem is None
    else:
        assert problem is not None and fragment in problem


@pytest.mark.parametrize(
    ("pattern", "extract", "fragment"),
    [
        (r"^main-(?P<ts>\d+)$", "$ts", None),
        (r"^main-(?P<ts>\d+)$", "${ts}", None),
        (r"^(\d+)\.(\d+)$", "$1$2", None),
        (r"^(\d+)$", "$2", "uses $2, which the pattern does not define; expected one of: $1"),
        (r"^\d+$", "$1", "expected one of: none (add a (group) to the pattern)"),
        (r"^(\d+)$", "build", "uses no group of the pattern"),
    ],
)
def test_extract_template(pattern, extract, fragment):
    problem = policies.extract_problem(pattern, extract)
    if fragment is None:
        assert problem is None
    else:
        assert problem is not None and fragment in problem
