"""``experiment-sandbox install|up|down|status``.

``up`` and ``status`` print shell ``export`` lines on stdout, so
``eval "$(experiment-sandbox up)"`` points kubectl, boto3 and the plugin at
the sandbox; progress and errors go to stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_experiment.base.errors import SandboxError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="experiment-sandbox",
        description="A local hub cluster (kube-apiserver + etcd, SeaweedFS S3, simulated "
        "experiment operator) for pytest-experiment.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "install",
        help="fetch etcd, build kube-apiserver and install SeaweedFS into the cache (one-time)",
    )
    for name, text in (
        ("up", "start the sandbox (or reuse the running one) and print export lines"),
        ("down", "stop the sandbox and remove its state"),
        ("status", "print export lines if the sandbox runs; exit 1 otherwise"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument(
            "--state-dir",
            type=Path,
            default=None,
            help="sandbox state directory (default: ~/.cache/pytest-experiment/sandbox)",
        )
        command.add_argument(
            "--grace-period",
            type=float,
            default=3.0,
            help="seconds between SIGTERM and SIGKILL when stopping (default 3)",
        )
        if name == "up":
            command.add_argument(
                "--time-scale",
                type=float,
                default=None,
                help="multiplier on realistic phase durations (default 0.001: ~2 s lifecycle)",
            )
            command.add_argument(
                "--timeout", type=float, default=120.0, help="start-up budget per component"
            )
            command.add_argument(
                "--crd",
                type=Path,
                default=None,
                help="install the Experiment CRD from this file (e.g. the lab's real one) "
                "instead of the bundled one (default: $EXPERIMENT_SANDBOX_CRD if set)",
            )
            command.add_argument(
                "--no-install",
                action="store_true",
                help="fail instead of building missing binaries",
            )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Imported here so `--help` stays instant.
    from pytest_experiment.sandbox import assets, core

    try:
        if args.command == "install":
            found = assets.resolve_assets(install=True)
            print(f"etcd: {found.etcd}", file=sys.stderr)
            print(f"kube-apiserver: {found.kube_apiserver}", file=sys.stderr)
            print(f"weed: {found.weed}", file=sys.stderr)
            return 0
        state_dir: Path = args.state_dir or core.default_state_dir()
        if args.command == "up":
            defaults = core.SandboxConfig()
            sandbox = core.start_sandbox(
                core.SandboxConfig(
                    state_dir=state_dir,
                    time_scale=args.time_scale or defaults.time_scale,
                    grace_period=args.grace_period,
                    start_timeout=args.timeout,
                    install_assets=not args.no_install,
                    stop_with_process=False,
                    crd=args.crd or core.crd_from_env(),
                ),
                reuse=True,
            )
            sys.stdout.write(sandbox.export_lines())
            return 0
        if args.command == "down":
            stopped = core.stop_sandbox(state_dir, grace_period=args.grace_period)
            print("sandbox stopped" if stopped else "no sandbox running", file=sys.stderr)
            return 0
        running = core.Sandbox.attach(state_dir)
        if running is None:
            print(f"no sandbox running in {state_dir}", file=sys.stderr)
            return 1
        print(
            f"sandbox running: {running.server}, S3 {running.s3_endpoint}, pids {running.pids}",
            file=sys.stderr,
        )
        sys.stdout.write(running.export_lines())
        return 0
    except SandboxError as exc:
        print(f"experiment-sandbox: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
