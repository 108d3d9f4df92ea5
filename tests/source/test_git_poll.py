"""Polling real Git servers: clone once, ls-remote before fetching, follow rewrites."""

from __future__ import annotations

import base64
import logging
import socket
import subprocess
import threading

import pytest

from syncer import errors
from syncer.config import model
from syncer.source import errors as source_errors
from syncer.source import sources as sources_mod
from tests.servers.git_repo import BareRepo
from tests.source.conftest import http_auth, make_source

pytestmark = pytest.mark.integration


def test_first_poll_clones_and_snapshots_read_only(git_http, git_sources):
    repo = git_http.create_repo("deploy", {"apps/web/cm.yaml": "kind: ConfigMap\n"})
    sources = git_sources()

    rev = sources.poll(make_source("deploy", repo.url, branch="main"))

    assert rev.commit == repo.head()
    assert rev.ref == "refs/heads/main"
    assert rev.fetched and not rev.forced and rev.changed
    assert (rev.path / "apps/web/cm.yaml").read_text() == "kind: ConfigMap\n"
    assert not (rev.path / "apps/web/cm.yaml").stat().st_mode & 0o222
    assert git_http.count("fetch") == 1
    assert sources.counts() == {"ls-remote": 1, "fetch": 1}


def test_no_change_poll_does_not_fetch(git_http, git_sources):
    repo = git_http.create_repo("deploy", {"a.yaml": "a: 1\n"})
    sources = git_sources()
    src = make_source("deploy", repo.url, branch="main")
    first = sources.poll(src)
    git_http.reset_counts()

    again = sources.poll(src)

    assert again.commit == first.commit and again.path == first.path
    assert not again.changed and not again.fetched
    assert git_http.count("fetch") == 0
    assert git_http.count("info-refs") == 1  # one ls-remote, nothing else
    assert sources.counts() == {"ls-remote": 2, "fetch": 1}


def test_new_commit_is_fetched_and_old_snapshot_stays(git_http, git_sources):
    repo = git_http.create_repo("deploy", {"a.yaml": "a: 1\n", "gone.yaml": "x: 1\n"})
    sources = git_sources()
    src = make_source("deploy", repo.url, branch="main")
    first = sources.poll(src)

    new = repo.commit({"a.yaml": "a: 2\n", "gone.yaml": None})
    second = sources.poll(src)

    assert second.commit == new and second.previous == first.commit
    assert second.changed and second.fetched and not second.forced
    assert (second.path / "a.yaml").read_text() == "a: 2\n"
    assert not (second.path / "gone.yaml").exists()
    # The earlier snapshot is untouched: apps still rendering from it see consistent files.
    assert (first.path / "a.yaml").read_text() == "a: 1\n"


def test_force_push_is_followed_and_recorded(git_http, git_sources, caplog):
    repo = git_http.create_repo("deploy", {"a.yaml": "a: 1\n"})
    repo.commit({"a.yaml": "a: 2\n"})
    sources = git_sources()
    src = make_source("deploy", repo.url, branch="main")
    before = sources.poll(src)

    rewritten = repo.force_push({"a.yaml": "a: rewritten\n"})
    after = sources.poll(src)

    assert after.commit == rewritten and after.previous == before.commit
    assert after.forced
    assert (after.path / "a.yaml").read_text() == "a: rewritten\n"
    assert "event=force-push" in caplog.text


def test_deleted_branch_is_an_error_and_last_good_stays(git_http, git_sources):
    repo = git_http.create_repo("deploy", {"a.yaml": "a: 1\n"})
    repo.move_branch("release", repo.head())
    sources = git_sources()
    src = make_source("deploy", repo.url, branch="release")
    good = sources.poll(src)

    repo.delete_branch("release")
    with pytest.raises(source_errors.RefNotFoundError) as err:
        sources.poll(src)

    assert "branch 'release' does not exist" in str(err.value)
    assert "deploy" in str(err.value)
    assert isinstance(err.value, errors.PermanentError)
    assert sources.current("deploy") == good
    assert (good.path / "a.yaml").read_text() == "a: 1\n"


