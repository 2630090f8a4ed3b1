"""Benchmark: interviews per second into the API, 32 concurrent clients, a 60-question form.

Targets (issue 3): at least 200 submissions per second with p99 latency under 250 ms, on SQLite
and on PostgreSQL, and nothing lost or stored twice.

    .venv/bin/python benchmarks/submit_api.py                     # SQLite in a temporary directory
    .venv/bin/python benchmarks/submit_api.py --database postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python benchmarks/submit_api.py --clients 32 --requests 6000 --workers 2

What runs: ``konbit serve`` in its own process (as in production, on a migrated database with the
60-question form of ``import_kobo_csv.py``), and 32 enumerators, each with its own bearer token
from ``POST /api/v1/token``, posting interviews over keep-alive HTTP/1.1 connections as fast as
the server answers. The client is a minimal asyncio HTTP client so that it costs the server's two
cores as little as possible. One request in ten resends the client's previous interview (same
uuid, same content), as a phone does when an answer is lost on a bad link: it must be answered
200 and store nothing. Latency is measured from just before the request is written to the end
of the response body.

Each run of ``--requests`` is repeated ``--repeat`` times (3 by default) on the same server with
new interviews; figures are [minimum, median] over the runs. The floor is the same load
generator (the same 32 keep-alive connections, the same closed loop) asking as many times for
a small static file (``GET /static/manifest.webmanifest``: no database; ``/healthz`` is not
trivial, it reads the migrations): what the HTTP stack, the client and the machine cost alone.

Afterwards the database is counted: every uuid answered 201 must be stored exactly once, and
nothing else. Any other status, or any difference in the count, is reported and fails the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from import_kobo_csv import _database, form_spec  # noqa: E402
from import_kobo_csv import _prepare as prepare_survey  # noqa: E402

PASSWORD = "bench-password-1234"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prepare(url: str, clients: int) -> int:
    """The database of ``import_kobo_csv.py`` (the 60-question survey and its baseline wave), with
    one enumerator per client; returns the survey id."""
    from sqlmodel import Session  # noqa: PLC0415

    from web.accounts.models import UserCreate  # noqa: PLC0415
    from web.accounts.service import create_user  # noqa: PLC0415
    from web.db import make_engine  # noqa: PLC0415

    survey_id = prepare_survey(url)
    engine = make_engine(url)
    with Session(engine) as session:
        for n in range(clients):
            create_user(session=session, actor=None,
                        user_create=UserCreate(username=f"enum{n:02d}", password=PASSWORD, role="enumerator"))
        session.commit()
    engine.dispose()
    return survey_id


def _count(url: str) -> tuple[int, int]:
    from sqlalchemy import func, select  # noqa: PLC0415
    from sqlmodel import Session  # noqa: PLC0415

    from surveys.models import Submission  # noqa: PLC0415
    from web.db import make_engine  # noqa: PLC0415

    engine = make_engine(url)
    with Session(engine) as session:
        rows = session.execute(select(func.count()).select_from(Submission)).scalar_one()
        distinct = session.execute(select(func.count(func.distinct(Submission.uuid)))).scalar_one()
    engine.dispose()
    return rows, distinct


def interview(rng: random.Random, spec, n: int) -> dict:
    """One interview as the data-entry form sends it (answers by item code)."""
    answers: dict = {"consent": "yes"}
    for it in spec.items():
        if it.type in ("start", "end") or it.code == "consent":
            continue
        names = [c.name for c in spec.choice_lists.get(it.choice_list or "", ())]
        if it.type in ("yes_no_dk", "likert5", "single_choice"):
            answers[it.code] = rng.choice(names)
        elif it.type == "multiple_choice":
            answers[it.code] = rng.sample([c for c in names if c != "dk"], rng.randint(1, 3))
        elif it.type == "integer":
            answers[it.code] = {"age": rng.randint(15, 80), "household": rng.randint(1, 12), "k_year": 2014,
                                "e_times": rng.randint(1, 30)}.get(it.code, rng.randint(0, 50))
        elif it.type == "decimal":
            answers[it.code] = round(rng.uniform(0, 5000), 2)
        elif it.type == "date":
            answers[it.code] = "2026-09-14"
        elif it.code == "phone":
            continue  # personal: collected by few surveys
        else:
            answers[it.code] = rng.choice(["", "Mwen tande sa nan radyo a"])
    for code in ("k_year",):
        if answers.get("k01") != "yes":
            answers.pop(code, None)
    if answers.get("e01") != "yes":
        for code in ("e_times", "e_last"):
            answers.pop(code, None)
    started = datetime(2026, 10, 1, 8, tzinfo=timezone.utc) + timedelta(minutes=11 * n)
    return {"uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "wave": "baseline", "answers": answers,
            "started_at": started.isoformat(), "ended_at": (started + timedelta(minutes=rng.randint(14, 40))).isoformat(),
            "language": rng.choice(["ht", "fr"]), "segment": rng.choice(["youth", "parents", "general_public"]),
            "region": rng.choice(["Ouest", "Nord", "Sud", "Artibonite"]), "cluster": f"EA-{rng.randint(1, 400):03d}",
            "stratum": rng.choice(["urban", "rural"]), "weight": round(rng.uniform(0.5, 3), 3),
            "arm": rng.choice(["intervention", "comparison"]), "sex": rng.choice(["female", "male"]),
            "age_group": rng.choice(["15-24", "25-34", "35-49", "50+"])}


class Connection:
    """A keep-alive HTTP/1.1 connection: just enough HTTP for this benchmark."""

    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes, content_type: str, token: str = "") -> tuple[int, bytes]:
        reused = self.writer is not None
        try:
            return await self._request(method, path, body, content_type, token)
        except (ConnectionError, IndexError):
            if not reused:
                raise
            # the server closed the idle keep-alive connection (uvicorn: after 5 s, which a loaded
            # machine reaches between runs) before reading this request: send it on a new one
            self.writer = None
            return await self._request(method, path, body, content_type, token)

    async def _request(self, method: str, path: str, body: bytes, content_type: str, token: str = "") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nAccept: application/json\r\n")
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        data = await self.reader.readexactly(length)
        if close:
            self.writer.close()
            self.writer = None
        return status, data


async def _login(port: int, n_client: int) -> tuple[Connection, str]:
    conn = Connection(port)
    status, body = await conn.request("POST", "/api/v1/token", urlencode(
        {"username": f"enum{n_client:02d}", "password": PASSWORD}).encode(), "application/x-www-form-urlencoded")
    if status != 200:
        raise SystemExit(f"client {n_client}: token refused ({status}): {body[:200]!r}")
    return conn, json.loads(body)["access_token"]


async def _client(conn: Connection, token: str, survey_id: int, n_client: int, count: int, seed: int,
                  results: list, stored: set) -> None:
    spec = form_spec()
    rng = random.Random(seed * 1000 + n_client)
    path = f"/api/v1/surveys/{survey_id}/submissions"
    previous: bytes | None = None
    for n in range(count):
        resend = previous is not None and n % 10 == 9
        payload = previous if resend else json.dumps(interview(rng, spec, n_client * count + n)).encode()
        t0 = time.perf_counter()
        status, data = await conn.request("POST", path, payload, "application/json", token)
        results.append((time.perf_counter() - t0, status, resend))
        if status == 201:
            stored.add(json.loads(data)["uuid"])
        elif not (resend and status == 200):
            print(f"client {n_client}: {status} {data[:300]!r}", file=sys.stderr)
        previous = payload


async def _floor_client(conn: Connection, count: int, results: list) -> None:
    """The floor: the same connection and loop asking for a small static file instead (no database,
    the same middleware; ``/healthz`` is not trivial, it reads the migrations to compare revisions)."""
    for _ in range(count):
        t0 = time.perf_counter()
        status, _data = await conn.request("GET", "/static/manifest.webmanifest", b"", "text/plain")
        results.append((time.perf_counter() - t0, status, False))


async def _run(port: int, survey_id: int, clients: int, per_client: int, seed: int, repeat: int,
               cpu_now) -> tuple[float, list[dict], dict]:
    """Every client logs in (all at once, as a team starting its day), then all post their interviews,
    ``repeat`` times (new interviews each time); then the floor, the same load on a static file."""
    t0 = time.perf_counter()
    logged_in = await asyncio.gather(*(_login(port, c) for c in range(clients)))
    login_s = time.perf_counter() - t0
    runs = []
    for rep in range(repeat):
        results: list = []
        stored: set = set()
        cpu0, t0 = cpu_now(), time.perf_counter()
        await asyncio.gather(*(_client(conn, token, survey_id, c, per_client, seed * 100 + rep, results, stored)
                               for c, (conn, token) in enumerate(logged_in)))
        runs.append({"seconds": time.perf_counter() - t0, "cpu": cpu_now() - cpu0, "results": results, "stored": stored,
                     "load": os.getloadavg()[0]})
    results = []
    cpu0, t0 = cpu_now(), time.perf_counter()
    await asyncio.gather(*(_floor_client(conn, per_client, results) for conn, _token in logged_in))
    floor = {"seconds": time.perf_counter() - t0, "cpu": cpu_now() - cpu0, "results": results}
    return login_s, runs, floor


def _wait_ready(port: int, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(20).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not answer /healthz")


def _tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants so far (Linux /proc)."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))  # ppid, utime + stime
    tree, total = {pid}, 0
    changed = True
    while changed:
        changed = False
        for child, (ppid, _) in stats.items():
            if ppid in tree and child not in tree:
                tree.add(child)
                changed = True
    total = sum(stats[p][1] for p in tree if p in stats)
    return total / os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", help="postgresql://... server to use (default: a temporary SQLite file)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=6400, help="requests in all (resends included)")
    parser.add_argument("--workers", type=int, default=None, help="server worker processes (konbit serve --workers)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs of --requests each (min and median)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url, drop = _database(args.database, Path(tmp))
        try:
            survey_id = _prepare(url, args.clients)
            port = _free_port()
            env = {**os.environ, "KONBIT_DATABASE_URL": url, "KONBIT_DATA_DIR": tmp,
                   "KONBIT_SECRET_KEY": secrets.token_urlsafe(32), "KONBIT_EMBEDDED_SCHEDULER": "false",
                   "KONBIT_LOGIN_MAX_FAILURES": "100",
                   # the server runs this checkout's code, whatever the installed script points at
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
            command = [str(Path(sys.executable).parent / "konbit"), "serve", "--port", str(port), "--log-level", "warning"]
            if args.workers:
                command += ["--workers", str(args.workers)]
            proc = subprocess.Popen(command, env=env, cwd=ROOT)
            try:
                _wait_ready(port, proc)
                per_client = args.requests // args.clients
                login_s, runs, floor = asyncio.run(_run(
                    port, survey_id, args.clients, per_client, args.seed, args.repeat,
                    cpu_now=lambda: _tree_cpu_seconds(proc.pid)))
            finally:
                proc.send_signal(signal.SIGINT)
                proc.wait(30)
            rows, distinct = _count(url)
        finally:
            drop()

    def figures_of(run: dict) -> dict:
        results = run["results"]
        latencies = [r[0] for r in results]
        return {"requests_per_s": len(results) / run["seconds"],
                "interviews_per_s": sum(1 for r in results if not r[2]) / run["seconds"],
                "p50_ms": _percentile(latencies, 0.50) * 1000, "p95_ms": _percentile(latencies, 0.95) * 1000,
                "p99_ms": _percentile(latencies, 0.99) * 1000, "max_ms": max(latencies) * 1000,
                "server_cpu_ms_per_request": run["cpu"] * 1000 / len(results)}

    every = [r for run in runs for r in run["results"]]
    fresh = [r for r in every if not r[2]]
    stored = set().union(*(run["stored"] for run in runs))
    statuses: dict[int, int] = {}
    for _, status, _ in every:
        statuses[status] = statuses.get(status, 0) + 1
    expected = {201: len(fresh), 200: len(every) - len(fresh)}
    ok = statuses == {k: v for k, v in expected.items() if v} and rows == distinct == len(stored) == len(fresh)
    per_run = [figures_of(run) for run in runs]
    floor_figures = figures_of(floor)
    floor_ok = all(status == 200 for _, status, _ in floor["results"])
    figures = {
        "backend": url.split(":", 1)[0], "clients": args.clients, "workers": args.workers or 1, "runs": len(runs),
        "logins_s": round(login_s, 2), "requests_per_run": len(runs[0]["results"]),
        **{key: [round(min(r[key] for r in per_run), 1), round(statistics.median(r[key] for r in per_run), 1)]
           for key in per_run[0]},
        "floor_static_file": {key: round(value, 1) for key, value in floor_figures.items()},
        "floor_all_200": floor_ok,
        "statuses": statuses, "rows_stored": rows, "distinct_uuids": distinct, "acknowledged_201": len(stored),
        "nothing_lost_or_doubled": ok, "load_average": [round(run["load"], 1) for run in runs],
    }
    print(json.dumps(figures, indent=2))
    if not ok:
        raise SystemExit("FAILED: statuses or stored rows differ from what was sent")


if __name__ == "__main__":
    main()
