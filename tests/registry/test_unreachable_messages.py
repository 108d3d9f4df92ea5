"""An unreachable registry is reported in one plain sentence, its cause chained, and a
name that does not resolve fails at once instead of being retried."""

from __future__ import annotations

import socket

import pytest

import registry


def _client(host: str, sleeps: list[float]) -> registry.Client:
    return registry.Client(
        registry.ClientSettings(host=host, retries=3, backoff=1.0), sleep=sleeps.append
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_name_resolution_failure_is_one_sentence_and_not_retried() -> None:
    sleeps: list[float] = []
    client = _client("no-such-registry.invalid", sleeps)
    with pytest.raises(registry.UnreachableError) as caught:
        client.ping()
    message = str(caught.value)
    assert message == "cannot reach registry no-such-registry.invalid: name resolution failed"
    assert caught.value.__cause__ is not None  # the transport error stays chained
    assert sleeps == []  # failed fast: no backoff
    assert client.counters.total() == 1


def test_refused_connection_is_retried_then_said_plainly() -> None:
    sleeps: list[float] = []
    host = f"127.0.0.1:{_closed_port()}"
    client = _client(host, sleeps)
    with pytest.raises(registry.UnreachableError) as caught:
        client.ping()
    assert (
        str(caught.value) == f"cannot reach registry {host}: connection refused (after 4 attempts)"
    )
    for internal in ("HTTPConnectionPool", "Max retries", "urllib3", "Errno"):
        assert internal not in str(caught.value)
    assert sleeps == [1.0, 2.0, 4.0]
    assert client.counters.total() == 4


def test_no_answer_within_the_timeout() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)  # accepts connections, never answers
        host = f"127.0.0.1:{listener.getsockname()[1]}"
        client = registry.Client(registry.ClientSettings(host=host, retries=0, timeout=0.3))
        with pytest.raises(registry.UnreachableError) as caught:
            client.ping()
    assert str(caught.value) == f"cannot reach registry {host}: no answer within 0.3s"
