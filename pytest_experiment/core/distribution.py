"""Which pytest-xdist ``--dist`` modes keep each experiment on one worker.

An experiment's items are one run on the cluster: the worker that runs the
first of them applies the experiment, and every later item reads that one
instance. Items of one experiment sent to two workers make two instances (two
cloud bills, each scored on part of its checks). So a live session runs only
under a mode that sends all of an experiment file's items to one worker:

* ``loadscope`` and ``loadfile``: xdist's unit of work is the file (an item id
  is ``<file>::<item>``);
* ``loadgroup``: every item of an experiment carries the experiment's group;
* ``load``: the plugin hands xdist a scheduler that balances every other test
  one by one, as ``load`` does, and an experiment file as one unit.

``worksteal`` moves single items from a busy worker to an idle one, and
``each`` runs every item on every worker: neither can keep an experiment on
one worker, so a session with live items stops at start-up under them.
"""

from __future__ import annotations

from collections.abc import Collection

KEPT_BY_XDIST = frozenset({"loadscope", "loadfile", "loadgroup"})
"""Modes whose own unit of work holds all of an experiment file's items."""
_MODES = "--dist load (the default), loadscope, loadfile or loadgroup"


def refusal(dist: str, experiments: Collection[str], *, load_kept: bool) -> str | None:
    """Why the live ``experiments`` cannot run under ``--dist dist`` (one line, with the
    fix), or None when each will be applied once. ``load_kept``: the plugin's scheduler
    serves ``--dist load``."""
    if not experiments or dist in KEPT_BY_XDIST or dist == "no" or (dist == "load" and load_kept):
        return None
    names = sorted(experiments)
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    if dist == "each":
        why = f"runs every item on every worker, so each worker would apply {shown}"
        fix = f"use {_MODES}"
    elif dist == "worksteal":
        why = (
            f"moves single items between workers, so {shown} could be applied once per worker "
            "that gets one of its items"
        )
        fix = f"use {_MODES}"
    elif dist == "load":
        why = (
            f"would spread the items of {shown} over workers, each applying it (this "
            "pytest-xdist lacks the scope scheduling the plugin builds on)"
        )
        fix = "use --dist loadfile or loadgroup"
    else:
        why = f"is not known to keep the items of {shown} on one worker"
        fix = f"use {_MODES}"
    return f"--dist {dist} {why}: {fix}"


__all__ = ["KEPT_BY_XDIST", "refusal"]