def test_unreachable_server_keeps_last_good(git_http_factory, git_sources):
    server = git_http_factory()
    repo = server.create_repo("deploy", {"a.yaml": "a: 1\n"})
    sources = git_sources()
    src = make_source("deploy", repo.url, branch="main", timeout=10.0)
    good = sources.poll(src)

    server.stop()
    with pytest.raises(source_errors.GitUnavailableError) as err:
        sources.poll(src)

    assert "unreachable" in str(err.value)
    assert isinstance(err.value, errors.TemporaryError)
    assert sources.current("deploy") == good
    assert (good.path / "a.yaml").exists()


def test_semver_range_picks_highest_matching_tag(git_http, git_sources):
    repo = git_http.create_repo("deploy", {"v": "1.0.0"})
    repo.tag("v1.0.0")
    repo.commit({"v": "1.4.2"})
    repo.tag("v1.4.2", annotated=True)
    repo.commit({"v": "1.5.0-rc.1"})
    repo.tag("v1.5.0-rc.1")
    repo.commit({"v": "2.0.0"})
    repo.tag("v2.0.0")
    sources = git_sources()
    src = make_source("deploy", repo.url, semver="^1.2")

    rev = sources.poll(src)
    assert rev.ref == "refs/tags/v1.4.2"
    assert (rev.path / "v").read_text() == "1.4.2"

    repo.commit({"v": "1.6.0"})
    repo.tag("1.6.0")
    assert (sources.poll(src).path / "v").read_text() == "1.6.0"


def test_semver_without_match_names_the_tags(git_http, git_sources):
    repo = git_http.create_repo("deploy", {"v": "1"})
    repo.tag("v1.0.0")
    with pytest.raises(
        source_errors.RefNotFoundError, match=r"no tag matches semver range '\^3'.*v1\.0\.0"
    ):
        git_sources().poll(make_source("deploy", repo.url, semver="^3"))


def test_fixed_tag_and_commit_and_remote_head(git_http, git_sources):
    repo = git_http.create_repo("deploy", {"v": "1"})
    first = repo.head()
    repo.tag("stable")
    repo.commit({"v": "2"})
    sources = git_sources()

    assert sources.poll(make_source("t", repo.url, tag="stable")).commit == first
    assert sources.poll(make_source("head", repo.url)).commit == repo.head()
    git_http.reset_counts()
    fixed = sources.poll(make_source("c", repo.url, commit=first))
    assert fixed.commit == first and (fixed.path / "v").read_text() == "1"
    # A fixed commit already in the cache needs no remote call at all.
    assert git_http.count("info-refs") == 0


def test_fixed_commit_not_cached_is_fetched(git_http, git_sources):
    repo = git_http.create_repo("deploy", {"v": "1"})
    first = repo.head()
    repo.commit({"v": "2"})
    rev = git_sources().poll(make_source("c", repo.url, commit=first))
    assert rev.commit == first and rev.fetched
    assert (rev.path / "v").read_text() == "1"
    short = git_sources().poll(make_source("short", repo.url, commit=first[:10]))
    assert short.commit == first
    with pytest.raises(source_errors.RefNotFoundError, match="commit 0123456789 is not in"):
        git_sources().poll(make_source("typo", repo.url, commit="0123456789"))


