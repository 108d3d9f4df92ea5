"""Reading the configuration file: YAML text -> validated ``model.Config``.

Called by every command that needs the config (``syncer validate``, the controller).
It composes the YAML into nodes (for line numbers), lets ``walker`` build the
dataclasses (``walker`` -> ``checks`` per object), then ``crossrefs`` checks names
across the file. All problems are collected and raised together as one
``errors.ConfigError``, each a line ``FILE:LINE: field.path: what; expected ...``.
Relative paths in the config (Git URLs that are paths, kubeconfig, dockerConfig,
caFile, state.path, ``file:`` secret references) resolve against the file's directory.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import yaml

from syncer import errors, yamlsize
from syncer.config import crossrefs, model, nodes, tenants, walker

MAX_NODES = 1_000_000
"""Nodes the file may hold once aliases are expanded (as for manifests): anchors are
welcome, an alias bomb (a few lines expanding to billions of values, which ``run``
would then hash) is refused."""

MAX_DEPTH = 64
"""Deepest nesting of mappings and lists accepted. A syncer config needs about ten
levels (helm values a few more); composing thousands of levels recurses past Python's
limit, so deeper files are refused before they are composed."""


def load(path: str | os.PathLike[str]) -> model.Config:
    """Read, validate and return the config at ``path``; ``errors.ConfigError`` if invalid."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8-sig") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise errors.ConfigError(
            [f"{name}: no such file; expected the path of a syncer config (-c FILE)"]
        ) from None
    except IsADirectoryError:
        raise errors.ConfigError([f"{name}: is a directory; expected a YAML file"]) from None
    except UnicodeDecodeError as err:
        raise errors.ConfigError(
            [f"{name}: not UTF-8 text ({err.reason}); expected YAML"]
        ) from None
    except OSError as err:
        raise errors.ConfigError([f"{name}: cannot read: {err.strerror}"]) from None
    base_dir = os.path.dirname(os.path.abspath(name))
    return loads(text, filename=name, base_dir=base_dir)


def loads(text: str, *, filename: str, base_dir: str) -> model.Config:
    """Validate config ``text``; messages name ``filename``, paths resolve under ``base_dir``."""
    ctx = nodes.Context(file=filename, base_dir=base_dir)
    root = _compose(text, filename=filename)
    if root is None or nodes.is_null(root):
        raise errors.ConfigError(
            [f"{filename}:1: the file is empty; expected a mapping with sources, clusters, apps"]
        )
    config = walker.build(model.Config, root, path="", ctx=ctx)
    if config is not nodes.INVALID:
        crossrefs.check(config, ctx=ctx)
        config = tenants.resolve(config, ctx=ctx)
    if ctx.problems or config is nodes.INVALID:
        raise errors.ConfigError(_sorted(ctx.problems))
    # The default state file, like any path written in the file, sits next to it.
    state_path = nodes.local_path(config.state.path, kind="file", base_dir=base_dir)
    return dataclasses.replace(
        config, base_dir=base_dir, state=dataclasses.replace(config.state, path=state_path)
    )


