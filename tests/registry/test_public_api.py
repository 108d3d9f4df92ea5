"""The package's public surface is pinned, and no third-party exception leaks out."""

from __future__ import annotations

import dataclasses

import pytest

import registry
from tests.servers import registry_stub


def test_all_is_pinned() -> None:
    assert sorted(registry.__all__) == [
        "AuthError",
        "Chain",
        "Client",
        "ClientSettings",
        "Counters",
        "Credentials",
        "Decision",
        "DockerConfig",
        "DockerConfigJSON",
        "Dynamic",
        "InvalidPolicyError",
        "InvalidReferenceError",
        "Manifest",
        "NoCandidateError",
        "NotFoundError",
        "Policy",
        "PollCache",
        "Pool",
        "RateLimitedError",
        "Reference",
        "RegistryError",
        "ResponseError",
        "Static",
        "TagList",
        "UnreachableError",
        "build_policy",
        "parse_policy",
        "parse_reference",
        "parse_repository",
        "resolve",
    ]
    for name in registry.__all__:
        assert hasattr(registry, name), name


def test_decision_contract() -> None:
    fields = [f.name for f in dataclasses.fields(registry.Decision)]
    assert fields == ["repository", "tag", "digest", "ref", "reason", "policy", "warning"]
    decision = registry.Decision("r/x", "1", "sha256:a", "r/x:1@sha256:a", "why", "semver:1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.tag = "2"  # type: ignore[misc]


def test_errors_form_one_tree() -> None:
    for name in (
        "AuthError",
        "InvalidPolicyError",
        "InvalidReferenceError",
        "NoCandidateError",
        "NotFoundError",
        "RateLimitedError",
        "ResponseError",
        "UnreachableError",
    ):
        assert issubclass(getattr(registry, name), registry.RegistryError)
    assert registry.InvalidPolicyError.permanent and registry.InvalidReferenceError.permanent
    assert not registry.UnreachableError.permanent


@pytest.mark.integration
def test_no_requests_exception_leaks(tmp_path) -> None:
    """Every failure mode of the transport surfaces as a RegistryError, chained."""
    stub = registry_stub.StubRegistry(tags={"r": ["1"]}).start()
    host = stub.host
    cases = []
    stub.failures = [(0, {})] * 5  # dropped connections
    cases.append(registry.Client(registry.ClientSettings(host=host, retries=1, backoff=0)))
    stub.stop()
    cases.append(registry.Client(registry.ClientSettings(host=host, retries=0)))
    cases.append(
        registry.Client(
            registry.ClientSettings(host="256.0.0.1:1", insecure=True, retries=0, timeout=2)
        )
    )
    bad_ca = tmp_path / "ca.pem"
    bad_ca.write_text("not a certificate")
    cases.append(
        registry.Client(registry.ClientSettings(host=host, ca_file=str(bad_ca), retries=0))
    )
    missing_ca = registry.Client(
        registry.ClientSettings(host=host, ca_file=str(tmp_path / "missing.pem"), retries=0)
    )
    cases.append(missing_ca)
    for client in cases:
        with pytest.raises(registry.RegistryError) as caught:
            registry.resolve(f"{client.host}/r", "semver:*", client=client)
        assert (
            caught.value.__cause__ is None
            or "requests" in type(caught.value.__cause__).__module__
            or isinstance(caught.value.__cause__, OSError)
        )
        assert not type(caught.value).__module__.startswith("requests")
