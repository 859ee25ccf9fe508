"""The work-arounds for pytest and xdist internals, kept in one module."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

import pytest_experiment
from pytest_experiment.plugin.compat import grouped_for_scheduling, set_nodeid

PACKAGE = Path(pytest_experiment.__file__).parent


def private_pytest_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("_pytest"):
            found.append(node.module or "")
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("_pytest")]
    return found


def test_only_compat_imports_pytest_internals() -> None:
    importers = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if private_pytest_imports(path)
    }
    assert importers == {"plugin/compat.py"}


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
