"""Reading experiment files: every unreadable file is a SpecError naming file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_experiment.base.errors import SpecError
from pytest_experiment.core.spec import Experiment, is_experiment, load_experiment, read_source

MINIMAL = """\
apiVersion: experiments.illm.io/v1alpha1
kind: Experiment
metadata:
  generateName: demo-
  namespace: experiments
spec:
  targets:
    - name: app
      cluster: {type: gke, machineType: c3-standard-8, preemptible: true}
      components:
        - app: nginx
  metrics:
    - {name: req_p99, query: "q", type: instant, unit: seconds, group: latency}
    - {name: cpu, query: "q", group: resources}
    - {name: mem, query: "q", group: resources}
  workflow:
    template: demo-validation
    completion: {mode: workflow}
"""


def write(tmp_path: Path, text: str | bytes, name: str = "experiment.yaml") -> Path:
    path = tmp_path / "demo" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_model_reads_fields(tmp_path: Path) -> None:
    experiment = load_experiment(write(tmp_path, MINIMAL))
    assert experiment is not None
    assert experiment.name == "demo"
    assert experiment.generate_name == "demo-"
    assert experiment.prefix == "demo"
    assert experiment.groups == ("latency", "resources")
    assert experiment.targets[0].machine_family == "c3"
    assert experiment.targets[0].preemptible is True
    assert [c.app for _, c in experiment.components()] == ["nginx"]
    assert experiment.workflow_template == "demo-validation"
    assert experiment.completion_mode == "workflow"


def test_line_numbers_point_into_the_file(tmp_path: Path) -> None:
    source = read_source(write(tmp_path, MINIMAL))
    assert source.line_of(("spec", "metrics", 1, "name")) == 14
    assert source.line_of(("spec", "workflow", "template")) == 17
    # Absent paths fall back to their nearest ancestor.
    assert source.line_of(("spec", "workflow", "nope", 3)) == 16


def test_node_tree_is_not_kept_after_reading(tmp_path: Path) -> None:
    # A thousand files' node trees kept alive slow every garbage collection of a
    # collection run; the tree is composed again only when a line is asked for.
    source = read_source(write(tmp_path, MINIMAL))
    assert "root" not in vars(source)
    assert source.line_of(("spec", "metrics", 2, "name")) == 15
    assert source.line_of(("spec", "workflow", "template")) == 17
    assert "root" in vars(source)


def test_wrong_types_are_lenient(tmp_path: Path) -> None:
    text = "kind: Experiment\nmetadata: [1]\nspec:\n  targets: 7\n  metrics: [3, {name: x}]\n"
    experiment = load_experiment(write(tmp_path, text))
    assert experiment is not None
    assert experiment.generate_name == ""
    assert experiment.targets == ()
    assert [m.name for m in experiment.metrics] == ["x"]


def test_a_target_that_is_not_a_mapping_is_skipped_and_the_next_one_read(tmp_path: Path) -> None:
    text = "kind: Experiment\nspec:\n  targets: [7, {name: app}]\n"
    experiment = load_experiment(write(tmp_path, text))
    assert experiment is not None
    assert [(t.name, t.index) for t in experiment.targets] == [("app", 1)]


def test_the_kind_is_read_as_written(tmp_path: Path) -> None:
    experiment = load_experiment(write(tmp_path, MINIMAL))
    assert experiment is not None
    assert experiment.kind == "Experiment"


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("kind: Experiment\nspec:\n  targets: [\n", "YAML error", 4),
        ("kind: Experiment\nspec:\n\tbad: tab\n", "YAML error", 3),
        ("- just\n- a list\n", "expected a mapping at the top level, found array", 1),
        ("null\n", "expected a mapping at the top level, found null", 1),
        ("3.5\n", "expected a mapping at the top level, found number", 1),
        ("metadata: {}\nspec: {}\n", "missing 'kind'", 1),
        ("kind: Experiment\n---\nkind: Experiment\n", "expected one YAML document, found 2", 1),
        ("", "expected one YAML document, found 0", 1),
    ],
)
def test_unreadable_files_name_file_and_line(
    tmp_path: Path, text: str, message: str, line: int
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        read_source(path)
    assert message in str(info.value)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_non_utf8_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, b"kind: Experiment\nspec:\n  title: \xff\xfe\n")
    with pytest.raises(SpecError, match=r"experiment.yaml:3: not UTF-8 \(byte 0xff\)"):
        read_source(path)


def bomb(levels: int, fan_out: int = 10) -> str:
    """A billion-laughs document: ``fan_out ** levels`` leaves from a few hundred bytes."""
    lines = ["kind: Experiment", f"a0: &a0 [{', '.join('x' * fan_out)}]"]
    lines += [
        f"a{i}: &a{i} [{', '.join(f'*a{i - 1}' for _ in range(fan_out))}]" for i in range(1, levels)
    ]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [6, 8, 9])
def test_alias_bomb_is_refused_while_reading(tmp_path: Path, levels: int) -> None:
    # 10**6, 10**8 and 10**9 leaves; the check is per distinct node, so its cost
    # does not grow with the expansion (measured in tests/test_limits_process.py).
    path = write(tmp_path, bomb(levels))
    assert len(path.read_bytes()) < 2048
    with pytest.raises(SpecError, match="expands to more than 200000 nodes") as info:
        read_source(path)
    # The first anchor whose expansion passes the limit: a5 (10**6 leaves) is line 7.
    assert info.value.line == 7


def test_recursive_alias_is_refused_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "kind: Experiment\nspec:\n  storage: &s\n    again: *s\n")
    with pytest.raises(SpecError, match="recursive YAML alias: the anchor here") as info:
        read_source(path)
    assert info.value.line == 3


def test_huge_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "kind: Experiment\n# " + "x" * (1 << 20) + "\n")
    with pytest.raises(SpecError, match="more than the 1048576 allowed") as info:
        read_source(path)
    assert info.value.line == 1


@pytest.mark.parametrize("anchor", ["", "anchored: &a 1\n"])
def test_deep_nesting_is_refused_while_reading_with_the_line(tmp_path: Path, anchor: str) -> None:
    # With an anchor anywhere the document may be a graph, checked another way: same answer.
    path = write(tmp_path, "kind: Experiment\nspec: " + "[" * 100 + "]" * 100 + "\n" + anchor)
    with pytest.raises(SpecError, match="nesting deeper than 64 levels"):
        read_source(path)
    block = "kind: Experiment\nspec:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 80))
    block += anchor
    with pytest.raises(SpecError, match="nesting deeper than 64 levels") as info:
        read_source(write(tmp_path, block))
    # spec is level 1, k1 level 2 … the value under k64 (line 67) is level 65.
    assert info.value.line == 67


def test_long_integers_are_refused_with_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "kind: Experiment\nspec:\n  replicas: " + "9" * 5001 + "\n")
    with pytest.raises(SpecError, match="integer of 5001 characters") as info:
        read_source(path)
    assert info.value.line == 3


def test_duplicate_keys_name_both_lines(tmp_path: Path) -> None:
    text = "kind: Experiment\nspec:\n  title: a\n  series: b\n  title: c\n"
    with pytest.raises(SpecError) as info:
        read_source(write(tmp_path, text))
    assert info.value.line == 5
    assert "duplicate key 'title' (first at line 3)" in str(info.value)


def test_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    text = "kind: Experiment\nbase: &b {x: 1}\nspec:\n  <<: *b\n  x: 2\n"
    assert read_source(write(tmp_path, text)).data["spec"] == {"x": 2}


def test_two_merge_keys_in_one_mapping_are_not_duplicates(tmp_path: Path) -> None:
    text = "kind: Experiment\na: &a {x: 1}\nb: &b {y: 2}\nspec:\n  <<: *a\n  <<: *b\n"
    assert read_source(write(tmp_path, text)).data["spec"] == {"x": 1, "y": 2}


def test_a_refusal_keeps_no_traceback_on_its_causes(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        read_source(write(tmp_path, "kind: Experiment\nspec:\n  targets: [\n"))
    link: BaseException | None = info.value.__cause__ or info.value.__context__
    assert link is not None
    while link is not None:
        assert link.__traceback__ is None
        link = link.__cause__ or link.__context__


def test_control_characters_name_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "kind: Experiment\nspec:\n  title: bell\x07\n")
    with pytest.raises(SpecError) as info:
        read_source(path)
    assert info.value.line == 3
    assert "U+0007" in str(info.value)
    assert "<unicode string>" not in str(info.value)
    assert "position" not in str(info.value)


def test_a_value_its_tag_cannot_take_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "kind: Experiment\nspec:\n  replicas: !!int many\n")
    with pytest.raises(SpecError, match="cannot read this value") as info:
        read_source(path)
    assert info.value.line == 3


# Each crashed collection with a raw TypeError, KeyError or IndexError naming the
# directory: the session was interrupted, the good experiment beside it never ran.
HOSTILE_TAGS = [
    ("!!omap [[a]: 1]", 3, "found a key that is a list or a mapping"),
    ("!!omap [{a: 1}, {{b: 1}: 2}]", 3, "found a key that is a list or a mapping"),
    ("!!pairs [[a]: 1]", 3, "found a key that is a list or a mapping"),
    ("!!pairs [{a: 1}: 2]", 3, "found a key that is a list or a mapping"),
    ("!!bool maybe", 3, "cannot read this value: 'maybe' is not a valid !!bool"),
    ("!!int ''", 3, "cannot read this value: '' is not a valid !!int"),
    ("!!float ''", 3, "cannot read this value: '' is not a valid !!float"),
    ("!!int '-'", 3, "cannot read this value: '-' is not a valid !!int"),
    ("[!!int -]", 3, "cannot read this value: '-' is not a valid !!int"),
    ("!!int _", 3, "cannot read this value: '_' is not a valid !!int"),
    ("!!int", 3, "cannot read this value: '' is not a valid !!int"),
    ("!!float", 3, "cannot read this value: '' is not a valid !!float"),
    ("!!int many", 3, "cannot read this value: 'many' is not a valid !!int"),
    ("!!omap 3", 3, "expected a sequence of pairs, but found scalar"),
    ("!!omap [{a: 1, b: 2}]", 3, "expected a mapping of one pair, but found 2 pairs"),
]


@pytest.mark.parametrize(("value", "line", "message"), HOSTILE_TAGS)
def test_a_value_its_tag_cannot_take_is_an_error_with_the_line(
    tmp_path: Path, value: str, line: int, message: str
) -> None:
    path = write(tmp_path, f"kind: Experiment\nspec:\n  replicas: {value}\nmetadata: {{}}\n")
    with pytest.raises(SpecError) as info:
        read_source(path)
    assert str(info.value) == f"{path}:{line}: YAML error: {message}"


@pytest.mark.parametrize(
    ("first", "second", "read_as"),
    [
        ("1", "0x1", "1"),
        ("8", "010", "8"),
        ("1.0", "1.00", "1.0"),
        ("true", "True", "true"),
        ("yes", "true", "true"),
        ("null", "~", "null"),
        ("'null'", "~", "null"),
        ("10", "+1_0", "10"),
    ],
)
def test_keys_yaml_reads_as_equal_are_duplicates_with_both_lines(
    tmp_path: Path, first: str, second: str, read_as: str
) -> None:
    """kubectl sends JSON, where both are the same key: one value would be lost."""
    text = f"kind: Experiment\nspec:\n  labels:\n    {first}: a\n    title: t\n    {second}: b\n"
    with pytest.raises(SpecError) as info:
        read_source(write(tmp_path, text))
    assert info.value.line == 6
    assert f"duplicate key {second!r} (first at line 4 as {first.strip(chr(39))!r}; " in str(
        info.value
    )
    assert f"both read as {read_as!r})" in str(info.value)


def test_merged_keys_may_still_be_overridden_once_read(tmp_path: Path) -> None:
    text = "kind: Experiment\nbase: &b {1: x, true: y}\nspec:\n  <<: *b\n  0x1: z\n  True: w\n"
    assert read_source(write(tmp_path, text)).data["spec"] == {"1": "z", "true": "w"}


def test_values_are_what_json_can_hold(tmp_path: Path) -> None:
    text = (
        "kind: Experiment\n"
        "spec:\n"
        "  date: 2024-01-01\n"
        "  blob: !!binary aGVsbG8=\n"
        "  set: !!set {a, b}\n"
        "  ordered: !!omap [a: 1, b: 2]\n"
        "  keys: {1: one, true: yes, ~: nothing}\n"
    )
    spec = read_source(write(tmp_path, text)).data["spec"]
    assert spec == {
        "date": "2024-01-01",
        "blob": "aGVsbG8=",
        "set": {"a": None, "b": None},
        "ordered": [{"a": 1}, {"b": 2}],
        "keys": {"1": "one", "true": True, "null": "nothing"},
    }


@pytest.mark.parametrize(
    ("data", "ours"),
    [
        ({"kind": "Experiment"}, True),
        ({"apiVersion": "experiments.illm.io/v1alpha1", "kind": "Experment"}, True),
        ({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow"}, False),
        ({"kind": "WorkflowTemplate"}, False),
    ],
)
def test_which_documents_are_ours(data: dict[str, str], ours: bool) -> None:
    assert is_experiment(data) is ours


def test_other_tools_files_are_not_experiments(tmp_path: Path) -> None:
    path = write(tmp_path, "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n", "workflow.yaml")
    assert load_experiment(path) is None


def test_every_real_experiment_reads(upstream: Path) -> None:
    loaded = {}
    for path in sorted(upstream.glob("experiments/*/experiment.yaml")):
        experiment = load_experiment(path)
        assert isinstance(experiment, Experiment), path
        loaded[experiment.name] = experiment
    assert loaded["db-fsync-vs-memory"].generate_name == "db-fvm-"
    assert len(loaded["db-fsync-vs-memory"].metrics) == 26
    assert loaded["db-disk-comparison"].series == "cloud-database-internals"
    for path in upstream.glob("experiments/*/workflow/experiment.yaml"):
        assert load_experiment(path) is None, path


def test_a_flat_document_of_too_many_nodes_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "kind: Experiment\nspec:\n  many: [" + "1, " * 250_000 + "]\n")
    with pytest.raises(SpecError, match="more than 200000 nodes") as info:
        read_source(path)
    assert info.value.line == 3
