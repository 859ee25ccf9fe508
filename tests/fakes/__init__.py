"""Fake ``gh`` and ``bd`` executables for tests that must not reach GitHub or beads.

``install_fake_tools(bin_dir)`` writes ``gh`` and ``bd`` launchers (running
the scripts here with this interpreter) into ``bin_dir``; put that directory
first on PATH and point ``FAKE_GH_LOG`` / ``FAKE_BD_LOG`` at JSON-lines files
to see every invocation's argv.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

FAKES_DIR = Path(__file__).resolve().parent
TOOLS = ("gh", "bd")


@dataclass(frozen=True, kw_only=True)
class FakeTools:
    bin_dir: Path
    gh_log: Path
    bd_log: Path

    def env(self) -> dict[str, str]:
        return {"FAKE_GH_LOG": str(self.gh_log), "FAKE_BD_LOG": str(self.bd_log)}

    def calls(self, tool: str) -> list[list[str]]:
        """The argv (without the program name) of every call to ``tool`` so far."""
        log = self.gh_log if tool == "gh" else self.bd_log
        if not log.exists():
            return []
        return [json.loads(line)["argv"] for line in log.read_text().splitlines() if line]


def install_fake_tools(bin_dir: Path, *, log_dir: Path | None = None) -> FakeTools:
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in TOOLS:
        launcher = bin_dir / tool
        launcher.write_text(
            f"#!{sys.executable}\n"
            "import runpy, sys\n"
            f"sys.argv[0] = {tool!r}\n"
            f"runpy.run_path({str(FAKES_DIR / f'{tool}.py')!r}, run_name='__main__')\n"
        )
        launcher.chmod(0o755)
    logs = log_dir or bin_dir
    return FakeTools(bin_dir=bin_dir, gh_log=logs / "gh.jsonl", bd_log=logs / "bd.jsonl")
