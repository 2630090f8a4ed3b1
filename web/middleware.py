"""Pure ASGI middleware: security headers on every response, a cap on body size, and a cap on the
requests the app works on at once."""

from __future__ import annotations

import asyncio
import json
import weakref

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodySizeLimit", "ConcurrencyLimit", "SecurityHeaders"]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "font-src 'self'; connect-src 'self'; media-src 'self' blob:; worker-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [h for h in HEADERS if h[0] not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _too_large(max_bytes: int) -> str:
    return f"The request body is larger than the {max_bytes // (1024 * 1024) or 1} MB allowed."


class BodyTooLarge(HTTPException):
    """Raised while a body streams in. An HTTPException, so FastAPI's body parsing passes it on
    as a 413 instead of turning it into "There was an error parsing the body" (400)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(status_code=413, detail=_too_large(max_bytes))


class BodySizeLimit:
    """Refuse bodies over ``max_bytes`` with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"detail": _too_large(self.max_bytes)}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._refuse(send)
                    return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)


class ConcurrencyLimit:
    """At most ``limit`` requests inside the app at once; the others wait their turn here.

    A sync route's database session takes a pooled connection in its first dependency and gives
    it back when the request ends, and each step runs in one of AnyIO's worker threads. With
    more requests in flight than pooled connections, the requests holding connections can wait
    for a thread while every thread waits for a connection: the server stalls until the pool
    times out (fastapi/fastapi#3205). Keeping ``limit`` at or under both the thread count and
    the pool size rules that out; waiting here costs nothing but a coroutine. Static assets do
    not touch the database and are not counted.
    """

    def __init__(self, app: ASGIApp, limit: int, exempt_prefixes: tuple[str, ...] = ("/static/",)) -> None:
        self.app = app
        self.limit = limit
        self.exempt_prefixes = exempt_prefixes
        # One semaphore per event loop: tests may drive one app from several loops.
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt_prefixes):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.limit)
        async with semaphore:
            await self.app(scope, receive, send)
