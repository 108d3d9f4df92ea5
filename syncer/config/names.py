"""Name syntax shared by the config checks: object names, Kubernetes names, labels.

Used by ``checks`` (names of sources, clusters, apps, stages; namespaces), ``refs``
(Secret references, selectors) and ``walker`` (label maps such as ``clusters[].labels``).
"""

from __future__ import annotations

import re

import yaml

from syncer.config import nodes

NAME_EXPECTED = (
    "expected letters, digits, '-', '_' or '.', starting and ending with a letter or digit,"
    " at most 63 characters"
)
DNS_EXPECTED = (
    "expected lowercase letters, digits and '-', starting and ending with a letter or digit,"
    " at most 63 characters (a DNS-1123 label)"
)
SUBDOMAIN_EXPECTED = "expected lowercase letters, digits, '-' and '.' (a Kubernetes name)"

_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_LABEL_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


def is_name(text: str) -> bool:
    """A syncer object name; it is also a valid Kubernetes label value."""
    return bool(_NAME.fullmatch(text))


def is_dns_label(text: str) -> bool:
    return bool(_DNS_LABEL.fullmatch(text))


def is_dns_subdomain(text: str) -> bool:
    return bool(_DNS_SUBDOMAIN.fullmatch(text))


def label_problem(key: str, value: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if (slash and not _LABEL_PREFIX.fullmatch(prefix)) or not _NAME.fullmatch(name):
        return f"invalid label key {key!r}; {NAME_EXPECTED} (optionally after a DNS prefix/)"
    if value and not _NAME.fullmatch(value):
        return f"invalid label value {value!r}; {NAME_EXPECTED}"
    return None


def labels(node: yaml.Node, *, path: str, ctx: nodes.Context) -> dict[str, str]:
    """A ``{label: value}`` mapping; values written as numbers or booleans are kept as text."""
    if nodes.is_null(node):
        return {}
    if not isinstance(node, yaml.MappingNode):
        ctx.problem(node, path, f"got {nodes.describe(node)}; expected a mapping of label: value")
        return nodes.INVALID
    result: dict[str, str] = {}
    ok = True
    for key, (_, value_node) in nodes.mapping_pairs(node, path=path, ctx=ctx).items():
        sub = nodes.join(path, key)
        ctx.note(sub, value_node)
        if not isinstance(value_node, yaml.ScalarNode):
            ctx.problem(
                value_node, sub, f"got {nodes.describe(value_node)}; expected a label value"
            )
            ok = False
            continue
        value = "" if nodes.is_null(value_node) else str(value_node.value)
        problem = label_problem(key, value)
        if problem:
            ctx.problem(value_node, sub, problem)
            ok = False
        result[key] = value
    return result if ok else nodes.INVALID
