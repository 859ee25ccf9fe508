"""Hostile files at the limits, shared by the tests and ``benchmarks/hostile_input.py``.

Each is the worst of its kind that the limits in ``core/limits.py`` still accept
(or, for a summary, the smallest they refuse), built from the example experiment
``web-latency`` so that everything else about it is ordinary.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Iterator
from pathlib import Path

import yaml

from pytest_experiment.core.limits import MAX_JSON_BYTES, MAX_YAML_BYTES, MAX_YAML_NODES

EXAMPLE = Path(__file__).resolve().parent.parent / "experiments" / "web-latency" / "experiment.yaml"
TAGS_LINE = '  tags: ["demo", "networking"]\n'
# Plain scalars YAML 1.1 reads as something other than text.
_NOT_TEXT = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def bomb(levels: int) -> str:
    """An experiment file whose aliases expand to 10**levels scalars (1.5 KB at 9 levels)."""
    lines = ["kind: Experiment", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [
        f"a{i}: &a{i} [{', '.join(f'*a{i - 1}' for _ in range(10))}]" for i in range(1, levels)
    ]
    return "\n".join(lines) + "\n"


def example_text() -> str:
    text = EXAMPLE.read_text()
    assert TAGS_LINE in text
    return text


def _names() -> Iterator[str]:
    """Distinct tag names, shortest first, that YAML reads as text unquoted."""
    for length in itertools.count(1):
        for letters in itertools.product(string.ascii_letters, repeat=length):
            name = "".join(letters)
            if name.lower() not in _NOT_TEXT:
                yield name


def _nodes(text: str) -> int:
    stack = [yaml.compose(text, Loader=yaml.CSafeLoader)]
    count = 0
    while stack:
        node = stack.pop()
        count += 1
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(child for pair in node.value for child in pair)
    return count


def most_tags_text() -> str:
    """The example with as many distinct tags as the node and byte limits allow
    (about 199,900 tags in 960 KB): every one a marker to register."""
    text = example_text()
    room = MAX_YAML_NODES - _nodes(text) + 2  # the example's own two tags give theirs back
    tags = ",".join(itertools.islice(_names(), room))
    result = text.replace(TAGS_LINE, f"  tags: [{tags}]\n")
    assert len(result.encode()) <= MAX_YAML_BYTES
    return result


def aliased_tag_text(*, length: int = 500_000, copies: int = 60_000) -> str:
    """The example whose one long tag is used ``copies`` times through an alias: 740 KB
    and 60,000 nodes on disk, 30 GB of text once every alias is followed."""
    text = example_text().replace(
        TAGS_LINE, f'  series: &tag "{"x" * length}"\n  tags: [{", ".join(["*tag"] * copies)}]\n'
    )
    assert len(text.encode()) <= MAX_YAML_BYTES
    return text


def empties_summary(values: int, *, name: str = "web-lat-empty") -> bytes:
    """A summary of the example whose one declared query holds ``values - 8`` points
    ``{}``, compact: ``values`` JSON values in all (``{}`` is the shape that costs the
    most memory per byte). 11,184,008 values fill the byte limit."""
    head = (
        f'{{"name":"{name}","phase":"Complete","metrics":'
        '{"source":"target:x","queries":{"request_p99":{"data":['
    )
    points = values - 8  # the document, name, phase, metrics, source, queries, query, data
    document = (head + ",".join(["{}"] * points) + "]}}}}").encode()
    assert len(document) <= MAX_JSON_BYTES
    return document
