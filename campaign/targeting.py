"""Pure rules of rule segments: which contact fields a rule may test, and how a rule is checked.

A rule is JSON, kept on :class:`audiences.models.AudienceSegment.rule`::

    {"match": "all",                       # or "any"
     "conditions": [
        {"field": "region", "op": "eq", "value": "Ouest"},
        {"field": "language", "op": "eq", "value": "ht"},
        {"field": "attributes.profession", "op": "in", "value": ["judge", "prosecutor"]}]}

Fields are the contact's ``region``, ``language``, ``name``, ``has_phone``, ``has_email``,
``has_consent`` or a free attribute ``attributes.<name>``. Comparisons of text ignore case and
surrounding spaces, as staff type them. No session, no HTTP: :mod:`campaign.audience` turns a
checked rule into SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["BOOLEAN_FIELDS", "Condition", "OPS", "Rule", "RuleError", "TEXT_FIELDS", "describe", "parse_rule"]

TEXT_FIELDS = ("region", "language", "name")
BOOLEAN_FIELDS = ("has_phone", "has_email", "has_consent")
ATTRIBUTE = re.compile(r"^attributes\.([a-z][a-z0-9_]{0,39})$")
OPS = {"eq": "is", "ne": "is not", "in": "is one of", "not_in": "is none of", "contains": "contains",
       "exists": "is filled in", "missing": "is empty"}
MAX_CONDITIONS = 20
MAX_VALUES = 200


class RuleError(ValueError):
    """A rule that cannot be used; ``errors`` maps a field path (conditions[0].value) to a message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class Condition:
    field: str  # region, language, name, has_phone..., or attributes.<name>
    op: str
    values: tuple[str, ...]  # normalised (stripped, lower-case); one for eq/ne/contains, none for exists/missing

    @property
    def attribute(self) -> str | None:
        m = ATTRIBUTE.match(self.field)
        return m.group(1) if m else None


@dataclass(frozen=True, slots=True)
class Rule:
    match: str  # all | any
    conditions: tuple[Condition, ...]

    def as_json(self) -> dict[str, Any]:
        out = []
        for c in self.conditions:
            item: dict[str, Any] = {"field": c.field, "op": c.op}
            if c.op in ("in", "not_in"):
                item["value"] = list(c.values)
            elif c.values:
                item["value"] = c.values[0]
            out.append(item)
        return {"match": self.match, "conditions": out}


def _norm(value: Any) -> str:
    return " ".join(str(value).split()).lower()


def parse_rule(data: Any) -> Rule:
    """Check a rule's JSON (see the module docstring); :class:`RuleError` names every bad part."""
    if not isinstance(data, dict):
        raise RuleError({"rule": "A rule is an object with match (all or any) and conditions."})
    errors: dict[str, str] = {}
    match = data.get("match", "all")
    if match not in ("all", "any"):
        errors["match"] = "Use all (every condition holds) or any (at least one does)."
    raw = data.get("conditions")
    if not isinstance(raw, list) or not raw:
        errors["conditions"] = "Give at least one condition."
        raise RuleError(errors)
    if len(raw) > MAX_CONDITIONS:
        raise RuleError({"conditions": f"Give at most {MAX_CONDITIONS} conditions."})
    conditions = []
    for i, item in enumerate(raw):
        path = f"conditions[{i}]"
        if not isinstance(item, dict):
            errors[path] = "A condition is an object with field, op and value."
            continue
        field = str(item.get("field") or "").strip()
        op = str(item.get("op") or "eq").strip()
        if field not in TEXT_FIELDS and field not in BOOLEAN_FIELDS and not ATTRIBUTE.match(field):
            errors[f"{path}.field"] = (f"Unknown field {field[:40]!r}: use region, language, name, has_phone, has_email, "
                                       "has_consent or attributes.<name> (for example attributes.profession).")
            continue
        if field in BOOLEAN_FIELDS:
            if op not in ("eq",):
                errors[f"{path}.op"] = f"{field} is yes or no: use op eq with value yes or no."
                continue
            value = _norm(item.get("value", "yes"))
            if value not in ("yes", "no", "true", "false"):
                errors[f"{path}.value"] = f"{field} is yes or no."
                continue
            conditions.append(Condition(field, "eq", ("yes" if value in ("yes", "true") else "no",)))
            continue
        if op not in OPS:
            errors[f"{path}.op"] = f"Unknown operator {op[:20]!r}: use one of {', '.join(OPS)}."
            continue
        value = item.get("value")
        if op in ("exists", "missing"):
            values: tuple[str, ...] = ()
        elif op in ("in", "not_in"):
            items = value if isinstance(value, list) else str(value or "").split(",")
            values = tuple(dict.fromkeys(v for v in (_norm(x) for x in items) if v))
            if not values:
                errors[f"{path}.value"] = "Give at least one value (a list, or values separated by commas)."
                continue
            if len(values) > MAX_VALUES:
                errors[f"{path}.value"] = f"Give at most {MAX_VALUES} values."
                continue
        else:
            if isinstance(value, (list, dict)) or value is None or not _norm(value):
                errors[f"{path}.value"] = "Give one value."
                continue
            values = (_norm(value)[:200],)
        conditions.append(Condition(field, op, values))
    if errors:
        raise RuleError(errors)
    return Rule(match, tuple(conditions))


def describe(rule: Rule) -> str:
    """The rule in words: "region is ouest and attributes.profession is one of judge, prosecutor"."""
    parts = []
    for c in rule.conditions:
        name = c.attribute or c.field.replace("_", " ")
        if c.field in BOOLEAN_FIELDS:
            parts.append(f"{name}: {c.values[0]}")
        elif c.values:
            parts.append(f"{name} {OPS[c.op]} {', '.join(c.values)}")
        else:
            parts.append(f"{name} {OPS[c.op]}")
    return f" {'and' if rule.match == 'all' else 'or'} ".join(parts)
