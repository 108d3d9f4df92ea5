"""Apps from the teams: a tenant's appsFrom files, checked as the platform's own tenant apps."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from syncer import cli, errors
from syncer.config import loader
from syncer.reconcile import tenantapps
from tests.config.conftest import load_text, problems_of

PLATFORM = """\
sources:
  - name: platform
    git: {url: https://git.example.com/platform/deploy.git}
  - name: team-a-deploy
    git: {url: https://git.example.com/team-a/deploy.git}
  - name: team-b-deploy
    git: {url: https://git.example.com/team-b/deploy.git}
clusters:
  - {name: dev}
tenants:
  - name: team-a
    sources: [{repo: "https://git.example.com/team-a/*"}]
    clusters: ["*"]
    namespaces: [team-a]
    gateway: {maxReplicas: 4, requireResources: true}
    defaults: {namespace: team-a}
    appsFrom: {source: team-a-deploy, path: syncer-apps}
  - name: team-b
    sources: [{repo: "https://git.example.com/team-b/*"}]
    clusters: ["*"]
    namespaces: [team-b]
    appsFrom: {source: team-b-deploy, path: syncer-apps/}
apps:
  - name: platform-web
    source: platform
    clusters: [dev]
"""

WEB = """\
apps:
  - name: web
    source: team-a-deploy
    path: web
    clusters: [dev]
"""


def platform():
    return load_text(PLATFORM)


def team_a():
    return platform().tenants[0]


def apps_of(text: str, *, filename: str = "syncer-apps/web.yaml"):
    return loader.loads_apps(
        textwrap.dedent(text), filename=filename, origin=f"team-a-deploy:{filename}",
        platform=platform(), tenant=team_a(),
    )  # fmt: skip


def problems_in(text: str) -> list[str]:
    with pytest.raises(errors.ConfigError) as caught:
        apps_of(text)
    return caught.value.problems


def test_a_tenants_app_belongs_to_it_and_gets_its_rules() -> None:
    ((app, line),) = apps_of(WEB)
    assert line == 2
    assert app.tenant == "team-a"
    assert app.origin == "team-a-deploy:syncer-apps/web.yaml"
    # As for a platform app naming the tenant: its default namespace and gateway.
    assert app.namespace == "team-a"
    assert app.gateway.max_replicas == 4
    assert app.gateway.tenant is not None and app.gateway.tenant.name == "team-a"


def test_the_same_entry_in_the_platform_file_binds_the_same_way() -> None:
    entry = WEB.split("\n", 1)[1] + "    tenant: team-a\n"
    in_platform = next(a for a in load_text(PLATFORM + entry).apps if a.name == "web")
    ((from_tenant, _),) = apps_of(WEB)
    assert from_tenant.gateway == in_platform.gateway
    assert from_tenant.namespace == in_platform.namespace


def test_an_app_naming_another_tenant_is_refused() -> None:
    (problem,) = problems_in(WEB + "    tenant: team-b\n")
    assert problem.startswith("syncer-apps/web.yaml:6: apps[0].tenant: ")
    assert "belongs to tenant team-a" in problem


def test_widening_the_gateway_is_refused_with_the_tenant_rule() -> None:
    (problem,) = problems_in(WEB + "    gateway: {maxReplicas: 50}\n")
    assert problem.startswith("syncer-apps/web.yaml:6: apps[0].gateway.maxReplicas: ")
    assert "looser than tenant team-a's 4 (tenants[0].gateway.maxReplicas)" in problem


def test_another_tenants_namespace_is_refused_with_the_tenant_rule() -> None:
    (problem,) = problems_in(WEB + "    namespace: team-b\n")
    assert problem.startswith("syncer-apps/web.yaml:6: apps[0].namespace: ")
    assert "tenant team-a allows namespaces team-a" in problem
    assert "(tenants[0].namespaces)" in problem


def test_another_teams_repository_is_refused() -> None:
    (problem,) = problems_in(WEB.replace("source: team-a-deploy", "source: team-b-deploy"))
    assert problem.startswith("syncer-apps/web.yaml:3: apps[0].source: tenant team-a allows")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sources: []\n", "syncer-apps/web.yaml:1: sources: unknown field"),
        ("apps:\n  - name: web\n    source: nowhere\n    clusters: [dev]\n", "unknown source"),
        ("apps: [\n", "syncer-apps/web.yaml:2: invalid YAML"),
        (
            WEB
            + "    writeBack:\n      manifests: [web]\n      commit: {signingKeyFrom: env:KEY}\n",
            "apps[0].writeBack.commit.signingKeyFrom: secret references are the platform's",
        ),
    ],
)
def test_a_broken_file_names_the_file_line_and_field(text: str, expected: str) -> None:
    problems = problems_in(text)
    assert any(expected in p for p in problems), problems


def test_an_empty_file_defines_no_app() -> None:
    assert apps_of("") == ()


@pytest.mark.parametrize(
    ("place", "expected"),
    [
        ("{source: nowhere}", "tenants[0].appsFrom.source: unknown source 'nowhere'"),
        ("{source: platform}", "tenants[0].appsFrom.source: tenant team-a allows sources"),
        ("{source: team-a-deploy, path: ../x}", "tenants[0].appsFrom.path: '../x' leaves"),
        ("{source: team-a-deploy, path: /etc}", "tenants[0].appsFrom.path: '/etc' leaves"),
    ],
)
def test_the_declaration_is_checked_with_the_platform_file(place: str, expected: str) -> None:
    text = PLATFORM.replace("{source: team-a-deploy, path: syncer-apps}", place)
    problems = problems_of(text)
    assert any(expected in p for p in problems), problems


# --- reading a snapshot --------------------------------------------------------------


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    return root


def read(root: Path):
    return tenantapps.read(platform=platform(), tenant=team_a(), root=root)


def read_problems(root: Path) -> list[str]:
    with pytest.raises(errors.ConfigError) as caught:
        read(root)
    return caught.value.problems


def test_every_yaml_file_under_the_directory_is_read(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "syncer-apps/web.yaml": WEB,
            "syncer-apps/more/api.yml": WEB.replace("name: web", "name: api"),
            "syncer-apps/README.md": "not read",
            "elsewhere/x.yaml": "not: read",
        },
    )
    apps = read(tmp_path)
    assert [(a.name, a.origin) for a in apps] == [
        ("api", "team-a-deploy:syncer-apps/more/api.yml"),
        ("web", "team-a-deploy:syncer-apps/web.yaml"),
    ]


def test_the_same_app_in_two_files_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {"syncer-apps/a.yaml": WEB, "syncer-apps/b.yaml": WEB})
    (problem,) = read_problems(tmp_path)
    assert problem.startswith("syncer-apps/b.yaml:2: apps[0].name: duplicate app name 'web'")
    assert "first at syncer-apps/a.yaml:2" in problem


def test_every_broken_file_is_reported_and_nothing_is_read(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "syncer-apps/a.yaml": WEB + "    namespace: team-b\n",
            "syncer-apps/b.yaml": "apps: [\n",
            "syncer-apps/c.yaml": WEB.replace("name: web", "name: fine"),
        },
    )
    problems = read_problems(tmp_path)
    assert [p.split(":")[0] for p in problems] == ["syncer-apps/a.yaml", "syncer-apps/b.yaml"]


def test_a_symlink_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text(WEB)
    repo = write(tmp_path / "repo", {"syncer-apps/web.yaml": WEB})
    os.symlink(outside, repo / "syncer-apps" / "evil.yaml")
    (problem,) = read_problems(repo)
    assert "syncer-apps/evil.yaml" in problem and "resolves outside the repository" in problem


def test_a_directory_linked_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    repo = tmp_path / "repo"
    repo.mkdir()
    os.symlink(tmp_path / "elsewhere", repo / "syncer-apps")
    (problem,) = read_problems(repo)
    assert "resolves outside the repository" in problem


def test_a_missing_directory_is_an_error_not_an_empty_set(tmp_path: Path) -> None:
    (problem,) = read_problems(tmp_path)
    assert problem.startswith("syncer-apps: no such directory in source team-a-deploy")


def test_too_many_files_are_refused_before_any_is_parsed(tmp_path: Path) -> None:
    write(tmp_path, {f"syncer-apps/{i:03}.yaml": "apps: [" for i in range(101)})
    (problem,) = read_problems(tmp_path)
    assert "more than 100 app files" in problem


def test_a_huge_file_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {"syncer-apps/web.yaml": WEB + "#" * tenantapps.MAX_FILE_BYTES})
    (problem,) = read_problems(tmp_path)
    assert problem.startswith("syncer-apps/web.yaml: ")
    assert "more than the 262,144 an app file may have" in problem


# --- composing the running config ----------------------------------------------------


def test_the_platform_wins_a_name_then_tenants_in_their_order(tmp_path: Path) -> None:
    config = platform()
    ((a_web, _),) = apps_of(WEB)
    ((a_clash, _),) = apps_of(WEB.replace("name: web", "name: platform-web"))
    team_b = config.tenants[1]
    ((b_web, _),) = loader.loads_apps(
        WEB.replace("team-a-deploy", "team-b-deploy") + "    namespace: team-b\n",
        filename="syncer-apps/web.yaml", origin="team-b-deploy:syncer-apps/web.yaml",
        platform=config, tenant=team_b,
    )  # fmt: skip
    composed, refused = tenantapps.compose(
        platform=config, sets={"team-b": (b_web,), "team-a": (a_web, a_clash)}
    )
    assert [(a.name, a.tenant) for a in composed.apps] == [
        ("platform-web", ""),
        ("web", "team-a"),
    ]
    (platform_clash,) = refused["team-a"]
    assert platform_clash.startswith("team-a-deploy:syncer-apps/web.yaml: app platform-web")
    assert "taken by the platform's config" in platform_clash
    (tenant_clash,) = refused["team-b"]
    assert "taken by tenant team-a (team-a-deploy:syncer-apps/web.yaml)" in tenant_clash


# --- a team's pull request: syncer validate --tenant --local -------------------------


def validate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str
) -> tuple[int, str, str]:
    config = tmp_path / "syncer.yaml"
    config.write_text(PLATFORM)
    code = cli.main(["validate", "-c", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_team_checks_its_working_tree_against_its_tenants_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = write(tmp_path / "tree", {"syncer-apps/web.yaml": WEB})
    code, out, err = validate(capsys, tmp_path, "--tenant", "team-a", "--local", str(tree))
    assert (code, err) == (0, "")
    assert "2 apps" in out

    write(tree, {"syncer-apps/web.yaml": WEB + "    namespace: team-b\n"})
    write(tree, {"syncer-apps/clash.yaml": WEB.replace("name: web", "name: platform-web")})
    code, out, err = validate(capsys, tmp_path, "--tenant", "team-a", "--local", str(tree))
    assert code == 2
    assert err.startswith("error: syncer-apps/web.yaml:6: apps[0].namespace: tenant team-a")

    write(tree, {"syncer-apps/web.yaml": WEB})
    code, out, err = validate(capsys, tmp_path, "--tenant", "team-a", "--local", str(tree))
    assert code == 2
    assert "app platform-web is refused: the name is taken by the platform's config" in err


def test_validate_names_the_tenants_that_have_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = validate(capsys, tmp_path, "--tenant", "team-c", "--local", str(tmp_path))
    assert code == 2
    assert "expected a tenant with appsFrom (team-a, team-b)" in err
