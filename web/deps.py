"""Request dependencies: the database session, who is asking, what they may do, CSRF.

Routes read like sentences::

    @router.get("/users")
    def users(request: Request, session: SessionDep, user: Annotated[User, Allow("users.view")]): ...

``Allow`` is the only way a route checks a role; the permission it names comes
from :data:`web.accounts.permissions.PERMISSIONS`, and the route walk in the
tests finds it on every route.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import AsyncIterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request
from itsdangerous import BadSignature, Signer
from pydantic import BeforeValidator, Field
from sqlmodel import Session

from .accounts.models import AuthSession, User
from .accounts.permissions import PERMISSIONS, allowed
from .accounts.service import resolve_token
from .db import session_scope
from .i18n import N_

__all__ = [
    "Allow",
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "CsrfError",
    "NotAuthenticated",
    "public_csrf",
    "SessionDep",
    "client_ip",
    "csrf_token",
    "current_auth",
    "verify_csrf",
]

SESSION_COOKIE = "konbit_session"
CSRF_COOKIE = "konbit_csrf"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class NotAuthenticated(HTTPException):
    def __init__(self, detail: str = "Please log in to continue."):
        super().__init__(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


class CsrfError(HTTPException):
    def __init__(self) -> None:
        super().__init__(
            status_code=403,
            detail="This form has expired or did not come from Konbit (missing or wrong CSRF token). "
            "Reload the page and try again.",
        )


@dataclass(frozen=True, slots=True)
class Auth:
    user: User
    row: AuthSession
    via: str  # "cookie" or "bearer"


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's session. Async so that opening and closing it costs no worker-thread hop
    (FastAPI runs a sync dependency's set-up and tear-down in the thread pool, one hop each): a
    Session touches the database only once it is used, and closing it only hands its
    connection back to the pool."""
    with contextmanager(session_scope)(request.app.state.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def _signer(request: Request, salt: str) -> Signer:
    return Signer(request.app.state.settings.secret_key, salt=salt)


def sign_cookie(request: Request, value: str, salt: str) -> str:
    return _signer(request, salt).sign(value).decode()


def _unsign_cookie(request: Request, name: str, salt: str) -> str | None:
    raw = request.cookies.get(name)
    if not raw:
        return None
    try:
        return _signer(request, salt).unsign(raw).decode()
    except BadSignature:
        return None


def current_auth(request: Request, session: Session) -> Auth | None:
    """Who is asking: a bearer token first, else the browser session cookie. Cached per request."""
    if "auth" in request.state._state:
        return request.state.auth
    settings = request.app.state.settings
    auth = None
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        found = resolve_token(session=session, token=token.strip(), kind="api")
        if found is None:
            session.commit()  # keep the clean-up of an expired token
            raise NotAuthenticated("The access token is unknown, expired or revoked. Ask for a new one at /api/v1/token.")
        auth = Auth(found[0], found[1], "bearer")
    else:
        token = _unsign_cookie(request, SESSION_COOKIE, "session")
        if token:
            found = resolve_token(session=session, token=token, kind="browser", idle_timeout=settings.session_idle_timeout)
            if found is None:
                request.state.session_expired = True
            else:
                auth = Auth(found[0], found[1], "cookie")
            session.commit()  # last-seen update or removal of the stale row
    request.state.auth = auth
    request.state.user = auth.user if auth else None
    return auth


def csrf_token(request: Request) -> str:
    """The token this page's forms and HTMX requests must send back."""
    auth = request.state._state.get("auth")
    if auth is not None and auth.via == "cookie":
        return auth.row.csrf_token
    token = _unsign_cookie(request, CSRF_COOKIE, "csrf")
    if token is None:
        token = request.state._state.get("new_csrf") or secrets.token_urlsafe(32)
        request.state.new_csrf = token  # the render helper sets the cookie
    return token


async def verify_csrf(request: Request, expected: str | None) -> None:
    """Compare the X-CSRF-Token header, or the form field csrf_token, with ``expected``."""
    sent = request.headers.get("x-csrf-token")
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfError()


async def public_csrf(request: Request, session: SessionDep) -> None:
    """CSRF check for the public forms (login, logout): the session's token, else the double-submit cookie."""
    if request.method in UNSAFE_METHODS:
        try:
            auth = current_auth(request, session)
        except NotAuthenticated:
            auth = None
        expected = auth.row.csrf_token if auth and auth.via == "cookie" else _unsign_cookie(request, CSRF_COOKIE, "csrf")
        await verify_csrf(request, expected)


def Allow(permission: str) -> Any:  # noqa: N802 - reads as a declaration
    """A dependency that lets in only users whose role holds ``permission``."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    async def check(request: Request, session: SessionDep) -> User:
        auth = current_auth(request, session)
        if auth is None:
            if request.state._state.get("session_expired"):
                raise NotAuthenticated("Your session has expired. Please log in again.")
            raise NotAuthenticated()
        if auth.via == "cookie" and request.method in UNSAFE_METHODS:
            await verify_csrf(request, auth.row.csrf_token)
        if not allowed(auth.user.role, permission):
            raise HTTPException(status_code=403, detail=N_("Your role does not allow this."))
        return auth.user

    check.permission = permission  # type: ignore[attr-defined]
    return Depends(check)


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


#: An optional id in a query string, as a filter form sends it: its "All" option is ``name=``,
#: which means no filter, not a 422 (HTMX swaps the answer in place of the page part).
OptionalIdQuery = Annotated[Annotated[int, Field(ge=1, le=2**31 - 1)] | None, BeforeValidator(_blank_is_none), Query()]