def test_https_auth_good_and_bad_credentials(git_http_auth, git_sources, caplog):
    caplog.set_level(logging.DEBUG)  # GitPython logs every command line at debug level
    repo = git_http_auth.create_repo("private", {"a.yaml": "a: 1\n"})
    sources = git_sources()

    rev = sources.poll(make_source("ok", repo.url, branch="main", auth=http_auth()))
    assert (rev.path / "a.yaml").exists()

    with pytest.raises(source_errors.GitAuthError) as err:
        sources.poll(make_source("bad", repo.url, branch="main", auth=http_auth(token="BAD_TOKEN")))
    with pytest.raises(source_errors.GitAuthError):
        sources.poll(make_source("none", repo.url, branch="main"))

    assert "authentication failed" in str(err.value)
    assert isinstance(err.value, errors.PermanentError)
    token = base64.b64encode(b"git-user:git-token-123").decode()
    assert "ls-remote" in caplog.text  # the debug log was captured
    for text in (str(err.value), caplog.text, git_http_auth.logs()):
        assert "git-token-123" not in text and "wrong" not in text and token not in text
    assert "git-user" not in repo.url


def test_two_apps_sharing_one_repo_fetch_once(git_http, git_sources):
    repo = git_http.create_repo("deploy", {"a/x.yaml": "a: 1\n", "b/x.yaml": "b: 1\n"})
    repo.move_branch("staging", repo.head())
    sources = git_sources()
    web = make_source("web", repo.url, branch="main")
    api = make_source("api", repo.url + "/", branch="main")  # another spelling, same repo
    stage = make_source("stage", repo.url, branch="staging")

    results = sources.poll_all([web, api, stage])

    assert {name: r.commit for name, r in results.items()} == {  # type: ignore[union-attr]
        "web": repo.head(),
        "api": repo.head(),
        "stage": repo.head(),
    }
    assert git_http.count("fetch") == 1
    assert sources.counts() == {"ls-remote": 1, "fetch": 1}
    assert git_http.count("info-refs") == 2  # the ls-remote, and the fetch's own opening
    assert results["web"].path == results["api"].path  # type: ignore[union-attr]

    repo.commit({"a/x.yaml": "a: 2\n"})
    git_http.reset_counts()
    again = sources.poll_all([web, api, stage])
    assert git_http.count("fetch") == 1 and git_http.count("info-refs") == 2
    assert again["web"].changed and not again["stage"].changed  # type: ignore[union-attr]


def test_one_failing_source_does_not_stop_the_others(git_http, git_sources):
    repo = git_http.create_repo("deploy", {"a": "1"})
    results = git_sources().poll_all(
        [
            make_source("good", repo.url, branch="main"),
            make_source("typo", repo.url, branch="mian"),
        ]
    )
    assert results["good"].commit == repo.head()  # type: ignore[union-attr]
    assert isinstance(results["typo"], source_errors.RefNotFoundError)


def test_git_daemon_source_and_new_commit(git_daemon, git_sources):
    repo = git_daemon.create_repo("deploy", {"a.yaml": "a: 1\n"})
    sources = git_sources()
    src = make_source("deploy", repo.url, branch="main")
    assert (sources.poll(src).path / "a.yaml").read_text() == "a: 1\n"
    new = repo.commit({"a.yaml": "a: 2\n"})
    rev = sources.poll(src)
    assert rev.commit == new and (rev.path / "a.yaml").read_text() == "a: 2\n"


def test_relative_path_resolved_against_config_dir(tmp_path, git_sources):
    repo = BareRepo.create(root=tmp_path / "repos", name="local")
    repo.commit({"a": "1"})
    sources = git_sources()
    rev = sources.poll(make_source("local", "repos/local.git", branch="main"))
    assert rev.commit == repo.head()
    by_url = sources.poll(make_source("file", f"file://{repo.path}", branch="main"))
    assert by_url.commit == repo.head()


def test_old_snapshots_are_cleaned_up(git_http, git_sources):
    repo = git_http.create_repo("deploy", {"v": "0"})
    sources = git_sources(keep_snapshots=1)
    src = make_source("deploy", repo.url, branch="main")
    paths = [sources.poll(src).path]
    for n in range(1, 4):
        repo.commit({"v": str(n)})
        paths.append(sources.poll(src).path)

    # Each new snapshot dropped the older ones: current + one recent remain.
    assert paths[-1].exists() and paths[-2].exists()
    assert not paths[0].exists() and not paths[1].exists()
    assert sources.cleanup() == []


