"""Benchmark: import a 100,000-row KoboToolbox CSV export of a 60-question KAP form.

Targets (issue 3): under 30 s and under 1 GiB of memory for the whole import.

    .venv/bin/python benchmarks/import_kobo_csv.py                 # SQLite in a temporary directory
    .venv/bin/python benchmarks/import_kobo_csv.py --rows 20000
    .venv/bin/python benchmarks/import_kobo_csv.py --database postgresql://postgres@127.0.0.1:5432/postgres

With ``--database postgresql://...`` a fresh database is created on that server and dropped
afterwards. The CSV is written the way Kobo writes it: ``;`` separated, group paths in
the headers (``grp_knowledge/k01``), select_multiple both as one column and split into
``q/choice`` 0/1 columns, ``start``/``end``, ``_uuid``, ``meta/instanceID``,
``_submission_time`` and Kobo's bookkeeping columns, plus the design columns.

What is timed: pass 1 (check every row, look up every id) and pass 2 (store the rows,
committing every 500), as ``konbit surveys import-responses --yes`` runs them; then a
second import of the same file, which must create nothing. Peak memory is the process's
maximum resident set size (``getrusage``), measured in a child process that does only the
import, so that generating the file does not count. All of it is repeated ``--repeat`` times
(3 by default), each on a fresh database; figures are minimum / median. The floor is the same
file read with ``csv`` and its rows' JSON inserted as plain rows into a scratch table, committing
every 500: what reading the file and writing its bytes cost alone.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from surveys.spec import ChoiceSpec, InstrumentSpec, ItemSpec, SectionSpec  # noqa: E402

YND = "ynd"
AGREE = "agree5"
MULTI_LISTS = {"channels": ("radio", "tv", "sms", "church", "school", "market"),
               "signs": ("job_offer", "documents", "debt", "isolation", "dk")}


def form_spec() -> InstrumentSpec:
    """60 questions: 15 knowledge, 15 attitudes (Likert 5), 10 practices, 10 exposure, 10 background."""
    def labels(text: str) -> dict[str, str]:
        return {"ht": text + " (ht)", "fr": text + " (fr)", "en": text}

    def choices(*names: str) -> tuple[ChoiceSpec, ...]:
        return tuple(ChoiceSpec(name=n, labels=labels(n.replace("_", " ").title())) for n in names)

    background = [ItemSpec(code="consent", type="yes_no_dk", choice_list="yn", required=True, kap_domain="background",
                           labels=labels("Consent"))]
    background += [ItemSpec(code="age", type="integer", required=True, constraint=". >= 15 and . <= 99",
                            kap_domain="background", labels=labels("Age"))]
    background += [ItemSpec(code="education", type="single_choice", choice_list="education", kap_domain="background",
                            labels=labels("Education"))]
    background += [ItemSpec(code="household", type="integer", constraint=". > 0", kap_domain="background",
                            labels=labels("Household size"))]
    background += [ItemSpec(code="income", type="decimal", kap_domain="background", labels=labels("Income"))]
    background += [ItemSpec(code=f"b{i:02d}", type="single_choice", choice_list="education", kap_domain="background",
                            labels=labels(f"Background {i}")) for i in range(6, 10)]
    background += [ItemSpec(code="phone", type="text", personal=True, kap_domain="background", labels=labels("Phone"))]
    knowledge = [ItemSpec(code=f"k{i:02d}", type="yes_no_dk", choice_list=YND, kap_domain="knowledge", kap_correct=("yes",),
                          labels=labels(f"Knowledge {i}")) for i in range(1, 14)]
    knowledge += [ItemSpec(code="k_signs", type="multiple_choice", choice_list="signs", kap_domain="knowledge",
                           kap_correct=("job_offer", "documents", "debt"), labels=labels("Signs"))]
    knowledge += [ItemSpec(code="k_year", type="integer", kap_domain="knowledge", labels=labels("Year of the law"),
                           relevant="${k01} = 'yes'")]
    attitudes = [ItemSpec(code=f"a{i:02d}", type="likert5", choice_list=AGREE, kap_domain="attitude",
                          kap_reverse=i % 3 == 0, labels=labels(f"Attitude {i}")) for i in range(1, 16)]
    practice = [ItemSpec(code=f"p{i:02d}", type="yes_no_dk", choice_list=YND, kap_domain="practice", kap_desired=("yes",),
                         labels=labels(f"Practice {i}")) for i in range(1, 10)]
    practice += [ItemSpec(code="p_note", type="text", kap_domain="practice", labels=labels("Comment"))]
    exposure = [ItemSpec(code=f"e{i:02d}", type="yes_no_dk", choice_list=YND, kap_domain="exposure", kap_channel="radio",
                         labels=labels(f"Exposure {i}")) for i in range(1, 8)]
    exposure += [ItemSpec(code="e_channels", type="multiple_choice", choice_list="channels", kap_domain="exposure",
                          labels=labels("Channels"))]
    exposure += [ItemSpec(code="e_times", type="integer", kap_domain="exposure", relevant="${e01} = 'yes'",
                          constraint=". >= 1 and . <= 100", labels=labels("Times heard"))]
    exposure += [ItemSpec(code="e_last", type="date", kap_domain="exposure", relevant="${e01} = 'yes'",
                          labels=labels("Last heard"))]
    meta = [ItemSpec(code="start", type="start"), ItemSpec(code="end", type="end")]
    sections = (
        SectionSpec(name="", items=tuple(meta)),
        SectionSpec(name="grp_background", labels=labels("Background"), items=tuple(background)),
        SectionSpec(name="grp_knowledge", labels=labels("Knowledge"), relevant="${consent} = 'yes'", items=tuple(knowledge)),
        SectionSpec(name="grp_attitudes", labels=labels("Attitudes"), relevant="${consent} = 'yes'", items=tuple(attitudes)),
        SectionSpec(name="grp_practice", labels=labels("Practice"), relevant="${consent} = 'yes'", items=tuple(practice)),
        SectionSpec(name="grp_exposure", labels=labels("Exposure"), relevant="${consent} = 'yes'", items=tuple(exposure)),
    )
    lists = {
        "yn": choices("yes", "no"), YND: choices("yes", "no", "dk"), AGREE: choices("1", "2", "3", "4", "5"),
        "education": choices("none", "primary", "secondary", "higher"),
        **{name: choices(*names) for name, names in MULTI_LISTS.items()},
    }
    spec = InstrumentSpec(title="Benchmark KAP (60 questions)", form_id="bench_kap", version="1", default_language="en",
                          languages=("ht", "fr", "en"), sections=sections, choice_lists=lists)
    questions = [it for it in spec.items() if it.type not in ("start", "end")]
    assert len(questions) == 60, len(questions)
    return spec


def write_csv(path: Path, spec: InstrumentSpec, rows: int, seed: int = 1) -> None:
    """A Kobo-style export: ``;`` separated, group paths, split select_multiple columns too."""
    rng = random.Random(seed)
    header: list[str] = ["start", "end"]
    sections = {it.code: s.name for s in spec.sections for it in s.items}
    items = [it for it in spec.items() if it.type not in ("start", "end")]
    for it in items:
        path_name = f"{sections[it.code]}/{it.code}" if sections[it.code] else it.code
        header.append(path_name)
        if it.type == "multiple_choice":
            header += [f"{path_name}/{c.name}" for c in spec.choice_lists[it.choice_list]]
    header += ["wave", "segment", "region", "cluster", "stratum", "weight", "arm", "sex", "age_group", "enumerator",
               "meta/instanceID", "_id", "_uuid", "_submission_time", "_validation_status", "_notes", "_status",
               "_submitted_by", "__version__", "_tags", "_index"]
    regions = ["Ouest", "Nord", "Sud", "Artibonite", "Centre", "Nord-Est"]
    start0 = datetime(2026, 10, 1, 8, tzinfo=timezone.utc)
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(header)
        for n in range(rows):
            started = start0 + timedelta(minutes=7 * n)
            ended = started + timedelta(minutes=rng.randint(14, 40))
            cells: list[str] = [started.isoformat(timespec="milliseconds"), ended.isoformat(timespec="milliseconds")]
            answers: dict[str, str] = {}
            for it in items:
                if it.type == "yes_no_dk":
                    names = [c.name for c in spec.choice_lists[it.choice_list]]
                    value = "yes" if it.code == "consent" else rng.choice(names)
                elif it.type in ("likert5", "single_choice"):
                    value = rng.choice([c.name for c in spec.choice_lists[it.choice_list]])
                elif it.type == "multiple_choice":
                    names = [c.name for c in spec.choice_lists[it.choice_list] if c.name != "dk"]
                    value = " ".join(sorted(rng.sample(names, rng.randint(1, 3)), key=names.index))
                elif it.type == "integer":
                    value = str({"age": rng.randint(15, 80), "household": rng.randint(1, 12),
                                 "k_year": rng.choice([2010, 2014, 2018]), "e_times": rng.randint(1, 30)}.get(
                                     it.code, rng.randint(0, 50)))
                elif it.type == "decimal":
                    value = f"{rng.uniform(0, 5000):.2f}"
                elif it.type == "date":
                    value = (date(2026, 9, 1) + timedelta(days=rng.randint(0, 29))).isoformat()
                else:
                    value = rng.choice(["", "", "Mwen tande sa nan radyo a", "Pa gen kòmantè"]) if it.code != "phone" \
                        else f"+509 3{rng.randint(1000000, 9999999)}"
                if it.relevant and "${k01}" in it.relevant and answers.get("k01") != "yes":
                    value = ""
                if it.relevant and "${e01}" in it.relevant and answers.get("e01") != "yes":
                    value = ""
                answers[it.code] = value
                cells.append(value)
                if it.type == "multiple_choice":
                    chosen = set(value.split())
                    cells += ["1" if c.name in chosen else "0" for c in spec.choice_lists[it.choice_list]]
            uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            cells += ["baseline", rng.choice(["youth", "parents", "general_public"]), rng.choice(regions),
                      f"EA-{rng.randint(1, 400):03d}", rng.choice(["urban", "rural"]), f"{rng.uniform(0.5, 3):.3f}",
                      rng.choice(["intervention", "comparison"]), rng.choice(["female", "male"]),
                      rng.choice(["15-24", "25-34", "35-49", "50+"]), f"enum{rng.randint(1, 40):02d}",
                      f"uuid:{uid}", str(100000 + n), uid, (ended + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S"),
                      "", "[]", "submitted_via_web", "", "vAbCdEf123", "[]", str(n + 1)]
            w.writerow(cells)


def _database(url: str | None, tmp: Path) -> tuple[str, callable]:
    if not url:
        tmp.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{tmp / 'bench.db'}", lambda: None
    from sqlalchemy import create_engine, text  # noqa: PLC0415
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    server = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"konbit_bench_{secrets.token_hex(3)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return server.set(database=name).render_as_string(hide_password=False), drop


def _prepare(url: str) -> int:
    """Migrate the database and add the survey with its baseline wave; return the survey id."""
    from alembic import command  # noqa: PLC0415
    from sqlmodel import Session  # noqa: PLC0415

    from surveys import service  # noqa: PLC0415
    from surveys.models import WaveCreate, WaveKind  # noqa: PLC0415
    from web.db import alembic_config, make_engine  # noqa: PLC0415

    cfg = alembic_config(url)
    cfg.attributes["configure_logging"] = False
    command.upgrade(cfg, "head")
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        survey = service.create_survey(session=session, spec=form_spec(), actor=None)
        service.create_wave(session=session, survey=survey, wave_create=WaveCreate(name="baseline", kind=WaveKind.baseline),
                            actor=None)
        session.commit()
        survey_id = survey.id
    engine.dispose()
    return survey_id


def _import(url: str, survey_id: int, path: Path, path_b: Path) -> dict:
    """The figures, as a dict: two passes on file A, A again, then one pass (--yes) on file B."""
    from sqlalchemy import func, select  # noqa: PLC0415
    from sqlmodel import Session  # noqa: PLC0415

    from surveys import import_jobs  # noqa: PLC0415
    from surveys.models import Submission, Survey  # noqa: PLC0415
    from web.db import make_engine  # noqa: PLC0415

    engine = make_engine(url)

    def count() -> int:
        with Session(engine) as session:
            return session.execute(select(func.count()).select_from(Submission)).scalar_one()

    figures: dict = {}
    for attempt, source in (("first", path), ("again", path), ("single", path_b)):
        t0, c0 = time.perf_counter(), time.process_time()
        report = None
        if attempt != "single":  # the screen, and the CLI without --yes: check, then store
            with Session(engine, expire_on_commit=False) as session:
                survey = session.get(Survey, survey_id)
                report = import_jobs.check_file(session=session, survey=survey, source=source, filename=source.name)
        t1 = time.perf_counter()
        report = import_jobs.store_file(engine=engine, survey_id=survey_id, source=source, filename=source.name,
                                        report=report)
        t2, c2 = time.perf_counter(), time.process_time()
        figures[attempt] = {"check_s": round(t1 - t0, 2), "store_s": round(t2 - t1, 2), "total_s": round(t2 - t0, 2),
                            "cpu_s": round(c2 - c0, 2),
                            "rows": report.rows, "bad": report.bad, "created": report.created,
                            "already": report.already, "stored_in_db": count()}
    figures["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    engine.dispose()
    return figures


def _floor(url: str, path: Path) -> float:
    """The floor of an import: the same file read with ``csv`` (each row a dict, its JSON encoded
    once) and inserted as plain rows (uuid, JSON text) into a scratch table through the DB-API,
    committing every 500 as the import does; no checking, no look-ups. Seconds."""
    from web.db import make_engine  # noqa: PLC0415

    engine = make_engine(url)
    raw = engine.raw_connection()
    postgres = engine.dialect.name == "postgresql"
    mark = "%s" if postgres else "?"
    try:
        cur = raw.cursor()
        cur.execute("CREATE TABLE bench_floor (id INTEGER PRIMARY KEY, uuid VARCHAR(64) UNIQUE, answers TEXT)")
        raw.commit()
        t0 = time.perf_counter()
        with path.open(newline="", encoding="utf-8") as f:
            batch = []
            for n, row in enumerate(csv.DictReader(f, delimiter=";"), start=1):
                batch.append((n, row.get("_uuid") or str(n), json.dumps(row)))
                if len(batch) == 500:
                    cur.executemany(f"INSERT INTO bench_floor VALUES ({mark}, {mark}, {mark})", batch)
                    raw.commit()
                    batch = []
            if batch:
                cur.executemany(f"INSERT INTO bench_floor VALUES ({mark}, {mark}, {mark})", batch)
                raw.commit()
        seconds = time.perf_counter() - t0
        cur.execute("DROP TABLE bench_floor")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database", help="postgresql://... server to use (default: a temporary SQLite file)")
    parser.add_argument("--repeat", type=int, default=3, help="runs, each on a fresh database (min and median)")
    parser.add_argument("--child", nargs=4, metavar=("URL", "SURVEY", "CSV", "CSV_B"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, survey_id, path, path_b = args.child
        print(json.dumps(_import(url, int(survey_id), Path(path), Path(path_b))))
        return

    with tempfile.TemporaryDirectory(prefix="konbit-bench-") as tmp_name:
        tmp = Path(tmp_name)
        path = tmp / "kobo_export.csv"
        t0 = time.perf_counter()
        write_csv(path, form_spec(), args.rows)
        generated = time.perf_counter() - t0
        path_b = tmp / "kobo_export_b.csv"
        write_csv(path_b, form_spec(), args.rows, seed=2)
        runs, floors, loads = [], [], []
        for _ in range(args.repeat):  # each on a fresh database, in a fresh import process
            url, drop = _database(args.database, tmp / f"run{len(runs)}")
            try:
                survey_id = _prepare(url)
                loads.append(os.getloadavg()[0])
                child = subprocess.run([sys.executable, __file__, "--child", url, str(survey_id), str(path), str(path_b)],
                                       capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
                if child.returncode:
                    sys.stderr.write(child.stderr)
                    raise SystemExit(child.returncode)
                runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
                floors.append(_floor(url, path))
            finally:
                drop()
    backend = "PostgreSQL" if args.database else "SQLite"

    def fig(attempt: str, key: str = "total_s") -> str:
        values = [r[attempt][key] for r in runs]
        return f"{min(values):.1f} / {statistics.median(values):.1f}"

    first, again, single = runs[0]["first"], runs[0]["again"], runs[0]["single"]
    print(f"Kobo CSV import, {args.rows:,} rows x 60 questions ({backend}); files generated in {generated:.1f} s; "
          f"min / median of {len(runs)} runs, each on a fresh database")
    print(f"  check + store : {fig('first')} s  (check {fig('first', 'check_s')} s, store {fig('first', 'store_s')} s)  "
          f"{first['created']:,} created, {first['bad']} bad; CPU {fig('first', 'cpu_s')} s")
    print(f"  same again    : {fig('again')} s  {again['created']} created, {again['already']:,} already there; "
          f"{again['stored_in_db']:,} rows in the table; CPU {fig('again', 'cpu_s')} s")
    print(f"  one pass --yes: {fig('single')} s  (another file)  {single['created']:,} created; "
          f"CPU {fig('single', 'cpu_s')} s")
    print(f"  floor         : {min(floors):.1f} / {statistics.median(floors):.1f} s  (the same file read with csv, each "
          "row's JSON inserted as a plain row, committing every 500)")
    peaks = [r["peak_rss_mib"] for r in runs]
    print(f"  peak RSS      : {min(peaks):.0f} / {statistics.median(peaks):.0f} MiB (the import process, all three imports)")
    print(f"  load average  : {', '.join(f'{x:.1f}' for x in loads)} before each run, on {os.cpu_count()} CPUs "
          "(CPU seconds are the import process's own; PostgreSQL's server works in other processes)")
    no_duplicates = all(r["again"]["created"] == 0 and r["again"]["stored_in_db"] == r["first"]["created"]
                        == args.rows - r["first"]["bad"] for r in runs)
    fastest = min(min(r["first"]["total_s"], r["single"]["total_s"]) for r in runs)
    target = 30 * args.rows / 100_000
    print(f"  nothing duplicated: {'yes' if no_duplicates else 'NO'}; "
          f"target < 30 s per 100,000 rows ({target:.0f} s here): {'met' if fastest < target else 'NOT met'} "
          f"(best {fastest:.1f} s); target < 1 GiB: {'met' if max(peaks) < 1024 else 'NOT met'}")


if __name__ == "__main__":
    main()
