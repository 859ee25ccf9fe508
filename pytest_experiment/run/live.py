"""The live run: pre-flight, apply, follow, clean up, leaving no instance unaccounted for.

One ``LiveRun`` per pytest session (per xdist worker). ``start()`` connects,
runs the pre-flight of every selected experiment and applies every one that
may run, so they run at the same time on the cluster; ``--experiment-max-
concurrent`` holds the rest in a queue that a launcher thread drains as slots
free. Each ``lifecycle`` item then calls ``follow()``, which blocks on the
namespace's shared watch (never a poll loop of its own) and turns what it
sees into a verdict. ``finish()`` applies the cleanup policy to every
instance the session created, including ones whose create was interrupted
(found again by the session's run label).

Everything a user sees is written from the thread running the items: the
watcher and the launcher only record.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import yaml

from pytest_experiment.base.errors import ClusterError, PermissionDenied, ResultsError
from pytest_experiment.base.types import Obj
from pytest_experiment.core import lifecycle
from pytest_experiment.core.lifecycle import (
    delete_command,
    format_duration,
    inspect_command,
    is_terminal,
    phase_of,
    shown_path,
    status,
)
from pytest_experiment.core.options import Options
from pytest_experiment.core.review import PullRequestRef, review_phase
from pytest_experiment.core.schema import SchemaUnavailable, schema_from_crd
from pytest_experiment.core.spec import Experiment
from pytest_experiment.core.toil import ToilRecord
from pytest_experiment.core.verdict import CheckResult, Status
from pytest_experiment.core.watch_state import InstanceDeleted, Observed, WatchTimeout
from pytest_experiment.edges.api_errors import HTTP_FORBIDDEN, NotFound
from pytest_experiment.edges.operator_reads import Labelled
from pytest_experiment.edges.tracker import ToilLog
from pytest_experiment.edges.watch import ExperimentWatcher
from pytest_experiment.run.diagnostics import gather, one_line
from pytest_experiment.run.ports import Cluster, ResultsStore

if TYPE_CHECKING:
    from pytest_experiment.edges import cluster as edges_cluster
    from pytest_experiment.run.publishing import Attempt, Published


RUN_LABEL = "pytest-experiment/run"
EXPERIMENT_LABEL = "pytest-experiment/experiment"
MANAGED_BY = {"app.kubernetes.io/managed-by": "pytest-experiment"}
# How often a waiting item wakes to redraw its progress line; the watch, not
# this tick, is what notices a transition.
TICK = 0.5
_UNREACHABLE = "No cluster reachable"
_REFUSED = "Cluster refused the request"
# Why a missing template blocks the apply rather than letting the operator find out.
_EMPTY_WORKFLOW = (
    "without it the operator runs an empty inline workflow and reports Complete having "
    "tested nothing"
)
# How often the GKECluster claims of a provisioning instance are read: a cloud error shows
# there before (or without) the operator marking the target Failed. Kept slow so that a
# session's requests do not grow much with how long provisioning takes.
CLAIM_CHECK_INTERVAL = 15.0
# How long a finished instance is given to show completedAt (the real operator writes it,
# with hypothesisResult and resultsURL, in the reconcile after Complete or Failed) before
# the verdict goes without them.
_AFTER_END_WAIT = 10.0


@dataclass
class Launch:
    """One selected experiment in this session: its pre-flight, its instance, its fate."""

    experiment: Experiment
    key: str
    """The experiment file's resolved path."""
    namespace: str
    attached: str | None = None
    """The instance given by ``--experiment-instance``; never created or deleted."""
    preflight: dict[str, CheckResult] = field(default_factory=dict)
    blocked: str | None = None
    """Why it is not applied (a skip reason naming the blocking item)."""
    instance: str = ""
    error: str | None = None
    applied: threading.Event = field(default_factory=threading.Event)
    applied_at: datetime | None = None
    queued: bool = False
    result: CheckResult | None = None
    phase: str = ""
    """The last phase the harness saw, for cleanup reasons."""
    deleted: bool = False
    """The API no longer has the instance."""
    delete_requested: bool = False
    cut_short: bool = False
    """pytest-timeout ended its lifecycle item while it was unfinished."""
    item_failed: bool = False
    has_items: bool = False
    """Test items name it (the ``experiment_run`` fixture alone does not)."""
    items_done: bool = False
    """Its last selected item has run: an interrupt or ``-x`` after that loses nothing."""
    summary: Mapping[str, Any] | None = None
    summary_problem: str | None = None
    """Why there is no summary to score, once reading it has been tried."""
    results_url: str = ""
    published: Published | None = None
    """After Complete, for publish: true: analyzer, scored results, gate (``publishing``)."""
    review: CheckResult | None = None
    attempts: list[Attempt] = field(default_factory=list)
    """Earlier runs an auto-fix replaced."""
    applied_fixes: list[str] = field(default_factory=list)
    retired: list[Cleanup] = field(default_factory=list)
    """What became of the instances those earlier runs created."""

    @property
    def created(self) -> bool:
        return bool(self.instance) and self.attached is None


@dataclass(frozen=True, kw_only=True)
class Cleanup:
    """What the session did with one instance (cleanup policy); every created instance gets one."""

    experiment: str
    instance: str
    action: str
    """``deleted`` (and gone), ``held`` (deletion requested, a finalizer still holds it),
    ``kept``, ``left`` (attached) or ``gone`` (already deleted)."""
    reason: str
    command: str = ""

    def line(self) -> str:
        text = f"{self.action} {self.instance} ({self.experiment}): {self.reason}"
        if not self.command:
            return text
        verb = "inspect" if self.action == "held" else "delete"
        return f"{text}; {verb} with: {self.command}"

    def as_json(self) -> dict[str, str]:
        return {
            "experiment": self.experiment,
            "instance": self.instance,
            "action": self.action,
            "reason": self.reason,
            "command": self.command,
        }


@dataclass(frozen=True, slots=True)
class Deadline:
    """pytest-timeout's limit for one item, taken over from its own timer."""

    at: float
    """``time.monotonic()`` when the item must end."""
    seconds: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(at=time.monotonic() + seconds, seconds=seconds)


@dataclass(frozen=True, kw_only=True)
class _Deleting:
    """A deletion decided at session end, carried out once every decision is made."""

    experiment: str
    instance: str
    namespace: str
    reason: str
    pr: PullRequestRef | None = None
    launch: Launch | None = None

    @classmethod
    def of(cls, launch: Launch, *, reason: str, pr: PullRequestRef | None = None) -> _Deleting:
        return cls(
            experiment=launch.experiment.name,
            instance=launch.instance,
            namespace=launch.namespace,
            reason=reason,
            pr=pr,
            launch=launch,
        )


