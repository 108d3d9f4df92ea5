"""``syncer.images``: config registries (auth refs, dockerConfig, CA file) to decisions,
one shared client per host, steady-state cost, and registry errors as syncer errors."""

from __future__ import annotations

import base64
import json
import textwrap

import pytest

from syncer import errors, images, metrics, redact
from syncer.config import loader
from tests.servers import images as push

pytestmark = pytest.mark.integration


def _config(tmp_path, registries: str, apps_images: str):
    text = textwrap.dedent(
        """
        sources:
          - name: deploy
            git: {url: https://git.example.com/deploy.git}
        clusters:
          - name: dev
        registries:
        %s
        apps:
          - name: web
            source: deploy
            clusters: [dev]
            images:
        %s
        """
    ) % (textwrap.indent(registries, "  "), textwrap.indent(apps_images, "      "))
    path = tmp_path / "syncer.yaml"
    path.write_text(text)
    return loader.load(str(path))


def test_decides_with_env_and_file_credentials(shared_registry, tmp_path, monkeypatch):
    token = shared_registry.get("token", tls=True)
    basic = shared_registry.get("basic")
    push.push_image(token, "glue/web", tags=["1.2.0", "1.3.1"])
    pushed = push.push_image(basic, "glue/api", tags=["latest"])
    monkeypatch.setenv("REG_USER", token.username)
    (tmp_path / "pw").write_text(token.password + "\n")
    docker = tmp_path / "docker.json"
    auth = base64.b64encode(f"{basic.username}:{basic.password}".encode()).decode()
    docker.write_text(json.dumps({"auths": {basic.host: {"auth": auth}}}))
    config = _config(
        tmp_path,
        f"""- host: {token.host}
  caFile: {token.ca_file}
  auth: {{usernameFrom: "env:REG_USER", passwordFrom: "file:pw"}}
- host: {basic.host}
  auth: {{dockerConfig: docker.json}}
  rateLimit: {{perSecond: 50, burst: 5, maxConcurrency: 2}}
""",
        f"""- {{repository: {token.host}/glue/web, policy: {{semver: "^1"}}}}
- {{repository: {basic.host}/glue/api, policy: {{digest: latest}}}}
""",
    )
    resolver = images.Images(config)
    web, api = (resolver.decide(image) for image in config.apps[0].images)
    # The docker config's password is now masked in logs like any resolved secret.
    assert basic.password not in redact.mask(f"password was {basic.password}")
    assert (web.tag, web.policy) == ("1.3.1", "semver:^1")
    assert web.repository == f"{token.host}/glue/web"
    assert api.ref == f"{basic.host}/glue/api:latest@{pushed.digest}"
    counts = resolver.counts()
    assert set(counts) == {token.host, basic.host}
    # Polling again where nothing changed: one request per image.
    before = sum(sum(kinds.values()) for kinds in counts.values())
    for image in config.apps[0].images:
        resolver.decide(image)
    after = sum(sum(kinds.values()) for kinds in resolver.counts().values())
    assert after - before == 2
    # The same counts feed the Prometheus metric.
    sent = metrics.value(
        "syncer_registry_requests_total", registry=basic.host, kind="manifest-head"
    )
    assert sent >= counts[basic.host]["manifest-head"] + 1
    resolver.close()


def test_errors_become_syncer_errors(shared_registry, tmp_path, monkeypatch):
    basic = shared_registry.get("basic")
    anonymous = shared_registry.get("anonymous")
    push.push_image(anonymous, "glue/none", tags=["0.1.0"])
    monkeypatch.setenv("REG_USER", basic.username)
    monkeypatch.setenv("REG_PASS", "not-the-password")
    config = _config(
        tmp_path,
        f"""- host: {basic.host}
  auth: {{usernameFrom: "env:REG_USER", passwordFrom: "env:REG_PASS"}}
""",
        f"""- {{repository: {basic.host}/glue/x, policy: {{semver: "^1"}}}}
- {{repository: {anonymous.host}/glue/none, policy: {{semver: "^1"}}}}
- {{repository: {anonymous.host}/glue/absent, policy: {{semver: "^1"}}}}
""",
    )
    resolver = images.Images(config)
    denied, none, absent = config.apps[0].images

    def failed(host: str) -> dict[str, float]:
        """syncer_registry_errors_total of ``host`` by reason."""
        reasons = ("auth", "not-found", "unreachable", "rate-limited", "response")
        return {
            r: metrics.value("syncer_registry_errors_total", registry=host, reason=r)
            for r in reasons
        }

    before = {basic.host: failed(basic.host), anonymous.host: failed(anonymous.host)}
    with pytest.raises(images.RegistryError, match=f"image {basic.host}/glue/x: .*syncer") as e:
        resolver.decide(denied)
    assert "not-the-password" not in str(e.value)
    with pytest.raises(images.NoMatchingTagError, match=r"none in \^1") as e:
        resolver.decide(none)
    assert isinstance(e.value, errors.PermanentError)
    with pytest.raises(images.RegistryError, match="not found"):
        resolver.decide(absent)
    # Counted by registry and reason; no tag in range is the policy's doing, not counted.
    assert failed(basic.host) == {**before[basic.host], "auth": before[basic.host]["auth"] + 1}
    anon = before[anonymous.host]
    assert failed(anonymous.host) == {**anon, "not-found": anon["not-found"] + 1}
    # A missing env var is the secrets module's permanent error, naming the reference.
    monkeypatch.delenv("REG_PASS")
    fresh = images.Images(config)
    with pytest.raises(errors.PermanentError, match="REG_PASS"):
        fresh.decide(denied)


def test_conversion_table() -> None:
    import registry

    cases = [
        (registry.InvalidPolicyError("bad"), images.ImagePolicyError),
        (registry.InvalidReferenceError("bad"), images.ImagePolicyError),
        (registry.NoCandidateError("none"), images.NoMatchingTagError),
        (registry.AuthError("no"), images.RegistryError),
        (registry.UnreachableError("down"), images.RegistryUnreachableError),
    ]
    for err, expected in cases:
        assert type(images.convert(err, image="r/x")) is expected
    limited = images.convert(registry.RateLimitedError("slow", retry_after=42), image="r/x")
    assert isinstance(limited, errors.TemporaryError) and limited.retry_after == 42


def test_hub_aliases_share_settings(tmp_path) -> None:
    assert images.canonical_host("index.docker.io") == "docker.io"
    assert images.canonical_host("Registry.Example.com:5000") == "Registry.Example.com:5000"
