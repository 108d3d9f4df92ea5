"""Secret values never leak: not in any CLI output (sync, plan, render, status, history),
the state file, the API's answers or the logs. A changed value shows as changed, with a
hash at most: ``# Secret sec/s: data.password: (masked, sha256 …) -> (masked, sha256 …)``.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import control
from tests.e2e.conftest import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SECRET = """\
apiVersion: v1
kind: Secret
metadata: {name: s}
type: Opaque
data: {password: %(password)s}
stringData: {api-key: %(key)s}
"""
VALUES = ["s3cr3t-changeme", "hunter2-rotated", "api-key-0001-abcdef", "api-key-0002-ghijkl"]
INTRUDER = "intruder-wrote-this"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret_files(password: str, key: str) -> dict[str, str | None]:
    return {"apps/sec/secret.yaml": SECRET % {"password": b64(password), "key": key}}


def leaks(text: str) -> list[str]:
    """Every form of a secret value found in ``text``: the value, its base64, and the
    first eight characters of the base64 (a shortened diff would show those)."""
    found = []
    for value in [*VALUES, INTRUDER]:
        for form in (value, b64(value), b64(value)[:8]):
            if form in text:
                found.append(form)
    return found


def test_secret_values_appear_nowhere(
    tmp_path: Path,
    git_http: Any,
    kube_clusters: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    repo = git_http.create_repo("mono", secret_files(VALUES[0], VALUES[2]))
    port = control.free_port()
    path = control.write_config(
        tmp_path, url=repo.url, clusters=[a], apps=["sec"], git_interval="1s", port=port
    )
    config = str(path)
    seen: list[str] = []

    def cli(*args: str) -> str:
        _code, out, err = control.cli_run(capsys, *args)
        seen.append(out + err)
        return out

    cli("sync", "-c", config)
    live = a.get("v1", "Secret", "s", namespace="sec")
    assert base64.b64decode(live["data"]["password"]).decode() == VALUES[0]  # it was applied

    repo.commit(secret_files(VALUES[1], VALUES[3]))
    out = cli("plan", "-c", config)
    assert "# Secret sec/s: data.password: (masked, sha256 " in out, out
    assert "-> (masked, sha256 " in out
    cli("plan", "-c", config, "-o", "json")
    cli("render", "-c", config, "sec")
    cli("sync", "-c", config, "-o", "json")
    live = a.get("v1", "Secret", "s", namespace="sec")
    assert base64.b64decode(live["data"]["password"]).decode() == VALUES[1]

    # Someone changes the value on the cluster: drift is reported (and healed) masked.
    live["data"]["password"] = b64(INTRUDER)
    for key in ("managedFields", "resourceVersion", "uid", "creationTimestamp"):
        live["metadata"].pop(key, None)
    a.put(live, manager="kubectl-edit")
    cli("sync", "-c", config)
    for command in ("status", "history"):
        cli(command, "-c", config, *(["sec"] if command == "history" else []))
        cli(command, "-c", config, *(["sec"] if command == "history" else []), "-o", "json")
    history = " ".join(seen[-2:])
    assert "drift on a: Secret sec/s: data.password: (masked, sha256 " in history, history

    answers: list[str] = []
    api = control.Api(port)
    with control.running(path, monkeypatch) as ctl:
        wait_until(lambda: ctl.wait_idle(0.1), what="the first reconcile")
        for where in ("apps", "apps/sec", "apps/sec/history?limit=1000", "apps/sec/releases"):
            answers.append(str(api.get(where)))
    assert "data.password" in " ".join(answers)  # the drift record is there, masked

    stored = b"".join(p.read_bytes() for p in (tmp_path / "state").glob("syncer.db*"))
    logs = "\n".join(r.getMessage() for r in caplog.records)
    for what, text in [
        ("CLI output", "\n".join(seen)),
        ("API answers", "\n".join(answers)),
        ("state file", stored.decode("latin-1")),
        ("logs", logs),
    ]:
        assert leaks(text) == [], f"secret value in the {what}"
