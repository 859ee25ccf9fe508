"""Print pip requirements pinning the pytest family to the lowest versions pyproject.toml
declares (``pytest>=8.3`` → ``pytest==8.3.*``), for the lowest-pytest test job."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

FAMILY = ("pytest", "pytest-xdist", "pytest-timeout", "pytest-html")


def lowest_pins(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    pins = {}
    for requirement in declared:
        found = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*>=\s*([0-9.]+)\s*", requirement)
        if found and found[1].lower() in FAMILY:
            pins[found[1].lower()] = f"{found[1].lower()}=={found[2]}.*"
    missing = [name for name in FAMILY if name not in pins]
    if missing:
        raise SystemExit(f"no lower bound (name>=X.Y) declared for {', '.join(missing)}")
    return [pins[name] for name in FAMILY]


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    print(" ".join(lowest_pins(root / "pyproject.toml")))
