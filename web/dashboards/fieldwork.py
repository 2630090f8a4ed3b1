"""Fieldwork progress of a wave: interviews per day, enumerator and cluster against the target sample.

The target is a number given on the page, else the wave's saved target (``Wave.target_sample``),
else the sample size per wave from the power calculation
(:func:`surveys.stats.power.sample_size_two_proportions`: baseline proportion, the change to
detect, design effect, non-response). Counts are grouped queries
(no submission is read whole); the figures are pure functions of the counts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, case, cast, func, literal_column
from sqlmodel import Session, select

from surveys.frame_service import FIELD_TIMEZONE, field_date
from surveys.models import SamplingUnit, Submission, SubmissionStatus, Survey, Wave
from surveys.stats.power import sample_size_two_proportions

from ..accounts.models import User
from .figures import PALETTE, _chart, _t

__all__ = ["TargetInputs", "fieldwork_charts", "fieldwork_progress", "offset_changes"]


@dataclass(frozen=True)
class TargetInputs:
    """How the target is set: ``n`` as given, else the power calculation's interviews to attempt."""

    n: int | None = None
    p1: float = 0.5
    p2: float = 0.6
    design_effect: float = 2.0
    nonresponse: float = 0.1
    alpha: float = 0.05
    power: float = 0.8

    def target(self) -> tuple[int, str]:
        if self.n:
            return self.n, f"{self.n:,} interviews, as set"
        r = sample_size_two_proportions(self.p1, self.p2, alpha=self.alpha, power=self.power,
                                        design_effect=self.design_effect, nonresponse=self.nonresponse)
        return r.n_inflated, (f"{r.n_inflated:,} interviews to attempt ({r.n:,} completed) to detect a change from "
                              f"{self.p1:.0%} to {self.p2:.0%} with {self.power:.0%} power at {self.alpha:.0%}, "
                              f"design effect {self.design_effect:g}, non-response {self.nonresponse:.0%}")


def _naive_utc(moment: datetime | str) -> datetime:
    if isinstance(moment, str):  # SQLite gives min() of coalesce() back as text
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def offset_changes(zone: tzinfo, first: datetime, last: datetime) -> list[tuple[datetime, timedelta]]:
    """The UTC offsets ``zone`` has from ``first`` to ``last`` (naive UTC moments), as
    ``[(from, offset), ...]``: the first from ``first``, each next one from the second it starts."""
    def offset(moment: datetime) -> timedelta:
        return moment.replace(tzinfo=timezone.utc).astimezone(zone).utcoffset() or timedelta(0)

    changes = [(first, offset(first))]
    moment = first
    while moment < last:
        step = min(moment + timedelta(days=1), last)
        if offset(step) != changes[-1][1]:
            before, after = moment, step  # the change is after ``before``, at or before ``after``
            while after - before > timedelta(seconds=1):
                middle = before + (after - before) / 2
                before, after = (middle, after) if offset(middle) == changes[-1][1] else (before, middle)
            start = after.replace(microsecond=0)  # offsets change on a whole second
            changes.append((start, offset(start)))
        moment = step
    return changes


def _sqlite_modifier(offset: timedelta) -> str:
    return f"{int(offset.total_seconds() // 60):+d} minutes"


def _local_day(session: Session, when: Any, where: tuple, zone: ZoneInfo) -> Any:
    """The SQL expression of ``when``'s date in ``zone``.

    PostgreSQL (``timestamptz`` columns) converts with its own time-zone database. SQLite stores
    UTC text and has no such database: the offsets the zone had between the first and the last
    interview (one more query) become a CASE of date() modifiers, exact across clock changes."""
    if session.get_bind().dialect.name == "postgresql":
        name = literal_column("'" + zone.key.replace("'", "''") + "'")  # a literal: the same text in GROUP BY
        return cast(func.timezone(name, when), Date)
    first, last = session.exec(select(func.min(when), func.max(when)).where(*where)).one()
    if first is None:
        return func.date(when)
    changes = offset_changes(zone, _naive_utc(first), _naive_utc(last))
    if len(changes) == 1:
        return func.date(when, literal_column(f"'{_sqlite_modifier(changes[0][1])}'"))
    normal = func.datetime(when)  # 'YYYY-MM-DD HH:MM:SS' whatever the stored text's form
    whens = [(normal < literal_column(f"'{start:%Y-%m-%d %H:%M:%S}'"), literal_column(f"'{_sqlite_modifier(before)}'"))
             for (_, before), (start, _) in zip(changes, changes[1:])]
    return func.date(when, case(*whens, else_=literal_column(f"'{_sqlite_modifier(changes[-1][1])}'")))


