"""Hypothesis fuzzing from the real corpus: mutated experiments and summaries, every class
of hostile input (type swaps, deletions, huge and deep values, control characters,
bytes that are not UTF-8, marker-name tags, duplicate keys, aliases, bad numbers,
truncation).

Properties:

* reading never raises anything but a ``SpecError`` naming file and line;
* no rule or check ever ends in ``rule error``/``check error``;
* collection (pytester, in process) never ends in an INTERNALERROR or a raw
  traceback, every collection error names file and line, and one bad
  experiment or summary never changes another experiment's verdicts.

Profiles: ``ci`` (the default, derandomized, bounded for CI) and ``fuzz`` (``make
fuzz``: many more examples, random), chosen with ``HYPOTHESIS_PROFILE``.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conftest import ROOT, upstream_dir
from pytest_experiment.base.errors import SpecError
from pytest_experiment.core.catalog import load_catalogue
from pytest_experiment.core.checks import CheckInput, run_checks
from pytest_experiment.core.intent import build_intent
from pytest_experiment.core.limits import LimitError, parse_json
from pytest_experiment.core.rules import RuleContext, run_rules
from pytest_experiment.core.spec import Experiment, is_experiment, read_source
from pytest_experiment.plugin.markers import BUILTIN, marker_name

# A limit that stops holding makes an example run for minutes (an alias bomb
# expanded): fail then, instead of holding CI until its own timeout.
pytestmark = pytest.mark.timeout(
    300 if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci" else 3600
)

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
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
# A pytester run costs a few hundred milliseconds: fewer of those.
# Shrinking re-runs pytest hundreds of times: report the failing example as found.
COLLECTION = settings(
    PROFILE,
    max_examples=max(4, PROFILE.max_examples // 4),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)

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
def summary_texts() -> tuple[str, ...]:
    roots = [EXAMPLES / "site" / "data"]
    upstream = upstream_dir()
    if upstream is not None:
        roots.append(upstream / "site-data")
    return tuple(
        p.read_text() for root in roots for p in sorted(root.glob("*.json")) if "." not in p.stem
    )


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


@st.composite
def mutated_data(draw: st.DrawFn, base: Any) -> Any:
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(data, path)
        kind = draw(st.sampled_from(["swap", "delete", "deep", "tags", "wrap"]))
        if kind == "swap":
            parent[path[-1]] = draw(VALUES)
        elif kind == "delete":
            del parent[path[-1]]
        elif kind == "deep":
            parent[path[-1]] = _deep(draw(st.integers(30, 120)))
        elif kind == "wrap":
            parent[path[-1]] = [parent[path[-1]]]
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


def _control(text: str, draw: st.DrawFn) -> str:
    at = _at(text, draw)
    return text[:at] + draw(st.sampled_from(CONTROL)) + text[at:]


def _not_utf8(text: str, draw: st.DrawFn) -> str:
    # A lone surrogate: the files are written with "surrogatepass", bytes no UTF-8 decoder takes.
    at = _at(text, draw)
    return text[:at] + "\udcff" + text[at:]


def _duplicate_line(text: str, draw: st.DrawFn) -> str:
    lines = text.splitlines(keepends=True)
    at = draw(st.integers(0, max(0, len(lines) - 1)))
    return "".join(lines[: at + 1] + lines[at:])


def _truncate(text: str, draw: st.DrawFn) -> str:
    return text[: _at(text, draw)]


def _big_number(text: str, draw: st.DrawFn) -> str:
    number = draw(st.sampled_from(["9" * 5001, ".nan", "-.inf", "1e999", "0x" + "f" * 5000, "NaN"]))
    return re.sub(r"(?<![\w.-])\d+(?![\w.-])", number, text, count=draw(st.integers(1, 3)))


YAML_TEXT: list[TextMutation] = [
    _control,
    _not_utf8,
    _duplicate_line,
    _truncate,
    _big_number,
    lambda text, draw: text + "\n" + BOMB + "\n",
    lambda text, draw: text + "\nloop: &loop\n  again: *loop\n",
    lambda text, draw: text + "\nundefined: *nowhere\n",
    lambda text, draw: text + "\ndeep: " + "[" * draw(st.integers(60, 3000)) + "\n",
    lambda text, draw: text.replace("kind: Experiment", "kind: Experiment\nkind: Experiment", 1),
    lambda text, draw: text.replace(": ", ": !!int ", 1),
    lambda text, draw: "\ufeff" + text,
]
JSON_TEXT: list[TextMutation] = [
    _control,
    _not_utf8,
    _truncate,
    _big_number,
    lambda text, draw: "[" * draw(st.integers(60, 100_000)) + text,
    lambda text, draw: text.replace("{", '{"x": Infinity, ', 1),
]


@st.composite
def experiment_files(draw: st.DrawFn) -> tuple[str, str]:
    """(corpus name, file text) of one mutated experiment."""
    name, text = draw(st.sampled_from(experiment_texts()))
    if draw(st.booleans()):
        data = yaml.safe_load(text)
        data = draw(mutated_data(data))
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)
    for mutation in draw(st.lists(st.sampled_from(YAML_TEXT), max_size=2)):
        text = mutation(text, draw)
    return name, text


@st.composite
def summary_files(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(summary_texts()))
    if draw(st.booleans()):
        data = draw(mutated_data(json.loads(text)))
        text = json.dumps(data, indent=1)
    for mutation in draw(st.lists(st.sampled_from(JSON_TEXT), max_size=2)):
        text = mutation(text, draw)
    return text


# -- properties: reading, rules, checks ---------------------------------------------------------


def _write(directory: Path, text: str) -> Path:
    path = directory / "experiment.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return path


def _no_crash_reported(results: list[tuple[str, Any]], word: str) -> None:
    crashed = [result.line for _, result in results if f"{word} error" in result.line]
    assert not crashed


@PROFILE
@given(case=experiment_files())
def test_reading_and_rules_never_crash(tmp_path_factory: pytest.TempPathFactory, case: Any) -> None:
    _, text = case
    path = _write(tmp_path_factory.mktemp("fuzz") / "fuzzed", text)
    error: SpecError | None = None
    try:
        source = read_source(path)
    except SpecError as err:
        error = err
    if error is not None:
        assert error.line is not None
        assert error.line >= 1
        assert str(error).startswith(f"{path}:{error.line}: ")
        return
    if not is_experiment(source.data):
        return
    experiment = Experiment.from_source(source)
    _no_crash_reported(run_rules(RuleContext(experiment=experiment, catalogue=catalogue())), "rule")
    intent = build_intent(experiment)
    for label in (*experiment.tags, intent.series or ""):
        name = marker_name(label)
        # Never a name pytest refuses, nor one of pytest's own.
        assert name
        assert not name.startswith("_")
        assert name not in BUILTIN


@PROFILE
@given(text=summary_files(), which=st.integers(0, 100))
def test_summaries_parse_or_fail_cleanly_and_checks_never_crash(text: str, which: int) -> None:
    limit: LimitError | None = None
    try:
        summary = parse_json(text.encode("utf-8", "surrogatepass"))
    except LimitError as err:
        limit = err
    except ValueError:  # not JSON or not UTF-8: reported by the callers with the line
        return
    if limit is not None:
        assert limit.line is None or limit.line >= 1
        return
    if not isinstance(summary, dict):
        return
    name, experiment_text = experiment_texts()[which % len(experiment_texts())]
    source = read_source(_write_temp(name, experiment_text))
    experiment = Experiment.from_source(source)
    inp = CheckInput(experiment=experiment, summary=summary, intent=build_intent(experiment))
    _no_crash_reported(run_checks(inp), "check")


@cache
def _write_temp(name: str, text: str) -> Path:
    import tempfile

    return _write(Path(tempfile.mkdtemp()) / name, text)


# -- properties: collection as a user runs it ---------------------------------------------------

GOOD = "web-latency"


def _outcomes(recorder: pytest.HookRecorder) -> dict[str, tuple[str, str, str]]:
    """nodeid → (outcome, verdict, scorecard line) of every item."""
    found: dict[str, tuple[str, str, str]] = {}
    for report in recorder.getreports("pytest_runtest_logreport"):
        if report.when == "call" or (report.when == "setup" and not report.passed):
            properties = dict(report.user_properties)
            verdict, summary = properties.get("verdict", ""), properties.get("summary", "")
            found[report.nodeid] = (report.outcome, str(verdict), str(summary))
    return found


_BASELINES: dict[Path, dict[str, tuple[str, str, str]]] = {}


@pytest.fixture
def workspace(pytester: pytest.Pytester) -> pytest.Pytester:
    shutil.copytree(EXAMPLES / GOOD, pytester.path / GOOD)
    shutil.copytree(EXAMPLES / "site" / "data", pytester.path / "results")
    return pytester


def _run(pytester: pytest.Pytester) -> pytest.HookRecorder:
    return pytester.inline_run("-p", "no:cacheprovider", "--experiment-results=results")


# Named after no experiment, or after an instance of the good one (which then
# gains items for it, but keeps the verdicts of the others).
SUMMARY_NAMES = ["fuzzed-aaaaa.json", "web-lat-zzzzz.json"]


@COLLECTION
@given(case=experiment_files(), summary=summary_files(), name=st.sampled_from(SUMMARY_NAMES))
def test_collection_never_crashes_and_one_bad_file_changes_nothing_else(
    workspace: pytest.Pytester, case: Any, summary: str, name: str
) -> None:
    pytester = workspace
    for leftover in ("bad", *(f"results/{n}" for n in SUMMARY_NAMES)):
        target = pytester.path / leftover
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    if pytester.path not in _BASELINES:  # the fixture lives across examples
        _BASELINES[pytester.path] = _outcomes(_run(pytester))
    baseline = _BASELINES[pytester.path]
    assert baseline

    _, text = case
    _write(pytester.path / "bad", text)
    (pytester.path / "results" / name).write_bytes(summary.encode("utf-8", "surrogatepass"))
    recorder = _run(pytester)
    assert recorder.ret != pytest.ExitCode.INTERNAL_ERROR

    for report in recorder.getreports("pytest_collectreport"):
        if report.failed:
            text = str(report.longrepr)
            assert "Traceback" not in text
            assert re.search(r"bad/experiment\.yaml:\d+: ", text), text
    after = _outcomes(recorder)
    for nodeid, (outcome, verdict, line) in after.items():
        if nodeid.startswith("bad/") and outcome == "failed":
            assert verdict in ("fail", "error"), f"{nodeid} crashed instead of concluding"
        assert "rule error" not in line
        assert "check error" not in line

    # The good experiment's verdicts do not move (a summary named after one of its
    # instances may add items; it may not change the others). Reproducibility excepted:
    # a published run of the same experiment is history the others are compared with.
    def kept(outcomes: dict[str, tuple[str, str, str]]) -> dict[str, tuple[str, str, str]]:
        return {k: v for k, v in outcomes.items() if "::quality[reproducibility@" not in k}

    assert kept({k: v for k, v in after.items() if k in baseline}) == kept(baseline)
