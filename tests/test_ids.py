"""Item ids as a user handles them: printed, pasted back, re-run with --lf, written to JUnit.

Offline quality items are ``quality[<check>@<instance>]``: one bracketed
parameter, which pytest prints, stores and parses back as it was collected.
Test names never depend on xdist: ``--dist loadgroup`` needs each experiment's
group in the ids it schedules by, and nothing of it may leak into a report.
"""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_experiment.plugin.collect import id_part
from pytest_experiment.plugin.compat import without_group

RESULTS = "--experiment-results=experiments/site/data"
OFFLINE_ID = re.compile(r"^experiments/[a-z-]+/experiment\.yaml::quality\[[a-z-]+@[a-z0-9-]+\]$")
# A result file anyone could write: each character here once broke an id.
HOSTILE = "web-lat-a]::b [c]\nd@e%f\tg"


@pytest.fixture
def project(pytester: pytest.Pytester, examples: Path) -> pytest.Pytester:
    shutil.copytree(examples, pytester.path / "experiments")
    return pytester


def collected_ids(project: pytest.Pytester, *args: str) -> list[str]:
    result = project.runpytest("--collect-only", "-q", *args)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    return [line for line in result.outlines if "::" in line]


def ran(result: pytest.RunResult) -> list[str]:
    """Node ids of the items a ``-rA`` run reports, in report order."""
    found = []
    for line in result.outlines:
        word, _, rest = line.partition(" ")
        if word in {"PASSED", "FAILED", "XFAIL", "SKIPPED", "ERROR"} and "::" in rest:
            found.append(rest.split(" - ", 1)[0])
    return found


def junit_names(path: Path) -> list[tuple[str, str]]:
    root = ET.parse(path).getroot()
    return sorted((t.get("classname", ""), t.get("name", "")) for t in root.iter("testcase"))


def add_result(project: pytest.Pytester, name: str, *, like: str = "web-lat-8fz2q") -> None:
    data = json.loads((project.path / f"experiments/site/data/{like}.json").read_text())
    data["name"] = name
    (project.path / "experiments/site/data/web-lat-extra.json").write_text(json.dumps(data))


# -- escaping ----------------------------------------------------------------------------------


def test_kubernetes_names_are_ids_as_they_are() -> None:
    for name in ("web-lat-8fz2q", "db-fvm-mpcnl", "a.b-c_d", "custom-metrics"):
        assert id_part(name) == name


def test_id_parts_escape_what_would_split_or_break_an_id() -> None:
    assert id_part(HOSTILE) == "web-lat-a%5D%3A%3Ab%20%5Bc%5D%0Ad%40e%25f%09g"
    assert id_part("naïve") == "na%C3%AFve"
    # Escaping is one-to-one: an escaped name never equals another name's escape.
    assert id_part("a%20b") != id_part("a b")


# -- printed, pasted back, --lf ----------------------------------------------------------------


def test_offline_ids_are_one_bracketed_parameter(project: pytest.Pytester) -> None:
    quality = [i for i in collected_ids(project, "experiments", RESULTS) if "::quality[" in i]
    scored = [i for i in quality if "@" in i]
    # web-latency has two result files, kv-baseline and kv-hyperdisk one each; the
    # two experiments no result matches keep one plain set (skipped, saying why).
    assert len(scored) == 4 * 7
    assert all(OFFLINE_ID.match(i) for i in scored), scored
    assert {i.split("::")[0] for i in quality if i not in scored} == {
        "experiments/echo-scaling/experiment.yaml",
        "experiments/lint-demo/experiment.yaml",
    }
    assert "experiments/web-latency/experiment.yaml::quality[custom-metrics@web-lat-8fz2q]" in (
        quality
    )


def test_an_id_printed_by_a_verbose_run_pastes_back(project: pytest.Pytester) -> None:
    result = project.runpytest("-v", "experiments/web-latency", RESULTS)
    printed = [
        line.split(" ", 1)[0] for line in result.outlines if " FAILED" in line and "@" in line
    ]
    assert "experiments/web-latency/experiment.yaml::quality[custom-metrics@web-lat-2bc7d]" in (
        printed
    )
    for nodeid in printed[:2]:
        again = project.runpytest("-rA", nodeid, RESULTS)
        again.assert_outcomes(failed=1)
        assert ran(again) == [nodeid]


