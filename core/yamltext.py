"""Reading the YAML files users write (sources, prices, alert rules, what-if policies), strictly.

PyYAML's safe loader keeps the last of two equal keys without a word, so a key written twice (``batch:`` once
empty and once with a discount, an override's ``discount`` twice) silently changes what the file says; and a
malformed date or number raises a bare ValueError without its line. :class:`StrictLoader` makes both YAML
errors that name the line.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["StrictLoader", "load_yaml", "yaml_error"]


class StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate mapping keys and reports unreadable scalars (``2025-13-01``) at
    their line."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {node.value!r}: {exc}", node.start_mark
            ) from exc

    def compose_mapping_node(self, anchor: str | None) -> yaml.MappingNode:
        # Checked as written, before merge keys (<<: *defaults) copy keys in: merging may override them.
        node = super().compose_mapping_node(anchor)
        seen: dict[tuple[str, str], yaml.Node] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = (key_node.tag, key_node.value)
            if key in seen:
                first = seen[key].start_mark.line + 1
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"the key {key_node.value!r} is given twice (first on line {first})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return node


def load_yaml(text: str) -> Any:
    """``text`` read with :class:`StrictLoader` (raises ``yaml.YAMLError`` naming the line of a problem)."""
    return yaml.load(text, Loader=StrictLoader)  # noqa: S506  # StrictLoader is a SafeLoader


def yaml_error(path: object, exc: yaml.YAMLError) -> str:
    """One line for a YAML error in the file ``path``: ``prices.yaml:3: not valid YAML: <what, where>``.

    PyYAML's own text spans several lines and names ``"<unicode string>"`` for the file.
    """
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if not isinstance(exc, yaml.MarkedYAMLError) or problem is None:
        return f"{path}: not valid YAML: {' '.join(str(exc).split())}"
    where = f":{mark.line + 1}" if mark is not None else ""
    text = problem
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None and (mark is None or context_mark.line != mark.line):
        text += f" ({context} started on line {context_mark.line + 1})"
    return f"{path}{where}: not valid YAML: {' '.join(text.split())}"
