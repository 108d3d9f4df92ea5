"""Parsing multi-document YAML (and JSON) safely, with line numbers in every error.

Called by ``plain`` for files and by ``kustomize``/``helm`` for tool output. Documents
are composed into nodes first and their size *after* alias expansion is counted before
any Python object is built, so an alias bomb is refused while ordinary anchors work.
Timestamps stay strings (as Kubernetes reads them); empty documents are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from syncer import yamlsize
from syncer.render import errors

# libyaml's parser when PyYAML was built with it (about 10x faster); same results.
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc,valid-type]
    """Safe loading that keeps timestamps as the strings the user wrote."""


_Loader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    lambda loader, node: loader.construct_scalar(node),
)


@dataclass(frozen=True)
class Document:
    index: int
    """Position in the file, from 0, counting empty documents too."""
    line: int
    """1-based line where the document starts."""
    data: Any


def load_all(text: str, *, shown: str, max_nodes: int) -> list[Document]:
    """Every non-empty document of ``text`` (``shown`` names the file in errors)."""
    loader = _Loader(text)
    docs: list[Document] = []
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                _check_size(node=node, shown=shown, index=index, max_nodes=max_nodes)
                data = loader.construct_document(node)
                if data is not None:
                    docs.append(Document(index=index, line=node.start_mark.line + 1, data=data))
            index += 1
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = exc.problem or exc.context or "parse error"
        raise errors.RenderError(f"{shown}{line}: invalid YAML: {problem}") from exc
    except yaml.YAMLError as exc:
        raise errors.RenderError(f"{shown}: invalid YAML: {exc}") from exc
    except RecursionError as exc:
        raise errors.LimitError(f"{shown}: document {index} is nested too deeply") from exc
    finally:
        loader.dispose()
    return docs


def _check_size(*, node: yaml.Node, shown: str, index: int, max_nodes: int) -> None:
    """Count nodes as if every alias were copied; refuse past ``max_nodes``."""
    try:
        yamlsize.expanded_size(node, limit=max_nodes)
    except yamlsize.AliasCycleError as exc:
        raise errors.LimitError(
            f"{shown}: document {index}: a YAML alias refers to itself; remove the cycle"
        ) from exc
    except yamlsize.TooLargeError as exc:
        raise errors.LimitError(
            f"{shown}: document {index} (line {node.start_mark.line + 1}) expands to more "
            f"than {max_nodes:,} YAML nodes through aliases (an alias bomb?); refused"
        ) from exc