def test_every_git_call_has_a_timeout(tmp_path, git_sources):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/silent.git"
    try:
        with pytest.raises(source_errors.GitUnavailableError, match="timed out after 1s"):
            git_sources().poll(make_source("silent", url, branch="main", timeout=1.0))
    finally:
        listener.close()


def test_credentials_from_the_environment(git_http_auth, tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_USER", "git-user")
    monkeypatch.setenv("GIT_TOKEN", "git-token-123")
    repo = git_http_auth.create_repo("private", {"a.yaml": "a: 1\n"})
    sources = sources_mod.GitSources(
        sources_mod.Settings(cache_dir=tmp_path / "c", base_dir=tmp_path)
    )
    rev = sources.poll(make_source("env", repo.url, branch="main", auth=http_auth()))
    assert (rev.path / "a.yaml").exists()


def test_ssh_with_private_key_and_known_hosts(git_ssh, tmp_path):
    other_key = tmp_path / "other"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)], check=True
    )
    values = {
        "KEY": git_ssh.client_key,
        "HOSTS": git_ssh.known_hosts,
        "OTHER": other_key.read_text(),
    }
    sources = sources_mod.GitSources(
        sources_mod.Settings(cache_dir=tmp_path / "cache", base_dir=tmp_path),
        resolve_secret=lambda ref, secret=True: values[ref.name],
    )

    def ssh_auth(key: str, hosts: str | None) -> model.GitAuth:
        return model.GitAuth(
            ssh_key_from=model.SecretRef("env", key),
            known_hosts_from=model.SecretRef("env", hosts) if hosts else None,
        )

    repo = git_ssh.create_repo("s", {"a.yaml": "a: 1\n"})
    rev = sources.poll(make_source("ssh", repo.url, branch="main", auth=ssh_auth("KEY", "HOSTS")))
    assert (rev.path / "a.yaml").read_text() == "a: 1\n"
    new = repo.commit({"a.yaml": "a: 2\n"})
    assert (
        sources.poll(
            make_source("ssh", repo.url, branch="main", auth=ssh_auth("KEY", "HOSTS"))
        ).commit
        == new
    )

    # Without known_hosts the server's key is not trusted; a wrong key is refused.
    with pytest.raises(source_errors.GitAuthError, match="authentication failed"):
        sources.poll(make_source("untrusted", repo.url, branch="main", auth=ssh_auth("KEY", None)))
    with pytest.raises(source_errors.GitAuthError) as err:
        sources.poll(make_source("wrong", repo.url, branch="main", auth=ssh_auth("OTHER", "HOSTS")))
    assert "PRIVATE KEY" not in str(err.value)


def test_max_age_reuses_a_recent_ls_remote(git_http, git_sources):
    repo = git_http.create_repo("deploy", {"a": "1"})
    sources = git_sources()
    first = sources.poll(make_source("web", repo.url, branch="main"))
    git_http.reset_counts()

    for name in ("api", "worker", "web"):
        rev = sources.poll(make_source(name, repo.url, branch="main"), max_age=60)
        assert rev.commit == first.commit
    assert git_http.count("info-refs") == 0
    assert sources.counts()["ls-remote"] == 1

    new = repo.commit({"a": "2"})
    assert (
        sources.poll(make_source("web", repo.url, branch="main"), max_age=60).commit == first.commit
    )
    assert sources.poll(make_source("web", repo.url, branch="main")).commit == new


def test_cleanup_removes_snapshots_abandoned_by_dead_processes(git_http, git_sources):
    repo = git_http.create_repo("deploy", {"v": "0"})
    sources = git_sources()
    rev = sources.poll(make_source("deploy", repo.url, branch="main"))
    abandoned = rev.path.parent / f".tmp-{'0' * 40}-999999999-1"
    abandoned.mkdir()
    (abandoned / "half.yaml").write_text("x")
    sources.cleanup()
    assert not abandoned.exists() and rev.path.exists()
