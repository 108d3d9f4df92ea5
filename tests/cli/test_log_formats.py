"""``--log-format json|logfmt|text`` and ``--log-level``: every line parses in its format,
carries the app/cluster/release it is about (bound in the reconcile path, so log calls
need not name them), and never holds a registered secret. The formatters are tested on
records, then ``syncer sync`` and ``syncer run`` as real processes."""

from __future__ import annotations

import concurrent.futures
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncer import logs, redact
from tests.controller.test_cli_live import CONFIGMAP, DEPLOYMENT, write_config
from tests.waiting import eventually

_PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|[^\s"=]*)(?: |$)')


def parse_logfmt(line: str) -> dict[str, str]:
    """A strict logfmt reader: the whole line must be key=value pairs."""
    pairs: dict[str, str] = {}
    position = 0
    while position < len(line):
        match = _PAIR.match(line, position)
        assert match, f"not logfmt at {position}: {line!r}"
        key, value = match.groups()
        pairs[key] = json.loads(value) if value.startswith('"') else value
        position = match.end()
    return pairs


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("syncer.test_log_formats")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, stream, handler
    finally:
        logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


@pytest.mark.parametrize("fmt", ["json", "logfmt"])
def test_bound_fields_reach_lines_logged_on_worker_threads(
    capture: tuple[logging.Logger, io.StringIO, logging.Handler], fmt: str
) -> None:
    logger, stream, handler = capture
    handler.setFormatter(logs.formatter(fmt))
    parse = json.loads if fmt == "json" else parse_logfmt

    def per_cluster(cluster: str) -> None:
        with logs.bound(app="web", cluster=cluster, release="0123456789ab"):
            logger.info('applied 3 objects "quoted", a=b\nsecond line\ttab \\ done')

    with logs.bound(app="web"):
        logger.warning("decided")
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            list(pool.map(per_cluster, ["dev", "prod"]))
    logger.error("outside")
    records = [parse(line) for line in lines(stream)]
    assert len(records) == 4  # newlines inside messages did not split a record
    assert records[0]["app"] == "web" and "cluster" not in records[0]
    assert {(r["cluster"], r["release"], r["app"]) for r in records[1:3]} == {
        ("dev", "0123456789ab", "web"),
        ("prod", "0123456789ab", "web"),
    }
    assert records[1]["msg"] == 'applied 3 objects "quoted", a=b\nsecond line\ttab \\ done'
    assert records[1]["level"] == "info" and records[1]["logger"] == "syncer.test_log_formats"
    assert "app" not in records[3]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", records[0]["time"])


def test_fields_named_in_the_message_are_fields_too(
    capture: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, handler = capture
    handler.setFormatter(logs.formatter("json"))
    logger.info("app=%s cluster=%s health check failed: %s", "api", "eu", "timeout")
    (record,) = [json.loads(line) for line in lines(stream)]
    assert (record["app"], record["cluster"]) == ("api", "eu")


def test_text_lines_add_the_bound_fields_the_message_lacks(
    capture: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, handler = capture
    handler.setFormatter(logs.formatter("text"))
    with logs.bound(app="web", cluster="dev"):
        logger.info("cluster=dev healthy")
    (line,) = lines(stream)
    assert "logger=syncer.test_log_formats app=web cluster=dev healthy" in line
    assert line.count("cluster=dev") == 1


@given(st.text())
def test_any_message_survives_logfmt(message: str) -> None:
    record = logging.LogRecord("syncer.x", logging.INFO, __file__, 1, message, None, None)
    line = logs.formatter("logfmt").format(record)
    assert "\n" not in line
    assert parse_logfmt(line)["msg"] == message


@pytest.mark.parametrize("fmt", ["json", "logfmt", "text"])
def test_secrets_never_reach_a_line(
    capture: tuple[logging.Logger, io.StringIO, logging.Handler], fmt: str
) -> None:
    logger, stream, handler = capture
    handler.setFormatter(logs.formatter(fmt))
    secret = "s3cr3t-v4lue-for-logs"
    redact.install()
    redact.register(secret)
    try:
        with logs.bound(app="web"):
            logger.warning("pull failed with token %s", secret)
            try:
                raise RuntimeError(f"401 for Authorization: Bearer {secret}")
            except RuntimeError:
                logger.exception("request failed")
    finally:
        redact.uninstall()
        redact.forget_all()
    text = stream.getvalue()
    assert secret not in text
    assert text.count("***") >= 2


def _syncer(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "syncer", *args], stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, env=dict(os.environ), **kwargs,
    )  # fmt: skip


@pytest.mark.integration
def test_sync_logs_json_lines_naming_app_cluster_and_release(
    tmp_path: Path, git_http: Any, kube_clusters: Any
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.05)
    repo = git_http.create_repo(
        "deploy", {"site/cm.yaml": CONFIGMAP % "one", "site/deploy.yaml": DEPLOYMENT % "web:1"}
    )
    config = write_config(tmp_path, url=repo.url, kubeconfig=a.kubeconfig, clusters=["a"])
    # The flags after the command, as in a container's args.
    proc = _syncer("sync", "-c", str(config), "--log-format", "json", "--log-level", "info")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    records = [json.loads(line) for line in err.splitlines()]
    reconcile = [r for r in records if r["logger"].startswith("syncer.reconcile")]
    assert reconcile, err
    assert all(r["app"] == "site" for r in reconcile)
    applied = [r for r in reconcile if " applied: " in r["msg"]]  # one per cluster
    assert applied and all(r["cluster"] == "a" and len(r["release"]) == 12 for r in applied)
    # The apply layer's lines name no app or release: they get both from the context
    # (all but the cluster client's line on its rate limit, which is no app's).
    applying = [
        r
        for r in records
        if r["logger"].startswith("syncer.apply") and "client-side rate limit" not in r["msg"]
    ]
    assert any("client-side rate limit off" in r["msg"] for r in records), err
    assert applying, err
    assert all((r["app"], r["cluster"], len(r["release"])) == ("site", "a", 12) for r in applying)
    assert any("release=" not in r["msg"] and "app=" not in r["msg"] for r in applying)


def _run_until_a_poll_failed(tmp_path: Path, *flags: str) -> list[str]:
    """Run ``syncer run`` on a source nobody serves until it logged a failed poll, stop
    it with SIGTERM; its stderr lines."""
    config = tmp_path / "syncer.yaml"
    config.write_text(
        "state: {path: state.db}\n"
        "server: {listen: 127.0.0.1:0, webhookListen: 127.0.0.1:0}\n"
        "sources:\n  - {name: s, git: {url: 'http://127.0.0.1:9/none.git', interval: 1s}}\n"
    )
    log = tmp_path / f"stderr-{len(list(tmp_path.glob('stderr-*')))}.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "syncer", *flags, "run", "-c", str(config)],
            stdout=subprocess.DEVNULL, stderr=sink, text=True, env=dict(os.environ),
        )  # fmt: skip
        try:
            assert eventually(lambda: "poll failed" in log.read_text(), timeout=60)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    return log.read_text().splitlines()


@pytest.mark.integration
def test_run_writes_nothing_but_logfmt_and_honours_the_level(tmp_path: Path) -> None:
    lines = _run_until_a_poll_failed(tmp_path, "--log-format=logfmt", "--log-level=info")
    records = [parse_logfmt(line) for line in lines]
    assert {"time", "level", "logger", "msg"} <= set(records[0])
    said = [r["msg"] for r in records]
    assert any(m.startswith("controller running, HTTP on http://127.0.0.1:") for m in said)
    assert said[-1] == "stopped"
    assert {r["level"] for r in records} == {"info", "warning"}
    # At the default (warning) level the info lines, uvicorn's among them, are gone;
    # what `run` says to whoever watches it is not.
    quiet = [json.loads(x) for x in _run_until_a_poll_failed(tmp_path, "--log-format", "json")]
    said = [r["msg"] for r in quiet]
    assert said[0].startswith("controller running") and said[-1] == "stopped"
    assert all(r["level"] == "warning" for r in quiet if r["logger"] != "syncer")
    assert not any(m.startswith(("Started server", "Waiting for")) for m in said)
