"""Benchmark: read a 1,000-question XLSForm, and count what each import road takes of the corpus.

Target (issue 14): importing a 1,000-question form under 2 s.

    .venv/bin/python benchmarks/xlsform_import.py              # the timing and the corpus count
    .venv/bin/python benchmarks/xlsform_import.py --questions 5000
    .venv/bin/python benchmarks/xlsform_import.py --hand-road main   # also the hand-written reader

The form is a multilingual KAP questionnaire (three languages, groups of 20 questions, one in four
a select_one over a shared 5-point list, constraints and relevants, KAP columns). What is timed is
:func:`surveys.xlsform.read_xlsform` on its bytes: pyxform's parse and XForm build, then Konbit's
instrument; best and median of five runs.

The corpus count reads every form in ``tests/surveys/xlsforms/corpus`` and says how many of those
pyxform converts each road imports. ``--hand-road REV`` loads the hand-written reader that
``surveys/xlsform.py`` held at git revision REV (``main`` before issue 14) for comparison.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CORPUS = ROOT / "tests" / "surveys" / "xlsforms" / "corpus"
LANGS = ["Kreyol (ht)", "French (fr)", "English (en)"]


def big_form(questions: int) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "survey"
    ws.append(["type", "name", *(f"label::{l}" for l in LANGS), *(f"hint::{l}" for l in LANGS),
               "required", "relevant", "constraint", "kap_domain", "kap_correct"])  # fmt: skip
    ws.append(["select_one yn", "consent", "Dakò?", "D'accord ?", "Agree?", None, None, None, "yes"])
    domains = ["knowledge", "attitude", "practice", "background"]
    for n in range(questions):
        if n % 20 == 0:
            if n:
                ws.append(["end group"])
            ws.append(["begin group", f"g{n // 20}", f"Seksyon {n // 20}", f"Section {n // 20}",
                       f"Section {n // 20}", None, None, None, None, "${consent} = 'yes'"])  # fmt: skip
        kind = n % 4
        qtype = {0: "select_one agree", 1: "integer", 2: "select_one yn", 3: "text"}[kind]
        ws.append([
            qtype, f"q{n}", f"Kesyon {n}", f"Question {n}", f"Question {n}", "Endis", "Indice", "Hint",
            "yes" if n % 3 == 0 else None, f"${{q{n - 1}}} != ''" if n % 5 == 1 else None,
            ". >= 0 and . < 120" if kind == 1 else None, domains[n % 4] if kind in (0, 2) else None,
            "yes" if kind == 2 and n % 8 == 2 else None,
        ])  # fmt: skip
    ws.append(["end group"])
    ch = wb.create_sheet("choices")
    ch.append(["list_name", "name", *(f"label::{l}" for l in LANGS)])
    ch.append(["yn", "yes", "Wi", "Oui", "Yes"])
    ch.append(["yn", "no", "Non", "Non", "No"])
    for i in range(1, 6):
        ch.append(["agree", str(i), f"N{i}", f"N{i}", f"L{i}"])
    st = wb.create_sheet("settings")
    st.append(["form_title", "form_id", "default_language"])
    st.append(["Big KAP", "big_kap", "Kreyol (ht)"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def hand_road(rev: str):
    """The read_xlsform of surveys/xlsform.py at git revision ``rev``."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:surveys/xlsform.py"], check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "xlsform_hand.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("xlsform_hand", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["xlsform_hand"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.read_xlsform, module.XLSFormError


def corpus_count(read, error) -> tuple[int, int, list[str]]:
    from pyxform.xls2xform import convert

    taken = total = 0
    missed = []
    for path in sorted(CORPUS.iterdir()):
        if path.suffix not in (".xlsx", ".xls"):
            continue
        data = path.read_bytes()
        try:
            convert(xlsform=data, file_type=path.suffix)
        except Exception:  # noqa: BLE001 - pyxform refuses it: not counted
            continue
        total += 1
        try:
            read(data)
            taken += 1
        except error:
            missed.append(path.name)
    return taken, total, missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--hand-road", metavar="REV", help="also count the hand-written reader at this revision")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    from surveys.xlsform import XLSFormError, read_xlsform

    data = big_form(args.questions)
    read_xlsform(big_form(5))  # imports pyxform and builds its expression parser: once per process
    times, cpu = [], []
    for _ in range(args.runs):
        t0, c0 = time.perf_counter(), time.process_time()
        spec = read_xlsform(data)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    items = sum(1 for _ in spec.items())
    load = os.getloadavg()[0]
    print(f"read_xlsform, {items} items ({len(data) / 1024:.0f} KiB): wall best {min(times):.2f} s, median "
          f"{statistics.median(times):.2f} s; CPU best {min(cpu):.2f} s, median {statistics.median(cpu):.2f} s "
          f"over {args.runs} runs (target < 2 s; load average {load:.1f})")
    taken, total, missed = corpus_count(read_xlsform, XLSFormError)
    print(f"pyxform road: imports {taken} of the {total} corpus forms pyxform converts")
    if args.hand_road:
        read, error = hand_road(args.hand_road)
        taken, total, missed = corpus_count(read, error)
        print(f"hand road ({args.hand_road}): imports {taken} of {total}; refuses {', '.join(missed)}")
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            read(data)
            print(f"hand road on the {args.questions}-question form: wall {time.perf_counter() - t0:.2f} s, "
                  f"CPU {time.process_time() - c0:.2f} s")
        except error as exc:
            print(f"hand road refuses the benchmark form: {exc.errors[0]}")


if __name__ == "__main__":
    main()
