"""Other people's XLSForms (tests/surveys/xlsforms/corpus, sources in its SOURCES.md), each for real.

A form pyxform converts must import, round-trip through the XLSForm export (pyxform converts the
export and Konbit reads it back to the same instrument), take an interview with an answer to
every question, come out of the CSV, XLSX, SPSS and Stata exports, and open on /collect. A form
pyxform refuses is refused, with its problems and nothing stored.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from surveys import rules, service
from surveys.exports import ExportOptions, ExportRow, export_columns, repeat_tables, write_export
from surveys.limits import instrument_limits
from surveys.models import Survey
from surveys.spec import InstrumentSpec, spec_from_dict, spec_to_dict
from surveys.xlsform import XLSFormError, read_xlsform, write_xlsform
from tests.factories import login
from tests.surveys.factories import make_payload

CORPUS = Path(__file__).resolve().parent / "xlsforms" / "corpus"
FORMS = sorted(p.name for p in CORPUS.iterdir() if p.suffix in (".xlsx", ".xls"))


def _pyxform(data: bytes, suffix: str) -> str | None:
    """The XForm pyxform makes, or None when it refuses the form."""
    from pyxform.xls2xform import convert

    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return convert(xlsform=data, file_type=suffix).xform
    except Exception:  # noqa: BLE001
        return None
    finally:
        logging.disable(logging.NOTSET)


_VERDICTS: dict[str, bool] = {}


def _converts(name: str) -> bool:
    if name not in _VERDICTS:
        path = CORPUS / name
        _VERDICTS[name] = _pyxform(path.read_bytes(), path.suffix) is not None
    return _VERDICTS[name]


ACCEPTED = [n for n in FORMS if _converts(n)]
REFUSED = [n for n in FORMS if not _converts(n)]


def test_the_corpus_is_large_enough_and_every_file_has_its_source() -> None:
    assert len(ACCEPTED) >= 30, ACCEPTED
    sources = (CORPUS / "SOURCES.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| (\S+\.xlsx?) \|", sources, re.M))
    assert listed == set(FORMS)


def _spec(name: str) -> InstrumentSpec:
    return read_xlsform((CORPUS / name).read_bytes())


@pytest.mark.parametrize("name", ACCEPTED)
def test_a_form_pyxform_converts_imports_and_round_trips(name: str) -> None:
    spec = _spec(name)
    assert any(True for _ in spec.items())
    out = write_xlsform(spec)
    assert _pyxform(out, ".xlsx") is not None, "pyxform refuses Konbit's export"
    assert read_xlsform(out) == spec
    assert spec_from_dict(json.loads(json.dumps(spec_to_dict(spec)))) == spec
    for limit in instrument_limits(spec):
        assert limit.topic and limit.message


@pytest.mark.parametrize("name", REFUSED)
def test_a_form_pyxform_refuses_is_refused_with_its_problems(name: str) -> None:
    with pytest.raises(XLSFormError) as info:
        _spec(name)
    assert info.value.errors and all(p.message and p.sheet for p in info.value.errors)


def _answer(spec: InstrumentSpec, item) -> object:
    """A plausible answer of the item's type."""
    choices = [c.name for c in spec.choice_lists.get(item.choice_list or "", ())]
    t = item.type
    if t in ("single_choice", "likert4", "likert5", "yes_no_dk"):
        return choices[0] if choices else None
    if t == "multiple_choice":
        return choices[:2] or None
    return {
        "integer": "3", "decimal": "2.5", "text": "some text", "date": "2026-11-02", "time": "14:05",
        "datetime": "2026-11-02T14:05:00", "geopoint": "18.5392 -72.3364 40 5", "range": "2",
        "geotrace": "18.5 -72.3 0 0; 18.6 -72.4 0 0", "geoshape": "18.5 -72.3 0 0; 18.6 -72.4 0 0; 18.5 -72.3 0 0",
        "image": "photo.jpg", "audio": "sound.m4a", "video": "clip.mp4", "file": "doc.pdf", "barcode": "123456",
        "acknowledge": "OK", "rank": " ".join(choices), "select_one_from_file": "a",
        "select_multiple_from_file": "a b", "other": "x",
    }.get(t)


_OTHER_TRIES = {"text": ["555 123 4567", "a"], "integer": ["0", "1", "50"], "decimal": ["0.5", "50"]}


