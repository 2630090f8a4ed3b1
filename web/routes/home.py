"""The home page: a dashboard per role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func
from sqlmodel import select

from ..accounts.models import AuditEvent, User
from ..deps import Allow, SessionDep
from ..render import render

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["account"])
routers = [router, api]


@router.get("/")
def home(request: Request, session: SessionDep, user: Annotated[User, Allow("home.view")]) -> Response:
    recent = session.exec(
        select(AuditEvent).where(AuditEvent.actor_id == user.id).order_by(AuditEvent.at.desc()).limit(5)  # type: ignore[attr-defined]
    ).all()
    counts = {}
    if user.role.value == "admin":
        counts["active users"] = session.exec(select(func.count()).select_from(User).where(User.is_active == True)).one()  # noqa: E712
    return render(request, "home.html", {"recent": recent, "counts": counts})
