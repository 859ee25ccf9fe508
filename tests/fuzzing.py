"""Hypothesis strategies of the fuzz suite: the real corpus, mutated (experiment files here).

Experiment files: type swaps, deletions, huge and deep values, control
characters, bytes that are not UTF-8, marker-name tags, duplicate keys and keys
YAML reads as equal (``1``/``0x1``, ``true``/``True``, ``null``/``~``), aliases
and bombs, bad numbers, explicit tags on values they cannot take (``!!bool
maybe``, ``!!int ''``, ``!!omap`` with a list as a key), long lists (thousands of
targets, tags, metrics) and values at the limits (integers of 1,000 and 1,001
characters, 64 and 65 levels of nesting, a file of 1 MiB and one byte more).

Summaries: ``fuzzing_summaries.py``.

Profiles: ``ci`` (the default, derandomized, bounded for CI) and ``fuzz`` (``make
fuzz``: many more examples, random, lists and values all the way to the limits),
chosen with ``HYPOTHESIS_PROFILE``.
"""

from __future__ import annotations

import copy
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from conftest import ROOT, upstream_dir
from pytest_experiment.core.catalog import load_catalogue
from pytest_experiment.core.limits import MAX_DEPTH, MAX_INT_DIGITS, MAX_YAML_BYTES
from pytest_experiment.core.spec import Experiment, read_source