def loads_apps(
    text: str, *, filename: str, origin: str, platform: model.Config, tenant: model.Tenant
) -> tuple[tuple[model.App, int], ...]:
    """The apps of one file of ``tenant``'s ``appsFrom`` (``model.AppsFile``), checked as
    the platform's own apps naming the tenant are: the same walker, cross-checks and
    ``tenants.resolve`` against ``platform`` (a valid config). Each app belongs to
    ``tenant`` (naming another is refused) and carries ``origin``; ``errors.ConfigError``
    listing every problem as ``FILENAME:LINE: field: ...`` when the file is invalid.
    Each app comes with the line of its entry."""
    ctx = nodes.Context(file=filename, base_dir=platform.base_dir)
    root = _compose(text, filename=filename)
    if root is None or nodes.is_null(root):
        return ()  # an empty file defines no app (a team may keep a placeholder)
    built = walker.build(model.AppsFile, root, path="", ctx=ctx)
    if built is nodes.INVALID:
        raise errors.ConfigError(_sorted(ctx.problems))
    # The platform's objects by their place in its file, so that messages name the
    # tenant's rule as they do for the platform's own apps (tenants[0].namespaces).
    for field in ("sources", "clusters", "tenants"):
        for i, item in enumerate(getattr(platform, field)):
            ctx.paths[id(item)] = f"{field}[{i}]"
    apps = []
    for app in built.apps:
        path = ctx.path_of(app)
        if app.tenant and app.tenant != tenant.name:
            ctx.problem(
                f"{path}.tenant",
                f"{path}.tenant",
                f"this file belongs to tenant {tenant.name} (its appsFrom); an app of tenant"
                f" {app.tenant!r} is defined by that tenant or the platform; expected"
                f" {tenant.name!r} or no tenant",
            )
        if app.write_back is not None and app.write_back.commit.signing_key_from is not None:
            where = f"{path}.writeBack.commit.signingKeyFrom"
            ctx.problem(
                where,
                where,
                "secret references are the platform's; a tenant's file cannot name one;"
                " expected no signingKeyFrom (ask the platform to sign in its config)",
            )
        owned = dataclasses.replace(app, tenant=tenant.name, origin=origin)
        ctx.paths[id(owned)] = path
        apps.append(owned)
    # Checked with the platform's sources, clusters and tenants, and only these apps:
    # the platform's pipelines and notification rules name its own apps.
    scope = dataclasses.replace(
        platform, apps=tuple(apps), pipelines=(), notifications=model.Notifications()
    )
    crossrefs.check(scope, ctx=ctx)
    resolved = tenants.resolve(scope, ctx=ctx)
    if ctx.problems:
        raise errors.ConfigError(_sorted(ctx.problems))
    return tuple((app, ctx.line(f"apps[{i}]")) for i, app in enumerate(resolved.apps))


def _compose(text: str, *, filename: str) -> yaml.Node | None:
    """``text`` composed into nodes (line numbers kept), within the size limits."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except _TooDeep as err:
        raise errors.ConfigError([_too_deep(err.mark, filename=filename)]) from None
    except yaml.YAMLError:
        # libyaml gives up at 1,000 levels with a scanner error, and PyYAML's composer
        # would recurse past Python's limit on such a file: its depth is read first.
        _check_depth(text, filename=filename)
        root = _compose_for_errors(text, filename=filename)
    if root is not None and not nodes.is_null(root):
        _check_size(root, filename=filename)
    return root


class _Mark:
    """Where a node starts: all that validation reads of a YAML mark (0-based line and
    column). PyYAML's own marks (name, index, buffer, a dict each) start and end every
    node, and held most of the composed file: 10,000 apps peaked at about 125 MiB."""

    __slots__ = ("column", "line")

    def __init__(self, line: int, column: int) -> None:
        self.line, self.column = line, column

    def __str__(self) -> str:
        return f"line {self.line + 1}, column {self.column + 1}"


class _TooDeep(Exception):
    def __init__(self, mark: Any) -> None:
        super().__init__("too deep")
        self.mark = mark


class _Composer(yaml.composer.Composer):
    """PyYAML's composer with light marks (``_Mark``, one per node) that refuses nesting
    past ``MAX_DEPTH`` while composing (so it never recurses deeper than that). A list
    that no alias can reach (no anchor on it or around it) is marked ``walk_once``: the
    walker drops each of its items once built, so the apps' nodes are freed while the
    model grows instead of all being held to the end."""

    _depth = 0
    _anchored = 0
    """Anchored collections being composed: what is inside them may be reached again."""

    def _start(self) -> tuple[Any, _Mark]:
        event = self.get_event()  # type: ignore[attr-defined]
        return event, _Mark(event.start_mark.line, event.start_mark.column)

    def compose_scalar_node(self, anchor: Any) -> yaml.ScalarNode:
        event, mark = self._start()
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolve(yaml.ScalarNode, event.value, event.implicit)  # type: ignore[attr-defined]
        shared: Any = mark  # light, where PyYAML's types say yaml.Mark
        node = yaml.ScalarNode(tag, event.value, shared, shared, style=event.style)
        if anchor is not None:
            self.anchors[anchor] = node
        return node

    def compose_sequence_node(self, anchor: Any) -> yaml.SequenceNode:
        node: yaml.SequenceNode = self._collection(anchor, yaml.SequenceNode, yaml.SequenceEndEvent)
        return node

    def compose_mapping_node(self, anchor: Any) -> yaml.MappingNode:
        node: yaml.MappingNode = self._collection(anchor, yaml.MappingNode, yaml.MappingEndEvent)
        return node

    def _collection(self, anchor: Any, cls: Any, end: Any) -> Any:
        event, mark = self._start()
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _TooDeep(mark)
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolve(cls, None, event.implicit)  # type: ignore[attr-defined]
        node = cls(tag, [], mark, mark, flow_style=event.flow_style)
        if anchor is not None:
            self.anchors[anchor] = node
            self._anchored += 1
        elif cls is yaml.SequenceNode and not self._anchored:
            node.walk_once = True
        mapping = cls is yaml.MappingNode
        index = 0
        while not self.check_event(end):  # type: ignore[attr-defined]
            if mapping:
                # The resolver's path (``index``) is a key node here; the stubs say int.
                key = self.compose_node(node, None)  # type: ignore[arg-type]
                node.value.append((key, self.compose_node(node, key)))  # type: ignore[arg-type]
            else:
                node.value.append(self.compose_node(node, index))
                index += 1
        self.get_event()  # type: ignore[attr-defined]
        self._depth -= 1
        if anchor is not None:
            self._anchored -= 1
        return node


_CParser: Any = getattr(getattr(yaml, "cyaml", None), "CParser", None)

if _CParser is not None:

    class _Loader(_Composer, _CParser, yaml.resolver.Resolver):
        """libyaml's parser (about 10x faster than PyYAML's) under ``_Composer``."""

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            _Composer.__init__(self)
            yaml.resolver.Resolver.__init__(self)

else:  # pragma: no cover - PyYAML built without libyaml

    class _Loader(  # type: ignore[no-redef]
        yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, _Composer,
        yaml.resolver.Resolver,
    ):  # fmt: skip
        """PyYAML's own parser under ``_Composer``."""

        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            _Composer.__init__(self)
            yaml.resolver.Resolver.__init__(self)