class Output:
    """Where the live run writes: whole lines, and one status line redrawn in place."""

    def line(self, text: str) -> None:
        print(text)

    def status(self, text: str) -> None:
        """Progress; only a terminal shows it, redrawn in place."""

    def clear(self) -> None:
        """Remove the status line before anything else is written."""

    def held(self) -> Sequence[str]:
        """Lines kept back to be shown at the end of the session (none by default)."""
        return ()


def _kept_reason(launch: Launch, current: Obj | None) -> str:
    if launch.result is None:
        phase = phase_of(current) if current is not None else launch.phase or "Pending"
        return f"not finished: the session stopped while it was {phase}"
    if launch.result.status is not Status.PASS:
        return f"lifecycle {launch.result.status.name}: {one_line(launch.result.line, limit=160)}"
    if launch.item_failed:
        return "an item of this experiment failed"
    return "not all its items ran: the session stopped after its lifecycle passed"


def _pending_pr(launch: Launch, current: Obj | None) -> PullRequestRef | None:
    """The PR a published instance's Pending review gate holds open, or None."""
    if not launch.experiment.publish or current is None or review_phase(current) != "Pending":
        return None
    pr = PullRequestRef.of(current)
    return pr if pr.url or pr.number is not None else None


def _import_what_follows_complete() -> None:
    """Import the modules used after Complete while the session is being set up.

    Imported lazily in the middle of a run, a Ctrl-C can land inside an import,
    which leaves half a module behind and CPython exiting by SIGINT instead of
    with pytest's status (seen in about 1 in 20 interrupted runs).
    """
    import boto3  # noqa: F401

    from pytest_experiment.run import publishing  # noqa: F401


