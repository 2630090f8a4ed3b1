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
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .middleware import HEADERS as SECURITY_HEADERS
from .i18n import N_, gettext
from .nul import NUL_MESSAGE
from .render import is_htmx, render

__all__ = ["ErrorEntry", "ErrorModel", "document_errors", "install_error_handlers", "wants_json"]

log = logging.getLogger("konbit.web")


class ErrorEntry(BaseModel):
    """One field at fault."""

    field: str = Field(default="", description="Dotted path of the field (answers.age, conditions[0].value); empty for the request as a whole")
    message: str = Field(description="What is wrong, in plain words")
    type: str = Field(default="", description="A machine-readable kind (missing, value_error, out_of_range, ...)")


class ErrorModel(BaseModel):
    """Every error answer of the API: a sentence, and the fields at fault. Some carry more
    (``conflict_id``, ``problems``) beside these two."""

    model_config = ConfigDict(extra="allow")

    detail: str = Field(description="What went wrong and what to do, in one sentence")
    errors: list[ErrorEntry] = Field(default_factory=list)


ERROR_STATUSES = {
    "400": "The request cannot be done as asked",
    "401": "Not logged in, or the token expired",
    "403": "The role does not allow it, or the CSRF token is missing",
    "404": "Nothing with that id (or nothing the user may see)",
    "409": "The object's state refuses it (changed since, already done)",
    "413": "The body is too large",
    "422": "A field is missing or invalid; errors names each one",
}


def document_errors(app: FastAPI) -> None:
    """Declare :class:`ErrorModel` as every API operation's error answer in the OpenAPI document.

    FastAPI documents its own 422 shape (``detail`` a list); Konbit answers ``detail`` as a
    sentence with ``errors`` beside it, for every 4xx, so the document says so.
    """
    from fastapi.openapi.utils import get_openapi  # noqa: PLC0415

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description, summary=app.summary,
                          routes=app.routes, tags=app.openapi_tags)
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        for name, model in (("ErrorEntry", ErrorEntry), ("ErrorModel", ErrorModel)):
            schemas[name] = model.model_json_schema(ref_template="#/components/schemas/{model}")
        error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorModel"}}}}
        for path, operations in doc.get("paths", {}).items():
            for method, op in operations.items():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                responses = op["responses"]
                for code, description in ERROR_STATUSES.items():
                    if code == "401" and path in ("/api/v1/token",):
                        description = "Wrong user name or password"
                    responses[code] = {"description": responses.get(code, {}).get("description", description), **error}
                responses.setdefault("default", {"description": "Any other error, in the same model", **error})
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]

ERROR_TITLE = N_("Error")
TITLES = {
    400: N_("Bad request"),
    401: N_("Please log in"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    405: N_("Method not allowed"),
    409: N_("Conflict"),
    413: N_("Too large"),
    422: N_("Check the form"),
    429: N_("Too many attempts"),
    500: N_("Something went wrong"),
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


def _error_body(detail: object, message: str) -> dict:
    """The one error model: ``detail`` a sentence, ``errors`` one entry per field at fault.

    A service's refusal may come as a mapping (field -> message) or a list of such entries; it
    becomes ``errors``, and ``detail`` joins them, so every client reads ``detail`` as text.
    """
    errors: list[dict] = []
    if isinstance(detail, dict):
        if "detail" in detail and isinstance(detail["detail"], str):  # already in the model
            return {"detail": detail["detail"], "errors": list(detail.get("errors") or [])}
        errors = [{"field": str(k), "message": str(v), "type": "value_error"} for k, v in detail.items()]
    elif isinstance(detail, (list, tuple)):
        for item in detail:
            if isinstance(item, dict):
                errors.append({"field": str(item.get("field", item.get("loc", ""))), "message": str(item.get("message", item.get("msg", item))),
                               "type": str(item.get("type", "value_error"))})
            else:
                errors.append({"field": "", "message": str(item), "type": "value_error"})
    if errors:
        message = "; ".join(f"{e['field']}: {e['message']}" if e["field"] and e["field"] != "form" else e["message"]
                            for e in errors)
    return {"detail": message, "errors": errors}


def _page(request: Request, status: int, message: str, headers: dict | None = None) -> Response:
    if status == 401:
        nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if is_htmx(request):
            return Response(status_code=401, headers={"HX-Redirect": f"/login?next={quote(nxt)}"})
        return render(request, "auth/login.html", {"error": message, "next": nxt, "username": ""},
                      status_code=401, block=None, headers=headers)
    return render(request, "errors/error.html", {"status": status, "title": gettext(TITLES.get(status, ERROR_TITLE)),
                                                 "message": gettext(message)},
                  status_code=status, block="content", headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else _error_body(exc.detail, TITLES.get(exc.status_code, "Error"))["detail"]
        if exc.status_code == 404 and message == "Not Found":
            message = N_("There is nothing at this address.")
        if exc.status_code == 405:
            message = N_("This address does not accept that method.")
        headers = getattr(exc, "headers", None)
        if wants_json(request):
            return JSONResponse(_error_body(exc.detail, message), status_code=exc.status_code, headers=headers)
        return _page(request, exc.status_code, message, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = _describe_validation(exc.errors())
        if wants_json(request):
            message = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
            return JSONResponse({"detail": message, "errors": errors}, status_code=422)
        message = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return _page(request, 422, message)

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def out_of_range(request: Request, exc: Exception) -> Response:
        # A number the database cannot hold (an id beyond 64 bits on SQLite, beyond PostgreSQL's
        # integer, numeric): the request is wrong, not the server. Routes bound their ids
        # (campaign.models.MAX_ID); this catches what slips past, still as the one error model.
        log.info("out-of-range value on %s %s: %s", request.method, request.url.path, exc.__class__.__name__)
        message = "A number in the request is out of range (ids are whole numbers from 1 to 2147483647)."
        kind = "out_of_range"
        if "NUL" in str(getattr(exc, "orig", exc)):  # a multipart text field past web.nul
            message, kind = f"A text field {NUL_MESSAGE}.", "nul_character"
        if wants_json(request):
            return JSONResponse({"detail": message, "errors": [{"field": "", "message": message, "type": kind}]},
                                status_code=422)
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
