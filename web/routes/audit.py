"""The audit log, for administrators."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from ..accounts.models import AuditEventPublic, User
from ..accounts.service import list_audit
from ..deps import Allow, SessionDep
from ..render import render

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/audit", tags=["audit"])
routers = [router, api]


def _bounds(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    start = datetime.combine(since, datetime.min.time(), tzinfo=timezone.utc) if since else None
    end = datetime.combine(until, datetime.min.time(), tzinfo=timezone.utc) + timedelta(days=1) if until else None
    return start, end


@router.get("/audit")
def audit_page(
    request: Request, session: SessionDep, admin: Annotated[User, Allow("audit.view")],
    actor: str = "", action: str = "", entity_type: str = "",
    since: Annotated[date | None, Query()] = None, until: Annotated[date | None, Query()] = None,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> Response:
    start, end = _bounds(since, until)
    result = list_audit(session=session, actor=actor.strip(), action=action.strip(), entity_type=entity_type.strip(),
                        since=start, until=end, page=page)
    filters = {"actor": actor, "action": action, "entity_type": entity_type,
               "since": since.isoformat() if since else "", "until": until.isoformat() if until else ""}
    return render(request, "audit/list.html", {"result": result, "filters": filters}, block="results")


class AuditList(BaseModel):
    total: int
    page: int
    pages: int
    events: list[AuditEventPublic]


@api.get("", response_model=AuditList, summary="Browse the audit log")
def api_audit(
    session: SessionDep, admin: Annotated[User, Allow("audit.view")],
    actor: str = "", action: str = "", entity_type: str = "",
    since: Annotated[date | None, Query()] = None, until: Annotated[date | None, Query()] = None,
    page: Annotated[int, Query(ge=1, le=100000)] = 1, per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AuditList:
    start, end = _bounds(since, until)
    result = list_audit(session=session, actor=actor, action=action, entity_type=entity_type, since=start, until=end,
                        page=page, per_page=per_page)
    return AuditList(total=result.total, page=result.page, pages=result.pages,
                     events=[AuditEventPublic.model_validate(e, from_attributes=True) for e in result.events])
