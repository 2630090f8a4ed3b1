"""Safe evaluation of a subset of the XLSForm / ODK XPath expression language.

Survey forms imported from XLSForm carry ``relevant`` (skip logic),
``constraint``, ``calculation`` and ``choice_filter`` expressions.  They are
evaluated on the server (this module) and offline in the browser
(``web/static/js/xlsexpr.js``); both implementations must give the same answer
for every input, so the language is specified here and mirrored line by line
in JavaScript.  The shared cases in ``tests/surveys/expression_cases.json``
are run against both (in Python, node and Chromium); where a case's expected
value comes from JavaRosa (ODK Collect's engine) or the ODK XForms
specification, its ``why`` says so.

Expressions are parsed once by a hand-written Pratt parser into an immutable
tree (:class:`Expr`).  Nothing is ever passed to ``eval`` / ``new Function``.
:func:`to_json` turns a tree into plain JSON that the browser evaluates without
re-parsing.

Syntax
------
==========================  =================================================
``${name}``                 value of the field ``name``
``.``                       value of the current field (for constraints)
``..``, ``../name``         the parent group, a sibling field
``/data/group/name``        an absolute path: the field of its last step
``current()``               the question (``current()/../name``: a sibling),
                            in a choice_filter as anywhere else
``name``                    a column of the choices row (choice_filter only)
``12``, ``2.5``, ``.5``     number literals (no sign, no exponent)
``'text'``, ``"text"``      string literals (XPath has no escapes)
``( ... )``                 grouping
``-x``                      unary minus
``* div mod``               multiplication, division, remainder
``+ -``                     addition, subtraction
``< <= > >=``               relational comparison
``= !=``                    equality
``and``                     logical and (short-circuit)
``or``                      logical or (short-circuit)
==========================  =================================================

Precedence is listed from tightest to loosest, as in XPath 1.0; binary
operators are left-associative, so ``a or b and c`` is ``a or (b and c)`` and
``1 < 2 < 3`` is ``(1 < 2) < 3``.  ``/`` is not division in XPath: it only
separates path steps (``6 / 3`` is refused: write ``6 div 3``).  Predicates
(``x[1]``), ``//``, axes, unions and variables are refused.  Form field names
are unique in an XLSForm, so a path names the field of its last step; ``..``
steps only matter to ``position()``.

Functions (names and argument counts are checked when parsing):

* logic: ``true() false() not(x) boolean(x) boolean-from-string(x)
  if(c, a, b) coalesce(a, b) once(x) checklist(min, max, x...)``
* conversion: ``string([x]) number([x]) int(x)``
* select answers: ``selected(list, 'choice') count-selected(list)
  selected-at(list, i) jr:choice-name(choice, '${field}')``
* strings: ``concat(x...) join(separator, x...) string-length([x])
  normalize-space([x]) substr(s, start[, end]) substring-before(s, t)
  substring-after(s, t) contains(s, t) starts-with(s, t) ends-with(s, t)
  translate(s, from, to) regex(s, pattern) uuid([length])``
* numbers: ``round(x[, places]) abs pow sqrt exp exp10 log log10 pi sin cos
  tan asin acos atan atan2 random()``
* repeats: ``count(x) count-non-empty(x) sum(x) min(x...) max(x...)
  position([..]) indexed-repeat(${field}, ${repeat}, index)``
* dates: ``today() now() date(x) date-time(x) decimal-date-time(x)
  decimal-time(x) format-date(x, format) format-date-time(x, format)``

``string-length()``, ``normalize-space()``, ``string()`` and ``number()``
without an argument use the current value.

Value model
-----------
Answers are strings, as in the ODK submission XML: a select_multiple answer
is a space-separated list of choice names and an unanswered field is ``''``.
The ``values`` mapping may also hold ``None`` (unanswered) or a list of
strings (joined with single spaces); ints and floats are accepted and turned
into strings as described below.  Every field an expression references must
be a key of ``values`` (or of a repeat instance in ``repeats``) or evaluation
fails; :func:`check_references` finds such mistakes when a form is imported.

Expressions produce one of three types -- boolean, number (an IEEE double;
``float`` in Python) or string -- converted as in XPath 1.0, with the
adjustments JavaRosa (ODK Collect) makes:

* **boolean(x)**: a string is true when non-empty; a number is true unless it
  is NaN or ``abs(n) <= 1e-12`` (JavaRosa's tolerance).
* **number(x)**: booleans give 1 / 0.  A string is trimmed (code points up to
  U+0020), every ``,`` becomes ``.`` (JavaRosa accepts a decimal comma: note
  that ``'1,000'`` is therefore 1), and it must then match
  ``-?(digits[.digits?] | .digits)``, so ``'2.50'`` is 2.5 and ``' 7 '`` is 7.
  Anything else, including ``''``, ``'1e3'``, ``'+1'`` and ``'Infinity'``, is
  NaN -- *except* a string of the exact form ``YYYY-MM-DD`` holding a valid
  date, which gives the number of days since 1970-01-01.  That extension
  stands in for ODK's typed date answers, so ``. <= today()`` and
  ``int((today() - ${dob}) div 365.25)`` work as they do in ODK.
* **string(x)**: ``'true'`` / ``'false'``; numbers as ``NaN``, ``Infinity``,
  ``-Infinity``, or plain decimal notation without exponent and with the
  shortest digits that round-trip (``2.5``, ``3``, ``0.30000000000000004``,
  ``-0`` prints as ``0``).

Comparisons follow JavaRosa:

* ``=`` and ``!=``: if either side is a boolean both are compared as
  booleans; otherwise if either side is a number (a number literal,
  arithmetic, ``number()``, ``count-selected()`` ...) both are compared as
  numbers, equal when ``a == b`` or ``abs(a - b) < 1e-12``; otherwise both are
  compared as strings.  So ``${x} = ''`` tests for an unanswered field,
  ``${x} = 2.5`` is true for ``'2.50'``, ``${x} = 5`` is false for ``''`` (NaN)
  and ``${x} != 5`` is true for ``''``.  Field against field (``${a} = ${b}``)
  compares strings: ``'2.50'`` differs from ``'2.5'`` (ODK would know the
  field types and compare numbers; this untyped model cannot).
* ``<``, ``<=``, ``>``, ``>=`` always convert both sides to numbers (XPath
  1.0), so any NaN -- an empty answer, ``'abc'`` -- makes them false.  Dates
  in ``YYYY-MM-DD`` form compare as dates through the rule above.

Arithmetic converts both operands to numbers and follows IEEE 754: ``x div
0`` is +/-Infinity, ``0 div 0`` is NaN, ``mod`` keeps the sign of the dividend
(like ``%`` in JavaScript and Java), and NaN propagates.

Functions in detail (JavaRosa's ``XPathFuncExpr`` unless said otherwise):

* ``selected(list, choice)``: ``choice`` is trimmed and looked up among the
  whitespace-separated (space, tab, CR, LF) tokens of ``list``; an empty choice
  is never selected.  A number literal as second argument is refused when
  parsing (ODK fails on it too): write ``'1'``.  ``count-selected(list)``: the
  number of tokens (0 for ``''``); ``selected-at(list, i)``: the token at the
  0-based ``i`` (truncated; NaN is 0), ``''`` outside the list.
* ``jr:choice-name(choice, '${field}')``: the label of ``choice`` in the list
  of ``field`` (the ``choices`` argument of :func:`evaluate`, in the language
  the caller picked); ``''`` for a choice not in the list.
* ``string-length(x)``, ``substr``, ``translate``: count Unicode code points
  (ODK counts UTF-16 units; the two differ only for characters outside the
  BMP such as emoji).  ``substr(s, start, end)`` takes 0-based indexes (not a
  length), negative ones counting from the end.  ``normalize-space(x)``
  trims code points up to U+0020 and turns runs of ASCII white space into one
  space.  ``translate`` drops characters that have no counterpart.
* ``coalesce(a, b)``: ``a`` unless it is ``''`` or NaN, else ``b``.
  ``once(x)``: the current value (``current`` of :func:`evaluate`: a
  calculation's previous value) unless it is ``''``, else ``x``.
* ``boolean-from-string(x)``: true for ``'true'`` (any case) and ``'1'``.
* ``int(x)``: truncates towards zero; NaN and infinities are kept.
* ``round(x)``: nearest integer, halves towards +Infinity (XPath:
  ``round(2.5) = 3``, ``round(-2.5) = -2``; so does JavaRosa, whose BigDecimal
  rounding is HALF_UP for positive and HALF_DOWN for negative numbers).
  ``round(x, places)`` rounds the shortest decimal representation of ``x`` the
  same way at ``places`` decimals (negative places round to tens, hundreds
  ...), so ``round(2.675, 2)`` is 2.68 as it is in ODK; ``places`` is
  truncated, NaN places count as 0, and more than 30 (or less than -30) gives
  NaN.
* ``pow``, ``sqrt``, ``exp``, ``log`` ...: IEEE results as ``Math`` gives them
  in Java and JavaScript (``log(0)`` is -Infinity, ``sqrt(-1)`` NaN,
  ``pow(1, NaN)`` NaN).  ``exp10(x)`` is ``pow(10, x)``.
* ``random()``: uniform in [0, 1).  With the ``seed`` argument of
  :func:`evaluate` it is mulberry32 started from the seed at every
  evaluation, the same in both languages, so a seeded calculation gives the
  same number each time, as ``once(random())`` does.  ``uuid()`` is a random
  version 4 UUID, ``uuid(n)`` ``n`` random letters and digits (n <= 1000).
* node-sets: a repeat (``${repeat}``), or a field inside one read from outside
  it, is a node-set: ``count``, ``count-non-empty``, ``sum`` (NaN answers
  skipped), ``min``, ``max`` (NaN skipped, NaN if nothing is left), ``concat``
  and ``join`` take its answers; any other value is one node.  Used as a
  single value, an empty node-set is ``''``, one node its answer, and more
  nodes an error (JavaRosa: "This field is repeated").  Inside a repeat
  (``position`` names it), its fields read the current instance.
* ``indexed-repeat(${field}, ${repeat}, i)``: the answer of ``field`` in the
  ``i``-th instance (truncated; below 1 counts as 1; ``''`` past the end).
  The 5- to 11-argument forms pick instances of nested repeats too
  (``indexed-repeat(${age}, ${household}, 2, ${child}, 1)``); repeats left
  out keep the context's instance.  ``position(..)``: the innermost repeat instance's 1-based index
  (``position(../..)`` the next one out; 1 outside repeats);
  ``position(${repeat})`` that repeat's.
* dates: a date is the text ``YYYY-MM-DD``, a date-time
  ``YYYY-MM-DDTHH:MM[:SS[.sss]][Z|+HH:MM]`` (ODK's submission format).  As
  numbers both are whole days since 1970-01-01 (JavaRosa's
  ``toNumeric(Date)``), so ``now() >= today()`` and ``today() - ${dob}``
  work.  ``date(x)``: days (truncated) or a date(-time) text to
  ``YYYY-MM-DD``; ``date-time(x)`` keeps the time (numbers in UTC);
  ``decimal-date-time(x)``: fractional days since the epoch (UTC, using the
  offset when the text has one); ``decimal-time(x)``: the fraction of the day
  as written.  ``''`` stays ``''``, NaN stays NaN, other texts and years
  outside 1..9999 are errors.  ``format-date(x, format)`` and
  ``format-date-time`` print the wall-clock time as written with ``%Y`` (4
  digits) ``%y`` ``%m`` ``%n`` (month, unpadded) ``%b`` (Jan ...) ``%d``
  ``%e`` (day, unpadded) ``%H`` ``%h`` (hour, unpadded) ``%M`` ``%S`` ``%3``
  (milliseconds) ``%a`` (Sun ...) ``%%``; other ``%`` tokens are errors.
  ``today()``: the ``today`` argument (default the local date; the phone's in
  the browser); ``now()``: the ``now`` argument (default the local time).
* ``regex(x, pattern)``: true when ``pattern`` matches the *whole* of
  ``string(x)`` (JavaRosa calls ``Pattern.matches``; XML Schema patterns are
  implicitly anchored, so ``regex('abc123', '[0-9]+')`` is false; ``^`` and
  ``$`` are accepted and change nothing).  Patterns are run by a small
  built-in engine with linear-time matching (no backtracking, so no
  catastrophic patterns), identical in both languages.  Supported: literals,
  ``.`` (any code point but line terminators), ``[...]`` / ``[^...]`` classes
  with ranges, ``\\d \\w \\s \\D \\W \\S`` (ASCII meanings), XML Schema's ``\\i
  \\c \\I \\C`` (XML name start / name characters), ``\\t \\n \\r \\f \\v
  \\uXXXX`` and escaped punctuation, groups ``(...)`` and ``(?:...)``, ``|``,
  quantifiers ``* + ? {n} {n,} {n,m}`` (``n, m <= 100``; a trailing lazy ``?``
  is accepted and means nothing for a yes/no match).  Everything else
  (backreferences, lookaround, ``\\b``, flags, possessive quantifiers, nested
  classes) is a syntax error.  Limits: patterns of at most 200 code points
  that compile to at most 1000 steps, input strings of at most 2000 code
  points; exceeding them is an error.  Literal patterns are compiled, and
  their errors reported, when parsing.

Errors
------
Everything that can go wrong with an expression raises
:class:`ExpressionError` (a ``ValueError``) with a ``message`` and a 0-based
``position`` in code points (``None`` when there is none): syntax errors,
unknown functions, wrong argument counts and invalid literal regex patterns
when parsing; unknown fields, invalid non-literal regex patterns, over-long
regex input, texts that are not dates, unknown ``format-date`` tokens, a
repeated field used as one value and a choices column read outside a
choice_filter when evaluating.  Form import (``surveys/xlsform.py``) calls
:func:`parse` on every expression cell and reports the message with the
sheet, row and column.  Evaluation errors carry no position
because trees sent to the browser do not keep source positions; use
:func:`check_references` to locate unknown fields in the source.  Values of
an unsupported type raise ``TypeError``.  Expressions are limited to 10000
characters and nesting (parentheses, operators, calls) to depth 100.
"""

