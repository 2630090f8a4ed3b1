"""The shared expression cases, run through XLSExpr in real Chromium and compared with Python.

``tests/surveys/test_expressions.py`` checks ``xlsexpr.js`` under node; this runs the same
``expression_cases.json`` in the browser the enumerators' phones run (V8 in Chromium, the
page's own ``Intl``/``Date``), both ways the form uses it: parsing the text, and evaluating
the tree that the server sends in the form page (after a JSON round trip).
"""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path
from typing import Any

import pytest

from surveys.expressions import ExpressionError, evaluate, parse, to_json
from tests.surveys.test_expressions import _options, _shape_ok

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CASES_FILE = ROOT / "tests" / "surveys" / "expression_cases.json"
XLSEXPR = ROOT / "web" / "static" / "js" / "xlsexpr.js"

# Runs every case in the page; outcomes encoded as in tests/surveys/run_xlsexpr_cases.js.
RUN_CASES = """
(cases) => {
  function encodeValue(value) {
    if (typeof value === 'number') {
      if (isNaN(value) || !isFinite(value)) return {type: 'number', value: String(value)};
      return {type: 'number', value: value === 0 ? 0 : value};
    }
    return {type: typeof value, value: value};
  }
  function encodeError(error) {
    return {type: 'error', name: error.name, message: error.message,
            reason: error.reason === undefined ? null : error.reason,
            position: error.position === undefined ? null : error.position};
  }
  function attempt(fn) {
    try { return encodeValue(fn()); } catch (error) { return encodeError(error); }
  }
  return cases.map(function (c) {
    const options = Object.assign({today: c.today}, c.options);
    const out = {parsed: null, viaText: null, viaTree: null};
    let tree = null;
    try { tree = XLSExpr.parse(c.expr, c.kind); out.parsed = {type: 'tree', value: tree}; }
    catch (error) { out.parsed = encodeError(error); }
    if (tree !== null) out.viaText = attempt(() => XLSExpr.evaluate(tree, c.values, c.current, options));
    if (c.tree !== null) {
      out.viaTree = attempt(() => XLSExpr.evaluate(XLSExpr.fromJSON(JSON.stringify(c.tree)), c.values, c.current, options));
    }
    return out;
  });
}
"""


def _cases() -> list[dict[str, Any]]:
    doc = json.loads(CASES_FILE.read_text(encoding="utf-8"))
    out = []
    for index, raw in enumerate(doc["cases"]):
        values = dict(doc["default_values"])
        values.update(raw.get("values", {}))
        out.append({**raw, "index": index, "values": values, "current": raw.get("current"),
                    "today": raw.get("today", doc["default_today"])})
    return out


def _encode(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"type": "boolean", "value": value}
    if isinstance(value, float):
        if math.isnan(value):
            return {"type": "number", "value": "NaN"}
        if math.isinf(value):
            return {"type": "number", "value": "Infinity" if value > 0 else "-Infinity"}
        return {"type": "number", "value": value + 0.0}
    return {"type": "string", "value": value}


