"""Each part of a ``Launch`` is written by the one module that owns it (``run/launch.py``).

Read from the source: an assignment to a field of a stage's state, or a call
that changes one of its lists or events, anywhere in the package outside that
stage's module is a failure naming the place.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pytest_experiment"
OWNERS = {
    "preflight": "run/preflight.py",
    "apply": "run/launcher.py",
    "follow": "run/follow.py",
    "failure": "run/failure_capture.py",
    "items": "run/live_run.py",
    "publish": "run/publish.py",
    "review": "run/review_gate.py",
}
MUTATORS = frozenset({"append", "extend", "clear", "set", "update", "pop", "remove"})


def stage_writes(source: str) -> list[tuple[str, int]]:
    """(stage, line) of every write to a launch stage's state in ``source``."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {}
    assigns = [node for node in ast.walk(tree) if isinstance(node, ast.Assign)]
    for assign in assigns:
        value = assign.value
        if isinstance(value, ast.Attribute) and value.attr in OWNERS:
            # ``state = launch.follow``: the module's writes through ``state`` count too
            # (one alias name per module: every module here aliases only its own stage).
            for target in assign.targets:
                aliases[ast.unparse(target)] = value.attr

    def stage_of(owner: ast.expr) -> str | None:
        if isinstance(owner, ast.Attribute) and owner.attr in OWNERS:
            return owner.attr
        return aliases.get(ast.unparse(owner))

    writes = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt | ast.expr):
            continue
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = [t for target in node.targets for t in _flat(target)]
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in MUTATORS
        ):
            targets = [node.func.value]
        for target in targets:
            if isinstance(target, ast.Attribute) and (stage := stage_of(target.value)):
                writes.append((stage, node.lineno))
    return writes


def _flat(target: ast.expr) -> list[ast.expr]:
    if isinstance(target, ast.Tuple | ast.List):
        return [t for element in target.elts for t in _flat(element)]
    return [target]


@pytest.mark.parametrize(
    "module", sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")), ids=str
)
def test_only_the_owner_writes_a_stage_of_a_launch(module: str) -> None:
    writes = stage_writes((PACKAGE / module).read_text(encoding="utf-8"))
    foreign = [f"{module}:{line} writes {s}" for s, line in writes if OWNERS[s] != module]
    assert foreign == []


def test_the_check_sees_direct_and_aliased_writes() -> None:
    source = """
def f(launch, run):
    launch.follow.result = None
    state = launch.publish
    state.attempts.append(1)
    launch.apply.done.set()
    a, launch.items.done = 1, True
    launch.experiment.name.upper()
"""
    assert sorted(stage_writes(source), key=lambda w: w[1]) == [
        ("follow", 3),
        ("publish", 5),
        ("apply", 6),
        ("items", 7),
    ]