from __future__ import annotations

import datetime
import functools
import math
import random as _random_module
import re
import secrets
import uuid as _uuid_module
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

__all__ = [
    "EXPRESSION_KINDS",
    "MAX_DEPTH",
    "MAX_EXPRESSION_LENGTH",
    "MAX_REGEX_INPUT_LENGTH",
    "MAX_REGEX_PATTERN_LENGTH",
    "Binary",
    "Call",
    "Current",
    "Evaluator",
    "Expr",
    "ExpressionError",
    "FieldRef",
    "Logical",
    "Negate",
    "NumberLiteral",
    "Path",
    "StringLiteral",
    "check_references",
    "evaluate",
    "from_json",
    "parse",
    "seed_for",
    "to_json",
    "truthy",
]

MAX_EXPRESSION_LENGTH = 10_000
"""Longest accepted expression, in code points."""

MAX_DEPTH = 100
"""Deepest accepted nesting of parentheses, operators and calls."""

MAX_REGEX_PATTERN_LENGTH = 200
"""Longest accepted ``regex()`` pattern, in code points."""

MAX_REGEX_INPUT_LENGTH = 2_000
"""Longest string ``regex()`` will test, in code points."""

_MAX_REGEX_PROGRAM = 1_000
_MAX_REGEX_REPEAT = 100
_EQ_TOLERANCE = 1e-12

Value = Union[bool, float, str]
"""What an expression evaluates to."""


