"""preflight[namespace] on the in-memory cluster: what a refused or missing list of
Experiments says, that it blocks only its experiment, that it costs no request of its
own, and when a file's namespace over --experiment-namespace is said. The messages as
the real API words them are checked on the sandbox (tests/sandbox/test_setup_errors.py)."""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakes.cluster import FakeCluster
from fakes.live import connections
from fakes.output import Lines

from pytest_experiment.base.errors import ClusterError, NotFound, PermissionDenied
from pytest_experiment.base.types import Obj
from pytest_experiment.core import access
from pytest_experiment.core.options import Options
from pytest_experiment.core.spec import Experiment, read_source
from pytest_experiment.core.verdict import Status
from pytest_experiment.run.launch import Launch
from pytest_experiment.run.live_run import LiveRun

QUICK = Options(poll_interval=0.05, budget_delete=2.0, results_wait=1.0)
BOT = "system:serviceaccount:ci:bot"


def refused(namespace: str, user: str = BOT) -> PermissionDenied:
    """A 403 on list as ``edges.api_errors`` words the authorizer's refusal."""
    return PermissionDenied(
        f"list Experiments in {namespace}: forbidden: cannot list experiments "
        f"(experiments.illm.io) in namespace {namespace} as {user} (HTTP 403): the runner's "
        "role lacks this permission",
        status=403,
        verb="list",
        resource="experiments.experiments.illm.io",
        namespace=namespace,
        user=user,
    )


class WithCrd(FakeCluster):
    """A hub whose Experiment CRD reads back (the plain fake's is not installed)."""

    def experiment_crd(self) -> Obj | None:
        super().experiment_crd()
        return {"metadata": {"name": "experiments.experiments.illm.io"}, "spec": {}}


@dataclasses.dataclass
class Run:
    cluster: FakeCluster
    live: LiveRun
    root: Path

    def launch(self, name: str, *, namespace: str | None = "experiments") -> Launch:
        path = self.root / name / "experiment.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        written = f"  namespace: {namespace}\n" if namespace else ""
        path.write_text(
            "apiVersion: experiments.illm.io/v1alpha1\nkind: Experiment\n"
            f"metadata:\n  generateName: {name}-\n{written}"
            f"spec:\n  title: {name}\n  workflow:\n    template: {name}-validation\n"
        )
        return self.live.add(Experiment.from_source(read_source(path)))


MakeRun = Callable[..., Run]


@pytest.fixture
def run(tmp_path: Path) -> Iterator[MakeRun]:
    made: list[Run] = []

    def make(cluster: FakeCluster, options: Options = QUICK) -> Run:
        live = LiveRun(
            options=options,
            connections=connections(lambda: cluster, toil_file=tmp_path / "toil.jsonl"),
            validation_failure=lambda _: None,
            output=Lines(),
        )
        made.append(Run(cluster=cluster, live=live, root=tmp_path))
        return made[-1]

    yield make
    for each in made:
        each.cluster.stop()
        each.live.finish()


def test_a_refused_list_blocks_only_its_namespace_and_names_the_rolebinding(run: MakeRun) -> None:
    cluster = FakeCluster()
    session = run(cluster)
    cluster.fail_next("list", refused("team-a"))
    blocked = session.launch("a", namespace="team-a")
    fine = session.launch("b", namespace="experiments")
    session.live.start([blocked, fine])  # the session goes on: no exception
    check = blocked.preflight.checks["namespace"]
    fix = (
        "kubectl apply -f deploy/rbac.yaml && kubectl create rolebinding bot -n team-a "
        "--clusterrole=experiment-runner-experiments --serviceaccount=ci:bot"
    )
    assert (check.status, check.summary) == (
        Status.FAIL,
        "Namespace team-a: list Experiments in team-a: forbidden: cannot list experiments "
        f"(experiments.illm.io) in namespace team-a as {BOT} (HTTP 403); grant the runner's "
        f"role there: {fix}",
    )
    assert check.figures["command"] == fix
    assert blocked.preflight.blocked == "blocked by a::preflight[namespace]"
    assert not blocked.instance
    assert fine.preflight.checks["namespace"].status is Status.PASS
    assert fine.preflight.blocked is None
    assert cluster.created == [fine.instance]


def test_a_missing_kind_names_the_crd_to_install(run: MakeRun) -> None:
    cluster = FakeCluster()  # its CRD is not installed
    session = run(cluster)
    cluster.fail_next("list", NotFound("list Experiments in experiments: Not Found"))
    launch = session.launch("a")
    session.live.start([launch])
    check = launch.preflight.checks["namespace"]
    assert check.status is Status.FAIL
    assert check.summary == (
        "Namespace experiments: the Experiment CRD experiments.experiments.illm.io is not "
        "installed on this cluster; install the experiment operator, or its CRD from the "
        "operator's repository: kubectl apply -f "
        "config/crd/bases/experiments.illm.io_experiments.yaml "
        "(list Experiments in experiments: Not Found)"
    )
    assert launch.preflight.blocked == "blocked by a::preflight[namespace]"
    assert cluster.created == []


