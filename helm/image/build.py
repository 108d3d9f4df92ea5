#!/usr/bin/env python3
"""Builds the controller image that the chart in helm/syncer runs, without a container engine.

Called by a release pipeline (and by tests/helm/test_image.py) from a checkout; writes an
OCI image layout and, with ``--push``, copies it to a registry with ``skopeo``. Needs root
(``mmdebstrap``, ``chroot`` and overlay mounts), Python 3.11+ with pip, and the Debian
mirror, PyPI and the registry on the network. Four layers, bottom to top:

1. **base**: a Debian ``minbase`` root filesystem made by ``mmdebstrap`` with PACKAGES and
   the user ``syncer`` (UID/GID 65532). Slow to make, so it is cached outside the checkout
   under a key of everything that goes into it (suite, mirrors, packages, epoch).
2. **tools**: ``kubectl`` and ``helm`` (kustomize and chart rendering) at the versions the
   Dockerfile pins, cached under their checksums.
3. **dependencies**: a virtualenv in /opt/syncer with syncer's dependencies, installed by the
   image's own Python in a chroot from the wheels ``pip download`` fetched for it; cached
   under the base and the checksums of those wheels.
4. **syncer**: the wheel built from the checkout, installed into that virtualenv; built
   fresh every time.

Layers are sorted tar streams with numeric owners and times clamped to an epoch
(SOURCE_DATE_EPOCH, default the commit time of HEAD; a fixed one for the base), gzip'd
without a timestamp, so the same inputs give the same digests. helm/image/Dockerfile
describes the same image for those who have docker; tests/helm/test_image.py checks that
the two agree.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import fcntl
import gzip
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = "ghcr.io/syncer-dev/syncer"
SOURCE_URL = "https://github.com/syncer-dev/syncer"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"
# Besides Python, syncer runs git and ssh (Git sources); CA certificates are for HTTPS.
PACKAGES = ("python3", "git", "openssh-client", "ca-certificates")
# Manuals and translations are dead weight in a controller image; licences stay.
DPKG_OPTIONS = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
)
# The base follows the mirror, not syncer's commits: a fixed clamp time means a new commit
# does not make a new base.
BASE_EPOCH = 1735689600  # 2025-01-01T00:00:00Z
BASE_RECIPE = 1  # bump when the making of the base changes in a way its key does not show
KUBECTL_VERSION = "v1.35.2"
HELM_VERSION = "v4.1.4"
UID = GID = 65532
USER = "syncer"
HOME = "/home/syncer"
VENV = "/opt/syncer"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PORT = 8080
# A runtime mounts these; the layer keeps the directories, not what was in them at build.
RUNTIME_DIRS = ("dev", "proc", "sys", "run", "tmp")

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
OCI_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


class BuildError(Exception):
    """A step failed for a reason the user can act on; the message says which and what to do."""


def log(message: str) -> None:
    print(f"image: {message}", file=sys.stderr, flush=True)


def run(args: Sequence[str], *, what: str, env: dict[str, str] | None = None) -> str:
    """Run a command; a failure becomes a BuildError naming ``what`` and the command's own
    last line of complaint."""
    try:
        done = subprocess.run(list(args), capture_output=True, text=True, env=env, check=False)
    except FileNotFoundError as e:
        raise BuildError(f"{what}: {args[0]} is not installed") from e
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        tail = lines[-1].strip() if lines else "no output"
        raise BuildError(f"{what} failed ({Path(args[0]).name} exit {done.returncode}): {tail}")
    return done.stdout


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def key_of(inputs: Any) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- layers -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Layer:
    """One gzip'd tar layer on disk."""

    path: Path
    digest: str
    """sha256 of the compressed blob (what the manifest names)."""
    diff_id: str
    """sha256 of the uncompressed tar (what the image config names)."""
    size: int
    created_by: str

    def save(self, meta: Path) -> None:
        fields = dataclasses.asdict(self)
        fields["path"] = self.path.name
        meta.write_text(json.dumps(fields, indent=1) + "\n")

    @classmethod
    def load(cls, meta: Path) -> Layer | None:
        """The layer recorded in ``meta``, or None when it or its blob is missing."""
        try:
            fields = json.loads(meta.read_text())
        except (OSError, ValueError):
            return None
        fields["path"] = meta.parent / fields["path"]
        return cls(**fields) if fields["path"].is_file() else None


