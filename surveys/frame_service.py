"""Sampling frames of waves in the database, and the flags they put on submissions.

A submission whose stratum, cluster or weight is outside its wave's frame is flagged
``out_of_frame`` (never refused, never dropped: phones, the API and Kobo/ODK imports alike)
and the analysis leaves it out until a supervisor corrects the value
(:func:`correct_design`) or approves the submission as it is (the flag then becomes
``frame_accepted``). A frame that changes re-flags the wave's submissions.

Services take a ``Session`` and keyword-only arguments and never commit.

Public API::

    get_frame(*, session, wave_id) -> Frame                    # empty Frame: the wave has no frame
    list_units(*, session, wave) -> list[SamplingUnit]
    replace_frame(*, session, wave, units, actor, ip="", how="edited") -> int   # submissions re-flagged
    frame_flags(frame, stratum, cluster, weight, accepted=False) -> list[dict]  # the out_of_frame flags
    with_frame_flags(flags, frame_flags) -> list[dict]         # a flag list with its frame flags replaced
    late_flag(wave, ended_at) -> list[dict]                    # after_wave_end, when it applies
    wave_ended(wave, today=None) -> bool                       # past its end date, in Haiti
    field_date(moment=None) -> date                            # the date in Haiti
    correct_design(*, session, submission, stratum, cluster, actor, ip="") -> Submission
    accept_out_of_frame(flags, actor) -> list[dict]            # what approval makes of the flags
    waiting(*, session, survey_id, wave_ids, statuses) -> dict[str, int]   # flagged, by field
    WAITING_FLAG                                               # "out_of_frame"
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, cast, delete, func, or_, select
from sqlmodel import Session, col

from web.accounts.models import User, utcnow
from web.accounts.service import record_audit

from . import rules
from .frame import Frame, Unit
from .models import SamplingUnit, Submission, SubmissionStatus, Wave

__all__ = [
    "WAITING_FLAG",
    "accept_out_of_frame",
    "correct_design",
    "frame_flags",
    "get_frame",
    "field_date",
    "late_flag",
    "wave_ended",
    "list_units",
    "not_waiting",
    "replace_frame",
    "waiting",
    "with_frame_flags",
]

#: Where the interviews happen: a wave's end date is a date there.
FIELD_TIMEZONE = ZoneInfo("America/Port-au-Prince")
#: The flag that keeps a submission out of the analysis until a supervisor decides.
WAITING_FLAG = "out_of_frame"
_FRAME_CODES = frozenset({"out_of_frame", "frame_accepted"})


def get_frame(*, session: Session, wave_id: int) -> Frame:
    """The wave's frame (an empty Frame when it has none)."""
    rows = session.execute(select(SamplingUnit.stratum, SamplingUnit.cluster, SamplingUnit.weight)
                           .where(SamplingUnit.wave_id == wave_id).order_by(SamplingUnit.id)).all()
    return Frame(Unit(s, c, w) for s, c, w in rows)


def list_units(*, session: Session, wave: Wave) -> list[SamplingUnit]:
    return list(session.execute(select(SamplingUnit).where(SamplingUnit.wave_id == wave.id)
                                .order_by(SamplingUnit.id)).scalars())


def frame_flags(frame: Frame, stratum: str, cluster: str, weight: float, accepted: bool = False) -> list[dict[str, Any]]:
    """The frame flag of one interview's design values: ``out_of_frame`` (or ``frame_accepted``
    when a supervisor approved it before), with the field and a sentence; empty when in the frame."""
    problems = frame.problems(stratum, cluster, weight)
    if not problems:
        return []
    first = problems[0]
    code = "frame_accepted" if accepted else WAITING_FLAG
    return [{**rules.flag(code, " ".join(p.message for p in problems)), "field": first.field}]