class LiveRun:
    def __init__(
        self,
        *,
        options: Options,
        toil: ToilLog,
        validation_failure: Callable[[Experiment], tuple[str, str] | None],
        output: Output | None = None,
        on_toil: Callable[[ToilRecord], None] | None = None,
        connector: Callable[[], Cluster],
        results_store: Callable[[Callable[[str], None]], ResultsStore],
        verbose: bool = False,
        run_id: str | None = None,
        controller: bool = False,
    ) -> None:
        self.options = options
        self.toil = toil
        self.out = output or Output()
        self._validation_failure = validation_failure
        self._on_toil = on_toil
        self._connector = connector
        # Given the run's way of saying a line from any thread (S3 outages are said).
        self._make_store = results_store
        self.verbose = verbose
        self.run_id = run_id or secrets.token_hex(4)
        self.controller = controller
        """The xdist controller: it creates nothing and sweeps what workers left."""
        self.accounted: set[str] = set()
        """Instances another process (an xdist worker) has already reported on."""
        self.namespaces: set[str] = set()
        """Namespaces to sweep for this run's label besides those of the launches."""
        self.launches: dict[str, Launch] = {}
        self._by_nodeid: dict[str, str] = {}
        self.cluster: Cluster | None = None
        self.unreachable: str | None = None
        self.refused = False
        """The API answered but refused access (401/403), as opposed to not answering."""
        self.crd_unreadable: str | None = None
        """Why the live CRD could not be read (validation then uses the bundled schema)."""
        self.crd_schema: Mapping[str, Any] | None = None
        self._watchers: dict[str, ExperimentWatcher] = {}
        self._operator: tuple[int | None, str] | None = None
        self._queue: list[Launch] = []
        self._slots = threading.Condition()
        self._active: set[str] = set()
        self._stopping = threading.Event()
        self._launcher: threading.Thread | None = None
        self._pending_lines: list[str] = []
        self._lines_lock = threading.Lock()
        self.cleanups: list[Cleanup] = []
        self._store: ResultsStore | None = None

    # -- connection -------------------------------------------------------------

    def connect(self) -> Cluster | None:
        """Connect once; on failure remember why and return None."""
        if self.cluster is not None or self.unreachable is not None:
            return self.cluster
        try:
            cluster = self._connector()
            try:
                crd = cluster.experiment_crd()  # the first request: proves the API answers
            except PermissionDenied as exc:
                # Answered, so reachable; reading CRDs is a permission a runner may lack.
                if exc.status != HTTP_FORBIDDEN:
                    raise
                crd, self.crd_unreadable = None, str(exc)
        except ClusterError as exc:
            self.unreachable = str(exc)
            self.refused = isinstance(exc, PermissionDenied)
            return None
        if crd is not None:
            try:
                self.crd_schema = schema_from_crd(crd)
            except SchemaUnavailable:
                self.crd_schema = None
        self.cluster = cluster
        _import_what_follows_complete()
        return cluster

    def watcher(self, namespace: str) -> ExperimentWatcher:
        """The one watch of ``namespace`` for the whole session."""
        if namespace not in self._watchers:
            assert self.cluster is not None
            self._watchers[namespace] = ExperimentWatcher(
                # The watch uses only list_experiments, watch_experiments and describe of it.
                cast("edges_cluster.Cluster", self.cluster),
                namespace=namespace,
                poll_interval=self.options.poll_interval or 15.0,
                # Outage lines reach the terminal through the item thread, with or
                # without log_cli.
                notify=self._say,
            ).start()
        return self._watchers[namespace]

    # -- session start ----------------------------------------------------------

    def add(self, experiment: Experiment, *, nodeid: str = "") -> Launch:
        """The session's launch of ``experiment`` (one per file, however often asked)."""
        key = str(experiment.path.resolve())
        if key not in self.launches:
            self.launches[key] = Launch(
                experiment=experiment,
                key=key,
                namespace=experiment.namespace or self.options.namespace,
                attached=self.options.attach.get(experiment.name),
            )
        if nodeid:
            self._by_nodeid[nodeid] = key
            self.launches[key].has_items = True
        return self.launches[key]

    def find(self, name: str) -> Launch | None:
        """The launch of the experiment whose directory is ``name``."""
        return next((x for x in self.launches.values() if x.experiment.name == name), None)

    def start(self, launches: Iterable[Launch]) -> None:
        """Pre-flight every launch, then apply those that may run."""
        ready = []
        # Several items of one experiment name the same launch: each is started once.
        for launch in {id(launch): launch for launch in launches}.values():
            self.prepare(launch)
            if launch.blocked is None and launch.error is None:
                ready.append(launch)
        for launch in ready:
            if launch.attached is not None:
                self._attach(launch)
            elif self._has_slot():
                self._apply(launch)
            else:
                launch.queued = True
                self._queue.append(launch)
                self._say(
                    f"{launch.experiment.name}: queued (--experiment-max-concurrent "
                    f"{self.options.max_concurrent})"
                )
        if self._queue:
            self._launcher = threading.Thread(
                target=self._drain, name="experiment-launcher", daemon=True
            )
            self._launcher.start()

    def prepare(self, launch: Launch) -> None:
        """Pre-flight items' verdicts and whether the experiment may be applied."""
        if launch.preflight:
            return
        experiment = launch.experiment
        cluster = self.connect()
        failure = self._validation_failure(experiment)
        if cluster is None:
            message = f"{_REFUSED if self.refused else _UNREACHABLE}: {self.unreachable}"
            launch.preflight = {
                "workflow-template": CheckResult(Status.FAIL, message),
                "operator": CheckResult(Status.FAIL, message),
            }
            launch.blocked = f"blocked by {experiment.name}::preflight[workflow-template]"
            self.log_toil(lifecycle.unreachable_toil(experiment.name, one_line(self.unreachable)))
            return
        if failure is not None:
            rule, reason = failure
            launch.blocked = f"blocked by {experiment.name}::validate[{rule}]"
            self.log_toil(lifecycle.validation_toil(experiment.name, reason))
            # Pre-flight still reports on the cluster: it is what the user fixes next.
        launch.preflight = {
            "workflow-template": self._template_check(experiment, cluster),
            "operator": self._operator_check(experiment, cluster),
        }
        template = launch.preflight["workflow-template"]
        if launch.blocked is None and launch.attached is None and template.status is Status.FAIL:
            launch.blocked = f"blocked by {experiment.name}::preflight[workflow-template]"

    def _template_check(self, experiment: Experiment, cluster: Cluster) -> CheckResult:
        name = experiment.workflow_template
        if not name:
            return CheckResult(Status.NA, "no spec.workflow.template to look up")
        local = experiment.path.parent / "workflow" / "template.yaml"
        shown = shown_path(local)
        try:
            if cluster.workflow_template_exists(name):
                return CheckResult(Status.PASS, f"WorkflowTemplate {name} found in cluster")
        except ClusterError as exc:
            return CheckResult(Status.FAIL, f"WorkflowTemplate {name}: cannot check: {exc}")
        if not local.is_file():
            self.log_toil(lifecycle.missing_template_toil(experiment.name, name))
            return CheckResult(
                Status.FAIL,
                f"WorkflowTemplate {name} not found in argo-workflows and there is no {shown} "
                f"to apply; {_EMPTY_WORKFLOW}",
            )
        if not self.options.apply_templates:
            self.log_toil(lifecycle.missing_template_toil(experiment.name, name))
            return CheckResult(
                Status.FAIL,
                f"WorkflowTemplate {name} not found in argo-workflows; apply it with: "
                f"{lifecycle.apply_template_command(shown)} "
                f"(or pass --experiment-apply-templates); {_EMPTY_WORKFLOW}",
                figures={"command": lifecycle.apply_template_command(shown)},
            )
        try:
            doc = _template_doc(local, name)
            cluster.apply_workflow_template(doc)
        except (ClusterError, ValueError) as exc:
            return CheckResult(Status.FAIL, f"WorkflowTemplate {name}: applying {shown}: {exc}")
        return CheckResult(
            Status.PASS,
            f"WorkflowTemplate {name} applied from {shown}",
            figures={"applied": str(shown)},
        )

    def _operator_check(self, experiment: Experiment, cluster: Cluster) -> CheckResult:
        if self._operator is None:
            try:
                self._operator = (cluster.operator_ready_replicas(), "")
            except ClusterError as exc:
                self._operator = (None, str(exc))
        replicas, error = self._operator
        if replicas:
            plural = "replica" if replicas == 1 else "replicas"
            return CheckResult(
                Status.PASS, f"Operator healthy ({replicas} ready {plural})", figures={"ready": 1}
            )
        self.log_toil(lifecycle.operator_toil(experiment.name))
        why = f"cannot read its Deployment: {error}" if replicas is None else "0 ready replicas"
        return CheckResult(
            Status.WARN,
            f"Operator unhealthy ({why}); the run continues",
            figures={"ready": replicas or 0},
        )

    # -- apply and the queue ------------------------------------------------------

    def _has_slot(self) -> bool:
        limit = self.options.max_concurrent
        with self._slots:
            return not limit or len(self._active) < limit

    def _apply(self, launch: Launch) -> None:
        assert self.cluster is not None
        experiment = launch.experiment
        watcher = self.watcher(launch.namespace)
        body = _body(
            experiment.data,
            namespace=launch.namespace,
            run_id=self.run_id,
            experiment=experiment.name,
        )
        try:
            instance = self.cluster.create_experiment(body, namespace=launch.namespace)
        except ClusterError as exc:
            launch.error = str(exc)
            self.log_toil(lifecycle.apply_toil(experiment.name, one_line(exc)))
            launch.applied.set()
            return
        launch.instance, launch.applied_at = instance, datetime.now(UTC)
        with self._slots:
            self._active.add(instance)
        watcher.subscribe(instance, lambda change: self._watch_event(launch, change.obj, change))
        self._say(f"Applied experiment: {instance} (from {shown_path(experiment.path.parent)}/)")
        launch.applied.set()

    def _attach(self, launch: Launch) -> None:
        assert self.cluster is not None
        assert launch.attached is not None
        try:
            self.cluster.get_experiment(launch.attached, namespace=launch.namespace)
        except ClusterError as exc:
            launch.error = (
                f"--experiment-instance {launch.experiment.name}={launch.attached}: {exc}"
            )
            launch.applied.set()
            return
        self.watcher(launch.namespace)
        launch.instance, launch.applied_at = launch.attached, datetime.now(UTC)
        self._say(f"Attached to experiment: {launch.instance} (for {launch.experiment.name})")
        launch.applied.set()

    def _watch_event(self, launch: Launch, obj: Obj, change: Any) -> None:
        # On the watcher thread: only bookkeeping, so a finished run frees its slot.
        if change.kind == "DELETED" or lifecycle.is_terminal(obj):
            self._release(launch.instance)

    def _release(self, instance: str) -> None:
        with self._slots:
            if instance in self._active:
                self._active.discard(instance)
                self._slots.notify_all()

    def _drain(self) -> None:
        while self._queue and not self._stopping.is_set():
            with self._slots:
                while (
                    self.options.max_concurrent
                    and len(self._active) >= self.options.max_concurrent
                    and not self._stopping.is_set()
                ):
                    self._slots.wait(1.0)
                if self._stopping.is_set():
                    return
                launch = self._queue.pop(0)
                # Held until the create returns, so the slot count includes it.
                self._active.add(f"<creating {launch.key}>")
            try:
                launch.queued = False
                self._apply(launch)
            finally:
                self._release(f"<creating {launch.key}>")

    # -- following (the lifecycle item) -------------------------------------------

    def follow(self, launch: Launch, *, deadline: Deadline | None = None) -> CheckResult:
        """The lifecycle verdict of ``launch``; computed once, however many items ask.

        ``deadline`` is pytest-timeout's limit for the item: the wait ends there the way
        a phase budget ends it, with diagnostics.
        """
        if launch.result is None:
            try:
                launch.result = self._follow(launch, deadline=deadline)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:
                # pytest-timeout's failure, say: the items after this one must not wait again.
                launch.result = CheckResult(
                    Status.FAIL, f"stopped while following {launch.instance}: {one_line(exc)}"
                )
                raise
            finally:
                self.out.clear()
                if launch.instance:
                    self._release(launch.instance)
        return launch.result

    def _follow(self, launch: Launch, *, deadline: Deadline | None) -> CheckResult:
        experiment = launch.experiment
        self.prepare(launch)
        if launch.blocked is not None:
            return CheckResult(Status.NA, launch.blocked)
        if launch.error is None and not launch.applied.is_set():
            if not launch.queued:
                if launch.attached is not None:
                    self._attach(launch)
                else:
                    self._apply(launch)
            while not launch.applied.wait(TICK):
                self.flush()
                self.out.status(
                    f"{experiment.name}: queued (--experiment-max-concurrent "
                    f"{self.options.max_concurrent})"
                )
        self.flush()
        if launch.error is not None:
            return CheckResult(Status.FAIL, f"Apply failed: {launch.error}")
        return _Follower(self, launch, deadline=deadline).verdict()

    # -- session end ----------------------------------------------------------------

    def finish(self) -> list[Cleanup]:
        """Stop following and apply the cleanup policy to every instance.

        Every deletion is requested first and waited for afterwards, so N instances
        whose finalizers take a minute each cost one minute, not N.
        """
        self._stopping.set()
        with self._slots:
            self._slots.notify_all()
        if self._launcher is not None:
            self._launcher.join(timeout=30)
        self.out.clear()
        decided = [self._cleanup(launch) for launch in self.launches.values() if launch.instance]
        decided += self._strays()
        self.cleanups = [c for launch in self.launches.values() for c in launch.retired]
        self.cleanups += [self._settle(entry) for entry in decided]
        for watcher in self._watchers.values():
            watcher.stop()
        return self.cleanups

    def _cleanup(self, launch: Launch) -> Cleanup | _Deleting:
        name = launch.experiment.name
        command = delete_command(launch.instance, launch.namespace)
        if launch.attached is not None:
            return Cleanup(
                experiment=name,
                instance=launch.instance,
                action="left",
                reason="attached with --experiment-instance; not created by this run",
            )
        policy = self.options.cleanup
        if policy == "never":
            return Cleanup(
                experiment=name,
                instance=launch.instance,
                action="kept",
                reason="--experiment-cleanup=never",
                command=command,
            )
        # Read afresh: whether it is finished, still there (a deletion the finalizer holds),
        # or holding a PR open decides what happens to it.
        current = self._current(launch)
        if current is None:
            if launch.delete_requested:
                # The run deleted it itself (abort, the running budget of a manual run).
                return Cleanup(
                    experiment=name,
                    instance=launch.instance,
                    action="deleted",
                    reason="deleted by the run (--experiment-on-timeout=abort or "
                    "--experiment-budget-running)",
                )
            return Cleanup(
                experiment=name, instance=launch.instance, action="gone", reason="already deleted"
            )
        if launch.delete_requested:
            return _Deleting.of(launch, reason="deletion requested earlier in the run")
        succeeded = (
            launch.result is not None
            and launch.result.status is Status.PASS
            and not launch.item_failed
            and (launch.items_done or not launch.has_items)
        )
        pr = _pending_pr(launch, current)
        if policy == "on-success" and pr is not None:
            # Deleting it would close the PR the review gate holds open.
            held = (
                f"review Pending: {pr.name} ({pr.url}) left open for review; "
                "deleting the instance closes it"
            )
            keep = held if succeeded else f"{_kept_reason(launch, current)}; {held}"
        elif (
            policy == "on-success"
            and not is_terminal(current)
            and (launch.result is None or launch.cut_short)
        ):
            # An unfinished instance holds cloud clusters that bill by the hour: a run
            # stopped by Ctrl-C, -x, a crash or a timeout must not leave them running.
            return _Deleting.of(
                launch,
                reason=f"unfinished ({phase_of(current)}) when the session ended; deleted so "
                "it holds no cloud resources (--experiment-cleanup=never keeps it)",
            )
        elif policy == "on-success" and not succeeded:
            keep = _kept_reason(launch, current)
        else:
            return _Deleting.of(
                launch, pr=pr, reason="passed" if succeeded else f"--experiment-cleanup={policy}"
            )
        return Cleanup(
            experiment=name, instance=launch.instance, action="kept", reason=keep, command=command
        )

    def _current(self, launch: Launch) -> Obj | None:
        """The instance as the API holds it now, else as the watch last saw it; None once gone.

        Read afresh because an interrupt can land between an operator's patch and the
        watch event that reports it.
        """
        if self.cluster is not None:
            try:
                return self.cluster.get_experiment(launch.instance, namespace=launch.namespace)
            except ClusterError:
                pass
        watcher = self._watchers.get(launch.namespace)
        observed = watcher.observed(launch.instance) if watcher is not None else None
        return None if observed is None or observed.deleted else observed.obj

    def sweep(self, *, namespaces: Iterable[str], accounted: Iterable[str]) -> list[Cleanup]:
        """As the xdist controller: apply the cleanup policy to whatever carries this run's
        label in ``namespaces`` that no worker reported on (``accounted``)."""
        self.namespaces = set(namespaces)
        self.accounted = set(accounted)
        return self.finish() if self.connect() is not None else []

    def request_delete(self, launch: Launch) -> None:
        """Ask the API to delete the instance; ``wait_gone`` says when it has gone."""
        assert self.cluster is not None
        self.cluster.delete_experiment(launch.instance, namespace=launch.namespace)
        launch.delete_requested = True

    def wait_gone(self, namespace: str, instance: str) -> str | None:
        """Wait, at most ``--experiment-budget-delete``, until a deleted instance has
        disappeared. None once it has; else why it is still there, for the report:
        "deleted" is only ever said of an instance the API no longer has."""
        wait = self.options.budget_delete or 0.0
        try:
            self.watcher(namespace).wait_deleted(instance, timeout=wait)
            return None
        except (WatchTimeout, ClusterError):
            # The watch may have been cut (an interrupt tearing the session down) or
            # lag: one direct read decides, so neither "deleted" nor "held" is a guess.
            pass
        assert self.cluster is not None
        try:
            obj = self.cluster.get_experiment(instance, namespace=namespace)
        except NotFound:
            return None
        except ClusterError as exc:
            return f"could not confirm it is gone: {one_line(exc, limit=160)}"
        finalizers = ", ".join((obj.get("metadata") or {}).get("finalizers") or ())
        holder = f"finalizer {finalizers}" if finalizers else "the API server"
        return f"still held by {holder} after {format_duration(wait)}"

    def _settle(self, entry: Cleanup | _Deleting) -> Cleanup:
        """Carry out a decided deletion and say what became of the instance."""
        if isinstance(entry, Cleanup):
            return entry
        assert self.cluster is not None
        launch = entry.launch
        if not (launch is not None and launch.delete_requested):
            try:
                self.cluster.delete_experiment(entry.instance, namespace=entry.namespace)
            except ClusterError as exc:
                return Cleanup(
                    experiment=entry.experiment,
                    instance=entry.instance,
                    action="kept",
                    reason=f"delete failed: {one_line(exc, limit=160)}",
                    command=delete_command(entry.instance, entry.namespace),
                )
            if launch is not None:
                launch.delete_requested = True
        held = self.wait_gone(entry.namespace, entry.instance)
        if held is not None:
            reason = f"{entry.reason}; deletion requested but {held}"
            if entry.pr is not None:
                reason += f"; {entry.pr.name} ({entry.pr.url}) may still be open"
            return Cleanup(
                experiment=entry.experiment,
                instance=entry.instance,
                action="held",
                reason=reason,
                command=inspect_command(entry.instance, entry.namespace),
            )
        if launch is not None:
            launch.deleted = True
        reason = entry.reason
        if entry.pr is not None:
            # The operator closes the PR before it lets a Pending-review instance go.
            reason += (
                f"; review was Pending: the operator closed {entry.pr.name} ({entry.pr.url}) "
                "as it deleted the instance"
            )
        return Cleanup(
            experiment=entry.experiment, instance=entry.instance, action="deleted", reason=reason
        )

    def retire(self, launch: Launch, *, reason: str) -> None:
        """Delete the instance an auto-fix replaces, waiting for the operator to let it go."""
        current = self._current(launch)
        if current is None:
            launch.retired.append(
                Cleanup(
                    experiment=launch.experiment.name,
                    instance=launch.instance,
                    action="gone",
                    reason="already deleted",
                )
            )
        else:
            entry = _Deleting.of(launch, pr=_pending_pr(launch, current), reason=reason)
            launch.retired.append(self._settle(entry))
        self._release(launch.instance)

    def rerun(self, launch: Launch) -> CheckResult:
        """Apply ``launch.experiment`` again as a new instance and follow it."""
        launch.instance, launch.applied_at, launch.error = "", None, None
        launch.result, launch.phase, launch.deleted = None, "", False
        launch.delete_requested = False
        launch.summary, launch.summary_problem, launch.results_url = None, None, ""
        launch.applied.clear()
        self._apply(launch)
        self.flush()
        if launch.error is not None:
            launch.result = CheckResult(Status.FAIL, f"Apply failed: {launch.error}")
        else:
            launch.result = _Follower(self, launch).verdict()
        return launch.result

    def _strays(self) -> list[Cleanup | _Deleting]:
        """Instances carrying this run's label that no launch of this process knows: a
        create whose answer an interrupt swallowed, or, on the xdist controller, what a
        worker created and did not account for (it was killed, or stopped before its
        cleanup). Deleted unless the policy is never."""
        if self.cluster is None:
            return []
        known = {launch.instance for launch in self.launches.values()}
        known |= self.accounted
        found: list[Cleanup | _Deleting] = []
        namespaces = {launch.namespace for launch in self.launches.values()} | self.namespaces
        for namespace in sorted(namespaces):
            try:
                items = self.cluster.list_experiments(
                    namespace=namespace, label_selector=f"{RUN_LABEL}={self.run_id}"
                )[0]
            except ClusterError:
                continue
            for item in items:
                meta = item.get("metadata") or {}
                instance = str(meta.get("name"))
                if instance in known:
                    continue
                experiment = str((meta.get("labels") or {}).get(EXPERIMENT_LABEL) or "?")
                found.append(self._stray(item, experiment=experiment, namespace=namespace))
        return found

    def _stray(self, obj: Obj, *, experiment: str, namespace: str) -> Cleanup | _Deleting:
        """The policy for an instance no item of this process reported on: what a worker
        would have decided, from what the cluster shows (its items' outcomes are lost)."""
        instance = str(obj["metadata"]["name"])
        why = (
            "created by an xdist worker that stopped before its cleanup"
            if self.controller
            else "created as the session was interrupted"
        )
        policy = self.options.cleanup
        if policy == "never":
            return Cleanup(
                experiment=experiment,
                instance=instance,
                action="kept",
                reason=f"{why}; --experiment-cleanup=never",
                command=delete_command(instance, namespace),
            )
        finished = is_terminal(obj)
        if policy == "on-success" and finished:
            return Cleanup(
                experiment=experiment,
                instance=instance,
                action="kept",
                reason=f"{why}; {phase_of(obj)}, but not all its items ran",
                command=delete_command(instance, namespace),
            )
        reason = (
            f"{why}; --experiment-cleanup={policy}"
            if finished
            else f"{why}; unfinished ({phase_of(obj)}), deleted so it holds no cloud resources"
        )
        return _Deleting(
            experiment=experiment, instance=instance, namespace=namespace, reason=reason
        )

    def summary(self, launch: Launch) -> Mapping[str, Any] | None:
        """summary.json of a Complete instance, read once; None with
        ``launch.summary_problem`` saying why (and a toil record)."""
        if launch.summary is not None or launch.summary_problem is not None:
            return launch.summary
        observed = self.watcher(launch.namespace).observed(launch.instance)
        url = status(observed.obj).get("resultsURL")
        launch.results_url = str(url or "")
        try:
            if not url:
                waited = format_duration(self.options.results_wait)
                raise ResultsError(
                    f"{launch.instance} has no status.resultsURL (waited {waited} for it)"
                )
            launch.summary = self._results_store().summary(str(url))
        except ResultsError as exc:
            launch.summary_problem = one_line(exc)
            self.log_toil(
                lifecycle.results_toil(launch.experiment.name, launch.instance, one_line(exc))
            )
        return launch.summary

    def read_summary(self, url: str) -> Mapping[str, Any]:
        """summary.json at ``url``; ``ResultsError`` saying why it cannot be read."""
        return self._results_store().summary(url)

    def _results_store(self) -> ResultsStore:
        if self._store is None:
            self._store = self._make_store(self._say)
        return self._store

    def items_done(self, key: str) -> None:
        """The last selected item of the experiment file ``key`` has run."""
        launch = self.launches.get(self._by_nodeid.get(key, ""))
        if launch is not None:
            launch.items_done = True

    def item_failed(self, key: str) -> None:
        """An item of the experiment file with node id ``key`` failed: on-success keeps it."""
        launch = self.launches.get(self._by_nodeid.get(key, ""))
        if launch is not None:
            launch.item_failed = True

    def api_requests(self) -> dict[str, int]:
        return dict(self.cluster.requests) if self.cluster is not None else {}

    def watch_stats(self) -> dict[str, int]:
        totals = {
            "namespaces": len(self._watchers),
            "lists": 0,
            "watches": 0,
            "relists": 0,
            "outages": 0,
        }
        for watcher in self._watchers.values():
            stats = watcher.stats
            totals["outages"] += stats.outages
            totals["lists"] += stats.lists
            totals["watches"] += stats.watches
            totals["relists"] += stats.relists
        return totals

    # -- helpers --------------------------------------------------------------------

    def log_toil(self, record: ToilRecord) -> None:
        self.toil.log(record)
        if self._on_toil is not None:
            self._on_toil(record)

    def _say(self, text: str) -> None:
        """A line from any thread; written by the item thread at its next chance."""
        with self._lines_lock:
            self._pending_lines.append(text)
        if threading.current_thread() is threading.main_thread():
            self.flush()

    def flush(self) -> None:
        with self._lines_lock:
            lines, self._pending_lines = self._pending_lines, []
        if lines:
            self.out.clear()
        for text in lines:
            self.out.line(text)


