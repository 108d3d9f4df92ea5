"""``syncer image tags`` / ``syncer image latest`` against the real registry: output,
-o json, exit codes 0/1/2/3 and one-line errors."""

from __future__ import annotations

import base64
import json

import pytest

from syncer import cli
from tests.servers import images

pytestmark = pytest.mark.integration


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _docker_config(tmp_path, server, password: str | None = None) -> str:
    secret = password if password is not None else server.password
    auth = base64.b64encode(f"{server.username}:{secret}".encode()).decode()
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": {server.host: {"auth": auth}}}))
    return str(path)


@pytest.fixture(autouse=True)
def _no_home_docker_config(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))


def test_tags_text_and_json(shared_registry, capsys, tmp_path) -> None:
    server = shared_registry.get("basic")
    images.push_image(server, "cli/tags", tags=["1.0.0", "1.1.0", "latest"])
    config = _docker_config(tmp_path, server)
    code, out, err = _run(
        capsys, "image", "tags", f"{server.host}/cli/tags", "--docker-config", config
    )
    assert (code, err) == (0, "")
    assert out.splitlines() == ["1.0.0", "1.1.0", "latest"]
    code, out, _ = _run(
        capsys, "image", "tags", f"{server.host}/cli/tags", "--docker-config", config, "-o", "json"
    )
    data = json.loads(out)
    assert data["repository"] == f"{server.host}/cli/tags" and data["count"] == 3


def test_latest_semver_over_tls_with_token(shared_registry, capsys, tmp_path) -> None:
    server = shared_registry.get("token", tls=True)
    images.push_image(server, "cli/web", tags=["1.2.0", "1.4.2", "2.0.0", "1.5.0-rc.1"])
    winner = images.head_digest(server, "cli/web", "1.4.2")
    code, out, err = _run(
        capsys,
        "image",
        "latest",
        f"{server.host}/cli/web",
        "--policy",
        "semver:^1.2",
        "--docker-config",
        _docker_config(tmp_path, server),
        "--ca-file",
        server.ca_file,
    )
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"{server.host}/cli/web:1.4.2@{winner}",
        "1.4.2: highest of 2 tags in ^1.2; 1 pre-release skipped",
    ]
    code, out, _ = _run(
        capsys,
        "image",
        "latest",
        f"{server.host}/cli/web",
        "--policy",
        "semver:^1.2",
        "--docker-config",
        _docker_config(tmp_path, server),
        "--ca-file",
        server.ca_file,
        "-o",
        "json",
    )
    data = json.loads(out)
    assert {k: data[k] for k in ("repository", "tag", "digest")} == {
        "repository": f"{server.host}/cli/web",
        "tag": "1.4.2",
        "digest": winner,
    }
    assert data["ref"] == f"{server.host}/cli/web:1.4.2@{winner}" and data["reason"]


def test_latest_with_filter_extract_and_digest(shared_registry, capsys) -> None:
    server = shared_registry.get("anonymous")
    images.push_image(
        server, "cli/main", tags=["main-abc1234-1700000200", "main-def5678-1700000100", "latest"]
    )
    code, out, _ = _run(
        capsys,
        "image",
        "latest",
        f"{server.host}/cli/main",
        "--policy",
        "numerical:asc",
        "--filter",
        r"^main-[a-f0-9]+-(?P<ts>\d+)$",
        "--extract",
        "$ts",
    )
    assert code == 0 and out.startswith(f"{server.host}/cli/main:main-abc1234-1700000200@")
    code, out, _ = _run(
        capsys,
        "image",
        "latest",
        f"{server.host}/cli/main",
        "--policy",
        "digest:latest",
        "-o",
        "json",
    )
    assert code == 0 and json.loads(out)["tag"] == "latest"


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["--policy", "semver:^9"], 1, "no tag of 1 qualifies: none in ^9"),
        (["--policy", "digest:main"], 1, "tag 'main' does not exist"),
        (["--policy", "semvr:^1"], 2, "unknown policy 'semvr'"),
        (["--policy", "semver:^1.x.z"], 2, "invalid semver range"),
        (["--policy", "numerical:asc", "--filter", "("], 2, "invalid tag filter regex"),
        (["--policy", "semver:^1", "--ca-file", "/nope.pem"], 2, "--ca-file /nope.pem"),
        (["--policy", "semver:^1", "--docker-config", "/nope.json"], 2, "--docker-config"),
    ],
)
def test_latest_exit_codes(shared_registry, capsys, argv, code, message) -> None:
    server = shared_registry.get("anonymous")
    images.push_image(server, "cli/codes", tags=["1.0.0"])
    got, out, err = _run(capsys, "image", "latest", f"{server.host}/cli/codes", *argv)
    assert got == code and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_registry_and_auth_errors_exit_3(shared_registry, capsys, tmp_path) -> None:
    basic = shared_registry.get("basic")
    images.push_image(basic, "cli/private", tags=["1.0.0"])
    cases = [
        ["image", "tags", f"{basic.host}/cli/private"],
        [
            "image",
            "tags",
            f"{basic.host}/cli/private",
            "--docker-config",
            _docker_config(tmp_path, basic, password="wrong"),
        ],
        [
            "image",
            "latest",
            f"{shared_registry.get('anonymous').host}/cli/absent",
            "--policy",
            "semver:*",
        ],
        ["image", "latest", "127.0.0.1:1/x", "--policy", "digest:latest"],
    ]
    for argv in cases:
        code, out, err = _run(capsys, *argv)
        assert (code, out) == (3, ""), argv
        assert err.count("\n") == 1 and err.startswith("error: "), err
        assert "wrong" not in err and basic.password not in err
        assert "Traceback" not in err


