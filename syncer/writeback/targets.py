"""What a write-back changes in a checkout: the three target forms, as precise edits.

``syncer.writeback.run`` calls ``changes`` on a checkout of the branch it writes to (and
again on a newer one after a push race); ``syncer plan`` calls it on the tracked
commit's snapshot. Given the images of the app's release, it returns the new text of
each file to change and one ``Change`` per value changed (file, object, field, old,
new, policy) -- the data commit messages, history and plan show. Every path is joined
under the checkout with ``syncer.render.paths`` (no ``..``, no symlink leaving it), and
a file reached through a symlink is changed where the link points.

The forms:

- ``kustomization``: the ``images:`` entry whose ``name`` (or ``newName``) is the
  image's repository gets ``newTag`` (and ``digest``); a missing entry is added.
- ``helmValues``: the dotted keys of a values file (tag, and optionally repository
  and digest) are set; a key missing from the file is an error naming it.
- ``manifests``: every YAML file under the app path. A line marked
  ``# {"$imagepolicy": "APP:IMAGE"}`` (Flux's setter marker with the app name in place of
  the namespace; ``:tag``, ``:name`` or ``:digest`` after IMAGE sets only that part)
  gets the image; so does the ``image`` of every container whose repository is one of
  the app's images.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from registry import errors as registry_errors
from registry import reference
from syncer import errors, release
from syncer.config import model
from syncer.render import errors as render_errors
from syncer.render import images as render_images
from syncer.render import paths
from syncer.writeback import yamledit

MARKER = re.compile(r"#\s*(\{\s*\"\$imagepolicy\"\s*:\s*\"[^\"]*\"\s*\})")
"""A setter marker comment, e.g. ``# {"$imagepolicy": "web:web:tag"}``."""
MARKER_FIELDS = ("tag", "name", "digest")
YAML_SUFFIXES = (".yaml", ".yml")


class WriteBackError(errors.PermanentError):
    """The files cannot be changed as configured (missing key, invalid YAML, bad path):
    retrying is useless until the repository or the config is fixed."""


@dataclasses.dataclass(frozen=True)
class Change:
    """One value written: where, from what, to what, and which policy chose it."""

    file: str
    object: str
    field: str
    old: str
    new: str
    image: str
    policy: str

    def line(self) -> str:
        """``apps/web/kustomization.yaml: Kustomization images[web].newTag 1.0.0 -> 1.1.0
        (semver:^1.0)``, for commit messages and logs."""
        old = self.old or "(none)"
        return f"{self.file}: {self.object} {self.field} {old} -> {self.new} ({self.policy})"

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Edited:
    """A file's new text and what changed in it."""

    path: str
    """Relative to the checkout root (the link's target for a symlink)."""
    text: str
    changes: tuple[Change, ...]


@dataclasses.dataclass(frozen=True)
class _Wanted:
    """One app image as the write-back writes it."""

    config: model.AppImage
    image: release.Image
    digest: bool
    """Write the digest too (configured, or a digest policy whose tag never moves)."""

    def ref(self, *, like: str) -> str:
        """The reference to write where ``like`` stood (its spelling of the name kept)."""
        choice = self.image if self.digest else dataclasses.replace(self.image, digest="")
        return render_images.pinned(like or self.config.repository, choice=choice)

    def matches(self, name: str) -> bool:
        """Whether a marker's IMAGE or an image reference names this image."""
        ours = self.image.repository
        if name in (self.config.repository, ours, ours.rsplit("/", 1)[-1]):
            return True
        return _repository(name) == ours