def with_frame_flags(flags: Iterable[dict[str, Any]], new: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``flags`` with its frame flags replaced by ``new``."""
    return [f for f in flags if f.get("code") not in _FRAME_CODES] + list(new)


def _accepted(flags: Iterable[dict[str, Any]]) -> bool:
    return any(f.get("code") == "frame_accepted" for f in flags)


def field_date(moment: _dt.datetime | None = None) -> _dt.date:
    """The date in the field (Haiti) at ``moment`` (default now); a naive moment is UTC."""
    moment = moment or _dt.datetime.now(_dt.timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.astimezone(FIELD_TIMEZONE).date()


def wave_ended(wave: Wave, today: _dt.date | None = None) -> bool:
    """The wave's last day is past (in the field's time zone)."""
    return wave.ends_on is not None and wave.ends_on < (today or field_date())


def late_flag(wave: Wave, ended_at: _dt.datetime | None) -> list[dict[str, Any]]:
    """``after_wave_end`` when the interview ended after the wave's last day (in the field's time zone)."""
    if wave.ends_on is None or ended_at is None or field_date(ended_at) <= wave.ends_on:
        return []
    return [rules.flag("after_wave_end", f"The interview ended on {field_date(ended_at).isoformat()}, after the wave "
                                         f"ended on {wave.ends_on.isoformat()}.")]


def accept_out_of_frame(flags: Iterable[dict[str, Any]], actor: User | None) -> list[dict[str, Any]]:
    """What a supervisor's approval makes of a submission's flags: ``out_of_frame`` becomes ``frame_accepted``."""
    who = f" by {actor.username}" if actor else ""
    return [{**f, "code": "frame_accepted", "message": f"Approved{who} as it is: {f.get('message', '')}"}
            if f.get("code") == WAITING_FLAG else f for f in flags]


def _audit(session: Session, actor: User | None, action: str, entity: Any, summary: str, ip: str,
           details: dict | None = None) -> None:
    record_audit(session=session, actor=actor, action=action, entity_type=type(entity).__tablename__,
                 entity_id=entity.id, summary=summary, details=details, ip=ip,
                 actor_name=None if actor else "system")


def replace_frame(*, session: Session, wave: Wave, units: Sequence[Unit], actor: User | None, ip: str = "",
                  how: str = "edited") -> int:
    """Make ``units`` the wave's whole frame (none: no frame), then re-flag its submissions.

    ``units`` come checked (:func:`surveys.frame.parse_table`); returns how many submissions'
    flags changed.
    """
    before = len(get_frame(session=session, wave_id=wave.id))
    session.execute(delete(SamplingUnit).where(SamplingUnit.wave_id == wave.id))
    session.add_all([SamplingUnit(wave_id=wave.id, stratum=u.stratum, cluster=u.cluster, weight=u.weight)
                     for u in units])
    session.flush()
    changed = reflag_wave(session=session, wave=wave)
    strata = len({u.stratum for u in units})
    _audit(session, actor, "wave.frame", wave,
           f"Sampling frame of wave {wave.name!r} {how}: {len(units)} units in {strata} strata "
           f"(was {before} units); {changed} submissions re-flagged", ip,
           {"units": len(units), "before": before, "reflagged": changed})
    return changed


def reflag_wave(*, session: Session, wave: Wave) -> int:
    """Recompute the frame flags of the wave's submissions; returns how many changed (their
    ``updated_at`` moves, so cached reports are recomputed)."""
    frame = get_frame(session=session, wave_id=wave.id)
    rows = session.execute(select(Submission.id, Submission.stratum, Submission.cluster, Submission.weight,
                                  Submission.flags).where(Submission.wave_id == wave.id)).all()
    changed = 0
    now = utcnow()
    for sub_id, stratum, cluster, weight, flags in rows:
        flags = flags or []
        new = with_frame_flags(flags, frame_flags(frame, stratum, cluster, weight, accepted=_accepted(flags)))
        if new != flags:
            session.execute(Submission.__table__.update().where(Submission.__table__.c.id == sub_id)
                            .values(flags=new, updated_at=now))
            changed += 1
    if changed:  # the rows changed under the ORM: let loaded submissions of the wave read them again
        for obj in list(session.identity_map.values()):
            if isinstance(obj, Submission) and obj.wave_id == wave.id:
                session.expire(obj, ["flags", "updated_at"])
    return changed


def correct_design(*, session: Session, submission: Submission, stratum: str, cluster: str, actor: User,
                   ip: str = "") -> Submission:
    """A supervisor puts a submission's stratum and cluster right (the frame's weight comes with them);
    the earlier state is kept as a revision and the frame flag recomputed."""
    from .service import SurveyError, _snapshot, submission_design  # noqa: PLC0415 - service imports this module

    stratum, cluster = stratum.strip(), cluster.strip()
    if len(stratum) > 80 or len(cluster) > 80:
        raise SurveyError("A stratum or cluster name has at most 80 characters.")
    frame = get_frame(session=session, wave_id=submission.wave_id)
    if not frame:
        raise SurveyError("This wave has no sampling frame: declare one on the survey's page first.")
    fill = frame.completion(stratum, cluster, weight_given=False)
    stratum = fill.get("stratum", stratum)
    if frame.problems(stratum, cluster, fill.get("weight", submission.weight)):
        raise SurveyError(" ".join(p.message for p in frame.problems(stratum, cluster, submission.weight))
                          + " Choose a stratum and cluster of the frame.")
    old = (submission.stratum, submission.cluster, submission.weight)
    _snapshot(session, submission, actor, f"Design values corrected by {actor.username}")
    submission.stratum, submission.cluster = stratum, cluster
    submission.weight = fill.get("weight", submission.weight)
    submission.revision += 1
    submission.updated_at = utcnow()
    submission.flags = with_frame_flags(submission.flags, [])
    submission.content_hash = rules.content_hash(
        submission.answers, submission_design(submission, submission.wave_id, submission.instrument_version_id))
    session.add(submission)
    session.flush()
    _audit(session, actor, "submission.design", submission,
           f"Stratum/cluster of {submission.uuid} set to {stratum!r}/{cluster!r} (was {old[0]!r}/{old[1]!r})", ip,
           {"before": {"stratum": old[0], "cluster": old[1], "weight": old[2]},
            "after": {"stratum": stratum, "cluster": cluster, "weight": submission.weight}})
    return submission


def _waiting_flag_filter() -> Any:
    # flags are stored as JSON text on both databases: [{"code": "out_of_frame", ...}]
    return cast(Submission.flags, String).like(f'%"{WAITING_FLAG}"%')


def not_waiting() -> Any:
    """The condition of a submission the analysis may count: not waiting for a supervisor."""
    return ~_waiting_flag_filter()


def waiting(*, session: Session, survey_id: int, wave_ids: Sequence[int],
            statuses: Sequence[SubmissionStatus]) -> dict[str, int]:
    """How many of the waves' submissions (of ``statuses``) wait for a supervisor, by the field outside
    the frame (``stratum``, ``cluster`` or ``weight``)."""
    rows = session.execute(select(Submission.flags).where(
        Submission.survey_id == survey_id, col(Submission.wave_id).in_(list(wave_ids)),
        or_(*[Submission.status == s for s in statuses]), _waiting_flag_filter())).scalars().all()
    out: dict[str, int] = {}
    for flags in rows:
        for f in flags or []:
            if f.get("code") == WAITING_FLAG:
                out[f.get("field") or "cluster"] = out.get(f.get("field") or "cluster", 0) + 1
                break
    return out


def count_units(*, session: Session, wave_ids: Sequence[int]) -> dict[int, int]:
    """Units in each wave's frame."""
    if not wave_ids:
        return {}
    return dict(session.execute(select(SamplingUnit.wave_id, func.count()).where(
        col(SamplingUnit.wave_id).in_(list(wave_ids))).group_by(SamplingUnit.wave_id)).all())