def test_invalid_repository_exits_2(capsys) -> None:
    code, _, err = _run(capsys, "image", "tags", "Registry.io/Team/Web")
    assert code == 2 and "lowercase" in err
    code, _, err = _run(capsys, "image", "latest", "reg.io/web:1.0", "--policy", "semver:*")
    assert code == 2 and "without ':tag'" in err


def test_registry_settings_from_a_config_file(shared_registry, capsys, tmp_path, monkeypatch):
    server = shared_registry.get("token", tls=True)
    images.push_image(server, "cli/cfg", tags=["3.1.0"])
    config = tmp_path / "syncer.yaml"
    config.write_text(
        f"""registries:
  - host: {server.host}
    caFile: {server.ca_file}
    auth: {{usernameFrom: "env:CLI_REG_USER", passwordFrom: "env:CLI_REG_PASS"}}
"""
    )
    monkeypatch.setenv("CLI_REG_USER", server.username)
    monkeypatch.setenv("CLI_REG_PASS", server.password)
    code, out, err = _run(
        capsys,
        "image",
        "latest",
        f"{server.host}/cli/cfg",
        "--policy",
        "semver:^3",
        "-c",
        str(config),
    )
    assert (code, err) == (0, "") and ":3.1.0@sha256:" in out
    monkeypatch.delenv("CLI_REG_PASS")
    code, out, err = _run(capsys, "image", "tags", f"{server.host}/cli/cfg", "-c", str(config))
    assert code == 2 and "CLI_REG_PASS" in err and err.count("\n") == 1
    config.write_text("registries: [{host: 'x', bogus: 1}]\n")
    code, out, err = _run(capsys, "image", "tags", f"{server.host}/cli/cfg", "-c", str(config))
    assert code == 2 and "bogus" in err and err.count("\n") == 1


def test_latest_newest_build_with_ignore(shared_registry, capsys) -> None:
    server = shared_registry.get("anonymous")
    images.push_image(server, "cli/builds", tags=["old"], created="2024-01-01T00:00:00Z")
    images.push_image(server, "cli/builds", tags=["new-debug"], created="2024-03-01T00:00:00Z")
    images.push_image(server, "cli/builds", tags=["mid"], created="2024-02-01T00:00:00Z")
    code, out, err = _run(
        capsys,
        "image",
        "latest",
        f"{server.host}/cli/builds",
        "--policy",
        "newest-build",
        "--ignore",
        "*-debug",
        "-o",
        "json",
    )
    assert code == 0, err
    found = json.loads(out)
    assert found["tag"] == "mid"
    assert "newest build (2024-02-01T00:00:00Z)" in found["reason"]
    code, _, err = _run(
        capsys, "image", "latest", f"{server.host}/cli/builds", "--policy", "newest-build",
        "--ignore", "[a-",
    )  # fmt: skip
    assert code == 2 and "invalid ignore glob '[a-'" in err
