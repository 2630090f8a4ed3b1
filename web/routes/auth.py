"""Logging in and out in the browser, and the API's OAuth2 password flow."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from ..accounts.service import LoginRefused, authenticate, end_session, start_session
from ..deps import SESSION_COOKIE, SessionDep, _unsign_cookie, client_ip, current_auth, public_csrf, sign_cookie
from ..i18n import LANGUAGE_COOKIE, N_, gettext
from ..render import flash, render

page = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["auth"])
routers = [page, api]


YEAR = 365 * 24 * 3600


def remember_language(response: Response, request: Request, language: str) -> None:
    """The cookie the locale middleware reads: the choice holds on this browser, logged in or not."""
    response.set_cookie(LANGUAGE_COOKIE, language, max_age=YEAR, httponly=True, samesite="lax",
                        secure=request.app.state.settings.https, path="/")


def _safe_next(value: str | None) -> str:
    """Only same-site paths: never redirect a login to another host."""
    if not value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return "/"
    return value


def _login_context(next: str | None, *, error: str | None = None, username: str = "") -> dict:
    safe = _safe_next(next)
    # The language switcher comes back to this login, still headed for the same page.
    return {"next": safe, "username": username, "error": error,
            "here": "/login" if safe == "/" else f"/login?next={quote(safe)}"}


@page.get("/login")
def login_form(request: Request, session: SessionDep, next: str = "/") -> Response:
    if current_auth(request, session):
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "auth/login.html", _login_context(next), block=None)


@page.post("/login", dependencies=[Depends(public_csrf)])
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    settings = request.app.state.settings
    try:
        user = authenticate(
            session=session, username=username, password=password, ip=client_ip(request), channel="browser",
            max_failures=settings.login_max_failures, lockout_seconds=settings.login_lockout_seconds,
        )
    except LoginRefused as refused:
        session.commit()  # the failed attempt is recorded whatever happens next
        status = 429 if refused.reason == "locked" else 400
        headers = {"Retry-After": str(refused.retry_after)} if refused.retry_after else None
        return render(request, "auth/login.html", _login_context(next, error=refused.message, username=username[:64]),
                      status_code=status, block=None, headers=headers)
    token, _row = start_session(session=session, user=user, kind="browser", max_age=settings.session_max_age)
    session.commit()
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE, sign_cookie(request, token, "session"), max_age=settings.session_max_age,
        httponly=True, samesite="lax", secure=settings.https, path="/",
    )
    if user.language:  # the user's own setting wins over this browser's
        remember_language(response, request, user.language)
    return response


@page.post("/logout", dependencies=[Depends(public_csrf)])
def logout(request: Request, session: SessionDep) -> Response:
    token = _unsign_cookie(request, SESSION_COOKIE, "session")
    if token:
        end_session(session=session, token=token)
        session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return flash(response, gettext("You are logged out."), request)


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


@api.post("/token", response_model=Token, summary="Get a bearer token (OAuth2 password flow)")
def token(request: Request, session: SessionDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
    settings = request.app.state.settings
    try:
        user = authenticate(
            session=session, username=form.username, password=form.password, ip=client_ip(request), channel="api",
            max_failures=settings.login_max_failures, lockout_seconds=settings.login_lockout_seconds,
        )
    except LoginRefused as refused:
        session.commit()
        if refused.reason == "locked":
            raise HTTPException(429, refused.message, headers={"Retry-After": str(refused.retry_after)}) from None
        raise HTTPException(401, refused.message, headers={"WWW-Authenticate": "Bearer"}) from None
    secret, _row = start_session(session=session, user=user, kind="api", max_age=settings.api_token_max_age)
    session.commit()
    return Token(access_token=secret, expires_in=settings.api_token_max_age)
