"""The size of a composed YAML node once every alias is expanded: the alias-bomb guard.

``syncer.config.loader`` (the config file) and ``syncer.render.yamlload`` (manifests)
call ``expanded_size`` on composed nodes before any Python object is built from them,
so a few lines of anchors that would expand to billions of values are refused while
ordinary anchors work; the config loader also bounds the nesting. Each caller words
the refusal for its own users.
"""

from __future__ import annotations

import yaml


class AliasCycleError(ValueError):
    """An alias refers to a node that contains it."""


class TooLargeError(ValueError):
    """The node expands to more than the limit."""


class TooDeepError(ValueError):
    """Collections nest deeper than the limit (``node`` is where it is passed)."""

    def __init__(self, node: yaml.Node) -> None:
        super().__init__("YAML nested too deeply")
        self.node = node


def expanded_size(node: yaml.Node, *, limit: int, max_depth: int | None = None) -> int:
    """Nodes in ``node`` counting each alias as a copy; raises past ``limit`` nodes or
    past ``max_depth`` nested collections (aliases included), whichever comes first.
    With ``max_depth`` the walk never recurses deeper than it."""
    memo: dict[int, tuple[int, int]] = {}
    """id of a node -> (its expanded size, how many collections deep it goes)."""
    active: set[int] = set()

    def visit(n: yaml.Node, depth: int) -> tuple[int, int]:
        key = id(n)
        known = memo.get(key)
        if known is not None:
            # An alias: the same node again, counted once, but as deep as it sits here.
            if max_depth is not None and depth + known[1] > max_depth:
                raise TooDeepError(n)
            return known
        if key in active:
            raise AliasCycleError("a YAML alias refers to itself")
        if not isinstance(n, yaml.CollectionNode):
            memo[key] = (1, 0)
            return memo[key]
        if max_depth is not None and depth + 1 > max_depth:
            raise TooDeepError(n)
        active.add(key)
        children = (
            n.value if isinstance(n, yaml.SequenceNode) else [x for kv in n.value for x in kv]
        )
        size, height = 1, 0
        for child in children:
            child_size, child_height = visit(child, depth + 1)
            size += child_size
            height = max(height, child_height)
        active.discard(key)
        if size > limit:
            raise TooLargeError(f"more than {limit:,} YAML nodes")
        memo[key] = (size, height + 1)
        return memo[key]

    return visit(node, 0)[0]
