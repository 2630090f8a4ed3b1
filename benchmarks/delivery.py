"""Benchmark: one SMS placement to 100,000 contacts through a local gateway (issue 13).

Targets: expanding the occurrence into the outbox under 5 s; at least 1,000 messages per second
with statuses recorded; no duplicates.

    .venv/bin/python benchmarks/delivery.py                                  # SQLite, 1 and 4 workers, 3 runs
    .venv/bin/python benchmarks/delivery.py --contacts 20000 --runs 1
    .venv/bin/python benchmarks/delivery.py --database postgresql://postgres@127.0.0.1:5432/postgres

With ``--database postgresql://...`` a fresh database is made on that server and dropped at the
end. Each run: a new occurrence of the placement, due now, expanded into the outbox (in a child
process: its wall time and peak memory); the workers (``konbit worker`` processes, started
before, polling) send it through the gateway (``tests/campaign/gateway.py`` in its own process,
no rate limit, the Idempotency-Key honoured); the run ends when no row is queued or sending.
Figures: expand time; throughput = messages / (first message received -> last status
recorded); lateness of the first and last message after the due time; duplicates (messages to
a recipient beyond the first, and repeated POSTs); peak resident memory of one worker. With
``--runs`` above 1 the summary gives minimum / median. The floor: the channel's own adapter
sending as many messages to a fresh gateway in a worker's chunks, with no database at all.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The worker runs this checkout's code (the installed ``konbit`` script may point at another one;
# ``python -m web.cli`` would run before the other modules register their commands).
KONBIT = [sys.executable, "-c", "from web.cli import app; app(prog_name='konbit')"]
SECRET = "benchmark-secret-" + "x" * 32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _database(server: str | None):
    if server:
        from tests.factories import scratch_database  # noqa: PLC0415

        with scratch_database(server, "konbit_bench_delivery") as url:
            yield url
    else:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db"


def _seed(url: str, contacts: int) -> int:
    """Migrate, then one active campaign with one SMS placement to ``contacts`` contacts; its id."""
    from alembic import command  # noqa: PLC0415
    from sqlmodel import Session  # noqa: PLC0415

    from tests.campaign.outbox_factories import sms_setup  # noqa: PLC0415
    from tests.factories import make_user  # noqa: PLC0415
    from web.accounts.models import Role  # noqa: PLC0415
    from web.db import alembic_config, make_engine  # noqa: PLC0415

    cfg = alembic_config(url)
    cfg.attributes["configure_logging"] = False
    command.upgrade(cfg, "head")
    engine = make_engine(url)
    personas = {"carla": make_user(engine, username="carla", role=Role.communications),
                "leo": make_user(engine, username="leo", role=Role.lead)}
    with Session(engine, expire_on_commit=False) as session:
        setup = sms_setup(session, personas, n=contacts, url="http://127.0.0.1:1/unused")
    engine.dispose()
    return setup.placement.id


def _expand_child(url: str, placement_id: int) -> None:
    """In a child process: a new occurrence due now, expanded; prints seconds, rows, peak memory."""
    import resource  # noqa: PLC0415

    from sqlmodel import Session  # noqa: PLC0415

    from campaign import outbox  # noqa: PLC0415
    from campaign.models import Occurrence  # noqa: PLC0415
    from web.db import make_engine  # noqa: PLC0415

    engine = make_engine(url)
    due = datetime.now(timezone.utc)
    with Session(engine, expire_on_commit=False) as session:
        occ = Occurrence(placement_id=placement_id, local_at=due.replace(tzinfo=None), due_at=due)
        session.add(occ)
        session.commit()
        start = time.perf_counter()
        result = outbox.expand_occurrence(session=session, occurrence=occ, now=due)
        session.commit()
        seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rows": result.created, "due": due.timestamp(),
                      "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def _outstanding(url: str) -> bool:
    from sqlalchemy import create_engine, text  # noqa: PLC0415

    from web.settings import load_settings  # noqa: PLC0415

    engine = create_engine(load_settings(database_url=url).database)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT EXISTS (SELECT 1 FROM campaign_delivery WHERE status = 'queued' "
                              "AND next_attempt_at IS NOT NULL) OR EXISTS (SELECT 1 FROM campaign_delivery "
                              "WHERE status = 'sending')")).scalar()
    engine.dispose()
    return n


def _set_gateway(url: str, gateway_url: str) -> None:
    from sqlalchemy import create_engine, text  # noqa: PLC0415

    from web.settings import load_settings  # noqa: PLC0415

    engine = create_engine(load_settings(database_url=url).database)
    with engine.begin() as conn:
        value = "CAST(:s AS JSON)" if engine.dialect.name == "postgresql" else ":s"
        conn.execute(text(f"UPDATE campaign_channel SET settings = {value}"),
                      {"s": json.dumps({"url": gateway_url, "sender": "KONBIT", "concurrency": 8})})
    engine.dispose()


def _peak_mib(pid: int) -> float:
    """A process's peak resident memory (Linux: VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_run(url: str, placement_id: int, workers: int, batch: int) -> dict:
    port = _free_port()
    env = {**os.environ, "KONBIT_ENV": "test", "KONBIT_DATABASE_URL": url, "KONBIT_SECRET_KEY": SECRET,
           "KONBIT_DELIVERY_BATCH": str(batch),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    gateway = subprocess.Popen([sys.executable, "-m", "tests.campaign.gateway", "--port", str(port)], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    gateway_url = gateway.stdout.readline().strip()
    _set_gateway(url, gateway_url)
    procs = [subprocess.Popen([*KONBIT, "worker", "--log-level", "warning", "--name", f"bench{i}"], env=env,
                              cwd=ROOT, stdout=subprocess.DEVNULL) for i in range(workers)]
    try:
        time.sleep(3)  # the workers are up and polling, as they are in production
        expand = json.loads(subprocess.run([sys.executable, __file__, "--expand-child", url, str(placement_id)],
                                           check=True, capture_output=True, text=True, cwd=ROOT, env=env).stdout)
        while _outstanding(url):
            dead = [p.returncode for p in procs if p.poll() is not None]
            if dead:
                raise SystemExit(f"a worker exited (status {dead[0]}) with deliveries outstanding")
            time.sleep(0.2)
        recorded = time.time()
        peak = max(_peak_mib(p.pid) for p in procs)
        stats = json.loads(urlopen(gateway_url.replace("/send", "/stats")).read())
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait()
        gateway.terminate()
        gateway.wait()
    n = expand["rows"]
    return {"workers": workers, "rows": n, "expand_s": expand["seconds"], "expand_mib": expand["maxrss_mib"],
            "throughput": stats["messages"] / (recorded - stats["first"]),
            "first_late_s": stats["first"] - expand["due"], "last_late_s": stats["last"] - expand["due"],
            "duplicates": stats["messages"] - stats["recipients"], "repeated_posts": stats["duplicates"],
            "messages": stats["messages"], "worker_mib": peak, "load": os.getloadavg()[0]}


def floor_run(url: str, messages: int) -> float:
    """The floor: the channel's own adapter sending ``messages`` to a fresh gateway in chunks as a worker
    does (its concurrency, keep-alive connections), with no database work at all; messages per second."""
    from sqlalchemy import create_engine, text  # noqa: PLC0415

    from campaign.adapters import Outgoing, adapter_for  # noqa: PLC0415
    from campaign.models import ChannelConfig  # noqa: PLC0415
    from web.settings import load_settings  # noqa: PLC0415

    gateway = subprocess.Popen([sys.executable, "-m", "tests.campaign.gateway", "--port", str(_free_port())], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    try:
        gateway_url = gateway.stdout.readline().strip()
        engine = create_engine(load_settings(database_url=url).database)
        with engine.connect() as conn:
            row = conn.execute(text("SELECT name, provider, kind FROM campaign_channel LIMIT 1")).one()
        engine.dispose()
        channel = ChannelConfig(name=row[0], provider=row[1], kind=row[2],
                                settings={"url": gateway_url, "sender": "KONBIT", "concurrency": 8})
        adapter = adapter_for(channel, {}, timeout=10)
        batch = [Outgoing(delivery_uid=f"floor-{i}", to=f"+5093{i:07d}", text="Bonjou, trafik moun se yon krim. Rele 188.")
                 for i in range(messages)]
        start = time.perf_counter()
        for i in range(0, messages, 100):  # a worker's chunk
            outcomes = adapter.send_batch(batch[i:i + 100])
            if not all(o.ok for o in outcomes):
                raise SystemExit("the floor run's gateway refused a message")
        seconds = time.perf_counter() - start
        adapter.close()
    finally:
        gateway.terminate()
        gateway.wait()
    return messages / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", default="1,4", help="comma-separated worker counts")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--database", default="", help="a PostgreSQL server URL (default: SQLite in a temporary file)")
    parser.add_argument("--floor-messages", type=int, default=20_000, help="messages of the floor run (0: none)")
    parser.add_argument("--expand-child", nargs=2, metavar=("URL", "PLACEMENT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.expand_child:
        _expand_child(args.expand_child[0], int(args.expand_child[1]))
        return
    with _database(args.database or None) as url:
        backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        t = time.perf_counter()
        placement_id = _seed(url, args.contacts)
        print(f"{backend}: seeded {args.contacts:,} contacts in {time.perf_counter() - t:.1f} s", flush=True)
        if args.floor_messages:
            floors = [floor_run(url, args.floor_messages) for _ in range(max(1, args.runs))]
            print(f"  floor (the adapter and the gateway alone, no database), {args.floor_messages:,} messages: "
                  f"{min(floors):.0f} / {statistics.median(floors):.0f} msg/s (min / median of {len(floors)})", flush=True)
        for workers in [int(w) for w in args.workers.split(",")]:
            runs = []
            for run in range(args.runs):
                r = one_run(url, placement_id, workers, args.batch)
                runs.append(r)
                print(f"  {workers} worker(s), run {run + 1}: expand {r['expand_s']:.2f} s ({r['expand_mib']:.0f} MiB), "
                      f"{r['throughput']:.0f} msg/s, first {r['first_late_s']:.2f} s / last {r['last_late_s']:.1f} s late, "
                      f"{r['messages']:,} messages, duplicates {r['duplicates']} (repeated POSTs {r['repeated_posts']}), "
                      f"worker peak {r['worker_mib']:.0f} MiB, load average {r['load']:.1f}", flush=True)
            if len(runs) > 1:
                def fig(key: str, fmt: str) -> str:
                    values = [r[key] for r in runs]
                    return f"{format(min(values), fmt)} / {format(statistics.median(values), fmt)}"
                print(f"  {backend} {workers} worker(s), min / median of {len(runs)}: expand {fig('expand_s', '.2f')} s, "
                      f"throughput {fig('throughput', '.0f')} msg/s, first late {fig('first_late_s', '.2f')} s, "
                      f"last late {fig('last_late_s', '.1f')} s, duplicates {max(r['duplicates'] for r in runs)}, "
                      f"worker peak {fig('worker_mib', '.0f')} MiB", flush=True)


if __name__ == "__main__":
    main()