def _target(inputs: TargetInputs, wave: Wave) -> tuple[int, str]:
    """The number given on the page, else the wave's target, else the power calculation's."""
    if not inputs.n and wave.target_sample:
        return wave.target_sample, f"{wave.target_sample:,} interviews, the wave's target"
    return inputs.target()


def fieldwork_progress(*, session: Session, survey: Survey, wave: Wave, inputs: TargetInputs = TargetInputs(),
                       today: date | None = None) -> dict[str, Any]:
    """Counts of ``wave``'s interviews (rejected ones apart) against the target, as a plain dict.

    Days are dates in the field's time zone (:data:`surveys.frame_service.FIELD_TIMEZONE`, the zone
    the wave's end date is in), counted in SQL: one row per day, not per interview. Clusters are
    the wave's sampling frame's (those without an interview too) and any other an interview names."""
    today = today or field_date()
    target, how = _target(inputs, wave)
    base = (Submission.survey_id == survey.id, Submission.wave_id == wave.id)
    counted = (*base, Submission.status != SubmissionStatus.rejected)
    by_status = {getattr(s, "value", s): n for s, n in session.exec(
        select(Submission.status, func.count()).where(*base).group_by(Submission.status)).all()}
    when = func.coalesce(Submission.ended_at, Submission.received_at)  # the interview's day, else its arrival's
    day = _local_day(session, when, counted, FIELD_TIMEZONE).label("day")
    per_day = {(d if isinstance(d, date) else date.fromisoformat(d)): n
               for d, n in session.exec(select(day, func.count()).where(*counted).group_by(day).order_by(day))}
    names = dict(session.exec(select(User.id, User.username)).all())
    enumerators: dict[str, int] = defaultdict(int)
    for uid, name, n in session.exec(select(Submission.enumerator_id, Submission.enumerator_name, func.count())
                                     .where(*counted).group_by(Submission.enumerator_id, Submission.enumerator_name)):
        enumerators[names.get(uid) or name or "(unknown)"] += n
    counts = dict(session.exec(select(Submission.cluster, func.count()).where(*counted).group_by(Submission.cluster)).all())
    frame = [c for c in dict.fromkeys(session.exec(
        select(SamplingUnit.cluster).where(SamplingUnit.wave_id == wave.id).order_by(SamplingUnit.id))) if c]
    clusters = [{"cluster": c, "interviews": counts.pop(c, 0), "in_frame": True} for c in frame]
    # in_frame is False only for a cluster outside the frame of a wave that has one.
    clusters += [{"cluster": c or "(no cluster)", "interviews": n, "in_frame": not frame} for c, n in counts.items()]
    clusters.sort(key=lambda c: -c["interviews"])  # stable: frame order among equals
    done = sum(per_day.values())
    days_left = (wave.ends_on - today).days + 1 if wave.ends_on and wave.ends_on >= today else 0
    remaining = max(0, target - done)
    cumulative, total = [], 0
    for d in sorted(per_day):
        total += per_day[d]
        cumulative.append({"day": d.isoformat(), "interviews": per_day[d], "cumulative": total})
    n_clusters = len(frame) or len([c for c in clusters if c["cluster"] != "(no cluster)"])
    return {
        "survey": {"id": survey.id, "title": survey.title}, "wave": {"id": wave.id, "name": wave.name,
                                                                    "starts_on": wave.starts_on and wave.starts_on.isoformat(),
                                                                    "ends_on": wave.ends_on and wave.ends_on.isoformat(),
                                                                    "is_open": wave.is_open,
                                                                    "target_sample": wave.target_sample},
        "target": target, "target_how": how, "done": done, "remaining": remaining, "share": done / target if target else 0,
        "days_left": days_left, "needed_per_day": (remaining / days_left) if days_left else None,
        "rejected": by_status.get("rejected", 0), "by_status": by_status, "by_day": cumulative,
        "enumerators": sorted(({"name": k, "interviews": v} for k, v in enumerators.items()), key=lambda e: -e["interviews"]),
        "clusters": clusters, "has_frame": bool(frame),
        "target_clusters": n_clusters, "cluster_target": (target / n_clusters) if n_clusters else None,
        "today": today.isoformat(), "time_zone": FIELD_TIMEZONE.key,
    }


