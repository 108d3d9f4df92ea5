"""The client against a registry that misbehaves in every way the stub knows
(``tests.servers.registry_stub.MODES``): it ends (pytest-timeout bounds each case, the
stub misbehaves far longer), with a decision that is valid and never below the running
tag, or with one clear registry error naming the registry and what was wrong."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import registry
from registry import reference
from tests.servers import registry_stub

pytestmark = pytest.mark.integration

REPO = "team/web"
TAGS = ["0.1.0", "0.2.0", "1.0.0"]
RUNNING = "1.0.0"
MAX_BODY = 1024 * 1024

# mode -> (what the client is asked, the error's class and pattern, or the tag chosen)
CASES: dict[str, tuple[str, type[registry.RegistryError] | None, str]] = {
    "self-link": ("resolve", registry.ResponseError, r"paginates the tags of team/web in a loop"),
    "cyclic-link": ("resolve", registry.ResponseError, r"team/web in a loop"),
    "endless-link": ("resolve", None, RUNNING),
    "link-elsewhere": ("resolve", registry.ResponseError, r"team/web to another resource"),
    "non-oci-tags": ("resolve", None, "1.0.0"),
    "tags-string": ("resolve", registry.ResponseError, r'invalid tag list .*"tags" .* a string'),
    "tags-object": ("resolve", registry.ResponseError, r'"tags" of the tag list is an object'),
    "tag-number": ("resolve", registry.ResponseError, r'"tags"\[3\] .* is a number'),
    "truncated-json": ("resolve", registry.ResponseError, r"tag list .* is not JSON"),
    "html-tags": ("resolve", registry.ResponseError, r"tag list .* is not JSON"),
    "huge-body": ("resolve", registry.ResponseError, rf"above the limit of {MAX_BODY} bytes"),
    "huge-chunked": ("resolve", registry.ResponseError, rf"above the limit of {MAX_BODY} bytes"),
    "drip-body": ("resolve", registry.UnreachableError, r"no complete answer within 1s"),
    "slow-headers": ("resolve", registry.UnreachableError, r"no answer within 1s"),
    "drip-headers": ("resolve", registry.UnreachableError, r"no complete answer within 1s"),
    "500-storm": ("resolve", registry.UnreachableError, r"keeps failing: HTTP 500"),
    "redirect-loop": ("resolve", registry.ResponseError, r"redirected tags more than 5 times"),
    "bad-digest": ("resolve", registry.ResponseError, r"invalid digest for .*team/web:1.0.0"),
    "unknown-algorithm": ("resolve", registry.ResponseError, r"uses algorithm 'md5'"),
    "digest-mismatch": ("manifest", registry.ResponseError, r"does not match its digest"),
    "manifest-content-type": ("manifest", registry.ResponseError, r"not a manifest type"),
    "manifest-wrong-types": ("manifest", registry.ResponseError, r'"layers" .* an object'),
    "bad-index-entry": ("manifest", registry.ResponseError, r"manifests\[0\]: digest"),
    "token-bad-expiry": ("resolve", registry.AuthError, r'invalid answer: "expires_in"'),
    "token-header-injection": ("resolve", registry.AuthError, r"invalid answer: the token"),
    "token-not-json": ("resolve", registry.AuthError, r"invalid answer: .* not JSON"),
}


def test_every_mode_has_a_case() -> None:
    assert set(CASES) == set(registry_stub.MODES)


@pytest.fixture
def stub(request: pytest.FixtureRequest) -> Iterator[registry_stub.StubRegistry]:
    mode = request.param
    server = registry_stub.StubRegistry(tags={REPO: list(TAGS)}, mode=mode).start()
    if mode.startswith("token-"):
        server.challenge = f'Bearer realm="http://{server.host}/token",service="stub"'
    yield server
    server.stop()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("stub", list(CASES), indirect=True)
def test_misbehaving_registry(stub: registry_stub.StubRegistry) -> None:
    call, error, expected = CASES[stub.mode]
    client = registry.Client(
        registry.ClientSettings(
            host=stub.host,
            timeout=1.0,
            deadline=4.0,
            retries=1,
            backoff=0.05,
            max_body=MAX_BODY,
            max_pages=20,
            per_second=1000,
            burst=1000,
        )
    )
    running_digest = registry_stub.StubRegistry(tags={REPO: TAGS}).digest(REPO, RUNNING)
    repository = f"{stub.host}/{REPO}"
    try:
        if error is None:
            decision = registry.resolve(
                repository,
                "semver:*",
                client=client,
                running=lambda: [(RUNNING, running_digest)],
            )
            # Never an invalid value, never below what runs.
            assert decision.tag == expected, decision.reason
            assert reference.is_tag(decision.tag)
            assert not reference.digest_problem(decision.digest)
            return
        with pytest.raises(error, match=expected) as caught:
            if call == "manifest":
                client.platform_manifest(repository, RUNNING)
            else:
                registry.resolve(
                    repository,
                    "semver:*",
                    client=client,
                    running=lambda: [(RUNNING, running_digest)],
                )
        message = str(caught.value)
        assert stub.host in message and "\n" not in message, message
        assert "Traceback" not in message and "urllib3" not in message, message
    finally:
        client.close()
    # Nothing the registry sent was followed somewhere else.
    assert not any("/other/" in seen.path for seen in stub.seen)
    if stub.mode.startswith("huge"):
        assert stub.sent < registry_stub.HUGE  # the client hung up long before the end


def test_invalid_tags_are_counted_in_the_reason(stub_registry) -> None:
    stub_registry.tags[REPO] = list(TAGS)
    stub_registry.mode = "non-oci-tags"
    client = registry.Client(registry.ClientSettings(host=stub_registry.host))
    decision = registry.resolve(f"{stub_registry.host}/{REPO}", "semver:*", client=client)
    assert decision.tag == "1.0.0"
    assert "5 invalid tags skipped" in decision.reason
    client.close()


def test_endless_pagination_stops_at_the_page_cap_and_keeps_the_running_tag(
    stub_registry,
) -> None:
    stub_registry.tags[REPO] = list(TAGS)
    stub_registry.mode = "endless-link"
    client = registry.Client(registry.ClientSettings(host=stub_registry.host, max_pages=7))
    repository = f"{stub_registry.host}/{REPO}"
    listing = client.list_tags(repository)
    assert listing.truncated and listing.pages == 7 and listing.limit.startswith("the page cap")
    assert client.counters.total(kind="tags") == 7
    digest = stub_registry.digest(REPO, RUNNING)
    decision = registry.resolve(
        repository, "semver:*", client=client, running=lambda: [(RUNNING, digest)]
    )
    assert (decision.tag, decision.digest) == (RUNNING, digest)
    assert "page cap of 7 pages" in decision.warning and repository in decision.warning
    client.close()


def test_the_deadline_bounds_a_whole_listing_not_each_page(stub_registry) -> None:
    stub_registry.tags[REPO] = [f"1.0.{i}" for i in range(40)]
    stub_registry.page_size = 1
    stub_registry.delay = 0.1  # every page answers in time; forty of them do not
    client = registry.Client(
        registry.ClientSettings(host=stub_registry.host, timeout=5, deadline=1, per_second=1000)
    )
    with pytest.raises(registry.UnreachableError) as caught:
        client.list_tags(f"{stub_registry.host}/{REPO}")
    assert str(caught.value) == (
        f"registry {stub_registry.host} gave no complete answer within the deadline of 1s "
        f"(listing the tags of {stub_registry.host}/{REPO})"
    )
    assert client.counters.total(kind="tags") < 40
    client.close()


def test_a_retry_after_beyond_the_deadline_is_not_waited(stub_registry) -> None:
    stub_registry.tags[REPO] = list(TAGS)
    stub_registry.failures = [(429, {"Retry-After": "20"})]
    sleeps: list[float] = []
    client = registry.Client(
        registry.ClientSettings(host=stub_registry.host, deadline=5, max_retry_after=30),
        sleep=sleeps.append,
    )
    with pytest.raises(registry.RateLimitedError) as caught:
        client.list_tags(f"{stub_registry.host}/{REPO}")
    assert caught.value.retry_after == 20 and not any(s >= 1 for s in sleeps)
    client.close()
