"""Exactly one instance per experiment under every pytest-xdist ``--dist`` mode: load,
loadscope, loadfile and loadgroup keep an experiment's items on one worker; worksteal
and each stop a live session at start-up (exit 4, one line, the fix).

The cluster is the in-memory fake, supplied by a conftest; each worker has its own,
so every create is also appended to a file the test counts."""

from __future__ import annotations

import collections
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pytest_experiment.core.checks import CHECKS as REGISTRY
from pytest_experiment.core.distribution import refusal
from pytest_experiment.plugin.distribution import experiment_item, live_experiments
from pytest_experiment.plugin.scheduling import load_keeping_files_together

TESTS = Path(__file__).resolve().parent
SUMMARY = "experiments/site/data/web-lat-2bc7d.json"
MODES = ("load", "loadscope", "loadfile", "loadgroup", "worksteal", "each")

CONFTEST = f"""
import json, os, sys
from pathlib import Path

sys.path.insert(0, {str(TESTS)!r})
from fakes.cluster import FakeCluster
from fakes.results import FakeResultsStore

SUMMARY = json.loads(Path({SUMMARY!r}).read_text())


class Recording(FakeCluster):
    def create_experiment(self, experiment_doc, *, namespace):
        name = super().create_experiment(experiment_doc, namespace=namespace)
        with open("creates.jsonl", "a") as out:
            labels = experiment_doc["metadata"]["labels"]
            out.write(json.dumps({{
                "experiment": labels["pytest-experiment/experiment"], "pid": os.getpid()
            }}) + "\\n")
        return name


def pytest_experiment_make_cluster(config, options):
    return Recording()


def pytest_experiment_make_results_store(options):
    return FakeResultsStore(default=lambda instance: SUMMARY)
"""


@pytest.fixture
def project(pytester: pytest.Pytester, examples: Path) -> pytest.Pytester:
    for name in ("web-latency", "echo-scaling", "site", "components"):
        shutil.copytree(examples / name, pytester.path / "experiments" / name)
    pytester.makeconftest(CONFTEST)
    return pytester


def creates(root: Path) -> collections.Counter[str]:
    log = root / "creates.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    return collections.Counter(json.loads(line)["experiment"] for line in lines)


# loadfile and loadgroup, like every mode, are counted on the sandbox too.
@pytest.mark.parametrize("dist", ["load", "loadscope"])
def test_each_experiment_is_applied_once_and_all_its_items_see_that_instance(
    project: pytest.Pytester, dist: str
) -> None:
    result = project.runpytest(
        "experiments", "-p", "no:cacheprovider", "-n", "2", "--dist", dist,
        "--experiment-report=report.json",
    )  # fmt: skip
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out  # echo-scaling's gate fails
    assert creates(project.path) == {"web-latency": 1, "echo-scaling": 1}, out
    report = json.loads((project.path / "report.json").read_text())
    for experiment in report["experiments"]:
        # Scored on all its checks: none is left to an instance of another worker.
        [instance] = experiment["instances"]
        assert instance["lifecycle"]["verdict"] == "pass", experiment["name"]
        assert len(instance["checks"]) == len(REGISTRY), experiment["name"]


@pytest.mark.parametrize(
    ("dist", "why"),
    [
        ("each", "runs every item on every worker, so each worker would apply"),
        ("worksteal", "moves single items between workers, so"),
    ],
)
def test_a_mode_that_splits_an_experiment_stops_a_live_session_before_any_apply(
    project: pytest.Pytester, dist: str, why: str
) -> None:
    result = project.runpytest("experiments", "-p", "no:cacheprovider", "-n", "2", "--dist", dist)
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, out
    lines = [line for line in result.stderr.lines if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"ERROR: --dist {dist} {why} echo-scaling, web-latency")
    assert lines[0].endswith(": use --dist load (the default), loadscope, loadfile or loadgroup")
    assert "Traceback" not in out
    assert "no experiment collected" not in out
    assert creates(project.path) == {}


def test_a_mode_that_splits_experiments_runs_items_that_apply_nothing(
    project: pytest.Pytester,
) -> None:
    # Validation alone creates no instance: nothing to keep together.
    result = project.runpytest(
        "experiments", "-p", "no:cacheprovider", "-n", "2", "--dist", "each", "-k", "validate"
    )
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert creates(project.path) == {}


def test_refusal_names_each_mode_and_leaves_the_modes_that_keep_experiments() -> None:
    two = {"web-latency", "echo-scaling"}
    for dist in ("loadscope", "loadfile", "loadgroup", "no"):
        assert refusal(dist, two, load_kept=False) is None
    assert refusal("load", two, load_kept=True) is None
    for dist in ("each", "worksteal"):
        assert refusal(dist, set(), load_kept=True) is None  # nothing live: nothing applied
        problem = refusal(dist, two, load_kept=True)
        assert problem is not None
        assert problem.startswith(f"--dist {dist} ")
        assert "echo-scaling, web-latency" in problem
        # Said here too, in process: the run above checks it in a child pytest.
        assert problem.endswith(": use --dist load (the default), loadscope, loadfile or loadgroup")
    # An xdist whose scheduler the plugin cannot build on: load would split them.
    assert refusal("load", two, load_kept=False) == (
        "--dist load would spread the items of echo-scaling, web-latency over workers, each "
        "applying it (this pytest-xdist lacks the scope scheduling the plugin builds on): "
        "use --dist loadfile or loadgroup"
    )
    many = refusal("each", {"a", "b", "c", "d", "e"}, load_kept=True)
    assert many is not None
    assert "apply a, b, c and 2 more:" in many


