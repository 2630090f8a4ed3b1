"""Tests for surveys/expressions.py and its JavaScript twin xlsexpr.js.

Every case in ``expression_cases.json`` is run in Python and, through
``run_xlsexpr_cases.js``, in node: the JS parser must produce the same tree as
``to_json`` and the same result (or error), and the JS evaluator must give the
same result on the tree Python sends.  A seeded random generator adds a few
thousand more expressions to the cross-language comparison, and the built-in
regex engine is checked against Python's ``re`` on its common subset.
"""

from __future__ import annotations

import datetime
import json
import math
import random
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from surveys import expressions as ex
from surveys.expressions import (
    Binary,
    Call,
    Current,
    Expr,
    ExpressionError,
    FieldRef,
    Logical,
    Negate,
    NumberLiteral,
    StringLiteral,
    check_references,
    evaluate,
    from_json,
    parse,
    to_json,
    truthy,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CASES_FILE = HERE / "expression_cases.json"
RUNNER = HERE / "run_xlsexpr_cases.js"
JS_FILE = ROOT / "web" / "static" / "js" / "xlsexpr.js"
NODE = shutil.which("node")
NO_NODE = "node is not on PATH, so web/static/js/xlsexpr.js cannot be checked"


# ---------------------------------------------------------------------------
# Loading cases and encoding outcomes (the same encoding the runner uses)
# ---------------------------------------------------------------------------

def _load_cases() -> list[dict[str, Any]]:
    doc = json.loads(CASES_FILE.read_text(encoding="utf-8"))
    cases = []
    for index, raw in enumerate(doc["cases"]):
        values = dict(doc["default_values"])
        values.update(raw.get("values", {}))
        cases.append({
            **raw,
            "index": index,
            "values": values,
            "current": raw.get("current"),
            "today": raw.get("today", doc["default_today"]),
        })
    return cases


CASES = _load_cases()


OPTION_KEYS = ("now", "repeats", "position", "choice", "choices", "seed")


def _options(case: dict[str, Any]) -> dict[str, Any]:
    """The evaluation context a case gives beyond values, current and today."""
    return {key: case[key] for key in OPTION_KEYS if key in case}


def _shape_ok(outcome: dict[str, Any], check: dict[str, Any]) -> bool:
    """A non-deterministic result (uuid(), random(), now()) checked by type, pattern and range."""
    if outcome["type"] != check["type"]:
        return False
    value = outcome["value"]
    if "match" in check and not re.fullmatch(check["match"], value):
        return False
    if "min" in check and not value >= check["min"]:
        return False
    if "below" in check and not value < check["below"]:
        return False
    return True


def _case_id(case: dict[str, Any]) -> str:
    expr = case["expr"]
    return f"{case['index']:03d}:{expr[:40]}" + ("..." if len(expr) > 40 else "")


def _encode(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"type": "boolean", "value": value}
    if isinstance(value, float):
        if math.isnan(value):
            return {"type": "number", "value": "NaN"}
        if math.isinf(value):
            return {"type": "number", "value": "Infinity" if value > 0 else "-Infinity"}
        return {"type": "number", "value": value + 0.0}
    if isinstance(value, str):
        return {"type": "string", "value": value}
    raise AssertionError(f"evaluate() returned {value!r}")


def _encode_error(error: ExpressionError) -> dict[str, Any]:
    return {"type": "error", "message": str(error), "reason": error.message,
            "position": error.position}


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


def _python_run(case: dict[str, Any]) -> tuple[Expr | None, dict[str, Any], str]:
    """Return (tree or None, encoded outcome, stage reached)."""
    try:
        expr = parse(case["expr"], kind=case.get("kind"))
    except ExpressionError as error:
        return None, _encode_error(error), "parse"
    today = datetime.date.fromisoformat(case["today"])
    try:
        result = evaluate(expr, case["values"], current=case["current"], today=today,
                          **_options(case))
    except ExpressionError as error:
        return expr, _encode_error(error), "evaluate"
    return expr, _encode(result), "evaluate"


def _same(actual: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Compare encoded outcomes; errors by message (and position if given)."""
    if actual["type"] != expected["type"]:
        return False
    if actual["type"] == "error":
        return all(actual[key] == expected[key] for key in expected
                   if key in ("message", "position", "reason"))
    return actual["value"] == expected["value"]


def _run_node(payload: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    source = tmp_path / "input.json"
    source.write_text(json.dumps(payload, allow_nan=False), encoding="utf-8")
    completed = subprocess.run(
        [NODE, str(RUNNER), str(source)], capture_output=True, text=True,
        encoding="utf-8", timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def _node_payload(cases: list[dict[str, Any]]) -> dict[str, Any]:
    items = []
    for case in cases:
        tree, _, _ = _python_run(case)
        items.append({
            "expr": case["expr"],
            "kind": case.get("kind"),
            "values": case["values"],
            "current": case["current"],
            "today": case["today"],
            "options": _options(case),
            "tree": None if tree is None else to_json(tree),
        })
    return {"cases": items}


# ---------------------------------------------------------------------------
# Shared cases: Python
# ---------------------------------------------------------------------------

def test_there_are_enough_shared_cases() -> None:
    assert len(CASES) >= 900
    assert sum("error" in case for case in CASES) >= 150
    assert sum("check" in case for case in CASES) >= 8
    for case in CASES:
        assert sum(key in case for key in ("result", "error", "check")) == 1, case
        if "error" in case:
            assert case["stage"] in ("parse", "evaluate"), case


def test_every_function_has_a_shared_case() -> None:
    called = set()
    for case in CASES:
        try:
            tree = parse(case["expr"])
        except ExpressionError:
            continue
        called.update(node.name for node in ex._iter_nodes(tree) if isinstance(node, Call))
    assert set(ex._FUNCTIONS) - called == set()


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_python_matches_shared_case(case: dict[str, Any]) -> None:
    tree, outcome, stage = _python_run(case)
    if "check" in case:
        assert _shape_ok(outcome, case["check"]), (outcome, case["check"])
        return
    assert _same(outcome, _expected(case)), (outcome, _expected(case))
    if outcome["type"] == "error":
        assert stage == case["stage"]
        position = outcome["position"]
        suffix = "" if position is None else f" at position {position}"
        assert outcome["message"] == outcome["reason"] + suffix
        if stage == "evaluate":
            assert position is None


@pytest.mark.parametrize("case", [c for c in CASES if c.get("stage") != "parse"], ids=_case_id)
def test_tree_round_trips(case: dict[str, Any]) -> None:
    expr = parse(case["expr"])
    data = to_json(expr)
    text = json.dumps(data, allow_nan=False)
    assert from_json(json.loads(text)) == expr
    assert parse(str(expr)) == expr
    assert to_json(parse(str(expr))) == data


# ---------------------------------------------------------------------------
# Shared cases: JavaScript
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def js_results(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    if NODE is None:
        pytest.skip(NO_NODE)
    output = _run_node(_node_payload(CASES), tmp_path_factory.mktemp("xlsexpr"))
    assert len(output["results"]) == len(CASES)
    return output["results"]


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_javascript_parse_then_evaluate_matches_python(
        case: dict[str, Any], js_results: list[dict[str, Any]]) -> None:
    tree, outcome, stage = _python_run(case)
    js = js_results[case["index"]]
    if tree is None:
        assert js["parsed"]["type"] == "error"
        assert js["parsed"]["name"] == "ExpressionError"
        assert _same(js["parsed"], outcome), (js["parsed"], outcome)
        return
    assert js["parsed"]["type"] == "tree", js["parsed"]
    assert js["parsed"]["value"] == to_json(tree)
    if "check" in case:
        assert _shape_ok(js["viaText"], case["check"]), (js["viaText"], case["check"])
        return
    assert _same(js["viaText"], outcome), (js["viaText"], outcome)


@pytest.mark.parametrize("case", [c for c in CASES if c.get("stage") != "parse"], ids=_case_id)
def test_javascript_evaluates_python_tree(
        case: dict[str, Any], js_results: list[dict[str, Any]]) -> None:
    _, outcome, _ = _python_run(case)
    js = js_results[case["index"]]
    if "check" in case:
        assert _shape_ok(js["viaTree"], case["check"]), (js["viaTree"], case["check"])
        return
    assert _same(js["viaTree"], outcome), (js["viaTree"], outcome)


# ---------------------------------------------------------------------------
# Python API contract
# ---------------------------------------------------------------------------

def test_expression_error_shape() -> None:
    with pytest.raises(ExpressionError) as info:
        parse("${a} = (1 + 2))")
    error = info.value
    assert isinstance(error, ValueError)
    assert error.message == "unexpected ')'"
    assert error.position == 14
    assert str(error) == "unexpected ')' at position 14"
    assert str(ExpressionError("boom")) == "boom"
    assert ExpressionError("boom").position is None


def test_trees_are_immutable_and_compare_without_positions() -> None:
    first = parse("${a}   =   1")
    second = parse("${a} = 1")
    assert first == second and hash(first) == hash(second)
    assert first == Binary("=", FieldRef("a"), NumberLiteral(1.0))
    with pytest.raises(AttributeError):
        first.op = "!="  # type: ignore[misc]


def test_tree_shapes() -> None:
    assert parse("${x} or ${y} or ${z}") == Logical(
        "or", (FieldRef("x"), FieldRef("y"), FieldRef("z")))
    assert parse("(${x} or ${y}) or ${z}") == Logical(
        "or", (Logical("or", (FieldRef("x"), FieldRef("y"))), FieldRef("z")))
    assert parse("-.") == Negate(Current())
    assert parse("selected(${x}, 'a')") == Call(
        "selected", (FieldRef("x"), StringLiteral("a")))
    assert to_json(parse("not(${a} > 1) and . = 'x'")) == [
        "and", ["call", "not", [">", ["ref", "a"], ["num", 1]]], ["=", ["cur"], ["str", "x"]]]
    assert to_json(parse("-2.5")) == ["neg", ["num", 2.5]]


def test_references() -> None:
    expr = parse("${a} + ${b} = ${a} and selected(${c}, 'x') or . = ''")
    assert expr.references() == frozenset({"a", "b", "c"})
    assert parse("1 + 1").references() == frozenset()


def test_check_references() -> None:
    expr = parse("${age} > 18 and ${agee} < 99 and ${zz} = ''")
    check_references(expr, {"age", "agee", "zz"})
    with pytest.raises(ExpressionError) as info:
        check_references(expr, {"age", "zz"})
    assert info.value.message == "unknown field ${agee}"
    assert info.value.position == 16
    assert "agee" in str(info.value)


def test_evaluate_values_and_defaults() -> None:
    assert evaluate(parse("today()"), {}) == datetime.date.today().isoformat()
    assert evaluate(parse("${x}"), {"x": ("a", "b")}) == "a b"
    assert evaluate(parse("${x} + 1"), {"x": 41}) == 42.0
    assert evaluate(parse("."), {}, current=None) == ""
    for bad in ({"k": 1}, True, [1, 2], object()):
        with pytest.raises(TypeError):
            evaluate(parse("${x}"), {"x": bad})
    with pytest.raises(TypeError):
        evaluate("1 + 1", {})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        parse(None)  # type: ignore[arg-type]


def test_truthy() -> None:
    assert truthy(True) and not truthy(False)
    assert truthy("x") and not truthy("")
    assert truthy(1.0) and truthy(-0.5) and not truthy(0.0) and not truthy(math.nan)
    assert not truthy(1e-13) and truthy(math.inf)
    with pytest.raises(TypeError):
        truthy(None)  # type: ignore[arg-type]


INVALID_TREES: list[Any] = [
    None, [], "x", [1], ["nope"], ["num"], ["num", -1], ["num", "1"], ["num", True], ["num", 10**400],
    ["str", 1], ["str", "a'b\"c"], ["ref", ""], ["ref", "a b"], ["ref", "1a"], ["cur", 1],
    ["neg"], ["and", ["num", 1]], ["=", ["num", 1]], ["+", ["num", 1], ["num", 2], ["num", 3]],
    ["call", "eval", ["str", "x"]], ["call", "not"], ["call", "selected", ["cur"], ["num", 1]],
    ["call", "regex", ["cur"], ["str", "("]], ["or", ["num", 1], ["bad"]],
    ["path"], ["path", "up", "x"], ["path", "rel"], ["path", "abs"], ["path", "abs", ".."],
    ["path", "rel", "and"], ["path", "rel", "a b"], ["path", "rel", 1], ["path", "rel", "."],
    ["call", "indexed-repeat", ["str", "x"], ["ref", "r"], ["num", 1]],
    ["call", "indexed-repeat", ["ref", "x"], ["ref", "r"]], ["call", "position", ["num", 1]],
    ["call", "format-date", ["cur"], ["str", "%q"]], ["call", "concat"], ["call", "current"],
]


@pytest.mark.parametrize("data", INVALID_TREES, ids=repr)
def test_from_json_rejects_invalid_trees(data: Any) -> None:
    with pytest.raises(ExpressionError):
        from_json(data)


def test_from_json_limits_depth() -> None:
    data: Any = ["num", 1]
    for _ in range(ex.MAX_DEPTH + 1):
        data = ["neg", data]
    with pytest.raises(ExpressionError, match="nested too deeply"):
        from_json(data)


def test_javascript_from_json_rejects_the_same_trees(tmp_path: Path) -> None:
    if NODE is None:
        pytest.skip(NO_NODE)
    script = (
        "const X = require(process.argv[1]);"
        "const trees = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));"
        "process.stdout.write(JSON.stringify(trees.map(function (t) {"
        "  try { X.fromJSON(JSON.stringify(t)); return null; }"
        "  catch (e) { return e instanceof X.ExpressionError ? e.message : 'other: ' + e; }"
        "})));")
    source = tmp_path / "trees.json"
    source.write_text(json.dumps(INVALID_TREES), encoding="utf-8")
    completed = subprocess.run([NODE, "-e", script, str(JS_FILE), str(source)],
                               capture_output=True, text=True, check=True)
    messages = json.loads(completed.stdout)
    for data, message in zip(INVALID_TREES, messages):
        with pytest.raises(ExpressionError) as info:
            from_json(data)
        assert message == str(info.value), data


def test_no_dynamic_code_execution() -> None:
    js = JS_FILE.read_text(encoding="utf-8")
    assert not re.search(r"\beval\s*\(|\bFunction\s*\(|setTimeout|import\s*\(", js)
    py = Path(ex.__file__).read_text(encoding="utf-8")
    assert not re.search(r"(?<![\w.])(?<!def )(eval|exec|compile|__import__)\s*\(", py)


# ---------------------------------------------------------------------------
# regex(): the built-in engine against Python's re on the common subset
# ---------------------------------------------------------------------------

_RE_ATOMS = [
    ("a", "a"), ("b", "b"), ("c", "c"), (".", "[^\\n\\r\\x85\\u2028\\u2029]"),
    ("[ab]", "[ab]"), ("[^a]", "[^a]"), ("[a-c1]", "[a-c1]"), ("\\d", "\\d"), ("\\w", "\\w"),
    ("\\s", "\\s"), ("\\D", "\\D"), ("\\.", "\\."), ("[\\s1]", "[\\s1]"),
]
_RE_QUANTIFIERS = ["", "", "", "*", "+", "?", "{2}", "{1,2}", "{0,}", "*?", "{0,3}"]


def _random_regex(rng: random.Random, depth: int = 2) -> tuple[str, str]:
    """A random pattern in our syntax and its translation for Python's re."""
    ours, theirs = [], []
    if rng.random() < 0.3:
        ours.append("^")
        theirs.append("^")
    for _ in range(rng.randint(1, 4)):
        if depth > 0 and rng.random() < 0.25:
            branches = [_random_regex(rng, depth - 1) for _ in range(rng.randint(1, 3))]
            group = "(?:" if rng.random() < 0.5 else "("
            atom = (group + "|".join(b[0] for b in branches) + ")",
                    group + "|".join(b[1] for b in branches) + ")")
        else:
            atom = rng.choice(_RE_ATOMS)
        quantifier = rng.choice(_RE_QUANTIFIERS)
        ours.append(atom[0] + quantifier)
        theirs.append(atom[1] + quantifier)
    if rng.random() < 0.3:
        ours.append("$")
        theirs.append("\\Z")
    return "".join(ours), "".join(theirs)


def test_regex_engine_agrees_with_python_re() -> None:
    rng = random.Random(20240515)
    alphabet = "abc1 \n.\u2028"
    checked = 0
    for _ in range(1500):
        ours, theirs = _random_regex(rng)
        if len(ours) > ex.MAX_REGEX_PATTERN_LENGTH:
            continue
        compiled = re.compile(theirs, re.ASCII)
        for _ in range(6):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
            expected = compiled.fullmatch(text) is not None  # JavaRosa: Pattern.matches
            assert ex._regex(text, ours) == expected, (ours, theirs, text)
            checked += 1
    assert checked > 8000


def test_regex_is_linear_on_pathological_patterns() -> None:
    import time

    start = time.perf_counter()
    assert not ex._regex("a" * 1999 + "!", "^(a+)+$")
    assert not ex._regex("a" * 2000, "(a|aa|a?){1,20}b")
    assert time.perf_counter() - start < 10


# ---------------------------------------------------------------------------
# Random expressions: round trip in Python, same outcome in both languages
# ---------------------------------------------------------------------------

_FUZZ_STRINGS = ["", "0", "1", "2.50", "2.5", "-3", "abc", "a b", "b c a", "2024-01-31",
                 "1,5", " 7 ", "\U0001F600", "NaN", "1e3", "true", "10", ".5", "-0", "x y  z"]
_FUZZ_NUMBERS = [0.0, 1.0, 2.0, 2.5, 0.1, 3.0, 10.0, 1e-07, 0.5, 123456.789, 7.0, 1e21]
_FUZZ_FIELDS = ["f0", "f1", "f2", "f3", "f4"]
_BINARY = ["=", "!=", "<", "<=", ">", ">=", "+", "-", "*", "div", "mod"]
# Not fuzzed: results that change on every call, functions whose last bits may differ between
# libm and V8 (the shared cases pin them on exact values), and those that need a context.
_FUZZ_FUNCTIONS = sorted(set(ex._FUNCTIONS) - {
    "random", "uuid", "now", "exp", "exp10", "log", "log10", "pow", "sin", "cos", "tan",
    "asin", "acos", "atan", "atan2", "indexed-repeat", "position", "jr:choice-name"})


def _random_expr(rng: random.Random, depth: int) -> Expr:
    if depth <= 0 or rng.random() < 0.2:
        kind = rng.random()
        if kind < 0.3:
            return NumberLiteral(rng.choice(_FUZZ_NUMBERS))
        if kind < 0.55:
            return StringLiteral(rng.choice(_FUZZ_STRINGS))
        if kind < 0.9:
            return FieldRef("ghost" if rng.random() < 0.01 else rng.choice(_FUZZ_FIELDS))
        return Current()
    kind = rng.random()
    sub = lambda: _random_expr(rng, depth - 1)  # noqa: E731
    if kind < 0.4:
        return Binary(rng.choice(_BINARY), sub(), sub())
    if kind < 0.55:
        return Logical(rng.choice(["and", "or"]), tuple(sub() for _ in range(rng.randint(2, 3))))
    if kind < 0.62:
        return Negate(sub())
    name = rng.choice(_FUZZ_FUNCTIONS)
    if name == "selected":
        return Call(name, (sub(), StringLiteral(rng.choice(["a", "b", "c", "1", " a "]))))
    if name == "regex":
        pattern = _random_regex(rng, 1)[0] if rng.random() < 0.8 else "["
        second = StringLiteral(pattern) if rng.random() < 0.8 else sub()
        return Call(name, (sub(), second))
    low, high = ex._FUNCTIONS[name]
    return Call(name, tuple(sub() for _ in range(rng.randint(low, high if high is not None else low + 3))))


def _random_cases(count: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    cases = []
    while len(cases) < count:
        expr = _random_expr(rng, rng.randint(1, 5))
        text = str(expr)
        try:
            reparsed = parse(text)
        except ExpressionError:
            continue  # e.g. a random regex pattern that is invalid
        assert reparsed == expr, text
        values: dict[str, Any] = {name: rng.choice(_FUZZ_STRINGS) for name in _FUZZ_FIELDS}
        if rng.random() < 0.2:
            values["f0"] = ["a", "b"]
        cases.append({"expr": text, "values": values, "current": rng.choice(_FUZZ_STRINGS),
                      "today": rng.choice(["2024-05-15", "2000-02-29", "1969-12-31"])})
    return cases


def test_random_expressions_agree_across_languages(tmp_path: Path) -> None:
    cases = _random_cases(3000)
    if NODE is None:
        pytest.skip(NO_NODE)
    results = _run_node(_node_payload(cases), tmp_path)["results"]
    for case, js in zip(cases, results):
        tree, outcome, _ = _python_run(case)
        if tree is None:
            assert _same(js["parsed"], outcome), (case, js["parsed"], outcome)
            continue
        assert js["parsed"]["value"] == to_json(tree), case
        assert _same(js["viaText"], outcome), (case, js["viaText"], outcome)
        assert _same(js["viaTree"], outcome), (case, js["viaTree"], outcome)


# ---------------------------------------------------------------------------
# The evaluation context and the parse() kind
# ---------------------------------------------------------------------------

def test_parse_kind_refuses_choices_columns_outside_a_choice_filter() -> None:
    assert parse("state = ${s}", kind="choice_filter") == parse("state = ${s}")
    with pytest.raises(ExpressionError) as info:
        parse("state = ${s}", kind="relevant")
    assert (info.value.message, info.value.position) == (
        "unexpected name 'state' (write ${state} to use a field)", 0)
    with pytest.raises(ValueError, match="unknown expression kind"):
        parse("1", kind="label")
    assert set(ex.EXPRESSION_KINDS) >= {"relevant", "constraint", "calculation", "choice_filter"}


def test_paths_are_references_but_choices_columns_are_not() -> None:
    expr = parse("state = ${s} and current()/../t = ../u and /data/g/v != w")
    assert expr.references() == frozenset({"s", "t", "u", "v"})
    assert to_json(parse("../x")) == ["path", "rel", "..", "x"]
    assert str(parse("current()/./../x")) == "current()/../x"


def test_repeat_context_and_seed() -> None:
    repeats = {"member": [{"age": "3"}, {"age": "40"}]}
    assert evaluate(parse("sum(${age})"), {}, repeats=repeats) == 43.0
    assert evaluate(parse("${age}"), {}, repeats=repeats, position={"member": 2}) == "40"
    with pytest.raises(TypeError):
        evaluate(parse("${age}"), {}, repeats=repeats, position={"member": "2"})
    draw = evaluate(parse("random()"), {}, seed=2024)
    assert draw == evaluate(parse("random()"), {}, seed=2024) and 0 <= draw < 1


def test_evaluator_takes_the_context_and_never_remembers_volatile_results() -> None:
    evaluator = ex.Evaluator(parse("count(${member}) + 0 * random()"))
    repeats = {"member": [{"age": "3"}]}
    assert evaluator({}, repeats=repeats) == 1.0
    uuids = ex.Evaluator(parse("uuid()"))
    assert uuids({}) != uuids({})
    now = ex.Evaluator(parse("now()"))
    assert now({}, now="2024-01-01T00:00:00.000+00:00") == "2024-01-01T00:00:00.000+00:00"


def test_seed_for_is_the_same_in_both_languages() -> None:
    parts = [["a1b2", "draw"], ["", ""], ["interview é😀", "x"], ["only"]]
    expected = [ex.seed_for(*p) for p in parts]
    assert ex.seed_for("a") == 0xE40C292C  # FNV-1a of b"a"
    assert len(set(expected)) == len(expected)
    if NODE is None:
        pytest.skip(NO_NODE)
    script = ("const X = require(process.argv[1]); const parts = JSON.parse(process.argv[2]);"
              "process.stdout.write(JSON.stringify(parts.map(p => X.seedFor.apply(null, p))));")
    completed = subprocess.run([NODE, "-e", script, str(JS_FILE), json.dumps(parts)],
                               capture_output=True, text=True, check=True)
    assert json.loads(completed.stdout) == expected
