"""Credentials from docker config.json (auths, credHelpers, credsStore) and from
kubernetes.io/dockerconfigjson Secret data, used against the real registry."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

import registry
from registry import credentials
from tests.servers import images


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def _helper(tmp_path: Path, name: str, answers: dict[str, tuple[str, str]]) -> Path:
    """A real docker-credential-<name> executable answering from a JSON file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    data = bin_dir / f"{name}.json"
    data.write_text(json.dumps({k: {"Username": u, "Secret": s} for k, (u, s) in answers.items()}))
    script = bin_dir / f"docker-credential-{name}"
    script.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        f"data = json.load(open({str(data)!r}))\n"
        "host = sys.stdin.read().strip()\n"
        "if sys.argv[1] != 'get' or host not in data:\n"
        "    print('credentials not found in native keychain'); sys.exit(1)\n"
        "print(json.dumps({'ServerURL': host, **data[host]}))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return bin_dir


@pytest.mark.parametrize(
    ("key", "host"),
    [
        ("reg.io", "reg.io"),
        ("https://reg.io", "reg.io"),
        ("https://reg.io/v1/", "reg.io"),
        ("reg.io:5000", "reg.io:5000"),
        ("https://index.docker.io/v1/", "docker.io"),
    ],
)
def test_auths_keys_match_hosts(key: str, host: str) -> None:
    config = {"auths": {key: {"auth": _auth("u", "p:with:colons")}}}
    found = credentials.DockerConfigJSON(config).lookup(host)
    assert found == credentials.Credentials("u", "p:with:colons")
    assert credentials.DockerConfigJSON(config).lookup("other.io") is None


def test_auths_username_password_and_identity_token() -> None:
    config = {
        "auths": {
            "a.io": {"username": "u", "password": "p"},
            "b.io": {"identitytoken": "refresh-me"},
        }
    }
    source = credentials.DockerConfigJSON(json.dumps(config).encode())
    assert source.lookup("a.io") == credentials.Credentials("u", "p")
    assert source.lookup("b.io").identity_token == "refresh-me"


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(registry.AuthError, match="not valid JSON"):
        credentials.DockerConfigJSON(b"{nope", where="secret ns/pull").lookup("a.io")
    with pytest.raises(registry.AuthError, match=r"auths\['a.io'\].auth is not base64"):
        credentials.DockerConfigJSON({"auths": {"a.io": {"auth": "!!!"}}}).lookup("a.io")
    with pytest.raises(registry.AuthError, match="cannot read docker config"):
        credentials.DockerConfig(str(tmp_path / "missing.json")).lookup("a.io")


def test_credential_helpers(tmp_path: Path, monkeypatch) -> None:
    bin_dir = _helper(
        tmp_path,
        "fake",
        {"reg.io": ("helper-user", "helper-secret"), "tok.io": ("<token>", "refresh")},
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    config = {"credHelpers": {"reg.io": "fake", "tok.io": "fake", "none.io": "fake"}}
    source = credentials.DockerConfigJSON(config)
    assert source.lookup("reg.io") == credentials.Credentials("helper-user", "helper-secret")
    assert source.lookup("tok.io").identity_token == "refresh"
    assert source.lookup("none.io") is None
    store = credentials.DockerConfigJSON({"credsStore": "fake", "auths": {}})
    assert store.lookup("reg.io").username == "helper-user"
    with pytest.raises(registry.AuthError, match=r"docker-credential-absent .* not on PATH"):
        credentials.DockerConfigJSON({"credsStore": "absent"}).lookup("reg.io")


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["basic", "token"])
def test_docker_config_file_against_registry(shared_registry, tmp_path, mode) -> None:
    server = shared_registry.get(mode)
    images.push_image(server, "team/cfg", tags=["1.0.0"])
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": {server.host: {"auth": _auth(server.username, "stale")}}}))
    client = registry.Client(
        registry.ClientSettings(host=server.host),
        credentials_source=registry.DockerConfig(str(path)),
    )
    with pytest.raises(registry.AuthError):
        client.list_tags(f"{server.host}/team/cfg")
    # The file is fixed (e.g. a refreshed ECR token): the next poll reads it again.
    path.write_text(
        json.dumps({"auths": {server.host: {"auth": _auth(server.username, server.password)}}})
    )
    assert client.list_tags(f"{server.host}/team/cfg").tags == ("1.0.0",)


@pytest.mark.integration
def test_dockerconfigjson_secret_and_helper_against_registry(
    shared_registry, tmp_path, monkeypatch
) -> None:
    server = shared_registry.get("basic")
    images.push_image(server, "team/secret", tags=["2.0.0"])
    secret_data = json.dumps(
        {
            "auths": {
                f"http://{server.host}": {"username": server.username, "password": server.password}
            }
        }
    ).encode()
    client = registry.Client(
        registry.ClientSettings(host=server.host),
        credentials_source=registry.DockerConfigJSON(lambda: secret_data),
    )
    assert client.list_tags(f"{server.host}/team/secret").tags == ("2.0.0",)
    bin_dir = _helper(tmp_path, "ecr", {server.host: (server.username, server.password)})
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    helper_client = registry.Client(
        registry.ClientSettings(host=server.host),
        credentials_source=registry.DockerConfigJSON({"credHelpers": {server.host: "ecr"}}),
    )
    assert helper_client.list_tags(f"{server.host}/team/secret").tags == ("2.0.0",)
