"""Work-arounds for the plugins we run beside, each with the reason it exists."""

from __future__ import annotations

from typing import NoReturn

import pytest


def keep_group_together(item: pytest.Item, group: str) -> None:
    """Give ``item`` the ``@<group>`` node id suffix ``--dist loadgroup`` schedules by.

    pytest-xdist 3.8 adds the suffix by assigning ``item._nodeid``, which
    pytest 9.2 no longer reads (node ids are ``NodeId`` objects in ``_id``):
    without this, one experiment's items are spread over workers and each
    worker applies the experiment again. A no-op once either side is fixed.
    """
    if item.nodeid.endswith(f"@{group}") or not hasattr(item, "_id"):
        return
    from _pytest.nodeid import NodeId

    item._id = NodeId.parse(f"{item.nodeid}@{group}")


def skip_at_item(reason: str) -> NoReturn:
    """``pytest.skip`` reported at the experiment file, not at this plugin's source line.

    ``-rs`` and JUnit show a skip's location; a plain ``pytest.skip`` raised here
    would name ``collect.py`` for every N/A check. ``_use_item_location`` is what
    pytest's own skip marks use to point at the item instead.
    """
    __tracebackhide__ = True
    raise pytest.skip.Exception(reason, _use_item_location=True)
