"""Credentials never reach log output: registered values and known credential shapes."""

from __future__ import annotations

import functools
import io
import logging

import pytest

from syncer import redact


@pytest.fixture(autouse=True)
def clean_registry():
    redact.forget_all()
    yield
    redact.forget_all()


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("GET /v2/ Authorization: Bearer eyJhbGciOi.x.y", "GET /v2/ Authorization: Bearer ***"),
        ("{'Authorization': 'Basic dXNlcjpwYXNz'}", "{'Authorization': 'Basic ***'}"),
        ("proxy-authorization: abcdef", "proxy-authorization: ***"),
        ("POST /token password=hunter2&user=bob", "POST /token password=***&user=bob"),
        ("token=abc123&scope=repo", "token=***&scope=repo"),
        ('{"access_token": "eyJ0eXAi", "x": 1}', '{"access_token": "***", "x": 1}'),
        ("https://bob:hunter2@git.example.com/a.git", "https://bob:***@git.example.com/a.git"),
        ("https://ghp_0123456789abcdefghij@github.com/a", "https://***@github.com/a"),
        # not credentials: left alone
        ("ssh://git@git.example.com/a.git", "ssh://git@git.example.com/a.git"),
        ("passwordFrom: secret:ns/name#key", "passwordFrom: secret:ns/name#key"),
        ("reading secret:ns/name#key", "reading secret:ns/name#key"),
    ],
)
def test_credential_shapes_are_masked(text, masked):
    assert redact.mask(text) == masked


def test_registered_values_are_masked_anywhere():
    redact.register("s3cr3t-value")
    assert redact.mask("x=s3cr3t-value;y=s3cr3t-value") == "x=***;y=***"


def test_longest_value_wins_when_values_overlap():
    redact.register("abcdef")
    redact.register("abcdefghij")
    assert redact.mask("key abcdefghij") == "key ***"


def test_each_line_of_a_multiline_secret_is_masked():
    redact.register("-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----\n")
    assert redact.mask("bad line MIIEvQIBADANBgkqhkiG9w0BAQEFAASC") == "bad line ***"


def test_short_values_are_not_registered():
    redact.register("ab")
    assert redact.mask("a tab b") == "a tab b"


def _logger(name: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(name)
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_filter_masks_arguments_and_exceptions():
    redact.register("tok-987654")
    logger, stream = _logger("syncer.test.redact.filter")
    logger.handlers[0].addFilter(redact.RedactingFilter())
    logger.info("header %s", {"Authorization": "Bearer tok-987654"})
    try:
        raise ValueError("bad token tok-987654")
    except ValueError:
        logger.exception("failed")
    out = stream.getvalue()
    assert "tok-987654" not in out
    assert "'Authorization': 'Bearer ***'" in out
    assert "ValueError: bad token ***" in out


def test_install_covers_loggers_and_handlers_added_later():
    try:
        redact.install()
        redact.install()  # idempotent
        redact.register("late-secret-42")
        logger, stream = _logger("syncer.test.redact.install")
        logger.warning("using late-secret-42 for %s", "https://u:p4ss@h/x")
        assert stream.getvalue() == "using *** for https://u:***@h/x\n"
    finally:
        redact.uninstall()


def test_registering_a_value_turns_masking_on_for_every_logger():
    redact.uninstall()
    try:
        logger, stream = _logger("syncer.test.redact.auto")
        redact.register("auto-secret-77")
        logger.error("leaked auto-secret-77?")
        assert stream.getvalue() == "leaked ***?\n"
    finally:
        redact.uninstall()


def test_a_registered_value_inside_a_longer_word_is_left_alone():
    redact.register("release")
    assert redact.mask("new release 3f2a; releases: 4; token release") == (
        "new *** 3f2a; releases: 4; token ***"
    )


def test_a_user_name_is_not_a_secret(tmp_path):
    from syncer.config import model, secrets
    from syncer.source import auth

    resolve = functools.partial(
        secrets.resolve, base_dir=str(tmp_path), environ={"U": "deploy", "P": "pa55word-long"}
    )
    auth.git_env(
        auth=model.GitAuth(
            username_from=model.SecretRef("env", "U"), password_from=model.SecretRef("env", "P")
        ),
        resolve=resolve,
        key_dir=tmp_path / "keys",
        connect_timeout=5,
    )
    line = "source=deploy app=deploy path=deploy/web password pa55word-long"
    assert redact.mask(line) == "source=deploy app=deploy path=deploy/web password ***"


def test_git_error_text_masks_whole_secrets_only():
    from syncer.source import gitcli

    text = "fatal: couldn't find remote ref main (token main-token-123 sent)"
    assert gitcli.mask(text, ["main", "main-token-123"]) == (
        "fatal: couldn't find remote ref main (token *** sent)"
    )


def test_a_secret_object_shows_hashes_of_its_values_and_other_objects_pass_as_they_are() -> None:
    secret = {
        "kind": "Secret",
        "metadata": {"name": "db"},
        "data": {"password": "aHVudGVyMg=="},
        "stringData": {"user": "bob"},
    }
    shown = redact.secret_object(secret)
    # sha256("aHVudGVyMg==") and sha256("bob"), first 12 hex digits: a change shows.
    assert shown["data"] == {"password": "(masked, sha256 b073aefd7c92)"}
    assert shown["stringData"] == {"user": "(masked, sha256 81b637d8fcd2)"}
    assert shown["metadata"] == {"name": "db"}
    assert secret["data"] == {"password": "aHVudGVyMg=="}  # the original is left whole
    config_map = {"kind": "ConfigMap", "data": {"password": "visible"}}
    assert redact.secret_object(config_map) is config_map
