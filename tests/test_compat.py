"""The work-arounds for pytest and xdist internals, kept in one module: only
``plugin/compat.py`` imports ``_pytest`` or reads a pytest object's private
attributes, and each of its functions does what the plugin relies on, on the
pytest this suite runs with (``make test-min`` runs it on the lowest declared)."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path
from typing import Any

import pytest

import pytest_experiment
from pytest_experiment.plugin import compat
from pytest_experiment.plugin.compat import grouped_for_scheduling, set_nodeid

PACKAGE = Path(pytest_experiment.__file__).parent
COMPAT = "plugin/compat.py"
PYTEST_OBJECTS = frozenset(
    {
        "config",
        "item",
        "items",
        "session",
        "node",
        "collector",
        "request",
        "report",
        "parser",
        "pluginmanager",
        "terminalreporter",
        "reporter",
        "capture",
        "excinfo",
        "call",
        "last",
        "option",
    }
)
"""Names this package gives pytest's objects (``self._config`` counts as ``config``)."""


def private_pytest_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("_pytest"):
            found.append(node.module or "")
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("_pytest")]
    return found


def _holder(node: ast.expr) -> str:
    """The name of what an attribute is read from: ``item`` in ``item._id``,
    ``config`` in ``self._config._inicfg`` or ``session.config._x``."""
    if isinstance(node, ast.Name):
        return node.id.lstrip("_")
    if isinstance(node, ast.Attribute):
        return node.attr.lstrip("_")
    return ""


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_pytest_attributes(source: str) -> list[str]:
    """``holder._name`` reads and writes, and ``getattr``/``hasattr``/``setattr`` with a
    ``"_name"`` literal, on objects named as pytest's are."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            holder = _holder(node.value)
            if holder in PYTEST_OBJECTS:
                found.append(f"{node.lineno}: {holder}.{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr", "setattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
        ):
            holder = _holder(node.args[0])
            if holder in PYTEST_OBJECTS:
                found.append(f"{node.lineno}: {node.func.id}({holder}, {node.args[1].value!r})")
    return found


def test_only_compat_imports_pytest_internals() -> None:
    importers = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if private_pytest_imports(path)
    }
    assert importers == {COMPAT}


def test_only_compat_reads_private_attributes_of_pytest_objects() -> None:
    found = {
        str(path.relative_to(PACKAGE)): uses
        for path in PACKAGE.rglob("*.py")
        if (uses := private_pytest_attributes(path.read_text()))
    }
    assert set(found) <= {COMPAT}, found


def test_the_attribute_check_finds_each_kind_of_use() -> None:
    source = (
        "item._id = 1\n"
        "x = self._config._inicfg\n"
        "y = session.config._x\n"
        "getattr(config, '_inicfg', None)\n"
        "capture.global_and_fixture_disabled()\n"  # public name: not reported
        "self._shown = True\n"  # the plugin's own state: not reported
        "config.__class__\n"
    )
    assert private_pytest_attributes(source) == [
        "1: item._id",
        "2: config._inicfg",
        "3: config._x",
        "4: getattr(config, '_inicfg')",
    ]


def test_ids_are_grouped_only_inside_the_block(pytester: pytest.Pytester, examples: Path) -> None:
    shutil.copytree(examples / "web-latency", pytester.path / "web-latency")
    items, _ = pytester.inline_genitems("web-latency")
    plain = [item.nodeid for item in items]
    with grouped_for_scheduling([(item, item.nodeid, "web-latency") for item in items]):
        assert [item.nodeid for item in items] == [f"{i}@web-latency" for i in plain]
    assert [item.nodeid for item in items] == plain


def test_set_nodeid_renames_an_item(pytester: pytest.Pytester, examples: Path) -> None:
    shutil.copytree(examples / "web-latency", pytester.path / "web-latency")
    items, _ = pytester.inline_genitems("web-latency")
    set_nodeid(items[0], "web-latency/experiment.yaml::validate[renamed]")
    assert items[0].nodeid == "web-latency/experiment.yaml::validate[renamed]"


def test_the_version_guards_match_this_pytest(pytester: pytest.Pytester) -> None:
    assert compat.PYTEST[:2] == tuple(int(p) for p in pytest.__version__.split(".")[:2])
    item = pytester.getitem("def test_func(): pass")
    # The guard picks the attribute this pytest's nodes really have.
    assert hasattr(item, "_id") is compat.NODEID_PARSED
    assert hasattr(item, "_nodeid") is not compat.NODEID_PARSED
    assert compat.SKIP_AT_ITEM, "every supported pytest reports a skip at the item"


@pytest.mark.parametrize(
    "write",
    [
        lambda p: p.makeini("[pytest]\nmarkers =\n    slow: takes long\n    fast: quick\n"),
        lambda p: p.makepyprojecttoml(
            '[tool.pytest.ini_options]\nmarkers = ["slow: takes long", "fast: quick"]\n'
        ),
    ],
    ids=["ini", "pyproject"],
)
def test_ini_file_lines_are_the_files_own(pytester: pytest.Pytester, write: Any) -> None:
    write(pytester)
    config = pytester.parseconfig()  # before any plugin's pytest_configure adds a line
    assert compat.ini_file_lines(config, "markers") == ["slow: takes long", "fast: quick"]
    assert compat.ini_file_lines(config, "not_set") == []


def test_the_terminal_reporter_type_is_pytests(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfigure()
    assert isinstance(config.pluginmanager.get_plugin("terminalreporter"), compat.TerminalReporter)


def test_capture_suspended_writes_past_an_items_capture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_experiment.plugin.compat import capture_suspended

        def test_writes(request):
            print("captured-line")
            with capture_suspended(request.config):
                print("live-line")
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "live-line" in result.stdout.str()
    assert "captured-line" not in result.stdout.str(), "a passing item's output stays captured"


def test_continue_on_collection_errors_runs_what_collected(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ok="def test_ok(): pass", test_broken="raise ImportError('x')")
    pytester.makeconftest(
        """
        from pytest_experiment.plugin.compat import continue_on_collection_errors

        def pytest_collection_finish(session):
            continue_on_collection_errors(session.config)
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)


