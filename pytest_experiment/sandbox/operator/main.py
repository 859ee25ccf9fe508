"""Command line of the simulated operator, and of its watchdog."""

from __future__ import annotations

import argparse
import logging
import os
import select
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from pytest_experiment.base.errors import SandboxError
from pytest_experiment.sandbox import kube
from pytest_experiment.sandbox.operator.config import DEFAULT_TIME_SCALE, OperatorConfig
from pytest_experiment.sandbox.s3 import BUCKET
from pytest_experiment.sandbox.scenarios import write_operator_readiness

log = logging.getLogger("experiment-operator")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_experiment.sandbox.operator",
        description="Simulated experiment operator for the pytest-experiment sandbox. "
        "S3 credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.",
    )
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--s3-endpoint")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=DEFAULT_TIME_SCALE,
        help="multiplier on realistic phase durations (0.001: a lifecycle in ~2 s)",
    )
    parser.add_argument("--bucket", default=BUCKET)
    parser.add_argument(
        "--watch-pid",
        type=int,
        help="run as the operator's watchdog instead: when process PID ends, mark the "
        "operator Deployment unready (a killed operator cannot do it itself)",
    )
    return parser


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def watchdog(kubeconfig: Path, pid: int) -> int:
    """Wait for ``pid`` to end, then take the Deployment's ready replica away."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        handle = None
    if handle is not None:
        with os.fdopen(handle) as pidfd:
            select.select([pidfd], [], [])
    log.info("operator process %d ended: Deployment readyReplicas=0", pid)
    try:
        write_operator_readiness(kube.api_client(kubeconfig), ready=False)
    except SandboxError as exc:
        log.warning("could not mark the operator Deployment unready: %s", exc)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    signal.signal(signal.SIGTERM, _exit_on_signal)
    if args.watch_pid is not None:
        try:
            return watchdog(args.kubeconfig, args.watch_pid)
        except KeyboardInterrupt:
            return 130
    if args.time_scale <= 0:
        parser.error("--time-scale must be positive")
    if not args.s3_endpoint:
        parser.error("--s3-endpoint is required")
    # Imported here: the watchdog needs neither boto3 nor the reconcile code.
    from pytest_experiment.sandbox.operator.loop import Operator

    config = OperatorConfig(
        kubeconfig=args.kubeconfig,
        s3_endpoint=args.s3_endpoint,
        time_scale=args.time_scale,
        bucket=args.bucket,
    )
    stop = threading.Event()
    try:
        Operator(config).run(stop)
    except KeyboardInterrupt:
        return 130
    finally:
        stop.set()
    return 0
