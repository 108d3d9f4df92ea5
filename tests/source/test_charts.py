"""Helm chart sources against real repositories: a chart repository made by the real
``helm package`` + ``helm repo index`` behind Basic auth, and OCI charts pushed with the
real ``helm push`` to the CNCF registry (htpasswd and token auth). The newest version in
the range is chosen, a new one is picked up like a new commit, archives are cached by
digest, credentials go only where they belong, and hostile answers fail clearly."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

import registry
from syncer import errors as syncer_errors
from syncer.config import model
from syncer.source import charts
from syncer.source import errors as source_errors
from tests.servers import chart_repo as chart_repo_mod
from tests.source.conftest import SECRETS

pytestmark = pytest.mark.integration

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: info}\ndata: {v: '%s'}\n"
SECRETS.update({"CHART_USER": "chart-user", "CHART_PASS": "chart-pass-1"})
AUTH = model.ChartAuth(
    username_from=model.SecretRef(kind="env", name="CHART_USER"),
    password_from=model.SecretRef(kind="env", name="CHART_PASS"),
)


def files(version: str) -> dict[str, str]:
    return {"templates/cm.yaml": CM % version}


def make(tmp_path: Path, **kw: Any) -> charts.ChartSources:
    return charts.ChartSources(
        charts.Settings(cache_dir=tmp_path / "cache", base_dir=tmp_path),
        resolve_secret=lambda ref: SECRETS[ref.name],
        **kw,
    )


def source(url: str, version: str = "", **kw: Any) -> model.Source:
    return model.Source(
        name="shop", helm=model.ChartSource(url=url, chart="shop", version=version, **kw)
    )


def test_the_newest_version_in_range_is_chosen_and_a_new_one_is_picked_up(
    tmp_path: Path, chart_repo: chart_repo_mod.ChartRepo
) -> None:
    for version in ("1.0.0", "1.1.0", "2.0.0", "1.2.0-rc.1"):
        chart_repo.publish("shop", version, files(version))
    sources = make(tmp_path)
    src = source(chart_repo.url, "^1.0", auth=AUTH)
    first = sources.poll(src)
    assert first.commit.startswith("1.1.0@sha256:") and first.label == "chart shop 1.1.0 (^1.0)"
    assert (first.path / "templates" / "cm.yaml").read_text() == CM % "1.1.0"
    again = sources.poll(src)
    assert again.commit == first.commit and not again.fetched and not again.changed
    assert sources.counts["archive"] == 1  # cached by digest

    chart_repo.publish("shop", "1.3.0", files("1.3.0"))
    moved = sources.poll(src)
    assert moved.commit.startswith("1.3.0@") and moved.previous == first.commit
    # Cached charts nobody is at go (the one in use stays); an older revision (a
    # rollback) is then found again by its commit, in a fresh cache too.
    assert sources.cleanup(keep_recent=0) == [first.commit.partition("@")[2]]
    assert moved.path.is_dir() and not first.path.exists()
    assert sources.checkout(src, first.commit).path.is_dir()
    back = make(tmp_path / "other").checkout(src, first.commit)
    assert (back.path / "templates" / "cm.yaml").read_text() == CM % "1.1.0"
    # Credentials went with every request (Basic auth in a header, never in a URL).
    assert chart_repo.requests and all(sent for _path, sent in chart_repo.requests)
    assert not any("chart-pass" in path for path, _sent in chart_repo.requests)


def test_missing_or_wrong_credentials_and_unknown_charts_are_clear_errors(
    tmp_path: Path, chart_repo: chart_repo_mod.ChartRepo
) -> None:
    chart_repo.publish("shop", "1.0.0", files("1.0.0"))
    sources = make(tmp_path)
    with pytest.raises(source_errors.ChartAuthError, match=r"needs credentials .*sources\[\]"):
        sources.poll(source(chart_repo.url))
    SECRETS["BAD_PASS"] = "nope"
    bad = model.ChartAuth(
        username_from=model.SecretRef(kind="env", name="CHART_USER"),
        password_from=model.SecretRef(kind="env", name="BAD_PASS"),
    )
    with pytest.raises(source_errors.ChartAuthError, match="refused the credentials"):
        sources.poll(source(chart_repo.url, auth=bad))
    with pytest.raises(source_errors.RefNotFoundError, match="no version matches '\\^3'"):
        sources.poll(source(chart_repo.url, "^3", auth=AUTH))
    other = model.Source(
        name="x", helm=model.ChartSource(url=chart_repo.url, chart="nope", auth=AUTH)
    )
    with pytest.raises(source_errors.RefNotFoundError, match="no chart named 'nope'"):
        sources.poll(other)


def test_hostile_indexes_and_archives_are_refused(
    tmp_path: Path, chart_repo: chart_repo_mod.ChartRepo
) -> None:
    chart_repo.publish("shop", "1.0.0", files("1.0.0"))
    sources = make(tmp_path)
    small = source(chart_repo.url, auth=AUTH, max_index_size=100)
    with pytest.raises(
        source_errors.ChartInvalidError, match=r"larger than 100 bytes \(maxIndexSize\)"
    ):
        sources.poll(small)
    tiny = source(chart_repo.url, auth=AUTH, max_chart_size=100)
    with pytest.raises(source_errors.ChartInvalidError, match=r"maxChartSize"):
        sources.poll(tiny)
    # An index whose digest does not match the archive (tampered on the way).
    index = chart_repo.root / "index.yaml"
    text = index.read_text()
    digest = text.split("digest: ")[1].split()[0]
    index.write_text(text.replace(digest, "f" * 64))
    with pytest.raises(source_errors.ChartInvalidError, match="does not match the digest"):
        make(tmp_path / "b").poll(source(chart_repo.url, auth=AUTH))
    # A billion-laughs index.
    index.write_text("a: &a [x, x]\nb: &b [*a, *a]\nentries: {shop: [*b]}\n")
    with pytest.raises(source_errors.ChartInvalidError, match="YAML aliases"):
        make(tmp_path / "c").poll(source(chart_repo.url, auth=AUTH))
    # An archive that writes outside its directory.
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, data in (("shop/Chart.yaml", b"name: shop\n"), ("../evil", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    evil = gzip.compress(archive.getvalue())
    (chart_repo.root / "shop-1.0.0.tgz").write_bytes(evil)
    index.write_text(
        "apiVersion: v1\nentries:\n  shop:\n  - name: shop\n    version: 1.0.0\n"
        f"    digest: {hashlib.sha256(evil).hexdigest()}\n    urls: [shop-1.0.0.tgz]\n"
    )
    with pytest.raises(source_errors.ChartInvalidError, match="leaves the chart"):
        make(tmp_path / "d").poll(source(chart_repo.url, auth=AUTH))
    assert not (tmp_path / "d" / "cache" / "evil").exists()


@pytest.mark.parametrize("mode", ["basic", "token"])
def test_oci_charts_pushed_with_helm(tmp_path: Path, registry_server: Any, mode: str) -> None:
    server = registry_server.start(mode)
    helm = chart_repo_mod.helm_runner(tmp_path / "helm-home")
    helm(
        "registry", "login", server.host, "--username", server.username,
        "--password-stdin", "--plain-http", stdin=server.password,
    )  # fmt: skip
    for version in ("0.9.0", "1.0.0", "1.1.0+build.7"):
        chart = chart_repo_mod.write_chart(
            tmp_path / "work" / version, name="shop", version=version, files=files(version)
        )
        helm("package", str(chart), "--destination", str(tmp_path / "pkg"))
        helm(
            "push", str(tmp_path / "pkg" / f"shop-{version}.tgz"),
            f"oci://{server.host}/charts", "--plain-http",
        )  # fmt: skip
    pool = registry.Pool(
        credentials_for=lambda host: registry.Static(server.username, server.password)
    )
    sources = make(tmp_path, registry_clients=pool.client_for)
    src = source(f"oci://{server.host}/charts", ">=1.0.0")
    found = sources.poll(src)
    assert found.commit.startswith("1.1.0+build.7@sha256:"), found.commit
    assert (found.path / "templates" / "cm.yaml").read_text() == CM % "1.1.0+build.7"
    assert sources.poll(src).commit == found.commit and sources.counts["archive"] == 1
    exact = sources.poll(source(f"oci://{server.host}/charts", "0.9.0"))
    assert exact.commit.startswith("0.9.0@")
    anonymous = make(tmp_path / "anon", registry_clients=registry.Pool().client_for)
    with pytest.raises(syncer_errors.PermanentError, match="shop"):
        anonymous.poll(src)
