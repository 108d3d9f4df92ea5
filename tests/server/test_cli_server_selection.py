"""Where the CLI goes (``--server``, ``-c``, ``SYNCER_SERVER``, the current context) and
what it says when a server refuses or does not answer: one line and a documented exit
status, never a traceback and never the token."""

from __future__ import annotations

import argparse
import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from syncer import cli, errors, remote
from syncer.commands import backend
from syncer.config import model
from syncer.server import http
from tests.server.conftest import FakePort, env
from tests.servers.lifecycle import free_port


def args(**given: str | None) -> argparse.Namespace:
    base = {"server": None, "context": None, "config": None, "token_file": None}
    return argparse.Namespace(**{**base, **given})


def test_which_backend_first_match_wins(tmp_path: Path) -> None:
    contexts = tmp_path / "contexts.yaml"
    environ = {"SYNCER_CONTEXTS": str(contexts)}
    assert backend.server_of(args(), environ) == ("", "")  # nothing saved: local
    remote.save_context(contexts, name="prod", server="http://prod:8080", token="saved")
    assert stat.S_IMODE(contexts.stat().st_mode) == 0o600
    assert backend.server_of(args(), environ) == ("http://prod:8080", "saved")
    assert backend.server_of(args(config="syncer.yaml"), environ) == ("", "")
    with_env = {**environ, "SYNCER_SERVER": "http://other:1", "SYNCER_TOKEN": "t"}
    assert backend.server_of(args(), with_env) == ("http://other:1", "t")
    assert backend.server_of(args(config="x.yaml"), with_env) == ("", "")
    # --server beats -c; a saved context's token goes with its own server only.
    assert backend.server_of(args(server="http://prod:8080", config="x"), environ) == (
        "http://prod:8080", "saved",
    )  # fmt: skip
    assert backend.server_of(args(server="http://else:1"), environ) == ("http://else:1", "")
    token = tmp_path / "token"
    token.write_text("from-file\n")
    assert backend.server_of(args(server="http://else:1", token_file=str(token)), environ) == (
        "http://else:1", "from-file",
    )  # fmt: skip
    # A token given beats the saved one, also for a context.
    assert backend.server_of(args(), {**environ, "SYNCER_TOKEN": "given"}) == (
        "http://prod:8080", "given",
    )  # fmt: skip
    assert backend.server_of(args(context="prod"), environ) == ("http://prod:8080", "saved")
    with pytest.raises(errors.ConfigError, match="context 'nope': not in"):
        backend.server_of(args(context="nope"), environ)
    with pytest.raises(errors.ConfigError, match="not both"):
        backend.server_of(args(context="prod", server="http://x:1"), environ)


def test_credentials_in_the_server_url_are_refused() -> None:
    with pytest.raises(errors.ConfigError, match="credentials in the URL are not allowed"):
        remote.Client(server="http://me:secret@127.0.0.1:1")


@pytest.mark.parametrize(
    ("token", "argv", "code", "said"),
    [
        ("viewer-token", ["suspend", "web"], 4, "user 'vera' (viewer) may not suspend"),
        ("wrong", ["status"], 4, "unknown or expired token"),
        ("", ["status"], 4, "send Authorization: Bearer <token>"),
        ("admin-token", ["history", "nope"], 2, "no app named 'nope'"),
        ("admin-token", ["approve", "web", "qa"], 2, "no stage 'qa' in the pipeline of 'web'"),
    ],
)
def test_refusals_are_one_line_with_their_exit_status(
    token: str,
    argv: list[str],
    code: int,
    said: str,
    start_server: Callable[..., http.HttpServer],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("T_VERA", "viewer-token")
    monkeypatch.setenv("T_ADA", "admin-token")
    users = (
        model.ApiUser(name="vera", role="viewer", token=env("T_VERA")),
        model.ApiUser(name="ada", role="admin", token=env("T_ADA")),
    )
    server = start_server(model.Server(users=users))
    monkeypatch.setenv("SYNCER_TOKEN", token)
    assert cli.main([*argv, "--server", server.url]) == code
    out, err = capsys.readouterr()
    assert said in err and err.count("\n") == 1, err
    assert out == "" and (not token or token not in err)


def test_a_conflict_is_exit_1_and_no_server_is_exit_3(
    start_server: Callable[..., http.HttpServer],
    fake_port: FakePort,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = start_server()  # the deprecated single token: admin user "api"
    monkeypatch.setenv("SYNCER_TOKEN", "api-token")
    assert cli.main(["approve", "web", "prod", "--server", server.url]) == 0
    assert fake_port.actors == ["api"]
    capsys.readouterr()
    fake_port.fail_with = errors.PermanentError("nothing waits for approval into prod")
    assert cli.main(["reject", "web", "prod", "--server", server.url]) == 1
    assert capsys.readouterr().err == "error: nothing waits for approval into prod\n"
    gone = f"http://127.0.0.1:{free_port()}"
    assert cli.main(["status", "--server", gone]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"error: server {gone}: no answer") and err.count("\n") == 1


def test_plan_and_sync_ask_the_server(
    start_server: Callable[..., http.HttpServer],
    fake_port: FakePort,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = start_server()
    monkeypatch.setenv("SYNCER_SERVER", server.url)
    monkeypatch.setenv("SYNCER_TOKEN", "api-token")
    assert cli.main(["plan", "-o", "json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert report["app"] == "web" and report["ok"] is True
    assert cli.main(["plan", "--local", "."]) == 2
    assert "--local: a working tree on this machine cannot be planned by a server" in (
        capsys.readouterr().err
    )
    assert cli.main(["sync"]) == 0
    assert capsys.readouterr().out == "web: sync scheduled; `syncer status` shows how it goes\n"
    assert fake_port.calls == [("sync_now", "web")] and fake_port.actors == ["api"]
