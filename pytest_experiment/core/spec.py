"""Experiment files: reading YAML with line numbers, and the frozen spec model.

Reading is strict about the *file* (it must be UTF-8 YAML holding one mapping
with a ``kind``; anything else is a ``SpecError`` naming file and line) and
lenient about the *content*: a field of the wrong type becomes an empty value
here and is reported by the ``validate[schema]`` rule, so one bad field never
hides the other findings.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

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

try:  # libyaml keeps --collect-only of a thousand files fast (the collection-time target)
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

API_GROUP = "experiments.illm.io"
KIND = "Experiment"
# Kept under their old names: the limits live in pytest_experiment.core.limits.
MAX_BYTES = MAX_YAML_BYTES
MAX_NODES = MAX_YAML_NODES

NodePath = tuple[str | int, ...]

_INT_TAG = "tag:yaml.org,2002:int"


def _json_key(key: Any) -> Any:
    """A mapping key as the API server sees it once kubectl has turned the YAML into JSON."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, int | float):
        return str(key)
    return key


class _Loader(_BaseLoader):
    """The safe loader, building only what JSON can hold.

    Kubernetes sees an experiment as JSON, so dates stay the text they were
    written as, ``!!binary`` stays its base64 text, sets and ordered maps become
    mappings and lists, and mapping keys are strings. Every rule can then rely
    on JSON's six types instead of meeting a ``datetime`` or a ``set``.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Built here rather than by PyYAML so keys are normalised before they
        # meet: PyYAML's dict would merge ``1:`` and ``true:`` (equal in Python).
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(
                None, None, f"expected a mapping node, but found {node.id}", node.start_mark
            )
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _json_key(self.construct_object(key_node, deep=deep))
            if not isinstance(key, Hashable):
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    "found a key that is a list or a mapping",
                    key_node.start_mark,
                )
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as err:
            # An explicit tag on a value it cannot take (``!!int abc``): say where.
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value: {err}", node.start_mark
            ) from err

    def _as_text(self, node: yaml.Node) -> str:
        return str(self.construct_scalar(node))  # type: ignore[arg-type]

    def _as_mapping(self, node: yaml.Node) -> Iterator[dict[Any, Any]]:
        data: dict[Any, Any] = {}
        yield data
        data.update(self.construct_mapping(node))  # type: ignore[arg-type]

    def _as_pairs(self, node: yaml.Node) -> Iterator[list[Any]]:
        data: list[Any] = []
        yield data
        build = self.construct_yaml_omap(node)
        pairs = next(build)
        for _ in build:  # fills ``pairs``
            pass
        data.extend({_json_key(k): v} for k, v in pairs)


for _tag in ("timestamp", "binary"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _Loader._as_text)
_Loader.add_constructor("tag:yaml.org,2002:set", _Loader._as_mapping)
for _tag in ("omap", "pairs"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _Loader._as_pairs)


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
            if size[key] > MAX_NODES:
                raise SpecError(
                    f"document expands to more than {MAX_NODES} nodes (YAML aliases?)",
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
    if count > MAX_NODES:
        raise SpecError(f"document has more than {MAX_NODES} nodes", path=path, line=_line(node))
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
                        f"duplicate key {name!r} (first at line {seen[name]}); YAML keeps "
                        "only the last one, so the first would be lost silently",
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


@dataclass(frozen=True, eq=False)
class Source:
    """One parsed YAML document and where each of its values sits in the file."""

    path: Path
    text: str
    data: Any

    @cached_property
    def root(self) -> yaml.Node:
        """The document's node tree, composed again from ``text`` when lines are asked for.

        Kept from the first read, a thousand files' trees (a node and two marks per
        value) would stay alive for the whole session and make every garbage
        collection walk them; composing one again takes a fraction of a millisecond.
        """
        loader = _Loader(self.text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
        assert node is not None, "read_source accepted a document without a node"
        return node

    @cached_property
    def lines(self) -> Mapping[NodePath, int]:
        return _line_map(self.root, str(self.path))

    def line_of(self, node_path: Sequence[str | int]) -> int:
        """The line of ``node_path``, or of its nearest ancestor present in the file."""
        here = tuple(node_path)
        while here and here not in self.lines:
            here = here[:-1]
        return self.lines.get(here, 1)


def read_source(path: Path) -> Source:
    """Read one YAML document, raising ``SpecError`` (file and line) when unreadable."""
    where = str(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise SpecError(f"cannot read file: {err.strerror}", path=where, line=1) from err
    if len(raw) > MAX_BYTES:
        raise SpecError(
            f"file is {len(raw)} bytes, more than the {MAX_BYTES} allowed", path=where, line=1
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise SpecError(f"not UTF-8 (byte 0x{raw[err.start]:02x})", path=where, line=line) from err
    loader = _Loader(text)
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


def is_experiment(data: Mapping[str, Any]) -> bool:
    """True for documents this plugin owns.

    ``kind: Experiment`` is ours; so is anything in our API group, so a
    misspelt kind is reported by ``validate[kind]`` instead of silently
    dropped. Other tools' files (an Argo ``Workflow`` also named
    ``experiment.yaml``) are not.
    """
    api_version = data.get("apiVersion")
    return data.get("kind") == KIND or (
        isinstance(api_version, str) and api_version.split("/")[0] == API_GROUP
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    query: str
    type: str
    unit: str
    group: str
    description: str
    index: int
    """Position in ``spec.metrics``, for error lines."""


@dataclass(frozen=True, slots=True)
class Component:
    app: str
    params: Mapping[str, Any]
    index: int


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    cluster_type: str
    machine_type: str
    preemptible: bool | None
    components: tuple[Component, ...]
    index: int

    @property
    def machine_family(self) -> str:
        """``c3`` for ``c3-standard-8``: the family GCE's disk support is keyed on."""
        return self.machine_type.split("-", 1)[0].lower()