class ExpressionError(ValueError):
    """An expression is invalid or cannot be evaluated.

    Parameters
    ----------
    message : str
        What is wrong, without the position (``"unexpected ')'"``).
    position : int or None
        0-based index, in code points, into the expression text.

    Notes
    -----
    ``str(error)`` appends the position: ``"unexpected ')' at position 12"``.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        self.message = message
        self.position = position
        super().__init__(message, position)

    def __str__(self) -> str:
        if self.position is None:
            return self.message
        return f"{self.message} at position {self.position}"


# ---------------------------------------------------------------------------
# Expression tree
# ---------------------------------------------------------------------------

_BINARY_OPS = ("=", "!=", "<", "<=", ">", ">=", "+", "-", "*", "div", "mod")
_PRECEDENCE = {
    "or": 1, "and": 2,
    "=": 3, "!=": 3,
    "<": 4, "<=": 4, ">": 4, ">=": 4,
    "+": 5, "-": 5,
    "*": 6, "div": 6, "mod": 6,
}
_UNARY_PRECEDENCE = 7
_PRIMARY_PRECEDENCE = 8

# name -> (minimum, maximum or None for any number) of arguments
_FUNCTIONS = {
    # logic and conversion
    "true": (0, 0), "false": (0, 0), "not": (1, 1), "boolean": (1, 1),
    "boolean-from-string": (1, 1), "string": (0, 1), "number": (0, 1),
    "if": (3, 3), "coalesce": (2, 2), "once": (1, 1), "checklist": (2, None),
    # select answers
    "selected": (2, 2), "count-selected": (1, 1), "selected-at": (2, 2),
    "jr:choice-name": (2, 2),
    # strings
    "string-length": (0, 1), "normalize-space": (0, 1), "concat": (1, None),
    "join": (1, None), "substr": (2, 3), "substring-before": (2, 2),
    "substring-after": (2, 2), "contains": (2, 2), "starts-with": (2, 2),
    "ends-with": (2, 2), "translate": (3, 3), "regex": (2, 2), "uuid": (0, 1),
    # numbers
    "int": (1, 1), "round": (1, 2), "abs": (1, 1), "pow": (2, 2), "sqrt": (1, 1),
    "exp": (1, 1), "exp10": (1, 1), "log": (1, 1), "log10": (1, 1), "pi": (0, 0),
    "sin": (1, 1), "cos": (1, 1), "tan": (1, 1), "asin": (1, 1), "acos": (1, 1),
    "atan": (1, 1), "atan2": (2, 2), "random": (0, 0),
    # node-sets and repeats
    "count": (1, 1), "count-non-empty": (1, 1), "sum": (1, 1), "min": (1, None),
    "max": (1, None), "position": (0, 1), "indexed-repeat": (3, 11),
    # dates and times
    "today": (0, 0), "now": (0, 0), "date": (1, 1), "date-time": (1, 1),
    "decimal-date-time": (1, 1), "decimal-time": (1, 1), "format-date": (2, 2),
    "format-date-time": (2, 2),
}

# Functions whose arguments may be node-sets (a repeat's answers), left unpacked.
_NODESET_FUNCTIONS = frozenset(
    ("count", "count-non-empty", "sum", "min", "max", "concat", "join", "position"))

# Functions that give a different result each time they are called.
_VOLATILE_FUNCTIONS = frozenset(("random", "uuid", "now"))


@dataclass(frozen=True)
class Expr:
    """Base class of expression tree nodes (immutable and hashable).

    ``pos`` is the node's position in the source text (``None`` for trees
    built by :func:`from_json`); it is ignored by ``==``.  ``str(expr)`` gives
    canonical source text that parses back to an equal tree.
    """

    def children(self) -> tuple[Expr, ...]:
        """Return the direct sub-expressions, in source order."""
        return ()

    def references(self) -> frozenset[str]:
        """Return the names of all fields referenced with ``${...}`` or a path (``../name``)."""
        return frozenset(_iter_references(self))

    def to_json(self) -> Any:
        """Return the JSON form of the tree (see :func:`to_json`)."""
        raise NotImplementedError

    def _precedence(self) -> int:
        return _PRIMARY_PRECEDENCE

    def _eval(self, ctx: _Context) -> Value:
        raise NotImplementedError


@dataclass(frozen=True)
class NumberLiteral(Expr):
    """A number literal such as ``2.5`` (never negative)."""

    value: float
    pos: int | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> Any:
        return ["num", _json_number(self.value)]

    def __str__(self) -> str:
        return _number_to_string(self.value)

    def _eval(self, ctx: _Context) -> Value:
        return self.value


@dataclass(frozen=True)
class StringLiteral(Expr):
    """A string literal such as ``'yes'``."""

    value: str
    pos: int | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> Any:
        return ["str", self.value]

    def __str__(self) -> str:
        quote = '"' if "'" in self.value else "'"
        return f"{quote}{self.value}{quote}"

    def _eval(self, ctx: _Context) -> Value:
        return self.value


@dataclass(frozen=True)
class FieldRef(Expr):
    """A reference ``${name}`` to the value of another field."""

    name: str
    pos: int | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> Any:
        return ["ref", self.name]

    def __str__(self) -> str:
        return "${" + self.name + "}"

    def _eval(self, ctx: _Context) -> Value:
        return ctx.field(self.name)


@dataclass(frozen=True)
class Current(Expr):
    """``.``: the value of the field the expression belongs to."""

    pos: int | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> Any:
        return ["cur"]

    def __str__(self) -> str:
        return "."

    def _eval(self, ctx: _Context) -> Value:
        return ctx.current


@dataclass(frozen=True)
class Path(Expr):
    """A location path: ``..``, ``../name``, ``/data/group/name``, ``current()/../name`` or a
    bare ``name`` (a column of the choices sheet, in a ``choice_filter``).

    ``origin`` is ``"rel"`` (relative to the current node), ``"abs"`` (from the root) or
    ``"current"`` (from ``current()``); ``steps`` holds ``".."`` and names (``.`` steps are
    dropped when parsing).
    """

    origin: str
    steps: tuple[str, ...]
    pos: int | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> Any:
        return ["path", self.origin, *self.steps]

    def __str__(self) -> str:
        if self.origin == "abs":
            return "/" + "/".join(self.steps)
        if self.origin == "current":
            return "current()" + "".join("/" + step for step in self.steps)
        return "/".join(self.steps)

    @property
    def field_name(self) -> str | None:
        """The form field the path names, or None (a parent, or a choices column)."""
        if not self.steps or self.steps[-1] == "..":
            return None
        if self.origin == "rel" and ".." not in self.steps:
            return None
        return self.steps[-1]

    @property
    def column(self) -> str | None:
        """The choices column a bare relative name reads in a choice_filter, or None."""
        if self.origin == "rel" and self.steps and ".." not in self.steps:
            return self.steps[-1]
        return None

    def _eval(self, ctx: _Context) -> Value:
        name = self.field_name
        if name is not None:
            return ctx.field(name)
        column = self.column
        if column is not None:
            if ctx.choice is None:
                raise ExpressionError(
                    f"'{self}' names a column of the choices sheet, usable only in a "
                    f"choice_filter (write ${{{column}}} to use a field)")
            return _field_value(column, ctx.choice.get(column))
        if self.origin == "current" and not self.steps:
            return ctx.current
        return ""  # a parent group: its text is of no use in a form


@dataclass(frozen=True)
class Negate(Expr):
    """Unary minus."""

    operand: Expr
    pos: int | None = field(default=None, compare=False, repr=False)

    def children(self) -> tuple[Expr, ...]:
        return (self.operand,)

    def to_json(self) -> Any:
        return ["neg", self.operand.to_json()]

    def __str__(self) -> str:
        return "-" + _wrap(self.operand, self.operand._precedence() < _UNARY_PRECEDENCE)

    def _precedence(self) -> int:
        return _UNARY_PRECEDENCE

    def _eval(self, ctx: _Context) -> Value:
        return -_to_number(_unpack(self.operand._eval(ctx)))


@dataclass(frozen=True)
class Logical(Expr):
    """``and`` / ``or`` over two or more operands, short-circuiting."""

    op: str
    operands: tuple[Expr, ...]
    pos: int | None = field(default=None, compare=False, repr=False)

    def children(self) -> tuple[Expr, ...]:
        return self.operands

    def to_json(self) -> Any:
        return [self.op, *(operand.to_json() for operand in self.operands)]

    def __str__(self) -> str:
        own = self._precedence()
        return f" {self.op} ".join(
            _wrap(operand, operand._precedence() <= own) for operand in self.operands
        )

    def _precedence(self) -> int:
        return _PRECEDENCE[self.op]

    def _eval(self, ctx: _Context) -> Value:
        stop = self.op == "or"
        for operand in self.operands:
            if _truth(operand._eval(ctx)) == stop:
                return stop
        return not stop


@dataclass(frozen=True)
class Binary(Expr):
    """A comparison or arithmetic operator."""

    op: str
    left: Expr
    right: Expr
    pos: int | None = field(default=None, compare=False, repr=False)

    def children(self) -> tuple[Expr, ...]:
        return (self.left, self.right)

    def to_json(self) -> Any:
        return [self.op, self.left.to_json(), self.right.to_json()]

    def __str__(self) -> str:
        own = self._precedence()
        left = _wrap(self.left, self.left._precedence() < own)
        right = _wrap(self.right, self.right._precedence() <= own)
        return f"{left} {self.op} {right}"

    def _precedence(self) -> int:
        return _PRECEDENCE[self.op]

    def _eval(self, ctx: _Context) -> Value:
        return _binary(self.op, self.left._eval(ctx), self.right._eval(ctx))


@dataclass(frozen=True)
class Call(Expr):
    """A call of one of the supported functions."""

    name: str
    args: tuple[Expr, ...]
    pos: int | None = field(default=None, compare=False, repr=False)

    def children(self) -> tuple[Expr, ...]:
        return self.args

    def to_json(self) -> Any:
        return ["call", self.name, *(arg.to_json() for arg in self.args)]

    def __str__(self) -> str:
        return f"{self.name}({', '.join(str(arg) for arg in self.args)})"

    def _eval(self, ctx: _Context) -> Value:
        return _call(self.name, self.args, ctx)


def _wrap(expr: Expr, parenthesise: bool) -> str:
    return f"({expr})" if parenthesise else str(expr)


def _iter_references(expr: Expr) -> Iterator[str]:
    """Yield referenced field names in source order (with repeats)."""
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, FieldRef):
            yield node.name
        elif isinstance(node, Path) and node.field_name is not None:
            yield node.field_name
        stack.extend(reversed(node.children()))


def _iter_nodes(expr: Expr) -> Iterator[Expr]:
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children()))


# ---------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Token:
    kind: str   # num str ref cur name op ( ) , eof
    value: Any
    pos: int
    text: str


_WHITESPACE = " \t\r\n"
_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS = _NAME_START | frozenset("0123456789.-")
_DIGITS = frozenset("0123456789")


def _is_field_name_char(ch: str, first: bool) -> bool:
    if ord(ch) >= 0x80:
        return True
    return ch in (_NAME_START if first else _NAME_CHARS)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    n = len(text)
    i = 0
    while i < n:
        ch = text[i]
        start = i
        if ch in _WHITESPACE:
            i += 1
            continue
        if ch == "$":
            i = _scan_field_ref(text, i)
            tokens.append(_Token("ref", text[start + 2:i - 1], start, text[start:i]))
        elif ch in _DIGITS or (ch == "." and i + 1 < n and text[i + 1] in _DIGITS):
            while i < n and text[i] in _DIGITS:
                i += 1
            if i < n and text[i] == ".":
                i += 1
                while i < n and text[i] in _DIGITS:
                    i += 1
            value = float(text[start:i])
            if math.isinf(value):
                raise ExpressionError("number is too large", start)
            tokens.append(_Token("num", value, start, text[start:i]))
        elif ch == ".":
            if i + 1 < n and text[i + 1] == ".":
                i += 2
                tokens.append(_Token("..", "..", start, ".."))
            else:
                i += 1
                tokens.append(_Token("cur", None, start, "."))
        elif ch in "'\"":
            end = text.find(ch, i + 1)
            if end < 0:
                raise ExpressionError("unterminated string", start)
            i = end + 1
            tokens.append(_Token("str", text[start + 1:end], start, text[start:i]))
        elif ch in _NAME_START:
            i = _scan_name(text, i)
            if i < n and text[i] == ":" and i + 1 < n and text[i + 1] in _NAME_START:
                i = _scan_name(text, i + 1)
            tokens.append(_Token("name", text[start:i], start, text[start:i]))
        elif text.startswith(("!=", "<=", ">="), i):
            i += 2
            tokens.append(_Token("op", text[start:i], start, text[start:i]))
        elif ch in "=<>+-*":
            i += 1
            tokens.append(_Token("op", ch, start, ch))
        elif ch in "(),":
            i += 1
            tokens.append(_Token(ch, ch, start, ch))
        elif ch == "/":
            if i + 1 < n and text[i + 1] == "/":
                raise ExpressionError("'//' paths are not supported", start)
            i += 1
            tokens.append(_Token("/", "/", start, "/"))
        elif ch == "[":
            raise ExpressionError("predicates '[...]' are not supported", start)
        else:
            raise ExpressionError(f"unexpected character {_quote(ch)}", start)
    tokens.append(_Token("eof", None, n, ""))
    return tokens


def _scan_name(text: str, i: int) -> int:
    i += 1
    while i < len(text) and text[i] in _NAME_CHARS:
        i += 1
    return i


def _scan_field_ref(text: str, start: int) -> int:
    """Return the index just past the ``${name}`` starting at ``start``."""
    n = len(text)
    if start + 1 >= n or text[start + 1] != "{":
        raise ExpressionError("expected '{' after '$'", start)
    i = start + 2
    while i < n and text[i] != "}":
        if not _is_field_name_char(text[i], i == start + 2):
            raise ExpressionError(
                f"invalid character {_quote(text[i])} in field reference", i)
        i += 1
    if i >= n:
        raise ExpressionError("unterminated field reference", start)
    if i == start + 2:
        raise ExpressionError("empty field reference", start)
    return i + 1


def _quote(text: str) -> str:
    return '"' + text + '"' if text == "'" else "'" + text + "'"


def _describe(token: _Token) -> str:
    if token.kind == "eof":
        return "end of expression"
    text = token.text if len(token.text) <= 30 else token.text[:27] + "..."
    if token.kind == "num":
        return f"number {text}"
    if token.kind == "str":
        return f"string {text}"
    if token.kind == "ref":
        return f"field reference {text}"
    if token.kind == "name":
        return f"name '{text}'"
    return _quote(text)


# ---------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------

class _Parser:
    """Pratt parser over the token list; see the module docstring."""

    def __init__(self, text: str, *, columns: bool = True) -> None:
        self.tokens = _tokenize(text)
        self.index = 0
        self.nesting = 0
        self.columns = columns  # may a bare name read a choices column?

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self) -> Expr:
        expr, _ = self.expression(0)
        token = self.peek()
        if token.kind != "eof":
            raise ExpressionError(f"unexpected {_describe(token)}", token.pos)
        return expr

    def expression(self, min_precedence: int) -> tuple[Expr, int]:
        """Parse operators binding tighter than ``min_precedence``.

        Returns the tree and its depth.
        """
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise ExpressionError("expression is nested too deeply", self.peek().pos)
        left, depth = self.prefix()
        chain: Logical | None = None
        while True:
            token = self.peek()
            op = _infix_operator(token)
            if token.kind == "/":
                raise ExpressionError("unexpected '/' (use 'div' to divide)", token.pos)
            if op is None or _PRECEDENCE[op] <= min_precedence:
                break
            self.advance()
            right, right_depth = self.expression(_PRECEDENCE[op])
            if op in ("and", "or"):
                if chain is not None and chain.op == op:
                    chain = Logical(op, chain.operands + (right,), chain.pos)
                    depth = max(depth, right_depth + 1)
                else:
                    chain = Logical(op, (left, right), token.pos)
                    depth = max(depth, right_depth) + 1
                left = chain
            else:
                chain = None
                left = Binary(op, left, right, token.pos)
                depth = max(depth, right_depth) + 1
            _check_depth(depth, token.pos)
        self.nesting -= 1
        return left, depth

    def prefix(self) -> tuple[Expr, int]:
        token = self.advance()
        kind = token.kind
        if kind == "num":
            return NumberLiteral(token.value, token.pos), 1
        if kind == "str":
            return StringLiteral(token.value, token.pos), 1
        if kind == "ref":
            return FieldRef(token.value, token.pos), 1
        if kind == "cur":
            if self.peek().kind == "/":
                return self.relative(Path("rel", self.steps([]), token.pos)), 1
            return Current(token.pos), 1
        if kind == "..":
            return Path("rel", self.steps([".."]), token.pos), 1
        if kind == "/":
            following = self.peek()
            if following.kind != "name" or self.tokens[self.index + 1].kind == "(":
                raise ExpressionError(
                    "unexpected '/' (write a path like /data/name; use 'div' to divide)",
                    token.pos)
            self.advance()
            return Path("abs", self.steps([following.text]), token.pos), 1
        if kind == "op" and token.value == "-":
            operand, depth = self.expression(_UNARY_PRECEDENCE - 1)
            _check_depth(depth + 1, token.pos)
            return Negate(operand, token.pos), depth + 1
        if kind == "(":
            inner, depth = self.expression(0)
            self.expect(")")
            return inner, depth
        if kind == "name" and self.peek().kind == "(":
            if token.text == "current":
                self.advance()
                self.expect(")")
                return Path("current", self.steps([]), token.pos), 1
            return self.call(token)
        if kind == "name" and _infix_operator(token) is None:
            return self.relative(Path("rel", self.steps([token.text]), token.pos)), 1
        raise ExpressionError(f"unexpected {_describe(token)}", token.pos)

    def relative(self, path: Path) -> Path:
        """Refuse a choices column outside a choice_filter (when the kind is known)."""
        column = path.column
        if column is not None and not self.columns:
            raise ExpressionError(
                f"unexpected name '{column}' (write ${{{column}}} to use a field)", path.pos)
        return path

    def steps(self, steps: list[str]) -> tuple[str, ...]:
        """Read ``/step`` after the start of a path; ``.`` steps are dropped."""
        while self.peek().kind == "/":
            self.advance()
            token = self.advance()
            if token.kind == "name" and self.peek().kind != "(":
                steps.append(token.text)
            elif token.kind == "..":
                steps.append("..")
            elif token.kind != "cur":
                raise ExpressionError(f"unexpected {_describe(token)} in a path", token.pos)
        return tuple(steps)

    def call(self, name_token: _Token) -> tuple[Expr, int]:
        name = name_token.text
        if name not in _FUNCTIONS:
            raise ExpressionError(f"unknown function '{name}()'", name_token.pos)
        self.advance()  # "("
        args: list[Expr] = []
        depth = 0
        if self.peek().kind != ")":
            while True:
                arg, arg_depth = self.expression(0)
                args.append(arg)
                depth = max(depth, arg_depth)
                if self.peek().kind != ",":
                    break
                self.advance()
        self.expect(")")
        _check_call(name, args, name_token.pos)
        depth += 1
        _check_depth(depth, name_token.pos)
        return Call(name, tuple(args), name_token.pos), depth

    def expect(self, kind: str) -> None:
        token = self.peek()
        if token.kind != kind:
            raise ExpressionError(
                f"expected {_quote(kind)} but found {_describe(token)}", token.pos)
        self.advance()


def _check_depth(depth: int, pos: int) -> None:
    if depth > MAX_DEPTH:
        raise ExpressionError("expression is nested too deeply", pos)


def _infix_operator(token: _Token) -> str | None:
    if token.kind == "op":
        return token.value
    if token.kind == "name" and token.text in ("and", "or", "div", "mod"):
        return token.text
    return None


def _check_call(name: str, args: Sequence[Expr], pos: int | None) -> None:
    """Check argument count and literal arguments of a call to ``name``."""
    low, high = _FUNCTIONS[name]
    if name == "indexed-repeat":
        if len(args) not in (3, 5, 7, 9, 11):
            raise ExpressionError(
                f"indexed-repeat() takes 3, 5, 7, 9 or 11 arguments, got {len(args)}", pos)
        for index in (0, *range(1, len(args), 2)):  # the field, then each repeat
            if _named_field(args[index]) is None:
                raise ExpressionError(
                    f"argument {index + 1} of indexed-repeat() must be a field like ${{name}}",
                    pos)
    elif len(args) < low or (high is not None and len(args) > high):
        if high is None:
            wanted = f"at least {low} argument" + ("" if low == 1 else "s")
        elif low == high:
            wanted = f"{low} argument" + ("" if low == 1 else "s")
        else:
            wanted = f"{low} or {high} arguments"
        raise ExpressionError(f"{name}() takes {wanted}, got {len(args)}", pos)
    if name == "position" and args and not isinstance(args[0], (FieldRef, Path)):
        raise ExpressionError("the argument of position() must be a path like ..", pos)
    arg_pos = args[1].pos if len(args) > 1 else None
    if name == "selected" and isinstance(args[1], NumberLiteral):
        raise ExpressionError(
            "the choice in selected() must be quoted, like '1'", arg_pos)
    if name in ("format-date", "format-date-time") and isinstance(args[1], StringLiteral):
        bad = _bad_date_format(args[1].value)
        if bad is not None:
            index, token = bad
            where = None if arg_pos is None else arg_pos + 1 + index
            raise ExpressionError(f"unknown date format '%{token}'", where)
    if name == "regex" and isinstance(args[1], StringLiteral):
        try:
            _compile_regex(args[1].value)
        except _RegexError as error:
            where = arg_pos
            if where is not None and error.index is not None:
                where += 1 + error.index
            raise ExpressionError(f"invalid regex: {error.message}", where) from None


def _named_field(expr: Expr) -> str | None:
    if isinstance(expr, FieldRef):
        return expr.name
    if isinstance(expr, Path):
        return expr.field_name
    return None


EXPRESSION_KINDS = ("relevant", "constraint", "calculation", "required", "default",
                    "repeat_count", "choice_filter")
"""The XLSForm columns that hold expressions (the ``kind`` of :func:`parse`)."""


def parse(text: str, *, kind: str | None = None) -> Expr:
    """Parse an XLSForm expression into an immutable tree.

    Parameters
    ----------
    text : str
        The expression, e.g. ``"${age} >= 18 and selected(${consent}, 'yes')"``.
    kind : str, optional
        The column the expression comes from (one of :data:`EXPRESSION_KINDS`).
        Bare names (``state``) read a column of the choices row, so they are
        accepted only in a ``choice_filter``; with the kind given, elsewhere
        they are refused here, with their position, instead of when
        evaluating.  Without it, anything any column accepts parses.

    Returns
    -------
    Expr

    Raises
    ------
    ExpressionError
        On syntax errors, unknown functions, wrong argument counts and invalid
        literal regex patterns, with the position of the problem.
    """
    if not isinstance(text, str):
        raise TypeError(f"expression must be a str, not {type(text).__name__}")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"expression is too long ({len(text)} characters, "
            f"maximum {MAX_EXPRESSION_LENGTH})")
    if kind is not None and kind not in EXPRESSION_KINDS:
        raise ValueError(f"unknown expression kind {kind!r}; expected one of {EXPRESSION_KINDS}")
    return _Parser(text, columns=kind in (None, "choice_filter")).parse()


def check_references(expr: Expr, known: set[str] | frozenset[str]) -> None:
    """Raise if ``expr`` references a field that is not in ``known``.

    Raises
    ------
    ExpressionError
        Naming the first unknown field, in source order, with its position.
    """
    for node in _iter_nodes(expr):
        if isinstance(node, FieldRef) and node.name not in known:
            raise ExpressionError(f"unknown field ${{{node.name}}}", node.pos)


# ---------------------------------------------------------------------------
# JSON form
# ---------------------------------------------------------------------------

def to_json(expr: Expr) -> Any:
    """Return a JSON-serialisable form of the tree, for the browser.

    Every node is a list whose first item is a tag::

        ["num", 2.5]   ["str", "yes"]   ["ref", "age"]   ["cur"]
        ["neg", x]     ["or", x, y, ...]   ["and", x, y, ...]
        [op, left, right]      op in = != < <= > >= + - * div mod
        ["call", name, arg, ...]

    ``XLSExpr.evaluate`` in ``xlsexpr.js`` evaluates this directly, and
    ``XLSExpr.parse`` produces exactly the same structure.  Positions are not
    included.
    """
    return expr.to_json()


def _json_number(value: float) -> int | float:
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def from_json(data: Any) -> Expr:
    """Rebuild (and validate) a tree from the output of :func:`to_json`.

    Raises
    ------
    ExpressionError
        If ``data`` is not a valid tree (message only, no position).
    """
    return _from_json(data, 0)


def _from_json(data: Any, depth: int) -> Expr:
    if depth >= MAX_DEPTH:
        raise ExpressionError("expression is nested too deeply")
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        raise ExpressionError("invalid expression tree node")
    tag, rest = data[0], data[1:]

    def sub(items: Sequence[Any]) -> tuple[Expr, ...]:
        return tuple(_from_json(item, depth + 1) for item in items)

    if tag == "num" and len(rest) == 1 and _is_number(rest[0]):
        value = float(rest[0]) if abs(rest[0]) < 1e308 else math.inf
        if math.isfinite(value) and value >= 0:
            return NumberLiteral(value)
    if tag == "str" and len(rest) == 1 and isinstance(rest[0], str) \
            and not ("'" in rest[0] and '"' in rest[0]):
        return StringLiteral(rest[0])
    if tag == "ref" and len(rest) == 1 and isinstance(rest[0], str) and rest[0] \
            and all(_is_field_name_char(ch, k == 0) for k, ch in enumerate(rest[0])):
        return FieldRef(rest[0])
    if tag == "cur" and not rest:
        return Current()
    if tag == "path" and rest and rest[0] in ("rel", "abs", "current") \
            and all(isinstance(step, str) and (step == ".." or _STEP_RE.fullmatch(step))
                    for step in rest[1:]):
        origin, steps = rest[0], tuple(rest[1:])
        first_ok = {
            "rel": bool(steps) and steps[0] not in ("and", "or", "div", "mod"),
            "abs": bool(steps) and steps[0] != "..",
            "current": True,
        }[origin]
        if first_ok:
            return Path(origin, steps)
    if tag == "neg" and len(rest) == 1:
        return Negate(*sub(rest))
    if tag in ("and", "or") and len(rest) >= 2:
        return Logical(tag, sub(rest))
    if tag in _BINARY_OPS and len(rest) == 2:
        return Binary(tag, *sub(rest))
    if tag == "call" and rest and rest[0] in _FUNCTIONS:
        args = sub(rest[1:])
        _check_call(rest[0], args, None)
        return Call(rest[0], args)
    raise ExpressionError("invalid expression tree node")


_STEP_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*(?::[A-Za-z_][A-Za-z0-9_.-]*)?")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ---------------------------------------------------------------------------
# Conversions
# ---------------------------------------------------------------------------

_NUMBER_RE = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")
_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_TRIM = "".join(chr(c) for c in range(0x21))
_SPLIT_RE = re.compile(r"[ \t\r\n]+")


def truthy(result: Value) -> bool:
    """Convert an evaluation result to a boolean (XPath ``boolean()``).

    Non-empty strings are true; numbers are true unless NaN or within
    1e-12 of zero.
    """
    if isinstance(result, bool):
        return result
    if isinstance(result, float):
        return not math.isnan(result) and abs(result) > _EQ_TOLERANCE
    if isinstance(result, str):
        return result != ""
    raise TypeError(f"not an expression value: {result!r}")


def _to_number(value: Value) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, float):
        return value
    text = value.strip(_TRIM)
    if len(text) >= 10 and text[4] == "-" and text[7] == "-":
        moment = _parse_moment(text)
        return math.nan if moment is None else float(moment[0])
    text = text.replace(",", ".")
    if _NUMBER_RE.fullmatch(text):
        return float(text)
    return math.nan


def _to_string(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _number_to_string(value)
    return value


def _days_from_civil(year: int, month: int, day: int) -> int | None:
    """Days since 1970-01-01 of a proleptic Gregorian date, None if invalid."""
    if year < 1 or not 1 <= month <= 12:
        return None
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    month_days = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    if not 1 <= day <= month_days[month - 1]:
        return None
    y = year - 1 if month <= 2 else year
    era = y // 400
    year_of_era = y - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _shortest_digits(value: float) -> tuple[str, int]:
    """Shortest round-trip digits of a finite non-zero ``abs(value)``.

    Returns ``(digits, point)`` with ``abs(value) == 0.<digits> * 10**point``;
    ``digits`` has no leading or trailing zeros.
    """
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + int(exponent or 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    return stripped.rstrip("0"), point


def _number_to_string(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    digits, point = _shortest_digits(value)
    sign = "-" if value < 0 else ""
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _field_value(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if _is_number(value):
        return _number_to_string(float(value))
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return " ".join(value)
    raise TypeError(
        f"value of field {name!r} must be a str, a list of str or None, "
        f"not {type(value).__name__}")


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------

class _NodeSet:
    """The answers of a field inside a repeat, read from outside that repeat."""

    __slots__ = ("name", "values")

    def __init__(self, name: str, values: tuple[str, ...]) -> None:
        self.name = name
        self.values = values


def _unpack(value: Any) -> Value:
    """A node-set used as a single value: '' when empty, its answer when it has one."""
    if value.__class__ is not _NodeSet:
        return value
    if not value.values:
        return ""
    if len(value.values) == 1:
        return value.values[0]
    raise ExpressionError(
        f"${{{value.name}}} is in a repeat and has {len(value.values)} answers here: "
        f"use indexed-repeat(), count(), sum() or join() to choose")


def _items(value: Any) -> tuple[Value, ...]:
    """The items of a node-set argument; any other value is one item."""
    if value.__class__ is _NodeSet:
        return value.values
    return (value,)


_MASK32 = 0xFFFFFFFF


class _Random:
    """random(): Python's generator, or with a seed mulberry32 (identical in xlsexpr.js)."""

    __slots__ = ("state", "seeded")

    def __init__(self, seed: int | None) -> None:
        self.seeded = seed is not None
        self.state = (int(seed) & _MASK32) if seed is not None else 0

    def next(self) -> float:
        if not self.seeded:
            return _random_module.random()
        a = (self.state + 0x6D2B79F5) & _MASK32
        self.state = a
        t = ((a ^ (a >> 15)) * (1 | a)) & _MASK32
        t = (((t + (((t ^ (t >> 7)) * (61 | t)) & _MASK32)) & _MASK32) ^ t) & _MASK32
        return ((t ^ (t >> 14)) & _MASK32) / 4294967296