class _Hashing:
    """A write-only file that hashes what passes through it to ``sink``."""

    def __init__(self, sink: gzip.GzipFile) -> None:
        self.sink = sink
        self.sha = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        return self.sink.write(data)


def _entries(folder: Path, prefix: str, *, empty: frozenset[str]) -> Iterator[tuple[Path, str]]:
    """(path, name in the layer) under ``folder``, depth first in name order."""
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        name = prefix + entry.name
        yield Path(entry.path), name
        if entry.is_dir(follow_symlinks=False) and name not in empty:
            yield from _entries(Path(entry.path), name + "/", empty=empty)


def _info(name: str, st: os.stat_result, *, epoch: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""
    info.mtime = min(int(st.st_mtime), epoch)
    return info


def _add(tar: tarfile.TarFile, *, path: Path, name: str, epoch: int, seen: dict[Any, str]) -> None:
    st = os.lstat(path)
    info = _info(name, st, epoch=epoch)
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
        # An overlayfs whiteout: the file was deleted in this layer.
        parent, _, base = name.rpartition("/")
        marker = tarfile.TarInfo(f"{parent}/.wh.{base}" if parent else f".wh.{base}")
        marker.mtime = info.mtime
        tar.addfile(marker)
    elif stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        with contextlib.suppress(OSError):
            if os.getxattr(path, "trusted.overlay.opaque") == b"y":
                # Recreated after a deletion: hide everything the layers below had here.
                marker = tarfile.TarInfo(f"{name}/.wh..wh..opq")
                marker.mtime = info.mtime
                tar.addfile(marker)
    elif stat.S_ISLNK(st.st_mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(path)
        tar.addfile(info)
    elif stat.S_ISREG(st.st_mode):
        inode = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and inode in seen:
            info.type = tarfile.LNKTYPE
            info.linkname = seen[inode]
            tar.addfile(info)
            return
        seen[inode] = name
        info.size = st.st_size
        with open(path, "rb") as f:
            tar.addfile(info, f)
    # Devices, fifos and sockets have no place in an image: the runtime provides /dev.


def write_layer(
    *, root: Path, out: Path, epoch: int, created_by: str, empty: Sequence[str] = RUNTIME_DIRS
) -> Layer:
    """Tar ``root`` (a tree, or an overlay upper directory) into a gzip'd OCI layer.

    Names sorted, owners numeric and nameless, times clamped to ``epoch``, hard links kept,
    overlayfs whiteouts turned into OCI ones; directories named in ``empty`` are kept
    without their contents.
    """
    seen: dict[Any, str] = {}
    with (
        open(out, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz,
    ):
        hashing = _Hashing(gz)
        # PAX for long names (site-packages has many) without GNU extensions.
        with tarfile.open(fileobj=hashing, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            for path, name in _entries(root, "", empty=frozenset(empty)):
                _add(tar, path=path, name=name, epoch=epoch, seen=seen)
    return Layer(
        path=out,
        digest="sha256:" + sha256_file(out),
        diff_id="sha256:" + hashing.sha.hexdigest(),
        size=out.stat().st_size,
        created_by=created_by,
    )


@contextlib.contextmanager
def overlay(*, lowers: Sequence[Path], upper: Path, work: Path) -> Iterator[Path]:
    """A writable view of ``lowers`` (first on top) whose changes land in ``upper``."""
    merged = work.with_name(work.name + "-merged")
    for folder in (upper, work, merged):
        folder.mkdir(parents=True, exist_ok=True)
    lowerdir = ":".join(str(p) for p in lowers)
    run(
        ["mount", "-t", "overlay", "overlay", "-o",
         f"lowerdir={lowerdir},upperdir={upper},workdir={work}", str(merged)],
        what="mounting an overlay over the base",
    )  # fmt: skip
    try:
        yield merged
    finally:
        run(["umount", str(merged)], what=f"unmounting {merged}")
        merged.rmdir()
        shutil.rmtree(work)


def chroot(root: Path, *args: str, what: str, epoch: int) -> str:
    """Run a command of the image inside it, with a clean environment."""
    env = {
        "PATH": PATH,
        "HOME": "/root",
        "LC_ALL": "C.UTF-8",
        # Hash-based .pyc files (py_compile reads it), the same on every build.
        "SOURCE_DATE_EPOCH": str(epoch),
        "PIP_NO_CACHE_DIR": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
    }
    return run(["chroot", str(root), *args], what=what, env=env)


# --- base ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Base:
    rootfs: Path
    layer: Layer
    python: str
    """The image's Python, "3.11"."""
    glibc: str
    machine: str


def _sources(*, suite: str, mirror: str, security_mirror: str) -> list[str]:
    return [
        f"deb {mirror} {suite} main",
        f"deb {mirror} {suite}-updates main",
        f"deb {security_mirror} {suite}-security main",
    ]


def _add_user(rootfs: Path) -> None:
    """The non-root user the chart runs as; written directly (useradd stamps today's date)."""
    etc = rootfs / "etc"
    lines = {
        "passwd": f"{USER}:x:{UID}:{GID}:syncer:{HOME}:/usr/sbin/nologin",
        "group": f"{USER}:x:{GID}:",
        "shadow": f"{USER}:!:::::::",
        "gshadow": f"{USER}:!::",
    }
    for name, line in lines.items():
        with open(etc / name, "a") as f:
            f.write(line + "\n")
    home = rootfs / HOME.lstrip("/")
    home.mkdir(mode=0o750, parents=True)
    os.chown(home, UID, GID)


def ensure_base(
    *, cache: Path, suite: str, mirror: str, security_mirror: str, refresh: bool
) -> Base:
    inputs = {
        "recipe": BASE_RECIPE,
        "sources": _sources(suite=suite, mirror=mirror, security_mirror=security_mirror),
        "packages": sorted(PACKAGES),
        "dpkg": list(DPKG_OPTIONS),
        "epoch": BASE_EPOCH,
        "user": [USER, UID, GID, HOME],
        "host": os.uname().machine,
    }
    folder = cache / f"base-{key_of(inputs)}"
    if refresh and folder.exists():
        shutil.rmtree(folder)
    layer = Layer.load(folder / "layer.json")
    if layer is None:
        layer = _make_base(folder=folder, suite=suite, sources=inputs["sources"])  # type: ignore[arg-type]
    else:
        log(f"base {folder.name} cached")
    facts = json.loads((folder / "facts.json").read_text())
    return Base(rootfs=folder / "rootfs", layer=layer, **facts)


def _make_base(*, folder: Path, suite: str, sources: list[str]) -> Layer:
    log(f"making base {folder.name} with mmdebstrap ({suite}, minbase; once, about 2 min)")
    if shutil.which("mmdebstrap") is None:
        raise BuildError(
            "mmdebstrap is not installed: apt-get install mmdebstrap (tests/setup does)"
        )
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rootfs = folder / "rootfs"
    logfile = folder / "mmdebstrap.log"
    args = [
        "mmdebstrap",
        "--mode=root",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        *(f"--dpkgopt={option}" for option in DPKG_OPTIONS),
        suite,
        str(rootfs),
        *sources,
    ]
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(BASE_EPOCH)}
    with open(logfile, "w") as out:
        done = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    if done.returncode != 0:
        tail = [line for line in logfile.read_text().splitlines() if line.strip()][-1:]
        raise BuildError(
            f"mmdebstrap exit {done.returncode}: {tail[0] if tail else 'no output'} "
            f"(whole log: {logfile})"
        )
    _add_user(rootfs)
    facts = json.loads(
        chroot(
            rootfs,
            "python3",
            "-c",
            "import json, platform, sys; print(json.dumps({"
            "'python': '%d.%d' % sys.version_info[:2], "
            "'glibc': platform.libc_ver()[1], 'machine': platform.machine()}))",
            what="asking the base's Python its version",
            epoch=BASE_EPOCH,
        )
    )
    (folder / "facts.json").write_text(json.dumps(facts) + "\n")
    packages = chroot(
        rootfs,
        "dpkg-query",
        "-W",
        "-f=${Package} ${Version}\\n",
        what="listing the base's packages",
        epoch=BASE_EPOCH,
    )
    (folder / "packages.txt").write_text(packages)
    created_by = f"mmdebstrap --variant=minbase {suite} + {' '.join(PACKAGES)}; user {USER}"
    layer = write_layer(
        root=rootfs, out=folder / "layer.tar.gz", epoch=BASE_EPOCH, created_by=created_by
    )
    layer.save(folder / "layer.json")
    return layer


# --- tools --------------------------------------------------------------------------------


def _tool_version(path: Path, name: str) -> str:
    if name == "kubectl":
        out = run([str(path), "version", "--client", "-o", "json"], what=f"{path} version")
        return str(json.loads(out)["clientVersion"]["gitVersion"])
    return run([str(path), "version", "--template", "{{.Version}}"], what=f"{path} version")


def ensure_tools(*, cache: Path, kubectl: Path, helm: Path, epoch: int) -> Layer:
    """kubectl and helm in /usr/local/bin, refused unless they are the pinned versions."""
    tools = {"kubectl": (kubectl, KUBECTL_VERSION), "helm": (helm, HELM_VERSION)}
    for name, (path, wanted) in tools.items():
        if not os.access(path, os.X_OK):
            raise BuildError(f"{name}: {path} is not an executable file (give --{name} PATH)")
        found = _tool_version(path, name)
        if found != wanted:
            raise BuildError(
                f"{name}: {path} is {found or 'of no known version'}, the image pins {wanted} "
                f"(give --{name} PATH of {wanted}, or change {name.upper()}_VERSION here "
                "and in the Dockerfile)"
            )
    inputs = {name: sha256_file(path) for name, (path, _) in tools.items()}
    folder = cache / f"tools-{key_of([inputs, epoch])}"
    layer = Layer.load(folder / "layer.json")
    if layer is not None:
        log(f"tools {folder.name} cached")
        return layer
    shutil.rmtree(folder, ignore_errors=True)
    stage = folder / "stage"
    bindir = stage / "usr" / "local" / "bin"
    bindir.mkdir(parents=True)
    for folder_ in (stage / "usr", stage / "usr" / "local", bindir):
        folder_.chmod(0o755)
    for name, (path, _) in tools.items():
        shutil.copyfile(path, bindir / name)
        (bindir / name).chmod(0o755)
    layer = write_layer(
        root=stage,
        out=folder / "layer.tar.gz",
        epoch=epoch,
        created_by=f"kubectl {KUBECTL_VERSION}, helm {HELM_VERSION} in /usr/local/bin",
    )
    shutil.rmtree(stage)
    layer.save(folder / "layer.json")
    return layer


# --- Python: dependencies and syncer -------------------------------------------------------


def _platforms(*, glibc: str, machine: str) -> list[str]:
    """Wheel platform tags the image's glibc accepts, newest first (pip does not expand a
    perennial manylinux tag by itself)."""
    major, minor = (int(part) for part in glibc.split(".")[:2])
    tags = [f"manylinux_{major}_{m}_{machine}" for m in range(minor, 4, -1)]
    return [*tags, f"manylinux2014_{machine}", f"manylinux2010_{machine}", f"manylinux1_{machine}"]


@dataclasses.dataclass(frozen=True)
class Wheels:
    pip: Path
    dependencies: list[Path]


def build_syncer_wheel(*, work: Path, epoch: int) -> Path:
    """The syncer wheel, built from a copy of what the Dockerfile copies: that keeps build/
    and *.egg-info out of the checkout and stray files out of the wheel."""
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for name in ("syncer", "registry"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    built = work / "syncer-wheel"
    run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(built), str(source)],
        what="building the syncer wheel",
        # The wheel's zip entries carry this time, so its checksum (recorded by pip in the
        # image) is the same on every build of one commit.
        env={**os.environ, "SOURCE_DATE_EPOCH": str(epoch)},
    )
    shutil.rmtree(source)
    (wheel,) = built.glob("syncer-*.whl")
    return wheel


def fetch_wheels(*, cache: Path, base: Base, constraints: Path | None) -> Wheels:
    """Wheels of syncer's dependencies (and pip) for the image's Python.

    With pinning ``constraints`` the downloaded set is kept in the cache under the
    requirements, the constraints and the target; without, every build resolves the newest
    versions again.
    """
    requirements = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    platforms = [*_platforms(glibc=base.glibc, machine=base.machine), "any"]
    pins = constraints.read_text() if constraints is not None else None
    folder = cache / f"wheels-{key_of([requirements, pins, base.python, platforms])}"
    if pins is None or not (folder / "complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        abi = "cp" + base.python.replace(".", "")
        args = [
            sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
            "-d", str(folder), "--python-version", base.python, "--implementation", "cp",
            "--abi", abi, "--abi", "abi3", "--abi", "none",
            *(f"--platform={tag}" for tag in platforms), *requirements, "pip",
        ]  # fmt: skip
        if constraints is not None:
            args += ["--constraint", str(constraints)]
        log(f"downloading syncer's dependencies for Python {base.python} ({folder.name})")
        run(args, what=f"downloading syncer's dependencies for Python {base.python}")
        (folder / "complete").touch()
    else:
        log(f"dependency wheels {folder.name} cached")
    found = sorted(folder.glob("*.whl"))
    (pip,) = [p for p in found if p.name.startswith("pip-")]
    return Wheels(pip=pip, dependencies=[p for p in found if p != pip])


def _pip_install(root: Path, wheels: Sequence[Path], *, pip: Path, epoch: int, what: str) -> None:
    """Install wheels into the virtualenv with the image's own Python, offline, no resolving."""
    inbox = root / "tmp" / "wheels"
    inbox.mkdir(parents=True)
    for wheel in (pip, *wheels):
        shutil.copyfile(wheel, inbox / wheel.name)
    chroot(
        root,
        f"{VENV}/bin/python",
        f"/tmp/wheels/{pip.name}/pip",  # pip runs from its wheel: none left in the image
        "install", "-q", "--no-index", "--no-deps",
        *(f"/tmp/wheels/{wheel.name}" for wheel in wheels),
        what=what,
        epoch=epoch,
    )  # fmt: skip
    shutil.rmtree(inbox)


def ensure_dependencies(
    *, cache: Path, base: Base, wheels: Wheels, epoch: int
) -> tuple[Path, Layer]:
    """The virtualenv with every dependency: (its overlay upper directory, its layer)."""
    inputs = {
        "base": base.layer.diff_id,
        "wheels": {p.name: sha256_file(p) for p in (wheels.pip, *wheels.dependencies)},
        "venv": VENV,
        "epoch": epoch,
    }
    folder = cache / f"deps-{key_of(inputs)}"
    layer = Layer.load(folder / "layer.json")
    if layer is not None:
        log(f"dependencies {folder.name} cached")
        return folder / "upper", layer
    log(f"installing {len(wheels.dependencies)} dependencies into {VENV} ({folder.name})")
    shutil.rmtree(folder, ignore_errors=True)
    upper = folder / "upper"
    with overlay(lowers=[base.rootfs], upper=upper, work=folder / "work") as root:
        chroot(
            root,
            "python3",
            "-m",
            "venv",
            "--without-pip",
            VENV,
            what="making the virtualenv",
            epoch=epoch,
        )
        _pip_install(
            root,
            wheels.dependencies,
            pip=wheels.pip,
            epoch=epoch,
            what="installing the dependencies",
        )
    names = ", ".join(sorted(p.name.split("-")[0] for p in wheels.dependencies))
    layer = write_layer(
        root=upper, out=folder / "layer.tar.gz", epoch=epoch, created_by=f"{VENV}: {names}"
    )
    layer.save(folder / "layer.json")
    return upper, layer


def make_syncer_layer(
    *, work: Path, base: Base, deps: Path, wheel: Path, pip: Path, epoch: int
) -> Layer:
    upper = work / "syncer-upper"
    with overlay(lowers=[deps, base.rootfs], upper=upper, work=work / "syncer-work") as root:
        _pip_install(root, [wheel], pip=pip, epoch=epoch, what="installing syncer")
        # On the default PATH too, for `kubectl exec ... syncer status`.
        (root / "usr" / "local" / "bin" / "syncer").symlink_to(f"{VENV}/bin/syncer")
    return write_layer(root=upper, out=work / "syncer.tar.gz", epoch=epoch, created_by=wheel.name)


# --- image --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Project:
    version: str
    description: str
    license: str
    revision: str
    epoch: int


def project() -> Project:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    git = ["git", "-C", str(ROOT)]
    revision = run([*git, "rev-parse", "HEAD"], what="reading the commit").strip()
    if run([*git, "status", "--porcelain", "--untracked-files=no"], what="git status").strip():
        revision += "-dirty"  # the image holds changes no commit has
    epoch_text = os.environ.get("SOURCE_DATE_EPOCH") or run(
        [*git, "log", "-1", "--format=%ct"], what="reading the commit time"
    )
    try:
        epoch = int(epoch_text.strip())
    except ValueError:
        raise BuildError(f"SOURCE_DATE_EPOCH={epoch_text!r} is not a number of seconds") from None
    return Project(
        version=meta["version"],
        description=meta["description"],
        license=meta["license"]["text"],
        revision=revision,
        epoch=epoch,
    )


def labels(proj: Project) -> dict[str, str]:
    return {
        "org.opencontainers.image.title": "syncer",
        "org.opencontainers.image.description": proj.description,
        "org.opencontainers.image.version": proj.version,
        "org.opencontainers.image.revision": proj.revision,
        "org.opencontainers.image.source": SOURCE_URL,
        "org.opencontainers.image.url": SOURCE_URL,
        "org.opencontainers.image.licenses": proj.license,
        "org.opencontainers.image.created": iso(proj.epoch),
    }


def _blob(layout: Path, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def write_layout(
    *, layout: Path, tag: str, layers: Sequence[Layer], base: Base, proj: Project
) -> str:
    """An OCI image layout holding the image under ``tag``; returns the manifest digest."""
    if layout.exists():
        if any(layout.iterdir()) and not (layout / "oci-layout").exists():
            raise BuildError(f"--output {layout} exists and is not an OCI layout: name another")
        shutil.rmtree(layout)
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    for layer in layers:
        target = layout / "blobs" / "sha256" / layer.digest.removeprefix("sha256:")
        try:
            os.link(layer.path, target)
        except OSError:  # another filesystem than the cache
            shutil.copyfile(layer.path, target)
    arch = OCI_ARCH.get(base.machine, base.machine)
    config = {
        "created": iso(proj.epoch),
        "architecture": arch,
        "os": "linux",
        "config": {
            "User": f"{UID}:{GID}",
            "Env": [f"PATH={PATH}", "HOME=/tmp"],
            "Entrypoint": ["syncer"],
            "Cmd": ["--help"],
            "WorkingDir": "/",
            "ExposedPorts": {f"{PORT}/tcp": {}},
            "Labels": labels(proj),
        },
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [
            {"created": iso(proj.epoch), "created_by": layer.created_by} for layer in layers
        ],
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, **_blob(layout, _canonical(config))},
        "layers": [
            {"mediaType": LAYER_MEDIA_TYPE, "digest": layer.digest, "size": layer.size}
            for layer in layers
        ],
        "annotations": {
            "org.opencontainers.image.created": iso(proj.epoch),
            "org.opencontainers.image.revision": proj.revision,
            "org.opencontainers.image.source": SOURCE_URL,
            "org.opencontainers.image.version": proj.version,
        },
    }
    described = _blob(layout, _canonical(manifest))
    index = {
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": [
            {
                "mediaType": MANIFEST_MEDIA_TYPE,
                **described,
                "platform": {"architecture": arch, "os": "linux"},
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (layout / "index.json").write_bytes(_canonical(index))
    return str(described["digest"])


def push(*, layout: Path, tag: str, reference: str, digest: str, tls_verify: bool) -> None:
    """Copy the image to a registry with skopeo, which must keep it byte for byte.

    Credentials come from skopeo's auth files (``skopeo login``, REGISTRY_AUTH_FILE,
    ~/.docker/config.json), never from this command line.
    """
    reference = reference.removeprefix("docker://")
    with tempfile.TemporaryDirectory() as scratch:
        digestfile = Path(scratch) / "digest"
        run(
            [
                "skopeo", "copy", "--retry-times=2", f"--dest-tls-verify={str(tls_verify).lower()}",
                f"--digestfile={digestfile}", f"oci:{layout}:{tag}", f"docker://{reference}",
            ],
            what=f"pushing to {reference}",
        )  # fmt: skip
        pushed = digestfile.read_text().strip()
    if pushed != digest:
        raise BuildError(f"{reference} got {pushed}, not the built {digest}: skopeo rewrote it")


# --- command line -------------------------------------------------------------------------


def _default_tool(name: str) -> Path:
    cached = ROOT / ".cache" / "bin" / name
    if cached.is_file():
        return cached
    found = shutil.which(name)
    return Path(found) if found else cached


def _default_cache() -> Path:
    explicit = os.environ.get("SYNCER_IMAGE_CACHE")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "syncer-image"


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="helm/image/build.py",
        description="Build the syncer controller image as an OCI layout; optionally push it.",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=ROOT / "build" / "image",
        help="OCI layout directory (default build/image)",
    )
    parser.add_argument("--tag", help="tag in the layout (default: the version in pyproject.toml)")
    parser.add_argument(
        "--push",
        action="append",
        default=[],
        metavar="REF",
        help="also copy it to this registry reference (repeatable), e.g. "
        "registry.example.com/platform/syncer:0.1.0",
    )
    parser.add_argument(
        "--insecure-registry",
        action="store_true",
        help="push over plain HTTP / without TLS verification",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=_default_cache(),
        help="where the base, tools and dependency layers are kept "
        "(default $SYNCER_IMAGE_CACHE, else ~/.cache/syncer-image)",
    )
    parser.add_argument(
        "--constraints",
        type=Path,
        help="pip constraints file pinning the dependencies "
        "(e.g. `pip freeze` of the environment the tests ran in)",
    )
    parser.add_argument(
        "--kubectl",
        type=Path,
        default=_default_tool("kubectl"),
        help=f"kubectl {KUBECTL_VERSION} binary",
    )
    parser.add_argument(
        "--helm", type=Path, default=_default_tool("helm"), help=f"helm {HELM_VERSION} binary"
    )
    parser.add_argument("--suite", default=SUITE, help=f"Debian suite (default {SUITE})")
    parser.add_argument(
        "--mirror",
        default=MIRROR,
        help=f"Debian mirror (default {MIRROR}; a snapshot.debian.org URL pins the packages)",
    )
    parser.add_argument("--security-mirror", default=SECURITY_MIRROR)
    parser.add_argument(
        "--refresh-base",
        action="store_true",
        help="make the base again (new security updates) even when cached",
    )
    parser.add_argument(
        "--prepare", action="store_true", help="only fill the cache (base, tools, dependencies)"
    )
    return parser.parse_args(argv)  # fmt: skip


def build(args: argparse.Namespace) -> dict[str, Any]:
    if os.geteuid() != 0:
        raise BuildError("needs root (mmdebstrap, chroot, overlay mounts): run it with sudo")
    if args.constraints is not None and not args.constraints.is_file():
        raise BuildError(f"--constraints {args.constraints}: no such file")
    proj = project()
    tag = args.tag or proj.version
    seconds: dict[str, float] = {}
    clock = time.monotonic()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.monotonic()
        seconds[name] = round(now - clock, 1)
        clock = now

    args.cache.mkdir(parents=True, exist_ok=True)
    # One build at a time fills the cache; the others wait, then find it filled.
    lock = open(args.cache / "lock", "w")  # noqa: SIM115 - held until the process ends
    fcntl.flock(lock, fcntl.LOCK_EX)
    base = ensure_base(
        cache=args.cache,
        suite=args.suite,
        mirror=args.mirror,
        security_mirror=args.security_mirror,
        refresh=args.refresh_base,
    )
    lap("base")
    tools = ensure_tools(cache=args.cache, kubectl=args.kubectl, helm=args.helm, epoch=BASE_EPOCH)
    lap("tools")
    wheels = fetch_wheels(cache=args.cache, base=base, constraints=args.constraints)
    lap("wheels")
    deps_upper, deps = ensure_dependencies(
        cache=args.cache, base=base, wheels=wheels, epoch=BASE_EPOCH
    )
    lap("dependencies")
    fcntl.flock(lock, fcntl.LOCK_UN)
    if args.prepare:
        return {"cache": str(args.cache), "seconds": seconds}
    with tempfile.TemporaryDirectory(dir=args.cache, prefix="build-") as scratch:
        work = Path(scratch)
        wheel = build_syncer_wheel(work=work, epoch=proj.epoch)
        lap("wheel")
        syncer = make_syncer_layer(
            work=work, base=base, deps=deps_upper, wheel=wheel, pip=wheels.pip, epoch=proj.epoch
        )
        lap("syncer")
        layers = [base.layer, tools, deps, syncer]
        digest = write_layout(layout=args.output, tag=tag, layers=layers, base=base, proj=proj)
    lap("layout")
    pushed = []
    for reference in args.push:
        push(
            layout=args.output,
            tag=tag,
            reference=reference,
            digest=digest,
            tls_verify=not args.insecure_registry,
        )
        pushed.append(f"{reference.removeprefix('docker://')}@{digest}")
        log(f"pushed {pushed[-1]}")
    if args.push:
        lap("push")
    return {
        "name": f"{REPOSITORY}:{tag}",
        "layout": str(args.output),
        "tag": tag,
        "digest": digest,
        "layers": [
            {"created_by": layer.created_by, "digest": layer.digest, "size": layer.size}
            for layer in layers
        ],
        "size": sum(layer.size for layer in layers),
        "pushed": pushed,
        "seconds": seconds,
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        summary = build(args)
    except BuildError as e:
        print(f"image: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
