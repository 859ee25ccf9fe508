"""Alias bombs and recursive aliases end fast and small, bounded by the kernel, not a clock.

Each case collects one hostile file with pytest in a child process whose
limits are set just before collection: address space at most 100 MB above what
the warmed-up process already maps, and CPU time at most five seconds above what
it already used, pytest's own start-up included (the kernel stops it past either).
Reading and refusing the file itself takes about a millisecond. Before the limits were
enforced while reading, the 10⁸-leaf bomb took 47 s and 1.57 GB. Files the limits
accept, at the limits, are collected under a CPU limit the same way.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hostile_files import aliased_tag_text, bomb, example_text, most_tags_text

CHILD = textwrap.dedent(
    """
    import json, math, resource, sys, time
    import pytest
    # warm: imports are not the bomb's
    import pytest_experiment.plugin.collect, pytest_experiment.core.rules

    def vm_bytes():
        for line in open("/proc/self/status"):
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmSize")

    base_vm = vm_bytes()
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = used.ru_utime + used.ru_stime
    resource.setrlimit(resource.RLIMIT_AS, (base_vm + 100 * 2**20,) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (math.ceil(cpu) + 5, math.ceil(cpu) + 6))
    from pathlib import Path
    from pytest_experiment.base.errors import SpecError
    from pytest_experiment.core.spec import read_source

    started = time.perf_counter()
    try:
        read_source(Path(sys.argv[1]) / "bad" / "experiment.yaml")
    except SpecError:
        pass
    read = time.perf_counter() - started
    started = time.perf_counter()
    code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", sys.argv[1]])
    elapsed = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({
        "code": int(code), "read_ms": read * 1000, "collect_s": elapsed, "max_rss_mb": rss / 2**20
    }))
    """
)


@pytest.mark.parametrize(
    ("document", "line", "message"),
    [
        (bomb(8), 7, "expands to more than 200000 nodes"),
        (bomb(9), 7, "expands to more than 200000 nodes"),
        ("kind: Experiment\nspec: &s\n  again: *s\n", 2, "recursive YAML alias"),
    ],
    ids=["bomb-1e8", "bomb-1e9", "recursive"],
)
def test_bombs_end_within_a_second_and_100_mb(
    tmp_path: Path, document: str, line: int, message: str
) -> None:
    path = tmp_path / "bad" / "experiment.yaml"
    path.parent.mkdir()
    path.write_text(document)
    assert len(document) < 1600
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    # Killed by SIGXCPU or out of memory would leave no figures and a signal code.
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{document[:40]!r}…: {figures}")  # recorded in benchmarks/README.md
    assert figures["code"] == pytest.ExitCode.TESTS_FAILED  # a collection error, reported
    assert f"bad/experiment.yaml:{line}: " in done.stdout
    assert message in done.stdout


AT_LIMITS_CHILD = textwrap.dedent(
    """
    import json, math, resource, sys, time
    import pytest
    import pytest_experiment.plugin.collect, pytest_experiment.core.rules

    def cpu():
        used = resource.getrusage(resource.RUSAGE_SELF)
        return used.ru_utime + used.ru_stime

    def collect(path):
        started = cpu()
        code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", path])
        return int(code), cpu() - started

    plain = collect(sys.argv[1] + "/plain")  # warms what the first collection loads
    plain = collect(sys.argv[1] + "/plain")
    allowance = float(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_CPU, (math.ceil(cpu() + allowance),) * 2)
    figures = {"plain": plain}
    for name in sys.argv[3:]:
        figures[name] = collect(sys.argv[1] + "/" + name)
    print(json.dumps(figures))
    """
)


def test_files_at_the_limits_collect_in_seconds(tmp_path: Path) -> None:
    """The most distinct tags the limits allow (199,893 markers) and one long tag aliased
    60,000 times: registering their markers scanned a list per tag (580 s) or made a
    marker name of each copy (30 GB of text). Bounded by the kernel's CPU limit; the
    figures against the plain example are in benchmarks/README.md."""
    files = {"plain": example_text(), "most-tags": most_tags_text(), "aliased": aliased_tag_text()}
    for name, text in files.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "experiment.yaml").write_text(text)
    done = subprocess.run(
        [sys.executable, "-c", AT_LIMITS_CHILD, str(tmp_path), "30", "most-tags", "aliased"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        check=False,
    )
    # Killed by SIGXCPU would leave no figures and a signal code.
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    print(figures)
    assert figures["most-tags"][0] == pytest.ExitCode.OK
    assert figures["aliased"][0] == pytest.ExitCode.OK
    items = done.stdout.count("plain/experiment.yaml::") // 2  # collected twice
    assert items > 0
    assert done.stdout.count("most-tags/experiment.yaml::") == items
    assert done.stdout.count("aliased/experiment.yaml::") == items
