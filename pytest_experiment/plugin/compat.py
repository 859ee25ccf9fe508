"""Every use of pytest's, pytest-xdist's and the last-failed plugin's private API.

Each one is here, behind a version check or feature detection with a stated
fallback, so a release that changes one of them breaks one function of one
module (and its test in ``tests/test_compat.py``), not five modules. No other
module of the package imports ``_pytest`` or reads an underscored attribute of
a pytest object; ``tests/test_compat.py`` checks both.

Supported: pytest 8.3 (the lowest declared, run by ``make test-min``) to 9.x.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

try:
    # A failure shown as a scorecard line, not a traceback, has to be a
    # ``TerminalRepr`` drawn on a ``TerminalWriter``: ``repr_failure`` accepts only
    # a string or one of those, and pytest exports neither class.
    from _pytest._code.code import TerminalRepr as TerminalRepr
    from _pytest._io import TerminalWriter as TerminalWriter
except ImportError as exc:  # pragma: no cover - no supported pytest lacks them
    raise ImportError(
        f"pytest-experiment cannot draw verdict lines on pytest {pytest.__version__}: "
        f"its TerminalRepr/TerminalWriter moved ({exc}); pytest 8.3 to 9.x are supported"
    ) from exc

if TYPE_CHECKING or hasattr(pytest, "TerminalReporter"):
    TerminalReporter = pytest.TerminalReporter
else:  # pytest 8.3 does not export it yet
    from _pytest.terminal import TerminalReporter as TerminalReporter

PYTEST: tuple[int, ...] = tuple(v for v in pytest.version_tuple if isinstance(v, int))
"""``pytest.__version__`` as numbers (a dev or local part dropped)."""
NODEID_PARSED = PYTEST >= (9, 2)
"""From pytest 9.2 a node keeps its id parsed, in ``_id``; before, as text in ``_nodeid``."""
INI_VALUES_WRAPPED = PYTEST >= (9,)
"""From pytest 9 the ini file's values are ``ConfigValue`` objects in ``_inicfg``;
``inicfg``, a plain dict before, is a deprecated proxy."""
SKIP_AT_ITEM = "_use_item_location" in inspect.signature(pytest.skip.Exception).parameters
"""pytest 7 added the flag its skip marks use to report a skip at the item."""


def set_nodeid(item: pytest.Item, nodeid: str) -> None:
    """Replace ``item``'s node id (pytest has no public way to rename an item)."""
    if NODEID_PARSED:
        from _pytest.nodeid import NodeId

        item._id = NodeId.parse(nodeid)
    else:
        item._nodeid = nodeid  # type: ignore[attr-defined]  # pytest < 9.2 only


@contextmanager
def grouped_for_scheduling(items: Sequence[tuple[pytest.Item, str, str]]) -> Iterator[None]:
    """Give each ``(item, nodeid, group)`` the id ``<nodeid>@<group>`` while the
    worker reports its collection, and ``nodeid`` again afterwards.

    ``--dist loadgroup`` schedules by that ``@<group>`` suffix, read from the
    ids an xdist worker sends when its collection finishes: without it one
    experiment's items are spread over workers and each worker applies the
    experiment again. xdist adds the suffix by assigning ``item._nodeid``,
    which pytest 9.2 no longer reads, and which would otherwise stay in every
    report, JUnit name and ``--lf`` entry. Scheduling works from that one
    message (then by item index), so the plain id is put back for the run and
    test names stay those of a serial run.
    """
    for item, nodeid, group in items:
        set_nodeid(item, f"{nodeid}@{group}")
    try:
        yield
    finally:
        for item, nodeid, _ in items:
            set_nodeid(item, nodeid)


def without_group(nodeid: str) -> str:
    """``nodeid`` without the ``@<group>`` suffix :func:`grouped_for_scheduling` gave it.

    A worker that dies mid-item is reported by the xdist controller under the
    id it was scheduled by. xdist reads a suffix as text after the last ``@``
    that follows the last ``]``; ids of this plugin escape every ``@`` inside
    their brackets, so the same test finds it here.
    """
    head, sep, tail = nodeid.rpartition("::")
    if sep and "@" in tail.rpartition("]")[2]:
        return f"{head}::{tail.rpartition('@')[0]}"
    return nodeid


def skip_at_item(reason: str) -> NoReturn:
    """``pytest.skip`` reported at the experiment file, not at this plugin's source line.

    ``-rs`` and JUnit show a skip's location; a plain ``pytest.skip`` raised here
    would name ``collect.py`` for every N/A check. ``_use_item_location`` is what
    pytest's own skip marks use to point at the item instead; without it the skip
    is plain (same outcome, this module's location).
    """
    __tracebackhide__ = True
    if SKIP_AT_ITEM:
        raise pytest.skip.Exception(reason, _use_item_location=True)
    pytest.skip(reason)  # pragma: no cover - pytest < 7


