"""Behaviour docker-registry 2.8 cannot show, against a small paginating stub server:
Link pagination, the scan budget, 429 Retry-After, 5xx retries, connection drops,
missing Docker-Content-Digest headers and ETag/304 listings."""

from __future__ import annotations

import threading

import pytest

import registry
from registry import transport
from tests.servers import registry_stub

pytestmark = pytest.mark.integration


def _client(stub: registry_stub.StubRegistry, sleeps: list[float], **kw) -> registry.Client:
    config = registry.ClientSettings(host=stub.host, **kw)
    return registry.Client(config, sleep=sleeps.append)


def test_follows_link_pagination(stub_registry) -> None:
    stub_registry.tags["team/web"] = [f"1.0.{i}" for i in range(25)]
    stub_registry.page_size = 10
    listing = _client(stub_registry, []).list_tags(f"{stub_registry.host}/team/web")
    assert len(listing.tags) == 25 and listing.pages == 3 and not listing.truncated
    queries = [s.query for s in stub_registry.seen if s.path.endswith("/tags/list")]
    assert queries[0] == "n=1000" and all("last=" in q for q in queries[1:])


def test_scan_budget_bounds_the_listing(stub_registry) -> None:
    stub_registry.tags["big"] = [f"{i}" for i in range(5000)]
    stub_registry.page_size = 100
    client = _client(stub_registry, [], scan_budget=250)
    listing = client.list_tags(f"{stub_registry.host}/big")
    assert len(listing.tags) == 250 and listing.truncated and listing.pages == 3
    decision = registry.resolve(f"{stub_registry.host}/big", "numerical:asc", client=client)
    assert (
        "listing stopped by the scan budget of 250 tags: only the first 250 tags were read"
        in decision.reason
    )


def test_429_honours_retry_after(stub_registry) -> None:
    stub_registry.tags["team/web"] = ["1.0.0"]
    stub_registry.failures = [(429, {"Retry-After": "2"}), (429, {"Retry-After": "1"})]
    sleeps: list[float] = []
    client = _client(stub_registry, sleeps)
    assert client.list_tags(f"{stub_registry.host}/team/web").tags == ("1.0.0",)
    assert [s for s in sleeps if s >= 1] == [2.0, 1.0]
    assert client.counters.total(kind="tags") == 3


def test_long_retry_after_raises_rate_limited(stub_registry) -> None:
    stub_registry.tags["team/web"] = ["1.0.0"]
    stub_registry.failures = [(429, {"Retry-After": "600"})]
    with pytest.raises(registry.RateLimitedError, match="HTTP 429") as caught:
        _client(stub_registry, []).list_tags(f"{stub_registry.host}/team/web")
    assert caught.value.retry_after == 600


def test_5xx_and_dropped_connections_are_retried_with_backoff(stub_registry) -> None:
    stub_registry.tags["team/web"] = ["1.0.0"]
    stub_registry.failures = [(503, {}), (0, {}), (502, {})]
    sleeps: list[float] = []
    client = _client(stub_registry, sleeps, backoff=0.5)
    assert client.head_digest(f"{stub_registry.host}/team/web", "1.0.0")
    assert [s for s in sleeps if s >= 0.5] == [0.5, 1.0, 2.0]


def test_gives_up_after_retries(stub_registry) -> None:
    stub_registry.failures = [(503, {})] * 10
    with pytest.raises(registry.UnreachableError, match="HTTP 503 on tags after 3 attempts"):
        _client(stub_registry, [], retries=2).list_tags(f"{stub_registry.host}/x")


def test_digest_from_body_when_header_missing(stub_registry) -> None:
    stub_registry.tags["team/web"] = ["1.0.0"]
    stub_registry.send_digest_header = False
    client = _client(stub_registry, [])
    digest = client.head_digest(f"{stub_registry.host}/team/web", "1.0.0")
    assert digest == stub_registry.digest("team/web", "1.0.0")
    assert [s.method for s in stub_registry.seen] == ["HEAD", "GET"]


def test_accept_header_names_all_manifest_types(stub_registry) -> None:
    stub_registry.tags["team/web"] = ["1.0.0"]
    _client(stub_registry, []).head_digest(f"{stub_registry.host}/team/web", "1.0.0")
    accept = stub_registry.seen[-1].headers["Accept"]
    for media_type in registry.client.MANIFEST_TYPES:
        assert media_type in accept


def test_etag_makes_unchanged_listing_a_304(stub_registry) -> None:
    stub_registry.tags["team/web"] = ["1.0.0", "1.1.0"]
    stub_registry.etag = True
    client = _client(stub_registry, [])
    cache = registry.PollCache()
    repo = f"{stub_registry.host}/team/web"
    first = registry.resolve(repo, "semver:*", client=client, cache=cache)
    assert registry.resolve(repo, "semver:*", client=client, cache=cache) == first
    assert stub_registry.seen[-1].headers.get("If-None-Match")
    assert client.counters.total() == 3  # tags, HEAD, then one 304


