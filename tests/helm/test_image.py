"""The controller image: built by helm/image/build.py, pushed to a real registry, pulled back
and run from its unpacked root filesystem — what a release pipeline publishes is what ran
here. Its config, the Dockerfile and the chart's defaults agree with what was built.

One build per module (the Debian base, kubectl/helm and the dependencies come from the
cache tests/setup fills; the syncer layer is built fresh), pushed with the build's own
``--push`` to the CNCF registry on 127.0.0.1 and pulled with skopeo into a fresh directory.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import binaries
from tests.helm import image_build
from tests.helm.conftest import Rendered
from tests.servers import images, registry_fixtures, registry_process

# One build per module: keep its tests on one xdist worker (tests/run uses --dist loadgroup).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900), pytest.mark.xdist_group("image")]

PROJECT = tomllib.loads((binaries.REPO_ROOT / "pyproject.toml").read_text())["project"]
VERSION = PROJECT["version"]
REPOSITORY = "platform/syncer"


def _require_root() -> None:
    if os.geteuid() == 0:
        return
    reason = "building the image needs root (mmdebstrap, chroot, overlay mounts)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(binaries.REPO_ROOT), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


@dataclass(frozen=True)
class Built:
    summary: dict[str, Any]
    registry: registry_process.RegistryServer
    reference: str
    pulled: Path
    image: image_build.Image
    root: Path
    constraints: Path


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory, shared_registry: registry_fixtures.SharedRegistries
) -> Built:
    _require_root()
    for name in ("skopeo", "mmdebstrap", "chroot", "unshare", "mount"):
        binaries.require(name)
    work = tmp_path_factory.mktemp("image")
    constraints = image_build.write_constraints(work / "constraints.txt")
    registry = shared_registry.get("anonymous")
    reference = f"{registry.host}/{REPOSITORY}:{VERSION}"
    done = image_build.build(
        "--output",
        str(work / "built"),
        "--push",
        reference,
        "--insecure-registry",
        constraints=constraints,
    )
    assert done.returncode == 0, f"build.py failed:\n{done.stderr}"
    summary = json.loads(done.stdout)
    print(f"image build: {summary['seconds']} s, {summary['size']} bytes compressed")
    # A fresh directory, filled only from the registry.
    pulled = work / "pulled"
    skopeo = binaries.require("skopeo")
    source, target = f"docker://{reference}", f"oci:{pulled}:{VERSION}"
    subprocess.run(
        [skopeo, "copy", "--src-tls-verify=false", source, target],
        check=True,
        capture_output=True,
        timeout=300,
    )
    image = image_build.read_layout(pulled, VERSION)
    root = work / "rootfs"
    image_build.unpack(pulled, image, root)
    return Built(summary, registry, reference, pulled, image, root, constraints)


def test_the_registry_serves_exactly_the_built_image(built: Built) -> None:
    served = images.head_digest(built.registry, REPOSITORY, VERSION)
    assert served == built.summary["digest"] == built.image.manifest_digest
    assert built.summary["pushed"] == [f"{built.reference}@{served}"]
    layers = [layer["digest"] for layer in built.image.manifest["layers"]]
    assert layers == [layer["digest"] for layer in built.summary["layers"]]
    built_layout = image_build.read_layout(Path(built.summary["layout"]), VERSION)
    assert built_layout.manifest == built.image.manifest


def test_the_entrypoint_runs_from_the_pulled_rootfs(built: Built) -> None:
    config = built.image.config["config"]
    assert config["Entrypoint"] == ["syncer"]
    done = image_build.run_in(built.root, built.image, *config["Entrypoint"], "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"syncer {VERSION}"
    # Cmd alone (what `docker run IMAGE` does) prints the usage.
    done = image_build.run_in(built.root, built.image, *config["Entrypoint"], *config["Cmd"])
    assert done.returncode == 0 and "usage: syncer" in done.stdout, done.stderr


@pytest.mark.parametrize(
    "example",
    sorted(p.parent.name for p in (binaries.REPO_ROOT / "examples").glob("*/syncer.yaml")),
)
def test_syncer_validate_in_the_image_accepts_the_examples(built: Built, example: str) -> None:
    inside = built.root / "tmp" / "examples"
    if not inside.exists():
        shutil.copytree(binaries.REPO_ROOT / "examples", inside)
    done = image_build.run_in(
        built.root,
        built.image,
        *built.image.config["config"]["Entrypoint"],
        "validate",
        "-c",
        f"/tmp/examples/{example}/syncer.yaml",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert ": valid:" in done.stdout


def test_the_image_runs_as_a_non_root_user_of_its_own(built: Built) -> None:
    user = built.image.config["config"]["User"]
    assert user == "65532:65532"  # what the chart's podSecurityContext expects
    passwd = (built.root / "etc" / "passwd").read_text().splitlines()
    assert "syncer:x:65532:65532:syncer:/home/syncer:/usr/sbin/nologin" in passwd
    home = built.root / "home" / "syncer"
    assert (home.stat().st_uid, home.stat().st_gid) == (65532, 65532)
    done = image_build.run_in(built.root, built.image, "id")
    assert done.stdout.strip() == "uid=65532(syncer) gid=65532(syncer) groups=65532(syncer)"
    # ssh refuses to run for a UID without a passwd entry; git over SSH needs it.
    done = image_build.run_in(built.root, built.image, "ssh", "-G", "example.com")
    assert done.returncode == 0 and "user syncer" in done.stdout, done.stderr


def test_the_image_carries_git_kubectl_and_helm_at_the_pinned_versions(built: Built) -> None:
    pinned = image_build.script()
    run = image_build.run_in
    done = run(built.root, built.image, "kubectl", "version", "--client", "-o", "json")
    assert json.loads(done.stdout)["clientVersion"]["gitVersion"] == pinned.KUBECTL_VERSION
    done = run(built.root, built.image, "helm", "version", "--template", "{{.Version}}")
    assert done.stdout == pinned.HELM_VERSION
    # git works as the image's user with HOME=/tmp (the chart's read-only root filesystem).
    done = run(built.root, built.image, "git", "init", "-q", "/tmp/repo")
    assert done.returncode == 0, done.stderr
    assert (built.root / "tmp" / "repo" / ".git").stat().st_uid == 65532


def test_the_config_labels_say_what_was_built(built: Built) -> None:
    config = built.image.config
    labels = config["config"]["Labels"]
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH") or _git("log", "-1", "--format=%ct"))
    created = dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    dirty = "-dirty" if _git("status", "--porcelain", "--untracked-files=no") else ""
    assert labels == {
        "org.opencontainers.image.title": "syncer",
        "org.opencontainers.image.description": PROJECT["description"],
        "org.opencontainers.image.version": VERSION,
        "org.opencontainers.image.revision": _git("rev-parse", "HEAD") + dirty,
        "org.opencontainers.image.source": "https://github.com/syncer-dev/syncer",
        "org.opencontainers.image.url": "https://github.com/syncer-dev/syncer",
        "org.opencontainers.image.licenses": PROJECT["license"]["text"],
        "org.opencontainers.image.created": created,
    }
    assert config["created"] == created
    assert (config["os"], config["architecture"]) == ("linux", "amd64")
    assert config["config"]["ExposedPorts"] == {"8080/tcp": {}}
    assert "HOME=/tmp" in config["config"]["Env"]


def test_the_image_holds_the_dependency_versions_the_tests_ran_with(built: Built) -> None:
    site = next((built.root / "opt" / "syncer" / "lib").glob("python3.*/site-packages"))
    installed = dict(
        p.name.removesuffix(".dist-info").rsplit("-", 1) for p in site.glob("*.dist-info")
    )
    pins = dict(line.split("==") for line in built.constraints.read_text().split())
    normal = {_normal(name): version for name, version in pins.items()}
    assert installed.pop("syncer") == VERSION
    assert installed, "no dependencies in the image"
    for name, version in installed.items():
        assert normal[_normal(name)] == version, name
    assert "pip" not in installed  # pip ran from its wheel and stayed outside


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _dockerfile() -> dict[str, list[str]]:
    """Each Dockerfile instruction of the final stage → its arguments, continuations joined."""
    text = image_build.DOCKERFILE.read_text().replace("\\\n", " ")
    stages = re.split(r"^FROM ", text, flags=re.M)
    found: dict[str, list[str]] = {"ARG": []}
    for line in stages[0].splitlines():
        if line.startswith("ARG "):
            found["ARG"].append(line[4:].strip())
    for line in stages[-1].splitlines():
        word, _, rest = line.partition(" ")
        if word.isupper() and rest:
            found.setdefault(word, []).append(rest.strip())
    return found


def test_the_dockerfile_describes_the_same_image(built: Built) -> None:
    pinned = image_build.script()
    docker = _dockerfile()
    config = built.image.config["config"]
    args = dict(arg.split("=", 1) for arg in docker["ARG"] if "=" in arg)
    assert args["DEBIAN"] == f"debian:{pinned.SUITE}-slim"
    assert (args["KUBECTL_VERSION"], args["HELM_VERSION"]) == (
        pinned.KUBECTL_VERSION,
        pinned.HELM_VERSION,
    )
    install = next(cmd for cmd in docker["RUN"] if "apt-get install" in cmd)
    packages = re.search(r"--no-install-recommends ([a-z0-9.+\- ]+?) *&&", install)
    assert packages is not None, install
    assert sorted(packages.group(1).split()) == sorted(pinned.PACKAGES)
    status = (built.root / "var" / "lib" / "dpkg" / "status").read_text()
    for package in pinned.PACKAGES:
        assert f"Package: {package}\nStatus: install ok installed" in status, package
    assert docker["USER"] == [config["User"]]
    assert json.loads(docker["ENTRYPOINT"][0]) == config["Entrypoint"]
    assert json.loads(docker["CMD"][0]) == config["Cmd"]
    assert docker["EXPOSE"] == [next(iter(config["ExposedPorts"])).removesuffix("/tcp")]
    assert [f"HOME={v.split('=', 1)[1]}" for v in docker["ENV"] if v.startswith("HOME=")] == [
        e for e in config["Env"] if e.startswith("HOME=")
    ]
    assert f"python3 -m venv --without-pip {pinned.VENV}" in " ".join(docker["RUN"])
    assert (built.root / pinned.VENV.lstrip("/") / "bin" / "syncer").is_file()
    assert (
        os.readlink(built.root / "usr" / "local" / "bin" / "syncer") == f"{pinned.VENV}/bin/syncer"
    )
    assert "usr/local/bin/syncer" in " ".join(docker["RUN"])
    for label in config["Labels"]:
        assert label in " ".join(docker.get("LABEL", [])), label


def test_the_chart_runs_the_image_the_build_names(
    built: Built, render: Callable[..., Rendered]
) -> None:
    chart = render()
    assert (
        chart.container["image"] == built.summary["name"] == f"ghcr.io/syncer-dev/syncer:{VERSION}"
    )
    init = chart.one("Deployment")["spec"]["template"]["spec"]["initContainers"][0]
    assert init["image"] == built.summary["name"]
    port = chart.container["ports"][0]["containerPort"]
    assert f"{port}/tcp" in built.image.config["config"]["ExposedPorts"]


def test_a_second_build_of_the_same_commit_has_the_same_digest(
    built: Built, tmp_path: Path
) -> None:
    done = image_build.build("--output", str(tmp_path / "again"), constraints=built.constraints)
    assert done.returncode == 0, done.stderr
    again = json.loads(done.stdout)
    assert again["layers"] == built.summary["layers"]
    assert again["digest"] == built.summary["digest"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--kubectl", "/nonexistent/kubectl"],
            "image: error: kubectl: /nonexistent/kubectl is not an executable file "
            "(give --kubectl PATH)",
        ),
        (
            ["--helm", "/bin/true"],
            "image: error: helm: /bin/true is of no known version, the image pins v4.1.4",
        ),
    ],
)
def test_bad_build_input_is_one_line_naming_it(
    built: Built, tmp_path: Path, args: list[str], message: str
) -> None:
    done = image_build.build(
        "--output", str(tmp_path / "out"), *args, constraints=built.constraints
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1].startswith(message)
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