def changes(*, root: Path, app: model.App, images: Sequence[release.Image]) -> list[Edited]:
    """The files to change under the checkout ``root`` so that they name ``images``."""
    assert app.write_back is not None
    wb = app.write_back
    wanted = _wanted(app, images)
    if not wanted:
        return []
    edits: dict[str, tuple[str, list[yamledit.Splice], list[Change]]] = {}

    def file(rel: str, *, what: str) -> tuple[str, list[yamledit.Splice], list[Change]]:
        path = _confine(root=root, rel=rel, what=what)
        key = paths.relative(root=root.resolve(), path=path)
        if key not in edits:
            edits[key] = (_read(path, shown=key), [], [])
        return edits[key]

    if wb.kustomization:
        rel = _join(app.path, wb.kustomization)
        text, splices, found = file(rel, what=f"app {app.name}: writeBack.kustomization")
        _kustomization(text, splices=splices, found=found, wanted=wanted, shown=rel)
    for index, target in enumerate(wb.helm_values):
        rel = _join(app.path, target.file)
        what = f"app {app.name}: writeBack.helmValues[{index}]"
        want = _for_target(wanted, target.image)
        if want is None:
            continue  # its image was not chosen this time (a registry outage): left as is
        text, splices, found = file(rel, what=what)
        _helm_values(
            text, splices=splices, found=found, target=target, shown=rel, what=what,
            wanted=want,
        )  # fmt: skip
    if wb.manifests:
        start = _confine(root=root, rel=app.path, what=f"app {app.name}: path")
        for path in paths.walk(root=root, start=start, what=f"app {app.name}: path"):
            if path.suffix not in YAML_SUFFIXES:
                continue
            key = paths.relative(root=root.resolve(), path=path.resolve())
            text, splices, found = file(key, what=f"app {app.name}: manifests")
            _manifests(text, splices=splices, found=found, wanted=wanted, shown=key, app=app.name)
    out = []
    for key, (text, splices, found) in sorted(edits.items()):
        if not splices:
            continue
        new = yamledit.apply(text, _unique(splices))
        if new != text:
            out.append(Edited(path=key, text=new, changes=tuple(found)))
    return out


# --- kustomization --------------------------------------------------------------------


def _kustomization(
    text: str,
    *,
    splices: list[yamledit.Splice],
    found: list[Change],
    wanted: Sequence[_Wanted],
    shown: str,
) -> None:
    docs = _documents(text, shown=shown)
    doc = docs[0] if docs else None
    if not isinstance(doc, yaml.MappingNode):
        raise WriteBackError(f"{shown}: not a kustomization (expected a mapping with images:)")
    entries = yamledit.lookup(doc, "images")
    if entries is not None and not isinstance(entries, yaml.SequenceNode):
        raise WriteBackError(f"{shown}: images: is not a list; expected a list of images")
    for want in wanted:
        entry = _image_entry(entries, want)
        values = {"newTag": want.image.tag} | ({"digest": want.image.digest} if want.digest else {})
        values = {k: v for k, v in values.items() if v}
        if entry is None:
            lines = [f"name: {yamledit.render(want.config.repository)}"]
            lines += [f"{k}: {yamledit.render(v)}" for k, v in values.items()]
            if entries is not None and entries.value and not entries.flow_style:
                splices.append(yamledit.append_item(text, entries, lines))
            elif entries is None:
                lead = "" if text.endswith("\n") or not text else "\n"
                body = "".join(
                    f"  {line}\n" if i else f"- {line}\n" for i, line in enumerate(lines)
                )
                splices.append(yamledit.Splice(len(text), len(text), f"{lead}images:\n{body}"))
            else:
                raise WriteBackError(
                    f"{shown}: images: is empty or in flow style; expected a block list"
                    " (- name: ...) to add to"
                )
            for key, value in values.items():
                found.append(
                    _change(
                        shown,
                        "Kustomization",
                        f"images[{want.config.repository}].{key}",
                        "",
                        value,
                        want,
                    )
                )
            continue
        label = f"images[{yamledit.scalar(yamledit.lookup(entry, 'name'))}]"
        if yamledit.lookup(entry, "digest") is not None and want.image.digest:
            # A digest already written there wins over newTag in kustomize: keep it true.
            values["digest"] = want.image.digest
        for key, value in values.items():
            node = yamledit.lookup(entry, key)
            if isinstance(node, yaml.ScalarNode):
                _set(
                    text,
                    node,
                    value,
                    splices=splices,
                    found=found,
                    where=(shown, "Kustomization", f"{label}.{key}"),
                    want=want,
                )
            elif node is None:
                splices.append(yamledit.add_key(text, entry, key, value))
                found.append(_change(shown, "Kustomization", f"{label}.{key}", "", value, want))


def _image_entry(entries: yaml.Node | None, want: _Wanted) -> yaml.MappingNode | None:
    if not isinstance(entries, yaml.SequenceNode):
        return None
    for entry in entries.value:
        if not isinstance(entry, yaml.MappingNode):
            continue
        for key in ("newName", "name"):
            name = yamledit.scalar(yamledit.lookup(entry, key))
            if name and want.matches(name):
                return entry
    return None