def seed_for(*parts: str) -> int:
    """A ``seed`` for :func:`evaluate` made from texts, e.g. an interview's UUID and a field name.

    FNV-1a (32 bits) over the UTF-8 of the parts joined by U+001F, the same as
    ``XLSExpr.seedFor`` in the browser, so the phone and the server draw the same
    ``random()`` for the same interview and field, at every evaluation.
    """
    value = 0x811C9DC5
    for byte in "\x1f".join(parts).encode("utf-8"):
        value = ((value ^ byte) * 0x01000193) & _MASK32
    return value


class _Context:
    """Values an evaluation reads, converted to strings up front."""

    __slots__ = ("fields", "current", "today", "now", "choice", "choices", "positions",
                 "repeats", "random")

    def __init__(self, fields: dict[str, Any], current: str, today: str, *,
                 now: str = "", choice: Mapping[str, Any] | None = None,
                 choices: Mapping[str, Mapping[str, str]] | None = None,
                 positions: tuple[tuple[str, int], ...] = (),
                 repeats: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
                 seed: int | None = None) -> None:
        self.fields = fields
        self.current = current
        self.today = today
        self.now = now
        self.choice = choice
        self.choices = choices or {}
        self.positions = positions
        self.repeats = repeats or {}
        self.random = _Random(seed)

    def field(self, name: str) -> Any:
        return self.fields[name]