def ini_file_lines(config: pytest.Config, name: str) -> list[str]:
    """The lines the ini file itself gives ``name``, without those plugins added.

    ``config.getini`` returns both; only the file tells which markers a user declared.
    """
    if INI_VALUES_WRAPPED:
        values: Any = getattr(config, "_inicfg", {})
        raw = getattr(values.get(name), "value", None)
    else:
        raw = config.inicfg.get(name)
    lines = raw.splitlines() if isinstance(raw, str) else raw if isinstance(raw, list) else []
    return [str(line).strip() for line in lines if str(line).strip()]


@contextmanager
def capture_suspended(config: pytest.Config) -> Iterator[None]:
    """Output written inside reaches the terminal even while an item's output is
    captured, the way pytest's live logging writes.

    Without the capture manager's (undocumented) switch the lines are captured with
    the item's output: shown on failure, never lost.
    """
    capture = config.pluginmanager.get_plugin("capturemanager")
    disabled = getattr(capture, "global_and_fixture_disabled", None)
    with disabled() if callable(disabled) else contextlib.nullcontext():
        yield


def continue_on_collection_errors(config: pytest.Config) -> None:
    """Run the items that did collect although some file failed to collect, as
    ``--continue-on-collection-errors`` would.

    pytest reads the option when the run loop starts, so setting it at the end of
    collection is honoured; an option namespace without it (a pytest that renamed it)
    is a usage error rather than a silent stop of every experiment.
    """
    if not hasattr(config.option, "continue_on_collection_errors"):  # pragma: no cover
        raise pytest.UsageError(
            f"pytest {pytest.__version__} has no --continue-on-collection-errors: "
            "fix the experiment files that failed to collect, or pass the option's successor"
        )
    config.option.continue_on_collection_errors = True


def rerun_also(
    config: pytest.Config, prefix: str, items: Iterable[pytest.Item | pytest.Collector]
) -> None:
    """Under ``--lf``/``--ff``, when a test under ``prefix`` failed last time, mark
    ``items`` failed too so the last-failed plugin keeps them all.

    The plugin filters a file's items right after its collect report, from its
    ``lastfailed`` mapping, keyed by the item's structured ``id`` where pytest has
    one (9.x), by its node id before. Without the plugin (``-p no:cacheprovider``)
    or its mapping, nothing is marked.
    """
    last = config.pluginmanager.get_plugin("lfplugin")
    failed = getattr(last, "lastfailed", None)
    if not getattr(last, "active", False) or not isinstance(failed, dict) or not failed:
        return
    if any(str(nodeid).startswith(prefix) for nodeid in failed):
        failed.update((getattr(item, "id", item.nodeid), True) for item in items)


def xdist_worker_count(config: pytest.Config) -> int:
    """How many workers this xdist controller started (0 when it is not one).

    From the node manager's specs: ``-n auto`` and ``--tx`` both end there, and
    xdist offers no public count. A manager without specs reads as no workers, so
    the caller's check waits for none.
    """
    dsession = config.pluginmanager.getplugin("dsession")
    specs = getattr(getattr(dsession, "nodemanager", None), "specs", None)
    return len(specs) if isinstance(specs, Sequence) else 0


