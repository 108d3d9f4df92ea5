"""Commit and push through ``GitSources.push`` against the real smart-HTTP server: one
commit with the source's credentials, none when nothing changed, a race re-applied and
bounded, refused credentials named without the secret, and an OpenPGP-signed commit."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from syncer.config import model
from syncer.source import errors, push
from tests.source import conftest
from tests.source.conftest import http_auth, make_source


def set_line(path: str, text: str) -> push.Edit:
    """An edit that makes ``path`` hold ``text`` (nothing when it already does)."""

    def edit(root: Path, _head: str) -> tuple[list[push.NewFile], push.Commit] | None:
        current = root / path
        if current.is_file() and current.read_text() == text:
            return None
        return [push.NewFile(path=path, content=text.encode())], push.Commit(
            author_name="Bot", author_email="bot@example.com", message=f"set {path}\n"
        )

    return edit


@pytest.fixture
def served(git_http_auth: Any) -> tuple[Any, Any]:
    repo = git_http_auth.create_repo("deploy", {"a.txt": "one\n", "b.txt": "keep\n"})
    return git_http_auth, repo


def test_one_commit_then_none_when_nothing_changed(served: Any, git_sources: Any) -> None:
    server, repo = served
    sources = git_sources()
    source = make_source("deploy", repo.url, branch="main", auth=http_auth())
    before = repo.head()
    done = sources.push(source, branch="main", edit=set_line("a.txt", "two\n"))
    assert done is not None and done.commit == repo.head() and done.parent == before
    assert repo.git("show", "main:a.txt") == "two" and repo.git("show", "main:b.txt") == "keep"
    assert repo.git("log", "-1", "--format=%an <%ae>%n%s") == "Bot <bot@example.com>\nset a.txt"
    assert sources.push(source, branch="main", edit=set_line("a.txt", "two\n")) is None
    assert server.count("push") == 1


def test_a_branch_that_keeps_moving_is_given_up_after_bounded_retries(
    served: Any, git_sources: Any
) -> None:
    server, repo = served
    source = make_source("deploy", repo.url, branch="main", auth=http_auth())
    for n in range(push.MAX_ATTEMPTS):
        server.before_push.append(lambda n=n: repo.commit({"b.txt": f"theirs {n}\n"}))
    with pytest.raises(errors.GitUnavailableError, match="moved during each of 5 pushes"):
        git_sources().push(source, branch="main", edit=set_line("a.txt", "two\n"))
    assert repo.git("show", "main:a.txt") == "one"  # nothing of ours landed
    # The next try, with nobody racing, lands on top of all of theirs.
    done = git_sources().push(source, branch="main", edit=set_line("a.txt", "two\n"))
    assert done is not None and repo.git("show", "main:b.txt") == f"theirs {push.MAX_ATTEMPTS - 1}"


def test_refused_credentials_are_named_without_the_secret(served: Any, git_sources: Any) -> None:
    _server, repo = served
    source = make_source("deploy", repo.url, branch="main", auth=http_auth(token="BAD_TOKEN"))
    with pytest.raises(errors.GitAuthError) as caught:
        git_sources().push(source, branch="main", edit=set_line("a.txt", "two\n"))
    assert "authentication failed" in str(caught.value) and "wrong" not in str(caught.value)


def test_commit_signed_with_an_openpgp_key(
    served: Any, git_sources: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _server, repo = served
    home = tmp_path / "gpg"
    home.mkdir(mode=0o700)
    env = {"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"}

    def gpg(*args: str) -> str:
        return subprocess.run(
            ["gpg", "--batch", *args], env=env, capture_output=True, text=True, check=True
        ).stdout

    gpg("--passphrase", "", "--quick-gen-key", "Bot <bot@example.com>", "ed25519", "sign", "never")
    monkeypatch.setitem(conftest.SECRETS, "PGP_KEY", gpg("--armor", "--export-secret-keys"))
    sources = git_sources()
    sign_env: dict[str, str] = {}
    try:
        sign_env = sources.signing_env(model.SecretRef("env", "PGP_KEY"), what="test")
        edit = set_line("a.txt", "two\n")

        def signed(root: Path, head: str) -> tuple[list[push.NewFile], push.Commit] | None:
            made = edit(root, head)
            assert made is not None
            files, commit = made
            return files, push.Commit(
                author_name=commit.author_name, author_email=commit.author_email,
                message=commit.message, sign_env=sign_env,
            )  # fmt: skip

        source = make_source("deploy", repo.url, branch="main", auth=http_auth())
        done = sources.push(source, branch="main", edit=signed)
        assert done is not None
        verified = subprocess.run(
            ["git", f"--git-dir={repo.path}", "verify-commit", done.commit],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert verified.returncode == 0, verified.stderr
        assert 'Good signature from "Bot <bot@example.com>"' in verified.stderr
    finally:
        # The gpg-agents this test made gpg start (its own home's and syncer's).
        for gnupg in {str(home), sign_env.get("GNUPGHOME", str(home))}:
            subprocess.run(["gpgconf", "--kill", "gpg-agent"], env={**env, "GNUPGHOME": gnupg})
        if "syncer-gnupg-" in sign_env.get("GNUPGHOME", ""):
            shutil.rmtree(sign_env["GNUPGHOME"], ignore_errors=True)  # outside tmp_path
