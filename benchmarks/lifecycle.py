"""Detection latency, API requests, suite wall time (and peak memory): following live
experiments through the sandbox.

Starts its own sandbox (kube-apiserver + etcd, SeaweedFS, the simulated
operator) with a time scale that makes one experiment last ~20 s, writes N
copies of the example `web-latency` (publish off, so a session ends at
Complete), then:

  sessions  `pytest experiments --experiment-cleanup=never …` over 1, 5, N
            (and --p6: 100) experiments in a subprocess. From the JSON report
            and the objects left on the cluster:
            P1  detection latency per phase transition: when the plugin's
                watch saw the phase (run record `timeline`) minus when the
                operator stamped it (`status.phaseTimestamps`, taken just
                before its status patch; same clock; only the legacy operator
                flavour writes it, so the sessions run that flavour). Includes
                the patch's round trip, so it is an upper bound.
            P2  client-side API requests of the whole session by verb
                (`session.apiRequests`) and watches opened (`session.watch`).
            P3  suite wall time against the longest experiment (operator
                stamps Pending → Complete).
            P6  peak RSS of the pytest process (VmHWM; --p6, 100 experiments).
  seed      the seed's procedure for comparison, on a few experiments: one
            at a time, `kubectl create`, then `kubectl get` of the phase every
            15 s × time scale until it is final (requests counted per kubectl
            call; kubectl's own discovery calls not counted).

Run: .venv/bin/python benchmarks/lifecycle.py [--experiments 20] [--time-scale 0.01]
     [--seed-experiments 3] [--p6] [--sizes 100 --seed-experiments 0]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from pytest_experiment.base.resources import EXPERIMENTS
from pytest_experiment.core.lifecycle import run_total
from pytest_experiment.sandbox import Sandbox, SandboxConfig, start_sandbox
from pytest_experiment.sandbox.install import experiment_crd
from pytest_experiment.sandbox.kube import custom_lister, list_raw, wait_until
from pytest_experiment.sandbox.scenarios import DEFAULT_KEY, set_scenario

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "experiments" / "web-latency"
NAMESPACE = "experiments"
PHASES = ("Pending", "Provisioning", "Ready", "Running", "Complete")
SEED_POLL_SECONDS = 15.0
PHASE_PATH = "jsonpath={.status.phase}"
HTTP_LOG = re.compile(
    r"round_trippers\.go:\d+\] (?:GET|POST|PUT|PATCH|DELETE) https?://[^/\s]+(\S*)"
)
DISCOVERY = re.compile(r"/(?:openapi/|(?:api|apis)(?:/[^/?]+){0,2}(?:\?|$))")
# Third-party plugins installed for this repository's own tests (hypothesis) are not
# part of what a user's session loads.
QUIET = ("-p", "no:hypothesispytest")
# pytest in-process, then its own peak RSS (KiB): the figure the memory target bounds. VmHWM, not
# ru_maxrss: Linux carries ru_maxrss over an exec, so a child started from this
# ~100 MB benchmark process would report the benchmark's own peak as a floor.
MEASURED_PYTEST = """
import re, sys, pytest
out, args = sys.argv[1], sys.argv[2:]
code = pytest.main(args)
with open("/proc/self/status") as status:
    open(out, "w").write(re.search(r"VmHWM:\\s+(\\d+)", status.read()).group(1))
