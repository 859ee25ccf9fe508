"""Hypothesis strategies for summaries: the real published results, mutated.

The text mutations of experiment files that apply to JSON (control characters,
bytes that are not UTF-8, truncation, bad numbers), deep nesting around the
limit, and the shapes summaries take in the wild or by accident: ``name``
removed or not a string, ``metrics`` without ``queries``, queries whose points
are numbers, decimal strings, NaN, nulls or pairs, verdict words spelled every
way (case, spaces, look-alike letters), and (``fuzz`` profile) a million values.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from fuzzing import (
    EXAMPLES,
    PROFILE_NAME,
    TextMutation,
    big_number,
    control_character,
    mutated_data,
    not_utf8,
    truncate,
)
from hypothesis import strategies as st

from conftest import upstream_dir
from pytest_experiment.core.limits import MAX_DEPTH, MAX_JSON_VALUES

VERDICT_WORDS = ["validated", "invalidated", "confirmed", "rejected", "insufficient"]
VERDICT_SPELLINGS: list[Any] = [
    *VERDICT_WORDS,
    "Validated",
    " VALIDATED ",
    "invalidated\n",
    "Confirmed",
    "rejected\t",
    "INSUFFICIENT",
    " Insufficient ",
    "\u00a0confirmed\u2003",
    "\x1cvalidated\x1f",
    "validated\x00",
    "insufficient.",
    "in sufficient",
    "ınsufficient",  # dotless i
    "inſufficient",  # long s
    "İnsufficient",
    "valid",
    "",
    "  ",
    None,
    0,
    True,
    ["validated"],
    {"verdict": "validated"},
]
POINT_VALUES: list[Any] = [
    0.25,
    0,
    1e-5,
    "0.25",
    " 1e3 ",
    "1e999",
    "-.5",
    "1_0",
    "NaN",
    "Infinity",
    float("nan"),
    None,
    True,
    "",
    "fast",
    {"v": 1},
    10**400,
]


@cache
def summary_texts() -> tuple[str, ...]:
    roots = [EXAMPLES / "site" / "data"]
    upstream = upstream_dir()
    if upstream is not None:
        roots.append(upstream / "site-data")
    return tuple(
        p.read_text() for root in roots for p in sorted(root.glob("*.json")) if "." not in p.stem
    )


JSON_TEXT: list[TextMutation] = [
    control_character,
    not_utf8,
    truncate,
    big_number,
    lambda text, draw: "[" * draw(st.integers(60, 100_000)) + text,
    lambda text, draw: "[" * draw(st.integers(MAX_DEPTH - 1, MAX_DEPTH + 1)) + text,
    lambda text, draw: text.replace("{", '{"x": Infinity, ', 1),
]
if PROFILE_NAME != "ci":  # a million values: a second or two each
    JSON_TEXT.append(
        lambda text, draw: text.replace(
            "{", '{"many": [' + ",".join(["{}"] * (MAX_JSON_VALUES - 2)) + "], ", 1
        )
    )


# -- summaries ----------------------------------------------------------------------------------


def _section(summary: dict[str, Any], key: str) -> dict[str, Any]:
    """``summary[key]``, a copy of its own to change (a new one when it is not an object)."""
    section = summary.get(key)
    section = summary[key] = dict(section) if isinstance(section, dict) else {}
    return section


@st.composite
def summary_shapes(draw: st.DrawFn, base: Any) -> Any:
    """``base`` with the shapes summaries take by accident: no name, metrics without
    queries, points of every kind, verdicts spelled every way. Copied only along
    what changes: the corpus' summaries are up to 280 KB."""
    if not isinstance(base, dict):
        return base
    summary = dict(base)
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["name", "queries", "points", "machine", "ai", "criteria"]))
        if kind == "name":
            if draw(st.booleans()):
                summary.pop("name", None)
            else:
                summary["name"] = draw(st.sampled_from([None, 7, "", ["web-lat-x"], {}]))
        elif kind == "queries":
            metrics = draw(st.sampled_from(["absent", "null", "no-queries", "null-queries", "{}"]))
            if metrics == "absent":
                summary.pop("metrics", None)
            elif metrics == "null":
                summary["metrics"] = None
            elif metrics == "{}":
                _section(summary, "metrics")["queries"] = {}
            elif metrics == "no-queries":
                _section(summary, "metrics").pop("queries", None)
            else:
                _section(summary, "metrics")["queries"] = None
        elif kind == "points":
            queries = _section(_section(summary, "metrics"), "queries")
            if queries:
                name = draw(st.sampled_from(sorted(queries)))
                points = draw(
                    st.lists(
                        st.sampled_from(POINT_VALUES).map(lambda v: {"value": v})
                        | st.sampled_from(POINT_VALUES).map(lambda v: [1700000000, v])
                        | st.sampled_from([{}, [], "0.5", None, [1, 2, 3]]),
                        max_size=4,
                    )
                )
                entry: dict[str, Any] = {"data": points}
                if draw(st.booleans()):
                    entry["error"] = draw(st.sampled_from(["", "timeout", None, 0, ["x"]]))
                queries[name] = entry
        elif kind == "machine":
            hypothesis = _section(summary, "hypothesis")
            hypothesis["machineVerdict"] = draw(st.sampled_from(VERDICT_SPELLINGS))
        elif kind == "ai":
            _section(summary, "analysis")["hypothesisVerdict"] = draw(
                st.sampled_from(VERDICT_SPELLINGS)
            )
        else:
            _section(summary, "hypothesis")["successCriteria"] = draw(
                st.sampled_from([[], None, [{"passed": None}], [{"passed": True}], "x"])
            )
    return summary


@cache
def summary_data() -> tuple[Any, ...]:
    """The corpus' summaries, parsed once (never changed: every mutation copies)."""
    return tuple(json.loads(text) for text in summary_texts())


@st.composite
def summary_documents(draw: st.DrawFn) -> Any:
    """One parsed, mutated summary (always JSON-shaped, not always an object)."""
    data = draw(summary_shapes(draw(st.sampled_from(summary_data()))))
    if draw(st.booleans()):
        data = draw(mutated_data(data))
    return data


@st.composite
def summary_files(draw: st.DrawFn) -> str:
    index = draw(st.integers(0, len(summary_texts()) - 1))
    text = summary_texts()[index]
    if draw(st.booleans()):
        data = draw(summary_shapes(summary_data()[index]))
        if draw(st.booleans()):
            data = draw(mutated_data(data))
        text = json.dumps(data, indent=1)
    for mutation in draw(st.lists(st.sampled_from(JSON_TEXT), max_size=2)):
        text = mutation(text, draw)
    return text