def _answers(spec: InstrumentSpec) -> dict[str, object]:
    """An answer to every question, another where the form's constraint refuses the first; the
    questions of a repeat in ``answers[repeat]``, one repetition (or as many as repeat_count says)."""
    items = {it.code: it for it in spec.items()}
    in_repeat: dict[str, str] = {}  # child code -> repeat name (repeats in repeats: not collected)
    for section in spec.sections:
        groups = [g.name for g in section.path if g.repeat]
        for it in section.items:
            if groups:
                in_repeat[it.code] = groups[0] if len(groups) == 1 else ""
    answers: dict[str, object] = {}
    for it in spec.items():
        if it.type in rules.ANSWERABLE_TYPES and (a := _answer(spec, it)) and in_repeat.get(it.code) != "":
            if it.code in in_repeat:
                answers.setdefault(in_repeat[it.code], [{}])[0][it.code] = a  # type: ignore[index]
            else:
                answers[it.code] = a
    tries: dict[str, list[str]] = {}
    for _ in range(3 * (len(answers) + len(in_repeat)) + 3):
        try:
            return rules.check_answers(spec, answers).answers
        except rules.AnswersInvalid as err:
            bad = set()
            for p in err.problems:
                wanted = re.search(r"asks for (\d+)$", p.message)
                if p.code in answers and wanted and isinstance(answers[p.code], list):  # repeat_count
                    first = answers[p.code][0] if answers[p.code] else {}  # type: ignore[index]
                    answers[p.code] = [dict(first) for _ in range(int(wanted.group(1)))]
                    bad.add(p.code)
                    continue
                child = re.fullmatch(r"(.+)\[(\d+)\]/(.+)", p.code)
                holder, code = (answers, p.code)
                if child and isinstance(answers.get(child.group(1)), list):
                    holder, code = answers[child.group(1)][int(child.group(2)) - 1], child.group(3)  # type: ignore[index]
                if code in holder:
                    bad.add(p.code)
                    left = tries.setdefault(p.code, list(_OTHER_TRIES.get(items[code].type, [])))
                    if left:
                        holder[code] = left.pop(0)
                    else:
                        holder.pop(code)
            assert bad, f"the form refuses answers it was not given: {err}"
    raise AssertionError("no set of answers the form takes")


@pytest.mark.parametrize("name", ACCEPTED)
def test_a_corpus_form_takes_answers_and_comes_out_of_every_export(name: str) -> None:
    spec = _spec(name)
    answers = _answers(spec)
    row = ExportRow(design={"uuid": "u1", "wave": "baseline"}, answers=answers)
    for fmt in ("csv", "xlsx", "sav", "dta"):
        options = ExportOptions(format=fmt, include_personal=True)
        columns = export_columns([spec], options)
        out = write_export([row], columns, options, title=spec.title, repeats=repeat_tables([spec], options)).read()
        assert out, fmt
    geopoints = [it.code for it in spec.items() if it.type == "geopoint" and it.code in answers]
    if geopoints:
        csv = b"".join(write_export([row], export_columns([spec], ExportOptions()), ExportOptions()).read().splitlines(True)[:2])
        assert f"{geopoints[0]}_latitude".encode() in csv and b"18.5392" in csv


@pytest.mark.parametrize("name", ACCEPTED)
def test_a_corpus_form_is_stored_opens_on_collect_and_takes_an_interview(name, client, engine, personas) -> None:
    from tests.surveys.factories import make_survey

    spec = _spec(name)
    made = make_survey(engine, spec=spec, actor=personas["alice"])
    login(client, "eddy")
    r = client.get(f"/collect/{made.id}/{made.baseline.id}")
    assert r.status_code == 200, r.text[:500]
    with Session(engine, expire_on_commit=False) as session:
        survey = session.get(Survey, made.id)
        _, created = service.submit(session=session, survey=survey, wave=made.baseline,
                                    payload=make_payload(answers=_answers(spec)), enumerator=personas["eddy"])
        session.commit()
    assert created
    client.cookies.clear()
    login(client, "alice")
    page = client.get(f"/surveys/{made.id}")
    assert page.status_code == 200
    if instrument_limits(spec):
        assert 'id="limits"' in page.text


def test_a_refused_upload_stores_nothing(client, engine, personas) -> None:
    csrf = login(client, "leo")
    data = (CORPUS / REFUSED[0]).read_bytes()
    r = client.post("/surveys", data={"csrf_token": csrf},
                    files={"file": (REFUSED[0], data, "application/vnd.ms-excel")})
    assert r.status_code == 422
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(Survey)).one() == 0
