"""Choosing a commit from ls-remote output, and turning credentials into git's env."""

from __future__ import annotations

import base64
import stat

import pytest

from syncer.config import model
from syncer.source import auth, errors, refs, urls

LS_REMOTE = (
    "ref: refs/heads/trunk\tHEAD\n"
    "1111111111111111111111111111111111111111\tHEAD\n"
    "1111111111111111111111111111111111111111\trefs/heads/trunk\n"
    "2222222222222222222222222222222222222222\trefs/heads/dev\n"
    "3333333333333333333333333333333333333333\trefs/tags/v1.0.0\n"
    "4444444444444444444444444444444444444444\trefs/tags/v1.1.0\n"
    "5555555555555555555555555555555555555555\trefs/tags/v1.1.0^{}\n"
)


def pick(**git: str) -> refs.Target:
    remote = refs.parse_ls_remote(LS_REMOTE)
    return refs.select(git=model.GitSource(url="x", **git), remote=remote, where="source 's'")


def test_select_each_kind_of_ref():
    assert pick(branch="dev").commit.startswith("2222")
    assert pick().ref == "refs/heads/trunk"  # remote HEAD
    assert pick(tag="v1.0.0").commit.startswith("3333")
    # Annotated tags are peeled to their commit.
    assert pick(semver="^1").commit.startswith("5555")
    assert pick(commit="abc").ref == "abc"


def test_missing_branch_is_named():
    with pytest.raises(errors.RefNotFoundError, match="source 's': branch 'main' does not exist"):
        pick(branch="main")


def test_https_credentials_become_a_config_env_header(tmp_path):
    values = {"U": "alice", "P": "s3cret"}
    env = auth.git_env(
        auth=model.GitAuth(
            username_from=model.SecretRef("env", "U"), password_from=model.SecretRef("env", "P")
        ),
        resolve=lambda ref, secret=True: values[ref.name],
        key_dir=tmp_path,
        connect_timeout=5,
    )
    token = base64.b64encode(b"alice:s3cret").decode()
    assert env.env == {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {token}",
    }
    assert "s3cret" in env.secrets and token in env.secrets


def test_ssh_key_and_known_hosts_go_to_private_files(tmp_path):
    values = {"K": "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----",
              "H": "[127.0.0.1]:2222 ssh-ed25519 AAAA\n"}  # fmt: skip
    env = auth.git_env(
        auth=model.GitAuth(
            ssh_key_from=model.SecretRef("file", "K"), known_hosts_from=model.SecretRef("env", "H")
        ),
        resolve=lambda ref, secret=True: values[ref.name],
        key_dir=tmp_path / "keys",
        connect_timeout=7,
    )
    command = env.env["GIT_SSH_COMMAND"]
    assert "StrictHostKeyChecking=yes" in command and "ConnectTimeout=7" in command
    key_file = next((tmp_path / "keys").glob("key-*"))
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().endswith("-----END OPENSSH PRIVATE KEY-----\n")
    assert str(key_file) in command
    assert values["K"] not in command


def test_urls_normalized_and_displayed_without_credentials(tmp_path):
    assert urls.normalize("repos/x.git", base_dir=tmp_path) == str(tmp_path / "repos/x.git")
    assert urls.normalize("https://h/x.git/", base_dir=tmp_path) == "https://h/x.git"
    assert urls.normalize("git@github.com:o/r.git", base_dir=tmp_path) == "git@github.com:o/r.git"
    assert urls.display("https://bob:pw@h/x.git") == "https://***@h/x.git"
