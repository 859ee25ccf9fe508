"""The live run of one pytest session (one per xdist worker): pre-flight, apply, follow,
clean up, leaving no instance unaccounted for.

``start()`` connects, runs the pre-flight of every selected experiment and
applies every one that may run (``run.preflight``, ``run.launcher``). Each
``lifecycle`` item then calls ``follow()`` (``run.follow``); the quality and
review items go on to ``run.publish`` and ``run.review_gate``. ``finish()``
applies the cleanup policy to every instance the session created
(``run.cleanup``).

Everything a user sees is written from the thread running the items: the
watcher and the launcher threads only record lines, which ``flush()`` writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pytest_experiment.core.options import Options
from pytest_experiment.core.spec import Experiment
from pytest_experiment.core.toil import ToilRecord
from pytest_experiment.core.verdict import CheckResult, Status, blocked
from pytest_experiment.run import follow as following
from pytest_experiment.run.cleanup import Cleaner, Cleanup
from pytest_experiment.run.connection import Connection
from pytest_experiment.run.failure_capture import FailureCapture
from pytest_experiment.run.follow import Deadline
from pytest_experiment.run.launch import Launch
from pytest_experiment.run.launcher import Launcher
from pytest_experiment.run.leases import LeaseKeeper, this_process
from pytest_experiment.run.orphans import Sweeper, Swept
from pytest_experiment.run.output import Lines, Output
from pytest_experiment.run.ports import Cluster, Connections, GitHub, NamespaceWatch
from pytest_experiment.run.preflight import Preflight
from pytest_experiment.run.role import Role
from pytest_experiment.run.watches import Watches


def _import_what_follows_complete(*, reads_results: bool) -> None:
    """Import the modules used after Complete while the session is being set up.

    Imported lazily in the middle of a run, a Ctrl-C can land inside an import,
    which leaves half a module behind and CPython exiting by SIGINT instead of
    with pytest's status (seen in about 1 in 20 interrupted runs). boto3 (about
    20 MB) only when a selected item will read a summary.
    """
    if reads_results:
        import boto3  # noqa: F401

    from pytest_experiment.run import publish, review_gate  # noqa: F401


class LiveRun:
    """The session's launches and the sequence of stages over them. What it holds besides
    is in parts each given only what it uses: the ``Connection``, the ``Watches``, the
    ``Lines`` said from other threads, the ``LeaseKeeper``; the stages see it through
    the views of ``run.contexts``."""

    def __init__(
        self,
        *,
        options: Options,
        connections: Connections,
        validation_failure: Callable[[Experiment], tuple[str, str] | None],
        cost_verdict: Callable[[Experiment], CheckResult | None] = lambda _: None,
        output: Output | None = None,
        verbose: bool = False,
        role: Role | None = None,
        reads_results: bool = True,
    ) -> None:
        self.options = options
        self.toil = connections.toil
        self._on_toil = connections.on_toil
        self.out = output or Output()
        self._lines = Lines(self.out)
        self._connection = Connection(connections, say=self.say)
        self.verbose = verbose
        self.role = role or Role()
        self.reads_results = reads_results
        """Whether any selected item reads a summary: the results store is then prepared
        when the run connects, not at the first read."""
        self.launches: dict[str, Launch] = {}
        self._by_nodeid: dict[str, str] = {}
        self.cleanups: list[Cleanup] = []
        cluster = self._connected  # None until connected
        self.leases = LeaseKeeper(
            owner=this_process(self.role.run_id),
            duration=options.lease,
            cluster=cluster,
            say=self.say,
        )
        self.orphans: list[Swept] = []
        """What the sweep did with the instances whose owner lease had expired."""
        self._failures = FailureCapture(cluster=cluster, launch_of=self._launch_of)
        self._watches = Watches(
            start=connections.watch,
            cluster=cluster,
            poll_interval=options.poll_interval or 15.0,
            notify=self.say,
            on_change=self._failures.seen,
        )
        self._preflight = Preflight(
            options=options,
            log_toil=self.log_toil,
            validation_failure=validation_failure,
            watch=self._watches.watcher,
            cost_verdict=cost_verdict,
        )
        self._launcher = Launcher(
            run_id=self.role.run_id,
            max_concurrent=options.max_concurrent,
            cluster=cluster,
            watches=self._watches,
            leases=self.leases,
            say=self.say,
            log_toil=self.log_toil,
        )
        self._cleaner = Cleaner(
            options=options,
            role=self.role,
            cluster=cluster,
            watches=self._watches,
            leases=self.leases,
        )
        self._sweeper = Sweeper(
            options=options,
            run_id=self.role.run_id,
            cluster=cluster,
            say=self.say,
            cleaner=self._cleaner,
        )

    @property
    def run_id(self) -> str:
        """The label value that marks every instance this run creates."""
        return self.role.run_id

    def _connected(self) -> Cluster | None:
        return self._connection.cluster

    # -- the cluster and the results store ------------------------------------------

    def connect(self) -> Cluster | None:
        """Connect once; on failure remember why and return None."""
        if self._connection.tried:
            return self._connection.cluster
        cluster = self._connection.connect()
        if cluster is not None:
            _import_what_follows_complete(reads_results=self.reads_results)
            if self.reads_results:
                self._connection.prepare_store()
        return cluster

    @property
    def cluster(self) -> Cluster | None:
        return self._connection.cluster

    @property
    def unreachable(self) -> str | None:
        """Why the cluster could not be reached, once that was tried."""
        return self._connection.unreachable

    @property
    def crd_unreadable(self) -> str | None:
        """Why the live CRD could not be read (validation then uses the bundled schema)."""
        return self._connection.crd_unreadable

    @property
    def crd_schema(self) -> Mapping[str, Any] | None:
        """The live CRD's schema, when it was read."""
        return self._connection.crd_schema

    def read_summary(self, url: str) -> Mapping[str, Any]:
        """summary.json at ``url``; ``ResultsError`` saying why it cannot be read."""
        return self._connection.results_store().summary(url)

    def github(self) -> GitHub | None:
        """GitHub as the session was given it, asked for once; None when there is none."""
        return self._connection.github()

    def watcher(self, namespace: str) -> NamespaceWatch:
        """The one watch of ``namespace`` for the whole session."""
        return self._watches.watcher(namespace)

    def watching(self, namespace: str) -> NamespaceWatch | None:
        """The watch of ``namespace`` if one was started, without starting one."""
        return self._watches.watching(namespace)

    # -- the experiments of the session ---------------------------------------------

    def add(self, experiment: Experiment, *, nodeid: str = "") -> Launch:
        """The session's launch of ``experiment`` (one per file, however often asked)."""
        key = str(experiment.path.resolve())
        if key not in self.launches:
            self.launches[key] = Launch(
                experiment=experiment,
                key=key,
                namespace=experiment.namespace or self.options.default_namespace,
                attached=self.options.attach.get(experiment.name),
            )
        if nodeid:
            self._by_nodeid[nodeid] = key
            self.launches[key].items.named = True
        return self.launches[key]

    def _launch_of(self, instance: str) -> Launch | None:
        """The launch whose current instance is ``instance`` (from any thread)."""
        return next((x for x in list(self.launches.values()) if x.instance == instance), None)

    def find(self, name: str) -> Launch | None:
        """The launch of the experiment whose directory is ``name``."""
        return next((x for x in self.launches.values() if x.name == name), None)

    def items_done(self, key: str) -> None:
        """The last selected item of the experiment file with node id ``key`` has run."""
        launch = self.launches.get(self._by_nodeid.get(key, ""))
        if launch is not None:
            launch.items.done = True

    def item_failed(self, key: str) -> None:
        """An item of the experiment file with node id ``key`` failed: on-success keeps it."""
        launch = self.launches.get(self._by_nodeid.get(key, ""))
        if launch is not None:
            launch.items.failed = True

    # -- start, follow, re-run -------------------------------------------------------

    def start(self, launches: Iterable[Launch]) -> None:
        """Pre-flight every launch, then apply those that may run."""
        ready = []
        # Several items of one experiment name the same launch: each is started once.
        for launch in {id(launch): launch for launch in launches}.values():
            self.prepare(launch)
            if launch.preflight.blocked is None and launch.apply.error is None:
                ready.append(launch)
        self._launcher.start(ready)

    def sweep_orphans(self, namespaces: Iterable[str]) -> bool:
        """Say the instances in ``namespaces`` whose owner lease expired, and request the
        deletion of each unless the policy is never (confirmed at ``finish``); False when
        no cluster is reachable to look in."""
        if self.connect() is None:
            return False
        self._sweeper.start(namespaces)
        self.flush()
        return True

    def prepare(self, launch: Launch) -> None:
        """Pre-flight items' verdicts and whether the experiment may be applied."""
        if not launch.preflight.checks:
            cluster = self.connect()
            self._preflight.check(
                launch,
                cluster,
                unreachable=self._connection.unreachable or "",
                refused=self._connection.refused,
                crd_read=self._connection.crd_read,
            )

    def follow(self, launch: Launch, *, deadline: Deadline | None = None) -> CheckResult:
        """The lifecycle verdict of ``launch``; computed once, however many items ask.

        ``deadline`` is pytest-timeout's limit for the item: the wait ends there the way
        a phase budget ends it, with diagnostics.
        """
        try:
            return following.verdict(
                self, launch, deadline=deadline, before=lambda: self._applied(launch)
            )
        finally:
            self.out.clear()
            if launch.instance:
                self._launcher.release(launch.instance)

    def _applied(self, launch: Launch) -> CheckResult | None:
        """None once ``launch`` has an instance to follow, else the verdict saying why not."""
        self.prepare(launch)
        if launch.preflight.blocked is not None:
            return blocked(launch.preflight.blocked)
        self._launcher.applied(launch, waiting=self._queued)
        self.flush()
        return self._apply_failed(launch)

    def _queued(self, text: str) -> None:
        self.flush()
        self.out.status(text)

    def retire(self, launch: Launch, *, reason: str) -> None:
        """Delete the instance an auto-fix re-run replaces, waiting for the operator."""
        self._cleaner.retire(launch, reason=reason)
        self._launcher.release(launch.instance)

    def rerun(self, launch: Launch, experiment: Experiment) -> CheckResult:
        """Apply ``experiment`` (the fixed file) as a new instance and follow it."""
        self._launcher.apply(launch, experiment)
        self.flush()
        return following.follow_again(self, launch, before=lambda: self._apply_failed(launch))

    @staticmethod
    def _apply_failed(launch: Launch) -> CheckResult | None:
        error = launch.apply.error
        return CheckResult(Status.FAIL, f"Apply failed: {error}") if error is not None else None

    # -- session end -------------------------------------------------------------------

    def finish(
        self, *, accounted: Iterable[str] = (), namespaces: Iterable[str] = ()
    ) -> list[Cleanup]:
        """Stop following and apply the cleanup policy to every instance (and every stray
        of this run, in ``namespaces`` too, that is not ``accounted`` for)."""
        self._launcher.stop()
        self.out.clear()
        self.cleanups = self._cleaner.finish(
            list(self.launches.values()), accounted=accounted, namespaces=namespaces
        )
        self.leases.stop()
        self.orphans = self._sweeper.finish()
        self._watches.stop()
        # What the watch said while the cleanup waited (an outage, its end) is printed
        # too: no item is left to write it.
        self.flush()
        return self.cleanups

    def sweep(self, *, namespaces: Iterable[str], accounted: Iterable[str]) -> list[Cleanup]:
        """As the xdist controller: apply the cleanup policy to whatever carries this run's
        label in ``namespaces`` that no worker reported on (``accounted``)."""
        if self.connect() is None:
            return []
        return self.finish(accounted=accounted, namespaces=namespaces)

    def end_lease(self, namespace: str, instance: str, *, reason: str) -> None:
        """As the xdist controller: end the lease of an instance a worker kept on purpose,
        once its decision has reached the controller."""
        if self.connect() is None:
            return
        failed = self.leases.end(namespace, instance, reason=f"run {self.role.run_id}: {reason}")
        if failed is not None:
            self.say(
                f"{instance}: its owner lease could not be ended ({failed}), so a later "
                "session will take it for an orphan"
            )

    def request_delete(self, launch: Launch) -> None:
        """Ask the API to delete the instance; ``wait_gone`` says when it has gone."""
        self._cleaner.request_delete(launch)

    def wait_gone(self, namespace: str, instance: str) -> str | None:
        """None once a deleted instance has gone, else why it is still there."""
        return self._cleaner.wait_gone(namespace, instance)

    # -- what the session reports ------------------------------------------------------

    def api_requests(self) -> dict[str, int]:
        return self._connection.api_requests()

    def watch_stats(self) -> dict[str, int]:
        return self._watches.stats()

    def log_toil(self, record: ToilRecord) -> None:
        self.toil.log(record)
        self._on_toil(record)

    def say(self, text: str) -> None:
        """A line from any thread; written by the item thread at its next chance."""
        self._lines.say(text)

    def flush(self) -> None:
        self._lines.flush()


__all__ = ["LiveRun"]
