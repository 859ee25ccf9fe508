"""Hard limits on the documents this plugin reads, and a JSON reader that enforces them.

Experiment files, component files, published summaries and site-data catalogues
all come from outside: a repository anyone can open a pull request against, an
S3 bucket, a directory on disk. Each is bounded *while it is read*, so a hostile
or broken file ends in one clear error naming the file and line instead of a
``RecursionError``, a multi-gigabyte alias expansion or Python's own
integer-conversion limit firing somewhere far from the file. Pure: no I/O here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

MAX_YAML_BYTES = 1 << 20
"""Real experiment files are a few KB."""
MAX_YAML_NODES = 200_000
"""Nodes a YAML document may expand to once aliases are followed."""
MAX_DEPTH = 64
"""Nesting levels of a YAML or JSON document (real ones use about 11)."""
MAX_INT_DIGITS = 1000
"""Characters of one integer literal; Kubernetes integers are 64-bit (19 digits)."""
MAX_JSON_BYTES = 32 << 20
"""Published summaries are a few hundred KB."""
MAX_JSON_VALUES = 1_000_000
"""Values (objects, arrays, strings, numbers, literals) of one JSON document: the largest
real summary holds about 6,300. Without it, 32 MiB of ``{}`` is 11 million objects
(1.6 GB once parsed)."""

# A JSON string (so brackets inside it are not counted; an unterminated one runs
# to the end, so no text is scanned twice) or a bracket.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]+|\\.?)*+(?:"|\Z)|[\[\]{}]', re.DOTALL)
_JSON_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\Z)', re.DOTALL)
_JSON_SPACE = b" \t\r\n"


class LimitError(ValueError):
    """A document breaks one of the limits above (``line`` is 1-based, when known)."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        self.line = line
        super().__init__(message)


def json_type_name(value: Any) -> str:
    """The JSON Schema name of ``value``'s type, the words a user knows from the file."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON-shaped document, mapping keys included, in document order."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, child in value.items():
            yield from strings(key)
            yield from strings(child)
    elif isinstance(value, list):
        for child in value:
            yield from strings(child)


def line_at(text: str, offset: int) -> int:
    """The 1-based line of character ``offset`` in ``text``."""
    return text.count("\n", 0, max(0, offset)) + 1


def _deepest_line(text: str) -> int:
    """The line where ``text`` first nests deeper than the limit (1 if it never does)."""
    depth = 0
    for token in _JSON_TOKEN.finditer(text):
        char = token.group(0)
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return line_at(text, token.start())
        elif char in "]}":
            depth -= 1
    return 1


def _too_deep(value: Any) -> bool:
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth >= MAX_DEPTH:
            return True
        children = node.values() if isinstance(node, dict) else node
        # An empty container below the limit nests no further: a million ``{}`` push nothing.
        deeper = depth + 1
        stack.extend(
            (c, deeper)
            for c in children
            if isinstance(c, dict | list) and (c or deeper >= MAX_DEPTH)
        )
    return False


def _values_over_limit(raw: bytes) -> int | None:
    """How many values the JSON document ``raw`` holds if that is over the limit, else None.

    Every value is the document itself, one after a comma, or the first of a
    non-empty array or object: ``1 + commas + non-empty containers``, counting
    what lies outside strings. Counting every comma and bracket is an upper bound
    that costs one pass in C; strings are taken out only when that bound is over
    the limit (a hostile document, or one whose strings hold a million commas).
    """
    if 1 + raw.count(b",") + raw.count(b"[") + raw.count(b"{") <= MAX_JSON_VALUES:
        return None
    bare = _JSON_STRING.sub(b"", raw).translate(None, _JSON_SPACE)
    opened = bare.count(b"[") + bare.count(b"{") - bare.count(b"[]") - bare.count(b"{}")
    values = 1 + bare.count(b",") + opened
    return values if values > MAX_JSON_VALUES else None


def parse_json(raw: bytes) -> Any:
    """``raw`` parsed as JSON within the limits.

    Raises ``LimitError`` for a limit (with the line), ``UnicodeDecodeError`` for
    bytes that are not UTF-8 and ``json.JSONDecodeError`` for invalid JSON.
    """
    if len(raw) > MAX_JSON_BYTES:
        raise LimitError(f"{len(raw)} bytes, more than the {MAX_JSON_BYTES} allowed", line=1)
    text = raw.decode("utf-8-sig")
    values = _values_over_limit(raw)
    if values is not None:
        # Parsed, each value would cost 50-70 bytes and every check a pass over it.
        raise LimitError(f"{values} values, more than the {MAX_JSON_VALUES} allowed", line=1)

    def parse_int(literal: str) -> int:
        if len(literal.lstrip("-")) > MAX_INT_DIGITS:
            raise LimitError(
                f"an integer of {len(literal.lstrip('-'))} digits, more than the "
                f"{MAX_INT_DIGITS} allowed",
                line=line_at(text, text.find(literal)),
            )
        return int(literal)

    too_deep = LimitError(f"nesting deeper than {MAX_DEPTH} levels")
    try:
        data = json.loads(text, parse_int=parse_int)
    except RecursionError as err:
        # The C parser gives up at the interpreter's recursion limit (a
        # 100,000-deep array): cleanly, but with no line; find it.
        too_deep.line = _deepest_line(text)
        raise too_deep from err
    if isinstance(data, dict | list) and _too_deep(data):
        too_deep.line = _deepest_line(text)
        raise too_deep
    return data


def json_problem(err: Exception) -> tuple[str, int | None]:
    """What went wrong reading JSON, in words, and the line when known."""
    if isinstance(err, LimitError):
        return str(err), err.line
    if isinstance(err, json.JSONDecodeError):
        return f"not valid JSON ({err.msg})", err.lineno
    if isinstance(err, UnicodeDecodeError):
        return f"not UTF-8 ({err.reason})", None
    return str(err), None
