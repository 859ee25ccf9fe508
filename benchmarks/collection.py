"""P4: `--collect-only` of 1,000 experiment files ≤ 2 s; plugin import adds ≤ 100 ms.

Writes 1,000 copies of the example experiment `web-latency` into a temporary
tree and times `pytest --collect-only -q` over it (wall time, median of
repeated runs). The import overhead is the difference between a pytest run
over one trivial test with the plugin and with `-p no:experiment`.

Run: .venv/bin/python benchmarks/collection.py [--files N] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "experiments" / "web-latency" / "experiment.yaml"


def wall(args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd, capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 5):
        sys.exit(f"pytest failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    text = EXAMPLE.read_text()
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp)
        for i in range(args.files):
            target = tree / "experiments" / f"exp-{i:04d}" / "experiment.yaml"
            target.parent.mkdir(parents=True)
            target.write_text(text.replace("generateName: web-lat-", f"generateName: e{i}-"))
        (tree / "plain").mkdir()
        (tree / "plain" / "test_plain.py").write_text("def test_plain():\n    pass\n")
        collect = [wall(["--collect-only", "-q", "experiments"], tree) for _ in range(args.repeat)]
        with_plugin = [wall(["-q", "plain"], tree) for _ in range(args.repeat)]
        without = [wall(["-q", "-p", "no:experiment", "plain"], tree) for _ in range(args.repeat)]
    items = args.files * 24
    print(
        f"collect-only, {args.files} files ({items} items): "
        f"median {statistics.median(collect):.2f} s (target ≤ 2 s)"
    )
    overhead = (statistics.median(with_plugin) - statistics.median(without)) * 1000
    print(
        f"plugin overhead on a run with no experiments: {overhead:.0f} ms "
        f"(with {statistics.median(with_plugin) * 1000:.0f} ms, "
        f"without {statistics.median(without) * 1000:.0f} ms; target ≤ 100 ms)"
    )


if __name__ == "__main__":
    main()
