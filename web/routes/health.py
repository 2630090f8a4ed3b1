"""Liveness and schema probe for monitors and load balancers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..db import schema_revisions

router = APIRouter(tags=["health"])
routers = [router]


@router.get("/healthz", summary="Database status and schema version")
def healthz(request: Request) -> JSONResponse:
    engine = request.app.state.engine
    try:
        with engine.connect() as conn:  # one connection; the code's head revision is read once a process
            current, head = schema_revisions(engine, conn)
    except Exception as exc:  # any database failure is reported, not raised
        return JSONResponse({"status": "error", "database": "unreachable", "error": type(exc).__name__}, status_code=503)
    ok = current == head
    body = {
        "status": "ok" if ok else "error",
        "database": "ok",
        "backend": engine.url.get_backend_name(),
        "schema_version": current,
        "schema_head": head,
    }
    if not ok:
        body["message"] = "The schema is behind the code: run `konbit db upgrade`."
    return JSONResponse(body, status_code=200 if ok else 503)