@dataclass(frozen=True, slots=True)
class SuccessCriterion:
    metric: str
    operator: str
    value: str
    description: str


@dataclass(frozen=True)
class Experiment:
    """An Experiment as written in ``experiments/<name>/experiment.yaml``."""

    name: str
    """The directory name: the experiment's id in item names and toil labels."""
    source: Source
    kind: str
    api_version: str
    generate_name: str
    namespace: str
    title: str
    publish: bool
    series: str
    tags: tuple[str, ...]
    claim: str
    success_criteria: tuple[SuccessCriterion, ...]
    metrics: tuple[Metric, ...]
    targets: tuple[Target, ...]
    workflow_template: str
    completion_mode: str
    tutorial_services: tuple[Mapping[str, Any], ...] = field(default=())

    @property
    def path(self) -> Path:
        return self.source.path

    @property
    def data(self) -> Mapping[str, Any]:
        return self.source.data  # type: ignore[no-any-return]

    @property
    def prefix(self) -> str:
        """generateName without its trailing ``-``: what instance names start with."""
        return self.generate_name.rstrip("-")

    @property
    def groups(self) -> tuple[str, ...]:
        """Distinct metric groups in the order the spec first names them."""
        return tuple(dict.fromkeys(m.group for m in self.metrics if m.group))

    def components(self) -> Iterator[tuple[Target, Component]]:
        for target in self.targets:
            for component in target.components:
                yield target, component

    @classmethod
    def from_source(cls, source: Source, *, name: str | None = None) -> Experiment:
        data = source.data
        meta = _mapping(data.get("metadata"))
        spec = _mapping(data.get("spec"))
        hypothesis = _mapping(spec.get("hypothesis"))
        workflow = _mapping(spec.get("workflow"))
        metrics = tuple(
            Metric(
                name=_text(m.get("name")),
                query=_text(m.get("query")),
                type=_text(m.get("type")),
                unit=_text(m.get("unit")),
                group=_text(m.get("group")),
                description=_text(m.get("description")),
                index=i,
            )
            for i, m in enumerate(_items(spec.get("metrics")))
            if isinstance(m, dict)
        )
        targets = []
        for i, t in enumerate(_items(spec.get("targets"))):
            if not isinstance(t, dict):
                continue
            cluster = _mapping(t.get("cluster"))
            preemptible = cluster.get("preemptible")
            components = tuple(
                Component(app=_text(c.get("app")), params=_mapping(c.get("params")), index=j)
                for j, c in enumerate(_items(t.get("components")))
                if isinstance(c, dict)
            )
            targets.append(
                Target(
                    name=_text(t.get("name")),
                    cluster_type=_text(cluster.get("type")),
                    machine_type=_text(cluster.get("machineType")),
                    preemptible=preemptible if isinstance(preemptible, bool) else None,
                    components=components,
                    index=i,
                )
            )
        criteria = tuple(
            SuccessCriterion(
                metric=_text(c.get("metric")),
                operator=_text(c.get("operator")),
                value=str(c.get("value", "")),
                description=_text(c.get("description")),
            )
            for c in _items(hypothesis.get("successCriteria"))
            if isinstance(c, dict)
        )
        tutorial = _mapping(spec.get("tutorial"))
        return cls(
            name=name if name is not None else source.path.parent.name,
            source=source,
            kind=_text(data.get("kind")),
            api_version=_text(data.get("apiVersion")),
            generate_name=_text(meta.get("generateName")),
            namespace=_text(meta.get("namespace")),
            title=_text(spec.get("title")),
            publish=spec.get("publish") is True,
            series=_text(spec.get("series")),
            tags=tuple(t for t in _items(spec.get("tags")) if isinstance(t, str)),
            claim=_text(hypothesis.get("claim")),
            success_criteria=criteria,
            metrics=metrics,
            targets=tuple(targets),
            workflow_template=_text(workflow.get("template")),
            completion_mode=_text(_mapping(workflow.get("completion")).get("mode")),
            tutorial_services=tuple(
                s for s in _items(tutorial.get("services")) if isinstance(s, dict)
            ),
        )


def load_experiment(path: Path) -> Experiment | None:
    """The Experiment in ``path``, or None when the file belongs to another tool."""
    source = read_source(path)
    if not is_experiment(source.data):
        return None
    return Experiment.from_source(source)
