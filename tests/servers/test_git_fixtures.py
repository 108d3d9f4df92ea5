"""The Git test servers work as real Git servers: clone, fetch, push, auth, history rewrites."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.servers.git_fixtures import Symlink

pytestmark = pytest.mark.integration


def run_git(
    *args: str, cwd: Path | None = None, header: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    if header:
        env.update(
            GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="http.extraHeader", GIT_CONFIG_VALUE_0=header
        )
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_anonymous_clone_and_fetch_over_http(git_http, tmp_path):
    repo = git_http.create_repo("app", {"a.yaml": "x: 1\n", "dir/b.yaml": "y: 2\n"})
    first = repo.head()

    assert run_git("clone", "-q", repo.url, str(tmp_path / "c")).returncode == 0
    assert (tmp_path / "c" / "dir" / "b.yaml").read_text() == "y: 2\n"
    assert run_git("rev-parse", "HEAD", cwd=tmp_path / "c").stdout.strip() == first
    assert git_http.count("fetch", repo="app.git") == 1

    second = repo.commit({"a.yaml": "x: 2\n", "dir/b.yaml": None, "link": Symlink("a.yaml")})
    git_http.reset_counts()
    assert run_git("fetch", "-q", "origin", cwd=tmp_path / "c").returncode == 0
    assert run_git("rev-parse", "origin/main", cwd=tmp_path / "c").stdout.strip() == second
    assert git_http.count("fetch") == 1
    assert git_http.count("info-refs") == 1

    tree = run_git("ls-tree", "-r", "origin/main", cwd=tmp_path / "c").stdout
    assert "dir/b.yaml" not in tree
    assert "120000 blob" in tree  # the symlink


def test_ls_remote_is_counted_apart_from_fetch(git_http):
    repo = git_http.create_repo("app", {"a": "1"})
    repo.tag("v1.0.0")
    out = run_git("ls-remote", repo.url)
    assert out.returncode == 0
    assert f"{repo.head()}\trefs/heads/main" in out.stdout
    assert "refs/tags/v1.0.0" in out.stdout
    assert git_http.count("info-refs") == 1
    assert git_http.count("fetch") == 0


def test_basic_auth_required_and_checked(git_http_auth, tmp_path):
    repo = git_http_auth.create_repo("private", {"a": "1"})

    denied = run_git("ls-remote", repo.url)
    assert denied.returncode != 0
    wrong = run_git("ls-remote", repo.url, header=git_http_auth.auth_header("git-user", "nope"))
    assert wrong.returncode != 0
    assert git_http_auth.count("denied") >= 2

    header = git_http_auth.auth_header()
    ok = run_git("clone", "-q", repo.url, str(tmp_path / "c"), header=header)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "c" / "a").read_text() == "1"


def test_push_over_http_with_credentials(git_http_auth, tmp_path):
    repo = git_http_auth.create_repo("pushme", {"a": "1"})
    header = git_http_auth.auth_header()
    work = tmp_path / "w"
    assert run_git("clone", "-q", repo.url, str(work), header=header).returncode == 0
    (work / "b").write_text("2")
    run_git("add", "b", cwd=work)
    run_git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "b", cwd=work)
    pushed = run_git("push", "-q", "origin", "main", cwd=work, header=header)
    assert pushed.returncode == 0, pushed.stderr
    assert repo.head() == run_git("rev-parse", "HEAD", cwd=work).stdout.strip()
    assert git_http_auth.count("push") == 1


def test_force_push_move_branch_and_delete(git_http, tmp_path):
    repo = git_http.create_repo("hist", {"a": "1"})
    one = repo.head()
    two = repo.commit({"a": "2"})
    rewritten = repo.force_push({"a": "3"})
    # The new head does not descend from the old one: history was rewritten.
    assert (
        run_git(
            "--git-dir", str(repo.path), "merge-base", "--is-ancestor", two, rewritten
        ).returncode
        == 1
    )
    assert (
        run_git(
            "--git-dir", str(repo.path), "merge-base", "--is-ancestor", one, rewritten
        ).returncode
        == 0
    )

    repo.move_branch("release", one)
    refs = run_git("ls-remote", repo.url).stdout
    assert f"{one}\trefs/heads/release" in refs
    assert f"{rewritten}\trefs/heads/main" in refs
    repo.delete_branch("release")
    assert "refs/heads/release" not in run_git("ls-remote", repo.url).stdout


def test_git_daemon_clone_fetch_and_stop(git_daemon, tmp_path):
    repo = git_daemon.create_repo("d", {"a": "1"})
    assert repo.url.startswith("git://127.0.0.1:")
    assert run_git("clone", "-q", repo.url, str(tmp_path / "c")).returncode == 0
    new = repo.commit({"a": "2"})
    assert run_git("fetch", "-q", "origin", cwd=tmp_path / "c").returncode == 0
    assert run_git("rev-parse", "origin/main", cwd=tmp_path / "c").stdout.strip() == new
    assert git_daemon.requests() >= 2

    git_daemon.stop()
    assert run_git("ls-remote", repo.url).returncode != 0


def test_several_servers_at_once_share_a_root(git_http_factory, git_daemon_factory):
    a = git_http_factory()
    b = git_http_factory(auth=("u", "p"))
    d = git_daemon_factory(root=a.root)
    assert len({a.port, b.port, d.port}) == 3
    repo = a.create_repo("shared", {"a": "1"})
    over_daemon = run_git("ls-remote", d.url_for(repo))
    assert repo.head() in over_daemon.stdout


def test_git_over_ssh_with_key_and_known_hosts(git_ssh, tmp_path):
    repo = git_ssh.create_repo("s", {"a": "1"})
    hosts = tmp_path / "known_hosts"
    hosts.write_text(git_ssh.known_hosts)
    ssh = (
        f"ssh -i {git_ssh.client_key_path} -o IdentitiesOnly=yes -o BatchMode=yes "
        f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={hosts}"
    )
    env = {**os.environ, "GIT_SSH_COMMAND": ssh, "GIT_TERMINAL_PROMPT": "0"}
    out = subprocess.run(
        ["git", "ls-remote", repo.url], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr + git_ssh.logs()
    assert repo.head() in out.stdout
    # The key may run git and nothing else.
    shell = subprocess.run(
        [*ssh.split(), "-p", str(git_ssh.port), f"{git_ssh.user}@127.0.0.1", "id"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert shell.returncode != 0