def test_a_refusal_names_three_experiments_whole_and_counts_the_rest() -> None:
    three = refusal("each", {"a", "b", "c"}, load_kept=True)
    four = refusal("each", {"a", "b", "c", "d"}, load_kept=True)
    assert three is not None
    assert four is not None
    assert "apply a, b, c:" in three  # all three named, no "and 0 more"
    assert "apply a, b, c and 1 more:" in four


def test_live_experiments_are_those_with_a_lifecycle_quality_or_review_item() -> None:
    ids = [
        "x/web/experiment.yaml::validate[schema]",
        "x/web/experiment.yaml::preflight[operator]",
        "x/kv/experiment.yaml::validate[schema]",
        "x/kv/experiment.yaml::quality[presentation]@kv",
        "x/echo/experiment.yaml::review",
        "x/db/experiment.yaml::lifecycle",
        "tests/test_lifecycle.py::test_review",
        "x/web/experiment.yaml.py::lifecycle",
    ]
    assert live_experiments(ids) == {"kv", "echo", "db"}
    assert experiment_item("experiment.yaml::lifecycle")
    assert not experiment_item("x/my-experiment.yaml::lifecycle")


class Worker:
    """What an xdist scheduler asks of a worker: it records the items it is sent."""

    def __init__(self, name: str) -> None:
        self.gateway = type("Gateway", (), {"id": name})()
        self.sent: list[int] = []
        self.shutting_down = False

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.extend(indices)

    def shutdown(self) -> None:
        self.shutting_down = True


def scheduled(pytester: pytest.Pytester, ids: list[str]) -> tuple[Any, list[Worker]]:
    remote = pytest.importorskip("xdist.remote")
    config = pytester.parseconfigure("--tx", "2*popen", "--dist", "load")
    scheduler = load_keeping_files_together(
        config, remote.Producer("test", enabled=False), together=experiment_item
    )
    assert scheduler is not None
    workers = [Worker("gw0"), Worker("gw1")]
    for worker in workers:
        scheduler.add_node(worker)
    for worker in workers:
        scheduler.add_node_collection(worker, ids)
    assert scheduler.collection_is_completed
    scheduler.schedule()
    return scheduler, workers


def test_under_load_an_experiment_file_goes_to_one_worker_and_other_tests_one_by_one(
    pytester: pytest.Pytester,
) -> None:
    ids = [
        *(f"e/web/experiment.yaml::{step}" for step in ("validate[schema]", "lifecycle", "review")),
        *(f"e/kv/experiment.yaml::{step}" for step in ("validate[schema]", "lifecycle", "review")),
        "tests/test_a.py::test_one",
        "tests/test_a.py::test_two",
    ]
    scheduler, workers = scheduled(pytester, ids)
    for items in ({0, 1, 2}, {3, 4, 5}):
        holders = [worker for worker in workers if items & set(worker.sent)]
        assert len(holders) == 1, [worker.sent for worker in workers]
        assert items <= set(holders[0].sent)
    # Scheduled by scope, as xdist's loadfile is: such a scheduler cannot put a test back.
    with pytest.raises(NotImplementedError):
        scheduler.mark_test_pending("tests/test_a.py::test_one")


def test_under_load_a_suite_without_experiments_keeps_xdist_load_scheduling(
    pytester: pytest.Pytester,
) -> None:
    ids = [f"tests/test_a.py::test_{n}" for n in range(10)]
    scheduler, workers = scheduled(pytester, ids)
    assert workers[0].sent
    assert workers[1].sent
    # xdist's LoadScheduling answers, not a scope scheduler: it can put a test back,
    # which pytest-rerunfailures relies on to re-run a crashed test.
    scheduler.mark_test_pending(ids[0])


def test_under_load_a_replaced_worker_runs_what_a_crashed_one_left_without_hanging(
    pytester: pytest.Pytester,
) -> None:
    # xdist 3.8's scope scheduling hangs here: the crashed worker's finished unit went back
    # on the queue, and a replacement handed a single item waited for a second one.
    ids = [
        *(f"e/web/experiment.yaml::{step}" for step in ("validate[schema]", "lifecycle", "review")),
        *(f"e/kv/experiment.yaml::{step}" for step in ("validate[schema]", "lifecycle", "review")),
        *(f"e/db/experiment.yaml::{step}" for step in ("validate[schema]", "lifecycle", "review")),
    ]
    scheduler, (first, second) = scheduled(pytester, ids)
    assert (first.sent, second.sent) == ([0, 1, 2], [3, 4, 5])
    # Nearly done with web, the first is handed db, the last unit...
    scheduler.mark_test_complete(first, 0)
    assert first.sent == [0, 1, 2, 6, 7, 8]
    assert first.shutting_down, "nothing left to send: told so, it runs its last item"
    for index in (1, 2, 6):
        scheduler.mark_test_complete(first, index)
    for index in second.sent:
        scheduler.mark_test_complete(second, index)
    # ...and dies on db's lifecycle, with db's review still to run.
    assert scheduler.remove_node(first) == ids[7]
    replacement = Worker("gw2")
    scheduler.add_node(replacement)
    scheduler.add_node_collection(replacement, ids)
    scheduler.schedule()
    # Only db's review: the crashed item is reported, not run again; web is done.
    assert replacement.sent == [8]
    assert replacement.shutting_down
    scheduler.mark_test_complete(replacement, 8)
    assert scheduler.tests_finished
