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
    python scripts/mutate.py --sample 40 --seed 1 core/cost.py  # 40 mutants drawn at random

A survivor is printed as ``module:line: what changed`` with the line before and after;
``--json`` writes every mutant and its outcome. Each module's score, and the total's, is
printed with a 95 % confidence interval (Wilson's): with ``--sample`` it says how far the
score of the mutants run may be from the module's; without, it is the sampling error of
the mutator itself and can be ignored.
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib.abc
import importlib.util
import itertools
import json
import math
import os
import random
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
    "core/checks/compare.py": ("test_reproducibility.py", "test_reproducibility_stats.py"),
    "core/checks/reading.py": ("test_checks.py",),
    "core/rules/text.py": ("test_rules.py",),
    "core/rules/names.py": ("test_rules.py",),
    "core/rules/lint.py": ("test_rules.py",),
    "core/rules/validation.py": ("test_rules.py",),
    "core/rules/__init__.py": ("test_rules.py",),
    # Imported by no test directly: read through the spec and schema loaders.
    "core/yaml_loader.py": ("test_hostile_input.py", "test_spec.py", "test_schema.py"),
    "core/yaml_source.py": ("test_hostile_input.py", "test_spec.py", "test_schema.py"),
    # Imported by many files, most of which only pass its objects along: the ones that
    # test what it decides.
    "core/spec.py": ("test_spec.py", "test_schema.py", "test_rules.py", "test_hostile_input.py"),
    "core/options.py": ("test_options.py",),
    "core/option_parsers.py": ("test_options.py",),
    "core/option_table.py": ("test_options.py", "test_cost.py"),
    "core/intent.py": ("test_intent.py", "test_checks.py"),
    "core/sitedata.py": ("test_sitedata.py", "test_intent.py", "test_cost.py"),
    "core/verdict.py": ("test_checks.py", "test_gate.py", "test_rules.py"),
    "core/toil.py": ("test_toil.py", "test_lifecycle.py", "test_review.py"),
    "core/review.py": ("test_review.py", "test_reasons.py", "test_read_in_time.py"),
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


# -- sampling and the confidence interval --------------------------------------------------


def sample(
    found: list[tuple[Mutant, str]], n: int | None, seed: int, module: str
) -> list[tuple[Mutant, str]]:
    """``n`` of the module's mutants drawn at random, in the mutator's order; all if ``n`` is None.
    The draw depends on the seed and the module's name only, so a run can be repeated
    module by module, and one module's draw does not move when another's mutants change."""
    if n is None or n >= len(found):
        return found
    chosen = sorted(random.Random(f"{seed}:{module}").sample(range(len(found)), n))
    return [found[i] for i in chosen]


def wilson(killed: float, n: float, z: float = 1.96) -> tuple[float, float]:
    """Wilson's score interval for a proportion (95 % for z = 1.96): unlike p ± z·se it
    stays inside [0, 1] and is not zero-wide when every mutant run was killed."""
    if n <= 0:
        return (0.0, 1.0)
    p = killed / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def total_score(totals: dict[str, dict[str, int]]) -> tuple[float, float, float, int]:
    """The score over all the modules run, each weighted by its whole number of mutants
    (a module sampled at 40 of 200 counts for 200), and its interval: Wilson's, on the
    effective sample size of that stratified estimate (its variance, with the finite
    population correction, read back as the n of a simple sample). Returns (score, low,
    high, mutants run)."""
    rows = [t for t in totals.values() if t.get("run")]
    population = sum(t["mutants"] for t in rows)
    ran = sum(t["run"] for t in rows)
    if not population:
        return (1.0, 0.0, 1.0, 0)
    score = sum(t["mutants"] * t["killed"] / t["run"] for t in rows) / population
    variance = 0.0
    for t in rows:
        weight, p, n = t["mutants"] / population, t["killed"] / t["run"], t["run"]
        if n > 1:
            variance += weight**2 * p * (1 - p) / n * (1 - (n - 1) / max(1, t["mutants"] - 1))
    effective = score * (1 - score) / variance if variance > 0 else ran
    low, high = wilson(score * effective, effective)
    return (score, low, high, ran)


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


# Which plugins a child loads: none, this one only, or every one installed.
PLUGINS = ("none", "ours", "all")


def _child(name: str, path: Path, source: str | None, tests: list[str], plugins: str) -> int:
    if plugins != "all":
        # Most core tests need no plugin: leaving the installed ones out (xdist, html,
        # hypothesis's...) makes a run several times quicker.
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    if plugins == "ours":
        # Tests that run pytest in process (pytester) need this plugin's options there
        # too: PYTEST_PLUGINS loads it into every pytest of the child, without the rest.
        os.environ["PYTEST_PLUGINS"] = "pytest_experiment.plugin.hooks"
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
    plugins: str = "none",
) -> str:
    """killed, survived or timeout: pytest forked from this process, with the mutant."""
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            code = _child(name, path, source, tests, plugins)
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
    parser.add_argument(
        "--sample", type=int, metavar="N", help="run N mutants of each module, drawn at random"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="the seed of --sample's draw (default 0)"
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
        every = [m for m in mutants(path) if not args.line or m[0].line in args.line]
        found = sample(every, args.sample, args.seed, module)
        if args.list:
            for m, _ in found:
                print(f"{m.module}:{m.line}: {m.operator}: {m.before}  ->  {m.after}")
            continue
        tests = args.tests or [str(t) for t in tests_for(path)]
        if not tests:
            print(f"{module}: no fast test imports it; {len(found)} mutants not run")
            totals[module] = {"mutants": len(every), "run": 0, "killed": 0, "survived": 0}
            continue
        module_started = time.monotonic()
        for plugins in PLUGINS:  # the fewest plugins with which the tests pass
            started = time.monotonic()
            clean = run(dotted(path), path, None, tests, timeout=600, plugins=plugins)
            if clean == "survived":
                break
        baseline = time.monotonic() - started
        if clean != "survived":
            print(f"{module}: its tests fail without any mutant; skipped")
            continue
        budget = max(10.0, 4 * baseline)
        counts = {"mutants": len(every), "run": len(found), "killed": 0, "survived": 0}
        counts["timeout"] = 0
        drawn = f" (a sample of {len(found)}, seed {args.seed})" if len(found) < len(every) else ""
        print(
            f"{module}: {len(every)} mutants{drawn}, {len(tests)} test files, "
            f"{baseline:.1f} s clean, {budget:.0f} s budget"
            + {"none": "", "ours": ", with this plugin", "all": ", with the installed plugins"}[
                plugins
            ],
            flush=True,
        )
        for m, source in found:
            started = time.monotonic()
            m.outcome = run(dotted(path), path, source, tests, budget, plugins=plugins)
            m.seconds = round(time.monotonic() - started, 2)
            counts[m.outcome] += 1
            if m.outcome == "survived" or not args.survivors_only:
                print(
                    f"  {m.outcome:8} {m.module}:{m.line}: {m.operator}: {m.before}  ->  {m.after}",
                    flush=True,
                )
            results.append(m)
        counts["killed"] += counts.pop("timeout")
        counts["seconds"] = round(time.monotonic() - module_started)
        totals[module] = counts
        killed, ran = counts["killed"], counts["run"]
        low, high = wilson(killed, ran)
        print(
            f"{module}: {killed}/{ran} killed ({killed / ran if ran else 1:.1%}, "
            f"95 % CI {low:.1%} to {high:.1%}){drawn}, {counts['seconds']} s",
            flush=True,
        )
    if len(totals) > 1:
        score, low, high, ran = total_score(totals)
        population = sum(t["mutants"] for t in totals.values() if t.get("run"))
        print(
            f"total: {score:.1%} killed (95 % CI {low:.1%} to {high:.1%}), "
            f"{ran} mutants run of {population}, each module weighted by its mutants"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"totals": totals, "mutants": [asdict(m) for m in results]}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
