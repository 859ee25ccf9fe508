"""The YAML loader experiment files are read with: only what JSON can hold, every key
read as kubectl's JSON will have it, every failure at a node with its line.

``yaml_source`` reads a file with it, within the limits.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import yaml

try:  # libyaml keeps --collect-only of a thousand files fast (the collection-time target)
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _json_key(key: Any) -> Any:
    """A mapping key as the API server sees it once kubectl has turned the YAML into JSON."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, int | float):
        return str(key)
    return key


class Refused(Exception):
    """What YAML reads but this reader refuses (a duplicate key), with the line to name."""

    def __init__(self, message: str, *, line: int) -> None:
        self.line = line
        super().__init__(message)


def duplicate_key(text: str, *, first: str, first_line: int, read_as: Any = None) -> str:
    """The message for a key written twice in one mapping (``read_as``: what both read as,
    when they are written differently)."""
    same = "" if read_as is None else f" as {first!r}; both read as {read_as!r}"
    return (
        f"duplicate key {text!r} (first at line {first_line}{same}); YAML keeps only the "
        "last one, so the first would be lost silently"
    )


def _node_kind(node: yaml.Node) -> str:
    return str(getattr(node, "id", "node"))  # "scalar", "sequence" or "mapping"


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org") else tag


class Loader(_BaseLoader):
    """The safe loader, building only what JSON can hold.

    Kubernetes sees an experiment as JSON, so dates stay the text they were
    written as, ``!!binary`` stays its base64 text, sets and ordered maps become
    mappings and lists, and mapping keys are strings. Every rule can then rely
    on JSON's six types instead of meeting a ``datetime`` or a ``set``.

    Everything is built at once (``deep_construct``): PyYAML otherwise finishes
    mappings and ordered maps after the node that holds them has returned, where
    an error has no node, hence no line, to name.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.deep_construct = True

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Built here rather than by PyYAML so keys are normalised before they
        # meet: PyYAML's dict would merge ``1:`` and ``true:`` (equal in Python),
        # and ``1:`` and ``0x1:`` (equal once read) without a word.
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(
                None, None, f"expected a mapping node, but found {node.id}", node.start_mark
            )
        # Keys merged in with ``<<`` may be overridden; keys written here may not.
        own = {id(key_node) for key_node, _ in node.value}
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        first: dict[Any, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = _json_key(self.construct_object(key_node, deep=deep))
            if not isinstance(key, Hashable):
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    "found a key that is a list or a mapping",
                    key_node.start_mark,
                )
            earlier = first.get(key)
            if earlier is not None and id(earlier) in own and id(key_node) in own:
                raise Refused(
                    duplicate_key(
                        str(key_node.value),
                        first=str(earlier.value),
                        first_line=_line(earlier),
                        read_as=key,
                    ),
                    line=_line(key_node),
                )
            first[key] = key_node
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError, KeyError, IndexError) as err:
            # An explicit tag on a value it cannot take (``!!int many``, ``!!bool maybe``,
            # ``!!int ''``): PyYAML's own constructors fail with whatever their
            # parsing met first. Say where, and what.
            what = (
                f"{node.value!r} is not a valid {_short_tag(node.tag)}"
                if isinstance(node, yaml.ScalarNode)
                else str(err)
            )
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value: {what}", node.start_mark
            ) from err

    def _as_text(self, node: yaml.Node) -> str:
        return str(self.construct_scalar(node))  # type: ignore[arg-type]

    def _as_mapping(self, node: yaml.Node) -> dict[Any, Any]:
        return self.construct_mapping(node)  # type: ignore[arg-type]

    def _as_pairs(self, node: yaml.Node) -> list[dict[Any, Any]]:
        """``!!omap`` and ``!!pairs``: a sequence of one-pair mappings, read as the list of
        one-key mappings kubectl would send (each key read as any other)."""
        if not isinstance(node, yaml.SequenceNode):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"expected a sequence of pairs, but found {_node_kind(node)}",
                node.start_mark,
            )
        pairs: list[dict[Any, Any]] = []
        for item in node.value:
            if not isinstance(item, yaml.MappingNode) or len(item.value) != 1:
                found = (
                    f"{len(item.value)} pairs"
                    if isinstance(item, yaml.MappingNode)
                    else _node_kind(item)
                )
                raise yaml.constructor.ConstructorError(
                    "while constructing pairs",
                    node.start_mark,
                    f"expected a mapping of one pair, but found {found}",
                    item.start_mark,
                )
            pairs.append(self.construct_mapping(item))
        return pairs


for _tag in ("timestamp", "binary"):
    Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", Loader._as_text)
Loader.add_constructor("tag:yaml.org,2002:set", Loader._as_mapping)
for _tag in ("omap", "pairs"):
    Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", Loader._as_pairs)
