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

from . import i18n
from .accounts.permissions import allowed
from .assets import static_url
from .charts import plotly_css
from .deps import CSRF_COOKIE, csrf_token, sign_cookie
from .i18n import N_

__all__ = ["NAVIGATION", "flash", "is_htmx", "redirect", "render", "templates"]

TEMPLATES_DIR = Path(__file__).parent / "templates"
templates = Jinja2Blocks(directory=str(TEMPLATES_DIR))
FLASH_COOKIE = "konbit_flash"

# (label, path, permission): what the navigation offers, filtered by the user's role.
NAVIGATION: list[tuple[str, str, str]] = [
    (N_("Home"), "/", "home.view"),
    (N_("Campaigns"), "/campaigns", "campaign.view"),
    (N_("Content"), "/content", "content.view"),
    (N_("Surveys"), "/surveys", "surveys.view"),
    (N_("Collect"), "/collect", "surveys.collect"),
    (N_("Review"), "/review", "surveys.review"),
    (N_("Content review"), "/content/review", "content.approve"),
    (N_("Analysis"), "/analysis", "analysis.view"),
    (N_("Users"), "/users", "users.view"),
    (N_("Audit log"), "/audit", "audit.view"),
    (N_("My account"), "/account", "account.manage_own"),
]


#: Seconds a user's menu counts are kept before they are counted again.
MENU_COUNTS_TTL = 20.0


def _menu_counts(request: Request, user: Any) -> dict[str, int]:
    """How many items wait behind each menu entry for ``user``, counted at most every MENU_COUNTS_TTL seconds.

    Counted on a session of its own (the page's may be mid-transaction). The menu is a convenience: a
    failure to count leaves the badges out rather than failing the page.
    """
    import time  # noqa: PLC0415

    from sqlmodel import Session  # noqa: PLC0415

    from .dashboards.home import menu_counts  # noqa: PLC0415

    cache = request.app.state._state.setdefault("menu_counts", {})
    key = (user.id, user.role.value)
    hit = cache.get(key)
    now = time.monotonic()
    if hit and now - hit[0] < MENU_COUNTS_TTL:
        return hit[1]
    try:
        with Session(request.app.state.engine) as session:
            counts = menu_counts(session=session, user=user)
    except Exception:  # noqa: BLE001 - see the docstring
        counts = {}
    if len(cache) > 10_000:
        cache.clear()
    cache[key] = (now, counts)
    return counts


def _format_dt(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.strftime(fmt) + " UTC" if value else ""


templates.env.filters["dt"] = _format_dt
templates.env.globals["allowed"] = allowed
# gettext in templates: {{ _("Log in") }}, {% trans %}; the language is the request's (web.i18n).
templates.env.add_extension("jinja2.ext.i18n")
templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    lambda message: i18n.translations(i18n.current_locale()).gettext(message),
    lambda singular, plural, n: i18n.translations(i18n.current_locale()).ngettext(singular, plural, n),
    newstyle=True,
)
templates.env.globals.update(current_locale=i18n.current_locale, language_names=i18n.LANGUAGE_NAMES)
templates.env.filters.update(num=i18n.format_number, pct=i18n.format_pct, when=i18n.format_when)
templates.env.globals["static_url"] = static_url
templates.env.globals["plotly_style_blocks"] = lambda: plotly_css()[1]  # for _charts_head.html


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
        "nav": [(i18n.gettext(label), path) for label, path, perm in NAVIGATION if user is not None and allowed(user.role, perm)],
        "flash": _pop_flash(request),
        "nav_counts": _menu_counts(request, user) if user is not None and not (block and is_htmx(request)) else {},
        "path": request.url.path,
        "here": request.url.path,  # where the language switcher comes back to
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
