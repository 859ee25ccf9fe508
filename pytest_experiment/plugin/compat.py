"""Work-arounds for the plugins we run beside, each with the reason it exists.

Every use of pytest's private API in this plugin lives here, so a pytest or
pytest-xdist release that changes one of them breaks one module, not five.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn

import pytest

# A failure shown as a scorecard line, not a traceback, has to be a
# ``TerminalRepr`` drawn on a ``TerminalWriter``: ``repr_failure`` accepts only
# a string or one of those, and pytest exports neither class.
from _pytest._code.code import TerminalRepr as TerminalRepr
from _pytest._io import TerminalWriter as TerminalWriter


def set_nodeid(item: pytest.Item, nodeid: str) -> None:
    """Replace ``item``'s node id.

    pytest has no public way to rename an item after collection. From 9.2 the
    id is a parsed ``NodeId`` kept in ``_id``; before, a string in ``_nodeid``.
    """
    if hasattr(item, "_id"):
        from _pytest.nodeid import NodeId

        item._id = NodeId.parse(nodeid)
    else:  # pragma: no cover - pytest < 9.2
        item._nodeid = nodeid  # type: ignore[attr-defined]


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
    pytest's own skip marks use to point at the item instead.
    """
    __tracebackhide__ = True
    raise pytest.skip.Exception(reason, _use_item_location=True)
