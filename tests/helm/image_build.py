"""Building the controller image with helm/image/build.py, and reading it back as a runtime would.

tests/setup runs ``python -m tests.helm.image_build`` (as root) to fill the image cache (the
Debian base, kubectl/helm, the dependencies) so that tests/helm/test_image.py only builds
the syncer layer. That test calls ``build()``, pulls the pushed image with skopeo and gives
the pulled layout to ``unpack()``, which checks every digest and applies the layers in
order (OCI whiteouts included); ``run_in()`` then runs a command in the unpacked root
filesystem the way the image config says: as its user, with its environment.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.binaries import REPO_ROOT
from tests.kubecluster import build as kube_build

SCRIPT = REPO_ROOT / "helm" / "image" / "build.py"
DOCKERFILE = REPO_ROOT / "helm" / "image" / "Dockerfile"


def cache_dir() -> Path:
    """Beside the control plane's binaries, outside the checkout."""
    return kube_build.cache_dir() / "image"


def script() -> ModuleType:
    """helm/image/build.py as a module, for its constants (what the image is meant to hold)."""
    spec = importlib.util.spec_from_file_location("syncer_image_build", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


def write_constraints(path: Path) -> Path:
    """Pins of the environment the tests run in, so the image holds the versions tested."""
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # Lines like `name @ file:///...` are installs from a path: not a pin pip can download.
    pins = [line for line in frozen.splitlines() if "==" in line and " @ " not in line]
    path.write_text("\n".join(pins) + "\n")
    return path


def build(*args: str, constraints: Path, timeout: float = 840) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--cache",
            str(cache_dir()),
            "--constraints",
            str(constraints),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class Image:
    """An image read from an OCI layout, every digest checked."""

    manifest_digest: str
    manifest: dict[str, Any]
    config: dict[str, Any]


def _blob(layout: Path, digest: str) -> Path:
    algorithm, _, hexdigest = digest.partition(":")
    assert algorithm == "sha256", digest
    return layout / "blobs" / "sha256" / hexdigest


def _verified(layout: Path, digest: str) -> bytes:
    data = _blob(layout, digest).read_bytes()
    assert "sha256:" + hashlib.sha256(data).hexdigest() == digest, f"blob {digest} is corrupt"
    return data


def read_layout(layout: Path, tag: str) -> Image:
    index = json.loads((layout / "index.json").read_text())
    found = [
        m
        for m in index["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag
    ]
    assert len(found) == 1, f"{layout} has no single image tagged {tag}: {index}"
    manifest = json.loads(_verified(layout, found[0]["digest"]))
    config = json.loads(_verified(layout, manifest["config"]["digest"]))
    return Image(manifest_digest=found[0]["digest"], manifest=manifest, config=config)


class _Reading:
    """A file being read, hashed on the way."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.sha = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data: bytes = self.source.read(size)
        self.sha.update(data)
        return data


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def unpack(layout: Path, image: Image, root: Path) -> None:
    """Apply the image's layers in order under ``root``, as a container runtime does."""
    diff_ids = image.config["rootfs"]["diff_ids"]
    assert len(diff_ids) == len(image.manifest["layers"])
    root.mkdir()
    for layer, diff_id in zip(image.manifest["layers"], diff_ids, strict=True):
        with open(_blob(layout, layer["digest"]), "rb") as raw:
            compressed = _Reading(raw)
            tar_stream = _Reading(gzip.GzipFile(fileobj=compressed, mode="rb"))
            with tarfile.open(fileobj=tar_stream, mode="r|") as tar:  # type: ignore[call-overload]
                for member in tar:
                    _apply(tar, member, root=root)
            while tar_stream.read(1 << 20):  # the tar's zero padding counts in its diff_id
                pass
        assert "sha256:" + compressed.sha.hexdigest() == layer["digest"]
        assert "sha256:" + tar_stream.sha.hexdigest() == diff_id, f"diff_id of {layer}"


def _apply(tar: tarfile.TarFile, member: tarfile.TarInfo, *, root: Path) -> None:
    parts = Path(member.name).parts
    assert not member.name.startswith("/") and ".." not in parts, member.name
    parent, name = root.joinpath(*parts[:-1]), parts[-1]
    if name == ".wh..wh..opq":  # a directory recreated: drop what the layers below had
        for child in parent.iterdir():
            _remove(child)
    elif name.startswith(".wh."):
        _remove(parent / name.removeprefix(".wh."))
    else:
        target = root / member.name
        if not member.isdir() and (target.exists() or target.is_symlink()):
            _remove(target)  # a later layer replaces the file
        tar.extract(member, root, numeric_owner=True, filter="fully_trusted")


def run_in(
    root: Path, image: Image, *command: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``command`` in the unpacked image as its config says: its user, only its environment,
    with /dev and a fresh /proc like a runtime gives, in a mount namespace of its own."""
    config = image.config["config"]
    script = (
        'root=$0 user=$1; shift; mount --rbind /dev "$root/dev" && '
        'exec chroot --userspec="$user" "$root" /usr/bin/env -i "$@"'
    )
    return subprocess.run(
        [
            "unshare",
            "--mount",
            "--pid",
            "--fork",
            f"--mount-proc={root}/proc",
            "sh",
            "-c",
            script,
            str(root),
            config["User"],
            *config["Env"],
            *command,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def main() -> int:
    """Fill the cache: everything but the syncer layer (tests/setup, as root)."""
    if os.geteuid() != 0:
        print("image: not root: the image cache is filled by the first test run as root")
        return 0
    work = cache_dir()
    work.mkdir(parents=True, exist_ok=True)
    print(f"image: filling the image cache in {work} (a cold Debian base takes minutes)")
    done = build("--prepare", constraints=write_constraints(work / "constraints.txt"))
    sys.stderr.write(done.stderr)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
