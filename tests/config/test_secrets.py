"""Secret references resolve to their values; failures name the reference, never a value."""

from __future__ import annotations

import logging

import pytest

from syncer import errors, redact
from syncer.config import model, secrets


@pytest.fixture(autouse=True)
def clean_registry():
    redact.forget_all()
    yield
    redact.forget_all()


def test_env_reference(monkeypatch):
    monkeypatch.setenv("SYNCER_TEST_TOKEN", "tok-123456")
    assert secrets.resolve("env:SYNCER_TEST_TOKEN", base_dir="/") == "tok-123456"


def test_env_reference_from_an_injected_environment():
    ref = model.SecretRef("env", "GIT_TOKEN")
    assert secrets.resolve(ref, base_dir="/", environ={"GIT_TOKEN": "abcd1234"}) == "abcd1234"


def test_file_reference_is_relative_to_the_config_directory(tmp_path):
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token").write_text("file-token-1\n")
    assert secrets.resolve("file:secrets/token", base_dir=str(tmp_path)) == "file-token-1"


def test_file_reference_keeps_the_final_newline_when_asked(tmp_path):
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    (tmp_path / "id").write_text(key)
    ref = model.SecretRef("file", str(tmp_path / "id"))
    assert secrets.resolve(ref, base_dir="/", strip=False) == key


def test_secret_reference_goes_through_the_injected_reader():
    calls = []

    def read(namespace: str, name: str, key: str) -> str:
        calls.append((namespace, name, key))
        return "from-the-cluster"

    ref = "secret:syncer/git#token"
    assert secrets.resolve(ref, base_dir="/", read_secret=read) == "from-the-cluster"
    assert calls == [("syncer", "git", "token")]


def _failing_reader(exc: Exception):
    def read(namespace: str, name: str, key: str) -> str:
        raise exc

    return read


@pytest.mark.parametrize(
    ("ref", "kwargs", "message"),
    [
        (
            "env:SYNCER_NOT_SET_ANYWHERE",
            {},
            "env:SYNCER_NOT_SET_ANYWHERE: the environment variable",
        ),
        ("file:nope/token", {}, "file:nope/token: no such file /cfg/nope/token"),
        ("secret:ns/name#key", {}, "secret:ns/name#key: Kubernetes Secrets cannot be read here"),
        (
            "secret:ns/name#key",
            {"read_secret": _failing_reader(KeyError("key"))},
            "secret:ns/name#key: the Secret ns/name has no key 'key'",
        ),
        (
            "secret:ns/name#key",
            {"read_secret": _failing_reader(RuntimeError("data: hunter2"))},
            "secret:ns/name#key: reading the Secret failed (RuntimeError)",
        ),
        ("hunter2", {}, "not a secret reference (value not shown)"),
    ],
)
def test_failures_name_the_reference(ref, kwargs, message):
    with pytest.raises(secrets.SecretError) as caught:
        secrets.resolve(ref, base_dir="/cfg", **kwargs)
    assert str(caught.value).startswith(message)
    assert "hunter2" not in str(caught.value)
    assert isinstance(caught.value, errors.PermanentError)


def test_reader_errors_of_our_own_pass_through():
    # e.g. the API server is unreachable: retrying later helps, so it stays temporary.
    reader = _failing_reader(errors.TemporaryError("API server unreachable", retry_after=3))
    with pytest.raises(errors.TemporaryError):
        secrets.resolve("secret:ns/name#key", base_dir="/", read_secret=reader)


def test_empty_value_is_an_error(monkeypatch):
    monkeypatch.setenv("SYNCER_EMPTY", "")
    with pytest.raises(secrets.SecretError, match="env:SYNCER_EMPTY is empty"):
        secrets.resolve("env:SYNCER_EMPTY", base_dir="/")


def test_every_resolved_value_is_masked_in_logs(monkeypatch, caplog):
    monkeypatch.setenv("SYNCER_TEST_PASSWORD", "pa55w0rd-xyz")
    value = secrets.resolve("env:SYNCER_TEST_PASSWORD", base_dir="/")
    logger = logging.getLogger("syncer.test.secrets")
    logger.addFilter(redact.RedactingFilter())
    with caplog.at_level(logging.INFO, logger="syncer.test.secrets"):
        logger.info("cloning with password %s", value)
    assert caplog.messages == ["cloning with password ***"]
