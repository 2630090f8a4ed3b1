"""The application factory."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine

from .charts import plotly_css, plotly_js, plotly_version
from .db import WORKER_THREADS, check_schema, make_engine
from .errors import install_error_handlers
from .middleware import BodySizeLimit, ConcurrencyLimit, SecurityHeaders
from .settings import Settings, get_settings

__all__ = ["create_app", "iter_routes"]

STATIC_DIR = Path(__file__).parent / "static"
log = logging.getLogger("konbit.web")


class CachedStatic(StaticFiles):
    """Static files with a day of caching: field offices are on slow links."""

    def file_response(self, *args, **kwargs):  # type: ignore[override]
        response = super().file_response(*args, **kwargs)
        response.headers.setdefault("Cache-Control", "public, max-age=86400")
        return response


def _asset(request: Request, body: bytes, media_type: str, etag: str, gzipped: bytes | None = None) -> Response:
    """A generated asset, cached a week and revalidated by ETag; gzipped for browsers that accept it."""
    headers = {"Cache-Control": "public, max-age=604800", "ETag": etag, "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        return Response(gzipped, media_type=media_type, headers={**headers, "Content-Encoding": "gzip"})
    return Response(body, media_type=media_type, headers=headers)


def _plotly_js(request: Request) -> Response:
    """plotly.js from the ``plotly`` package (MIT)."""
    body, gzipped, version = plotly_js()
    return _asset(request, body, "text/javascript", f'"plotly.js-{version}"', gzipped)


def _plotly_css(request: Request) -> Response:
    """plotly.js's style rules as a stylesheet (the CSP refuses the inline one it would write)."""
    return _asset(request, plotly_css()[0].encode(), "text/css", f'"plotly.css-{plotly_version()}"')


def create_app(settings: Settings | None = None, *, engine: Engine | None = None, check_db: bool = True) -> FastAPI:
    """Build the app. ``check_db`` refuses to start on a database whose schema is behind."""
    settings = settings or get_settings()
    engine = engine or make_engine(settings.database)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if check_db:
            check_schema(engine)
        # Fewer threads than pooled connections: see web.db.WORKER_THREADS.
        anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
        # What exists by now (modules, the app and its routes, SQLAlchemy's mappers) lives as long
        # as the process: keep it out of the collector's full passes. They walked all of it and,
        # under load, held every request up for as long as 160 ms (gen-2 pauses, 15-18 ms now).
        # Once per process (the test suite starts many apps).
        if not gc.get_freeze_count():
            gc.collect()
            gc.freeze()
        yield

    app = FastAPI(
        title="Konbit",
        version="0.1.0",
        summary="Counter-trafficking BCC campaigns: plan and deliver, measure, evaluate.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine

    from .routes import (  # noqa: PLC0415
        account, analysis, audit, auth, campaigns, collect, content, docs, health, home, survey_data, surveys, users,
    )

    modules = (surveys, auth, health, home, account, users, audit, docs, content, collect, survey_data, analysis, campaigns)
    # FastAPI tries routes in order, so the JSON API (phones sending interviews: the busiest routes)
    # comes first, the surveys API first of all; no page path starts with /api.
    routers = [router for module in modules for router in module.routers]
    app.state.routers = sorted(routers, key=lambda router: not router.prefix.startswith("/api"))
    for router in app.state.routers:
        app.include_router(router)
    app.add_api_route("/static/vendor/plotly/plotly.min.js", _plotly_js, include_in_schema=False)
    app.add_api_route("/static/vendor/plotly/plotly.css", _plotly_css, include_in_schema=False)
    app.mount("/static", CachedStatic(directory=STATIC_DIR), name="static")
    install_error_handlers(app)
    app.add_middleware(ConcurrencyLimit, limit=WORKER_THREADS)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    return app


def iter_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    """Every (method, route) the app serves from its routers (for the permission walk)."""
    for router in app.state.routers:
        for route in router.routes:
            if isinstance(route, APIRoute):
                for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                    yield method, route
