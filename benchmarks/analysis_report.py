"""Benchmark: the full KAP-shift report from the database.

Targets (issue 4): 200,000 respondents per wave, 40 items, clustered and weighted, 8 segments;
the full report (items, domains, breakdown by segment, DiD, exposure) in under 3 s cold and under
0.5 s when nothing changed, memory under 1 GiB, on SQLite and PostgreSQL; time about linear in n.

    .venv/bin/python benchmarks/analysis_report.py --per-wave 20000 200000
    .venv/bin/python benchmarks/analysis_report.py --per-wave 200000 --database postgresql://postgres@127.0.0.1:5432/postgres

The rows are bulk-inserted with their stored item scores (as ``konbit`` stores them when a
submission arrives) and realistic answers: each of the 40 items answered as its score says, age,
education and free-text answers (Kreyòl and French), and a KoboCollect ``meta`` block (instance
id, device, start and end, GPS, enumerator), about 1.1 KB of JSON a row, with start and end
times and a ``too_short`` flag on the short interviews. What is timed is what a lead waits for:
reading two waves from the database and computing the report (cold: a fresh process, no cached
report), then the same request again (warm: nothing changed, the cached report is returned;
median of 5 in the process). Each figure is measured in ``--repeat`` fresh processes (3 by
default) and printed as [minimum, median]. Beside each, its floor: for the cold report, a plain
read of the same rows and columns (id, wave, weight, score blob, the text design fields joined)
through the DB-API cursor into numpy arrays, nothing else; for the warm one, its one query over
the submissions (count, latest update, largest id) through the cursor. Wall and CPU time are
both reported, with the load average, since other work on the machine stretches wall time.
Peak memory is the child process's maximum resident set size after the cold report. On
PostgreSQL the tables are ANALYZEd after the bulk load, as autovacuum would do shortly after.

Where R is installed (``Rscript`` with the ``survey`` package), the same design-based tests
run in R on the same data (``benchmarks/analysis_report.R``: svyby means with design effects,
svychisq per item, svyttest per domain score, overall and by segment; the DiD svyglm; exposure
means and slope): the data go to a CSV, R times only its computing, and the ratio R / Konbit
is printed, against Konbit's cold report (database included) and against its statistics alone
(``analyse``). Two of R's numbers are compared with Konbit's report as a check. ``--r-max``
sets the largest size R is run on (default 20,000 per wave: R takes about 5 minutes at 200,000).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _spec():
    from surveys.spec import ChoiceSpec, InstrumentSpec, ItemSpec, SectionSpec

    yn = (ChoiceSpec("yes", {"en": "Yes"}), ChoiceSpec("no", {"en": "No"}), ChoiceSpec("dk", {"en": "Don't know"}))
    agree = tuple(ChoiceSpec(str(i), {"en": str(i)}) for i in range(1, 6))
    items = [ItemSpec(f"k{i:02d}", "yes_no_dk", {"en": f"Knowledge {i}"}, choice_list="ynd", kap_domain="knowledge",
                      kap_correct=("yes",)) for i in range(16)]
    items += [ItemSpec(f"a{i:02d}", "likert5", {"en": f"Attitude {i}"}, choice_list="agree5", kap_domain="attitude",
                       kap_reverse=i % 3 == 0) for i in range(10)]
    items += [ItemSpec(f"p{i:02d}", "yes_no_dk", {"en": f"Practice {i}"}, choice_list="ynd", kap_domain="practice",
                       kap_desired=("yes",)) for i in range(8)]
    items += [ItemSpec(f"e{i:02d}", "yes_no_dk", {"en": f"Exposure {i}"}, choice_list="ynd", kap_domain="exposure",
                       kap_channel=f"channel{i}") for i in range(6)]
    return InstrumentSpec(title="Benchmark KAP", form_id="bench", version="1", default_language="en", languages=("en",),
                          sections=(SectionSpec("s", items=tuple(items)),), choice_lists={"ynd": yn, "agree5": agree})


_NOTES = ("Li di li tande pwogram nan sou radyo a samdi pase.", "Moun nan te pè reponn kesyon sou lalwa a.",
          "Entèvyou a fèt nan lakou tribinal la, te gen bwi.", "Il a demandé de revenir après l'audience.",
          "Repondan an konnen nimewo liy dirèk la men li pa janm rele.", "Elle travaille au parquet depuis 2019.",
          "Li te vle konnen kilè fòmasyon an ap fèt.", "Le répondant a hésité sur les questions d'attitude.")
_OTHER = ("legliz", "kominote a", "yon zanmi", "lekòl", "sendika a", "WhatsApp", "jounal la", "")


def answers_for(rng, spec_items, scores, started, segment_code: str) -> list[tuple[dict, list, datetime, datetime]]:
    """Realistic answers for a batch: each of the 40 items answered as its stored score says (yes, no
    or don't know; 1-5), background and free-text answers, and a KoboCollect-like ``meta`` block, about
    1 KB of JSON; with the interview's start and end and its quality flags."""
    from datetime import timedelta

    m = scores.shape[0]
    minutes = rng.uniform(6, 35, m)
    offsets = rng.integers(0, 30 * 24 * 60, m)
    dk = rng.random(scores.shape) < 0.3
    ages = rng.integers(18, 70, m)
    lat, lon = rng.uniform(18.0, 19.9, m), rng.uniform(-74.4, -71.7, m)
    device = rng.integers(0, 400, m)
    notes, other = rng.integers(0, len(_NOTES), (m, 2)), rng.integers(0, len(_OTHER), m)
    out = []
    for i in range(m):
        answers: dict = {"consent": "yes", "age": int(ages[i]), "education": ("none", "primary", "secondary", "higher")[ages[i] % 4],
                         "occupation_other": _OTHER[other[i]], "household_size": int(ages[i] % 9 + 1)}
        row = scores[i]
        for j, item in enumerate(spec_items):
            v = row[j]
            if v != v:  # NaN: not answered
                continue
            if item.type == "likert5":
                answers[item.code] = str(6 - int(v) if item.kap_reverse else int(v))
            else:
                answers[item.code] = "yes" if v >= 1 else ("dk" if dk[i, j] else "no")
        answers["p_report_to_other"] = _OTHER[(other[i] + 3) % len(_OTHER)]
        answers["comments"] = f"{_NOTES[notes[i, 0]]} {_NOTES[notes[i, 1]]}"
        begin = started + timedelta(minutes=int(offsets[i]))
        end = begin + timedelta(minutes=float(minutes[i]))
        answers["meta"] = {"instanceID": f"uuid:{secrets.token_hex(16)}", "deviceid": f"collect:{device[i]:04d}{segment_code}",
                           "start": begin.isoformat(timespec="milliseconds"), "end": end.isoformat(timespec="milliseconds"),
                           "today": begin.date().isoformat(), "gps": f"{lat[i]:.6f} {lon[i]:.6f} {ages[i] + 20}.0 4.{device[i] % 10}",
                           "enumerator": f"ench_{device[i] % 60:03d}", "form_version": "2026031201", "audit": "audit.csv"}
        flags = [{"code": "too_short", "message": "Interview shorter than 5 seconds per answered question"}] \
            if minutes[i] < 7 else []
        out.append((answers, flags, begin, end))
    return out


def load(url: str, per_wave: int) -> int:
    """Create the survey and bulk-insert 2 x per_wave submissions with their scores; return the survey id."""
    from datetime import datetime, timezone

    import numpy as np
    from sqlmodel import Session

    from surveys import service
    from surveys.analysis_service import current_key
    from surveys.models import Submission, SubmissionScore, WaveCreate
    from web.accounts.models import utcnow
    from web.db import make_engine

    engine = make_engine(url)
    rng = np.random.default_rng(1)
    spec = _spec()
    items = list(spec.items())
    with Session(engine) as session:
        survey = service.create_survey(session=session, spec=spec, actor=None)
        waves = [service.create_wave(session=session, survey=survey, actor=None,
                                     wave_create=WaveCreate(name=name, kind=name)) for name in ("baseline", "endline")]
        key = current_key(session=session, survey_id=survey.id)
        session.commit()
        version_id, survey_id = key.version_id, survey.id
        segments = ["judges", "prosecutors", "lawyers", "police", "border_officials", "social_workers", "media", "general_public"]
        now = utcnow()
        batch = 20_000
        next_id = 1
        for w, wave in enumerate(waves):
            started = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc) if w == 0 else datetime(2026, 10, 28, 8, 0, tzinfo=timezone.utc)
            for start in range(0, per_wave, batch):
                m = min(batch, per_wave - start)
                scores = (rng.random((m, 40)) < 0.45 + 0.1 * w).astype(np.float32)
                scores[:, 16:26] = rng.integers(1, 6, (m, 10))
                scores[rng.random((m, 40)) < 0.05] = np.nan
                seg = rng.integers(0, 8, m)
                region = rng.integers(0, 10, m)
                cluster = rng.integers(0, 40, m)
                arm = rng.random(m) < 0.7
                ids = list(range(next_id, next_id + m))
                next_id += m
                answers = answers_for(rng, items, scores, started, str(w))
                session.execute(Submission.__table__.insert(), [
                    {"id": ids[i], "uuid": f"{w}-{start + i}-{secrets.token_hex(4)}", "survey_id": survey_id,
                     "wave_id": wave.id, "instrument_version_id": version_id, "source": "import", "status": "received",
                     "segment": segments[seg[i]], "region": f"r{region[i]}", "cluster": f"r{region[i]}c{cluster[i]}",
                     "stratum": f"r{region[i]}", "weight": float(0.5 + region[i] * 0.2), "respondent_code": "",
                     "arm": "intervention" if arm[i] else "comparison", "sex": "female" if i % 2 else "male",
                     "age_group": "25-34", "answers": answers[i][0], "content_hash": secrets.token_hex(32),
                     "flags": answers[i][1], "revision": 1, "started_at": answers[i][2], "ended_at": answers[i][3],
                     "enumerator_name": answers[i][0]["meta"]["enumerator"], "language": "ht" if i % 4 else "fr",
                     "review_comment": "", "received_at": now, "updated_at": now}
                    for i in range(m)])
                session.execute(SubmissionScore.__table__.insert(), [
                    {"submission_id": ids[i], "key_digest": key.digest, "scores": scores[i].tobytes(), "scored_at": now}
                    for i in range(m)])
                session.commit()
    engine.dispose()
    return survey_id


