"""PostgreSQL plans of the heaviest queries of the report and review pages at 1,000,000 submissions (issue 11).

    .venv/bin/python benchmarks/explain_pg.py [--submissions 1000000] [--database postgresql://postgres@127.0.0.1:5432/postgres]

A fresh database on that server (dropped at the end), migrated, holds two surveys: the benchmark
KAP survey of ``analysis_report.py`` with 45% of the submissions in each of its two waves, and a
second survey with the other 10%. Rows are written by ``INSERT ... SELECT FROM generate_series``
with about 1 KB of answers JSON each (built from the answers ``analysis_report.py`` generates,
with the instance id, age and GPS varying by row), stored float32 item scores, statuses
(60% received, 30% approved, 7% has issues, 3% rejected), a ``too_short`` flag on 4%, received
times spread over six months, and 20 enumerator accounts; then ``VACUUM ANALYZE``, as autovacuum
would do after a load.

The pages are then requested through the app itself (a test client logged in as a supervisor
and a lead), and every SQL statement they run is recorded: the report (``/analysis/{id}``, cold
then warm), the review list (``/review`` unfiltered, for one survey and wave, a deep page, one
flag) and the survey page. Each distinct statement that reads ``submission`` is run again under
``EXPLAIN (ANALYZE, BUFFERS)`` with the parameters the page used; the plans are printed, the
slowest first, with the page's wall time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _fill(url: str, n: int) -> dict:
    """Surveys, waves, users, then ``n`` submissions and their scores in SQL; ids for the pages."""
    import numpy as np
    from datetime import datetime, timezone
    from sqlalchemy import text
    from sqlmodel import Session

    import analysis_report
    from surveys import service
    from surveys.analysis_service import current_key
    from surveys.models import WaveCreate
    from tests.factories import make_user
    from web.accounts.models import Role
    from web.db import make_engine

    engine = make_engine(url)
    users = [make_user(engine, username=f"ench{i:02d}", role=Role.enumerator) for i in range(20)]
    make_user(engine, username="sam", role=Role.supervisor)
    make_user(engine, username="lea", role=Role.lead)
    spec = analysis_report._spec()
    with Session(engine) as session:
        survey = service.create_survey(session=session, spec=spec, actor=None)
        waves = [service.create_wave(session=session, survey=survey, actor=None,
                                     wave_create=WaveCreate(name=name, kind=name)) for name in ("baseline", "endline")]
        other_spec = dataclasses.replace(spec, title="Other survey", form_id="other")
        other = service.create_survey(session=session, spec=other_spec, actor=None)
        other_wave = service.create_wave(session=session, survey=other, actor=None,
                                         wave_create=WaveCreate(name="baseline", kind="baseline"))
        key = current_key(session=session, survey_id=survey.id)
        other_version = current_key(session=session, survey_id=other.id).version_id
        session.commit()
        ids = {"survey": survey.id, "waves": [w.id for w in waves], "other": other.id, "other_wave": other_wave.id,
               "version": key.version_id, "other_version": other_version, "digest": key.digest}

    # Eight answer templates (about 1 KB each) from the analysis benchmark's generator; per row the
    # instance id, age and GPS change.
    rng = np.random.default_rng(3)
    scores = (rng.random((8, 40)) < 0.5).astype(np.float32)
    scores[:, 16:26] = rng.integers(1, 6, (8, 10))
    samples = analysis_report.answers_for(rng, list(spec.items()), scores,
                                          datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc), "0")
    templates = []
    for answers, _flags, _begin, _end in samples:
        answers = {**answers, "age": "@AGE@", "meta": {**answers["meta"], "instanceID": "uuid:@ID@", "gps": "@GPS@"}}
        templates.append(json.dumps(answers, ensure_ascii=False).replace('"@AGE@"', "@AGE@"))
    blobs = [np.where(rng.random(40) < 0.05, np.nan, scores[i % 8]).astype(np.float32).tobytes() for i in range(64)]
    enumerators = [u.id for u in users]
    a_rows = int(n * 0.45)
    too_short = json.dumps([{"code": "too_short", "message": "Interview shorter than 5 seconds per answered question"}])
    with engine.begin() as conn:
        conn.execute(text("CREATE TEMP TABLE bench_tpl (k int PRIMARY KEY, answers text)"))
        conn.execute(text("INSERT INTO bench_tpl VALUES (:k, :a)"), [{"k": k, "a": a} for k, a in enumerate(templates)])
        conn.execute(text("CREATE TEMP TABLE bench_blob (k int PRIMARY KEY, scores bytea)"))
        conn.execute(text("INSERT INTO bench_blob VALUES (:k, :b)"), [{"k": k, "b": b} for k, b in enumerate(blobs)])
        t = time.perf_counter()
        conn.execute(text("""
            INSERT INTO submission (id, uuid, survey_id, wave_id, instrument_version_id, enumerator_id, enumerator_name,
                source, status, started_at, ended_at, language, segment, region, cluster, stratum, weight,
                respondent_code, arm, sex, age_group, answers, content_hash, flags, revision, review_comment,
                received_at, updated_at)
            SELECT g, md5(g::text) || '-' || g,
                CASE WHEN g <= 2 * :a THEN :survey ELSE :other END,
                CASE WHEN g <= :a THEN :w0 WHEN g <= 2 * :a THEN :w1 ELSE :ow END,
                CASE WHEN g <= 2 * :a THEN :version ELSE :other_version END,
                CASE WHEN g % 5 = 0 THEN NULL ELSE (:enumerators)[1 + g % 20] END,
                CASE WHEN g % 5 = 0 THEN 'ench_' || lpad((g % 60)::text, 3, '0') ELSE '' END,
                CASE WHEN g % 5 = 0 THEN 'import' ELSE 'api' END,
                CASE WHEN g % 100 < 60 THEN 'received' WHEN g % 100 < 90 THEN 'approved'
                     WHEN g % 100 < 97 THEN 'has_issues' ELSE 'rejected' END,
                t0 + (g % 1000) * interval '1 minute', t0 + (g % 1000 + 20) * interval '1 minute',
                CASE WHEN g % 4 = 0 THEN 'fr' ELSE 'ht' END,
                (ARRAY['judges','prosecutors','lawyers','police','border_officials','social_workers','media',
                       'general_public'])[1 + (g * 7) % 8],
                'r' || (g * 13) % 10, 'r' || (g * 13) % 10 || 'c' || (g * 31) % 40, 'r' || (g * 13) % 10,
                0.5 + ((g * 13) % 10) * 0.2, '',
                CASE WHEN (g * 17) % 10 < 7 THEN 'intervention' ELSE 'comparison' END,
                CASE WHEN g % 2 = 0 THEN 'female' ELSE 'male' END, '25-34',
                CAST(replace(replace(replace(tpl.answers, '@ID@', md5(g::text || 'i')), '@AGE@', (18 + g % 52)::text),
                             '@GPS@', (18 + (g % 1900) / 1000.0)::text || ' -72.' || (g % 999999)::text || ' 40.0 4.8')
                     AS json),
                md5(g::text) || md5(g::text || 'h'),
                CAST(CASE WHEN g % 25 = 0 THEN :too_short ELSE '[]' END AS json), 1, '',
                t0 + g * (interval '180 days' / :total), t0 + g * (interval '180 days' / :total)
            FROM generate_series(1, :total) AS g, (SELECT CAST(:t0 AS timestamptz) AS t0) AS start, bench_tpl AS tpl
            WHERE tpl.k = g % 8
        """), {"a": a_rows, "survey": ids["survey"], "other": ids["other"], "w0": ids["waves"][0],
               "w1": ids["waves"][1], "ow": ids["other_wave"], "version": ids["version"],
               "other_version": ids["other_version"], "enumerators": enumerators, "too_short": too_short, "total": n,
               "t0": datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)})
        conn.execute(text("""
            INSERT INTO submission_score (submission_id, key_digest, scores, scored_at)
            SELECT g, :digest, b.scores, now() FROM generate_series(1, 2 * :a) AS g, bench_blob AS b WHERE b.k = g % 64
        """), {"digest": ids["digest"], "a": a_rows})
        conn.execute(text("SELECT setval(pg_get_serial_sequence('submission', 'id'), :n)"), {"n": n})
        ids["fill_s"] = time.perf_counter() - t
    raw = engine.raw_connection()
    try:
        raw.driver_connection.autocommit = True
        t = time.perf_counter()
        raw.driver_connection.execute("VACUUM ANALYZE")
        ids["vacuum_s"] = time.perf_counter() - t
        size = raw.driver_connection.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('submission')), pg_size_pretty(pg_relation_size('submission')), "
            "avg(pg_column_size(answers))::int FROM (SELECT answers FROM submission LIMIT 10000) s").fetchone()
        ids["size"] = {"submission_total": size[0], "submission_heap": size[1], "answers_bytes_avg": size[2]}
    finally:
        raw.close()
    engine.dispose()
    return ids


class Recorder:
    """Every SELECT on ``submission`` the app runs, with its parameters, and the page it came from."""

    def __init__(self, engine):
        from sqlalchemy import event

        from surveys import analysis_service

        self.page = ""
        self.statements: dict[tuple[str, str], tuple[str, object, str]] = {}
        event.listen(engine, "before_cursor_execute", self._before)
        original = analysis_service._fetch

        def fetch(session, query):  # the report's rows go through the DB-API cursor, past the events
            compiled, values = analysis_service.compile_with_values(query, session.connection().dialect)
            self._add(str(compiled), values)
            return original(session, query)

        analysis_service._fetch = fetch

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if not executemany:
            self._add(statement, parameters)

    def _add(self, statement: str, parameters) -> None:
        if statement.lstrip().upper().startswith("SELECT") and re.search(r"\bsubmission\b", statement):
            self.statements.setdefault((statement, repr(parameters)), (statement, parameters, self.page))


def _pages(url: str, ids: dict, recorder_box: list) -> list[tuple[str, float, int]]:
    """Request the report and review pages as a lead and a supervisor would; (page, seconds, status)."""
    from starlette.testclient import TestClient

    from tests.factories import login
    from web.app import create_app
    from web.db import make_engine
    from web.settings import load_settings

    engine = make_engine(url)
    recorder = Recorder(engine)
    recorder_box.append(recorder)
    timings = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(env="test", database_url=url, secret_key="explain-secret-" + "x" * 32,
                                 data_dir=Path(tmp))
        app = create_app(settings, engine=engine)
        survey, (w0, _w1) = ids["survey"], ids["waves"]
        pages = [("lea", f"/analysis/{survey}?by=segment", "report (cold)"),
                 ("lea", f"/analysis/{survey}?by=segment", "report (warm)"),
                 ("sam", "/review", "review, no filter"),
                 ("sam", f"/review?survey={survey}&wave={w0}", "review, one survey and wave"),
                 ("sam", f"/review?survey={survey}&wave={w0}&page=2000", "review, page 2,000"),
                 ("sam", f"/review?survey={survey}&flag=too_short", "review, one flag"),
                 ("sam", f"/surveys/{survey}", "survey page")]
        clients = {}
        try:
            for who in ("lea", "sam"):
                clients[who] = TestClient(app, base_url="http://testserver", follow_redirects=False).__enter__()
                login(clients[who], who)
            for who, path, label in pages:
                recorder.page = label
                t = time.perf_counter()
                response = clients[who].get(path)
                timings.append((label, time.perf_counter() - t, response.status_code))
        finally:
            for c in clients.values():
                c.__exit__(None, None, None)
    engine.dispose()
    return timings


def _explain(url: str, recorder: Recorder) -> list[tuple[float, str, str, str]]:
    """Each recorded statement under EXPLAIN (ANALYZE, BUFFERS): (ms, page, statement, plan)."""
    from web.db import make_engine

    engine = make_engine(url)
    raw = engine.raw_connection()
    out = []
    try:
        conn = raw.driver_connection
        for statement, parameters, page in recorder.statements.values():
            cur = conn.cursor()
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters or None)
            plan = "\n".join(row[0] for row in cur.fetchall())
            cur.close()
            conn.rollback()
            ms = float(re.search(r"Execution Time: ([\d.]+) ms", plan).group(1))
            out.append((ms, page, statement, plan))
    finally:
        raw.close()
        engine.dispose()
    return sorted(out, key=lambda r: -r[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--submissions", type=int, default=1_000_000)
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--top", type=int, default=12, help="plans to print, slowest first")
    args = parser.parse_args()
    import os

    from alembic import command

    from tests.factories import scratch_database
    from web.db import alembic_config

    with scratch_database(args.database, "konbit_bench_explain") as url:
        cfg = alembic_config(url)
        cfg.attributes["configure_logging"] = False
        command.upgrade(cfg, "head")
        t = time.perf_counter()
        ids = _fill(url, args.submissions)
        print(f"{args.submissions:,} submissions in {time.perf_counter() - t:.0f} s (insert {ids['fill_s']:.0f} s, "
              f"VACUUM ANALYZE {ids['vacuum_s']:.0f} s); {json.dumps(ids['size'])}; load average "
              f"{os.getloadavg()[0]:.1f}", flush=True)
        box: list = []
        for label, seconds, status in _pages(url, ids, box):
            print(f"  {label}: {seconds:.2f} s (HTTP {status})", flush=True)
        for ms, page, statement, plan in _explain(url, box[0])[:args.top]:
            print(f"\n=== {ms:.1f} ms, {page}\n{statement}\n--- plan\n{plan}", flush=True)


if __name__ == "__main__":
    main()
