"""The bundled Experiment schema and the ``validate[schema]`` verdict."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from pytest_experiment.core.schema import (
    SchemaUnavailable,
    bundled_schema,
    end_anchored,
    format_path,
    schema_from_crd,
    validate_source,
    violations,
)
from pytest_experiment.core.spec import Source, read_source
from pytest_experiment.core.verdict import Status

CRD_FILE = "crds/experiments.illm.io_experiments.yaml"

VALID = """\
apiVersion: experiments.illm.io/v1alpha1
kind: Experiment
metadata:
  generateName: demo-
  namespace: experiments
spec:
  targets:
    - name: app
      cluster:
        type: gke
        machineType: e2-standard-4
      components:
        - app: kv-store
          params:
            storageClass: premium-rwo
  metrics:
    - name: write_p99
      query: up
      unit: seconds
  workflow:
    template: demo-validation
    completion:
      mode: workflow
"""


def source(tmp_path: Path, text: str) -> Source:
    path = tmp_path / "demo" / "experiment.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return read_source(path)


def real_experiments(upstream: Path) -> list[Path]:
    return sorted((upstream / "experiments").glob("*/experiment.yaml"))


def crd_schema(upstream: Path) -> dict[str, Any]:
    return schema_from_crd(yaml.safe_load((upstream / CRD_FILE).read_text()))


# -- the bundled schema file -------------------------------------------------------------------


def test_bundled_schema_is_valid_draft_2020_12() -> None:
    schema = bundled_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def _nodes(node: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield path, node
    for key, child in node.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{key}")
    if isinstance(node.get("items"), Mapping):
        yield from _nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), Mapping):
        yield from _nodes(node["additionalProperties"], f"{path}{{*}}")


def test_bundled_spec_schema_is_kubernetes_structural() -> None:
    """properties.spec can be a CRD's schema: typed nodes, no refs or combinators, no false."""
    problems = []
    for path, node in _nodes(bundled_schema()["properties"]["spec"], "spec"):
        if "type" not in node:
            problems.append(f"{path}: no type")
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{path}: properties and additionalProperties together")
        if node.get("additionalProperties") is False:
            problems.append(f"{path}: additionalProperties: false")
        problems.extend(
            f"{path}: {word}" for word in ("$ref", "oneOf", "anyOf", "allOf", "not") if word in node
        )
    assert problems == []


def test_bundled_schema_knows_every_field_of_the_real_crd(upstream: Path) -> None:
    """Otherwise a field the operator accepts would be reported as unknown offline."""
    ours = {path for path, _ in _nodes(bundled_schema()["properties"]["spec"], "spec")}
    theirs = {path for path, _ in _nodes(crd_schema(upstream)["properties"]["spec"], "spec")}
    assert sorted(theirs - ours) == []


def test_bundled_schema_is_loaded_once() -> None:
    assert bundled_schema() is bundled_schema()


# -- the real corpus ---------------------------------------------------------------------------


def test_every_real_experiment_is_valid_against_the_bundled_schema(upstream: Path) -> None:
    paths = real_experiments(upstream)
    assert len(paths) == 8
    verdicts = {p.parent.name: validate_source(read_source(p), bundled_schema()) for p in paths}
    assert {name: r.line for name, r in verdicts.items() if r.status is not Status.PASS} == {}
    assert verdicts["db-disk-comparison"].line == "[PASS] Schema: valid (the Experiment schema)"


def test_every_real_experiment_is_valid_against_the_real_crd(upstream: Path) -> None:
    schema = crd_schema(upstream)
    failing = {
        p.parent.name: validate_source(read_source(p), schema).details
        for p in real_experiments(upstream)
    }
    assert {name: details for name, details in failing.items() if details} == {}


def test_real_crd_schema_reports_a_typo_the_api_server_would_prune(
    upstream: Path, tmp_path: Path
) -> None:
    typo = VALID.replace("  metrics:\n", "  metircs:\n")
    result = validate_source(source(tmp_path, typo), crd_schema(upstream), origin="live CRD schema")
    assert result.status is Status.FAIL
    assert result.details == (
        "experiment.yaml:16: spec.metircs: unknown field (the API server would drop it "
        "silently); did you mean 'metrics'?",
    )
    assert result.summary == (
        "Schema: 1 violation(s) of live CRD schema, first experiment.yaml:16 spec.metircs"
    )


# -- violations, paths and lines ---------------------------------------------------------------


