"""The application factory."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.engine import Engine
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware

from .assets import StaticAssets, get_index
from .db import WORKER_THREADS, check_schema, make_engine
from .errors import document_errors, install_error_handlers
from .middleware import BodySizeLimit, ConcurrencyLimit, SecurityHeaders
from .i18n import LocaleMiddleware
from .nul import RefuseNulText
from .settings import Settings, get_settings

__all__ = ["create_app", "iter_routes"]

log = logging.getLogger("konbit.web")
#: Compressed already (spreadsheets and documents are zip files) or binary: sent as they are.
NOT_GZIPPED = (*DEFAULT_EXCLUDED_CONTENT_TYPES, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "application/pdf",
               "application/octet-stream", "application/x-spss-sav", "application/x-stata-dta")


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
        account, analysis, audit, auth, campaign_sheets, campaigns, collect, content, deliveries, deliveries_hooks, docs,
        dashboards, frames, health, home, language, openrosa, survey_data, surveys, trainings, users,
    )

    modules = (surveys, auth, health, home, account, users, audit, docs, content, collect, survey_data, analysis, campaigns,
               campaign_sheets, deliveries, deliveries_hooks, trainings, frames, language, dashboards, openrosa)
    # FastAPI tries routes in order, so the JSON API (phones sending interviews: the busiest routes)
    # comes first, the surveys API first of all; no page path starts with /api.
    routers = [router for module in modules for router in module.routers]
    app.state.routers = sorted(routers, key=lambda router: not router.prefix.startswith("/api"))
    for router in app.state.routers:
        app.include_router(router)
    # Hashed names cached for good, compressed once (web.assets); read when the first app is made.
    app.mount("/static", StaticAssets(get_index()), name="static")
    install_error_handlers(app)
    app.add_exception_handler(openrosa.OpenRosaError, openrosa.openrosa_error)  # answers ODK Collect understands
    document_errors(app)
    app.add_middleware(RefuseNulText)  # innermost: the body it reads is already capped
    app.add_middleware(LocaleMiddleware)
    app.add_middleware(ConcurrencyLimit, limit=WORKER_THREADS)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    # Pages, fragments, JSON and CSV exports gzipped on the way out (streams flushed chunk by chunk;
    # event streams and what is compressed already, the static assets, pass untouched).
    app.add_middleware(GZipMiddleware, minimum_size=500, compresslevel=6, exclude_content_types=NOT_GZIPPED)
    return app


def iter_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    """Every (method, route) the app serves from its routers (for the permission walk)."""
    for router in app.state.routers:
        for route in router.routes:
            if isinstance(route, APIRoute):
                for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                    yield method, route