def _is_instances(value: Any) -> bool:
    """Is this answer a nested repeat (a non-empty list of instance mappings)?"""
    return (isinstance(value, (list, tuple)) and bool(value)
            and all(isinstance(item, Mapping) for item in value))


def _children(instance: Mapping[str, Any], repeat: str) -> Sequence[Mapping[str, Any]]:
    value = instance.get(repeat)
    return value if _is_instances(value) else ()  # type: ignore[return-value]


def _chain(name: str, repeats: Mapping[str, Sequence[Mapping[str, Any]]],
           outer: tuple[str, ...] = ()) -> tuple[tuple[str, ...], bool] | None:
    """The repeats from the outermost to the one holding ``name`` (or that is ``name``: the
    flag), or None when no instance has it."""
    for repeat, instances in repeats.items():
        chain = outer + (repeat,)
        if repeat == name:
            return chain, True
        nested: dict[str, list[Mapping[str, Any]]] = {}
        for instance in instances:
            for key, value in instance.items():
                if _is_instances(value):
                    nested.setdefault(key, []).extend(value)
                elif key == name:
                    return chain, False
        found = _chain(name, nested, chain)
        if found is not None:
            return found
    return None


def _instance_text(instance: Mapping[str, Any]) -> str:
    return "".join(
        "".join(_instance_text(item) for item in value) if _is_instances(value)
        else _field_value(key, value)
        for key, value in instance.items())


def _repeat_value(name: str, chain: tuple[str, ...], is_repeat: bool,
                  repeats: Mapping[str, Sequence[Mapping[str, Any]]],
                  positions: Mapping[str, int]) -> Any:
    """A field of a repeat (or a repeat) in the repeat context: one answer when every
    repeat holding it is positioned, else the node-set of its answers."""
    parents: list[Mapping[str, Any]] = []
    single = True
    for depth, repeat in enumerate(chain):
        groups = [repeats[repeat]] if depth == 0 else [_children(p, repeat) for p in parents]
        if is_repeat and depth == len(chain) - 1:
            return _NodeSet(name, tuple(_instance_text(i) for group in groups for i in group))
        if repeat in positions:
            index = positions[repeat]
            parents = [group[index - 1] for group in groups if 1 <= index <= len(group)]
        else:
            parents = [instance for group in groups for instance in group]
            single = False
    answers = tuple(_field_value(name, p.get(name)) for p in parents)
    if single:
        return answers[0] if answers else ""
    return _NodeSet(name, answers)


def _resolve_fields(names: Sequence[str], values: Mapping[str, Any],
                    repeats: Mapping[str, Sequence[Mapping[str, Any]]],
                    positions: Mapping[str, int]) -> dict[str, Any]:
    """Field texts (or node-sets) by name; the first unknown name, in order, raises."""
    fields: dict[str, Any] = {}
    for name in names:
        if name in fields:
            continue
        if name in values:
            fields[name] = _field_value(name, values[name])
            continue
        found = _chain(name, repeats)
        if found is None:
            raise ExpressionError(f"unknown field ${{{name}}}")
        fields[name] = _repeat_value(name, found[0], found[1], repeats, positions)
    return fields


def _now_text(now: datetime.datetime | str | None) -> str:
    if isinstance(now, str):
        return now
    moment = now if now is not None else datetime.datetime.now().astimezone()
    if moment.tzinfo is None:
        moment = moment.astimezone()
    offset = moment.utcoffset() or datetime.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
            f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}"
            f"{sign}{minutes // 60:02d}:{minutes % 60:02d}")


def _positions(position: Mapping[str, int] | None) -> tuple[tuple[str, int], ...]:
    if not position:
        return ()
    out = []
    for name, index in position.items():
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"position of repeat {name!r} must be an int")
        out.append((name, index))
    return tuple(out)


def evaluate(
    expr: Expr,
    values: Mapping[str, str | list[str] | None],
    *,
    current: str | list[str] | None = None,
    today: datetime.date | None = None,
    now: datetime.datetime | str | None = None,
    repeats: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    position: Mapping[str, int] | None = None,
    choice: Mapping[str, Any] | None = None,
    choices: Mapping[str, Mapping[str, str]] | None = None,
    seed: int | None = None,
) -> Value:
    """Evaluate a parsed expression.

    Parameters
    ----------
    expr : Expr
        A tree from :func:`parse` or :func:`from_json`.
    values : Mapping
        Answers by field name: strings as in ODK (``''`` or ``None`` when
        unanswered, select_multiple answers space-separated or as a list).
        Every referenced field must be present (here or in ``repeats``).
    current : str, list of str or None
        The value of ``.`` and ``current()`` (the field the expression belongs
        to; for a calculation, its previous value, which ``once()`` keeps).
    today : datetime.date, optional
        The value of ``today()``; defaults to the local date.
    now : datetime.datetime or str, optional
        The value of ``now()`` (an aware datetime, or its ODK text
        ``YYYY-MM-DDTHH:MM:SS.sss+HH:MM``); defaults to the local time.
    repeats : Mapping, optional
        The repeat context: repeat name -> its instances in order, each a
        mapping of the answers of the fields inside it.  ``${repeat}`` is the
        node-set of instances (``count(${repeat})``) and ``${field}`` of a
        field inside one is the node-set of its answers (``sum(${field})``),
        or, when ``position`` names that repeat, its answer in that instance.
        An instance's answer may itself be a list of instances: a nested
        repeat (an empty list is an empty select_multiple answer).
    position : Mapping, optional
        Repeat name -> 1-based instance the expression is evaluated in, from
        the outermost repeat to the innermost (``position(..)``).
    choice : Mapping, optional
        The choices-sheet row a ``choice_filter`` is tested on: bare names
        (``state``) read its columns.
    choices : Mapping, optional
        Field name -> {choice name: label}, for ``jr:choice-name()``.
    seed : int, optional
        Makes ``random()`` reproducible: the same seed gives the same draws,
        so a seeded calculation behaves as ``once(random())``.

    Returns
    -------
    bool, float or str
        Use :func:`truthy` to interpret a ``relevant`` or ``constraint``.

    Raises
    ------
    ExpressionError
        For unknown fields (the first one in source order), invalid
        non-literal regex patterns and over-long regex input, values that
        cannot be converted to dates, a repeated field used as one value;
        no position.
    TypeError
        For values of an unsupported type.
    """
    if not isinstance(expr, Expr):
        raise TypeError("evaluate() expects a tree from parse(); call parse() first")
    positions = _positions(position)
    fields = _resolve_fields(list(_iter_references(expr)), values, repeats or {},
                             dict(positions))
    day = today if today is not None else datetime.date.today()
    ctx = _Context(fields, _field_value(".", current), day.isoformat(), now=_now_text(now),
                   choice=choice, choices=choices, positions=positions, repeats=repeats,
                   seed=seed)
    return _unpack(expr._eval(ctx))


# Value types whose equal values always give the same field text (True == 1, so bool is not one).
_PLAIN_TYPES = frozenset({str, int, float, type(None)})


class Evaluator:
    """One tree made ready to be evaluated many times, with the results of :func:`evaluate`.

    ``Evaluator(expr)(values, current=..., today=...)`` returns what
    ``evaluate(expr, values, current=..., today=...)`` returns and raises what it
    raises; only the work is shared between calls: the referenced names are
    found once, and results are remembered for up to ``memo`` distinct inputs.
    Evaluation is a pure function of the referenced values (as field text), of
    ``.`` when the tree reads it and of ``today()`` when the tree calls it, so
    a remembered result is the result.  Inputs are remembered as given when
    they are ``str``, ``int``, ``float`` or ``None`` (equal ones give equal
    text), else as their text; errors are never remembered, nor are texts
    longer than 64 characters (the memo stays small).  Trees that call
    ``random()``, ``uuid()`` or ``now()``, and calls given any of the other
    keyword arguments of :func:`evaluate`, are evaluated afresh every time.

    Python only: the browser evaluates each field once per change and needs no
    equivalent in ``xlsexpr.js``.
    """

    __slots__ = ("expr", "names", "_uses_current", "_uses_today", "_volatile", "_memo",
                 "_memo_size")

    _MEMO_TEXT = 64

    def __init__(self, expr: Expr, *, memo: int = 256) -> None:
        if not isinstance(expr, Expr):
            raise TypeError("Evaluator() expects a tree from parse(); call parse() first")
        self.expr = expr
        self.names = tuple(dict.fromkeys(_iter_references(expr)))
        nodes = list(_iter_nodes(expr))
        self._uses_current = any(
            isinstance(node, Current)
            or (isinstance(node, Path) and node.origin == "current")
            or (isinstance(node, Call) and node.name in (
                "string-length", "number", "string", "normalize-space") and not node.args)
            or (isinstance(node, Call) and node.name == "once")
            for node in nodes)
        self._uses_today = any(isinstance(node, Call) and node.name == "today" for node in nodes)
        self._volatile = any(
            isinstance(node, Call) and node.name in _VOLATILE_FUNCTIONS for node in nodes)
        self._memo: dict[tuple, Value] = {}
        self._memo_size = memo

    def __call__(
        self,
        values: Mapping[str, str | list[str] | None],
        *,
        current: str | list[str] | None = None,
        today: datetime.date | None = None,
        **options: Any,
    ) -> Value:
        if self._volatile or any(value is not None for value in options.values()):
            return evaluate(self.expr, values, current=current, today=today, **options)
        plain = _PLAIN_TYPES
        given = []
        for name in self.names:  # in source order, converting as evaluate() does: the same first error
            if name not in values:
                raise ExpressionError(f"unknown field ${{{name}}}")
            value = values[name]
            given.append(value if value.__class__ in plain else _field_value(name, value))
        own = current if current.__class__ in plain else _field_value(".", current)
        day = today if today is not None else datetime.date.today()
        if not self._memo_size or not isinstance(day, datetime.date):
            return self._run(given, own, day)
        key = (tuple(given), own if self._uses_current else None, day if self._uses_today else None)
        found = self._memo.get(key, self)
        if found is not self:
            return found  # type: ignore[return-value]
        result = self._run(given, own, day)
        limit = self._MEMO_TEXT
        if all(not isinstance(v, str) or len(v) <= limit for v in given) and (not isinstance(own, str) or len(own) <= limit):
            if len(self._memo) >= self._memo_size:
                self._memo.clear()
            self._memo[key] = result
        return result

    def _run(self, given: list[Any], own: Any, day: datetime.date) -> Value:
        fields = {name: _field_value(name, value) for name, value in zip(self.names, given)}
        ctx = _Context(fields, _field_value(".", own), day.isoformat(), now=_now_text(None))
        return _unpack(self.expr._eval(ctx))


