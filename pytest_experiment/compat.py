"""Work-arounds for the plugins we run beside, each with the reason it exists."""

from __future__ import annotations

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
