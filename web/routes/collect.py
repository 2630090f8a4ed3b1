"""Enumerator data entry: the open surveys, the offline form, corrections, the service worker.

The form itself runs in the browser (``web/static/js/collect.js``) so that it works with
no connection: the page embeds the instrument as JSON, with every relevance, constraint
and calculation already parsed into the expression trees that ``XLSExpr`` evaluates.
Finished interviews wait in the browser's IndexedDB (``offline-queue.js``) and are
posted to the submissions API; the service worker (``/sw.js``) keeps the pages and
assets for offline use.
"""

from __future__ import annotations

import hashlib
import logging
import re
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import func
from sqlmodel import Session, col, select

from audiences.segments import HAITI_DEPARTMENTS, translated_names
from audiences.service import segment_names
from surveys import expressions, frame_service, service
from surveys.models import InstrumentVersion, Submission, SubmissionStatus, Survey, Wave, WaveDesign

from ..accounts.models import User
from ..assets import get_index
from ..deps import Allow, SessionDep, csrf_token
from ..render import render

__all__ = ["client_spec", "routers"]

log = logging.getLogger("konbit.web")
router = APIRouter(include_in_schema=False)
routers = [router]

SW_SCOPE = "/collect"

# Design fields offered on the first screen of every interview.
SEXES = ("female", "male", "other", "no_answer")
AGE_GROUPS = ("15-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
ARMS = ("intervention", "comparison")
STATUS_BADGES = {
    SubmissionStatus.received: ("Received", ""),
    SubmissionStatus.has_issues: ("Has issues", "warn"),
    SubmissionStatus.approved: ("Approved", "ok"),
    SubmissionStatus.rejected: ("Rejected", "err"),
}
# Item fields the form needs; KAP scoring keys stay on the server.
_CLIENT_ITEM_FIELDS = ("code", "type", "labels", "hints", "choice_list", "required", "required_message",
                       "constraint_message", "default", "appearance", "parameters")


def _tree(text: str | None, where: str, problems: list[str]) -> Any:
    """The JSON expression tree of ``text`` (None when empty); a broken one is reported, not fatal."""
    if not text or not text.strip():
        return None
    try:
        return expressions.to_json(expressions.parse(text))
    except expressions.ExpressionError as err:
        problems.append(f"{where}: {err}")
        return None


def _section_relevant(section: dict[str, Any]) -> str | None:
    """The section's relevant and those of the groups around it (nested groups), joined by and."""
    parts = [g.get("relevant") for g in section.get("parents") or [] if isinstance(g, dict)]
    parts = [p for p in (*parts, section.get("relevant")) if p and str(p).strip()]
    if len(parts) <= 1:
        return parts[0] if parts else None
    return " and ".join(f"({p})" for p in parts)


def client_spec(spec: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """What the browser needs of an instrument (``spec_to_dict`` layout), expressions parsed.

    Returns the JSON-safe dict and the expressions that could not be parsed (those act as
    absent: the item is always shown, the answer always accepted).
    """
    problems: list[str] = []
    sections: list[dict[str, Any]] = []
    for number, section in enumerate(spec.get("sections", []), start=1):
        path = [g for g in section.get("parents") or [] if isinstance(g, dict)]
        if section.get("name"):
            path.append({"name": section.get("name"), "labels": section.get("labels") or {},
                         "relevant": section.get("relevant"), "repeat": bool(section.get("repeat")),
                         "extra": section.get("extra") or {}})
        repeat_at = [i for i, g in enumerate(path) if g.get("repeat")]
        if len(repeat_at) > 1:
            continue  # a repeat inside a repeat: not collected yet (see surveys.limits)
        inner: list[str] = []
        if repeat_at:
            # The sections of a repeat make one screen: each repetition asks all of its questions.
            # Relevants of the groups around the repeat (and its own) hide the screen; those of groups
            # inside it go with each item, evaluated per repetition.
            group = path[repeat_at[0]]
            inner = [str(g["relevant"]) for g in path[repeat_at[0] + 1:] if g.get("relevant")]
            if not (sections and (sections[-1].get("repeat") or {}).get("name") == group["name"]):
                outer = [str(g["relevant"]) for g in path[: repeat_at[0] + 1] if g.get("relevant")]
                count = (group.get("extra") or {}).get("repeat_count")
                sections.append({
                    "name": group["name"], "labels": group.get("labels") or {},
                    "relevant": _tree(" and ".join(f"({r})" for r in outer) if outer else None,
                                      f"repeat {group['name']} relevant", problems),
                    "repeat": {"name": group["name"], "count": _tree(count, f"repeat {group['name']} repeat_count",
                                                                     problems)},
                    "items": [],
                })
        items = sections[-1]["items"] if repeat_at else []
        for item in section.get("items", []):
            out = {key: item.get(key) for key in _CLIENT_ITEM_FIELDS}
            code = item.get("code", "?")
            own = [*inner, item["relevant"]] if item.get("relevant") else inner
            relevant = " and ".join(f"({r})" for r in own) if len(own) > 1 else (own[0] if own else None)
            out["relevant"] = _tree(relevant, f"{code} relevant", problems)
            out["constraint"] = _tree(item.get("constraint"), f"{code} constraint", problems)
            out["calculation"] = _tree(item.get("calculation"), f"{code} calculation", problems)
            out["choice_filter"] = _tree(item.get("choice_filter"), f"{code} choice_filter", problems)
            items.append(out)
        if repeat_at:
            continue
        sections.append({
            "name": section.get("name") or f"section_{number}",
            "labels": section.get("labels") or {},
            "relevant": _tree(_section_relevant(section), f"section {section.get('name') or number} relevant", problems),
            "items": items,
        })
    languages = list(spec.get("languages") or []) or [spec.get("default_language") or "en"]
    return {
        "title": spec.get("title", ""),
        "default_language": spec.get("default_language") or languages[0],
        "languages": languages,
        "language_names": spec.get("language_names") or {},
        "sections": sections,
        "choice_lists": spec.get("choice_lists") or {},
    }, problems


def _latest_versions(session: Session, survey_ids: list[int]) -> dict[int, InstrumentVersion]:
    if not survey_ids:
        return {}
    latest = (
        select(InstrumentVersion.survey_id, func.max(InstrumentVersion.version).label("v"))
        .where(col(InstrumentVersion.survey_id).in_(survey_ids))
        .group_by(InstrumentVersion.survey_id)
        .subquery()
    )
    rows = session.exec(
        select(InstrumentVersion).join(
            latest, (InstrumentVersion.survey_id == latest.c.survey_id) & (InstrumentVersion.version == latest.c.v)
        )
    ).all()
    return {v.survey_id: v for v in rows}


def _open_waves(session: Session) -> list[tuple[Survey, Wave, InstrumentVersion]]:
    """The waves enumerators may start interviews in: open, and not past their end date."""
    today = frame_service.field_date()
    rows = session.exec(
        select(Survey, Wave).join(Wave, Wave.survey_id == Survey.id).where(
            Wave.is_open == True, col(Wave.ends_on).is_(None) | (col(Wave.ends_on) >= today))  # noqa: E712
        .order_by(col(Survey.title), col(Wave.starts_on), col(Wave.id))
    ).all()
    versions = _latest_versions(session, sorted({s.id for s, _ in rows if s.id is not None}))
    return [(s, w, versions[s.id]) for s, w in rows if s.id in versions]


def _form_context(session: Session, survey_id: int, wave_id: int) -> tuple[Survey, Wave, InstrumentVersion]:
    survey = session.get(Survey, survey_id)
    wave = session.get(Wave, wave_id)
    if survey is None or wave is None or wave.survey_id != survey.id:
        raise HTTPException(404, "There is no such survey wave.")
    version = _latest_versions(session, [survey_id]).get(survey_id)
    if version is None:
        raise HTTPException(404, "This survey has no questionnaire yet.")
    return survey, wave, version


def _design_choices(session: Session) -> dict[str, Any]:
    return {
        # [code, {language: name}]: the form shows the name in the interview's language
        "segments": [[code, translated_names(code, label)]
                     for code, label in segment_names(session=session, include_archived=False).items()],
        "sexes": list(SEXES),
        "age_groups": list(AGE_GROUPS),
        "arms": list(ARMS),
        "regions": list(HAITI_DEPARTMENTS),
    }


def _page_data(
    *, session: Session, user: User, survey: Survey, wave: Wave, version: InstrumentVersion, form: dict[str, Any],
    correction: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "survey_id": survey.id,
        "survey_title": survey.title,
        "wave_id": wave.id,
        "wave": {"name": wave.name, "kind": wave.kind.value, "design": wave.design.value},
        "instrument_version_id": version.id,
        "version": version.version,
        "form_url": f"/collect/{survey.id}/{wave.id}",
        "submit_url": f"/api/v1/surveys/{survey.id}/submissions",
        "username": user.username,
        "design": _design_choices(session),
        # the wave's sampling frame: the form offers its clusters, and checks them offline too
        "frame": frame_service.get_frame(session=session, wave_id=wave.id).client(),
        "form": form,
        "correction": correction,
    }


#: How many of an enumerator's submissions /collect shows at first, and then per "More".
PAGE_SIZE = 20


def _own_submissions(session: Session, user: User, *, offset: int = 0, limit: int = PAGE_SIZE,
                     status: SubmissionStatus | None = None) -> list[tuple[Submission, str, str]]:
    query = (
        select(Submission, Survey.title, Wave.name)
        .join(Survey, Survey.id == Submission.survey_id)
        .join(Wave, Wave.id == Submission.wave_id)
        .where(Submission.enumerator_id == user.id)
    )
    if status is not None:
        query = query.where(Submission.status == status)
    rows = session.exec(query.order_by(col(Submission.received_at).desc(), col(Submission.id).desc())
                        .offset(offset).limit(limit)).all()
    return [(s, title, wave) for s, title, wave in rows]


def _own_counts(session: Session, user: User) -> dict[str, int]:
    rows = session.exec(select(Submission.status, func.count()).where(Submission.enumerator_id == user.id)
                        .group_by(Submission.status)).all()
    return {SubmissionStatus(status).value: n for status, n in rows}


@router.get("/collect")
def collect_home(request: Request, session: SessionDep, user: Annotated[User, Allow("surveys.collect")],
                 offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> Response:
    """The open waves, the phone's queue and the enumerator's latest submissions (``offset``: older ones,
    for a browser without JavaScript; "More" fetches them with HTMX from /collect/submissions)."""
    counts = _own_counts(session, user)
    return render(request, "collect/home.html", {
        "waves": _open_waves(session),
        "submissions": _own_submissions(session, user, offset=offset),
        "sent_back": _own_submissions(session, user, status=SubmissionStatus.has_issues, limit=100),
        "status_counts": counts,
        "total": sum(counts.values()),
        "next_offset": offset + PAGE_SIZE,
        "badges": STATUS_BADGES,
        "segments": segment_names(session=session),
    })


@router.get("/collect/submissions")
def collect_more(request: Request, session: SessionDep, user: Annotated[User, Allow("surveys.collect")],
                 offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> Response:
    """The next page of the enumerator's submissions (HTMX: the rows and the next "More" button)."""
    total = sum(_own_counts(session, user).values())
    return render(request, "collect/_submissions_partial.html", {
        "submissions": _own_submissions(session, user, offset=offset), "total": total,
        "next_offset": offset + PAGE_SIZE, "badges": STATUS_BADGES, "segments": segment_names(session=session),
    }, block=None)


@router.get("/collect/token")
def collect_token(request: Request, user: Annotated[User, Allow("surveys.collect")]) -> Response:
    """A fresh CSRF token for the send queue, whose page may come from the offline cache."""
    return JSONResponse({"csrf_token": csrf_token(request), "username": user.username},
                        headers={"Cache-Control": "no-store"})


@router.get("/collect/submissions/{submission_id}")
def collect_correction(
    request: Request, session: SessionDep, submission_id: int, user: Annotated[User, Allow("surveys.collect")],
) -> Response:
    """One of the enumerator's own submissions; its enumerator corrects it while received or sent back."""
    submission = session.get(Submission, submission_id)
    if submission is None or submission.enumerator_id != user.id:
        raise HTTPException(404, "There is no such submission among yours.")
    survey = session.get(Survey, submission.survey_id)
    wave = session.get(Wave, submission.wave_id)
    version = session.get(InstrumentVersion, submission.instrument_version_id)
    if survey is None or wave is None or version is None:
        raise HTTPException(404, "The survey of this submission no longer exists.")
    form, problems = client_spec(version.spec)
    editable = service.can_correct(submission, user)
    correction = {
        "submission_id": submission.id,
        "uuid": submission.uuid,
        "revision": submission.revision,
        "editable": editable,
        "url": f"/api/v1/submissions/{submission.id}",
        "method": "PATCH",
        "comment": submission.review_comment,
        "answers": submission.answers,
        "language": submission.language,
        "started_at": submission.started_at.isoformat() if submission.started_at else None,
        "ended_at": submission.ended_at.isoformat() if submission.ended_at else None,
        "design": {key: getattr(submission, key) for key in (
            "segment", "region", "cluster", "stratum", "respondent_code", "arm", "sex", "age_group")},
    }
    data = _page_data(session=session, user=user, survey=survey, wave=wave, version=version, form=form, correction=correction)
    return render(request, "collect/form.html", {
        "survey": survey, "wave": wave, "version": version, "data": data, "problems": problems,
        "submission": submission, "badges": STATUS_BADGES, "editable": editable, "panel": wave.design == WaveDesign.panel,
    })


@router.get("/collect/{survey_id}/{wave_id}")
def collect_form(
    request: Request, session: SessionDep, survey_id: int, wave_id: int, user: Annotated[User, Allow("surveys.collect")],
    draft: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    survey, wave, version = _form_context(session, survey_id, wave_id)
    ended = frame_service.wave_ended(wave)
    # An interview begun on the phone before the end date may still be finished (it arrives flagged if late).
    if not wave.is_open or (ended and not draft):
        # a stale link (or a bookmark): no new interview; those already on the phone are still sent
        ended = wave.is_open
        return render(request, "collect/closed.html", {"survey": survey, "wave": wave, "ended": ended},
                      status_code=410 if ended else 404)
    form, problems = client_spec(version.spec)
    if problems:
        log.warning("instrument version %s has unparsable expressions: %s", version.id, problems)
    data = _page_data(session=session, user=user, survey=survey, wave=wave, version=version, form=form)
    return render(request, "collect/form.html", {
        "survey": survey, "wave": wave, "version": version, "data": data, "problems": problems,
        "submission": None, "badges": STATUS_BADGES, "editable": True, "panel": wave.design == WaveDesign.panel,
        "ended": ended,
    })


@cache
def service_worker_source() -> bytes:
    """static/sw.js with each asset under its content-hashed URL and a VERSION made from them."""
    index = get_index()
    urls: list[str] = []

    def hashed(match: re.Match[str]) -> str:
        urls.append(index.url(match.group(1)))
        return f"'{urls[-1]}'"

    source = re.sub(r"'/static/([^']+)'", hashed, index.assets["sw.js"].body.decode())
    version = hashlib.sha256(source.encode()).hexdigest()[:10]
    return source.replace("var VERSION = 'konbit-collect-v1';", f"var VERSION = 'konbit-collect-{version}';").encode()


@router.get("/sw.js")
def service_worker(request: Request) -> Response:
    """The offline service worker: public (a worker script holds no data), revalidated on every use.

    The browser checks it at each page it controls; the ETag makes that check a 304 of a few
    hundred bytes instead of the whole script."""
    body = service_worker_source()
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
    headers = {"Cache-Control": "no-cache", "Service-Worker-Allowed": SW_SCOPE, "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/javascript", headers=headers)