def _equal(a: Value, b: Value) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return truthy(a) == truthy(b)
    if isinstance(a, float) or isinstance(b, float):
        x, y = _to_number(a), _to_number(b)
        return x == y or abs(x - y) < _EQ_TOLERANCE
    return a == b


def _binary(op: str, a: Value, b: Value) -> Value:
    a, b = _unpack(a), _unpack(b)
    if op == "=":
        return _equal(a, b)
    if op == "!=":
        return not _equal(a, b)
    x, y = _to_number(a), _to_number(b)
    if op == "<":
        return x < y
    if op == "<=":
        return x <= y
    if op == ">":
        return x > y
    if op == ">=":
        return x >= y
    if op == "+":
        return x + y
    if op == "-":
        return x - y
    if op == "*":
        return x * y
    if op == "div":
        return _divide(x, y)
    return _modulo(x, y)


def _divide(x: float, y: float) -> float:
    if y != 0:
        return x / y
    if x == 0 or math.isnan(x):
        return math.nan
    negative = (x < 0) != (math.copysign(1.0, y) < 0)
    return -math.inf if negative else math.inf


def _modulo(x: float, y: float) -> float:
    if math.isnan(x) or math.isnan(y) or math.isinf(x) or y == 0:
        return math.nan
    if math.isinf(y):
        return x
    return math.fmod(x, y)


def _tokens(text: str) -> list[str]:
    return [token for token in _SPLIT_RE.split(text) if token]


def _java_int(value: float) -> int:
    """Java's ``(int)`` of a double: NaN is 0, out-of-range values are clamped."""
    if math.isnan(value):
        return 0
    if value >= 2147483647:
        return 2147483647
    if value <= -2147483648:
        return -2147483648
    return int(value)


_JAVA_SPACE_RE = re.compile(r"[ \t\n\x0b\f\r]+")
_MAX_UUID_LENGTH = 1000
_GUID_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHOICE_REF_RE = re.compile(r"\s*\$\{([^}]+)\}\s*")


def _substr(text: str, start_value: float, end_value: float | None) -> str:
    length = len(text)
    start = _java_int(_truncate(start_value))
    end = length if end_value is None else _java_int(_truncate(end_value))
    if start < 0:
        start += length
    if end < 0:
        end += length
    end = min(max(0, end), length)
    start = min(max(0, start), length)
    return text[start:end] if start <= end else ""


def _translate(text: str, source: str, target: str) -> str:
    out = []
    for ch in text:
        index = source.find(ch)
        if index < 0:
            out.append(ch)
        elif index < len(target):
            out.append(target[index])
    return "".join(out)


def _pow(x: float, y: float) -> float:
    """Java / JavaScript Math.pow (Python's math.pow differs on special values)."""
    if math.isnan(y):
        return math.nan
    if y == 0:
        return 1.0
    if math.isnan(x):
        return math.nan
    if abs(x) == 1 and math.isinf(y):
        return math.nan
    odd = y.is_integer() and abs(y) < 2**53 and int(y) % 2 == 1
    if x == 0:
        negative = odd and math.copysign(1.0, x) < 0
        if y < 0:
            return -math.inf if negative else math.inf
        return -0.0 if negative else 0.0
    if x < 0 and not math.isinf(x) and not math.isinf(y) and not y.is_integer():
        return math.nan
    try:
        return math.pow(x, y)
    except OverflowError:
        return -math.inf if (x < 0 and odd) else math.inf


def _unary_math(name: str, x: float) -> float:
    if math.isnan(x):
        return math.nan
    if name == "abs":
        return abs(x)
    if name in ("log", "log10"):
        if x < 0:
            return math.nan
        if x == 0:
            return -math.inf
        if math.isinf(x):
            return math.inf
        return math.log(x) if name == "log" else math.log10(x)
    if name == "sqrt":
        return math.nan if x < 0 else math.sqrt(x)
    if name == "exp":
        try:
            return math.exp(x)
        except OverflowError:
            return math.inf
    if name == "exp10":
        return _pow(10.0, x)
    if name in ("sin", "cos", "tan"):
        if math.isinf(x):
            return math.nan
        return getattr(math, name)(x)
    if name in ("asin", "acos"):
        return math.nan if abs(x) > 1 else getattr(math, name)(x)
    return math.atan(x)


def _call(name: str, args: tuple[Expr, ...], ctx: _Context) -> Value:
    if name == "if":
        chosen = args[1] if _truth(args[0]._eval(ctx)) else args[2]
        return chosen._eval(ctx)
    if name == "coalesce":
        first = _unpack(args[0]._eval(ctx))
        if first == "" or (isinstance(first, float) and math.isnan(first)):
            return args[1]._eval(ctx)
        return first
    if name == "indexed-repeat":
        return _indexed_repeat(args, ctx)
    if name == "position":
        return _position(args, ctx)
    raw = [arg._eval(ctx) for arg in args]
    if name in _NODESET_FUNCTIONS:
        return _nodeset_call(name, raw)
    values = [_unpack(value) for value in raw]
    if name == "true":
        return True
    if name == "false":
        return False
    if name == "not":
        return not truthy(values[0])
    if name == "boolean":
        return truthy(values[0])
    if name == "boolean-from-string":
        text = _to_string(values[0])
        return text.lower() == "true" or text == "1"
    if name == "string":
        return _to_string(values[0] if values else ctx.current)
    if name == "once":
        return ctx.current if ctx.current != "" else values[0]
    if name == "checklist":
        low, high = _java_int(_to_number(values[0])), _java_int(_to_number(values[1]))
        hits = sum(1 for value in values[2:] if truthy(value))
        return (low < 0 or hits >= low) and (high < 0 or hits <= high)
    if name == "selected":
        choice = _to_string(values[1]).strip(_TRIM)
        return choice in _tokens(_to_string(values[0]))
    if name == "count-selected":
        return float(len(_tokens(_to_string(values[0]))))
    if name == "selected-at":
        tokens = _tokens(_to_string(values[0]))
        index = _java_int(_truncate(_to_number(values[1])))
        return tokens[index] if 0 <= index < len(tokens) else ""
    if name == "jr:choice-name":
        return _choice_name(_to_string(values[0]), _to_string(values[1]), ctx)
    if name == "string-length":
        return float(len(_to_string(values[0] if values else ctx.current)))
    if name == "normalize-space":
        text = _to_string(values[0] if values else ctx.current).strip(_TRIM)
        return _JAVA_SPACE_RE.sub(" ", text)
    if name == "substr":
        end = _to_number(values[2]) if len(values) > 2 else None
        return _substr(_to_string(values[0]), _to_number(values[1]), end)
    if name in ("substring-before", "substring-after"):
        text, part = _to_string(values[0]), _to_string(values[1])
        index = text.find(part)
        if index < 0:
            return ""
        return text[:index] if name == "substring-before" else text[index + len(part):]
    if name == "contains":
        return _to_string(values[1]) in _to_string(values[0])
    if name == "starts-with":
        return _to_string(values[0]).startswith(_to_string(values[1]))
    if name == "ends-with":
        return _to_string(values[0]).endswith(_to_string(values[1]))
    if name == "translate":
        return _translate(*(_to_string(value) for value in values))
    if name == "regex":
        return _regex(_to_string(values[0]), _to_string(values[1]))
    if name == "uuid":
        return _uuid(values[0] if values else None)
    if name == "number":
        return _to_number(values[0] if values else ctx.current)
    if name == "int":
        return _truncate(_to_number(values[0]))
    if name == "round":
        places = _truncate(_to_number(values[1])) if len(values) > 1 else 0.0
        return _round(_to_number(values[0]), 0.0 if math.isnan(places) else places)
    if name == "pow":
        return _pow(_to_number(values[0]), _to_number(values[1]))
    if name == "atan2":
        y, x = _to_number(values[0]), _to_number(values[1])
        return math.nan if math.isnan(x) or math.isnan(y) else math.atan2(y, x)
    if name == "pi":
        return math.pi
    if name == "random":
        return ctx.random.next()
    if name in ("abs", "sqrt", "exp", "exp10", "log", "log10", "sin", "cos", "tan",
                "asin", "acos", "atan"):
        return _unary_math(name, _to_number(values[0]))
    if name == "today":
        return ctx.today
    if name == "now":
        return ctx.now
    if name == "date":
        return _date(values[0], with_time=False)
    if name == "date-time":
        return _date(values[0], with_time=True)
    if name == "decimal-date-time":
        return _decimal_date_time(values[0], keep_date=True)
    if name == "decimal-time":
        return _decimal_date_time(values[0], keep_date=False)
    if name in ("format-date", "format-date-time"):
        return _format_date(values[0], _to_string(values[1]))
    raise AssertionError(f"unhandled function {name}")  # pragma: no cover


def _truth(value: Any) -> bool:
    return truthy(_unpack(value))


def _nodeset_call(name: str, raw: list[Any]) -> Value:
    if name == "count":
        return float(len(_items(raw[0])))
    if name == "count-non-empty":
        return float(sum(1 for item in _items(raw[0]) if _to_string(item) != ""))
    items = [item for value in (raw[1:] if name == "join" else raw) for item in _items(value)]
    if name == "sum":
        total = 0.0
        for item in items:  # left to right, as in JavaScript (not Python's compensated sum)
            number = _to_number(item)
            if not math.isnan(number):
                total += number
        return total
    if name in ("min", "max"):
        numbers = [n for n in (_to_number(item) for item in items) if not math.isnan(n)]
        if not numbers:
            return math.nan
        return min(numbers) if name == "min" else max(numbers)
    if name == "concat":
        return "".join(_to_string(item) for item in items)
    separator = _to_string(_unpack(raw[0]))
    return separator.join(_to_string(item) for item in items)  # join


