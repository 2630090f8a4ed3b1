"""Cells of CSV files that spreadsheets will not run as formulas (OWASP "CSV injection").

A spreadsheet opening a CSV treats a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in
some programs, a tab or a carriage return) as a formula: a spot script beginning "=HYPERLINK(...)"
would become a live link. :func:`safe_cell` puts a single quote before such a value, which
spreadsheets show as text and people still read as written. Numbers are left as they are: a
negative number is not a formula.

References
----------
OWASP, "CSV Injection", https://owasp.org/www-community/attacks/CSV_Injection
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["FORMULA_STARTS", "csv_text", "restore_cell", "safe_cell", "safe_row"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` as a cell no spreadsheet runs: text starting like a formula gets a leading quote.

    Numbers, dates and None are left as they are (a spreadsheet does not evaluate them; the csv
    module writes None as an empty cell, openpyxl keeps numbers numeric).

    >>> safe_cell("=1+1"), safe_cell("Radyo"), safe_cell(-5), safe_cell(None)
    ("'=1+1", 'Radyo', -5, None)
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Sequence[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]], *, bom: bool = True) -> str:
    """A whole CSV (CRLF lines, UTF-8 BOM for Excel when encoded), every cell made safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(safe_row(header))
    for row in rows:
        writer.writerow(safe_row(row))
    return ("\ufeff" if bom else "") + buffer.getvalue()


def restore_cell(text: str) -> str:
    """The value :func:`safe_cell` neutralised, as typed (reading Konbit's own exports back).

    >>> restore_cell("'=1+2"), restore_cell("'quoted"), restore_cell("=1+2")
    ('=1+2', "'quoted", '=1+2')
    """
    if text[:1] == "'" and text[1:2] in FORMULA_STARTS and text[1:2]:
        return text[1:]
    return text
