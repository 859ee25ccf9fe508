"""The JSON reader's limits: values, bytes, depth and integers, each one error with its line."""

from __future__ import annotations

import json

import pytest
from hostile_files import empties_summary

from pytest_experiment.core.limits import (
    MAX_DEPTH,
    MAX_INT_DIGITS,
    MAX_JSON_VALUES,
    LimitError,
    json_problem,
    json_type_name,
    parse_json,
)


def test_a_summary_of_more_values_than_the_limit_is_refused_before_parsing() -> None:
    """32 MiB of ``{}`` is 11 million objects: 1.6 GB once parsed and 50 s of checks."""
    accepted = parse_json(empties_summary(MAX_JSON_VALUES))
    assert len(accepted["metrics"]["queries"]["request_p99"]["data"]) == MAX_JSON_VALUES - 8
    with pytest.raises(LimitError) as info:
        parse_json(empties_summary(MAX_JSON_VALUES + 1))
    assert str(info.value) == f"{MAX_JSON_VALUES + 1} values, more than the 1000000 allowed"
    assert info.value.line == 1
    with pytest.raises(LimitError, match=r"^11184008 values, more than the 1000000 allowed$"):
        parse_json(empties_summary(11_184_008))


@pytest.mark.parametrize("empty", ["[ ]", "{\n}", '""'])
def test_values_are_counted_exactly_whatever_their_shape(empty: str) -> None:
    document = "[" + ", ".join([empty] * (MAX_JSON_VALUES - 1)) + "]"
    assert len(parse_json(document.encode())) == MAX_JSON_VALUES - 1
    with pytest.raises(LimitError, match=f"^{MAX_JSON_VALUES + 1} values, "):
        parse_json(("[" + ", ".join([empty] * MAX_JSON_VALUES) + "]").encode())


def test_commas_and_brackets_inside_strings_are_not_values() -> None:
    text = ",[{" * (MAX_JSON_VALUES // 2) + '\\"]}'
    document = json.dumps({"name": "web-lat-aaaaa", "analysis": {"abstract": text}})
    assert parse_json(document.encode())["analysis"]["abstract"] == text


def test_json_types_are_named_as_json_schema_names_them() -> None:
    values: tuple[object, ...] = (None, True, 1, 1.5, "x", [1], (1,), {})
    assert [json_type_name(v) for v in values] == [
        "null",
        "boolean",
        "integer",
        "number",
        "string",
        "array",
        "array",
        "object",
    ]


def test_nesting_one_level_past_the_limit_is_refused_at_its_line() -> None:
    fine = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert parse_json(fine.encode()) is not None
    deep = "[\n" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    with pytest.raises(LimitError) as refused:
        parse_json(deep.encode())
    assert refused.value.line == MAX_DEPTH + 1


def test_any_other_reading_error_is_told_in_its_own_words_without_a_line() -> None:
    assert json_problem(ValueError("odd")) == ("odd", None)


def test_an_integer_of_the_maximum_digits_is_read_and_one_more_digit_is_refused() -> None:
    assert parse_json(("-" + "9" * MAX_INT_DIGITS).encode()) == -int("9" * MAX_INT_DIGITS)
    with pytest.raises(LimitError, match=f"an integer of {MAX_INT_DIGITS + 1} digits"):
        parse_json(("[\n" + "9" * (MAX_INT_DIGITS + 1) + "]").encode())


def test_the_line_of_too_deep_nesting_is_found_after_a_closed_sibling_and_a_string() -> None:
    # A first child nested to the limit and closed, a string, then a second child one
    # level deeper than the limit, one bracket a line: the refusal names that bracket.
    first = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    second = "[\n" * MAX_DEPTH + "]" * MAX_DEPTH
    text = f'[{first}, "s",\n{second}]'
    with pytest.raises(LimitError) as refused:
        parse_json(text.encode())
    assert refused.value.line == MAX_DEPTH + 1