def _position(args: tuple[Expr, ...], ctx: _Context) -> float:
    """position(..): the 1-based instance of the repeat the expression is in."""
    positions = ctx.positions
    if not args:
        return float(positions[-1][1]) if positions else 1.0
    target = args[0]
    named = _named_field(target)
    if named is not None:
        for repeat, index in positions:
            if repeat == named:
                return float(index)
        return 1.0
    ups = target.steps.count("..") if isinstance(target, Path) else 0
    if ups == 0 or ups > len(positions):
        return 1.0
    return float(positions[-ups][1])


def _indexed_repeat(args: tuple[Expr, ...], ctx: _Context) -> Value:
    """indexed-repeat(${field}, ${repeat}, i[, ${inner}, j ...]): the answer of ``field``
    with the given instances of those repeats (the others as in the context)."""
    name = _named_field(args[0])
    found = _chain(name, ctx.repeats)  # type: ignore[arg-type]
    chain = () if found is None or found[1] else found[0]
    positions = dict(ctx.positions)
    for k in range(1, len(args), 2):
        group = _named_field(args[k])
        located = _chain(group, ctx.repeats)  # type: ignore[arg-type]
        if located is None or not located[1]:
            raise ExpressionError(f"indexed-repeat(): ${{{group}}} is not a repeat")
        if group not in chain:
            raise ExpressionError(f"indexed-repeat(): ${{{name}}} is not inside ${{{group}}}")
        index = _java_int(_truncate(_to_number(_unpack(args[k + 1]._eval(ctx)))))
        positions[group] = max(index, 1)  # type: ignore[index]
    return _unpack(_repeat_value(name, chain, False, ctx.repeats, positions))  # type: ignore[arg-type]


def _choice_name(value: str, reference: str, ctx: _Context) -> str:
    match = _CHOICE_REF_RE.fullmatch(reference)
    name = match.group(1) if match else reference.strip().rsplit("/", 1)[-1]
    labels = ctx.choices.get(name)
    if labels is None:
        raise ExpressionError(f"jr:choice-name(): no choices known for ${{{name}}}")
    label = labels.get(value.strip(_TRIM))
    return "" if label is None else label


def _uuid(length: Value | None) -> str:
    if length is None:
        return str(_uuid_module.uuid4())
    size = _java_int(_truncate(_to_number(length)))
    if size > _MAX_UUID_LENGTH:
        raise ExpressionError(f"uuid() length above {_MAX_UUID_LENGTH}")
    return "".join(secrets.choice(_GUID_CHARS) for _ in range(max(size, 0)))


def _truncate(value: float) -> float:
    if math.isnan(value) or math.isinf(value):
        return value
    return float(math.trunc(value))


def _round(value: float, places: float) -> float:
    """Round half towards +Infinity on the shortest decimal representation."""
    if math.isnan(value) or math.isinf(value):
        return value
    if places > 30 or places < -30:
        return math.nan
    if value == 0:
        return 0.0
    places = int(places)
    digits, point = _shortest_digits(value)
    keep = point + places          # number of leading digits kept
    if keep >= len(digits):
        return value
    kept = int(digits[:keep]) if keep > 0 else 0
    first_dropped = int(digits[keep]) if keep >= 0 else 0
    if value > 0:
        up = first_dropped >= 5
    else:
        up = first_dropped > 5 or (first_dropped == 5 and len(digits) > keep + 1)
    magnitude = kept + (1 if up else 0)   # exact: Python ints are unbounded
    result = float(f"{magnitude}e{-places}")
    return -result if value < 0 and result != 0 else result


# ---------------------------------------------------------------------------
# Dates and times
# ---------------------------------------------------------------------------

