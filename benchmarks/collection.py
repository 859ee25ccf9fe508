"""Collection time: `--collect-only` of 1,000 experiment files ≤ 1.1 × pytest's own floor;
import ≤ 100 ms.

Writes 1,000 copies of the example experiment `web-latency` (24 items each)
and, as pytest's own floor for the same number of items, 1,000 plain test
modules holding one test parametrized 24 ways. Both trees are collected with
`pytest --collect-only -q` in interleaved pairs (floor, plugin, floor, …), so
that both sides see the same machine load, and the ratio of the medians is
printed. The floor runs with `-p no:experiment`: the plugin's import is part
of what it costs. The import overhead is the difference between a pytest run
over one trivial test with the plugin and with `-p no:experiment`.

With ``--max-cost USD`` the plugin side collects under ``--experiment-max-cost``
(one more item per experiment, ``preflight[cost]``; the floor is then parametrized
25 ways to match): what the cost guard adds to collection.

Run: .venv/bin/python benchmarks/collection.py [--files N] [--repeat N] [--max-cost USD]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "experiments" / "web-latency" / "experiment.yaml"
ITEMS_PER_FILE = 24
TARGET_RATIO = 1.1
# Third-party plugins installed for this repository's own tests (hypothesis) are
# neither pytest's floor nor this plugin: both sides run without them.
QUIET = ["-p", "no:hypothesispytest"]

FLOOR_MODULE = """import pytest


@pytest.mark.parametrize("case", range({items}))
def test_case(case):
    pass
"""


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float  # user + system of the pytest process: less swayed by other work on the machine


def timed(args: list[str], *, cwd: Path, env: dict[str, str], items: int | None = None) -> Timing:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 5):
        sys.exit(f"pytest failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    if items is not None:
        # A benchmark that silently collected fewer items would flatter the plugin.
        collected = sum(1 for line in done.stdout.splitlines() if "::" in line)
        if collected != items:
            sys.exit(f"expected {items} items, collected {collected}:\n{done.stdout[-2000:]}")
    return Timing(wall=elapsed, cpu=cpu)


def write_trees(tree: Path, files: int, *, items: int = ITEMS_PER_FILE) -> None:
    text = EXAMPLE.read_text()
    for i in range(files):
        target = tree / "experiments" / f"exp-{i:04d}" / "experiment.yaml"
        target.parent.mkdir(parents=True)
        target.write_text(text.replace("generateName: web-lat-", f"generateName: e{i}-"))
        floor = tree / "floor" / f"test_mod_{i:04d}.py"
        floor.parent.mkdir(exist_ok=True)
        floor.write_text(FLOOR_MODULE.format(items=items))
    (tree / "plain").mkdir()
    (tree / "plain" / "test_plain.py").write_text("def test_plain():\n    pass\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--max-cost",
        metavar="USD",
        help="collect the experiments under --experiment-max-cost USD (one more item each)",
    )
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="run pytest with PYTHONDONTWRITEBYTECODE=1 (every module compiled on every run)",
    )
    args = parser.parse_args()
    per_file = ITEMS_PER_FILE + (args.max_cost is not None)
    items = args.files * per_file
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if args.no_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    floor_args = ["--collect-only", "-q", "-p", "no:experiment", *QUIET, "floor"]
    limit = [f"--experiment-max-cost={args.max_cost}"] if args.max_cost is not None else []
    plugin_args = ["--collect-only", "-q", *QUIET, *limit, "experiments"]
    floor: list[Timing] = []
    plugin: list[Timing] = []
    without: list[Timing] = []
    with_plugin: list[Timing] = []
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp)
        write_trees(tree, args.files, items=per_file)
        # One untimed pass of each warms the file cache (and writes bytecode, as a
        # developer's earlier runs would have).
        timed(floor_args, cwd=tree, env=env, items=items)
        timed(plugin_args, cwd=tree, env=env, items=items)
        for _ in range(args.repeat):
            floor.append(timed(floor_args, cwd=tree, env=env, items=items))
            plugin.append(timed(plugin_args, cwd=tree, env=env, items=items))
        for _ in range(args.repeat):
            without.append(timed(["-q", "-p", "no:experiment", *QUIET, "plain"], cwd=tree, env=env))
            with_plugin.append(timed(["-q", *QUIET, "plain"], cwd=tree, env=env))
    print(
        f"collect-only, {args.files} files, {items} items, {args.repeat} interleaved pairs"
        f" (bytecode {'off' if args.no_bytecode else 'on'}"
        f"{f', --experiment-max-cost {args.max_cost}' if limit else ''})"
    )
    for label, kind in (("wall", "wall"), ("CPU", "cpu")):
        floor_s = statistics.median(getattr(t, kind) for t in floor)
        plugin_s = statistics.median(getattr(t, kind) for t in plugin)
        ratio = plugin_s / floor_s
        verdict = "meets" if ratio <= TARGET_RATIO else "misses"
        print(
            f"  {label:4}: floor {floor_s:.2f} s {_span(floor, kind)}, "
            f"plugin {plugin_s:.2f} s {_span(plugin, kind)} -> "
            f"ratio {ratio:.2f} x ({verdict} <= {TARGET_RATIO} x)"
        )
    overhead = statistics.median(t.wall for t in with_plugin) - statistics.median(
        t.wall for t in without
    )
    print(
        f"plugin overhead on a run with no experiments: {overhead * 1000:.0f} ms wall "
        f"(with {statistics.median(t.wall for t in with_plugin) * 1000:.0f} ms, "
        f"without {statistics.median(t.wall for t in without) * 1000:.0f} ms; target <= 100 ms)"
    )
    print(f"1-minute load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


def _span(values: list[Timing], kind: str) -> str:
    figures = [getattr(t, kind) for t in values]
    return f"({min(figures):.2f}-{max(figures):.2f})"


if __name__ == "__main__":
    main()