def test_an_id_printed_by_collect_only_pastes_back(project: pytest.Pytester) -> None:
    nodeid = next(
        i for i in collected_ids(project, "experiments", RESULTS) if "presentation@kv-hdb" in i
    )
    again = project.runpytest("-rA", nodeid, RESULTS)
    assert ran(again) == [nodeid]
    assert collected_ids(project, nodeid, RESULTS) == [nodeid]


def failures(result: pytest.RunResult) -> list[str]:
    return [i for i, line in zip(ran(result), reported(result), strict=True) if line == "FAILED"]


def reported(result: pytest.RunResult) -> list[str]:
    return [
        line.split(" ", 1)[0]
        for line in result.outlines
        if line.split(" ", 1)[0] in {"PASSED", "FAILED", "XFAIL", "SKIPPED", "ERROR"}
        and "::" in line
    ]


def test_last_failed_stores_and_reruns_the_printed_ids(project: pytest.Pytester) -> None:
    args = ["-rA", "experiments/web-latency", RESULTS]
    failed = failures(project.runpytest(*args))
    assert "experiments/web-latency/experiment.yaml::quality[ai-verdict@web-lat-2bc7d]" in failed
    stored = json.loads((project.path / ".pytest_cache/v/cache/lastfailed").read_text())
    assert set(failed) <= set(stored)
    assert failures(project.runpytest("--lf", *args)) == failed


# -- xdist -------------------------------------------------------------------------------------


def test_junit_names_are_the_same_with_and_without_xdist(project: pytest.Pytester) -> None:
    args = ["-p", "no:cacheprovider", "experiments", RESULTS]
    project.runpytest(*args, "--junitxml=serial.xml")
    project.runpytest(*args, "-n", "2", "--dist", "loadgroup", "--junitxml=xdist.xml")
    serial = junit_names(project.path / "serial.xml")
    # 18 items an experiment without its quality checks, and 6 sets of 7 checks.
    assert len(serial) == 5 * 18 + 6 * 7
    assert junit_names(project.path / "xdist.xml") == serial
    assert ("experiments.web-latency.experiment.yaml", "quality[ai-verdict@web-lat-8fz2q]") in (
        serial
    )
    assert not [name for _, name in serial if re.search(r"\]@|@[a-z-]+\]$", name)]


def test_validate_only_names_are_the_same_with_and_without_xdist(
    project: pytest.Pytester,
) -> None:
    # No cluster and no results: only the validation items run.
    args = ["-p", "no:cacheprovider", "experiments", "-k", "validate"]
    project.runpytest(*args, "--junitxml=serial.xml")
    project.runpytest(*args, "-n", "2", "--dist", "loadgroup", "--junitxml=xdist.xml")
    serial = junit_names(project.path / "serial.xml")
    assert len(serial) == 5 * 13
    assert junit_names(project.path / "xdist.xml") == serial
    assert all(re.fullmatch(r"validate\[[a-z-]+\]", name) for _, name in serial), serial


@pytest.mark.parametrize(
    ("scheduled", "plain"),
    [
        ("e/experiment.yaml::quality[presentation@web-lat-8fz2q]@web-latency", None),
        ("e/experiment.yaml::validate[schema]@web-latency", None),
        ("e/experiment.yaml::lifecycle@web-latency", None),
        ("e/experiment.yaml::quality[presentation@web-lat-8fz2q]", "same"),
        ("e/experiment.yaml::lifecycle", "same"),
        ("e/experiment.yaml", "same"),
    ],
)
def test_the_group_suffix_comes_off_only_where_xdist_put_it(
    scheduled: str, plain: str | None
) -> None:
    expected = scheduled if plain == "same" else scheduled.rpartition("@")[0]
    assert without_group(scheduled) == expected


