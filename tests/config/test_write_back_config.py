"""``apps[].writeBack`` as configured: the three forms, branch template, author and key."""

from __future__ import annotations

from syncer.config import loader, model
from syncer.writeback import run
from tests.binaries import REPO_ROOT
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


def test_the_readme_example_is_a_valid_config() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Git write-back") :]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    config = loader.loads(
        example + "clusters:\n  - {name: prod}\n", filename="README.md", base_dir="/etc/syncer"
    )
    forms = [(a.write_back.kustomization, len(a.write_back.helm_values), a.write_back.manifests)
             for a in config.apps if a.write_back is not None]  # fmt: skip
    assert forms == [("kustomization.yaml", 0, False), ("", 1, False), ("", 0, True)]