_MOMENT_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:T([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?"
    r"(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?")
_TIME_RE = re.compile(
    r"([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?")
_DAY_MS = 86_400_000
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
_MIN_DATE_DAYS = -719_162   # 0001-01-01
_MAX_DATE_DAYS = 2_932_896   # 9999-12-31


def _offset_minutes(text: str | None) -> int | None:
    if text is None:
        return None
    if text == "Z":
        return 0
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError
    return sign * (hours * 60 + minutes)


def _clock(hour: str | None, minute: str | None, second: str | None,
           fraction: str | None) -> tuple[int, int, int, int] | None:
    h, m, s = int(hour or 0), int(minute or 0), int(second or 0)
    ms = int((fraction or "0")[:3].ljust(3, "0"))
    if h > 23 or m > 59 or s > 59:
        return None
    return h, m, s, ms


def _parse_moment(text: str) -> tuple[int, int, int, int, int, int | None] | None:
    """A date or date-time text: (days since epoch, hour, minute, second, ms, offset
    minutes or None), all as written; None if it is not one."""
    match = _MOMENT_RE.fullmatch(text.strip(_TRIM))
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    days = _days_from_civil(int(year), int(month), int(day))
    clock = _clock(hour, minute, second, fraction)
    if days is None or clock is None:
        return None
    try:
        offset = _offset_minutes(zone)
    except ValueError:
        return None
    return (days, *clock, offset)


def _civil_from_days(days: int) -> tuple[int, int, int]:
    z = days + 719468
    era = z // 146097
    day_of_era = z - era * 146097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36524
                   - day_of_era // 146096) // 365
    year = year_of_era + era * 400
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    mp = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return (year + 1 if month <= 2 else year), month, day


def _date_text(days: int) -> str:
    year, month, day = _civil_from_days(days)
    return f"{year:04d}-{month:02d}-{day:02d}"


def _cannot_be_date(value: Value) -> ExpressionError:
    return ExpressionError(f"the value '{_to_string(value)}' can't be converted to a date")


def _moment(value: Value) -> tuple[int, int, int, int, int, int | None] | None | str:
    """A value as a moment (see _parse_moment); '' stays ''; NaN gives None."""
    if isinstance(value, bool):
        raise _cannot_be_date(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if not _MIN_DATE_DAYS <= value < _MAX_DATE_DAYS + 1:
            raise ExpressionError(
                f"the value '{_to_string(value)}' is out of range for a date")
        total = math.floor(value * _DAY_MS + 0.5)
        days, ms = divmod(total, _DAY_MS)
        return (days, ms // 3_600_000, ms // 60_000 % 60, ms // 1000 % 60, ms % 1000, 0)
    if value.strip(_TRIM) == "":
        return ""
    moment = _parse_moment(value)
    if moment is None:
        raise _cannot_be_date(value)
    return moment


def _date(value: Value, *, with_time: bool) -> Value:
    if isinstance(value, float) and not with_time and not math.isnan(value):
        value = _truncate(value)
    moment = _moment(value)
    if moment is None:
        return math.nan
    if moment == "":
        return ""
    days, hour, minute, second, ms, offset = moment  # type: ignore[misc]
    if not with_time:
        return _date_text(days)
    zone = ""
    if offset is not None:
        sign = "-" if offset < 0 else "+"
        zone = f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    return (f"{_date_text(days)}T{hour:02d}:{minute:02d}:{second:02d}.{ms:03d}{zone}")


def _decimal_date_time(value: Value, *, keep_date: bool) -> Value:
    if isinstance(value, float):
        if math.isnan(value):
            return value
        if not _MIN_DATE_DAYS <= value < _MAX_DATE_DAYS + 1:
            raise ExpressionError(
                f"the value '{_to_string(value)}' is out of range for a date")
        return value if keep_date else value - math.floor(value)
    if isinstance(value, str) and not keep_date:
        match = _TIME_RE.fullmatch(value.strip(_TRIM))
        if match:
            clock = _clock(*match.groups()[:4])
            if clock is None:
                raise _cannot_be_date(value)
            hour, minute, second, ms = clock
            return ((hour * 60 + minute) * 60 + second + ms / 1000) / 86400
    moment = _moment(value)
    if moment == "":
        return ""
    days, hour, minute, second, ms, offset = moment  # type: ignore[misc]
    in_day = ((hour * 60 + minute) * 60 + second) * 1000 + ms
    if not keep_date:
        return in_day / _DAY_MS
    return (days * _DAY_MS + in_day - (offset or 0) * 60_000) / _DAY_MS


_DATE_FORMAT_TOKENS = frozenset("YymnbdeHhMS3a%")


def _bad_date_format(pattern: str) -> tuple[int, str] | None:
    """The index and letter of the first unknown ``%`` token of a format, or None."""
    i = 0
    while i < len(pattern):
        if pattern[i] == "%":
            token = pattern[i + 1] if i + 1 < len(pattern) else ""
            if token not in _DATE_FORMAT_TOKENS or token == "":
                return i, token
            i += 2
        else:
            i += 1
    return None


def _format_date(value: Value, pattern: str) -> str:
    moment = _moment(value)
    if moment is None or moment == "":
        return ""
    days, hour, minute, second, ms, _ = moment  # type: ignore[misc]
    year, month, day = _civil_from_days(days)
    fields = {
        "Y": f"{year:04d}", "y": f"{year % 100:02d}", "m": f"{month:02d}", "n": str(month),
        "b": _MONTHS[month - 1], "d": f"{day:02d}", "e": str(day), "H": f"{hour:02d}",
        "h": str(hour), "M": f"{minute:02d}", "S": f"{second:02d}", "3": f"{ms:03d}",
        "a": _WEEKDAYS[(days + 4) % 7], "%": "%",
    }
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        token = pattern[i + 1] if i + 1 < len(pattern) else ""
        if token not in fields:
            raise ExpressionError(f"unknown date format '%{token}'")
        out.append(fields[token])
        i += 2
    return "".join(out)


# ---------------------------------------------------------------------------
# regex(): a small linear-time engine (Thompson NFA run as a Pike VM)
# ---------------------------------------------------------------------------

class _RegexError(Exception):
    def __init__(self, message: str, index: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.index = index


# instruction kinds
_CHAR, _SET, _ANY, _SPLIT, _JMP, _BOL, _EOL, _MATCH = range(8)
_MAX_CODE_POINT = 0x10FFFF
_DIGIT_RANGES = ((0x30, 0x39),)
_WORD_RANGES = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
_SPACE_RANGES = ((0x09, 0x0D), (0x20, 0x20))
_LINE_TERMINATORS = frozenset((0x0A, 0x0D, 0x85, 0x2028, 0x2029))
_SIMPLE_ESCAPES = {"t": 0x09, "n": 0x0A, "r": 0x0D, "f": 0x0C, "v": 0x0B}
# XML Schema's \i (XML name start characters) and \c (XML name characters).
_NAME_START_RANGES = (
    (0x3A, 0x3A), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A), (0xC0, 0xD6), (0xD8, 0xF6),
    (0xF8, 0x2FF), (0x370, 0x37D), (0x37F, 0x1FFF), (0x200C, 0x200D), (0x2070, 0x218F),
    (0x2C00, 0x2FEF), (0x3001, 0xD7FF), (0xF900, 0xFDCF), (0xFDF0, 0xFFFD),
    (0x10000, 0xEFFFF))
_NAME_RANGES = tuple(sorted(_NAME_START_RANGES + (
    (0x2D, 0x2E), (0x30, 0x39), (0xB7, 0xB7), (0x300, 0x36F), (0x203F, 0x2040))))
_CLASS_ESCAPES = {"d": _DIGIT_RANGES, "w": _WORD_RANGES, "s": _SPACE_RANGES,
                  "i": _NAME_START_RANGES, "c": _NAME_RANGES}
_NEGATED_CLASS_ESCAPES = {"D": _DIGIT_RANGES, "W": _WORD_RANGES, "S": _SPACE_RANGES,
                          "I": _NAME_START_RANGES, "C": _NAME_RANGES}
_HEX = frozenset("0123456789abcdefABCDEF")


def _complement(ranges: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    result = []
    low = 0
    for start, end in sorted(ranges):
        if start > low:
            result.append((low, start - 1))
        low = max(low, end + 1)
    if low <= _MAX_CODE_POINT:
        result.append((low, _MAX_CODE_POINT))
    return tuple(result)


class _RegexParser:
    """Parse a pattern into nodes: ("char", cp) ("set", negated, ranges)
    ("any",) ("bol",) ("eol",) ("cat", items) ("alt", items)
    ("rep", node, min, max or None)."""

    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0

    def error(self, message: str, index: int | None = None) -> _RegexError:
        return _RegexError(message, self.i if index is None else index)

    def parse(self) -> tuple:
        node = self.alternation()
        if self.i < len(self.p):  # only an unmatched ")" stops alternation()
            raise self.error("unmatched ')'")
        return node

    def alternation(self) -> tuple:
        items = [self.sequence()]
        while self.i < len(self.p) and self.p[self.i] == "|":
            self.i += 1
            items.append(self.sequence())
        return items[0] if len(items) == 1 else ("alt", tuple(items))

    def sequence(self) -> tuple:
        items = []
        while self.i < len(self.p) and self.p[self.i] not in "|)":
            atom = self.atom()
            items.append(self.quantified(atom))
        return items[0] if len(items) == 1 else ("cat", tuple(items))  # () -> empty

    def atom(self) -> tuple:
        p, start = self.p, self.i
        ch = p[start]
        self.i += 1
        if ch in "*+?":
            raise self.error("nothing to repeat", start)
        if ch == "{":
            raise self.error("nothing to repeat" if self.repeat_at(start) else
                             "'{' must start a repetition like {2} or {1,3} (write \\{)",
                             start)
        if ch == "(":
            if p.startswith("?:", self.i):
                self.i += 2
            elif p.startswith("?", self.i):
                raise self.error("unsupported group '(?'", start)
            inner = self.alternation()
            if self.i >= len(p):
                raise self.error("missing ')'", start)
            self.i += 1
            return ("group", inner)
        if ch == "[":
            return self.char_class(start)
        if ch == ".":
            return ("any",)
        if ch == "^":
            return ("bol",)
        if ch == "$":
            return ("eol",)
        if ch == "\\":
            return self.escape(start)
        return ("char", ord(ch))

    def repeat_at(self, index: int) -> tuple[int, int | None, int] | None:
        """Parse ``{n}``, ``{n,}`` or ``{n,m}`` at ``index``: (min, max, end)."""
        match = re.compile(r"\{([0-9]+)(,([0-9]*))?\}").match(self.p, index)
        if not match:
            return None
        low = int(match.group(1))
        if match.group(2) is None:
            high: int | None = low
        else:
            high = int(match.group(3)) if match.group(3) else None
        return low, high, match.end()

    def quantified(self, atom: tuple) -> tuple:
        p = self.p
        if self.i >= len(p):
            return atom
        start = self.i
        ch = p[start]
        if ch in "*+?":
            low, high = {"*": (0, None), "+": (1, None), "?": (0, 1)}[ch]
            self.i += 1
        elif ch == "{" and self.repeat_at(start):
            low, high, self.i = self.repeat_at(start)
            if max(low, high or 0) > _MAX_REGEX_REPEAT:
                raise self.error(
                    f"repetition count above {_MAX_REGEX_REPEAT}", start)
            if high is not None and high < low:
                raise self.error("repetition range out of order", start)
        else:
            return atom
        if atom[0] in ("bol", "eol"):
            raise self.error("nothing to repeat", start)
        if self.i < len(p) and p[self.i] == "?":
            self.i += 1  # lazy: same yes/no answer
        if self.i < len(p) and (p[self.i] in "*+?" or
                                (p[self.i] == "{" and self.repeat_at(self.i))):
            raise self.error("nothing to repeat", self.i)
        return ("rep", atom, low, high)

    def escape(self, start: int) -> tuple:
        p = self.p
        if self.i >= len(p):
            raise self.error("pattern ends with '\\'", start)
        ch = p[self.i]
        self.i += 1
        if ch in _CLASS_ESCAPES:
            return ("set", False, _CLASS_ESCAPES[ch])
        if ch in _NEGATED_CLASS_ESCAPES:
            return ("set", True, _NEGATED_CLASS_ESCAPES[ch])
        if ch in _SIMPLE_ESCAPES:
            return ("char", _SIMPLE_ESCAPES[ch])
        if ch == "u":
            digits = p[self.i:self.i + 4]
            if len(digits) < 4 or not all(d in _HEX for d in digits):
                raise self.error("'\\u' needs 4 hex digits", start)
            self.i += 4
            return ("char", int(digits, 16))
        if ch.isascii() and ch.isalnum():
            raise self.error(f"unsupported escape '\\{ch}'", start)
        return ("char", ord(ch))

    def char_class(self, start: int) -> tuple:
        p = self.p
        negated = self.i < len(p) and p[self.i] == "^"
        if negated:
            self.i += 1
        ranges: list[tuple[int, int]] = []
        first = True
        while True:
            if self.i >= len(p):
                raise self.error("missing ']'", start)
            ch = p[self.i]
            if ch == "]":
                if first:
                    raise self.error("empty character class (write \\])", self.i)
                self.i += 1
                break
            first = False
            item_start = self.i
            low = self.class_item()
            if (self.i + 1 < len(p) and p[self.i] == "-" and p[self.i + 1] != "]"):
                self.i += 1
                high = self.class_item()
                if low[0] != "char" or high[0] != "char":
                    raise self.error("invalid range in character class", item_start)
                if high[1] < low[1]:
                    raise self.error("range out of order in character class", item_start)
                ranges.append((low[1], high[1]))
            elif low[0] == "char":
                ranges.append((low[1], low[1]))
            else:
                ranges.extend(_complement(low[2]) if low[1] else low[2])
        return ("set", negated, tuple(sorted(ranges)))

    def class_item(self) -> tuple:
        p, start = self.p, self.i
        ch = p[start]
        self.i += 1
        if ch == "\\":
            return self.escape(start)
        if ch == "[":
            raise self.error("'[' inside a character class (write \\[)", start)
        if ch == "&" and start + 1 < len(p) and p[start + 1] == "&":
            raise self.error("'&&' inside a character class (write \\&)", start)
        return ("char", ord(ch))


class _RegexCompiler:
    """Compile parsed nodes into a Pike VM program (lists of parallel fields)."""

    def __init__(self) -> None:
        self.kind: list[int] = []
        self.arg: list[Any] = []
        self.x: list[int] = []
        self.y: list[int] = []

    def emit(self, kind: int, arg: Any = None, x: int = -1, y: int = -1) -> int:
        if len(self.kind) >= _MAX_REGEX_PROGRAM:
            raise _RegexError("pattern is too complex", None)
        self.kind.append(kind)
        self.arg.append(arg)
        self.x.append(x)
        self.y.append(y)
        return len(self.kind) - 1

    def compile(self, node: tuple) -> None:
        tag = node[0]
        if tag == "char":
            self.emit(_CHAR, node[1])
        elif tag == "set":
            self.emit(_SET, (node[1], node[2]))
        elif tag == "any":
            self.emit(_ANY)
        elif tag == "bol":
            self.emit(_BOL)
        elif tag == "eol":
            self.emit(_EOL)
        elif tag == "group":
            self.compile(node[1])
        elif tag == "cat":
            for item in node[1]:
                self.compile(item)
        elif tag == "alt":
            jumps = []
            items = node[1]
            for item in items[:-1]:
                split = self.emit(_SPLIT)
                self.x[split] = split + 1
                self.compile(item)
                jumps.append(self.emit(_JMP))
                self.y[split] = len(self.kind)
            self.compile(items[-1])
            for jump in jumps:
                self.x[jump] = len(self.kind)
        else:
            self.repeat(node[1], node[2], node[3])

    def repeat(self, atom: tuple, low: int, high: int | None) -> None:
        for _ in range(low):
            self.compile(atom)
        if high is None:
            split = self.emit(_SPLIT)
            self.x[split] = split + 1
            self.compile(atom)
            self.emit(_JMP, x=split)
            self.y[split] = len(self.kind)
            return
        splits = []
        for _ in range(high - low):
            split = self.emit(_SPLIT)
            self.x[split] = split + 1
            splits.append(split)
            self.compile(atom)
        for split in splits:
            self.y[split] = len(self.kind)


@functools.lru_cache(maxsize=256)
def _compile_regex(pattern: str) -> _RegexCompiler:
    if len(pattern) > MAX_REGEX_PATTERN_LENGTH:
        raise _RegexError(
            f"pattern is too long ({len(pattern)} characters, "
            f"maximum {MAX_REGEX_PATTERN_LENGTH})", None)
    program = _RegexCompiler()
    program.compile(_RegexParser(pattern).parse())
    program.emit(_MATCH)
    return program


def _regex(text: str, pattern: str) -> bool:
    try:
        program = _compile_regex(pattern)
    except _RegexError as error:
        raise ExpressionError(f"invalid regex: {error.message}") from None
    if len(text) > MAX_REGEX_INPUT_LENGTH:
        raise ExpressionError(
            f"regex input is too long ({len(text)} characters, "
            f"maximum {MAX_REGEX_INPUT_LENGTH})")
    return _regex_search(program, [ord(ch) for ch in text])


def _in_ranges(code: int, ranges: Sequence[tuple[int, int]]) -> bool:
    for low, high in ranges:
        if code < low:
            return False
        if code <= high:
            return True
    return False


def _regex_search(program: _RegexCompiler, text: list[int]) -> bool:
    """Does the program match the whole of ``text`` (Java's ``Pattern.matches``, as
    JavaRosa does)?  O(len(text) * len(program))."""
    kind, arg, xs, ys = program.kind, program.arg, program.x, program.y
    n = len(text)

    def closure(pc: int, i: int, out: list[int], seen: set[int]) -> bool:
        """Add consuming states reachable from ``pc``; True on reaching MATCH."""
        stack = [pc]
        while stack:
            pc = stack.pop()
            if pc in seen:
                continue
            seen.add(pc)
            k = kind[pc]
            if k == _JMP:
                stack.append(xs[pc])
            elif k == _SPLIT:
                stack.append(ys[pc])
                stack.append(xs[pc])
            elif k == _BOL:
                if i == 0:
                    stack.append(pc + 1)
            elif k == _EOL:
                if i == n:
                    stack.append(pc + 1)
            elif k == _MATCH:
                if i == n:
                    return True
            else:
                out.append(pc)
        return False

    current: list[int] = []
    seen: set[int] = set()
    for i in range(n + 1):
        if i == 0 and closure(0, i, current, seen):
            return True
        if not current:
            return False
        if i == n:
            break
        code = text[i]
        following: list[int] = []
        following_seen: set[int] = set()
        for pc in current:
            k = kind[pc]
            if k == _CHAR:
                ok = code == arg[pc]
            elif k == _ANY:
                ok = code not in _LINE_TERMINATORS
            else:
                negated, ranges = arg[pc]
                ok = _in_ranges(code, ranges) != negated
            if ok and closure(pc + 1, i + 1, following, following_seen):
                return True
        current, seen = following, following_seen
    return False
