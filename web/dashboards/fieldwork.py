"""Fieldwork progress of a wave: interviews per day, enumerator and cluster against the target sample.

The target is the sample size per wave from the power calculation
(:func:`surveys.stats.power.sample_size_two_proportions`: baseline proportion, the change to
detect, design effect, non-response), or a number given as it is. Counts are grouped queries
(no submission is read whole); the figures are pure functions of the counts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from surveys.models import Submission, SubmissionStatus, Survey, Wave
from surveys.stats.power import sample_size_two_proportions

from ..accounts.models import User
from .figures import PALETTE, _chart, _t

__all__ = ["TargetInputs", "fieldwork_charts", "fieldwork_progress"]


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


def _day(moment: datetime | str) -> date:
    if isinstance(moment, str):  # SQLite gives coalesce() back as text
        moment = datetime.fromisoformat(moment)
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return aware.astimezone(timezone.utc).date()


def fieldwork_progress(*, session: Session, survey: Survey, wave: Wave, inputs: TargetInputs = TargetInputs(),
                       today: date | None = None) -> dict[str, Any]:
    """Counts of ``wave``'s interviews (rejected ones apart) against the target, as a plain dict."""
    today = today or datetime.now(timezone.utc).date()
    target, how = inputs.target()
    base = (Submission.survey_id == survey.id, Submission.wave_id == wave.id)
    counted = (*base, Submission.status != SubmissionStatus.rejected)
    by_status = {getattr(s, "value", s): n for s, n in session.exec(
        select(Submission.status, func.count()).where(*base).group_by(Submission.status)).all()}
    per_day: dict[date, int] = defaultdict(int)
    when = func.coalesce(Submission.ended_at, Submission.received_at)  # the interview's day, else its arrival's
    for moment, n in session.exec(select(when, func.count()).where(*counted).group_by(when)):
        per_day[_day(moment)] += n
    names = dict(session.exec(select(User.id, User.username)).all())
    enumerators: dict[str, int] = defaultdict(int)
    for uid, name, n in session.exec(select(Submission.enumerator_id, Submission.enumerator_name, func.count())
                                     .where(*counted).group_by(Submission.enumerator_id, Submission.enumerator_name)):
        enumerators[names.get(uid) or name or "(unknown)"] += n
    clusters = {c or "(no cluster)": n for c, n in session.exec(
        select(Submission.cluster, func.count()).where(*counted).group_by(Submission.cluster)).all()}
    done = sum(per_day.values())
    days_left = (wave.ends_on - today).days + 1 if wave.ends_on and wave.ends_on >= today else 0
    remaining = max(0, target - done)
    cumulative, total = [], 0
    for d in sorted(per_day):
        total += per_day[d]
        cumulative.append({"day": d.isoformat(), "interviews": per_day[d], "cumulative": total})
    return {
        "survey": {"id": survey.id, "title": survey.title}, "wave": {"id": wave.id, "name": wave.name,
                                                                    "starts_on": wave.starts_on and wave.starts_on.isoformat(),
                                                                    "ends_on": wave.ends_on and wave.ends_on.isoformat(),
                                                                    "is_open": wave.is_open},
        "target": target, "target_how": how, "done": done, "remaining": remaining, "share": done / target if target else 0,
        "days_left": days_left, "needed_per_day": (remaining / days_left) if days_left else None,
        "rejected": by_status.get("rejected", 0), "by_status": by_status, "by_day": cumulative,
        "enumerators": sorted(({"name": k, "interviews": v} for k, v in enumerators.items()), key=lambda e: -e["interviews"]),
        "clusters": sorted(({"cluster": k, "interviews": v} for k, v in clusters.items()), key=lambda c: -c["interviews"]),
        "today": today.isoformat(),
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
        title = (f"{progress['done']:,} of {target:,} interviews ({progress['share']:.0%})"
                 + (f"; {progress['remaining']:,} to go in {left} days ({progress['needed_per_day']:.0f} a day)"
                    if left and progress["remaining"] else "; target reached" if not progress["remaining"] else
                    "; the wave has ended" if ends else "; the wave has no end date"))
        out["progress"] = _chart("progress", title, data, {
            "xaxis": {"title": {"text": "day of the interview (UTC)"}, "type": "date"},
            "yaxis": {"title": {"text": "interviews"}}},
            ["Day", "Interviews", "Cumulative"], [[d["day"], d["interviews"], d["cumulative"]] for d in days])
    for key, label, field in (("enumerators", "enumerator", "name"), ("clusters", "cluster", "cluster")):
        rows = progress[key]
        if not rows:
            continue
        top = rows[0]
        out[key] = _chart(key, f"{len(rows)} {label}s; most interviews: {top[field]} ({top['interviews']:,})", [
            {"type": "bar", "orientation": "h", "name": "interviews", "y": [_t(r[field]) for r in rows],
             "x": [r["interviews"] for r in rows], "marker": {"color": PALETTE["blue"]}}],
            {"xaxis": {"title": {"text": "interviews (not rejected)"}},
             "yaxis": {"title": {"text": label}, "automargin": True, "autorange": "reversed"},
             "height": max(260, 80 + 24 * len(rows)), "showlegend": False},
            [label.capitalize(), "Interviews"], [[r[field], r["interviews"]] for r in rows])
    return out
