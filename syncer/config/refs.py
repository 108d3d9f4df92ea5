"""The two config values with a syntax of their own: secret references and cluster selections.

``walker`` calls ``secret_ref`` and ``cluster_selection`` when a field's type is
``model.SecretRef`` or ``model.ClusterSelection``; ``parse_secret_ref`` is also used by
``syncer.config.secrets`` for references given as strings.
"""

from __future__ import annotations

import re

import yaml

from syncer.config import model, names, nodes

SECRET_EXPECTED = "expected env:NAME, file:PATH or secret:NAMESPACE/NAME#KEY"
SELECTION_EXPECTED = "expected a list of cluster names or {selector: {label: value}}"

_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET = re.compile(r"([^/#]+)/([^/#]+)#([-._A-Za-z0-9]+)")


def parse_secret_ref(text: str, *, base_dir: str = "") -> model.SecretRef:
    """``env:NAME`` / ``file:PATH`` / ``secret:NS/NAME#KEY``; ``ValueError`` when invalid.

    With ``base_dir``, a relative ``file:`` path is made absolute against it.
    The message never repeats ``text`` unless it has a known prefix: a value without
    one may be a credential pasted where its reference belongs.
    """
    kind, sep, rest = text.partition(":")
    if not sep or kind not in ("env", "file", "secret"):
        raise ValueError(f"not a secret reference (value not shown); {SECRET_EXPECTED}")
    if kind == "env":
        if not _ENV.fullmatch(rest):
            raise ValueError(
                f"invalid environment variable name {rest!r} in {text!r};"
                " expected letters, digits and '_', not starting with a digit"
            )
        return model.SecretRef("env", rest)
    if kind == "file":
        if not rest:
            raise ValueError(f"empty path in {text!r}; expected file:PATH")
        path = nodes.local_path(rest, kind="file", base_dir=base_dir) if base_dir else rest
        return model.SecretRef("file", path)
    match = _SECRET.fullmatch(rest)
    if not match:
        raise ValueError(f"invalid Secret reference {text!r}; expected secret:NAMESPACE/NAME#KEY")
    namespace, name, key = match.groups()
    for what, value in (("namespace", namespace), ("name", name)):
        if not names.is_dns_subdomain(value):
            raise ValueError(
                f"invalid Secret {what} {value!r} in {text!r}; {names.SUBDOMAIN_EXPECTED}"
            )
    return model.SecretRef("secret", f"{namespace}/{name}", key)


def secret_ref(node: yaml.Node, *, path: str, ctx: nodes.Context) -> model.SecretRef:
    if not isinstance(node, yaml.ScalarNode) or nodes.is_null(node):
        ctx.problem(node, path, f"got {nodes.describe(node)}; {SECRET_EXPECTED}")
        return nodes.INVALID
    try:
        return parse_secret_ref(str(node.value), base_dir=ctx.base_dir)
    except ValueError as err:
        ctx.problem(node, path, str(err))
        return nodes.INVALID


def cluster_selection(node: yaml.Node, *, path: str, ctx: nodes.Context) -> model.ClusterSelection:
    """``[dev, prod]`` or ``{selector: {env: prod}}``; existence is checked in ``crossrefs``."""
    if nodes.is_null(node):
        return model.ClusterSelection()
    if isinstance(node, yaml.SequenceNode):
        return _names(node, path=path, ctx=ctx)
    if isinstance(node, yaml.MappingNode):
        return _selector(node, path=path, ctx=ctx)
    ctx.problem(node, path, f"got {nodes.describe(node)}; {SELECTION_EXPECTED}")
    return nodes.INVALID


def _names(node: yaml.SequenceNode, *, path: str, ctx: nodes.Context) -> model.ClusterSelection:
    found: list[str] = []
    ok = True
    for i, item in enumerate(node.value):
        item_path = nodes.index(path, i)
        ctx.note(item_path, item)
        if not isinstance(item, yaml.ScalarNode) or nodes.is_null(item):
            ctx.problem(item, item_path, f"got {nodes.describe(item)}; expected a cluster name")
            ok = False
        elif str(item.value) in found:
            ctx.problem(
                item, item_path, f"cluster {item.value!r} is listed twice; expected each once"
            )
            ok = False
        else:
            found.append(str(item.value))
    if not found and ok:
        ctx.problem(node, path, f"the list is empty; {SELECTION_EXPECTED}")
        return nodes.INVALID
    return model.ClusterSelection(names=tuple(found)) if ok else nodes.INVALID


def _selector(node: yaml.MappingNode, *, path: str, ctx: nodes.Context) -> model.ClusterSelection:
    pairs = nodes.mapping_pairs(node, path=path, ctx=ctx)
    ok = True
    for key, (key_node, _) in pairs.items():
        if key != "selector":
            ctx.problem(key_node, nodes.join(path, key), f"unknown field; {SELECTION_EXPECTED}")
            ok = False
    if "selector" not in pairs:
        if ok:
            ctx.problem(node, path, f"missing selector; {SELECTION_EXPECTED}")
        return nodes.INVALID
    sel_path = nodes.join(path, "selector")
    sel_node = pairs["selector"][1]
    ctx.note(sel_path, sel_node)
    labels = names.labels(sel_node, path=sel_path, ctx=ctx)
    if labels is nodes.INVALID or not ok:
        return nodes.INVALID
    if not labels:
        ctx.problem(sel_node, sel_path, "the selector is empty; expected at least one label: value")
        return nodes.INVALID
    return model.ClusterSelection(selector=labels)
