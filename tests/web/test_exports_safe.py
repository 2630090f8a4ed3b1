"""CSV cells that a spreadsheet would run as a formula are neutralised (OWASP CSV injection)."""

from __future__ import annotations

from datetime import date

import pytest

from web.exports_safe import safe_cell


@pytest.mark.parametrize("value", ["=1+1", "+50937123456", "-2", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")'])
def test_it_quotes_cells_that_start_like_a_formula(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Jean", "", " =1", "a=b", 12, -3, 1.5, None, date(2026, 5, 12)])
def test_it_leaves_everything_else_alone(value):
    assert safe_cell(value) == value


@pytest.mark.parametrize("text", ['=HYPERLINK("http://evil.example","click")', "+1+cmd|' /C calc'!A0", "-2+3",
                                  "@SUM(A1:A9)", "\t=1+1", "\r=1+1", "=1", "-", "+", "@", "- a dash list", "-12"])
def test_konbits_own_exports_read_back_as_typed(text):
    from web.exports_safe import restore_cell, safe_row

    assert restore_cell(safe_cell(text)) == text
    assert restore_cell("'quoted") == "'quoted" and restore_cell("'") == "'"
    assert safe_row(["=a", 1, "b", None]) == ["'=a", 1, "b", None]