def test_a_crashed_worker_reports_the_item_under_its_plain_name(
    project: pytest.Pytester,
) -> None:
    # The worker dies once, in the middle of one item; xdist reports that item itself.
    project.makeconftest(
        """
        import os
        from pathlib import Path

        def pytest_runtest_call(item):
            flag = Path(str(item.config.rootpath)) / "crashed"
            if "presentation@web-lat-8fz2q" in item.nodeid and not flag.exists():
                flag.write_text("")
                os._exit(3)
        """
    )
    result = project.runpytest(
        "-p",
        "no:cacheprovider",
        "experiments/web-latency",
        RESULTS,
        "-n",
        "2",
        "--dist",
        "loadgroup",
        "--junitxml=crash.xml",
    )
    plain = "experiments/web-latency/experiment.yaml::quality[presentation@web-lat-8fz2q]"
    literal = re.sub(r"[\[\]]", lambda m: f"[{m[0]}]", plain)  # fnmatch brackets
    result.stdout.fnmatch_lines([f"*crashed while running '{literal}'*"])
    root = ET.parse(project.path / "crash.xml").getroot()
    crashes = [
        case.get("name")
        for case in root.iter("testcase")
        for outcome in (*case.iter("failure"), *case.iter("error"))
        if f"crashed while running '{plain}'" in (outcome.text or "")
    ]
    assert crashes == ["quality[presentation@web-lat-8fz2q]"]
    # Every other testcase too: the replacement worker runs the rest under plain names.
    names = {name for _, name in junit_names(project.path / "crash.xml")}
    assert not [name for name in names if name.endswith("@web-latency")]


# -- names from result files -------------------------------------------------------------------


def test_a_hostile_instance_name_is_escaped_in_ids(project: pytest.Pytester) -> None:
    add_result(project, HOSTILE)
    escaped = f"experiments/web-latency/experiment.yaml::quality[custom-metrics@{id_part(HOSTILE)}]"
    ids = collected_ids(project, "experiments/web-latency", RESULTS)
    assert escaped in ids
    # Every id is still one line with one bracketed parameter.
    quality = [i for i in ids if "::quality[" in i]
    assert len(quality) == 3 * 7
    assert all(re.fullmatch(r"[^\s\[\]]+::quality\[[^\s\[\]@]+@[^\s\[\]@]+\]", i) for i in quality)
    again = project.runpytest("-rA", escaped, RESULTS, "--junitxml=one.xml")
    again.assert_outcomes(passed=1)
    assert ran(again) == [escaped]
    assert junit_names(project.path / "one.xml") == [
        ("experiments.web-latency.experiment.yaml", f"quality[custom-metrics@{id_part(HOSTILE)}]")
    ]
    # The report keeps the instance name as published.
    project.runpytest(escaped, RESULTS, "--experiment-report=report.json")
    report = json.loads((project.path / "report.json").read_text())
    instances = [i["instance"] for e in report["experiments"] for i in e["instances"]]
    assert HOSTILE in instances


def test_a_hostile_instance_name_keeps_xdist_names_equal(project: pytest.Pytester) -> None:
    add_result(project, HOSTILE)
    args = ["-p", "no:cacheprovider", "experiments/web-latency", RESULTS]
    project.runpytest(*args, "--junitxml=serial.xml")
    project.runpytest(*args, "-n", "2", "--dist", "loadgroup", "--junitxml=xdist.xml")
    serial = junit_names(project.path / "serial.xml")
    name = f"quality[presentation@{id_part(HOSTILE)}]"
    assert ("experiments.web-latency.experiment.yaml", name) in serial
    assert junit_names(project.path / "xdist.xml") == serial


def test_two_files_of_one_instance_get_distinct_ids(project: pytest.Pytester) -> None:
    # A copied summary: same instance name, another file.
    data = project.path / "experiments/site/data"
    shutil.copy(data / "web-lat-8fz2q.json", data / "web-lat-8fz2q (copy).json")
    ids = [
        i for i in collected_ids(project, "experiments/web-latency", RESULTS) if "ai-verdict" in i
    ]
    # The file named after the instance keeps the plain name.
    assert sorted(ids) == [
        "experiments/web-latency/experiment.yaml::quality[ai-verdict@web-lat-2bc7d]",
        "experiments/web-latency/experiment.yaml::quality[ai-verdict@web-lat-8fz2q."
        "web-lat-8fz2q%20%28copy%29]",
        "experiments/web-latency/experiment.yaml::quality[ai-verdict@web-lat-8fz2q]",
    ]
    for nodeid in ids:
        assert ran(project.runpytest("-rA", nodeid, RESULTS)) == [nodeid]
