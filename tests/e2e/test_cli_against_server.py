"""The CLI against a running syncer (``--server``, ``syncer login``), with users and roles:
a viewer may read but not act, an approver approves and rejects a waiting promotion, a
deployer (from a token file, rotated without a restart) rolls back, suspends and
resumes; history names each of them. Two real clusters (dev, prod) in a pipeline whose
prod stage needs an approval; every API answer seen is validated against the served
OpenAPI document, and the CLI's JSON is the same from the server as from the state file.
"""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from syncer import cli
from tests.e2e import control
from tests.e2e.conftest import wait_until
from tests.server.openapi_check import validate
from tests.servers.syncer_run import serve

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

STAGES = [
    {"name": "dev", "clusters": ["dev"]},
    {"name": "prod", "clusters": ["prod"], "after": "dev", "approval": True},
]
TOKENS = {"VERA_TOKEN": "vera-viewer-token", "ALICE_TOKEN": "alice-approver-token"}


class Cli:
    """``syncer ...`` in this process against the server, as whoever holds ``token``."""

    def __init__(self, capsys: pytest.CaptureFixture[str], mp: pytest.MonkeyPatch, url: str):
        self.capsys, self.mp, self.url = capsys, mp, url
        self.answers: list[tuple[str, Any]] = []

    def run(self, token: str, *args: str) -> tuple[int, str, str]:
        self.mp.setenv("SYNCER_TOKEN", token)
        code = cli.main([*args, "--server", self.url])
        out, err = self.capsys.readouterr()
        assert token not in out + err
        return code, out, err

    def json(self, token: str, *args: str) -> Any:
        code, out, err = self.run(token, *args, "-o", "json")
        assert code == 0, out + err
        data = json.loads(out)
        self.answers.append((args[0], data))
        return data


def site_status(cli_: Cli, token: str) -> dict[str, Any]:
    (app,) = cli_.json(token, "status")
    assert isinstance(app, dict)
    return app


def waits_for_approval(cli_: Cli, token: str) -> dict[str, Any] | None:
    app = site_status(cli_, token)
    waiting = " ".join(app["waiting"])
    return app if "stage prod: waiting for approval of release" in waiting else None


