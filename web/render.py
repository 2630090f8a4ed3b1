"""One place decides whether a request gets the whole page or just a block of it.

An HTMX request (``HX-Request`` set, not a history restore) gets the named
block; anything else gets the page. Every response says ``Vary: HX-Request``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from jinja2_fragments.fastapi import Jinja2Blocks

from .accounts.permissions import allowed
from .deps import CSRF_COOKIE, csrf_token, sign_cookie

__all__ = ["NAVIGATION", "flash", "is_htmx", "redirect", "render", "templates"]

TEMPLATES_DIR = Path(__file__).parent / "templates"
templates = Jinja2Blocks(directory=str(TEMPLATES_DIR))
FLASH_COOKIE = "konbit_flash"

# (label, path, permission): what the navigation offers, filtered by the user's role.
NAVIGATION: list[tuple[str, str, str]] = [
    ("Home", "/", "home.view"),
    ("Campaigns", "/campaigns", "campaign.view"),
    ("Content", "/content", "content.view"),
    ("Surveys", "/surveys", "surveys.view"),
    ("Collect", "/collect", "surveys.collect"),
    ("Review", "/review", "surveys.review"),
    ("Analysis", "/analysis", "analysis.view"),
    ("Users", "/users", "users.view"),
    ("Audit log", "/audit", "audit.view"),
    ("My account", "/account", "account.manage_own"),
]


def _format_dt(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.strftime(fmt) + " UTC" if value else ""


templates.env.filters["dt"] = _format_dt
templates.env.globals["allowed"] = allowed


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-history-restore-request") != "true"


def redirect(request: Request, url: str) -> Response:
    """After a successful form post: 303 for a plain form, HX-Redirect for HTMX."""
    from fastapi.responses import RedirectResponse  # noqa: PLC0415

    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def flash(response: Response, message: str, request: Request) -> Response:
    """Carry a one-line message to the next page (post, redirect, get)."""
    response.set_cookie(
        FLASH_COOKIE, quote(sign_cookie(request, message[:300], "flash")), max_age=60, httponly=True,
        samesite="lax", secure=request.app.state.settings.https,
    )
    return response


def _pop_flash(request: Request) -> str | None:
    from urllib.parse import unquote  # noqa: PLC0415

    from itsdangerous import BadSignature, Signer  # noqa: PLC0415

    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        return Signer(request.app.state.settings.secret_key, salt="flash").unsign(unquote(raw)).decode()
    except BadSignature:
        return None


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    block: str | None = "content",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """Render ``template``: the page, or only ``block`` for an HTMX request.

    Pass ``block=None`` for templates that are fragments already (``_x_partial.html``).
    """
    user = request.state._state.get("user")
    ctx: dict[str, Any] = {
        "user": user,
        "csrf_token": csrf_token(request),
        "nav": [(label, path) for label, path, perm in NAVIGATION if user is not None and allowed(user.role, perm)],
        "flash": _pop_flash(request),
        "path": request.url.path,
    }
    ctx.update(context or {})
    kwargs: dict[str, Any] = {}
    if block and is_htmx(request):
        kwargs["block_name"] = block
    response = templates.TemplateResponse(request, template, ctx, status_code=status_code, headers=headers, **kwargs)
    response.headers["Vary"] = "HX-Request"
    response.headers.setdefault("Cache-Control", "no-store")
    if ctx["flash"]:
        response.delete_cookie(FLASH_COOKIE)
    new_csrf = request.state._state.get("new_csrf")
    if new_csrf:
        response.set_cookie(
            CSRF_COOKIE, sign_cookie(request, new_csrf, "csrf"), httponly=True, samesite="lax",
            secure=request.app.state.settings.https,
        )
    return response
