"""The ``validate[schema]`` rule: an Experiment document checked with jsonschema.

The schema is the project's own (``schemas/experiment.schema.json``) or, when a
cluster is reachable, the ``openAPIV3Schema`` of the live CRD. Both are
Kubernetes *structural* schemas, so neither can say ``additionalProperties:
false`` under ``spec``: the API server would accept a typo such as
``spec.metircs`` and prune it without a word. ``validate_source`` therefore adds
the check the API server does not make and reports every field that pruning
would drop, with a did-you-mean.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError, ValidationError

from pytest_experiment.base.errors import ExperimentError
from pytest_experiment.core.limits import json_type_name
from pytest_experiment.core.verdict import CheckResult, Status
from pytest_experiment.core.yaml_source import Source

BUNDLED_SCHEMA = Path(__file__).parents[1] / "schemas" / "experiment.schema.json"
CRD_VERSION = "v1alpha1"
PRESERVE_UNKNOWN = "x-kubernetes-preserve-unknown-fields"
_TITLE = "Schema"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_VALUE_CHARS = 60
# metadata is ObjectMeta, validated by the API server itself: fields this
# schema does not list there (finalizers, ownerReferences, ...) are legitimate.
_UNPRUNED_ROOT_FIELDS = frozenset({"metadata"})


class SchemaUnavailable(ExperimentError):
    """A CRD object does not carry a usable ``openAPIV3Schema``."""


@lru_cache(maxsize=1)
def bundled_schema() -> dict[str, Any]:
    """The project's own Experiment schema. Shared and cached: do not mutate it."""
    schema: dict[str, Any] = json.loads(BUNDLED_SCHEMA.read_text(encoding="utf-8"))
    return schema


def schema_from_crd(crd: Mapping[str, Any], *, version: str = CRD_VERSION) -> dict[str, Any]:
    """The ``openAPIV3Schema`` of ``version`` in a CRD object as the API returns it (camelCase).

    Raises ``SchemaUnavailable`` naming what is missing, so a caller can fall
    back to ``bundled_schema()`` and say why.
    """
    spec = crd.get("spec")
    versions = spec.get("versions") if isinstance(spec, Mapping) else None
    if not isinstance(versions, list):
        raise SchemaUnavailable("CRD has no spec.versions")
    for entry in versions:
        if isinstance(entry, Mapping) and entry.get("name") == version:
            wrapper = entry.get("schema")
            schema = wrapper.get("openAPIV3Schema") if isinstance(wrapper, Mapping) else None
            if not isinstance(schema, Mapping):
                raise SchemaUnavailable(f"CRD version {version} has no schema.openAPIV3Schema")
            return dict(schema)
    served = [str(v.get("name")) for v in versions if isinstance(v, Mapping)]
    raise SchemaUnavailable(f"CRD serves {', '.join(served) or 'no versions'}, not {version}")


def format_path(path: Sequence[Any]) -> str:
    """``("spec", "metrics", 3, "name")`` → ``spec.metrics[3].name``.

    Keys that are not plain identifiers (Helm params such as
    ``grafana.enabled``) are bracketed so the path stays unambiguous.
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and _IDENTIFIER.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(str(part))}]"
    return out or "(document)"


def _short(value: Any) -> str:
    try:
        text = json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):  # keys YAML allows but JSON does not
        text = repr(value)
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"


_type_name = json_type_name


def _describe(error: ValidationError) -> str:
    """jsonschema's message without the instance dump it embeds (a whole spec, at times)."""
    kind = error.validator
    expected: Any = error.validator_value
    value: Any = error.instance
    if kind == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
        found = f"expected {wanted}, found {_type_name(value)} {_short(value)}"
        if expected == "string" and isinstance(value, bool | int | float):
            # YAML reads 2 and true as numbers and booleans; the field wants text.
            return f'{found}; quote it: "{_short(value)}"'
        return found
    if kind == "required":
        missing = [name for name in expected if isinstance(value, dict) and name not in value]
        return f"missing required field {', '.join(repr(m) for m in missing)}"
    if kind in ("enum", "const"):
        allowed = expected if kind == "enum" else [expected]
        return f"{_short(value)} is not one of {', '.join(_short(a) for a in allowed)}"
    if kind == "pattern":
        return f"{_short(value)} must match {expected}"
    if kind in ("minItems", "maxItems"):
        return f"has {len(value)} item(s); {kind} is {expected}"
    if kind in ("minLength", "maxLength"):
        return f"{_short(value)} has {len(value)} characters; {kind} is {expected}"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"{_short(value)} is out of range ({kind} {expected})"
    if kind in ("anyOf", "oneOf") and error.context:
        if all(sub.validator == "required" for sub in error.context):
            names: dict[str, None] = {}
            for sub in error.context:
                required: Any = sub.validator_value
                names.update(dict.fromkeys(repr(n) for n in required))
            return f"missing required field: one of {', '.join(names)}"
        return "needs one of: " + "; or ".join(dict.fromkeys(_describe(s) for s in error.context))
    return error.message if len(error.message) <= 2 * _VALUE_CHARS else f"fails {kind}"