sys.exit(code)
"""


@dataclass(frozen=True, kw_only=True)
class SessionFigures:
    experiments: int
    wall: float
    longest: float
    latencies_ms: tuple[float, ...]
    requests: Mapping[str, int]
    watch: Mapping[str, int]
    peak_rss_mb: float
    exit_code: int


def stamping_crd(root: Path) -> Path:
    """The sandbox's Experiment CRD plus the legacy operator's ``status.phaseTimestamps``.

    The bundled CRD has the real status schema, so the API server prunes the
    stamps the legacy operator writes; detection latency needs them as its reference clock.
    Only this field is added: everything the plugin reads is unchanged.
    """
    crd = experiment_crd(log=lambda _: None)
    status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    status["properties"]["phaseTimestamps"] = {
        "type": "object",
        "additionalProperties": {"type": "string"},
    }
    path = root / "experiment-crd-with-stamps.yaml"
    path.write_text(yaml.safe_dump(crd, sort_keys=False))
    return path


def write_project(root: Path, count: int) -> Path:
    doc = yaml.safe_load((EXAMPLE / "experiment.yaml").read_text())
    doc["spec"]["publish"] = False
    project = root / f"project-{count}"
    for i in range(count):
        folder = project / "experiments" / f"exp-{i:03d}"
        (folder / "workflow").mkdir(parents=True)
        doc["metadata"]["generateName"] = f"b{count}x{i}-"
        (folder / "experiment.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        shutil.copy(EXAMPLE / "workflow" / "template.yaml", folder / "workflow" / "template.yaml")
    return project


def stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def run_session(sandbox: Sandbox, api: client.ApiClient, project: Path) -> SessionFigures:
    report_path = project / "report.json"
    env = {**os.environ, **sandbox.env()}
    # Compiling every module on every run (as this variable makes Python do) is no
    # user's set-up, and inflates the peak RSS with the compiler's work.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.perf_counter()
    rss_path = project / "rss.txt"
    done = subprocess.run(
        [
            sys.executable, "-c", MEASURED_PYTEST, str(rss_path),
            "experiments", "-q", "-p", "no:cacheprovider", *QUIET,
            f"--experiment-kubeconfig={sandbox.kubeconfig}",
            f"--experiment-s3-endpoint={sandbox.s3_endpoint}",
            f"--experiment-report={report_path}",
            "--experiment-apply-templates", "--experiment-cleanup=never",
        ],
        cwd=project, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    peak_rss_mb = int(rss_path.read_text()) / 1024 if rss_path.exists() else float("nan")
    if not report_path.exists():
        sys.exit(f"pytest wrote no report (exit {done.returncode}):\n{done.stdout[-3000:]}")
    report = json.loads(report_path.read_text())
    runs = {
        instance["instance"]: instance
        for experiment in report["experiments"]
        for instance in experiment["instances"]
        if instance.get("timeline")
    }
    objects = {o["metadata"]["name"]: o for o in list_raw(lister(api))[0]}
    latencies: list[float] = []
    durations: list[float] = []
    for name, run in runs.items():
        stamps = (objects.get(name, {}).get("status") or {}).get("phaseTimestamps") or {}
        # Pending is timed from the harness's first sight of the object, before the
        # operator stamps it: only the transitions the operator makes are measured.
        for phase in PHASES[1:]:
            if phase in stamps and phase in run["timeline"]:
                seen = stamp(run["timeline"][phase]) - stamp(stamps[phase])
                latencies.append(seen.total_seconds() * 1000)
        if "Pending" in stamps and "Complete" in stamps:
            durations.append((stamp(stamps["Complete"]) - stamp(stamps["Pending"])).total_seconds())
        elif (total := run_total(objects.get(name))) is not None:
            # No stamps: creation to completedAt, at the second precision the API keeps.
            durations.append(total)
    delete_all(api, objects)
    if len(durations) != len(runs) or len(runs) == 0:
        sys.exit(f"not every experiment completed (exit {done.returncode}):\n{done.stdout[-3000:]}")
    return SessionFigures(
        experiments=len(runs),
        wall=wall,
        longest=max(durations),
        latencies_ms=tuple(latencies),
        requests=report["session"]["apiRequests"],
        watch=report["session"]["watch"],
        peak_rss_mb=peak_rss_mb,
        exit_code=done.returncode,
    )


def lister(api: client.ApiClient) -> Any:
    return custom_lister(api, EXPERIMENTS, namespace=NAMESPACE)


def delete_all(api: client.ApiClient, objects: Iterable[str]) -> None:
    custom = client.CustomObjectsApi(api)
    names = set(objects)
    for name in names:
        custom.delete_namespaced_custom_object(
            EXPERIMENTS.group, EXPERIMENTS.version, NAMESPACE, EXPERIMENTS.plural, name
        )
    wait_until(
        lister(api),
        lambda current: not any(key.split("/")[-1] in names for key in current),
        timeout=120,
        what="the benchmark's experiments to be deleted",
    )


@dataclass(frozen=True, kw_only=True)
class SeedFigures:
    experiments: int
    wall: float
    longest: float
    latencies_ms: tuple[float, ...]
    phases_missed: int
    requests: int
    resource_requests: int


def seed_procedure(
    sandbox: Sandbox, api: client.ApiClient, project: Path, *, time_scale: float
) -> SeedFigures | str:
    """The seed's loop: create, poll the phase every 15 s (scaled), then the next experiment.

    Requests are counted from kubectl's own log (-v=6: one line per HTTP
    request); ``resource_requests`` leaves out its API discovery calls.
    """
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return "kubectl not on PATH"
    env = {**os.environ, **sandbox.env(), "KUBECACHEDIR": str(project / "kube-cache")}
    requests = resource_requests = 0

    def run(*args: str) -> str:
        nonlocal requests, resource_requests
        done = subprocess.run(
            [kubectl, "-v=6", *args], env=env, capture_output=True, text=True, check=True
        )
        calls = HTTP_LOG.findall(done.stderr)
        requests += len(calls)
        resource_requests += sum(1 for path in calls if not DISCOVERY.match(path))
        return done.stdout

    seen: dict[str, dict[str, datetime]] = {}
    started = time.perf_counter()
    for folder in sorted((project / "experiments").iterdir()):
        name = run("create", "-f", str(folder / "experiment.yaml"), "-o", "name")
        name = name.strip().split("/")[-1]
        seen[name] = {}
        while True:
            phase = run(
                "get", "experiment", name, "-n", NAMESPACE, "-o", "jsonpath={.status.phase}"
            )
            seen[name].setdefault(phase or "Pending", datetime.now(UTC))
            if phase in ("Complete", "Failed"):
                break
            time.sleep(SEED_POLL_SECONDS * time_scale)
    wall = time.perf_counter() - started
    objects = {o["metadata"]["name"]: o for o in list_raw(lister(api))[0]}
    latencies: list[float] = []
    durations: list[float] = []
    missed = 0
    for name, phases in seen.items():
        stamps = (objects[name].get("status") or {}).get("phaseTimestamps") or {}
        for phase in PHASES:
            if phase not in phases:
                missed += 1
            elif phase in stamps:
                latencies.append((phases[phase] - stamp(stamps[phase])).total_seconds() * 1000)
        if "Pending" in stamps and "Complete" in stamps:
            durations.append((stamp(stamps["Complete"]) - stamp(stamps["Pending"])).total_seconds())
        elif (total := run_total(objects[name])) is not None:
            durations.append(total)
    delete_all(api, objects)
    return SeedFigures(
        experiments=len(seen),
        wall=wall,
        longest=max(durations, default=float("nan")),
        latencies_ms=tuple(latencies),
        phases_missed=missed,
        requests=requests,
        resource_requests=resource_requests,
    )


@contextlib.contextmanager
def run_sandbox(tmp: Path, time_scale: float) -> Iterator[tuple[Sandbox, client.ApiClient]]:
    config = SandboxConfig(time_scale=time_scale, crd=stamping_crd(tmp))
    with start_sandbox(config) as sandbox, sandbox.api_client() as api:
        yield sandbox, api


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=20)
    parser.add_argument("--time-scale", type=float, default=0.01)
    parser.add_argument(
        "--seed-experiments", type=int, help="for the seed's procedure (default: --experiments)"
    )
    parser.add_argument("--p6", action="store_true", help="also run 100 experiments at once")
    parser.add_argument(
        "--sizes",
        help="comma-separated session sizes to run instead of 1, 5, --experiments (and 100)",
    )
    args = parser.parse_args()
    if args.sizes:
        sizes = sorted({int(size) for size in args.sizes.split(",")})
    else:
        sizes = sorted({1, 5, args.experiments} | ({100} if args.p6 else set()))
    seed_count = args.experiments if args.seed_experiments is None else args.seed_experiments
    with (
        tempfile.TemporaryDirectory() as tmp,
        run_sandbox(Path(tmp), args.time_scale) as (
            sandbox,
            api,
        ),
    ):
        # Detection latency compares what the watch saw with when the operator entered each
        # phase. Only the seeds' (legacy) operator records that (status.phaseTimestamps), and
        # only a CRD that keeps the field lets it through: the legacy flavour is used, and
        # latency is reported as not measurable when the installed status schema prunes the
        # stamps.
        set_scenario(api, DEFAULT_KEY, "legacy-operator")
        sessions = [run_session(sandbox, api, write_project(Path(tmp), size)) for size in sizes]
        seed: SeedFigures | str = "--seed-experiments 0"
        if seed_count:
            seed = seed_procedure(
                sandbox,
                api,
                write_project(Path(tmp) / "seed", seed_count),
                time_scale=args.time_scale,
            )
    report(sessions, seed, time_scale=args.time_scale)


def report(
    sessions: Sequence[SessionFigures], seed: SeedFigures | str, *, time_scale: float
) -> None:
    samples = [ms for s in sessions for ms in s.latencies_ms]
    print(f"time scale {time_scale}: one experiment ≈ {sessions[0].longest:.1f} s")
    if not samples:
        print("P1: not measurable: the installed status schema prunes status.phaseTimestamps")
    else:
        print_p1(sessions, samples)
    print_p2_p3(sessions)
    print_seed(seed)


def print_p1(sessions: Sequence[SessionFigures], samples: Sequence[float]) -> None:
    print(
        f"P1 detection latency over {len(samples)} transitions: "
        f"p50 {percentile(samples, 0.5):.1f} ms, p99 {percentile(samples, 0.99):.1f} ms, "
        f"max {max(samples):.1f} ms (targets 20 / 100 ms)"
    )
    for s in sessions:
        print(
            f"  {s.experiments:>3} experiments: p50 {percentile(s.latencies_ms, 0.5):.1f} ms, "
            f"p99 {percentile(s.latencies_ms, 0.99):.1f} ms"
        )


def print_p2_p3(sessions: Sequence[SessionFigures]) -> None:
    print("P2 API requests per session (client side):")
    for s in sessions:
        total = sum(s.requests.values())
        verbs = ", ".join(f"{verb} {n}" for verb, n in sorted(s.requests.items()))
        print(
            f"  {s.experiments:>3} experiments: {total} requests ({verbs}); "
            f"watches opened {s.watch.get('watches')}, lists {s.watch.get('lists')}, "
            f"re-lists {s.watch.get('relists')}"
        )
    print("P3 suite wall vs the longest experiment (target ≤ 1.1 × longest + 2 s):")
    for s in sessions:
        target = 1.1 * s.longest + 2
        verdict = "meets" if s.wall <= target else "MISSES"
        print(
            f"  {s.experiments:>3} experiments: wall {s.wall:.1f} s, longest {s.longest:.1f} s, "
            f"target {target:.1f} s — {verdict} (exit {s.exit_code}, "
            f"peak RSS {s.peak_rss_mb:.0f} MB)"
        )


def print_seed(seed: SeedFigures | str) -> None:
    if isinstance(seed, str):
        print(f"seed procedure: skipped ({seed})")
        return
    print(f"seed procedure ({seed.experiments} experiments one after another):")
    if seed.latencies_ms:
        print(
            f"  P1 p50 {percentile(seed.latencies_ms, 0.5):.0f} ms, "
            f"p99 {percentile(seed.latencies_ms, 0.99):.0f} ms over {len(seed.latencies_ms)} "
            f"transitions seen; {seed.phases_missed} phases never seen between two polls"
        )
    else:
        print(f"  P1 not measurable; {seed.phases_missed} phases never seen between two polls")
    print(
        f"  P2 {seed.requests} HTTP requests by kubectl "
        f"({seed.resource_requests} not counting API discovery)"
    )
    print(f"  P3 wall {seed.wall:.1f} s, longest experiment {seed.longest:.1f} s")


if __name__ == "__main__":
    main()