def _raw_cursor(session):
    connection = session.connection()
    raw = connection.connection.driver_connection
    postgres = connection.dialect.name == "postgresql"
    return (raw.cursor(binary=True) if postgres else raw.cursor()), ("%s" if postgres else "?")


def floor_read(session, survey_id: int, wave_ids: list[int]) -> tuple[float, int]:
    """The floor of the cold report: a plain read of the rows it reads (id, wave, weight, the score blob,
    the text design fields joined as the report joins them) into numpy arrays, through the DB-API cursor
    in batches as the report does; no coding of labels, no statistics. Seconds and rows."""
    import numpy as np

    from surveys.analysis_service import FETCH_BATCH

    t = time.perf_counter()
    cursor, p = _raw_cursor(session)
    sep = "'\x1f'"
    cursor.execute(
        f"SELECT s.id, s.wave_id, s.weight, sc.scores, s.cluster || {sep} || s.stratum || {sep} || s.arm || {sep} || s.segment "
        f"FROM submission s LEFT JOIN submission_score sc ON sc.submission_id = s.id "
        f"WHERE s.survey_id = {p} AND (s.wave_id = {p} OR s.wave_id = {p})", (survey_id, *wave_ids))
    ids, weights, blobs, texts = [], [], [], []
    while rows := cursor.fetchmany(FETCH_BATCH):
        m = len(rows)
        ids.append(np.fromiter((r[0] for r in rows), dtype=np.int64, count=m))
        weights.append(np.fromiter((r[2] for r in rows), dtype=np.float64, count=m))
        blobs.append(np.frombuffer(b"".join(r[3] for r in rows), dtype=np.float32).reshape(m, 40))
        texts.append(np.array([r[4] for r in rows], dtype=object))
    cursor.close()
    n = sum(map(len, ids))
    np.concatenate(blobs)
    return time.perf_counter() - t, n


