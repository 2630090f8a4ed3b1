"""A wave's sampling frame, as pure rules: which strata and clusters (PSUs) exist, and their weights.

A frame is a list of units, each a cluster of a stratum (either may be empty: a stratified
design without clusters lists strata alone, a clustered design without strata lists
clusters alone) with an optional weight. A wave with no unit has no frame and its design
values are taken as given.

* :func:`parse_table` reads a table (a header row, then one unit a row) into units and a
  row-by-row report; it is all-or-none: one bad row and no unit is returned.
* :class:`Frame` checks an interview's stratum, cluster and weight and says, in plain words,
  what is outside the frame (:meth:`Frame.problems`), and fills a stratum or weight the
  interview left out when the frame leaves no doubt (:meth:`Frame.completion`).

Nothing here touches the database; :mod:`surveys.frame_service` stores frames and flags.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FRAME_FIELDS",
    "MAX_UNITS",
    "Frame",
    "FrameProblem",
    "FrameRow",
    "FrameTable",
    "Unit",
    "parse_table",
    "parse_text",
]

#: The design fields a frame governs.
FRAME_FIELDS = ("stratum", "cluster", "weight")
#: More units than this is not a sampling frame a phone should carry.
MAX_UNITS = 5000
_MAX_TEXT = 80
_HEADERS = {
    "stratum": "stratum", "strata": "stratum", "strate": "stratum", "estrat": "stratum",
    "cluster": "cluster", "psu": "cluster", "grappe": "cluster", "grap": "cluster", "ea": "cluster",
    "weight": "weight", "poids": "weight", "pwa": "weight",
}


# One unit of a frame.
@dataclass(frozen=True, slots=True)
class Unit:
    stratum: str
    cluster: str
    weight: float | None = None


# One design value of an interview outside the frame: the field and a sentence for the supervisor.
@dataclass(frozen=True, slots=True)
class FrameProblem:
    field: str
    message: str


class Frame:
    """The units of one wave's frame, indexed for checking interviews."""

    def __init__(self, units: Iterable[Unit]) -> None:
        self.units: dict[tuple[str, str], Unit] = {(u.stratum, u.cluster): u for u in units}
        self.strata: dict[str, list[str]] = {}
        self.cluster_strata: dict[str, list[str]] = {}
        for stratum, cluster in self.units:
            self.strata.setdefault(stratum, []).append(cluster)
            self.cluster_strata.setdefault(cluster, []).append(stratum)

    def __bool__(self) -> bool:
        return bool(self.units)

    def __len__(self) -> int:
        return len(self.units)

    @property
    def has_strata(self) -> bool:
        return any(s for s in self.strata)

    @property
    def has_clusters(self) -> bool:
        return any(c for c in self.cluster_strata)

    def completion(self, stratum: str, cluster: str, weight_given: bool) -> dict[str, Any]:
        """What to fill in an interview that left out its stratum or weight: the stratum when its
        cluster is in exactly one stratum, the unit's weight when the frame declares one."""
        out: dict[str, Any] = {}
        if not self:
            return out
        if not stratum and cluster and len(self.cluster_strata.get(cluster, ())) == 1:
            stratum = out["stratum"] = self.cluster_strata[cluster][0]
        unit = self.units.get((stratum, cluster))
        if unit is not None and unit.weight is not None and not weight_given:
            out["weight"] = unit.weight
        return out

    def problems(self, stratum: str, cluster: str, weight: float) -> list[FrameProblem]:
        """What is outside the frame in an interview's stratum, cluster and weight (empty: all in it)."""
        if not self:
            return []
        unit = self.units.get((stratum, cluster))
        if unit is None:
            if self.has_strata and stratum not in self.strata:
                if not stratum:
                    return [FrameProblem("stratum", "The interview has no stratum; the sampling frame lists "
                                                    f"{len(self.strata)} strata.")]
                return [FrameProblem("stratum", f"Stratum {stratum!r} is not in the sampling frame.")]
            if not cluster:
                return [FrameProblem("cluster", "The interview has no cluster; the sampling frame lists the clusters "
                                                "of each stratum.")]
            where = f" of stratum {stratum!r}" if stratum else ""
            return [FrameProblem("cluster", f"Cluster {cluster!r} is not in the sampling frame{where}.")]
        if unit.weight is not None and not math.isclose(weight, unit.weight, rel_tol=1e-9):
            return [FrameProblem("weight", f"Weight {weight:g} differs from the sampling frame's {unit.weight:g} "
                                           f"for {_unit_name(unit)}.")]
        return []

    def client(self) -> list[dict[str, Any]]:
        """The frame as the offline form carries it: [{stratum, cluster, weight}], in frame order."""
        return [{"stratum": u.stratum, "cluster": u.cluster, "weight": u.weight} for u in self.units.values()]