# --- Helm values ----------------------------------------------------------------------


def _helm_values(
    text: str,
    *,
    splices: list[yamledit.Splice],
    found: list[Change],
    target: model.HelmValuesTarget,
    wanted: _Wanted,
    shown: str,
    what: str,
) -> None:
    docs = _documents(text, shown=shown)
    doc = docs[0] if docs else None
    values = {target.tag: wanted.image.tag}
    if target.repository:
        values[target.repository] = wanted.config.repository
    if target.digest and wanted.image.digest:
        values[target.digest] = wanted.image.digest
    for key, value in values.items():
        node = _dotted(doc, key)
        if not isinstance(node, yaml.ScalarNode):
            raise WriteBackError(
                f"{what}: {shown} has no value at {key!r}; expected the key in the file"
                " (write it once by hand, syncer keeps it updated)"
            )
        _set(
            text,
            node,
            value,
            splices=splices,
            found=found,
            where=(shown, "values", key),
            want=wanted,
        )


def _dotted(node: yaml.Node | None, key: str) -> yaml.Node | None:
    for part in key.split("."):
        node = yamledit.lookup(node, part) if node is not None else None
    return node


# --- plain manifests ----------------------------------------------------------------


def _manifests(
    text: str,
    *,
    splices: list[yamledit.Splice],
    found: list[Change],
    wanted: Sequence[_Wanted],
    shown: str,
    app: str,
) -> None:
    try:
        docs = yamledit.documents(text, what=shown)
    except yamledit.YamlEditError:
        return  # not plain YAML (a Helm template, say): nothing here to rewrite
    marked = _markers(text, app=app, wanted=wanted)
    taken: set[int] = set()
    for doc in docs:
        label = _object_label(doc)
        for key, node in _mapping_values(doc):
            mark = marked.get(node.start_mark.line)
            if mark is None or not isinstance(node, yaml.ScalarNode):
                continue
            want, part = mark
            value = {
                "": want.ref(like=node.value), "tag": want.image.tag,
                "name": want.config.repository, "digest": want.image.digest,
            }[part]  # fmt: skip
            taken.add(node.start_mark.index)
            if value:
                _set(
                    text,
                    node,
                    value,
                    splices=splices,
                    found=found,
                    where=(shown, label or "marker", key),
                    want=want,
                )
        for field, node in _container_images(doc):
            if node.start_mark.index in taken:
                continue
            match = next((w for w in wanted if _repository(node.value) == w.image.repository), None)
            if match is None:
                continue
            value = match.ref(like=node.value)
            _set(
                text,
                node,
                value,
                splices=splices,
                found=found,
                where=(shown, label, field),
                want=match,
            )


def _markers(text: str, *, app: str, wanted: Sequence[_Wanted]) -> dict[int, tuple[_Wanted, str]]:
    """Line number -> (image, part) of each marker of this app naming one of its images."""
    found: dict[int, tuple[_Wanted, str]] = {}
    for number, line in enumerate(text.splitlines()):
        match = MARKER.search(line)
        if not match:
            continue
        try:
            spec = str(json.loads(match[1])["$imagepolicy"])
        except (ValueError, KeyError):
            continue
        owner, _, name = spec.partition(":")
        if owner != app:
            continue  # another app's marker (or Flux's own): not ours to set
        part = ""
        head, _, tail = name.rpartition(":")
        if head and tail in MARKER_FIELDS:
            name, part = head, tail
        want = next((w for w in wanted if w.matches(name)), None)
        if want is not None:
            found[number] = (want, part)
    return found


def _mapping_values(node: yaml.Node) -> list[tuple[str, yaml.Node]]:
    """(key, value node) of every mapping entry under ``node``."""
    return [
        (str(getattr(k, "value", "")), v)
        for n in yamledit.walk(node)
        if isinstance(n, yaml.MappingNode)
        for k, v in n.value
    ]


