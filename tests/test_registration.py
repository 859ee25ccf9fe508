"""The plugin's modules are registered with pytest's plugin manager by name.

Its entry point registers the module holding its own answers to the
``firstresult`` hooks and the one holding ``experiment_run``, rather than importing
them for their side effect: each is visible, and can be blocked, under its name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pytest_experiment.plugin import connections, fixtures, hooks


def test_the_parts_are_registered_under_their_names(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfigure()
    manager = config.pluginmanager
    assert manager.get_plugin("experiment-connections") is connections
    assert manager.get_plugin("experiment-fixtures") is fixtures
    for name in ("cluster", "results_store", "github", "toil_log"):
        hook = getattr(manager.hook, f"pytest_experiment_make_{name}")
        assert [impl.plugin_name for impl in hook.get_hookimpls()] == ["experiment-connections"]
        # The plugin's own answer comes last, after any conftest's or plugin's.
        assert all(impl.trylast for impl in hook.get_hookimpls()), name


def test_the_fixture_comes_from_its_registered_module(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_it(experiment_run):\n    assert callable(experiment_run)\n")
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    blocked = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:experiment-fixtures")
    blocked.assert_outcomes(errors=1)
    blocked.stdout.fnmatch_lines(["*fixture 'experiment_run' not found*"])


def test_the_entry_point_imports_nothing_for_its_side_effect() -> None:
    tree = ast.parse(Path(hooks.__file__).read_text())
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    used |= {
        node.value.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
    }
    imported = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if node.module != "__future__"
    }
    assert imported <= used, imported - used