class _Follower:
    """One lifecycle item's wait: budgets, reports on entering phases, the verdict."""

    def __init__(self, live: LiveRun, launch: Launch, *, deadline: Deadline | None = None) -> None:
        self.live = live
        self.deadline = deadline
        self.launch = launch
        self.options = live.options
        self.watcher = live.watcher(launch.namespace)
        self.name = launch.experiment.name
        self.instance = launch.instance
        self.reported = 0
        self.manual = lifecycle.manual_completion(launch.experiment.data.get("spec") or {})
        self.timed_out: set[str] = set()
        self.extensions: dict[str, int] = {}
        self._claims_read_at: float | None = None

    def verdict(self) -> CheckResult:
        while True:
            observed = self.watcher.observed(self.instance)
            self._report(observed)
            obj = observed.obj
            phase = phase_of(obj)
            self.launch.phase = phase
            if observed.deleted:
                return self._deleted(observed, phase)
            if phase == "Complete":
                return self._complete(observed)
            if phase == "Failed":
                if "Complete" in [t.value for t in observed.timeline("phase")]:
                    # Turned Failed after Complete: the lifecycle stays as it was observed;
                    # the quality and review items report the turn.
                    return self._complete(observed)
                return self._failed(observed)
            stuck = lifecycle.failed_target(obj) or self._failed_claim(obj, phase)
            if stuck is not None:
                return self._stuck(observed, phase, stuck)
            entered = self._entered(observed, phase)
            budget = self.options.budget(phase)
            extended = self.extensions.get(phase, 0)
            limit = budget * (1 + extended) if budget is not None else None
            elapsed = (datetime.now(UTC) - entered).total_seconds()
            left = None if self.deadline is None else self.deadline.at - time.monotonic()
            if left is not None and left <= 0:
                return self._cut_short(observed, phase, elapsed)
            if limit is not None and elapsed >= limit:
                assert budget is not None
                if self.manual and phase == "Running":
                    return self._ended_by_budget(observed, budget)
                verdict = self._timeout(observed, phase, budget, elapsed)
                if verdict is not None:
                    return verdict
                continue
            self.live.out.status(
                lifecycle.progress_line(
                    name=self.name,
                    instance=self.instance,
                    phase=phase,
                    elapsed=elapsed,
                    budget=limit,
                )
            )
            wait = TICK if limit is None else max(0.0, min(TICK, limit - elapsed))
            if left is not None:
                wait = min(wait, left)
            with contextlib.suppress(WatchTimeout, InstanceDeleted):
                self.watcher.wait_for(
                    self.instance,
                    _left(phase),
                    timeout=wait,
                    what=f"leaving {phase} (or a target failing)",
                )
            self.live.flush()

    # -- what is reported -------------------------------------------------------

    def _report(self, observed: Observed) -> None:
        """Each phase entered is reported once, in order, with what it brings."""
        timeline = observed.timeline("phase")
        for transition in timeline[self.reported :]:
            self.reported += 1
            phase = transition.value
            self.live.out.clear()
            if transition.missed is not None:
                # It came and went while the watch was down: the operator keeps no history,
                # so there is nothing to show of it but that it happened.
                self.live.out.line(
                    f"{self.instance}: {phase} (not observed: {transition.missed.describe()})"
                )
                continue
            self.live.out.line(f"{self.instance}: {phase}")
            applications: list[Obj] | None = None
            error: str | None = None
            if phase == "Ready" and self.live.cluster is not None:
                try:
                    applications = self.live.cluster.list_labelled(
                        Labelled.APPLICATIONS, instance=self.instance
                    )
                except ClusterError as exc:
                    error = one_line(exc)
            for line in lifecycle.entering_lines(
                phase,
                observed.obj,
                namespace=self.launch.namespace,
                applications=applications,
                applications_error=error,
                manual=self.manual,
            ):
                self.live.out.line(f"  {line}")

    def _entered(self, observed: Observed, phase: str) -> datetime:
        return observed.entered(phase) or self.launch.applied_at or datetime.now(UTC)

    def _timeline(self, observed: Observed) -> dict[str, str]:
        return {
            t.value: t.seen_at.isoformat(timespec="microseconds")
            for t in observed.timeline("phase")
            if t.observed
        }

    def _not_observed(self, observed: Observed) -> dict[str, dict[str, str]]:
        """Phases passed while the watch was down, with the outage they fell in."""
        return {
            t.value: {
                "from": t.missed.started.isoformat(timespec="microseconds"),
                "to": t.missed.ended.isoformat(timespec="microseconds"),
            }
            for t in observed.timeline("phase")
            if t.missed is not None
        }

    def _run_record(self, observed: Observed, *, duration: float | None) -> dict[str, Any]:
        current = status(observed.obj)
        return {
            "instance": self.instance,
            "phase": phase_of(observed.obj) if not observed.deleted else "Deleted",
            "createdAt": ((observed.obj or {}).get("metadata") or {}).get("creationTimestamp"),
            "completedAt": current.get("completedAt"),
            "durationSeconds": round(duration, 3) if duration is not None else None,
            "results": current.get("resultsURL"),
            "hypothesis": current.get("hypothesisResult"),
            "timeline": self._timeline(observed),
            **({"notObserved": missed} if (missed := self._not_observed(observed)) else {}),
        }

    def _duration(self, observed: Observed) -> float | None:
        """The run's length on the harness's own clock, from the create it made to the last
        phase it saw. An attached instance started before the harness looked: its total
        comes from ``metadata.creationTimestamp`` to ``status.completedAt``."""
        timeline = observed.timeline("phase")
        if not self.launch.created:
            total = lifecycle.run_total(observed.obj)
            if total is not None:
                return total
        start = self.launch.applied_at if self.launch.created else None
        start = start or (timeline[0].seen_at if timeline else None)
        if start is None or not timeline:
            return None
        return (timeline[-1].seen_at - start).total_seconds()

    def _diagnostics(self, observed: Observed) -> tuple[str, ...]:
        assert self.live.cluster is not None
        found = gather(
            self.live.cluster,
            self.instance,
            namespace=self.launch.namespace,
            experiment=observed.obj if not observed.deleted else None,
        )
        return tuple(found.render())

    # -- verdicts ---------------------------------------------------------------------

    def _complete(self, observed: Observed) -> CheckResult:
        duration = self._duration(observed)
        observed = self._ended(observed)
        hypothesis = status(observed.obj).get("hypothesisResult")
        record = self._run_record(observed, duration=duration)
        criteria = ((self.launch.experiment.data.get("spec") or {}).get("hypothesis") or {}).get(
            "successCriteria"
        )
        return CheckResult(
            Status.PASS,
            f"Experiment {self.instance} completed in {format_duration(duration)}; "
            f"hypothesis: {hypothesis or ('not reported' if criteria else 'N/A (no criteria)')}",
            figures={
                "run": record,
                "durationSeconds": record["durationSeconds"],
                "hypothesisResult": hypothesis,
            },
        )

    def _failed(self, observed: Observed) -> CheckResult:
        phases = [t.value for t in observed.timeline("phase")]
        phase = lifecycle.failed_in(
            phases[:-1] if phases[-1:] == ["Failed"] else phases, observed.obj
        )
        message = lifecycle.first_condition_message(observed.obj)
        if message == "no condition message":
            # The real operator leaves no condition on a failed workflow: Argo has the reason.
            message = self._workflow_reason(observed.obj) or message
        self.live.log_toil(
            lifecycle.failed_toil(self.name, self.instance, phase, one_line(message))
        )
        details = [*self._diagnostics(observed), *self._failed_summary(observed)]
        return CheckResult(
            Status.FAIL,
            f"Experiment {self.instance} failed in {phase}: {one_line(message)}",
            details=tuple(details),
            figures={
                "run": self._run_record(observed, duration=self._duration(observed)),
                "failedIn": phase,
            },
        )

    def _ended(self, observed: Observed) -> Observed:
        """``observed`` once the operator has recorded the end (``completedAt``), within a
        short wait: the real operator writes it a reconcile after the phase."""
        if observed.deleted or status(observed.obj).get("completedAt"):
            return observed
        wait = min(_AFTER_END_WAIT, self.options.results_wait or _AFTER_END_WAIT)
        with contextlib.suppress(WatchTimeout, InstanceDeleted):
            self.watcher.wait_for(
                self.instance,
                lambda o: bool(status(o).get("completedAt")),
                timeout=wait,
                what="completedAt",
            )
        return self.watcher.observed(self.instance)

    def _workflow_reason(self, obj: Obj | None) -> str | None:
        """``workflow <name> Failed: <message>`` from the Argo Workflow itself, or None."""
        workflow = status(obj).get("workflowStatus")
        name = workflow.get("name") if isinstance(workflow, Mapping) else None
        if not name or self.live.cluster is None:
            return None
        try:
            found = self.live.cluster.get_workflow(str(name))
        except ClusterError as exc:
            return f"workflow {name}: {one_line(exc)}"
        current = found.get("status") or {}
        message = current.get("message")
        text = f"workflow {name} {current.get('phase') or '<no phase>'}"
        return f"{text}: {message}" if message else text

    def _failed_summary(self, observed: Observed) -> list[str]:
        """What the failed run's summary.json says (which metrics arrived, the workflow's
        phase): diagnostics, never a quality gate. Best effort, one line when absent."""
        if observed.deleted or observed.obj is None:
            return []
        obj = self._ended(observed).obj
        url = status(obj).get("resultsURL")
        if not url:
            return ["failed run's summary.json: none (no status.resultsURL)"]
        try:
            summary = self.live.read_summary(str(url))
        except ResultsError as exc:
            return [f"failed run's summary.json: unavailable: {one_line(exc)}"]
        declared = [m.name for m in self.launch.experiment.metrics]
        first, *rest = lifecycle.failed_summary_lines(summary, declared=declared)
        return [f"failed run's {first}", *rest]

    def _failed_claim(self, obj: Obj | None, phase: str) -> lifecycle.StuckTarget | None:
        """A claim the cloud refused, read at most every ``CLAIM_CHECK_INTERVAL``."""
        if phase not in ("Pending", "Provisioning") or self.live.cluster is None:
            return None
        now = time.monotonic()
        if self._claims_read_at is not None and now - self._claims_read_at < CLAIM_CHECK_INTERVAL:
            return None
        self._claims_read_at = now
        try:
            claims = self.live.cluster.claims_named(lifecycle.claim_names(obj))
        except ClusterError:
            return None  # a diagnostic aid only: the budget still bounds the wait
        return lifecycle.failed_claim(claims, self.instance)

    def _stuck(self, observed: Observed, phase: str, stuck: lifecycle.StuckTarget) -> CheckResult:
        """A target failed and the operator will not move on: fail now, not at the budget."""
        stuck = self._explain(observed.obj, stuck)
        self.live.log_toil(lifecycle.stuck_toil(self.name, self.instance, phase, stuck))
        return CheckResult(
            Status.FAIL,
            stuck.line(self.instance, phase),
            details=self._diagnostics(observed),
            figures={
                "run": self._run_record(observed, duration=None),
                "failedIn": phase,
                "stuckTarget": stuck.target,
            },
        )

    def _explain(self, obj: Obj | None, stuck: lifecycle.StuckTarget) -> lifecycle.StuckTarget:
        """The target's reason from its claim or applications when the status has none."""
        cluster = self.live.cluster
        if cluster is None or not stuck.reason.startswith("no reason in the status"):
            return stuck
        claims: list[Obj] = []
        applications: list[Obj] = []
        with contextlib.suppress(ClusterError):
            claims = cluster.list_claims(instance=self.instance, names=lifecycle.claim_names(obj))
        explained = lifecycle.explained(stuck, obj=obj, claims=claims)
        if explained is not stuck:
            return explained
        with contextlib.suppress(ClusterError):
            applications = cluster.list_labelled(Labelled.APPLICATIONS, instance=self.instance)
        return lifecycle.explained(stuck, obj=obj, applications=applications)

    def _ended_by_budget(self, observed: Observed, budget: float) -> CheckResult:
        """A manual-completion run ends by deletion; ``--experiment-budget-running`` is the
        harness deleting it on the user's behalf."""
        assert self.live.cluster is not None
        workflow = status(observed.obj).get("workflowStatus") or {}
        state = workflow.get("phase") if isinstance(workflow, Mapping) else None
        duration = self._duration(observed)
        try:
            # Requested here; "deleted" is said at cleanup, once the object is gone.
            self.live.request_delete(self.launch)
        except ClusterError as exc:
            return CheckResult(
                Status.FAIL,
                f"Experiment {self.instance}: --experiment-budget-running "
                f"({format_duration(budget)}) ended the run, but it could not be deleted: "
                f"{one_line(exc)}",
                figures={"run": self._run_record(observed, duration=duration)},
            )
        return CheckResult(
            Status.PASS,
            f"Experiment {self.instance} ended by --experiment-budget-running "
            f"({format_duration(budget)}): deleted after {format_duration(duration)} Running "
            f"(manual completion; workflow {state or '<no phase>'})",
            figures={"run": self._run_record(observed, duration=duration), "endedBy": "budget"},
        )

    def _deleted(self, observed: Observed, phase: str) -> CheckResult:
        self.launch.deleted = True
        if self.manual and phase == "Running":
            duration = self._duration(observed)
            return CheckResult(
                Status.PASS,
                f"Experiment {self.instance} ended by deletion after "
                f"{format_duration(duration)} (manual completion)",
                figures={"run": self._run_record(observed, duration=duration)},
            )
        self.live.log_toil(lifecycle.deleted_toil(self.name, self.instance, phase))
        return CheckResult(
            Status.FAIL,
            f"Experiment {self.instance} was deleted while {phase}, before it finished",
            details=self._diagnostics(observed),
            figures={"run": self._run_record(observed, duration=None)},
        )

    def _cut_short(self, observed: Observed, phase: str, elapsed: float) -> CheckResult:
        """pytest-timeout's limit reached: reported like a phase budget, and the instance,
        unfinished, is deleted at session end under on-success."""
        self.launch.cut_short = True
        assert self.deadline is not None
        timeout = self.deadline.seconds
        self.live.log_toil(
            lifecycle.timeout_toil(self.name, self.instance, phase, timeout, by="pytest-timeout")
        )
        return CheckResult(
            Status.FAIL,
            f"pytest-timeout ({format_duration(timeout)}) for {self.instance}: still {phase} "
            f"after {format_duration(elapsed)} in {phase}",
            details=self._diagnostics(observed),
            figures={"run": self._run_record(observed, duration=None), "timedOutIn": phase},
        )

    def _timeout(
        self, observed: Observed, phase: str, budget: float, elapsed: float
    ) -> CheckResult | None:
        """A phase timeout: toil once per phase, then fail, extend or abort. None: keep waiting."""
        if phase not in self.timed_out:
            self.timed_out.add(phase)
            self.live.log_toil(lifecycle.timeout_toil(self.name, self.instance, phase, budget))
        action = self.options.on_timeout
        extended = self.extensions.get(phase, 0)
        if action == "extend" and extended < self.options.max_extensions:
            self.extensions[phase] = extended + 1
            self.live.out.clear()
            self.live.out.line(
                f"{self.instance}: {phase} outlived its budget of {format_duration(budget)}; "
                f"extending ({extended + 1}/{self.options.max_extensions})"
            )
            return None
        details = self._diagnostics(observed)
        line = (
            f"{phase} timeout ({format_duration(budget)}) for {self.instance}: still {phase} "
            f"after {format_duration(elapsed)}"
        )
        if extended:
            line += f" ({extended} extension{'s' if extended > 1 else ''})"
        if action == "abort":
            try:
                self.live.request_delete(self.launch)
            except ClusterError as exc:
                line += f"; abort could not delete it: {one_line(exc)}"
            else:
                held = self.live.wait_gone(self.launch.namespace, self.instance)
                if held is None:
                    self.launch.deleted = True
                    line += "; aborted: instance deleted"
                else:
                    line += f"; aborted: deletion requested but {held}"
        return CheckResult(
            Status.FAIL,
            line,
            details=details,
            figures={"run": self._run_record(observed, duration=None), "timedOutIn": phase},
        )


