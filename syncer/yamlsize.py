"""The size of a composed YAML node once every alias is expanded: the alias-bomb guard.

``syncer.config.loader`` (the config file) and ``syncer.render.yamlload`` (manifests)
call ``expanded_size`` on composed nodes before any Python object is built from them,
so a few lines of anchors that would expand to billions of values are refused while
ordinary anchors work. Each caller words the refusal for its own users.
"""

from __future__ import annotations

import yaml


class AliasCycleError(ValueError):
    """An alias refers to a node that contains it."""


class TooLargeError(ValueError):
    """The node expands to more than the limit."""


def expanded_size(node: yaml.Node, *, limit: int) -> int:
    """Nodes in ``node`` counting each alias as a copy; raises past ``limit``."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(n: yaml.Node) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]  # an alias: the same node again, already counted once
        if key in active:
            raise AliasCycleError("a YAML alias refers to itself")
        active.add(key)
        total = 1
        if isinstance(n, yaml.SequenceNode):
            total += sum(size(child) for child in n.value)
        elif isinstance(n, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in n.value)
        active.discard(key)
        sizes[key] = total
        if total > limit:
            raise TooLargeError(f"more than {limit:,} YAML nodes")
        return total

    return size(node)