def drop_unlocated_frames(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """Leave out of ``excinfo``'s traceback the frames CPython gives no line number.

    A Ctrl-C that lands at an instruction without a line (inside a generator-based
    context manager, or while botocore loads its data) yields a frame whose
    ``tb_lineno`` is None; pytest's rendering of the interrupt then fails on
    ``None - 1`` and the session ends with exit 1 and an internal traceback
    instead of 2. Such a frame has no source line to show anyway. When the
    entries' raw traceback is not where pytest 8.3 to 9.x keep it, nothing is
    changed.
    """
    entries = list(excinfo.traceback)
    if not all(hasattr(entry, "_rawentry") for entry in entries):
        return
    kept = [e for e in entries if e._rawentry.tb_lineno is not None]
    if len(kept) != len(entries):
        excinfo.traceback = type(excinfo.traceback)(kept)


def load_keeping_files_together(
    config: pytest.Config, log: Any, *, together: Callable[[str], bool]
) -> Any | None:
    """A scheduler for ``--dist load`` that sends all the items of a file to one worker
    when ``together`` names them (by node id), or None when this pytest-xdist lacks
    what it is built on (the caller then refuses the mode).

    Until every worker has collected, it cannot be known whether the session holds
    such items, so both of xdist's schedulers are fed the nodes and collections, and
    the first ``schedule()`` picks one: ``LoadScheduling`` untouched when no item is
    to be kept together (a test suite that merely has the plugin installed is
    scheduled as ``load`` always was), else ``LoadScopeScheduling`` whose scope is the
    file for those items and the item itself for every other (each other test is then
    its own unit, balanced one by one as under ``load``). ``_split_scope`` is how
    xdist's own ``loadfile`` and ``loadgroup`` choose their units.
    """
    try:
        from xdist.scheduler import LoadScheduling, LoadScopeScheduling
    except ImportError:  # pragma: no cover - xdist without its scheduler package
        return None
    if not all(
        callable(getattr(LoadScopeScheduling, name, None))
        for name in ("_split_scope", "_assign_work_unit", "_reschedule", "remove_node")
    ):
        return None  # pragma: no cover - an xdist that schedules by scope otherwise

    class ByFile(LoadScopeScheduling):  # type: ignore[misc]
        """Also mends two ways xdist 3.8's scope scheduling hangs once a crashed worker is
        replaced (pytest-xdist issues 1323, 1327 and 1378): a unit the dead worker had
        finished went back on the queue, and a worker handed a single item waits for a
        second one before it runs the first."""

        def _split_scope(self, nodeid: str) -> str:
            return nodeid.split("::", 1)[0] if together(nodeid) else nodeid

        def remove_node(self, node: Any) -> str | None:
            workload: dict[str, dict[str, bool]] = self.assigned_work.pop(node)
            pending = [
                (scope, nodeid)
                for scope, unit in workload.items()
                for nodeid, done in unit.items()
                if not done
            ]
            if not pending:
                return None
            scope, crashed = pending[0]
            # Reported as crashed by xdist; not run again, as under xdist's own load.
            workload[scope][crashed] = True
            self.workqueue.update(
                (scope, unit) for scope, unit in workload.items() if not all(unit.values())
            )
            for other in self.assigned_work:
                self._reschedule(other)
            return crashed

        def _assign_work_unit(self, node: Any) -> None:
            super()._assign_work_unit(node)
            if not self.workqueue and not node.shutting_down:
                # Nothing left to send: told so, the worker runs its last item.
                node.shutdown()

    return LoadKeepingFilesTogether(
        plain=LoadScheduling(config, log),
        grouped=ByFile(config, log),
        group_when=lambda ids: any(together(nodeid) for nodeid in ids),
    )


class LoadKeepingFilesTogether:
    """xdist's ``Scheduling`` protocol over two schedulers fed alike until the first
    ``schedule()``, which keeps ``grouped`` when ``group_when`` holds for the collection,
    else ``plain``."""

    def __init__(self, *, plain: Any, grouped: Any, group_when: Callable[[list[str]], bool]):
        self._plain = plain
        self._grouped = grouped
        self._group_when = group_when
        self._chosen: Any = None
        self._collection: list[str] = []

    def _fed(self) -> tuple[Any, ...]:
        return (self._chosen,) if self._chosen is not None else (self._plain, self._grouped)

    @property
    def _active(self) -> Any:
        return self._chosen if self._chosen is not None else self._plain

    @property
    def nodes(self) -> Any:
        return self._active.nodes

    @property
    def collection_is_completed(self) -> bool:
        return bool(self._active.collection_is_completed)

    @property
    def tests_finished(self) -> bool:
        return bool(self._active.tests_finished)

    @property
    def has_pending(self) -> bool:
        return bool(self._active.has_pending)

    def add_node(self, node: Any) -> None:
        for scheduler in self._fed():
            scheduler.add_node(node)

    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
        self._collection = self._collection or list(collection)
        for scheduler in self._fed():
            scheduler.add_node_collection(node, collection)

    def remove_node(self, node: Any) -> str | None:
        crashed: list[str | None] = [scheduler.remove_node(node) for scheduler in self._fed()]
        return crashed[0]

    def schedule(self) -> None:
        if self._chosen is None:
            grouped = self._group_when(self._collection)
            self._chosen = self._grouped if grouped else self._plain
        self._chosen.schedule()

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        self._active.mark_test_complete(node, item_index, duration)

    def mark_test_pending(self, item: str) -> None:
        self._active.mark_test_pending(item)

    def remove_pending_tests_from_node(self, node: Any, indices: Sequence[int]) -> None:
        self._active.remove_pending_tests_from_node(node, indices)