PROFILE_NAME = os.environ.get("HYPOTHESIS_PROFILE", "ci")
_HEALTH = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=_HEALTH,
)
settings.register_profile("fuzz", max_examples=1500, deadline=None, suppress_health_check=_HEALTH)
PROFILE = settings.get_profile(PROFILE_NAME)
# A pytester run costs a few hundred milliseconds: fewer of those.
# Shrinking re-runs pytest hundreds of times: report the failing example as found.
COLLECTION = settings(
    PROFILE,
    max_examples=max(4, PROFILE.max_examples // 4),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
# Lists as long as the profile affords: CI stays within seconds; `make fuzz` goes to
# where the node limit (200,000) refuses the file.
LONGEST = 1_000 if PROFILE_NAME == "ci" else 60_000

EXAMPLES = ROOT / "experiments"
MARKER_NAMES = [
    "skip",
    "skipif",
    "xfail",
    "timeout",
    "parametrize",
    "usefixtures",
    "filterwarnings",
    "xdist_group",
    "not",
    " ",
    "{}",
    "🚀",
    "$(touch pwned)",
    "_x",
]
CONTROL = [chr(c) for c in (*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F)]
# Explicit tags on values they cannot take; each crashed collection once.
HOSTILE_TAGS = [
    "!!omap [[a]: 1]",
    "!!omap [{a: 1}, {{b: 1}: 2}]",
    "!!pairs [{a: 1}: 2]",
    "!!pairs [{? [a] : 1}]",
    "!!set {? [a]}",
    "!!bool maybe",
    "!!bool ''",
    "!!int ''",
    "!!float ''",
    "!!int '-'",
    "[!!int -]",
    "!!int",
    "!!float",
    "!!int _",
    "!!int 0x",
    "!!float .",
    "!!int '1:'",
    "!!omap 3",
    "!!omap [{a: 1, b: 2}]",
    "!!binary '!!'",
    "!!timestamp x",
    "!!null x",
    "!!str [1]",
    "!!map [1]",
    "!!seq {a: 1}",
    "!!python/object:os.system x",
    "!int many",
]
# Pairs of keys written differently that YAML reads as the same key.
EQUAL_KEYS = [
    ("1", "0x1"),
    ("8", "010"),
    ("10", "+1_0"),
    ("1.0", "1.00"),
    ("true", "True"),
    ("yes", "on"),
    ("false", "NO"),
    ("null", "~"),
    ("'null'", "Null"),
    ("'1'", "0b1"),
]


# -- the corpus ---------------------------------------------------------------------------------


@cache
def experiment_texts() -> tuple[tuple[str, str], ...]:
    """(name, text) of every real experiment file and the project's own examples."""
    roots = [EXAMPLES]
    upstream = upstream_dir()
    if upstream is not None:
        roots.append(upstream / "experiments")
    found = []
    for root in roots:
        for path in sorted(root.glob("*/experiment.yaml")):
            found.append((path.parent.name, path.read_text()))
    return tuple(found)


@cache
def corpus_experiment(which: int) -> Experiment:
    """Experiment ``which`` (modulo their number) of the corpus, as read from its file."""
    name, text = experiment_texts()[which % len(experiment_texts())]
    path = Path(tempfile.mkdtemp()) / name / "experiment.yaml"
    path.parent.mkdir()
    path.write_text(text)
    return Experiment.from_source(read_source(path))


@cache
def catalogue() -> Any:
    upstream = upstream_dir()
    return load_catalogue(upstream / "components" if upstream else EXAMPLES / "components")


# -- mutations of the data ----------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.integers(300, 6000).map(lambda n: "x" * n)  # a huge name (statistics stay short)
    | st.sampled_from(["hello-app-\n", "--", "", "write_p99\n", "Ω", "$(id)"])
    | st.sampled_from(MARKER_NAMES)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(value: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield here
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*here, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*here, index))


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        data = data[step]
    return data


def _deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = [value]
    return value


def _longer(items: list[Any], count: int) -> list[Any]:
    """``items`` repeated to ``count`` elements, each distinct where it has a name."""
    if not items:
        return [f"t{index}" for index in range(count)]
    longer = []
    for index in range(count):
        item = copy.deepcopy(items[index % len(items)])
        if isinstance(item, str):
            item = f"{item}-{index}"
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            item["name"] = f"{item['name']}-{index}"
        longer.append(item)
    return longer


@st.composite
def mutated_data(draw: st.DrawFn, base: Any) -> Any:
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(data, path)
        kind = draw(st.sampled_from(["swap", "delete", "deep", "tags", "wrap", "long"]))
        if kind == "swap":
            parent[path[-1]] = draw(VALUES)
        elif kind == "delete":
            del parent[path[-1]]
        elif kind == "deep":
            levels = st.integers(30, 120) | st.integers(MAX_DEPTH - 2, MAX_DEPTH + 1)
            parent[path[-1]] = _deep(draw(levels))
        elif kind == "wrap":
            parent[path[-1]] = [parent[path[-1]]]
        elif kind == "long":
            lists = [p for p in paths if isinstance(_parent(data, p)[p[-1]], list)]
            if lists:
                where = draw(st.sampled_from(lists))
                owner = _parent(data, where)
                owner[where[-1]] = _longer(owner[where[-1]], draw(st.integers(1_000, LONGEST)))
        elif isinstance(data, dict):
            spec = data.setdefault("spec", {})
            if isinstance(spec, dict):
                spec["tags"] = draw(st.lists(st.sampled_from(MARKER_NAMES), max_size=4))
                spec["series"] = draw(st.sampled_from(MARKER_NAMES))
    return data


# -- mutations of the text ----------------------------------------------------------------------

BOMB = "\n".join(
    ["bomb0: &b0 [x, x, x, x, x, x, x, x, x, x]"]
    + [f"bomb{i}: &b{i} [{', '.join(f'*b{i - 1}' for _ in range(10))}]" for i in range(1, 9)]
)


def _at(text: str, draw: st.DrawFn) -> int:
    return draw(st.integers(0, len(text)))


TextMutation = Callable[[str, st.DrawFn], str]


def control_character(text: str, draw: st.DrawFn) -> str:
    at = _at(text, draw)
    return text[:at] + draw(st.sampled_from(CONTROL)) + text[at:]


def not_utf8(text: str, draw: st.DrawFn) -> str:
    # A lone surrogate: the files are written with "surrogatepass", bytes no UTF-8 decoder takes.
    at = _at(text, draw)
    return text[:at] + "\udcff" + text[at:]


def _duplicate_line(text: str, draw: st.DrawFn) -> str:
    lines = text.splitlines(keepends=True)
    at = draw(st.integers(0, max(0, len(lines) - 1)))
    return "".join(lines[: at + 1] + lines[at:])


def truncate(text: str, draw: st.DrawFn) -> str:
    return text[: _at(text, draw)]


def big_number(text: str, draw: st.DrawFn) -> str:
    number = draw(
        st.sampled_from(
            [
                "9" * 5001,
                "9" * MAX_INT_DIGITS,
                "-" + "9" * MAX_INT_DIGITS,
                "9" * (MAX_INT_DIGITS + 1),
                ".nan",
                "-.inf",
                "1e999",
                "0x" + "f" * 5000,
                "NaN",
            ]
        )
    )
    return re.sub(r"(?<![\w.-])\d+(?![\w.-])", number, text, count=draw(st.integers(1, 3)))


def _hostile_tag(text: str, draw: st.DrawFn) -> str:
    """One block mapping value replaced by a tagged value it cannot take."""
    values = [m.end() for m in re.finditer(r"^ *[A-Za-z][\w-]*: ", text, re.MULTILINE)]
    if not values:
        return text
    at = draw(st.sampled_from(values))
    end = text.find("\n", at)
    end = len(text) if end < 0 else end
    return text[:at] + draw(st.sampled_from(HOSTILE_TAGS)) + text[end:]


def equal_keys_text(text: str, first: str, second: str) -> tuple[str, int]:
    """``text`` with two keys YAML reads as equal written under ``spec`` (or at the top),
    and the line of the second."""
    head, found, tail = text.partition("\nspec:\n")
    if found and tail.startswith("  "):
        text = f"{head}\nspec:\n  {first}: a\n  {second}: b\n{tail}"
        return text, head.count("\n") + 4
    return f"{first}: a\n{second}: b\n{text}", 2


def _equal_keys(text: str, draw: st.DrawFn) -> str:
    return equal_keys_text(text, *draw(st.sampled_from(EQUAL_KEYS)))[0]


def _at_the_byte_limit(text: str, draw: st.DrawFn) -> str:
    """A long comment that makes the file exactly 1 MiB, or one byte more."""
    room = MAX_YAML_BYTES - len(text.encode("utf-8", "surrogatepass")) - 3
    return text + "\n# " + "x" * (room + draw(st.integers(0, 1))) + "\n" if room > 0 else text


YAML_TEXT: list[TextMutation] = [
    control_character,
    not_utf8,
    _duplicate_line,
    truncate,
    big_number,
    _hostile_tag,
    _equal_keys,
    _at_the_byte_limit,
    lambda text, draw: text + "\n" + BOMB + "\n",
    lambda text, draw: text + "\nloop: &loop\n  again: *loop\n",
    lambda text, draw: text + "\nundefined: *nowhere\n",
    lambda text, draw: text + "\ndeep: " + "[" * draw(st.integers(60, 3000)) + "\n",
    lambda text, draw: text.replace("kind: Experiment", "kind: Experiment\nkind: Experiment", 1),
    lambda text, draw: text.replace(": ", ": !!int ", 1),
    lambda text, draw: "\ufeff" + text,
]


@st.composite
def experiment_files(draw: st.DrawFn) -> tuple[str, str]:
    """(corpus name, file text) of one mutated experiment."""
    name, text = draw(st.sampled_from(experiment_texts()))
    if draw(st.booleans()):
        data = yaml.load(text, Loader=yaml.CSafeLoader)
        data = draw(mutated_data(data))
        # libyaml's emitter: PyYAML's own takes seconds over thousands of targets.
        text = yaml.dump(
            data, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True, width=10_000
        )
    for mutation in draw(st.lists(st.sampled_from(YAML_TEXT), max_size=2)):
        text = mutation(text, draw)
    return name, text
