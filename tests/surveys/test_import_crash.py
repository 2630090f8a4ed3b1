"""``konbit surveys import-responses`` killed with kill -9 in the middle of a file: the import run's
record, written before the first batch and with every batch, says exactly what entered; running
the same file again marks the dead run interrupted, resumes, and stores every row once.
A real subprocess, a real file (Kobo's export layout, from benchmarks/import_kobo_csv.py)."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import time

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from tests.web.test_cli import KONBIT, environment
from web.db import ROOT, make_engine

pytestmark = pytest.mark.db
ROWS = 6000


def _bench():
    spec = importlib.util.spec_from_file_location("import_kobo_csv", ROOT / "benchmarks" / "import_kobo_csv.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_import_killed_mid_file_is_recorded_and_resumes_without_duplicates(tmp_path):
    from surveys.models import ImportRun, Submission
    from web.accounts.models import AuditEvent

    bench = _bench()
    server = os.environ.get("KONBIT_TEST_DATABASE_URL")
    drop = lambda: None  # noqa: E731
    if server:
        url, drop = bench._database(server, tmp_path)
    else:
        url = f"sqlite:///{tmp_path / 'konbit.db'}"
    try:
        survey_id = bench._prepare(url)
        path = tmp_path / "kobo.csv"
        bench.write_csv(path, bench.form_spec(), ROWS)
        env = environment(data_dir=str(tmp_path / "data"), database_url=url)
        engine = make_engine(url)

        def stored() -> int:
            with Session(engine) as s:
                return s.execute(select(func.count()).select_from(Submission)).scalar_one()

        child = subprocess.Popen([str(KONBIT), "surveys", "import-responses", str(survey_id), str(path), "--yes"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while stored() < 1000 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.05)
        assert child.poll() is None, "the import finished before it could be killed: make the file bigger"
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        entered = stored()
        assert 0 < entered < ROWS
        with Session(engine) as s:
            run = s.execute(select(ImportRun)).scalars().one()
            assert (run.status, run.created, run.rows_read) == ("running", entered, entered)  # what entered, exactly
            started = s.execute(select(AuditEvent).where(AuditEvent.action == "submission.import_started")).scalars().one()
            assert started.details["run"] == run.id and started.details["sha256"] == run.file_sha256

        done = subprocess.run([str(KONBIT), "surveys", "import-responses", str(survey_id), str(path), "--yes"],
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert stored() == ROWS  # every row once
        with Session(engine) as s:
            runs = s.execute(select(ImportRun).order_by(ImportRun.id)).scalars().all()
            assert [r.status for r in runs] == ["interrupted", "completed"]
            assert runs[1].resumed_from_id == runs[0].id and runs[0].created + runs[1].created == ROWS
            actions = [e.action for e in s.execute(select(AuditEvent).where(AuditEvent.action.startswith("submission.import"))
                                                   .order_by(AuditEvent.id)).scalars()]
            assert actions == ["submission.import_started", "submission.import_interrupted", "submission.import_started",
                               "submission.import"]
            interrupted = s.execute(select(AuditEvent).where(AuditEvent.action == "submission.import_interrupted")).scalars().one()
            assert interrupted.details["created"] == entered
        engine.dispose()
    finally:
        drop()
