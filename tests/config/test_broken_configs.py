"""Each broken config under testdata/broken/ yields exactly the errors its header declares.

A file lists its expected problems as ``# expect: FILE:LINE: path: message`` lines at
the top, in the order ``syncer validate`` prints them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from syncer import errors
from syncer.config import loader
from tests.config.conftest import TESTDATA

BROKEN = sorted((TESTDATA / "broken").glob("*.yaml"))


def expected_problems(path: Path) -> list[str]:
    prefix = "# expect: "
    return [
        line.removeprefix(prefix)
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith(prefix)
    ]


@pytest.mark.parametrize("path", BROKEN, ids=lambda path: path.stem)
def test_broken_config_yields_exactly_the_expected_errors(path, monkeypatch):
    expected = expected_problems(path)
    assert expected, f"{path.name} declares no '# expect:' line"
    monkeypatch.chdir(path.parent)
    with pytest.raises(errors.ConfigError) as caught:
        loader.load(path.name)
    assert caught.value.problems == expected


def test_every_problem_line_names_file_line_field_and_what_is_allowed():
    for path in BROKEN:
        for problem in expected_problems(path):
            file, line, rest = problem.split(":", 2)
            assert file == path.name
            assert line.isdigit()
            assert "\n" not in rest
            assert ";" in rest or "did you mean" in rest, problem


def test_the_issue_example_reads_exactly_as_specified():
    [problem] = expected_problems(TESTDATA / "broken" / "unknown-policy.yaml")
    assert problem.endswith(
        ": apps[0].images[0].policy: unknown policy 'semvr';"
        " expected one of: semver, alphabetical, numerical, digest, newestBuild"
    )


def test_a_config_error_is_a_permanent_error_listing_every_problem():
    with pytest.raises(errors.PermanentError) as caught:
        loader.load(TESTDATA / "broken" / "many-problems.yaml")
    assert isinstance(caught.value, errors.ConfigError)
    assert len(caught.value.problems) == 6
    assert str(caught.value) == "\n".join(caught.value.problems)
