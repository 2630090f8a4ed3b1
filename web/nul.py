"""Refuse the NUL character in text a request sends, with a 422 naming the field.

PostgreSQL's ``text`` cannot hold U+0000 (psycopg refuses it before the statement runs); SQLite
stores it and every later reader (CSV, Stata, the browser) trips on it. No form, survey answer or
filter has a use for it, so it is refused at the door, the same on both databases: in the path, in
the query string, and in URL-encoded and JSON bodies (a file upload's bytes are not text and are
left alone). What slips past (a multipart text field) still meets the error handler's NUL message.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["NUL_MESSAGE", "RefuseNulText", "nul_field"]

NUL_MESSAGE = "contains the NUL character (\\0), which text may not hold; remove it and send again"


def _in_pairs(pairs: list[tuple[str, str]]) -> str | None:
    for key, value in pairs:
        if "\x00" in key or "\x00" in value:
            return key.replace("\x00", "\\0") or "(unnamed field)"
    return None


def _in_json(value: object, path: str = "") -> str | None:
    if isinstance(value, str):
        return (path or "body") if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return here.replace("\x00", "\\0")
            found = _in_json(item, here)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _in_json(item, f"{path}.{index}" if path else str(index))
            if found:
                return found
    return None


def nul_field(*, path: str, query: bytes, content_type: str, body: bytes) -> str | None:
    """The first field of a request whose text holds NUL, or None. Pure: bytes in, a name out."""
    if "\x00" in path:
        return "path"
    if b"%00" in query or b"\x00" in query:
        found = _in_pairs(parse_qsl(query.decode("latin-1"), keep_blank_values=True, encoding="utf-8",
                                    errors="replace"))
        if found:
            return found
    if not body:
        return None
    if content_type.startswith("application/x-www-form-urlencoded") and (b"%00" in body or b"\x00" in body):
        return _in_pairs(parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="replace"))
    if "json" in content_type and (b"\\u0000" in body.lower() or b"\x00" in body):
        try:
            return _in_json(json.loads(body))
        except ValueError:
            return None  # the route's own parsing names the JSON error
    return None


def _buffered(content_type: str) -> bool:
    return content_type.startswith("application/x-www-form-urlencoded") or "json" in content_type


class RefuseNulText:
    """Answer 422 in the one error model (JSON for the API, the error page for browsers)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/static/"):
            await self.app(scope, receive, send)
            return
        content_type = ""
        for name, value in scope.get("headers", []):
            if name == b"content-type":
                content_type = value.decode("latin-1").lower()
        body = b""
        replay: list[Message] = []
        if _buffered(content_type):
            # BodySizeLimit sits outside and caps what arrives here.
            while True:
                message = await receive()
                replay.append(message)
                if message["type"] != "http.request":
                    break
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    break
        field = nul_field(path=scope["path"], query=scope.get("query_string", b""), content_type=content_type, body=body)
        if field is not None:
            await _refuse(scope, receive, send, field)
            return
        if not replay:
            await self.app(scope, receive, send)
            return

        async def replaying_receive() -> Message:
            if replay:
                return replay.pop(0)
            return await receive()

        await self.app(scope, replaying_receive, send)


async def _refuse(scope: Scope, receive: Receive, send: Send, field: str) -> None:
    from starlette.responses import JSONResponse  # noqa: PLC0415

    from .errors import _page, wants_json  # noqa: PLC0415

    request = Request(scope, receive)
    message = f"{field}: {NUL_MESSAGE}."
    if wants_json(request):
        response = JSONResponse({"detail": message, "errors": [{"field": field, "message": NUL_MESSAGE, "type": "nul_character"}]},
                                status_code=422)
    else:
        response = _page(request, 422, message)
    await response(scope, receive, send)