def test_valid_document_passes(tmp_path: Path) -> None:
    result = validate_source(source(tmp_path, VALID), bundled_schema(), origin="bundled schema")
    assert result.status is Status.PASS
    assert result.line == "[PASS] Schema: valid (bundled schema)"
    assert result.figures == {"violations": 0}


def test_every_violation_is_listed_with_path_and_line_sorted_by_line(tmp_path: Path) -> None:
    text = (
        VALID.replace("  generateName: demo-\n", "")
        .replace("type: gke", "type: aks")
        .replace("      query: up\n", "")
        .replace("- name: write_p99", "- name: Write-P99")
        .replace("storageClass: premium-rwo", "replicas: 2")
        .replace("    template: demo-validation\n", "")
    )
    result = validate_source(source(tmp_path, text), bundled_schema())
    assert result.status is Status.FAIL
    assert result.details == (
        "experiment.yaml:3: metadata: missing required field: one of 'generateName', 'name'",
        'experiment.yaml:9: spec.targets[0].cluster.type: "aks" is not one of "gke", "hub"',
        "experiment.yaml:14: spec.targets[0].components[0].params.replicas: expected string, "
        'found integer 2; quote it: "2"',
        "experiment.yaml:16: spec.metrics[0]: missing required field 'query'",
        'experiment.yaml:16: spec.metrics[0].name: "Write-P99" must match ^[a-z][a-z0-9_]*$',
        "experiment.yaml:18: spec.workflow: missing required field 'template'",
    )
    assert result.figures == {"violations": 6}
    assert result.summary.startswith("Schema: 6 violation(s) of the Experiment schema, first ")


def test_messages_do_not_dump_the_whole_instance(tmp_path: Path) -> None:
    text = VALID.replace("  targets:\n", "  targets: " + "x" * 500 + "\n  unused:\n")
    result = validate_source(source(tmp_path, text), bundled_schema())
    assert result.details[0].startswith("experiment.yaml:7: spec.targets: expected array, found")
    assert all(len(line) < 200 for line in result.details)


def test_unknown_fields_are_reported_at_every_depth_with_a_suggestion(tmp_path: Path) -> None:
    text = (
        VALID.replace("      unit: seconds\n", "      unit: seconds\n      typ: range\n")
        .replace("        machineType:", "        machinetype:")
        .replace("kind: Experiment\n", "kind: Experiment\nstatus: {}\n")
    )
    result = validate_source(source(tmp_path, text), bundled_schema())
    assert result.details == (
        "experiment.yaml:3: status: unknown field (the API server would drop it silently)",
        "experiment.yaml:12: spec.targets[0].cluster.machinetype: unknown field (the API "
        "server would drop it silently); did you mean 'machineType'?",
        "experiment.yaml:21: spec.metrics[0].typ: unknown field (the API server would drop it "
        "silently); did you mean 'type'?",
    )


def test_open_maps_and_metadata_accept_any_field(tmp_path: Path) -> None:
    text = VALID.replace(
        "  namespace: experiments\n",
        "  namespace: experiments\n  finalizers: [keep]\n  labels: {team: storage}\n",
    ).replace("storageClass: premium-rwo", 'anything.goes[0]: "yes"')
    assert validate_source(source(tmp_path, text), bundled_schema()).status is Status.PASS


def test_unknown_fields_inside_a_map_of_objects_are_reported(tmp_path: Path) -> None:
    text = VALID.replace(
        "spec:\n",
        "spec:\n  codeSnippets:\n    store:\n      name: Store\n      language: rust\n"
        "      path: src/store.rs\n      usedby: [store]\n",
    )
    result = validate_source(source(tmp_path, text), bundled_schema())
    assert result.details == (
        "experiment.yaml:12: spec.codeSnippets.store.usedby: unknown field (the API server "
        "would drop it silently); did you mean 'usedBy'?",
    )


def test_preserve_unknown_fields_and_the_unknown_check_switch(tmp_path: Path) -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "kind": {"type": "string"},
        },
    }
    doc = source(tmp_path, "kind: Experiment\nspec: {free: 1}\nextra: 1\n")
    assert violations(doc.data, schema) == [
        (("extra",), "unknown field (the API server would drop it silently)")
    ]
    assert violations(doc.data, schema, check_unknown=False) == []