def _container_images(doc: yaml.Node) -> list[tuple[str, yaml.ScalarNode]]:
    """(field path, image node) of every container of a built-in workload kind."""
    kind = yamledit.scalar(yamledit.lookup(doc, "kind")) or ""
    api = yamledit.scalar(yamledit.lookup(doc, "apiVersion")) or ""
    steps = render_images.POD_SPEC_PATHS.get(kind)
    if steps is None or api.rpartition("/")[0] not in render_images.WORKLOAD_GROUPS:
        return []
    spec: yaml.Node | None = doc
    for step in steps:
        spec = yamledit.lookup(spec, step) if spec is not None else None
    out = []
    for list_name in render_images.CONTAINER_LISTS:
        containers = yamledit.lookup(spec, list_name) if spec is not None else None
        if not isinstance(containers, yaml.SequenceNode):
            continue
        for index, container in enumerate(containers.value):
            image = yamledit.lookup(container, "image")
            if isinstance(image, yaml.ScalarNode):
                out.append((f"{'.'.join(steps)}.{list_name}[{index}].image", image))
    return out


def _object_label(doc: yaml.Node) -> str:
    kind = yamledit.scalar(yamledit.lookup(doc, "kind"))
    meta = yamledit.lookup(doc, "metadata")
    name = yamledit.scalar(yamledit.lookup(meta, "name")) if meta is not None else None
    namespace = yamledit.scalar(yamledit.lookup(meta, "namespace")) if meta is not None else None
    if not kind or not name:
        return ""
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


# --- plumbing ---------------------------------------------------------------------------


def _wanted(app: model.App, images: Sequence[release.Image]) -> list[_Wanted]:
    assert app.write_back is not None
    by_repo = {i.repository: i for i in images}
    out = []
    for config in app.images:
        image = by_repo.get(_repository(config.repository) or config.repository)
        if image is None or not image.tag:
            continue  # nothing chosen (an outage kept the tag in Git): nothing to write
        digest = bool(image.digest) and (app.write_back.digest or bool(config.policy.digest))
        out.append(_Wanted(config=config, image=image, digest=digest))
    return out


def _for_target(wanted: Sequence[_Wanted], image: str) -> _Wanted | None:
    """The image a values file is for: the named one, else the app's only image."""
    if not image:
        return wanted[0] if len(wanted) == 1 else None
    return next((w for w in wanted if w.config.repository == image), None)


def _set(
    text: str,
    node: yaml.ScalarNode,
    value: str,
    *,
    splices: list[yamledit.Splice],
    found: list[Change],
    where: tuple[str, str, str],
    want: _Wanted,
) -> None:
    """Set a scalar to ``value`` and note the change (file, object, field), if any."""
    splice = yamledit.set_scalar(text, node, value)
    if splice is not None:
        splices.append(splice)
        found.append(_change(*where, node.value, value, want))


def _change(file: str, obj: str, field: str, old: str, new: str, want: _Wanted) -> Change:
    return Change(
        file=file, object=obj, field=field, old=old, new=new,
        image=want.image.repository, policy=want.image.policy,
    )  # fmt: skip


def _unique(splices: list[yamledit.Splice]) -> list[yamledit.Splice]:
    """The splices once each (a file named by two targets is edited once)."""
    return list(dict.fromkeys(splices))


def _documents(text: str, *, shown: str) -> list[yaml.Node]:
    try:
        return yamledit.documents(text, what=shown)
    except yamledit.YamlEditError as err:
        raise WriteBackError(str(err)) from err


def _confine(*, root: Path, rel: str, what: str) -> Path:
    try:
        return paths.confine(root=root, rel=rel, what=what)
    except render_errors.RenderError as err:
        raise WriteBackError(str(err)) from err


def _read(path: Path, *, shown: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise WriteBackError(
            f"{shown} does not exist; expected the file in the repository"
        ) from err
    except (OSError, UnicodeDecodeError) as err:
        raise WriteBackError(f"{shown}: cannot read it: {err}") from err


def _join(base: str, rel: str) -> str:
    return rel if base in ("", ".") else f"{base.rstrip('/')}/{rel}"


def _repository(image: str) -> str | None:
    try:
        return reference.parse(image).repository
    except registry_errors.RegistryError:
        return None


def describe(edits: Sequence[Edited]) -> list[dict[str, Any]]:
    """Every change of ``edits`` as data (history, plan, the API)."""
    return [c.to_dict() for e in edits for c in e.changes]