def floor_fingerprint(session, survey_id: int, wave_ids: list[int]) -> float:
    """The floor of the warm report: its one query over the submissions (count, latest update, largest id),
    through the DB-API cursor; no cached report read, no hashing."""
    t = time.perf_counter()
    cursor, p = _raw_cursor(session)
    cursor.execute(f"SELECT count(*), max(updated_at), max(id) FROM submission WHERE survey_id = {p} "
                   f"AND wave_id IN ({p}, {p})", (survey_id, *wave_ids))
    cursor.fetchall()
    cursor.close()
    return time.perf_counter() - t


def measure(url: str, survey_id: int) -> dict:
    """In this (fresh) process: the cold report, then the warm one (median of 5), then their floors;
    and peak memory."""
    import statistics

    from sqlmodel import Session, select

    from surveys.analysis_service import get_report
    from surveys.models import Wave
    from web.db import make_engine

    engine = make_engine(url)
    load_average = os.getloadavg()[0]
    with Session(engine) as session:
        t, c = time.perf_counter(), time.process_time()
        report = get_report(session=session, survey_id=survey_id, baseline="baseline", endline="endline", by="segment",
                            use_cache=False)
        session.commit()
        cold, cold_cpu = time.perf_counter() - t, time.process_time() - c
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        warm = []
        for _ in range(5):
            t, c = time.perf_counter(), time.process_time()
            get_report(session=session, survey_id=survey_id, baseline="baseline", endline="endline", by="segment")
            warm.append((time.perf_counter() - t, time.process_time() - c))
        warm.sort()
        wave_ids = list(session.execute(select(Wave.id).where(Wave.survey_id == survey_id).order_by(Wave.id)).scalars())
        session.commit()
        floor_cold, rows = floor_read(session, survey_id, wave_ids)
        floor_warm = statistics.median(floor_fingerprint(session, survey_id, wave_ids) for _ in range(5))
    assert len(report["groups"]) == 8 and "did" in report and "exposure" in report
    did = {d["code"]: d["estimate"] for d in report["did"]["domains"]}
    return {"cold_s": cold, "cold_cpu_s": cold_cpu, "warm_s": warm[2][0], "warm_cpu_s": warm[2][1],
            "floor_cold_s": floor_cold, "floor_rows": rows, "floor_warm_s": floor_warm, "peak_rss_mib": peak,
            "load_average": load_average, "check": {"first_item_f": report["items"][0]["statistic"], "did": did}}


