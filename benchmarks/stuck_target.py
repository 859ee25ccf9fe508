"""How fast a stuck target fails its lifecycle item: target Failed written → item FAIL.

The real operator never fails an experiment before Running: a cluster the cloud
refuses marks only the target ``Failed`` and the experiment waits in
Provisioning with no deadline of its own. The harness must notice that itself.

Starts its own sandbox; the simulated operator (real flavour, scenario
``stuck-provisioning``) takes each experiment to Provisioning and leaves it
there. For each sample a pytest session runs one experiment with a 20-minute
Provisioning budget; once the run has printed ``<instance>: Provisioning`` the
benchmark writes ``targets[0].phase = Failed`` through the status subresource,
as the operator would, and times until pytest prints the item's ``FAILED``
line (the pipe adds well under a millisecond).

Run: .venv/bin/python benchmarks/stuck_target.py [--samples 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml
from kubernetes import client

from pytest_experiment.base.resources import EXPERIMENTS
from pytest_experiment.sandbox import Sandbox, SandboxConfig, start_sandbox
from pytest_experiment.sandbox.scenarios import set_scenario

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "experiments" / "web-latency"
NAMESPACE = "experiments"


class Lines:
    """A subprocess's output, line by line, with when each line arrived."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[tuple[float, str]] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append((time.perf_counter(), line.rstrip("\n")))
                self._changed.notify_all()
        with self._changed:
            self.lines.append((time.perf_counter(), "<eof>"))
            self._changed.notify_all()

    def wait(self, needle: str, *, timeout: float = 120.0) -> tuple[float, str]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for at, line in self.lines:
                    if needle in line:
                        return at, line
                    if line == "<eof>":
                        tail = "\n".join(x for _, x in self.lines[-40:])
                        sys.exit(f"pytest ended before {needle!r}:\n{tail}")
                if time.monotonic() > deadline:
                    sys.exit(f"no {needle!r} within {timeout:.0f}s")
                self._changed.wait(1.0)


def write_project(root: Path, prefix: str) -> Path:
    doc = yaml.safe_load((EXAMPLE / "experiment.yaml").read_text())
    doc["spec"]["publish"] = False
    doc["metadata"]["generateName"] = prefix
    folder = root / "experiments" / "stuck"
    (folder / "workflow").mkdir(parents=True)
    (folder / "experiment.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (folder / "workflow" / "template.yaml").write_text(
        (EXAMPLE / "workflow" / "template.yaml").read_text()
    )
    return root


def sample(sandbox: Sandbox, api: client.ApiClient, root: Path, prefix: str) -> float:
    """Seconds from the target's Failed write to the item's FAILED line."""
    set_scenario(api, prefix, "stuck-provisioning")
    project = write_project(root / prefix, prefix)
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "pytest", "experiments", "-v", "-p", "no:cacheprovider",
            "-k", "lifecycle",
            f"--experiment-kubeconfig={sandbox.kubeconfig}",
            f"--experiment-s3-endpoint={sandbox.s3_endpoint}",
            "--experiment-apply-templates", "--experiment-cleanup=always",
            "--experiment-budget-provisioning=20m", "--experiment-toil=off",
        ],
        cwd=project, env={**os.environ, **sandbox.env()}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    out = Lines(proc)
    _, line = out.wait("Applied experiment: ")
    instance = line.split("Applied experiment: ", 1)[1].split(" ", 1)[0]
    out.wait(f"{instance}: Provisioning")
    objects = client.CustomObjectsApi(api)
    current = objects.get_namespaced_custom_object(
        EXPERIMENTS.group, EXPERIMENTS.version, NAMESPACE, EXPERIMENTS.plural, instance
    )
    targets = [dict(t, phase="Failed") for t in current["status"]["targets"]]
    written = time.perf_counter()
    objects.patch_namespaced_custom_object_status(
        EXPERIMENTS.group, EXPERIMENTS.version, NAMESPACE, EXPERIMENTS.plural, instance,
        {"status": {"targets": targets}}, _content_type="application/merge-patch+json",
    )  # fmt: skip
    failed, _ = out.wait("::lifecycle FAILED")
    proc.wait(timeout=120)
    return failed - written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10)
    args = parser.parse_args()
    with (
        start_sandbox(SandboxConfig(time_scale=0.0005)) as sandbox,
        sandbox.api_client() as api,
        tempfile.TemporaryDirectory() as tmp,
    ):
        figures = [sample(sandbox, api, Path(tmp), f"stk{i}x-") for i in range(args.samples)]
    ms = sorted(f * 1000 for f in figures)
    print(
        f"target Failed written → lifecycle item FAILED over {len(ms)} runs: "
        f"median {statistics.median(ms):.0f} ms, min {ms[0]:.0f} ms, max {ms[-1]:.0f} ms "
        "(target ≤ 1 s; the Provisioning budget was 20 min)"
    )


if __name__ == "__main__":
    main()
