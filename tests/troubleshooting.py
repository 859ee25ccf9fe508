"""The README's troubleshooting table, held to the messages the harness really prints.

Each test that provokes a common mistake passes the line it captured to
``documented(mistake, printed)``: the table row whose first cell is ``mistake`` must show
``printed`` verbatim as one of its code spans. A changed message fails that test, which
prints the code span to paste into the README; the table cannot drift from the code.
"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
HEADING = "### Troubleshooting"
# Cells split on a "|" that is not escaped; inside a table a code span escapes it as "\|".
_CELL = re.compile(r"(?<!\\)\|")
_CODE = re.compile(r"`([^`]+)`")


def rows() -> dict[str, list[str]]:
    """First cell → the cells of each row of the troubleshooting table."""
    text = README.read_text(encoding="utf-8")
    start = text.index(HEADING)
    found: dict[str, list[str]] = {}
    lines = text[start:].splitlines()[1:]
    for line in lines:
        if line.startswith("#"):
            break
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        cells = [c.strip() for c in _CELL.split(line.strip())[1:-1]]
        found[cells[0]] = cells
    return found


def code_spans(cell: str) -> list[str]:
    return [span.replace("\\|", "|") for span in _CODE.findall(cell)]


def documented(mistake: str, printed: str) -> None:
    """The troubleshooting row ``mistake`` shows ``printed`` exactly."""
    table = rows()
    escaped = printed.replace("|", "\\|")
    assert mistake in table, (
        f"README.md {HEADING} has no row for {mistake!r}; add one whose second cell is: `{escaped}`"
    )
    assert printed in code_spans(table[mistake][1]), (
        f"README.md {HEADING}, row {mistake!r}: the harness now prints\n  {printed}\n"
        f"put it in that row's second cell as:\n  `{escaped}`"
    )
