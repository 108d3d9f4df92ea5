"""Container images in rendered objects: find them, and pin the governed ones.

``syncer.render.render`` calls ``rewrite`` after the objects are final. Images are found
in pod templates of the built-in workload kinds (containers, initContainers and
ephemeralContainers) and at the app's ``imageFields`` paths in custom resources. An image
whose repository (compared after docker normalisation: ``nginx`` is
``docker.io/library/nginx``) has a decision gets its tag and digest (``repo:tag@sha256:...``);
every rewrite is returned as an ``ImageChange``. ``syncer.apply.gateway`` walks the same
containers with ``pod_containers`` to check them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from registry import errors as registry_errors
from registry import reference
from syncer.config import model
from syncer.render import objects as objects_mod

WORKLOAD_GROUPS = frozenset({"", "apps", "batch", "extensions"})
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
"""Where the pod spec sits in each built-in kind that runs containers."""
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


class ImageChoice(Protocol):
    """What a policy chose (``registry.Decision`` and ``syncer.release.Image`` both fit)."""

    @property
    def repository(self) -> str: ...
    @property
    def tag(self) -> str: ...
    @property
    def digest(self) -> str: ...
    @property
    def ref(self) -> str: ...
    @property
    def policy(self) -> str: ...
    @property
    def reason(self) -> str: ...


@dataclass(frozen=True)
class ImageChange:
    """One image rewritten in one object: what, where, from, to, and why."""

    object: str
    """``Deployment/web/api`` (kind/namespace/name)."""
    container: str
    """The container's name; empty for an ``imageFields`` path."""
    field: str
    """Path of the field, e.g. ``spec.template.spec.containers[0].image``."""
    old: str
    new: str
    policy: str
    reason: str
    origin: str = ""
    """The file (and document) the object came from."""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Found:
    """An image string in an object, and how to write it back."""

    holder: Any
    """The dict (or list) holding the image string."""
    key: Any
    """Its key (or index) there."""
    field: str
    container: str

    @property
    def image(self) -> str:
        return str(self.holder[self.key])


def find(
    obj: dict[str, Any], *, image_fields: Sequence[model.ImageFieldPath] = ()
) -> Iterator[Found]:
    """Every image string in ``obj``: pod-template containers and configured paths."""
    kind = obj.get("kind", "")
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    if group in WORKLOAD_GROUPS:
        for list_path, index, container in pod_containers(obj):
            if isinstance(container.get("image"), str):
                yield Found(
                    holder=container, key="image",
                    field=f"{list_path}[{index}].image",
                    container=str(container.get("name", "")),
                )  # fmt: skip
    for field_path in image_fields:
        if field_path.kind == kind:
            yield from _at_path(obj, steps=_parse_path(field_path.path), done="")


def pod_containers(obj: dict[str, Any]) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """The containers in the pod spec of a built-in kind that runs them, with where each
    sits: (``spec.template.spec.containers``, index, container). Other kinds: none."""
    path = POD_SPEC_PATHS.get(str(obj.get("kind", "")))
    if path is None:
        return
    spec: Any = obj
    for step in path:
        spec = spec.get(step) if isinstance(spec, dict) else None
    if not isinstance(spec, dict):
        return
    for list_name in CONTAINER_LISTS:
        containers = spec.get(list_name)
        if not isinstance(containers, list):
            continue
        for index, container in enumerate(containers):
            if isinstance(container, dict):
                yield f"{'.'.join(path)}.{list_name}", index, container


def rewrite(
    *,
    items: Sequence[objects_mod.Item],
    choices: Sequence[ImageChoice],
    image_fields: Sequence[model.ImageFieldPath] = (),
) -> list[ImageChange]:
    """Pin every governed image to its choice, in place; return what changed."""
    by_repo = {_repository(c.repository) or c.repository: c for c in choices}
    changes: list[ImageChange] = []
    if not by_repo:
        return changes
    for item in items:
        for found in find(item.obj, image_fields=image_fields):
            old = found.image
            choice = by_repo.get(_repository(old) or "")
            if choice is None:
                continue
            new = pinned(old, choice=choice)
            if new == old:
                continue
            found.holder[found.key] = new
            changes.append(
                ImageChange(
                    object=f"{item.obj['kind']}/{objects_mod.describe(item.obj)}",
                    container=found.container,
                    field=found.field,
                    old=old,
                    new=new,
                    policy=choice.policy,
                    reason=choice.reason,
                    origin=item.origin,
                )
            )
    return changes


MAX_LISTED = 10
"""Images named in an ``unmatched`` warning (the rest are counted)."""


def unmatched(
    *,
    objs: Iterable[dict[str, Any]],
    choices: Sequence[ImageChoice],
    image_fields: Sequence[model.ImageFieldPath] = (),
) -> list[str]:
    """A warning per choice whose repository no image in ``objs`` has: the policy
    governs nothing (often a registry host or port spelled differently than in Git)."""
    if not choices:
        return []
    seen: dict[str, str] = {}
    for obj in objs:
        for found in find(obj, image_fields=image_fields):
            seen.setdefault(_repository(found.image) or found.image, found.image)
    out = []
    for choice in choices:
        wanted = _repository(choice.repository) or choice.repository
        if wanted in seen:
            continue
        names = sorted(set(seen.values()))
        listed = ", ".join(names[:MAX_LISTED]) + (
            f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
        )
        out.append(
            f"image policy {choice.repository} ({choice.policy}) matches no container image "
            f"in the rendered objects; images found: {listed or 'none'}"
        )
    return out


def pinned(image: str, *, choice: ImageChoice) -> str:
    """``image`` pointed at the choice, keeping the repository as the manifest spells it
    (``nginx:1.0`` -> ``nginx:1.2@sha256:...``), so diffs show only what changed."""
    name = image.partition("@")[0]
    slash = name.rfind("/")
    if name.rfind(":") > slash:
        name = name[: name.rfind(":")]
    text = f"{name}:{choice.tag}" if choice.tag else name
    return f"{text}@{choice.digest}" if choice.digest else text


def _repository(image: str) -> str | None:
    """The normalised repository of an image reference; None when it is not one."""
    try:
        return reference.parse(image).repository
    except registry_errors.RegistryError:
        return None


_STEP = re.compile(r"^([^\[\]]+)((?:\[\d*\])*)$")


def _parse_path(path: str) -> list[str | int | None]:
    """``spec.containers[].image`` -> ["spec", "containers", None, "image"] (None = each)."""
    steps: list[str | int | None] = []
    for part in path.split("."):
        match = _STEP.match(part)
        if not match:
            raise ValueError(f"invalid image field path {path!r} at {part!r}")
        steps.append(match[1])
        for index in re.findall(r"\[(\d*)\]", match[2]):
            steps.append(int(index) if index else None)
    return steps


def _at_path(node: Any, *, steps: list[str | int | None], done: str) -> Iterator[Found]:
    step, rest = steps[0], steps[1:]
    if step is None or isinstance(step, int):
        if not isinstance(node, list):
            return
        indexes = range(len(node)) if step is None else [step] if step < len(node) else []
        for index in indexes:
            yield from _descend(node, key=index, rest=rest, done=f"{done}[{index}]")
        return
    if isinstance(node, dict) and step in node:
        yield from _descend(node, key=step, rest=rest, done=f"{done}.{step}" if done else step)


def _descend(holder: Any, *, key: Any, rest: list[str | int | None], done: str) -> Iterator[Found]:
    if not rest:
        if isinstance(holder[key], str):
            yield Found(holder=holder, key=key, field=done, container="")
        return
    yield from _at_path(holder[key], steps=rest, done=done)