def _python(case: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """(tree JSON or None, encoded outcome) in Python."""
    try:
        expr = parse(case["expr"], kind=case.get("kind"))
    except ExpressionError as err:
        return None, {"type": "error", "message": str(err)}
    try:
        result = evaluate(expr, case["values"], current=case["current"],
                          today=datetime.date.fromisoformat(case["today"]), **_options(case))
    except ExpressionError as err:
        return to_json(expr), {"type": "error", "message": str(err)}
    return to_json(expr), _encode(result)


def _expected(case: dict[str, Any]) -> dict[str, Any]:
    if "error" in case:
        return {"type": "error", "message": case["error"]}
    result = case["result"]
    if isinstance(result, bool):
        return {"type": "boolean", "value": result}
    if isinstance(result, (int, float)):
        return {"type": "number", "value": float(result)}
    if isinstance(result, dict):
        return {"type": "number", "value": result["number"]}
    return {"type": "string", "value": result}


def _same(actual: dict[str, Any] | None, expected: dict[str, Any]) -> bool:
    if actual is None or actual["type"] != expected["type"]:
        return False
    if actual["type"] == "error":
        return actual["message"] == expected["message"]
    return actual["value"] == expected["value"]


def _describe(case: dict[str, Any]) -> str:
    return f"case {case['index']} {case['expr']!r}"


def test_it_agrees_with_python_on_every_shared_case_in_chromium(page, output_dir):
    cases = _cases()
    assert len(cases) >= 850
    python = [_python(case) for case in cases]
    page.set_content("<!doctype html><html lang='ht'><head><meta charset='utf-8'><title>XLSExpr</title></head>"
                     "<body><p id='out'>running</p></body></html>")
    page.add_script_tag(path=str(XLSEXPR))
    payload = [{"expr": c["expr"], "kind": c.get("kind"), "values": c["values"], "current": c["current"], "today": c["today"],
                "options": _options(c), "tree": tree}
               for c, (tree, _) in zip(cases, python, strict=True)]
    results = page.evaluate(RUN_CASES, payload)
    assert len(results) == len(cases)

    failures = []
    for case, (tree, py_outcome), js in zip(cases, python, results, strict=True):
        if "check" in case:  # uuid(), random(), now(): each side is checked on its own
            for way, outcome in (("Python", py_outcome), ("browser viaText", js["viaText"]),
                                 ("browser viaTree", js["viaTree"])):
                if outcome is None or not _shape_ok(outcome, case["check"]):
                    failures.append(f"{_describe(case)}: {way} gives {outcome}, the case checks {case['check']}")
            continue
        expected = _expected(case)
        if not _same(py_outcome, expected):
            failures.append(f"{_describe(case)}: Python gives {py_outcome}, the case says {expected}")
        if tree is None:  # Python refuses to parse: so must the browser, with the same message
            if js["parsed"]["type"] != "error" or js["parsed"]["message"] != py_outcome["message"]:
                failures.append(f"{_describe(case)}: browser parse {js['parsed']}, Python {py_outcome}")
            continue
        if js["parsed"]["type"] != "tree" or js["parsed"]["value"] != tree:
            failures.append(f"{_describe(case)}: browser tree {js['parsed']} != Python tree {tree}")
        for way in ("viaText", "viaTree"):
            if not _same(js[way], py_outcome):
                failures.append(f"{_describe(case)}: browser {way} {js[way]}, Python {py_outcome}")

    page.evaluate("(n) => { document.getElementById('out').textContent = n + ' cases agree'; }", len(cases) - len(failures))
    page.screenshot(path=str(output_dir / "expressions.png"))
    assert not failures, "\n".join(failures[:40])
    assert page.console_errors == [], page.console_errors


def test_it_evaluates_the_trees_of_a_form_page_as_python_does(page):
    """The trees embedded in a form page, evaluated in the browser on a few answer sets."""
    from surveys.spec import spec_to_dict
    from tests.surveys.factories import make_kap_spec
    from web.routes.collect import client_spec

    form, problems = client_spec(spec_to_dict(make_kap_spec()))
    assert problems == []
    page.set_content("<!doctype html><title>trees</title>")
    page.add_script_tag(path=str(XLSEXPR))
    codes = [it["code"] for s in form["sections"] for it in s["items"]]
    answer_sets = [
        {"consent": "yes", "age": "14", "k_law": "yes", "k_signs": "dk debt", "e_radio": "yes", "e_times": "0",
         "e_last": "2999-01-01", "p_report_to": "nobody"},
        {"consent": "no", "age": "40", "k_law": "no", "k_signs": "dk", "e_radio": "no", "e_times": "5"},
        {"consent": "yes", "age": "99", "k_law": "dk", "k_signs": "job_offer documents", "e_last": "2020-02-29"},
    ]
    checks = []
    for answers in answer_sets:
        values = {code: answers.get(code, "") for code in codes}
        for section in form["sections"]:
            for item in section["items"]:
                for kind in ("relevant", "constraint"):
                    if item[kind] is not None:
                        checks.append({"tree": item[kind], "values": values, "current": values[item["code"]],
                                       "item": item["code"], "kind": kind})
        for section in form["sections"]:
            if section["relevant"] is not None:
                checks.append({"tree": section["relevant"], "values": values, "current": "", "item": section["name"],
                               "kind": "section"})
    today = "2026-11-02"
    js = page.evaluate(
        "([checks, today]) => checks.map(c => XLSExpr.truthy(XLSExpr.evaluate(XLSExpr.fromJSON(JSON.stringify(c.tree)), "
        "c.values, c.current, {today})))", [checks, today])
    from surveys.expressions import from_json, truthy

    day = datetime.date.fromisoformat(today)
    py = [truthy(evaluate(from_json(c["tree"]), c["values"], current=c["current"], today=day)) for c in checks]
    assert len(checks) > 20
    assert js == py, [(c["item"], c["kind"], a, b) for c, a, b in zip(checks, js, py) if a != b]
    assert True in js and False in js
