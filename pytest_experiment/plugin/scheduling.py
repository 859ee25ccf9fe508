"""A ``--dist load`` scheduler that keeps each experiment file on one worker.

Built on pytest-xdist's scheduler classes, which it offers as no public API: like
``compat``, this module is where that reliance lives, and it degrades to None (the
mode is then refused) when they are not as expected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest


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