def export(url: str, survey_id: int, path: str) -> dict:
    """Write the two waves as ``analysis_report.R`` reads them; time Konbit's statistics alone."""
    import numpy as np
    import pandas as pd
    from sqlmodel import Session

    from surveys.analysis import analyse
    from surveys.analysis_service import _load, _wave, current_key
    from surveys.models import Survey
    from surveys.scoring import domain_scores, exposure_dose, favourable
    from web.db import make_engine

    engine = make_engine(url)
    with Session(engine) as session:
        survey = session.get(Survey, survey_id)
        key = current_key(session=session, survey_id=survey_id)
        waves = _wave(session, survey_id, "baseline", "baseline"), _wave(session, survey_id, "endline", "endline")
        data = _load(session, survey, *waves, key, "segment")
    t, c = time.perf_counter(), time.process_time()
    analyse(data, by="segment")
    compute, compute_cpu = time.perf_counter() - t, time.process_time() - c
    k = data.key
    fav, dom, dose = favourable(k, data.scores), domain_scores(k, data.scores), exposure_dose(k, data.scores)
    arm = data.arm.labels()
    columns = {"wave": data.wave, "stratum": data.strata.labels(), "cluster": data.clusters.labels(),
               "weight": data.weights, "segment": data.groups["segment"].labels(),
               "treated": np.where(arm == "intervention", 1.0, np.where(arm == "comparison", 0.0, np.nan)),
               "dose": np.where((data.wave == 1) & ~np.isnan(dose), np.minimum(np.nan_to_num(dose), 3), np.nan)}
    columns.update({f"i_{it.code}": fav[:, j] for j, it in enumerate(k.items) if it.domain != "exposure"})
    columns.update({f"d_{name}": dom[name] for name in ("knowledge", "attitude", "practice") if name in dom})
    pd.DataFrame(columns).to_csv(path, index=False, na_rep="NA")
    return {"analyse_s": round(compute, 2), "analyse_cpu_s": round(compute_cpu, 2)}


