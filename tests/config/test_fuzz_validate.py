"""Property: ``syncer validate`` answers every file with exit 0 or with one-line errors.

Configs are generated from the examples and ``testdata/`` by two kinds of mutation:
structured (a value replaced by a hostile one, a key dropped or added, a list or mapping
where a scalar belongs, deep nesting) and textual (YAML punctuation inserted, text cut
out). For each, ``syncer validate`` must exit 0 — and then loading for ``run`` succeeds
and every duration can be scheduled — or exit 2 with every stderr line naming the file
and a line (``error: FILE:LINE: ...``). Never a traceback, never another exit code.
Under CI the examples are derandomized, so a failure there reproduces.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import io
import os
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncer import cli
from syncer.config import loader
from tests.config.conftest import TESTDATA

ROOT = Path(__file__).resolve().parents[2]
SEEDS = sorted(
    [
        *ROOT.glob("examples/*/syncer.yaml"),
        *(TESTDATA / "valid").glob("*.yaml"),
        *(TESTDATA / "broken").glob("*.yaml"),
    ]
)
SEED_TEXTS = [path.read_text(encoding="utf-8") for path in SEEDS]


def _data(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None  # a broken seed: mutated as text only


SEED_DATA = [data for data in map(_data, SEED_TEXTS) if data is not None]

FUZZ = settings(
    max_examples=int(os.environ.get("SYNCER_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=os.environ.get("CI") == "true",
    database=None,
)

HOSTILE_SCALARS = st.one_of(
    st.sampled_from(
        [
            "99999999999999999999h",
            "-1s",
            "0",
            "1e400",
            "nan",
            ".inf",
            "(a+)+$",
            "(",
            "https://user:pass@git.example.com/x.git",
            "https://",
            "ht!tp://x",
            "https://[::1/x",
            "/",
            "",
            " ",
            "~",
            "..",
            "../../../../etc",
            "secret:",
            "env:",
            "file:",
            "{cluster}",
            "{}",
            "x" * 300,
            "Ünïcödé",
            "a\x00b",
            "\t",
            "*",
            "0 0 31 2 *",
            "^1.2",
            "latest",
            "asc",
        ]
    ),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=20),
)


_DURATIONS = ["99999999999999999999h", "1e400", "-1s", "0", "366d", "0.0000001", 10**25, True]
_COUNTS = [10**12, 10**400 // 10**390, -1, 0, 1e308, "many", True, None]
KEYED: dict[str, list[Any]] = {
    **{k: _DURATIONS for k in ("interval", "timeout", "wait", "soak", "duration", "driftInterval")},
    **{k: _COUNTS for k in ("workers", "burst", "maxConcurrency", "qps", "perSecond",
                            "maxReplicas", "jitter")},
    **{k: [True, "Web", "", "a" * 64, "-x", 5, "no"] for k in ("name", "namespace", "app")},
    **{k: ["", True, "..", "-x", "a b", 1.5] for k in ("branch", "tag", "commit", "semver")},
    "url": ["https://u:p@h/x.git", "https://", "ht!tp://x", "https://h:0/x", "https://[::1/x",
            "https://h/x y", "ssh://", "file://", "git@h:x", True],
    "pattern": ["(a+)+$", "(", "(?P<x>a)(?P<x>b)", "((((((((((a))))))))))", "(\\w+\\s?)*$"],
    "path": ["/", "..", "/etc", "{nope}", "", "x" * 300],
    "listen": ["0.0.0.0:99999", ":", "[::1]:80", "host"],
    "cron": ["* * * *", "61 * * * *", "0 0 30 2 *", ""],
}  # fmt: skip


def hostile_values() -> st.SearchStrategy[Any]:
    return st.recursive(
        HOSTILE_SCALARS,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.sampled_from(["name", "url", "x", "selector", "<<"]), inner,
                            max_size=3),
        ),
        max_leaves=6,
    )  # fmt: skip


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += _paths(value, (*prefix, i))
    return found


def _set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return data


def _delete(data: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return data
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    return data


@st.composite
def mutated_data(draw: st.DrawFn) -> str:
    data = _copy(draw(st.sampled_from(SEED_DATA)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "delete", "add", "nest", "wrap"]))
        if action == "replace":
            keyed = KEYED.get(path[-1]) if path and isinstance(path[-1], str) else None
            if keyed and draw(st.booleans()):
                data = _set(data, path, draw(st.sampled_from(keyed)))
            else:
                data = _set(data, path, draw(hostile_values()))
        elif action == "delete" and path:
            data = _delete(data, path)
        elif action == "add":
            target = _get(data, path)
            if isinstance(target, dict):
                key = draw(st.sampled_from(["extra", "x-anchor", "name", "inCluster", "Name"]))
                target[key] = draw(hostile_values())
            elif isinstance(target, list):
                target.append(draw(hostile_values()))
        elif action == "nest":
            # Written into the text after dumping (the YAML dumper itself recurses).
            depth = draw(st.sampled_from([10, 63, 65, 300, 5000]))
            data = _set(data, path, f"__deep_{depth}__")
        elif action == "wrap":
            data = _set(data, path, {"value": _get(data, path)})
    try:
        text = yaml.safe_dump(data, allow_unicode=True)
    except yaml.YAMLError:
        return "{}\n"
    return re.sub(r"__deep_(\d+)__", lambda m: "[" * int(m[1]) + "]" * int(m[1]), text)


PUNCTUATION = [*"{}[]:,-'\"&*!|>%@`#\n\t ", "<<: ", "&a ", "*a", "!!python/object "]


@st.composite
def mutated_text(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEED_TEXTS))
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        action = draw(st.sampled_from(["insert", "cut", "duplicate"]))
        if action == "insert":
            piece = draw(st.one_of(st.sampled_from(PUNCTUATION), st.text(max_size=5)))
            text = text[:at] + piece + text[at:]
        elif action == "cut":
            size = draw(st.integers(min_value=1, max_value=40))
            text = text[:at] + text[at + size :]
        else:
            line_start = text.rfind("\n", 0, at) + 1
            line_end = text.find("\n", at)
            line = text[line_start : line_end if line_end != -1 else len(text)]
            text = text[:line_start] + line + "\n" + text[line_start:]
    return text


def _copy(data: Any) -> Any:
    return yaml.safe_load(yaml.safe_dump(data))


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        data = data[step]
    return data


def _durations(obj: Any) -> list[float]:
    """Every duration (float seconds) in a loaded config, for the scheduling check."""
    found: list[float] = []
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.metadata.get("unit") == "s" and isinstance(value, float):
                found.append(value)
            else:
                found += _durations(value)
    elif isinstance(obj, tuple):
        for item in obj:
            found += _durations(item)
    return found


def check_validate(tmp_path: Path, text: str) -> None:
    path = tmp_path / "syncer.yaml"
    path.write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["validate", "-c", str(path)])
    errors = err.getvalue()
    assert "Traceback" not in errors
    assert code in (0, 2), (code, errors)
    if code == 0:
        assert errors == ""
        config = loader.load(path)
        now = dt.datetime.now(dt.UTC)
        for seconds in _durations(config):
            assert now + dt.timedelta(seconds=seconds) >= now
        return
    lines = errors.splitlines()
    assert lines, "exit 2 without a message"
    line_of_file = re.compile(rf"^error: {re.escape(str(path))}:\d+: \S")
    for line in lines:
        assert line_of_file.match(line), line


@FUZZ
@given(text=mutated_data())
def test_validate_on_structurally_mutated_configs(tmp_path: Path, text: str) -> None:
    check_validate(tmp_path, text)


@FUZZ
@given(text=mutated_text())
def test_validate_on_textually_mutated_configs(tmp_path: Path, text: str) -> None:
    check_validate(tmp_path, text)


def test_every_seed_validates_without_a_traceback(tmp_path: Path) -> None:
    for text in SEED_TEXTS:
        check_validate(tmp_path, text)
