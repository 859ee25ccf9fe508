"""Mutation testing of the pure core: does some test fail when the code is changed a little?

Each mutant is one small change to one module of ``pytest_experiment/core`` (``and`` for
``or``, ``<`` for ``<=``, ``n`` for ``n + 1``, ``continue`` for ``break``, a string emptied,
a ``not`` dropped, a value returned as ``None``...). The module's fast tests run against it;
the mutant is killed when one of them fails (or the run exceeds its time budget) and
survives when they all pass. No file is changed: a forked child, which already holds
pytest and the heavy third-party imports, loads the mutated source in place of the
module's own and runs pytest in process.

    python scripts/mutate.py                                  # every module of core/
    python scripts/mutate.py core/lifecycle/stuck.py core/gate.py
    python scripts/mutate.py --list core/gate.py              # the mutants, not run
    python scripts/mutate.py --survivors-only --json out.json core/gate.py

A survivor is printed as ``module:line: what changed`` with the line before and after;
``--json`` writes every mutant and its outcome.
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib.abc
import importlib.util
import itertools
import json
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pytest_experiment"
CORE = PACKAGE / "core"
TESTS = ROOT / "tests"

# The fast tests that exercise a module, where importing it is not the way to find them:
# the module is reached through another one, or a package is imported by many slow
# files. A module named here runs these only; the others, every fast file importing it.
TESTS_FOR: dict[str, tuple[str, ...]] = {
    "core/lifecycle/stuck.py": ("test_lifecycle.py", "test_reasons.py"),
    "core/lifecycle/phases.py": ("test_lifecycle.py", "test_reasons.py"),
    "core/lifecycle/lines.py": ("test_lifecycle.py", "test_outage_lines.py"),
    "core/lifecycle/operator.py": ("test_lifecycle.py", "test_operator_down.py"),
    "core/lifecycle/friction.py": ("test_lifecycle.py", "test_toil.py"),
    "core/lifecycle/__init__.py": ("test_lifecycle.py",),
    "core/gate.py": ("test_gate.py", "test_checks.py", "test_fuzz_verdicts.py"),
    "core/checks/__init__.py": ("test_checks.py",),
    "core/checks/data.py": ("test_checks.py", "test_fuzz_verdicts.py"),
    "core/checks/verdicts.py": ("test_checks.py", "test_fuzz_verdicts.py"),
    "core/checks/compare.py": ("test_checks.py",),
    "core/checks/reading.py": ("test_checks.py",),
    "core/rules/text.py": ("test_rules.py",),
    "core/rules/names.py": ("test_rules.py",),
    "core/rules/lint.py": ("test_rules.py",),
    "core/rules/validation.py": ("test_rules.py",),
    "core/rules/__init__.py": ("test_rules.py",),
}
# Slow (pytest in a subprocess, hypothesis at length, a child under resource limits) or
# needing a cluster: left out of the automatic choice, still usable through TESTS_FOR.
SLOW_TESTS = frozenset(
    {
        "test_fuzz.py",
        "test_limits_process.py",
        "test_collection_interrupt.py",
        "test_html_report.py",
        "test_live_fake.py",
        "test_injected_run.py",
        "test_examples.py",
    }
)


@dataclass
class Mutant:
    module: str
    line: int
    column: int
    operator: str
    before: str
    after: str
    outcome: str = "not run"
    seconds: float = 0.0


# -- the mutations ---------------------------------------------------------------------------

_FLIPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}


def _docstrings(tree: ast.AST) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                found.add(id(value))
        # A string right after an assignment documents the name (dataclass fields).
        if isinstance(body, list):
            for first, second in itertools.pairwise(body):
                if (
                    isinstance(first, ast.AnnAssign | ast.Assign)
                    and isinstance(second, ast.Expr)
                    and isinstance(second.value, ast.Constant)
                ):
                    found.add(id(second.value))
    return found


def _annotations(tree: ast.AST) -> set[int]:
    """Nodes inside type annotations: changing them changes nothing at run time."""
    found: set[int] = set()
    roots: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign | ast.arg) and node.annotation is not None:
            roots.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns:
            roots.append(node.returns)
    for root in roots:
        found.update(id(n) for n in ast.walk(root))
    return found


def _sites(tree: ast.AST) -> Iterator[tuple[ast.AST, str, object]]:
    """(node, operator name, what to change) for every mutation of the module."""
    skip = _docstrings(tree) | _annotations(tree)
    in_fstring = {id(n) for j in ast.walk(tree) if isinstance(j, ast.JoinedStr) for n in j.values}
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.BoolOp):
            yield node, "and/or", None
        elif isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in _FLIPS:
                    yield node, "comparison", i
        elif isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool):
                yield node, "True/False", None
            elif isinstance(value, int):
                yield node, "int+1", 1
                yield node, "int-1", -1
            elif isinstance(value, str) and value and id(node) not in in_fstring:
                yield node, 'string->""', None
        elif isinstance(node, ast.Continue | ast.Break):
            yield node, "continue/break", None
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield node, "remove not", None
        elif isinstance(node, ast.Return) and node.value is not None:
            returned = node.value
            if not (isinstance(returned, ast.Constant) and returned.value is None):
                yield node, "return None", None


class _Apply(ast.NodeTransformer):
    def __init__(self, target: ast.AST, operator: str, arg: object) -> None:
        self.target, self.operator, self.arg = target, operator, arg

    def visit(self, node: ast.AST) -> ast.AST:
        if node is not self.target:
            visited: ast.AST = super().visit(node)
            return visited
        op, arg = self.operator, self.arg
        if isinstance(node, ast.BoolOp):
            node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        elif isinstance(node, ast.Compare):
            assert isinstance(arg, int)
            node.ops[arg] = _FLIPS[type(node.ops[arg])]()
        elif isinstance(node, ast.Constant) and op == "True/False":
            node.value = not node.value
        elif isinstance(node, ast.Constant) and op.startswith("int"):
            assert isinstance(arg, int)
            assert isinstance(node.value, int)
            node.value = node.value + arg
        elif isinstance(node, ast.Constant):
            node.value = ""
        elif isinstance(node, ast.Continue):
            return ast.copy_location(ast.Break(), node)
        elif isinstance(node, ast.Break):
            return ast.copy_location(ast.Continue(), node)
        elif isinstance(node, ast.UnaryOp):
            return node.operand
        elif isinstance(node, ast.Return):
            node.value = ast.copy_location(ast.Constant(None), node.value)  # type: ignore[arg-type]
        return node


def mutants(path: Path) -> Iterator[tuple[Mutant, str]]:
    """Every mutant of the module at ``path``, with its whole mutated source."""
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    module = str(path.relative_to(PACKAGE))
    for node, operator, arg in list(_sites(tree)):
        # Mutate a copy: find the same node in it by its position among all nodes.
        index = next(i for i, n in enumerate(ast.walk(tree)) if n is node)
        fresh = copy.deepcopy(tree)
        twin = next(n for i, n in enumerate(ast.walk(fresh)) if i == index)
        mutated = ast.fix_missing_locations(_Apply(twin, operator, arg).visit(fresh))
        line = getattr(node, "lineno", 0)
        after_node = _Apply(node_copy := copy.deepcopy(node), operator, arg).visit(node_copy)
        yield (
            Mutant(
                module=module,
                line=line,
                column=getattr(node, "col_offset", 0),
                operator=operator,
                before=lines[line - 1].strip() if line else "",
                after=ast.unparse(after_node),
            ),
            ast.unparse(mutated),
        )


# -- which tests ------------------------------------------------------------------------------


def dotted(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def tests_for(path: Path) -> list[Path]:
    """Those TESTS_FOR names for the module, else the fast tests that import it."""
    key = str(path.relative_to(PACKAGE))
    if key in TESTS_FOR:
        return [TESTS / t for t in TESTS_FOR[key]]
    name = dotted(path)
    parent, _, last = name.rpartition(".")
    pattern = re.compile(rf"\b{re.escape(name)}\b|from {re.escape(parent)} import [^\n]*\b{last}\b")
    chosen: set[Path] = set()
    for test in sorted(TESTS.glob("test_*.py")):
        if test.name not in SLOW_TESTS and pattern.search(test.read_text()):
            chosen.add(test)
    return sorted(chosen)


# -- running a mutant ---------------------------------------------------------------------------


class _Replace(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves the mutated source under the module's own name and file."""

    def __init__(self, name: str, path: Path, source: str) -> None:
        self.name, self.path, self.source = name, path, source

    def find_spec(self, fullname, path=None, target=None):  # type: ignore[no-untyped-def]
        if fullname != self.name:
            return None
        return importlib.util.spec_from_file_location(
            fullname,
            self.path,
            loader=self,
            submodule_search_locations=[str(self.path.parent)]
            if self.path.name == "__init__.py"
            else None,
        )

    def create_module(self, spec):  # type: ignore[no-untyped-def]
        return None

    def exec_module(self, module: ModuleType) -> None:
        exec(compile(self.source, str(self.path), "exec"), module.__dict__)