def _left(phase: str) -> Callable[[Obj], bool]:
    """Wakes a waiting item when the phase moves, or when a target fails in it (the real
    operator's way of failing early leaves the phase where it is)."""
    return lambda current: (
        phase_of(current) != phase or lifecycle.failed_target(current) is not None
    )


def _body(data: Mapping[str, Any], *, namespace: str, run_id: str, experiment: str) -> Obj:
    """The Experiment to create: the file as written, labelled with this run (for cleanup)."""
    body = dict(data)
    meta = dict(body.get("metadata") or {})
    meta["namespace"] = namespace
    meta["labels"] = {
        **(meta.get("labels") or {}),
        **MANAGED_BY,
        RUN_LABEL: run_id,
        EXPERIMENT_LABEL: label_value(experiment),
    }
    body["metadata"] = meta
    return body


def label_value(text: str) -> str:
    """``text`` as a valid label value (63 characters of ``[A-Za-z0-9_.-]``, alphanumeric at
    both ends), so a directory name can label the instances made from it."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cleaned)


def _template_doc(path: Path, name: str) -> Obj:
    """The WorkflowTemplate named ``name`` in ``path`` (a file may hold several documents)."""
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read it: {one_line(exc)}") from exc
    for doc in docs:
        if (
            isinstance(doc, dict)
            and doc.get("kind") == "WorkflowTemplate"
            and (doc.get("metadata") or {}).get("name") == name
        ):
            return doc
    raise ValueError(f"it holds no WorkflowTemplate named {name}")


__all__ = ["RUN_LABEL", "Cleanup", "Deadline", "Launch", "LiveRun", "Output"]