def in_r(url: str, survey_id: int, konbit: dict) -> dict:
    """R's time on the same tests and data, the ratios to Konbit's, and the check values."""
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "waves.csv")
        out = subprocess.run([sys.executable, __file__, "--export", url, str(survey_id), path], capture_output=True,
                             text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        alone = json.loads(out.stdout.strip().splitlines()[-1])
        r = subprocess.run(["Rscript", str(ROOT / "benchmarks" / "analysis_report.R"), path], capture_output=True,
                           text=True, check=True)
    seconds, first_f, did = (float(v) for v in r.stdout.split())
    check = konbit["check"]
    return {"r_s": round(seconds, 1), **alone, "r_over_cold": round(seconds / konbit["cold_s"], 1),
            "r_over_analyse": round(seconds / alone["analyse_s"], 1),
            "check_first_item_f": [round(first_f, 10), round(check["first_item_f"], 10)],
            "check_did_practice": [round(did, 12), round(check["did"]["practice"], 12)]}


def _min_median(values: list[float]) -> list[float]:
    import statistics

    return [round(min(values), 4), round(statistics.median(values), 4)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-wave", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--database", default="", help="a PostgreSQL server URL (a fresh database is made and dropped)")
    parser.add_argument("--r-max", type=int, default=20_000,
                        help="largest respondents per wave to time R on (0: never)")
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes measuring each figure (min and median)")
    parser.add_argument("--measure", nargs=2, metavar=("URL", "SURVEY_ID"), help=argparse.SUPPRESS)
    parser.add_argument("--export", nargs=3, metavar=("URL", "SURVEY_ID", "CSV"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure[0], int(args.measure[1]))))
        return
    if args.export:
        print(json.dumps(export(args.export[0], int(args.export[1]), args.export[2])))
        return
    from alembic import command
    from sqlalchemy import create_engine, text

    from web.db import alembic_config

    with_r = shutil.which("Rscript") is not None
    for n in args.per_wave:
        admin = None
        if args.database:
            name = f"konbit_bench_{secrets.token_hex(3)}"
            admin = create_engine(args.database.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = args.database.rsplit("/", 1)[0] + "/" + name
            url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        else:
            tmp = tempfile.mkdtemp()
            url = f"sqlite:///{tmp}/bench.db"
        try:
            cfg = alembic_config(url)
            cfg.attributes["configure_logging"] = False
            command.upgrade(cfg, "head")
            t = time.perf_counter()
            survey_id = load(url, n)
            loaded = time.perf_counter() - t
            if args.database:
                analyzed = create_engine(url, isolation_level="AUTOCOMMIT")
                with analyzed.connect() as conn:
                    conn.execute(text("ANALYZE"))
                analyzed.dispose()
            runs = []
            for _ in range(args.repeat):  # each in a fresh process: a cold report has nothing cached in memory
                out = subprocess.run([sys.executable, __file__, "--measure", url, str(survey_id)], capture_output=True,
                                     text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            result = {k: _min_median([r[k] for r in runs]) for k in runs[0] if k not in ("check", "floor_rows")}
            result["check"] = runs[0]["check"]
            backend = "postgresql" if args.database else "sqlite"
            row = {"backend": backend, "per_wave": n, "rows": runs[0]["floor_rows"], "load_s": round(loaded, 1),
                   "runs": len(runs), **result}
            if with_r and n <= args.r_max:
                row.update(in_r(url, survey_id, {"cold_s": result["cold_s"][0], "check": runs[0]["check"]}))
            row.pop("check")
            print(json.dumps(row), flush=True)
        finally:
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
            else:
                shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
