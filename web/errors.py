"""Error responses: JSON with a message for the API, a page in the layout for browsers.

No response ever carries a traceback; unexpected errors are logged with an id
that the page shows, so an administrator can find them in the log.
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .middleware import HEADERS as SECURITY_HEADERS
from .render import is_htmx, render

__all__ = ["install_error_handlers", "wants_json"]

log = logging.getLogger("konbit.web")

TITLES = {
    400: "Bad request",
    401: "Please log in",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    422: "Check the form",
    429: "Too many attempts",
    500: "Something went wrong",
}


def wants_json(request: Request) -> bool:
    if request.url.path.startswith("/api/") or request.url.path in ("/healthz", "/openapi.json"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _describe_validation(errors: list) -> list[dict]:
    described = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "form")]
        field = ".".join(loc) or "body"
        message = err.get("msg", "invalid value")
        if err.get("type") == "json_invalid":  # its location is a character position, not a field
            field = "body"
            message = f"{message}: {(err.get('ctx') or {}).get('error', 'invalid JSON')} at character {loc[-1] if loc else 0}"
        described.append({"field": field, "message": message, "type": err.get("type", "")})
    return described


def _page(request: Request, status: int, message: str, headers: dict | None = None) -> Response:
    if status == 401:
        nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if is_htmx(request):
            return Response(status_code=401, headers={"HX-Redirect": f"/login?next={quote(nxt)}"})
        return render(request, "auth/login.html", {"error": message, "next": nxt, "username": ""},
                      status_code=401, block=None, headers=headers)
    return render(request, "errors/error.html", {"status": status, "title": TITLES.get(status, "Error"), "message": message},
                  status_code=status, block="content", headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "Error")
        if exc.status_code == 404 and message == "Not Found":
            message = "There is nothing at this address."
        if exc.status_code == 405:
            message = "This address does not accept that method."
        headers = getattr(exc, "headers", None)
        if wants_json(request):
            body = {"detail": exc.detail if not isinstance(exc.detail, str) else message}
            return JSONResponse(body, status_code=exc.status_code, headers=headers)
        return _page(request, exc.status_code, message, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = _describe_validation(exc.errors())
        if wants_json(request):
            message = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
            return JSONResponse({"detail": message, "errors": errors}, status_code=422)
        message = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return _page(request, 422, message)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        # Starlette sends this response from outside every middleware, SecurityHeaders included.
        response = _unexpected_error(request)
        for name, value in SECURITY_HEADERS:
            response.headers.setdefault(name.decode(), value.decode())
        return response

    def _unexpected_error(request: Request) -> Response:
        error_id = secrets.token_hex(4)
        log.exception("unhandled error %s on %s %s", error_id, request.method, request.url.path)
        message = f"An unexpected error happened (reference {error_id}). It has been logged; nothing was saved."
        if wants_json(request):
            return JSONResponse({"detail": message}, status_code=500)
        try:
            return render(request, "errors/error.html", {"status": 500, "title": TITLES[500], "message": message},
                          status_code=500, block="content")
        except Exception:  # the layout itself failed: plain text, still no traceback
            log.exception("error page failed %s", error_id)
            return Response(message, status_code=500, media_type="text/plain")