def test_rerun_also_keeps_a_files_other_tests_under_lf(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_a="def test_fails(): assert False\ndef test_passes(): pass")
    pytester.makeconftest(
        """
        import pytest
        from pytest_experiment.plugin.compat import rerun_also

        @pytest.hookimpl(wrapper=True)
        def pytest_make_collect_report(collector):
            report = yield
            if collector.nodeid == "test_a.py":
                rerun_also(collector.config, "test_a.py::", report.result)
            return report
        """
    )
    pytester.runpytest().assert_outcomes(failed=1, passed=1)
    result = pytester.runpytest("--lf", "-v")
    result.assert_outcomes(failed=1, passed=1)
    # Without the plugin's state nothing is marked: a plain run is unaffected.
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(failed=1, passed=1)


def test_xdist_worker_count(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_a="def test_a(): pass")
    pytester.makeconftest(
        """
        from pytest_experiment.plugin.compat import xdist_worker_count

        def pytest_xdist_node_collection_finished(node, ids):
            with open("workers.txt", "a") as handle:
                handle.write(f"{xdist_worker_count(node.config)}\\n")

        def pytest_sessionfinish(session):
            if not hasattr(session.config, "workerinput"):
                with open("serial.txt", "w") as handle:
                    handle.write(str(xdist_worker_count(session.config)))
        """
    )
    pytester.runpytest("-p", "no:cacheprovider", "-n", "2").assert_outcomes(passed=1)
    assert (pytester.path / "workers.txt").read_text().split() == ["2", "2"]
    pytester.runpytest("-p", "no:cacheprovider", "-p", "no:xdist")
    assert (pytester.path / "serial.txt").read_text() == "0"


UNLOCATED_INTERRUPT = """
import sys
import types


def test_interrupted():
    # A Ctrl-C that CPython reports at an instruction without a line (as in a
    # generator-based context manager): the frame's tb_lineno is None.
    frame = sys._getframe()
    unlocated = types.TracebackType(None, frame, 1_000_000, -1)
    assert unlocated.tb_lineno is None
    raise KeyboardInterrupt().with_traceback(unlocated)
"""


def test_an_interrupt_through_a_frame_without_a_line_ends_as_an_interrupt(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_unlocated=UNLOCATED_INTERRUPT)
    # A subprocess: pytester re-raises an in-process run's KeyboardInterrupt.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str() + result.stderr.str()
    assert "TypeError" not in result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*test_unlocated.py:*: KeyboardInterrupt"])


def test_without_the_plugin_pytest_itself_crashes_on_such_an_interrupt(
    pytester: pytest.Pytester,
) -> None:
    # Pins why drop_unlocated_frames exists: when pytest renders these frames itself,
    # this test fails and the work-around can go.
    pytester.makepyfile(test_unlocated=UNLOCATED_INTERRUPT)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:experiment")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "TypeError: unsupported operand type(s) for -: 'NoneType' and 'int'" in (
        result.stdout.str() + result.stderr.str()
    )


# At session end the JUnit file's directory has become a file: pytest's writer fails.
JUNIT_DIRECTORY_GONE = """
import shutil
import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    shutil.rmtree("out")
    with open("out", "w") as handle:
        handle.write("not a directory\\n")
"""


def test_a_junit_file_that_cannot_be_written_is_one_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_a="def test_a(): pass")
    pytester.makeconftest(JUNIT_DIRECTORY_GONE)
    (pytester.path / "out").mkdir()
    result = pytester.runpytest("-p", "no:cacheprovider", "--junitxml=out/junit.xml")
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.OK, out
    assert "Traceback" not in out
    target = pytester.path / "out" / "junit.xml"
    assert f"--junitxml: cannot write {target}: File exists" in result.stdout.lines, out
    assert "generated xml file" not in out
    assert sorted(p.name for p in pytester.path.iterdir() if p.name.startswith(".out")) == []


def test_without_the_plugin_pytest_itself_crashes_on_such_a_junit_file(
    pytester: pytest.Pytester,
) -> None:
    # Pins why junit_written_whole exists: when pytest's junitxml reports a failed
    # write itself, this test fails and the work-around can go.
    pytester.makepyfile(test_a="def test_a(): pass")
    pytester.makeconftest(JUNIT_DIRECTORY_GONE)
    (pytester.path / "out").mkdir()
    # A subprocess: the exit code of the process pytest's crash ends is what is pinned.
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:experiment", "--junitxml=out/junit.xml"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "FileExistsError" in result.stdout.str() + result.stderr.str()


def test_a_junit_file_is_replaced_whole(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_a="def test_a(): pass")
    (pytester.path / "junit.xml").write_text("x" * 100_000)
    result = pytester.runpytest("-p", "no:cacheprovider", "--junitxml=junit.xml")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([f"*generated xml file: {pytester.path / 'junit.xml'}*"])
    assert (pytester.path / "junit.xml").read_text().startswith("<?xml")
    assert not [p for p in pytester.path.iterdir() if p.name.endswith(".tmp")]