def _pruned(
    value: Any, schema: Mapping[str, Any], path: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Fields the API server would prune from ``value`` under structural ``schema``."""
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for index, item in enumerate(value):
                yield from _pruned(item, items, (*path, index))
        return
    if not isinstance(value, dict):
        return
    properties = schema.get("properties")
    known = properties if isinstance(properties, Mapping) else {}
    extra = schema.get("additionalProperties")
    open_ended = extra is True or isinstance(extra, Mapping) or schema.get(PRESERVE_UNKNOWN)
    for key, child in value.items():
        sub = known.get(key)
        if isinstance(sub, Mapping):
            if not (path == () and key in _UNPRUNED_ROOT_FIELDS):
                yield from _pruned(child, sub, (*path, key))
        elif isinstance(extra, Mapping):
            yield from _pruned(child, extra, (*path, key))
        elif not open_ended and properties is not None:
            close = difflib.get_close_matches(str(key), [str(k) for k in known], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            yield (*path, key), f"unknown field (the API server would drop it silently){hint}"


def end_anchored(pattern: str) -> str:
    """``pattern`` with every ``$`` anchor made ``\\Z``.

    JSON Schema patterns are ECMA-262 regexes, and the API server evaluates
    them with Go's; in both ``$`` matches only at the very end. Python's ``$``
    also matches before a trailing newline, so ``"hello-app-\\n"`` would pass
    ``^[a-z0-9-]+$`` here and be refused on apply.
    """
    out: list[str] = []
    escaped = in_class = False
    class_start = -1
    for index, char in enumerate(pattern):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            # "]" right after "[" or "[^" is a literal member, not the end.
            opening = index == class_start or (index == class_start + 1 and out[-1] == "^")
            in_class = char != "]" or opening
        elif char == "[":
            in_class, class_start = True, index + 1
        elif char == "$":
            out.append("\\Z")
            continue
        out.append(char)
    return "".join(out)


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(end_anchored(pattern))


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _compiled(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@lru_cache(maxsize=8)
def _validator_class(cls: Any) -> Any:
    return jsonschema.validators.extend(cls, {"pattern": _pattern})  # type: ignore[no-untyped-call]


def violations(
    data: Any, schema: Mapping[str, Any], *, check_unknown: bool = True
) -> list[tuple[tuple[str | int, ...], str]]:
    """Every violation of ``schema`` in ``data`` as (node path, message).

    Raises ``SchemaError`` (or ``re.error`` for a bad pattern) when the schema
    itself is unusable.
    """
    base = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls = _validator_class(base)
    found = [
        (tuple(error.absolute_path), _describe(error)) for error in cls(schema).iter_errors(data)
    ]
    if check_unknown:
        found.extend(_pruned(data, schema, ()))
    return found


def validate_source(
    source: Source,
    schema: Mapping[str, Any],
    *,
    origin: str = "the Experiment schema",
    check_unknown: bool = True,
) -> CheckResult:
    """The ``validate[schema]`` verdict: PASS, or FAIL listing every violation by file line.

    ``origin`` names the schema in the summary (the bundled file or the live CRD),
    so a user can tell which one a surprising verdict came from.
    """
    try:
        found = violations(source.data, schema, check_unknown=check_unknown)
    except (SchemaError, re.error) as err:
        # Not the file's fault, and the API server validates on apply anyway;
        # a FAIL here would block every experiment on a broken CRD.
        reason = getattr(err, "message", None) or str(err)
        return CheckResult(
            Status.NA, f"{_TITLE}: not checked — {origin} is itself invalid: {reason}"
        )
    if not found:
        return CheckResult(Status.PASS, f"{_TITLE}: valid ({origin})", figures={"violations": 0})
    name = source.path.name
    located = sorted(
        {(source.line_of(path), format_path(path), message) for path, message in found}
    )
    details = tuple(f"{name}:{line}: {where}: {message}" for line, where, message in located)
    line, where, _ = located[0]
    return CheckResult(
        Status.FAIL,
        f"{_TITLE}: {len(located)} violation(s) of {origin}, first {name}:{line} {where}",
        details,
        {"violations": len(located)},
    )
