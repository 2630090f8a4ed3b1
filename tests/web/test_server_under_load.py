"""The live server keeps answering when more requests arrive at once than it has threads or pooled connections."""

from __future__ import annotations

import gc
import threading

import httpx
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from surveys.models import Submission
from tests.factories import PASSWORD
from tests.surveys.factories import make_payload, make_survey
from web.db import POOL, WORKER_THREADS


def test_the_pool_holds_more_connections_than_the_server_has_threads():
    for size, overflow in POOL.values():
        assert size + overflow > WORKER_THREADS
        assert size >= WORKER_THREADS  # kept open: none is opened and closed per request under load


def test_the_startup_heap_is_kept_out_of_the_collectors_full_passes(app):
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 10_000  # modules, the app, the mappers


def test_a_burst_of_submissions_larger_than_the_thread_pool_is_all_stored(live_server, engine, personas):
    """Two requests per worker thread at once (a team syncing after a day offline). A pool
    smaller than the thread pool deadlocks here until the pool times out (fastapi#3205)."""
    kap = make_survey(engine, actor=personas["leo"])
    with httpx.Client(base_url=live_server) as c:
        token = c.post("/api/v1/token", data={"username": "eddy", "password": PASSWORD}).json()["access_token"]
    clients = 2 * WORKER_THREADS
    payloads = [make_payload() for _ in range(clients)]
    barrier = threading.Barrier(clients)
    statuses: list[int] = []

    def send(payload: dict) -> None:
        with httpx.Client(base_url=live_server, timeout=25) as c:
            barrier.wait()
            statuses.append(c.post(f"/api/v1/surveys/{kap.id}/submissions", json=payload,
                                   headers={"Authorization": f"Bearer {token}"}).status_code)

    threads = [threading.Thread(target=send, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert statuses == [201] * clients
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(Submission)).one() == clients