def fieldwork_charts(progress: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Cumulative interviews against the target; interviews per enumerator and per cluster."""
    out: dict[str, dict[str, Any]] = {}
    days, target = progress["by_day"], progress["target"]
    if days:
        x = [d["day"] for d in days]
        ends = progress["wave"]["ends_on"]
        data = [{"type": "bar", "name": "interviews that day", "x": x, "y": [d["interviews"] for d in days],
                 "marker": {"color": PALETTE["sky"]}},
                {"type": "scatter", "mode": "lines+markers", "name": "cumulative", "x": x,
                 "y": [d["cumulative"] for d in days], "line": {"color": PALETTE["blue"], "width": 3}},
                {"type": "scatter", "mode": "lines", "name": "target", "x": [x[0], ends or x[-1]], "y": [target, target],
                 "line": {"color": PALETTE["vermillion"], "dash": "dash"}}]
        left = progress["days_left"]
        if left and progress["remaining"] and ends:  # the pace that reaches the target on the wave's last day
            data.append({"type": "scatter", "mode": "lines", "name": f"needed: {progress['needed_per_day']:,.0f} a day",
                         "x": [progress["today"], ends], "y": [progress["done"], target],
                         "line": {"color": PALETTE["vermillion"], "dash": "dot"}})
        title = (f"{progress['done']:,} of {target:,} interviews ({progress['share']:.0%})"
                 + (f"; {progress['remaining']:,} to go in {left} days ({progress['needed_per_day']:.0f} a day)"
                    if left and progress["remaining"] else "; target reached" if not progress["remaining"] else
                    "; the wave has ended" if ends else "; the wave has no end date"))
        out["progress"] = _chart("progress", title, data, {
            "xaxis": {"title": {"text": f"day of the interview ({progress['time_zone']} time)"}, "type": "date"},
            "yaxis": {"title": {"text": "interviews"}}},
            ["Day", "Interviews", "Cumulative"], [[d["day"], d["interviews"], d["cumulative"]] for d in days])
    rows = progress["enumerators"]
    if rows:
        top = rows[0]
        out["enumerators"] = _chart("enumerators", f"{len(rows)} enumerators; most interviews: {top['name']} "
                                    f"({top['interviews']:,})", [
            {"type": "bar", "orientation": "h", "name": "interviews", "y": [_t(r["name"]) for r in rows],
             "x": [r["interviews"] for r in rows], "marker": {"color": PALETTE["blue"]}}],
            {"xaxis": {"title": {"text": "interviews (not rejected)"}},
             "yaxis": {"title": {"text": "enumerator"}, "automargin": True, "autorange": "reversed"},
             "height": max(260, 80 + 24 * len(rows)), "showlegend": False},
            ["Enumerator", "Interviews"], [[r["name"], r["interviews"]] for r in rows])
    rows, each, framed = progress["clusters"], progress["cluster_target"], progress["has_frame"]
    if rows:
        top, empty = rows[0], sum(1 for r in rows if not r["interviews"])
        title = f"{len(rows)} clusters; most interviews: {top['cluster']} ({top['interviews']:,})"
        outside = sum(1 for r in rows if not r["in_frame"])
        if empty:
            title += f"; {empty} of the sampling frame without an interview"
        if outside:
            title += f"; {outside} outside the frame (orange)"
        if each:
            title += f"; target {each:,.0f} a cluster"
        layout: dict[str, Any] = {
            "xaxis": {"title": {"text": "interviews (not rejected)"}},
            "yaxis": {"title": {"text": "cluster"}, "automargin": True, "autorange": "reversed"},
            "height": max(260, 80 + 24 * len(rows)), "showlegend": False}
        if each:
            layout["shapes"] = [{"type": "line", "xref": "x", "yref": "paper", "x0": each, "x1": each, "y0": 0, "y1": 1,
                                 "line": {"color": PALETTE["vermillion"], "dash": "dash"}}]
        out["clusters"] = _chart("clusters", title, [
            {"type": "bar", "orientation": "h", "name": "interviews", "y": [_t(r["cluster"]) for r in rows],
             "x": [r["interviews"] for r in rows],
             "marker": {"color": [PALETTE["blue"] if r["in_frame"] else PALETTE["orange"] for r in rows]}}],
            layout, ["Cluster", "Interviews", "Target"] + (["In the sampling frame"] if framed else []),
            [[r["cluster"], r["interviews"], round(each) if each else ""] + (["yes" if r["in_frame"] else "no"] if framed else [])
             for r in rows])
    return out
