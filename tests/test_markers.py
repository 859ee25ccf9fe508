"""Series and tags as markers: named after pytest's own markers they change nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from troubleshooting import documented

# Imported here, not first inside an in-process pytester run: pytester drops the
# modules a run imported, and a re-imported yaml no longer matches the node
# classes its (never re-imported) libyaml extension builds.
import pytest_experiment.core.spec  # noqa: F401
from pytest_experiment.plugin.markers import BUILTIN, PREFIX, marker_name

HOSTILE = [
    "skip",
    "skipif",
    "xfail",
    "timeout",
    "parametrize",
    "usefixtures",
    "filterwarnings",
    "xdist_group",
    "tryfirst",
    "not",
    " ",
    "{}",
    "🚀",
    "$(touch pwned)",
    "_private",
]


def copy_lint_demo(
    pytester: pytest.Pytester, examples: Path, *, tags: str, name: str = "lint-demo"
) -> None:
    """lint-demo fails validation on purpose: an ``xfail`` marker would hide that."""
    target = pytester.path / name
    shutil.copytree(examples / "lint-demo", target)
    path = target / "experiment.yaml"
    text = path.read_text()
    assert '  tags: ["demo"]\n' in text
    path.write_text(text.replace('  tags: ["demo"]\n', f"  tags: {tags}\n"))
    (pytester.path / "results").mkdir(exist_ok=True)


def flow(labels: list[str]) -> str:
    return "[" + ", ".join(json.dumps(label, ensure_ascii=False) for label in labels) + "]"


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "--experiment-results=results", *args)


def test_marker_names_follow_one_rule() -> None:
    assert marker_name("networking") == "networking"
    assert marker_name("storage-internals") == "storage-internals"
    assert marker_name("db disk") == "db_disk"
    for name in BUILTIN:
        assert marker_name(name) == f"{PREFIX}{name}"
    assert marker_name("and") == f"{PREFIX}and"
    assert marker_name(" ") == f"{PREFIX}_"
    assert marker_name("🚀") == f"{PREFIX}_"
    assert marker_name("$(rm -rf x)") == f"{PREFIX}__rm_-rf_x_"
    assert marker_name("") == PREFIX
    assert marker_name("slow", taken={"slow"}) == f"{PREFIX}slow"


def test_tags_and_series_named_like_pytest_markers_change_no_outcome(
    pytester: pytest.Pytester, examples: Path
) -> None:
    copy_lint_demo(pytester, examples, tags='["demo"]')
    copy_lint_demo(pytester, examples, tags='["demo"]', name="again")
    baseline = run(pytester, "--strict-markers")
    expected = baseline.parseoutcomes()
    assert expected["failed"] > 0  # the FAILs an xfail tag used to hide

    for name in ("lint-demo", "again"):
        shutil.rmtree(pytester.path / name)
    copy_lint_demo(pytester, examples, tags=f"{flow(HOSTILE)}\n  series: timeout")
    copy_lint_demo(pytester, examples, tags='["xfail"]\n  series: skip', name="again")
    result = run(pytester, "--strict-markers")
    assert "INTERNALERROR" not in result.stdout.str()
    assert "Traceback" not in result.stdout.str()
    assert result.parseoutcomes() == expected
    assert result.ret == baseline.ret == pytest.ExitCode.TESTS_FAILED


def test_every_hostile_label_is_a_prefixed_marker_that_selects(
    pytester: pytest.Pytester, examples: Path
) -> None:
    copy_lint_demo(pytester, examples, tags=f"{flow(HOSTILE)}\n  series: skip")
    items, _ = pytester.inline_genitems("-p", "no:cacheprovider", "--strict-markers")
    assert items
    for item in items:
        names = {mark.name for mark in item.iter_markers()}
        assert {marker_name(label) for label in HOSTILE} <= names
        assert f"{PREFIX}skip" in names
        # xdist_group is the plugin's own, with its name; no other pytest marker is carried.
        assert names & (BUILTIN | {"not"}) == {"xdist_group"}
        group = item.get_closest_marker("xdist_group")
        assert group is not None
        assert group.kwargs == {"name": "lint-demo"}
    selected = run(pytester, "--collect-only", "-q", "--strict-markers", "-m", f"{PREFIX}_")
    assert selected.ret == pytest.ExitCode.OK
    assert "lint-demo/experiment.yaml::validate[schema]" in selected.stdout.str()


@pytest.mark.parametrize("ini", ["pytest.ini", "pyproject.toml"])
def test_ordinary_tags_and_ini_markers_keep_their_names(
    pytester: pytest.Pytester, examples: Path, ini: str
) -> None:
    copy_lint_demo(pytester, examples, tags='["networking", "slowish", "declared"]')
    if ini == "pytest.ini":
        pytester.makeini("[pytest]\nmarkers =\n    declared: a marker the user declared\n")
    else:
        # A TOML list, which plugins' marker lines are appended to in place.
        pytester.makepyprojecttoml(
            '[tool.pytest.ini_options]\nmarkers = ["declared: a marker the user declared"]\n'
        )
    # A conftest (a plugin) gives "slowish" a meaning: the tag must not inherit it.
    pytester.makeconftest(
        """
        def pytest_configure(config):
            config.addinivalue_line("markers", "slowish: skipped unless --slow")

        def pytest_collection_modifyitems(items):
            for item in items:
                if item.get_closest_marker("slowish"):
                    raise RuntimeError("an experiment carries the plugin's marker")
        """
    )
    for marker in ("networking", "declared", f"{PREFIX}slowish"):
        result = run(pytester, "--collect-only", "-q", "--strict-markers", "-m", marker)
        assert result.ret == pytest.ExitCode.OK, result.stdout.str()
        assert "lint-demo/experiment.yaml::lifecycle" in result.stdout.str()


def test_markers_lists_series_and_tags_of_the_experiments(
    pytester: pytest.Pytester, examples: Path
) -> None:
    shutil.copytree(examples, pytester.path / "experiments")
    copy_lint_demo(pytester, examples, tags='["skip", "🚀"]')
    result = pytester.runpytest("--markers", "experiments", "lint-demo")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines_random(
        [
            "@pytest.mark.networking: experiment tag 'networking'",
            "@pytest.mark.storage-internals: experiment series 'storage-internals'",
            f"@pytest.mark.{PREFIX}skip: experiment tag 'skip'",
            f"@pytest.mark.{PREFIX}_: experiment tag '🚀'",
        ]
    )


def test_a_run_that_collects_nothing_says_how_files_are_named(
    pytester: pytest.Pytester,
) -> None:
    (pytester.path / "demo").mkdir()
    (pytester.path / "demo" / "demo.yaml").write_text("kind: Experiment\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "demo")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines(["*no experiment collected; experiment files must be named*"])
    assert "experiment.yaml" in result.stdout.str()
    [line] = [x.strip() for x in result.stdout.lines if "no experiment collected" in x]
    documented("The experiment file has another name", line)
