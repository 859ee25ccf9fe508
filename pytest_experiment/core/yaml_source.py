"""Reading one YAML document with the line of every value, within the limits.

Strict about the *file*: it must be UTF-8 YAML holding one mapping with a
``kind``; anything else is a ``SpecError`` naming file and line. The content
is the spec model's business (``spec``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import yaml

from pytest_experiment.base.errors import SpecError
from pytest_experiment.core.limits import (
    MAX_DEPTH,
    MAX_INT_DIGITS,
    MAX_YAML_BYTES,
    MAX_YAML_NODES,
    json_type_name,
    line_at,
)
from pytest_experiment.core.yaml_loader import Loader, Refused, duplicate_key

NodePath = tuple[str | int, ...]
_P = ParamSpec("_P")
_T = TypeVar("_T")

_INT_TAG = "tag:yaml.org,2002:int"


def _codepoint(character: str | int) -> str:
    return f"U+{character if isinstance(character, int) else ord(character):04X}"


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _check_limits(root: yaml.Node, path: str) -> None:
    """Refuse what would explode once constructed, before anything is constructed.

    Aliases make the node graph a DAG (or, for an alias inside its own anchor,
    a cycle), so the sizes are computed per distinct node: a 1.5 KB file whose
    aliases expand to 10⁹ nodes costs as much to check as one that does not.
    Also refused here: duplicate keys (YAML forbids them; PyYAML would keep the
    last silently) and integers too long to convert.
    """
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    children_of: dict[int, list[yaml.Node]] = {}
    on_stack: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_stack.discard(key)
            children = children_of[key]
            size[key] = 1 + sum(size[id(c)] for c in children)
            height[key] = 1 + max((height[id(c)] for c in children), default=0)
            if size[key] > MAX_YAML_NODES:
                raise SpecError(
                    f"document expands to more than {MAX_YAML_NODES} nodes (YAML aliases?)",
                    path=path,
                    line=_line(node),
                )
            continue
        if key in size:
            continue
        if key in on_stack:
            raise SpecError(
                "recursive YAML alias: the anchor here is used inside itself",
                path=path,
                line=_line(node),
            )
        children = _children(node, path)
        children_of[key] = children
        on_stack.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in size)
    if height[id(root)] > MAX_DEPTH + 1:
        # Walk down the deepest path to the first node past the limit: its line.
        node = root
        for _ in range(MAX_DEPTH + 1):
            node = max(children_of[id(node)], key=lambda c: height[id(c)])
        raise SpecError(f"nesting deeper than {MAX_DEPTH} levels", path=path, line=_line(node))


def _check_tree(node: yaml.Node, path: str, depth: int = 0) -> int:
    """``_check_limits`` for a document without anchors (a tree: no node is shared),
    in one recursive pass; returns the node count. Recursion stops at the depth limit."""
    if depth > MAX_DEPTH:
        raise SpecError(f"nesting deeper than {MAX_DEPTH} levels", path=path, line=_line(node))
    if isinstance(node, yaml.ScalarNode):
        _children(node, path)
        return 1
    children = _children(node, path)
    if isinstance(node, yaml.MappingNode):
        # Values first: the line reported for too deep a nesting is then the
        # first nested value past the limit, as _check_limits finds it.
        children = [child for key, value in node.value for child in (value, key)]
    count = 1
    for child in children:
        count += _check_tree(child, path, depth + 1)
    if count > MAX_YAML_NODES:
        raise SpecError(
            f"document has more than {MAX_YAML_NODES} nodes", path=path, line=_line(node)
        )
    return count


def _children(node: yaml.Node, path: str) -> list[yaml.Node]:
    if isinstance(node, yaml.ScalarNode):
        if node.tag == _INT_TAG and len(str(node.value).lstrip("+-")) > MAX_INT_DIGITS:
            raise SpecError(
                f"an integer of {len(node.value)} characters, more than the "
                f"{MAX_INT_DIGITS} allowed",
                path=path,
                line=_line(node),
            )
        return []
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        children: list[yaml.Node] = []
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                name = str(key.value)
                if name in seen:
                    raise SpecError(
                        duplicate_key(name, first=name, first_line=seen[name]),
                        path=path,
                        line=_line(key),
                    )
                seen[name] = _line(key)
            children += (key, value)
        return children
    return []


def _line_map(root: yaml.Node, path: str) -> dict[NodePath, int]:
    """Map every node path (``("spec", "metrics", 3, "name")``) to its 1-based line.

    ``read_source`` has already bounded the expanded size and depth, so this
    walk of the expanded tree is bounded too.
    """
    lines: dict[NodePath, int] = {(): root.start_mark.line + 1}
    stack: list[tuple[yaml.Node, NodePath]] = [(root, ())]
    while stack:
        node, here = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*here, key.value if isinstance(key, yaml.ScalarNode) else str(key))
                lines[child] = key.start_mark.line + 1
                stack.append((value, child))
        elif isinstance(node, yaml.SequenceNode):
            for index, value in enumerate(node.value):
                child = (*here, index)
                lines[child] = value.start_mark.line + 1
                stack.append((value, child))
    return lines


def _without_reader_frames(func: Callable[_P, _T]) -> Callable[_P, _T]:
    """``func``, whose ``SpecError`` or Ctrl-C (or SIGTERM) leaves the reader's frames behind.

    pytest renders the arguments of every frame of a traceback it shows (a
    collection error's under ``--full-trace``, a Ctrl-C's always), and the
    reader's frames hold YAML nodes, whose ``repr`` follows every alias: a 1.5 KB
    alias bomb is 10⁹ nodes, a tag aliased 60,000 times 60,000 copies of it.
    Rendering one took gigabytes and did not end; an interrupt landing in that
    rendering started it again. Kept, the frames would also keep every bad
    file's node tree alive for the whole session.
    """

    @functools.wraps(func)
    def reader(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return func(*args, **kwargs)
        except (SpecError, KeyboardInterrupt) as err:
            link: BaseException | None = err
            seen: set[int] = set()
            while link is not None and id(link) not in seen:  # its causes lose theirs too
                seen.add(id(link))
                link.__traceback__ = None
                link = link.__cause__ or link.__context__
            raise err.with_traceback(None)  # noqa: B904 (the same error: its chain is kept)

    return reader


@dataclass(frozen=True, eq=False)
class Source:
    """One parsed YAML document and where each of its values sits in the file."""

    path: Path
    text: str
    data: Any

    def __repr__(self) -> str:
        # Bounded: pytest renders the arguments of the frames of a traceback, and
        # ``data`` may hold one long value aliased thousands of times.
        return f"Source({str(self.path)!r})"

    @cached_property
    @_without_reader_frames
    def root(self) -> yaml.Node:
        """The document's node tree, composed again from ``text`` when lines are asked for.

        Kept from the first read, a thousand files' trees (a node and two marks per
        value) would stay alive for the whole session and make every garbage
        collection walk them; composing one again takes a fraction of a millisecond.
        """
        loader = Loader(self.text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
        assert node is not None, "read_source accepted a document without a node"
        return node

    @cached_property
    @_without_reader_frames
    def lines(self) -> Mapping[NodePath, int]:
        return _line_map(self.root, str(self.path))

    def line_of(self, node_path: Sequence[str | int]) -> int:
        """The line of ``node_path``, or of its nearest ancestor present in the file."""
        here = tuple(node_path)
        while here and here not in self.lines:
            here = here[:-1]
        return self.lines.get(here, 1)


@_without_reader_frames
def read_source(path: Path) -> Source:
    """Read one YAML document, raising ``SpecError`` (file and line) when unreadable."""
    where = str(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise SpecError(f"cannot read file: {err.strerror}", path=where, line=1) from err
    if len(raw) > MAX_YAML_BYTES:
        raise SpecError(
            f"file is {len(raw)} bytes, more than the {MAX_YAML_BYTES} allowed", path=where, line=1
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise SpecError(f"not UTF-8 (byte 0x{raw[err.start]:02x})", path=where, line=line) from err
    loader = Loader(text)
    try:
        nodes: list[yaml.Node] = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                nodes.append(node)
        if len(nodes) != 1:
            raise SpecError(f"expected one YAML document, found {len(nodes)}", path=where, line=1)
        root = nodes[0]
        if "&" in text:
            _check_limits(root, where)
        else:  # no anchor, so no alias: every node appears once
            _check_tree(root, where)
        data = loader.construct_document(root)
    except Refused as err:
        raise SpecError(str(err), path=where, line=err.line) from None
    except yaml.reader.ReaderError as err:
        # The reader knows only a character offset into "<unicode string>".
        raise SpecError(
            f"YAML error: {err.reason} (character {_codepoint(err.character)})",
            path=where,
            line=line_at(text, err.position),
        ) from err
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        # libyaml puts the substance of some errors in the context ("found
        # duplicate anchor 'a'; first occurrence") and only "second occurrence" in the problem.
        problem = err.problem or str(err)
        if problem == "second occurrence" and err.context:
            problem = f"{err.context}, then again here"
        raise SpecError(
            f"YAML error: {problem}",
            path=where,
            line=mark.line + 1 if mark is not None else None,
        ) from err
    except yaml.YAMLError as err:
        raise SpecError(f"YAML error: {err}", path=where, line=1) from err
    except RecursionError as err:
        raise SpecError("nesting too deep to read", path=where, line=1) from err
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise SpecError(
            f"expected a mapping at the top level, found {json_type_name(data)}",
            path=where,
            line=root.start_mark.line + 1,
        )
    if "kind" not in data:
        raise SpecError("missing 'kind' (expected 'kind: Experiment')", path=where, line=1)
    return Source(path=path, text=text, data=data)
