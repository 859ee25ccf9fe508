"""Every module of the package stays small enough to read in one sitting.

The README promises modules of about 400 lines with one job each; a module that
grows past that has taken on a second job and is split (as the watch's waits
were from its thread, and the option table from the options).
"""

from __future__ import annotations

from pathlib import Path

import pytest_experiment

PACKAGE = Path(pytest_experiment.__file__).resolve().parent
LIMIT = 400


def test_no_module_of_the_package_is_over_400_lines() -> None:
    sizes = {
        str(path.relative_to(PACKAGE)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert len(sizes) > 100  # the package, not an empty folder
    assert {name: n for name, n in sizes.items() if n > LIMIT} == {}