def test_missing_repository_name_unknown(stub_registry) -> None:
    with pytest.raises(registry.NotFoundError, match="not found") as caught:
        _client(stub_registry, []).list_tags(f"{stub_registry.host}/nope")
    assert caught.value.code == "NAME_UNKNOWN"


def test_unreachable_registry(stub_registry) -> None:
    host = stub_registry.host
    stub_registry.stop()
    with pytest.raises(registry.UnreachableError, match=f"cannot reach registry {host}"):
        _client_host(host).ping()


def _client_host(host: str) -> registry.Client:
    return registry.Client(registry.ClientSettings(host=host, retries=1, backoff=0))


def test_rate_limit_and_concurrency_are_per_registry(stub_registry) -> None:
    stub_registry.tags["r"] = ["1"]
    sleeps: list[float] = []
    client = _client(stub_registry, sleeps, per_second=10, burst=2)
    for _ in range(4):
        client.head_digest(f"{stub_registry.host}/r", "1")
    # Two requests fit the burst; the next ones wait about 1/10 s each.
    assert len(sleeps) == 2 and all(0 < s <= 0.2 for s in sleeps)


def test_token_bucket_refills() -> None:
    now = [0.0]
    waited: list[float] = []
    bucket = transport.TokenBucket(rate=2, burst=1, clock=lambda: now[0], sleep=waited.append)
    assert bucket.take() == 0
    assert bucket.take() == pytest.approx(0.5)
    now[0] += 10
    assert bucket.take() == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5", 5.0), ("", None), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_retry_after_parsing(value: str, expected: float | None) -> None:
    assert transport.retry_after_seconds(value) == expected


def test_concurrency_cap_holds_across_threads(stub_registry) -> None:
    stub_registry.tags["r"] = ["1"]
    stub_registry.delay = 0.05
    client = registry.Client(
        registry.ClientSettings(
            host=stub_registry.host, max_concurrency=2, per_second=1000, burst=100
        )
    )
    threads = [
        threading.Thread(target=client.head_digest, args=(f"{stub_registry.host}/r", "1"))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert client.counters.total(kind="manifest-head") == 8
    assert stub_registry.max_in_flight == 2


def test_page_size_refused_then_asked_without(stub_registry) -> None:
    stub_registry.tags["r"] = [str(i) for i in range(30)]
    stub_registry.max_page_size = 10
    stub_registry.page_size = 10
    listing = _client(stub_registry, []).list_tags(f"{stub_registry.host}/r")
    assert len(listing.tags) == 30 and listing.pages == 3
    assert [s.query for s in stub_registry.seen][:2] == ["n=1000", ""]


def test_pagination_to_another_host_is_refused(stub_registry) -> None:
    stub_registry.tags["r"] = [str(i) for i in range(30)]
    stub_registry.page_size = 10
    stub_registry.link_host = "attacker.example:80"
    with pytest.raises(registry.ResponseError, match="another host"):
        _client(stub_registry, []).list_tags(f"{stub_registry.host}/r")


def test_credentials_never_go_to_a_plain_http_realm_of_a_tls_registry() -> None:
    from registry import auth, settings

    config = settings.ClientSettings(host="reg.example.com")
    http = transport.Transport(config)
    authenticator = auth.Authenticator(
        host="reg.example.com", http=http, source=registry.Static("u", "secret"), https=True
    )
    challenge = auth.parse_challenge('Bearer realm="http://auth.example.com/token"')
    assert challenge is not None
    with pytest.raises(registry.AuthError, match="unencrypted"):
        authenticator._fetch_token(
            challenge, scope="repository:x:pull", creds=registry.Credentials("u", "secret")
        )
    assert http.counters.total() == 0


@pytest.mark.parametrize(
    ("header", "scheme", "params"),
    [
        (
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:library/nginx:pull"',
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:library/nginx:pull",
            },
        ),
        ('Basic realm="Registry Realm"', "basic", {"realm": "Registry Realm"}),
        (
            'bearer realm="r", scope="repository:a:pull,push"',
            "bearer",
            {"realm": "r", "scope": "repository:a:pull,push"},
        ),
        (
            "Bearer realm=https://x/token,service=svc",
            "bearer",
            {"realm": "https://x/token", "service": "svc"},
        ),
        ('Bearer realm="a\\"b"', "bearer", {"realm": 'a"b'}),
    ],
)
def test_parse_www_authenticate(header: str, scheme: str, params: dict[str, str]) -> None:
    from registry import auth

    challenge = auth.parse_challenge(header)
    assert challenge is not None
    assert (challenge.scheme, challenge.params) == (scheme, params)


def test_unsupported_auth_scheme_is_a_clear_error(stub_registry) -> None:
    stub_registry.tags["r"] = ["1"]
    stub_registry.challenge = "Negotiate"
    with pytest.raises(registry.AuthError, match="unsupported authentication 'negotiate'"):
        _client(stub_registry, []).list_tags(f"{stub_registry.host}/r")
