"""``apps[].writeBack`` as configured: the three forms, branch template, author and key."""

from __future__ import annotations

from syncer.config import loader, model
from syncer.writeback import run
from tests.config.conftest import TESTDATA


def test_write_back_settings_are_read_as_written() -> None:
    config = loader.load(TESTDATA / "valid" / "write-back.yaml")
    web, api = config.apps
    assert web.write_back == model.WriteBack(
        kustomization="kustomization.yaml", manifests=True, digest=True
    )
    assert api.write_back is not None
    assert api.write_back.helm_values[1] == model.HelmValuesTarget(
        file="values.yaml", image="registry.example.com/team/migrate", tag="migrate.tag",
        digest="migrate.digest",
    )  # fmt: skip
    assert api.write_back.commit.signing_key_from == model.SecretRef(
        "secret", "syncer/signing", "key"
    )
    assert api.write_back.commit.author_email == "bot@example.com"
    # The branch template names the app; without one, the source's branch is used.
    assert run.branch_of(api, config.sources[0]) == "syncer/api"
    assert run.branch_of(web, config.sources[0]) == "main"
    # The default author and message of a write-back.
    assert web.write_back.commit.author_name == "syncer"
    assert "Syncer-Write-Back: {app}" in web.write_back.commit.message