def _check_depth(text: str, *, filename: str) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH``, reading PyYAML's events (its parser keeps
    a stack of its own, so this never recurses); other errors are left to composing."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise errors.ConfigError([_too_deep(event.start_mark, filename=filename)])
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return


def _check_size(root: yaml.Node, *, filename: str) -> None:
    """Nesting and alias expansion within bounds (counted without deep recursion)."""
    try:
        yamlsize.expanded_size(root, limit=MAX_NODES, max_depth=MAX_DEPTH)
    except yamlsize.TooDeepError as err:
        raise errors.ConfigError([_too_deep(err.node.start_mark, filename=filename)]) from None
    except yamlsize.AliasCycleError:
        raise errors.ConfigError(
            [f"{filename}:1: a YAML alias refers to itself; expected no cycles"]
        ) from None
    except yamlsize.TooLargeError:
        raise errors.ConfigError(
            [
                f"{filename}:1: the YAML expands to more than {MAX_NODES:,} values through"
                " aliases (an alias bomb?); expected ordinary anchors"
            ]
        ) from None


def _too_deep(mark: Any, *, filename: str) -> str:
    line = mark.line + 1 if mark else 1
    return (
        f"{filename}:{line}: the YAML nests deeper than {MAX_DEPTH} levels;"
        " expected a flatter syncer config"
    )


def _compose_for_errors(text: str, *, filename: str) -> yaml.Node | None:
    """Parse again with PyYAML's own parser: its messages are the same on every machine."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        raise errors.ConfigError([_yaml_problem(err, filename=filename)]) from None
    except yaml.reader.ReaderError as err:
        line = text.count("\n", 0, err.position) + 1
        reason = str(err).splitlines()[0]
        raise errors.ConfigError([f"{filename}:{line}: invalid YAML: {reason}"]) from None
    except yaml.YAMLError as err:
        reason = str(err).splitlines()[0]
        raise errors.ConfigError([f"{filename}: invalid YAML: {reason}"]) from None


def _sorted(problems: list[tuple[tuple[int, int], str]]) -> list[str]:
    """In file order (line, then column); each distinct message once."""
    seen: dict[str, None] = {}
    for _, message in sorted(problems, key=lambda item: item[0]):
        seen.setdefault(message, None)
    return list(seen)


def _yaml_problem(err: yaml.MarkedYAMLError, *, filename: str) -> str:
    mark = err.problem_mark or err.context_mark
    line = mark.line + 1 if mark else 1
    what = " ".join(part for part in (err.context, err.problem) if part)
    return f"{filename}:{line}: invalid YAML: {what}; check the indentation and quotes"