def _child(name: str, path: Path, source: str | None, tests: list[str], autoload: bool) -> int:
    if not autoload:
        # Most core tests need no plugin: leaving the installed ones out (this plugin,
        # xdist, html, hypothesis's) makes a run several times quicker.
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    if source is not None:
        sys.meta_path.insert(0, _Replace(name, path, source))
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    import pytest

    args = ["-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *tests]
    return int(pytest.main(args))


def run(
    name: str,
    path: Path,
    source: str | None,
    tests: list[str],
    timeout: float,
    *,
    autoload: bool = False,
) -> str:
    """killed, survived or timeout: pytest forked from this process, with the mutant."""
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            code = _child(name, path, source, tests, autoload)
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout"
        time.sleep(0.05)
    code = os.waitstatus_to_exitcode(status)
    return "survived" if code == 0 else "killed"


def _preload() -> None:
    """Import once, here, what every child would import: pytest, the plugin and the
    libraries it loads (the Kubernetes client, boto3...). The plugin's own modules are
    then forgotten, so that each child imports them afresh, the mutant among them."""
    import hypothesis  # noqa: F401
    import numpy  # noqa: F401
    import pytest  # noqa: F401
    import scipy.special  # noqa: F401
    import yaml  # noqa: F401

    import pytest_experiment.plugin.hooks  # noqa: F401

    for name in [
        n for n in sys.modules if n == "pytest_experiment" or n.startswith("pytest_experiment.")
    ]:
        del sys.modules[name]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="paths under pytest_experiment/ (all core/)")
    parser.add_argument("--list", action="store_true", help="print the mutants, do not run")
    parser.add_argument("--json", type=Path, help="write every mutant and its outcome here")
    parser.add_argument("--survivors-only", action="store_true")
    parser.add_argument(
        "--tests", nargs="+", help="run these (test files or node ids) instead of the chosen ones"
    )
    parser.add_argument(
        "--line", type=int, action="append", help="only the mutants on this line (repeatable)"
    )
    args = parser.parse_args(argv)
    paths = (
        [PACKAGE / m.removeprefix("pytest_experiment/") for m in args.modules]
        if args.modules
        else sorted(CORE.rglob("*.py"))
    )
    _preload()

    os.chdir(ROOT)
    results: list[Mutant] = []
    totals: dict[str, dict[str, int]] = {}
    for path in paths:
        module = str(path.relative_to(PACKAGE))
        found = [m for m in mutants(path) if not args.line or m[0].line in args.line]
        if args.list:
            for m, _ in found:
                print(f"{m.module}:{m.line}: {m.operator}: {m.before}  ->  {m.after}")
            continue
        tests = args.tests or [str(t) for t in tests_for(path)]
        if not tests:
            print(f"{module}: no fast test imports it; {len(found)} mutants not run")
            totals[module] = {"mutants": len(found), "killed": 0, "survived": 0, "untested": 1}
            continue
        autoload = False
        started = time.monotonic()
        clean = run(dotted(path), path, None, tests, timeout=600)
        if clean != "survived":  # some test needs a plugin: load them all
            autoload = True
            started = time.monotonic()
            clean = run(dotted(path), path, None, tests, timeout=600, autoload=True)
        baseline = time.monotonic() - started
        if clean != "survived":
            print(f"{module}: its tests fail without any mutant; skipped")
            continue
        budget = max(10.0, 4 * baseline)
        counts = {"mutants": len(found), "killed": 0, "survived": 0, "timeout": 0}
        print(
            f"{module}: {len(found)} mutants, {len(tests)} test files, "
            f"{baseline:.1f} s clean, {budget:.0f} s budget"
            + (", with the installed plugins" if autoload else ""),
            flush=True,
        )
        for m, source in found:
            started = time.monotonic()
            m.outcome = run(dotted(path), path, source, tests, budget, autoload=autoload)
            m.seconds = round(time.monotonic() - started, 2)
            counts[m.outcome] += 1
            if m.outcome == "survived" or not args.survivors_only:
                print(
                    f"  {m.outcome:8} {m.module}:{m.line}: {m.operator}: {m.before}  ->  {m.after}",
                    flush=True,
                )
            results.append(m)
        counts["killed"] += counts.pop("timeout")
        totals[module] = counts
        score = counts["killed"] / counts["mutants"] if counts["mutants"] else 1.0
        print(f"{module}: {counts['killed']}/{counts['mutants']} killed ({score:.0%})", flush=True)
    if args.json:
        args.json.write_text(
            json.dumps({"totals": totals, "mutants": [asdict(m) for m in results]}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
