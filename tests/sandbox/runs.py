"""Running pytest over experiment files against the sandbox, as a user would, and reading
what the run left behind: exit code, terminal lines, JSON report, toil and the cluster."""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from pytest_experiment.base.resources import EXPERIMENTS, WORKFLOW_TEMPLATES
from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox import Sandbox
from pytest_experiment.sandbox.kube import custom_lister, list_raw, wait_until

from .lifecycle import NAMESPACE, TIMEOUT, Run, status_of

# A pytest run that outlives this is hung: fail it rather than wait for the CI limit.
SESSION_TIMEOUT = 180.0


@dataclass
class Session:
    """One finished pytest run over experiment files."""

    result: pytest.RunResult
    report: Obj
    root: Path

    @property
    def stdout(self) -> str:
        return self.result.stdout.str()

    def experiment(self, name: str) -> Obj:
        found: Obj = next(e for e in self.report["experiments"] if e["name"] == name)
        return found

    def instance(self, name: str) -> Obj:
        instances = self.experiment(name)["instances"]
        assert len(instances) == 1, json.dumps(instances, indent=1)[:3000]
        found: Obj = instances[0]
        return found

    def lifecycle(self, name: str) -> Obj:
        result: Obj = self.instance(name)["lifecycle"]
        return result

    def preflight(self, name: str, check: str) -> Obj:
        found: Obj = next(c for c in self.experiment(name)["preflight"] if c["check"] == check)
        return found

    def cleanup(self, name: str) -> Obj:
        found: Obj = next(c for c in self.report["cleanup"] if c["experiment"] == name)
        return found

    def toil(self, name: str) -> list[Obj]:
        return [t for t in self.report["toil"] if t["experiment"] == name]

    def toil_file(self) -> list[Obj]:
        path = self.root / ".experiment-toil.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]


def write(pytester: pytest.Pytester, name: str, doc: Obj, *, template: str | None = None) -> Path:
    folder = pytester.path / "experiments" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "experiment.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    if template is not None:
        (folder / "workflow").mkdir(exist_ok=True)
        (folder / "workflow" / "template.yaml").write_text(
            yaml.safe_dump(
                {
                    "apiVersion": WORKFLOW_TEMPLATES.api_version,
                    "kind": "WorkflowTemplate",
                    "metadata": {"name": template},
                    "spec": {"entrypoint": "validate", "templates": [{"name": "validate"}]},
                }
            )
        )
    return folder


def run_live(
    pytester: pytest.Pytester, sandbox: Sandbox, *args: str, kubeconfig: Path | None = None
) -> Session:
    """``pytest experiments`` in a subprocess against the sandbox, with a JSON report.

    ``kubeconfig``: another way to the sandbox's API server (a fault test's link).
    """
    report = pytester.path / "experiment-report.json"
    result = pytester.runpytest_subprocess(
        "experiments",
        "-v",
        "-p", "no:cacheprovider",
        # "=" forms: a bare path argument would move pytest's rootdir to its ancestor.
        f"--experiment-kubeconfig={kubeconfig or sandbox.kubeconfig}",
        f"--experiment-s3-endpoint={sandbox.s3_endpoint}",
        f"--experiment-report={report}",
        *args,
        timeout=SESSION_TIMEOUT,
    )  # fmt: skip
    assert report.exists(), result.stdout.str() + result.stderr.str()
    return Session(result=result, report=json.loads(report.read_text()), root=pytester.path)