def test_cli_against_a_running_syncer_with_users_and_roles(
    tmp_path: Path,
    git_http: Any,
    kube_clusters: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dev, prod = kube_clusters(names=["dev", "prod"], workload_delay=0.02)
    repo = git_http.create_repo("mono", control.app_files("site", greeting="one"))
    port = control.free_port()
    config = control.write_config(
        tmp_path, url=repo.url, clusters=[dev, prod], apps=["site"], stages=STAGES,
        git_interval="1s", port=port,
    )  # fmt: skip
    tokens = tmp_path / "api-tokens.csv"
    tokens.write_text("bob-token-1,bob,deployer\n")
    users = [
        {"name": "vera", "role": "viewer", "token": "env:VERA_TOKEN"},
        {"name": "alice", "role": "approver", "token": "env:ALICE_TOKEN", "stages": ["prod"]},
    ]
    control.set_users(config, port=port, users=users, tokenFile=str(tokens))
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SYNCER_CONTEXTS", str(tmp_path / "contexts.yaml"))
    url = f"http://127.0.0.1:{port}"
    vera, alice = TOKENS["VERA_TOKEN"], TOKENS["ALICE_TOKEN"]
    run = Cli(capsys, monkeypatch, url)

    with serve(config) as ctl:
        # Anonymous reads are off; a viewer reads, and is refused every action (exit 4).
        assert requests.get(f"{url}/api/v1/apps", timeout=10).status_code == 401
        wait_until(lambda: control.greeting(dev, "site") == "one", what="one in dev")
        wait_until(lambda: waits_for_approval(run, vera), what="prod waiting")
        code, _out, err = run.run(vera, "approve", "site", "prod")
        assert code == 4, err
        assert "user 'vera' (viewer) may not approve" in err
        for action in (["rollback", "site"], ["suspend", "site"], ["sync"]):
            assert run.run(vera, *action)[0] == 4, action
        assert control.greeting(prod, "site") == ""

        # The approver lets the release into prod.
        approved = run.json(alice, "approve", "site", "prod")
        assert approved["approvedBy"] == "alice" and approved["stage"] == "prod"
        wait_until(lambda: control.greeting(prod, "site") == "one", what="one in prod")
        # ... but only into the stages she approves for, and nothing is waiting now.
        code, _out, err = run.run(alice, "approve", "site", "dev")
        assert code == 4 and "may approve only in stages: prod" in err
        code, _out, err = run.run(alice, "approve", "site", "prod")
        assert code == 1 and "no promotion waiting for approval into stage 'prod'" in err

        # A second release waits for prod, and is rejected: it goes no further.
        repo.commit(control.app_files("site", greeting="two"))
        wait_until(lambda: control.greeting(dev, "site") == "two", what="two in dev")
        waiting = wait_until(lambda: waits_for_approval(run, vera), what="two waiting")
        (release_two,) = {c["release"] for c in waiting["clusters"] if c["cluster"] == "dev"}
        rejected = run.json(alice, "reject", "site", "prod")
        assert rejected["release"] == release_two and rejected["rejectedBy"] == "alice"
        assert ctl.wait_idle(10)
        status = run.json(vera, "status")[0]
        assert status["waiting"] == [], status
        assert "rejected by alice" in status["message"], status["message"]
        assert control.greeting(prod, "site") == "one"

        # The deployer (token file) rolls dev back to the first release by its id.
        releases = run.json(vera, "releases", "site")
        ids = [r["id"] for r in releases]
        assert release_two in ids
        first_id = ids[-1]
        rolled = run.json("bob-token-1", "rollback", "site", "--to", first_id[:12])
        assert rolled == {"app": "site", "to": first_id, "stage": "", "scheduled": True}
        wait_until(lambda: control.greeting(dev, "site") == "one", what="dev rolled back")

        # Bob's token is rotated in the file: the old one stops working, without a restart.
        tokens.write_text("bob-token-2,bob,deployer\n")
        code, _out, err = run.run("bob-token-1", "suspend", "site")
        assert code == 4 and "unknown or expired token" in err
        suspended = run.json("bob-token-2", "suspend", "site", "--stage", "prod")
        assert suspended["by"] == "bob" and suspended["kind"] == "suspend"
        resumed = run.json("bob-token-2", "resume", "site")
        assert {h["kind"] for h in resumed["resumed"]} == {"pin", "suspend"}
        assert ctl.wait_idle(10)

        # History says who did what.
        history = run.json(vera, "history", "site", "-n", "200")
        said = [e["message"] for e in history]
        for expected in (
            "promotion into prod approved by alice",
            f"release {release_two[:12]}: promotion into prod rejected by alice",
            "suspended by bob",
            "resumed by bob",
        ):
            assert any(expected in m for m in said), (expected, said)
        assert any("rollback" in m and "requested by bob" in m for m in said), said
        assert all(e["at"].endswith("Z") for e in history)  # ISO-8601, as the CLI prints

        # Locally, on the state file the running syncer uses, an approval needs no server
        # and no lock; history names the local user, and the controller acts on it at the
        # app's next reconcile, here one the deployer asks for.
        repo.commit(control.app_files("site", greeting="three"))
        wait_until(lambda: control.greeting(dev, "site") == "three", what="three in dev")
        wait_until(lambda: waits_for_approval(run, vera), what="three waiting")
        approved = control.cli_json(capsys, "approve", "site", "prod", "-c", str(config))
        assert approved["approvedBy"].endswith(" (cli)"), approved
        assert run.json("bob-token-2", "sync", "--app", "site") == [
            {"app": "site", "scheduled": True}
        ]
        wait_until(lambda: control.greeting(prod, "site") == "three", what="three in prod")
        assert ctl.wait_idle(10)

        # The same JSON from the state file as from the server.
        monkeypatch.delenv("SYNCER_TOKEN")
        for args in (["releases", "site"], ["history", "site", "-n", "200"]):
            local = control.cli_json(capsys, *args, "-c", str(config))
            assert local == run.json(vera, *args), args

        # Every answer fits the served OpenAPI document.
        document = requests.get(f"{url}/api/v1/openapi.json", timeout=10).json()
        auth = {"Authorization": f"Bearer {vera}"}
        for path in ("/apps", "/apps/{app}", "/apps/{app}/history", "/apps/{app}/releases",
                     "/apps/{app}/plan"):  # fmt: skip
            answer = requests.get(
                f"{url}/api/v1{path.replace('{app}', 'site')}", headers=auth, timeout=60
            )
            assert answer.status_code == 200, (path, answer.text)
            validate(document, method="GET", path=path, status=200, body=answer.json())
        for command, answer in run.answers:
            if command in ("approve", "reject", "suspend", "resume"):
                validate(document, method="POST", path=f"/apps/{{app}}/{command}", status=200,
                         body=answer)  # fmt: skip
            elif command == "sync":
                for each in answer:
                    validate(document, method="POST", path="/apps/{app}/sync", status=202,
                             body=each)  # fmt: skip
            elif command == "rollback":
                validate(document, method="POST", path="/apps/{app}/rollback", status=202,
                         body=answer)  # fmt: skip

        # `syncer login` keeps the server and token (0600); commands then need neither.
        monkeypatch.setattr("sys.stdin", io.StringIO(vera + "\n"))
        code, out, err = control.cli_run(capsys, "login", url, "--name", "here")
        assert code == 0, err
        assert vera not in out
        contexts = tmp_path / "contexts.yaml"
        assert stat.S_IMODE(contexts.stat().st_mode) == 0o600
        assert yaml.safe_load(contexts.read_text())["current"] == "here"
        (app,) = control.cli_json(capsys, "status")
        assert app["name"] == "site"