def _unit_name(unit: Unit) -> str:
    if unit.stratum and unit.cluster:
        return f"cluster {unit.cluster!r} of stratum {unit.stratum!r}"
    return f"cluster {unit.cluster!r}" if unit.cluster else f"stratum {unit.stratum!r}"


# One row of a frame table as the import report shows it.
@dataclass(frozen=True, slots=True)
class FrameRow:
    line: int
    stratum: str
    cluster: str
    weight: str
    problem: str = ""


# A frame table read: the units (empty when any row is bad) and every row with its problem.
@dataclass
class FrameTable:
    units: list[Unit] = field(default_factory=list)
    rows: list[FrameRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # about the table as a whole, or "line N: ..."

    @property
    def ok(self) -> bool:
        return not self.problems


def _weight(text: str) -> tuple[float | None, str]:
    text = text.strip()
    if not text:
        return None, ""
    try:
        value = float(text.replace(",", ".")) if text.count(",") == 1 and "." not in text else float(text)
    except ValueError:
        return None, f"weight {text!r} is not a number"
    if not math.isfinite(value) or value <= 0:
        return None, f"weight {text!r} must be a number above 0"
    return value, ""


def parse_table(rows: Iterable[Sequence[Any]], *, first_line: int = 1) -> FrameTable:
    """Units from a table: a header row naming ``stratum``, ``cluster`` (or ``psu``) and optionally
    ``weight``, then one unit a row. All or none: any bad row leaves ``units`` empty, and every
    row is reported with its problem (blank rows are skipped)."""
    table = FrameTable()
    iterator = iter(rows)
    header = None
    line = first_line - 1
    for cells in iterator:
        line += 1
        if any(str(c or "").strip() for c in cells):
            header = [str(c or "").strip().lower().lstrip("\ufeff") for c in cells]
            break
    if header is None:
        table.problems.append("The file is empty: give a header row (stratum, cluster, weight) and one row per cluster.")
        return table
    columns: dict[str, int] = {}
    for i, name in enumerate(header):
        key = _HEADERS.get(name)
        if key and key not in columns:
            columns[key] = i
    if "stratum" not in columns and "cluster" not in columns:
        table.problems.append(f"Line {line}: the header names neither a stratum nor a cluster column "
                              f"(found: {', '.join(h for h in header if h) or 'nothing'}).")
        return table
    seen: dict[tuple[str, str], int] = {}
    units: list[Unit] = []

    def cell(cells: Sequence[Any], key: str) -> str:
        i = columns.get(key)
        if i is None or i >= len(cells) or cells[i] is None:
            return ""
        value = cells[i]
        if isinstance(value, float) and value.is_integer() and key != "weight":
            value = int(value)
        return str(value).strip()

    for cells in iterator:
        line += 1
        if not any(str(c or "").strip() for c in cells):
            continue
        stratum, cluster, weight_text = cell(cells, "stratum"), cell(cells, "cluster"), cell(cells, "weight")
        weight, problem = _weight(weight_text)
        if not problem and not stratum and not cluster:
            problem = "a row needs a stratum or a cluster"
        if not problem:
            for name, value in (("stratum", stratum), ("cluster", cluster)):
                if len(value) > _MAX_TEXT:
                    problem = f"{name} is longer than {_MAX_TEXT} characters"
                    break
        if not problem and (stratum, cluster) in seen:
            problem = f"repeats line {seen[(stratum, cluster)]}"
        if problem:
            table.problems.append(f"Line {line}: {problem}.")
        else:
            seen[(stratum, cluster)] = line
            units.append(Unit(stratum, cluster, weight))
        table.rows.append(FrameRow(line, stratum, cluster, weight_text, problem))
    if not table.rows and not table.problems:
        table.problems.append("The file has a header but no cluster: add one row per cluster.")
    if len(units) > MAX_UNITS:
        table.problems.append(f"The frame has {len(units)} units; at most {MAX_UNITS} fit on a phone.")
    if not table.problems:
        table.units = units
    return table


def parse_text(text: str) -> FrameTable:
    """Units typed in a text box: one a line, ``stratum, cluster[, weight]`` (a header line is optional;
    ``;`` or tab may separate the values)."""
    lines = text.splitlines()
    sep = next((s for s in ("\t", ";", ",") if any(s in ln for ln in lines)), ",")
    rows = [[c.strip() for c in ln.split(sep)] for ln in lines]
    first = next((r for r in rows if any(r)), None)
    if first is None or not any(c.lower() in _HEADERS for c in first):
        rows.insert(0, ["stratum", "cluster", "weight"])
        return parse_table(rows, first_line=0)
    return parse_table(rows)

