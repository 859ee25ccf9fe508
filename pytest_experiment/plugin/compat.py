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
import os
import secrets
import signal
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


def junit_written_whole(config: pytest.Config, *, say_error: Callable[[str], None]) -> None:
    """pytest's ``--junitxml`` file written whole or not at all, and a failed write one line.

    pytest's junitxml plugin opens the file in place from its ``pytest_sessionfinish``
    and lets an ``OSError`` (a full disk) out of it: the file is left truncated, every
    later ``pytest_sessionfinish`` (this plugin's reports, the cache, the session's
    teardown) is skipped, the scorecard is never printed, and pytest exits 1 with an
    internal error. Here its writer is given a temporary file beside the target,
    renamed over it once complete; a failed write removes it, says so with
    ``say_error`` and is not announced as "generated xml file". Its object is where
    pytest 8.3 to 9.x keep it (``config.stash[xml_key]``, the path in ``logfile``);
    anywhere else, nothing is changed.
    """
    try:
        from _pytest.junitxml import xml_key
    except ImportError:  # pragma: no cover - pytest 8.3 to 9.x have it
        return
    xml: Any = config.stash.get(xml_key, None)
    finish = getattr(xml, "pytest_sessionfinish", None)
    summary = getattr(xml, "pytest_terminal_summary", None)
    if not isinstance(getattr(xml, "logfile", None), str) or not callable(finish):
        return
    if not callable(summary):  # pragma: no cover - pytest 8.3 to 9.x have it
        return
    failed: list[str] = []

    def pytest_sessionfinish() -> None:
        final: str = xml.logfile
        temporary = os.path.join(
            os.path.dirname(final),
            f".{os.path.basename(final)}.{os.getpid()}.{secrets.token_hex(4)}.tmp",
        )
        xml.logfile = temporary
        try:
            finish()
            os.replace(temporary, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            failed.append(final)
            say_error(f"--junitxml: cannot write {final}: {exc.strerror or exc}")
        finally:
            xml.logfile = final

    accepts = inspect.signature(summary).parameters

    def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
        if failed:
            return  # not "generated xml file": it was not
        given = {"terminalreporter": terminalreporter, "config": config}
        summary(**{name: value for name, value in given.items() if name in accepts})

    manager = config.pluginmanager
    name = manager.get_name(xml)
    manager.unregister(xml)
    xml.pytest_sessionfinish = pytest_sessionfinish
    xml.pytest_terminal_summary = pytest_terminal_summary
    manager.register(xml, name)


def running_workers(config: pytest.Config) -> list[Any]:
    """The xdist workers this controller has not yet seen finish (none elsewhere).

    From the scheduler session's set of active nodes, which xdist keeps and offers no
    public view of; without it, none.
    """
    dsession = config.pluginmanager.getplugin("dsession")
    nodes = getattr(dsession, "_active_nodes", None)
    return list(nodes) if isinstance(nodes, (set, list)) else []


def interrupt_worker(node: Any) -> bool:
    """Send SIGINT to a worker running on this machine; whether it was sent.

    Its process id is in the remote info execnet caches as xdist starts it (xdist
    asks for it at once, so it is never fetched here from a busy worker); a worker on
    another host (``--tx ssh=…``) or through a proxy has no local process to signal.
    """
    gateway = getattr(node, "gateway", None)
    spec = getattr(gateway, "spec", None)
    if spec is None or not getattr(spec, "popen", False) or getattr(spec, "via", None):
        return False
    pid = getattr(getattr(gateway, "_cache_rinfo", None), "pid", None)
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, signal.SIGINT)
    except OSError:  # it has already ended
        return False
    return True


def hear_workers(config: pytest.Config, nodes: Sequence[Any], *, until: float) -> list[Any]:
    """Take the events of ``nodes`` that xdist's own loop, stopped by an interrupt, no
    longer takes, until each has ended or the monotonic time ``until``; the nodes not
    heard from.

    A test report goes to ``pytest_runtest_logreport`` and a worker's end to
    ``pytest_testnodedown``, as xdist's loop does them; anything else is dropped. The
    events wait in the scheduler session's queue, which xdist offers no public way to
    read; without it, nothing is heard.
    """
    import queue
    import time

    dsession = config.pluginmanager.getplugin("dsession")
    events = getattr(dsession, "queue", None)
    pending = list(nodes)
    if not isinstance(events, queue.Queue):
        return pending
    while pending:
        left = until - time.monotonic()
        if left <= 0:
            break
        try:
            name, kwargs = events.get(timeout=min(left, 1.0))
        except queue.Empty:
            continue
        node = kwargs.get("node")
        if name == "testreport" and node in pending:
            report = kwargs["rep"]
            report.node = node
            config.hook.pytest_runtest_logreport(report=report)
        elif name in ("workerfinished", "errordown") and node in pending:
            pending.remove(node)
            config.hook.pytest_testnodedown(node=node, error=kwargs.get("error"))
    return pending
