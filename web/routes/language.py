"""Choosing the interface's language: from any page (the login page and the offline form too),
and over the API for the user behind the token."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from ..accounts.models import User, UserPublic
from ..deps import Allow, NotAuthenticated, SessionDep, current_auth, public_csrf
from ..i18n import LOCALES, gettext, use_locale
from ..render import flash
from .auth import _safe_next, remember_language

page = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["account"])
routers = [page, api]


@page.post("/language", dependencies=[Depends(public_csrf)])
def choose_language(
    request: Request, session: SessionDep,
    lang: Annotated[str, Form(max_length=5)] = "", next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    target = _safe_next(next)
    response = RedirectResponse(target, status_code=303)
    if lang not in LOCALES:
        return flash(response, gettext("Choose one of the languages offered."), request)
    try:
        auth = current_auth(request, session)
    except NotAuthenticated:
        auth = None
    if auth is not None:
        auth.user.language = lang  # it follows the user to other browsers and phones
        session.add(auth.user)
        session.commit()
    remember_language(response, request, lang)
    use_locale(lang)  # the flash below is read in the new language
    return flash(response, gettext("The interface is now in English."), request)


class LanguageChoice(BaseModel):
    language: Literal["en", "fr", "ht", "es"] | None = None


@api.put("/me/language", response_model=UserPublic, summary="Set my interface language (null: follow the browser)")
def api_choose_language(session: SessionDep, body: LanguageChoice,
                        user: Annotated[User, Allow("account.manage_own")]) -> User:
    user.language = body.language
    session.add(user)
    session.commit()
    session.refresh(user)
    return user