class DeleteWhenRunning(threading.Thread):
    """A person deleting the ``prefix`` experiment once it is Running (``quiet``: and stays so).

    Whatever goes wrong, every ``prefix`` experiment is deleted in the end, so the pytest
    run it stands beside never waits on a manual completion that will not come.
    """

    def __init__(self, k8s: client.ApiClient, prefix: str, *, quiet: bool = False) -> None:
        super().__init__(daemon=True)
        self.k8s, self.prefix, self.quiet = k8s, prefix, quiet
        self.deleted: list[str] = []
        self.failure: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:

            def mine_running(objects: dict[str, Obj]) -> list[str]:
                return [
                    o["metadata"]["name"]
                    for o in objects.values()
                    if o["metadata"]["name"].startswith(self.prefix)
                    and status_of(o).get("phase") == "Running"
                ]

            running = wait_until(
                custom_lister(self.k8s, EXPERIMENTS, namespace=NAMESPACE),
                lambda objects: bool(mine_running(objects)),
                timeout=SESSION_TIMEOUT,
                what=f"a {self.prefix} experiment to be Running",
            )
            [name] = mine_running(running)
            if self.quiet:
                Run(api=self.k8s, name=name).assert_quiet("phase")
            Run(api=self.k8s, name=name).delete()
            self.deleted.append(name)
        except Exception as exc:
            # Kept for the test to raise: an exception left to the thread would surface as
            # pytest's unhandled-thread warning in whichever test runs next.
            self.failure = exc
        finally:
            try:
                for item in managed(self.k8s, self.prefix):
                    Run(api=self.k8s, name=item["metadata"]["name"]).delete()
            except Exception as exc:
                self.failure = self.failure or exc

    def join(self, timeout: float | None = None) -> list[str]:  # type: ignore[override]
        super().join(timeout)
        assert self.failure is None, self.failure
        return self.deleted


def managed(k8s: client.ApiClient, prefix: str) -> list[Obj]:
    """Experiments on the sandbox whose name starts with ``prefix``."""
    items, _ = list_raw(custom_lister(k8s, EXPERIMENTS, namespace=NAMESPACE))
    return [i for i in items if i["metadata"]["name"].startswith(prefix)]


def exists(k8s: client.ApiClient, instance: str) -> bool:
    items, _ = list_raw(
        custom_lister(k8s, EXPERIMENTS, namespace=NAMESPACE),
        field_selector=f"metadata.name={instance}",
    )
    return bool(items)


def wait_gone(k8s: client.ApiClient, instance: str) -> None:
    wait_until(
        custom_lister(k8s, EXPERIMENTS, namespace=NAMESPACE),
        lambda objects: not objects,
        timeout=TIMEOUT,
        what=f"{instance} to be deleted",
        field_selector=f"metadata.name={instance}",
    )


class LiveProcess:
    """``pytest experiments`` against the sandbox in the background, so a test can act on
    the cluster when the run reaches a point it prints (a person's, or an operator's, move)."""

    def __init__(self, pytester: pytest.Pytester, sandbox: Sandbox, *args: str) -> None:
        self.root = pytester.path
        self.report_path = pytester.path / "experiment-report.json"
        self.lines: list[str] = []
        self.times: list[float] = []
        """When each line arrived (``time.monotonic()``)."""
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "pytest", "experiments", "-v", "-p", "no:cacheprovider",
                f"--experiment-kubeconfig={sandbox.kubeconfig}",
                f"--experiment-s3-endpoint={sandbox.s3_endpoint}",
                f"--experiment-report={self.report_path}", *args,
            ],
            cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self.times.append(time.monotonic())
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_line(self, pattern: str, *, timeout: float = SESSION_TIMEOUT) -> str:
        """The first output line matching the fnmatch ``pattern``, once printed."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((x for x in self.lines if fnmatch.fnmatch(x, pattern)), None)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(
                        f"no line matching {pattern!r}:\n" + "\n".join(self.lines[-60:])
                    )
                self._changed.wait(min(remaining, 1.0))

    def finish(self, *, timeout: float = SESSION_TIMEOUT) -> tuple[int, Obj, str]:
        """Exit code, JSON report and output of the finished run."""
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=10)
        text = "\n".join(self.lines)
        assert self.report_path.exists(), text
        return code, json.loads(self.report_path.read_text()), text
