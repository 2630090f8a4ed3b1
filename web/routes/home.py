"""The home page: each role's own next work, with counts and links to its queues."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..accounts.models import User
from ..dashboards.activity import recent_activity
from ..dashboards.home import home_cards
from ..deps import Allow, SessionDep
from ..render import render

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["account"])
routers = [router, api]


@router.get("/")
def home(request: Request, session: SessionDep, user: Annotated[User, Allow("home.view")]) -> Response:
    cards = home_cards(session=session, user=user, settings=request.app.state.settings)
    return render(request, "home.html", {"cards": cards, "recent": recent_activity(session=session, user=user)})


@api.get("/home", summary="The caller's home page cards: their queues with counts")
def api_home(request: Request, session: SessionDep, user: Annotated[User, Allow("home.view")]) -> dict:
    cards = home_cards(session=session, user=user, settings=request.app.state.settings)
    return {"role": user.role.value, "cards": [
        {"key": c.key, "title": c.title, "count": c.count, "href": c.href,
         "rows": [{"text": r.text, "href": r.href, "note": r.note} for r in c.rows]} for c in cards]}