def test_an_unusable_schema_is_not_blamed_on_the_file(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"kind": {"type": "string", "pattern": "("}}}
    result = validate_source(source(tmp_path, VALID), schema, origin="live CRD schema")
    assert result.status is Status.NA
    assert result.summary.startswith("Schema: not checked — live CRD schema is itself invalid")


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("spec", "metrics", 3, "name"), "spec.metrics[3].name"),
        (
            ("spec", "targets", 0, "components", 1, "params", "grafana.enabled"),
            'spec.targets[0].components[1].params["grafana.enabled"]',
        ),
        (("spec", "codeSnippets", "fsync-store"), "spec.codeSnippets.fsync-store"),
        ((), "(document)"),
    ],
)
def test_format_path(path: tuple[str | int, ...], text: str) -> None:
    assert format_path(path) == text


# -- schema_from_crd ---------------------------------------------------------------------------


def test_schema_from_real_crd_is_the_v1alpha1_openapi_schema(upstream: Path) -> None:
    schema = crd_schema(upstream)
    assert schema["type"] == "object"
    assert set(schema["properties"]) == {"apiVersion", "kind", "metadata", "spec", "status"}
    assert schema["properties"]["spec"]["required"] == ["targets", "workflow"]


@pytest.mark.parametrize(
    ("crd", "message"),
    [
        ({}, "CRD has no spec.versions"),
        ({"spec": {"versions": "v1alpha1"}}, "CRD has no spec.versions"),
        (
            {"spec": {"versions": [{"name": "v1"}, {"name": "v2"}]}},
            "CRD serves v1, v2, not v1alpha1",
        ),
        (
            {"spec": {"versions": [{"name": "v1alpha1", "schema": {}}]}},
            "CRD version v1alpha1 has no schema.openAPIV3Schema",
        ),
    ],
)
def test_schema_from_crd_names_what_is_missing(crd: dict[str, Any], message: str) -> None:
    with pytest.raises(SchemaUnavailable, match=f"^{message}$"):
        schema_from_crd(crd)


def test_schema_from_crd_picks_the_requested_version() -> None:
    crd = {
        "spec": {
            "versions": [
                {"name": "v1alpha1", "schema": {"openAPIV3Schema": {"type": "object"}}},
                {"name": "v1beta1", "schema": {"openAPIV3Schema": {"type": "string"}}},
            ]
        }
    }
    assert schema_from_crd(crd) == {"type": "object"}
    assert schema_from_crd(crd, version="v1beta1") == {"type": "string"}


def test_only_dollar_anchors_outside_classes_and_escapes_become_end_of_text() -> None:
    assert end_anchored("^[a-z]+$") == "^[a-z]+\\Z"
    assert end_anchored("^[$]x$") == "^[$]x\\Z"
    assert end_anchored(r"a\$$") == r"a\$\Z"
    # "]" first in a class (or after "^") is a member, so the "$" after it is too.
    assert end_anchored("[]$]$") == "[]$]\\Z"
    assert end_anchored("[^]$]$") == "[^]$]\\Z"
    assert end_anchored("[a]$]$") == "[a]\\Z]\\Z"


def described(schema: dict[str, Any], value: Any) -> str:
    (found,) = violations({"v": value}, {"properties": {"v": schema}}, check_unknown=False)
    return found[1]


def test_each_kind_of_violation_is_told_in_words_naming_the_value() -> None:
    assert described({"enum": ["a", "b"]}, "c") == '"c" is not one of "a", "b"'
    assert described({"const": "a"}, "c") == '"c" is not one of "a"'
    assert described({"maxLength": 2}, "abc") == '"abc" has 3 characters; maxLength is 2'
    assert described({"minLength": 4}, "abc") == '"abc" has 3 characters; minLength is 4'
    assert described({"maximum": 2}, 3) == "3 is out of range (maximum 2)"
    assert described({"minimum": 4}, 3) == "3 is out of range (minimum 4)"
    assert described({"exclusiveMaximum": 3}, 3) == "3 is out of range (exclusiveMaximum 3)"
    assert described({"exclusiveMinimum": 3}, 3) == "3 is out of range (exclusiveMinimum 3)"


def test_a_value_is_shown_whole_up_to_60_characters_then_cut() -> None:
    assert (
        described({"maxLength": 1}, "x" * 58) == f'"{"x" * 58}" has 58 characters; maxLength is 1'
    )
    cut = described({"maxLength": 1}, "x" * 59)
    assert cut == f'"{"x" * 58}… has 59 characters; maxLength is 1'


def test_a_message_of_an_unnamed_kind_is_kept_up_to_120_characters() -> None:
    assert described({"multipleOf": 7}, 3) == "3 is not a multiple of 7"
    fifty = 10**49 + 1  # a 70-character message: kept
    assert described({"multipleOf": 7}, fifty) == f"{fifty} is not a multiple of 7"
    assert described({"multipleOf": 7}, 10**200 + 1) == "fails multipleOf"