def test_a_crd_that_does_not_serve_the_version_says_so(run: MakeRun) -> None:
    cluster = WithCrd()  # installed, yet the list is a 404
    session = run(cluster)
    cluster.fail_next("list", NotFound("list Experiments in experiments: Not Found"))
    launch = session.launch("a")
    session.live.start([launch])
    summary = launch.preflight.checks["namespace"].summary
    assert summary.startswith(
        "Namespace experiments: the cluster's Experiment CRD does not serve "
        "experiments.illm.io/v1alpha1; update it from the operator's repository: kubectl apply"
    ), summary


def test_another_error_is_said_as_it_is(run: MakeRun) -> None:
    cluster = FakeCluster()
    session = run(cluster)
    cluster.fail_next("list", ClusterError("list Experiments in experiments: boom (HTTP 500)"))
    launch = session.launch("a")
    session.live.start([launch])
    check = launch.preflight.checks["namespace"]
    assert (check.status, check.summary) == (
        Status.FAIL,
        "Namespace experiments: cannot list Experiments: "
        "list Experiments in experiments: boom (HTTP 500)",
    )


def test_the_check_is_the_watchs_first_list_once_per_namespace(run: MakeRun) -> None:
    cluster = FakeCluster()
    session = run(cluster)
    launches = [session.launch(name) for name in ("a", "b", "c")]
    session.live.start(launches)
    assert [x.preflight.checks["namespace"].summary for x in launches] == [
        "Namespace experiments: Experiments can be listed"
    ] * 3
    # Three experiments, one namespace: one list, the one the watch needs anyway.
    assert cluster.requests["list"] == 1
    assert len(cluster.created) == 3


@pytest.mark.parametrize(
    ("option", "written", "expected", "where"),
    [
        (None, "experiments", Status.PASS, "experiments"),
        (None, None, Status.PASS, "experiments"),
        (None, "team-b", Status.PASS, "team-b"),  # no option given: nothing overridden
        ("team-a", None, Status.PASS, "team-a"),
        ("team-a", "team-a", Status.PASS, "team-a"),
        ("team-a", "experiments", Status.WARN, "experiments"),
    ],
)
def test_a_file_namespace_over_the_option_is_a_warn(
    run: MakeRun, option: str | None, written: str | None, expected: Status, where: str
) -> None:
    cluster = FakeCluster()
    session = run(cluster, dataclasses.replace(QUICK, namespace=option))
    launch = session.launch("a", namespace=written)
    session.live.start([launch])
    check = launch.preflight.checks["namespace"]
    assert check.status is expected
    assert launch.namespace == where
    assert launch.preflight.blocked is None  # a WARN never blocks
    assert [space for space, _ in cluster.objects] == [where]
    if expected is Status.WARN:
        assert check.summary == (
            f"Namespace {where}: Experiments can be listed; it is metadata.namespace in the "
            f"file, which takes precedence over --experiment-namespace {option}"
        )


@pytest.mark.parametrize(
    ("namespace", "user", "command"),
    [
        ("experiments", access.RUNNER, "kubectl apply -f deploy/rbac.yaml"),
        ("experiments", "", "kubectl apply -f deploy/rbac.yaml"),
        (
            "experiments",
            BOT,
            "kubectl apply -f deploy/rbac.yaml && kubectl create rolebinding bot -n experiments "
            "--clusterrole=experiment-runner-experiments --serviceaccount=ci:bot",
        ),
        (
            "team-a",
            access.RUNNER,
            "kubectl apply -f deploy/rbac.yaml && kubectl create rolebinding experiment-runner "
            "-n team-a --clusterrole=experiment-runner-experiments "
            "--serviceaccount=experiment-ci:experiment-runner",
        ),
        (
            "team-a",
            "",
            "kubectl apply -f deploy/rbac.yaml && kubectl create rolebinding experiment-runner "
            "-n team-a --clusterrole=experiment-runner-experiments "
            "--serviceaccount=experiment-ci:experiment-runner",
        ),
        (
            "team-a",
            "Alice@Example.com",
            "kubectl apply -f deploy/rbac.yaml && kubectl create rolebinding "
            "experiment-runner-alice-example.com -n team-a "
            "--clusterrole=experiment-runner-experiments --user=Alice@Example.com",
        ),
    ],
)
def test_the_bind_command_names_the_namespace_and_the_identity(
    namespace: str, user: str, command: str
) -> None:
    assert access.bind_command(namespace, user) == command


def test_the_bind_command_quotes_what_it_is_given() -> None:
    command = access.bind_command("a b;rm -rf ~", "$(id)")
    bind = shlex.split(command.split(" && ")[1])
    assert bind[5] == "a b;rm -rf ~"
    assert bind[-1] == "--user=$(id)"


def test_a_user_name_without_a_letter_or_digit_binds_as_user() -> None:
    bind = shlex.split(access.bind_command("team-a", "@@@").split(" && ")[1])
    assert bind[3] == "experiment-runner-user"


def test_a_long_user_name_is_cut_to_40_characters_in_the_binding_name() -> None:
    bind = shlex.split(access.bind_command("team-a", "u" * 41).split(" && ")[1])
    assert bind[3] == "experiment-runner-" + "u" * 40
