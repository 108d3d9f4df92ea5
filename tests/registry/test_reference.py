"""Image references normalise like docker's; invalid ones say what is wrong; the OCI tag
and digest grammars that every tag and digest from a registry must pass."""

from __future__ import annotations

import pytest

import registry
from registry import reference

D = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.25", "docker.io/library/nginx:1.25"),
        ("bitnami/redis", "docker.io/bitnami/redis:latest"),
        ("docker.io/nginx", "docker.io/library/nginx:latest"),
        ("index.docker.io/library/nginx", "docker.io/library/nginx:latest"),
        ("ghcr.io/org/app:v1", "ghcr.io/org/app:v1"),
        ("localhost/app", "localhost/app:latest"),
        ("localhost:5000/team/web:1.0", "localhost:5000/team/web:1.0"),
        ("127.0.0.1:5000/team/web", "127.0.0.1:5000/team/web:latest"),
        ("[::1]:5000/app:2", "[::1]:5000/app:2"),
        ("[fe80::1]/app", "[fe80::1]/app:latest"),
        (f"nginx@{D}", f"docker.io/library/nginx@{D}"),
        (f"reg.io/a/b:1.2@{D}", f"reg.io/a/b:1.2@{D}"),
        ("reg.io/a/b/c/d:x", "reg.io/a/b/c/d:x"),
        ("Registry.Example.com/a", "Registry.Example.com/a:latest"),
        ("a__b/c-d.e:Tag_1", "docker.io/a__b/c-d.e:Tag_1"),
    ],
)
def test_normalises(text: str, expected: str) -> None:
    assert str(registry.parse_reference(text)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        (" nginx", "surrounding spaces"),
        ("Nginx", "lowercase"),
        ("nginx:", "tag ''"),
        ("nginx:-x", "tag '-x'"),
        ("nginx:" + "a" * 129, "1-128 characters"),
        ("nginx@sha256:abc", "ALGORITHM:HEX"),
        ("nginx@sha256:" + "A" * 64, "64 lowercase hex"),
        ("reg.io/a//b", "path component ''"),
        ("reg.io/a_-b", "path component 'a_-b'"),
        ("bad_host.io:xx/a", "not a valid registry host"),
    ],
)
def test_rejects_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(registry.InvalidReferenceError, match="invalid image reference") as err:
        registry.parse_reference(text)
    assert message in str(err.value)
    assert isinstance(err.value, ValueError)


def test_repository_parts_and_api_host() -> None:
    ref = registry.parse_repository("nginx")
    assert (ref.domain, ref.path, ref.repository) == (
        "docker.io",
        "library/nginx",
        "docker.io/library/nginx",
    )
    assert ref.api_host == "registry-1.docker.io"
    assert registry.parse_repository("127.0.0.1:5000/x").api_host == "127.0.0.1:5000"


def test_repository_refuses_tags() -> None:
    with pytest.raises(registry.InvalidReferenceError, match="without ':tag'"):
        registry.parse_repository("reg.io/team/web:1.0")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("127.0.0.1:5000", True),
        ("[::1]:5000", True),
        ("registry.example.com", False),
        ("10.0.0.1:5000", False),
    ],
)
def test_loopback_hosts_get_plain_http(host: str, loopback: bool) -> None:
    assert reference.is_loopback(host) is loopback
    client = registry.Client(registry.ClientSettings(host=host))
    assert client.base_url.startswith("http://" if loopback else "https://")


def test_ca_file_or_insecure_choose_the_scheme() -> None:
    tls = registry.Client(registry.ClientSettings(host="127.0.0.1:5000", ca_file="/x.pem"))
    plain = registry.Client(registry.ClientSettings(host="reg.internal", insecure=True))
    hub = registry.Client(registry.ClientSettings(host="docker.io"))
    assert tls.base_url == "https://127.0.0.1:5000"
    assert plain.base_url == "http://reg.internal"
    assert hub.base_url == "https://registry-1.docker.io"


@pytest.mark.parametrize(
    ("tag", "valid"),
    [
        ("1.2.3", True),
        ("_x", True),
        ("A" + "b" * 127, True),
        ("A" + "b" * 128, False),
        ("1.2.3+build", False),
        ("1.2.3\n", False),
        ("1.2.é", False),
        (".x", False),
        ("-x", False),
        ("", False),
    ],
)
def test_tag_grammar(tag: str, valid: bool) -> None:
    assert reference.is_tag(tag) is valid


@pytest.mark.parametrize(
    ("digest", "problem"),
    [
        ("sha256:" + "a" * 64, ""),
        ("sha512:" + "0" * 128, ""),
        ("sha256:" + "a" * 63, "64 lowercase hex"),
        ("sha256:" + "A" * 64, "64 lowercase hex"),
        ("sha512:" + "0" * 64, "128 lowercase hex"),
        ("md5:" + "0" * 32, "uses algorithm 'md5'"),
        ("sha256:../../x", "64 lowercase hex"),
        ("not-a-digest", "not ALGORITHM:HEX"),
        (42, "not a string"),
    ],
)
def test_digest_grammar(digest: object, problem: str) -> None:
    found = reference.digest_problem(digest)
    assert (problem in found and bool(found)) if problem else found == ""
