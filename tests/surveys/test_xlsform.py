"""XLSForm import/export: round trips through pyxform, the reference forms, malformed input."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import openpyxl
import openpyxl.styles
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from surveys.spec import ChoiceSpec, InstrumentSpec, ItemSpec, SectionSpec, spec_from_dict, spec_to_dict
from surveys.xlsform import XLSFormError, XLSFormProblem, read_xlsform, write_xlsform

REFERENCE = Path(__file__).resolve().parent / "xlsforms"  # other people's forms (see its README)


# --- helpers -------------------------------------------------------------------------------


def xlsx(survey: list[list] | None, choices: list[list] | None = None, settings: list[list] | None = None, **other: list[list]) -> bytes:
    """An .xlsx with the given sheets; each sheet is a list of rows, the first the header."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in (("survey", survey), ("choices", choices), ("settings", settings), *other.items()):
        if rows is None:
            continue
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def pyxform_converts(data: bytes) -> str:
    """The XForm pyxform makes of ``data`` (fails the test if pyxform refuses it)."""
    from pyxform.xls2xform import convert

    return convert(xlsform=data, file_type=".xlsx").xform


def problems_of(data: bytes) -> list[XLSFormProblem]:
    with pytest.raises(XLSFormError) as info:
        read_xlsform(data)
    assert info.value.errors, "XLSFormError without problems"
    return info.value.errors


def assert_round_trip(spec: InstrumentSpec) -> bytes:
    out = write_xlsform(spec)
    assert "<h:html" in pyxform_converts(out)
    assert read_xlsform(out) == spec
    assert spec_from_dict(json.loads(json.dumps(spec_to_dict(spec)))) == spec
    return out


# --- a realistic multilingual KAP form --------------------------------------------------------

LANGS = ["Kreyol (ht)", "French (fr)", "English (en)"]
KAP_SURVEY = [
    ["type", "name", *(f"label::{l}" for l in LANGS), *(f"hint::{l}" for l in LANGS),
     "required", "constraint", *(f"constraint_message::{l}" for l in LANGS), "relevant",
     "calculation", "appearance", "kap_domain", "kap_correct", "kap_reverse", "kap_desired",
     "kap_channel", "personal"],
    ["start", "start"],
    ["end", "end"],
    ["today", "today"],
    ["deviceid", "deviceid"],
    ["note", "intro", "Bonjou! Nou ap poze w kèk kesyon.", "Bonjour ! Quelques questions.", "Hello! A few questions."],
    ["text", "resp_phone", "Nimewo telefòn ou", "Votre numéro de téléphone", "Your phone number",
     None, None, None, None, None, None, None, None, None, None, None, None, None, None, None, None, "yes"],
    ["integer", "age", "Ki laj ou?", "Quel âge avez-vous ?", "How old are you?", "An ane", "En années", "In years",
     "yes", ". >= 15 and . <= 99", "Laj la dwe ant 15 ak 99", "Entre 15 et 99 ans", "Age must be 15 to 99",
     None, None, None, "background"],
    ["select_one sex", "sex", "Sèks", "Sexe", "Sex", None, None, None, "yes", None, None, None, None, None, None, None, "background"],
    ["select_one yndk", "heard", "Èske w tande pale de trafik moun?", "Avez-vous entendu parler de la traite ?",
     "Have you heard of human trafficking?", None, None, None, "yes", None, None, None, None, None, None, None, "knowledge", "yes"],
    ["begin group", "knowledge", "Konesans", "Connaissances", "Knowledge", None, None, None, None, None, None, None, None,
     "${heard} = 'yes'", None, "field-list"],
    ["select_one signs", "k_sign", "Ki siy ki pi enkyetan?", "Quel signe est le plus inquiétant ?", "Which sign is most worrying?",
     None, None, None, None, None, None, None, None, None, None, None, "knowledge", "fake_job"],
    ["select_multiple forms", "k_forms", "Ki fòm trafik ou konnen?", "Quelles formes connaissez-vous ?", "Which forms do you know?",
     None, None, None, None, None, None, None, None, None, None, "minimal", "knowledge", "labour sexual domestic"],
    ["end group"],
    ["begin group", "attitudes", "Atitid", "Attitudes", "Attitudes"],
    ["select_one agree5", "a_blame", "Viktim yo responsab.", "Les victimes sont responsables.", "Victims are to blame.",
     None, None, None, None, None, None, None, None, None, None, None, "attitude", None, "yes", "disagree strongly_disagree"],
    ["select_one agree4", "a_report", "Mwen ta rapòte yon ka.", "Je signalerais un cas.", "I would report a case.",
     None, None, None, None, None, None, None, None, None, None, "likert"],
    ["end group"],
    ["begin group", "exposure", "Ekspozisyon", "Exposition", "Exposure"],
    ["select_one yndk", "e_radio", "Èske w tande spot radyo a?", "Avez-vous entendu le spot radio ?", "Did you hear the radio spot?",
     None, None, None, None, None, None, None, None, None, None, None, "exposure", None, None, None, "radio_spot_2025"],
    ["end group"],
    ["begin group", "practice", "Pratik", "Pratiques", "Practices"],
    ["select_one yn", "p_check", "Èske w verifye ajans lan?", "Avez-vous vérifié l'agence ?", "Did you check the agency?",
     None, None, None, None, None, None, None, None, "${age} >= 18", None, None, "practice", None, None, "yes"],
    ["decimal", "p_spend", "Konbyen ou depanse?", "Combien avez-vous dépensé ?", "How much did you spend?",
     None, None, None, None, ". >= 0"],
    ["date", "p_trip", "Dènye vwayaj", "Dernier voyage", "Last trip"],
    ["calculate", "k_score", None, None, None, None, None, None, None, None, None, None, None, None,
     "if(selected(${k_sign}, 'fake_job'), 1, 0) + count-selected(${k_forms})"],
    ["note", "k_score_note", "Nòt: ${k_score}", "Score : ${k_score}", "Score: ${k_score}"],
    ["end group"],
]  # fmt: skip
KAP_CHOICES = [
    ["list_name", "name", *(f"label::{l}" for l in LANGS)],
    ["sex", "female", "Fi", "Femme", "Female"],
    ["sex", "male", "Gason", "Homme", "Male"],
    ["sex", "other", "Lòt", "Autre", "Other"],
    ["yndk", "yes", "Wi", "Oui", "Yes"],
    ["yndk", "no", "Non", "Non", "No"],
    ["yndk", "dk", "Pa konnen", "Ne sait pas", "Don't know"],
    ["yn", "yes", "Wi", "Oui", "Yes"],
    ["yn", "no", "Non", "Non", "No"],
    ["signs", "fake_job", "Fo travay", "Faux emploi", "Fake job offer"],
    ["signs", "visa", "Viza", "Visa", "Visa"],
    ["signs", "family", "Fanmi", "Famille", "Family"],
    ["signs", "school", "Lekòl", "École", "School"],
    ["forms", "labour", "Travay fòse", "Travail forcé", "Forced labour"],
    ["forms", "sexual", "Esplwatasyon seksyèl", "Exploitation sexuelle", "Sexual exploitation"],
    ["forms", "domestic", "Restavèk", "Domesticité", "Domestic servitude"],
    ["forms", "adoption", "Adopsyon", "Adoption", "Adoption"],
    *[["agree5", n, n.replace("_", " "), n, n] for n in ("strongly_disagree", "disagree", "neutral", "agree", "strongly_agree")],
    *[["agree4", n, n.replace("_", " "), n, n] for n in ("strongly_disagree", "disagree", "agree", "strongly_agree")],
]  # fmt: skip
KAP_SETTINGS = [
    ["form_title", "form_id", "version", "default_language", "instance_name"],
    ["KAP baseline: trafficking awareness", "kap_baseline_2025", "2025010101", "Kreyol (ht)", "concat(${age}, '-', ${sex})"],
]


@pytest.fixture(scope="module")
def kap_bytes() -> bytes:
    return xlsx(KAP_SURVEY, KAP_CHOICES, KAP_SETTINGS)


@pytest.fixture(scope="module")
def kap_spec(kap_bytes: bytes) -> InstrumentSpec:
    return read_xlsform(kap_bytes)


def test_it_builds_the_kap_form_pyxform_also_accepts(kap_bytes: bytes) -> None:
    assert "<h:html" in pyxform_converts(kap_bytes)


def test_it_reads_form_settings_and_languages(kap_spec: InstrumentSpec) -> None:
    assert kap_spec.title == "KAP baseline: trafficking awareness"
    assert kap_spec.form_id == "kap_baseline_2025"
    assert kap_spec.version == "2025010101"
    assert kap_spec.default_language == "ht"
    assert kap_spec.languages == ("ht", "fr", "en")
    assert kap_spec.language_names == {"ht": "Kreyol (ht)", "fr": "French (fr)", "en": "English (en)"}
    assert kap_spec.settings == {"instance_name": "concat(${age}, '-', ${sex})"}


def test_it_maps_types_and_kap_columns(kap_spec: InstrumentSpec) -> None:
    types = {it.code: it.type for it in kap_spec.items()}
    assert types == {
        "start": "start", "end": "end", "today": "today", "deviceid": "deviceid",
        "intro": "note", "resp_phone": "text", "age": "integer", "sex": "single_choice",
        "heard": "yes_no_dk", "k_sign": "single_choice", "k_forms": "multiple_choice",
        "a_blame": "likert5", "a_report": "likert4", "e_radio": "yes_no_dk",
        "p_check": "yes_no_dk", "p_spend": "decimal", "p_trip": "date", "k_score": "calculate",
        "k_score_note": "note",
    }  # fmt: skip
    age = kap_spec.item("age")
    assert age.required and age.constraint == ". >= 15 and . <= 99"
    assert age.labels == {"ht": "Ki laj ou?", "fr": "Quel âge avez-vous ?", "en": "How old are you?"}
    assert age.hints["en"] == "In years" and age.constraint_message["fr"] == "Entre 15 et 99 ans"
    assert age.kap_domain == "background"
    assert kap_spec.item("heard").kap_correct == ("yes",)
    assert kap_spec.item("k_forms").kap_correct == ("labour", "sexual", "domestic")
    blame = kap_spec.item("a_blame")
    assert blame.kap_reverse and blame.kap_desired == ("disagree", "strongly_disagree")
    assert kap_spec.item("a_report").appearance == "likert" and kap_spec.item("a_report").kap_domain is None
    assert kap_spec.item("e_radio").kap_channel == "radio_spot_2025"
    assert kap_spec.item("resp_phone").personal and not age.personal
    assert kap_spec.item("k_score").calculation.startswith("if(selected(${k_sign}")
    assert kap_spec.choice_lists["yndk"][2] == ChoiceSpec("dk", {"ht": "Pa konnen", "fr": "Ne sait pas", "en": "Don't know"})


def test_it_puts_ungrouped_items_in_an_implicit_first_section(kap_spec: InstrumentSpec) -> None:
    assert [s.name for s in kap_spec.sections] == ["", "knowledge", "attitudes", "exposure", "practice"]
    first = kap_spec.sections[0]
    assert first.implicit and first.labels == {} and first.relevant is None
    assert [it.code for it in first.items][:5] == ["start", "end", "today", "deviceid", "intro"]
    knowledge = kap_spec.sections[1]
    assert knowledge.relevant == "${heard} = 'yes'" and knowledge.appearance == "field-list"
    assert knowledge.labels == {"ht": "Konesans", "fr": "Connaissances", "en": "Knowledge"}


def test_it_round_trips_the_kap_form(kap_spec: InstrumentSpec) -> None:
    assert_round_trip(kap_spec)


def test_it_round_trips_items_after_a_group_and_plain_label_columns() -> None:
    data = xlsx(
        [["type", "name", "label", "hint"],
         ["begin_group", "g", "Group"], ["text", "a", "A", "hint a"], ["end_group"],
         ["integer", "b", "B"], ["begin group", "h"], ["end group"], ["text", "c", "C"]],
    )  # fmt: skip
    spec = read_xlsform(data, title="Chosen title")
    assert spec.title == "Chosen title" and spec.form_id == "chosen_title"
    assert spec.default_language == "en" and spec.languages == ("en",)
    assert [(s.name, [i.code for i in s.items]) for s in spec.sections] == [
        ("g", ["a"]), ("", ["b"]), ("h", []), ("", ["c"])]  # fmt: skip
    out = assert_round_trip(spec)
    assert read_xlsform(out, title="Chosen title") == spec


def test_it_accepts_pyxform_aliases_and_case() -> None:
    data = xlsx(
        [["TYPE", "Name", "Caption::English (en)", "Hint::English (en)", "REQUIRED", "Relevance",
          "jr:constraintMsg::English (en)", "constraint", "calculate", "requiredMsg::English (en)"],
         ["select one from yn", "q1", "Q1", None, "TRUE"],
         ["select all that apply yn", "q2", "Q2", None, "true()", "${q1} = 'yes'"],
         ["int", "q3", "Q3", "h", "no", None, "too big", ". < 10", None, "needed"],
         ["q calculate", "c", None, None, None, None, None, None, "${q3} * 2"],
         ["string", "q4", "Q4", None, "Yes", "FALSE"]],
        [["list name", "value", "caption::English (en)"], ["yn", "yes", "Yes"], ["yn", "no", "No"]],
        [["Form_Title", "FORM_ID", "Default_Language"], ["Aliases", "aliases", "English (en)"]],
    )  # fmt: skip
    spec = read_xlsform(data)
    q1, q2, q3, c, q4 = spec.items()
    assert (q1.type, q1.required, q2.type, q2.required) == ("yes_no_dk", True, "multiple_choice", True)
    assert q2.relevant == "${q1} = 'yes'"
    assert (q3.type, q3.required, q3.constraint) == ("integer", False, ". < 10")
    assert q3.constraint_message == {"en": "too big"} and q3.required_message == {"en": "needed"}
    assert (c.type, c.calculation) == ("calculate", "${q3} * 2")
    assert (q4.type, q4.relevant) == ("text", "false()")
    assert spec.title == "Aliases" and spec.form_id == "aliases"
    assert_round_trip(spec)


def test_it_takes_a_lone_sheet_of_any_name_as_the_survey() -> None:
    data = xlsx(None, Sheet1=[["type", "name", "label"], ["text", "a", "A"]])
    assert [i.code for i in read_xlsform(data).items()] == ["a"]


def test_it_classifies_select_one_lists() -> None:
    def kind(names: list[str], appearance: str | None = None, domain: str | None = None) -> str:
        rows = [["type", "name", "label", "appearance", "kap_domain"],
                ["select_one l", "q", "Q", appearance, domain]]  # fmt: skip
        choices = [["list_name", "name", "label"], *(["l", n, n] for n in names)]
        return read_xlsform(xlsx(rows, choices)).item("q").type

    assert kind(["wi", "non", "pa_konnen"]) == "yes_no_dk"
    assert kind(["Yes", "No"]) == "yes_no_dk"
    assert kind(["yes", "no", "maybe"]) == "single_choice"
    assert kind(["a", "b", "c", "d"]) == "single_choice"
    assert kind(["a", "b", "c", "d"], "likert") == "likert4"
    assert kind(["a", "b", "c", "d", "e"], None, "attitude") == "likert5"
    assert kind(["a", "b", "c"], "likert", "attitude") == "single_choice"
    assert kind(["a", "b", "c", "d", "e", "f"], "likert") == "single_choice"


def test_it_writes_likert_appearance_when_nothing_else_marks_the_scale() -> None:
    spec = one_item_spec(ItemSpec("q", "likert4", {"en": "Q"}, choice_list="l"),
                         l=tuple(ChoiceSpec(n, {"en": n}) for n in "abcd"))  # fmt: skip
    back = read_xlsform(write_xlsform(spec))
    assert back.item("q").type == "likert4" and back.item("q").appearance == "likert"


def test_it_refuses_to_write_a_type_the_list_cannot_express() -> None:
    spec = one_item_spec(ItemSpec("q", "yes_no_dk", {"en": "Q"}, choice_list="l"),
                         l=tuple(ChoiceSpec(n, {"en": n}) for n in "abc"))  # fmt: skip
    with pytest.raises(ValueError, match="would read back as single_choice"):
        write_xlsform(spec)


def one_item_spec(item: ItemSpec, **lists: tuple[ChoiceSpec, ...]) -> InstrumentSpec:
    return InstrumentSpec(
        title="T", form_id="t", version=None, default_language="en", languages=("en",),
        sections=(SectionSpec("", items=(item,)),), choice_lists=dict(lists),
    )  # fmt: skip


def test_it_keeps_formula_looking_text_as_text() -> None:
    spec = one_item_spec(ItemSpec("n", "note", {"en": "=1+1 is text"}))
    assert read_xlsform(write_xlsform(spec)).item("n").labels == {"en": "=1+1 is text"}


def test_it_reads_a_sheet_that_claims_a_million_rows_quickly() -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "survey"
    for row in (H, ["text", "a", "A"]):
        ws.append(row)
    ws.cell(row=1_000_000, column=1000).font = openpyxl.styles.Font(bold=True)  # a formatted cell
    out = io.BytesIO()
    wb.save(out)
    started = time.perf_counter()
    assert [i.code for i in read_xlsform(out.getvalue()).items()] == ["a"]
    assert time.perf_counter() - started < 10


def test_it_ignores_rows_after_a_long_blank_run_as_pyxform_does() -> None:
    rows = [H, ["text", "a", "A"], *([None] * 3 for _ in range(61)), ["text", "b", "B"]]
    assert [i.code for i in read_xlsform(xlsx(rows)).items()] == ["a"]


def test_it_imports_an_expression_konbit_cannot_evaluate_and_lists_it_as_a_limit() -> None:
    from surveys.limits import instrument_limits

    data = xlsx([H + ["calculation"], ["text", "a", "A"], ["calculate", "c", None, "concatx(${a}, '-')"]])
    spec = read_xlsform(data)  # pyxform accepts it (ODK Validate would not): Konbit imports it
    assert spec.item("c").calculation == "concatx(${a}, '-')"
    (limit,) = [lim for lim in instrument_limits(spec) if "cannot evaluate" in lim.topic]
    assert "c (calculation" in limit.codes[0] and "concatx" in limit.codes[0]


def test_a_problem_reads_as_a_location_and_a_message() -> None:
    assert str(XLSFormProblem("survey", 4, "type", "Unknown type.")) == "sheet survey, row 4, column type: Unknown type."
    assert str(XLSFormProblem(None, None, None, "The file is empty.")) == "The file is empty."
    error = XLSFormError([XLSFormProblem("survey", 4, "type", "Unknown type.")])
    assert "row 4" in str(error) and isinstance(error, ValueError)


def test_spec_from_dict_rejects_malformed_input() -> None:
    with pytest.raises(ValueError):
        spec_from_dict({"title": 3})
    with pytest.raises(ValueError):
        spec_from_dict({"title": "t", "form_id": "t", "sections": [{"items": [{"code": "q", "type": "bogus"}]}]})


# --- the reference forms ----------------------------------------------------------------------

def _pyxform_refuses(data: bytes) -> bool:
    from pyxform.xls2xform import convert

    try:
        convert(xlsform=data, file_type=".xlsx")
    except Exception:  # noqa: BLE001
        return True
    return False


@pytest.mark.parametrize("name", sorted(p.name for p in REFERENCE.glob("*.xlsx")))
def test_it_imports_or_refuses_each_reference_form_as_pyxform_does(name: str) -> None:
    data = (REFERENCE / name).read_bytes()
    if _pyxform_refuses(data):
        errors = problems_of(data)
        assert all(p.sheet and p.message for p in errors), errors
        return
    assert_round_trip(read_xlsform(data))


def test_it_refuses_duplicate_columns_naming_the_column() -> None:
    (problem,) = problems_of((REFERENCE / "duplicate_columns.xlsx").read_bytes())
    assert (problem.sheet, problem.column) == ("survey", "label") and "Duplicate column header" in problem.message


def test_reference_yes_no_form_gives_a_yes_no_item() -> None:
    spec = read_xlsform((REFERENCE / "yes_or_no_question.xlsx").read_bytes())
    item = spec.item("good_day")
    assert (item.type, item.labels) == ("yes_no_dk", {"english": "have you had a good day today?"})
    assert spec.languages == ("english",) and spec.default_language == "english"


# --- malformed input -------------------------------------------------------------------------

H = ["type", "name", "label"]
YN = [["list_name", "name", "label"], ["yn", "yes", "Yes"], ["yn", "no", "No"]]
L5 = [["list_name", "name", "label"], *(["ag", n, n] for n in "abcde")]

# (id, survey, choices, settings): forms whose fate pyxform decides (Konbit imports what pyxform
# accepts, and refuses what it refuses, with pyxform's reason and row)
PYXFORM_DECIDES = [
    ("duplicate header", [["type", "name", "label", "label"], ["text", "a", "A", "B"]], None, None),
    ("no type column", [["name", "label"], ["a", "A"]], None, None),
    ("row without type", [H, ["text", "a", "A"], [None, "b", "B"]], None, None),
    ("unknown type", [H, ["text", "a", "A"], ["colour", "b", "B"]], None, None),
    ("geopoint", [H, ["geopoint", "g", "Where?"]], None, None),
    ("missing choice list", [H, ["select_one nope", "q", "Q"]], YN, None),
    ("select without list", [H, ["select_one", "q", "Q"]], YN, None),
    ("or_other", [H, ["select_one yn or_other", "q", "Q"]], YN, None),
    ("select from file", [H, ["select_one_from_file a.csv", "q", "Q"]], None, None),
    ("duplicate name", [H, ["text", "a", "A"], ["integer", "a", "B"]], None, None),
    ("same name in two groups", [H, ["begin group", "g"], ["text", "a", "A"], ["end group"],
                                 ["begin group", "h"], ["text", "a", "A2"], ["end group"]], None, None),
    ("invalid name", [H, ["text", "my name", "A"]], None, None),
    ("missing name", [H, ["text", None, "A"]], None, None),
    ("note without a name", [H, ["note", None, "Hello"]], None, None),
    ("group never closed", [H, ["text", "a", "A"], ["begin group", "g", "G"], ["text", "b", "B"]], None, None),
    ("end without begin", [H, ["text", "a", "A"], ["end group"]], None, None),
    ("repeat", [H, ["begin repeat", "r", "R"], ["text", "a", "A"], ["end repeat"]], None, None),
    ("nested group", [H, ["begin group", "g"], ["begin group", "h"], ["text", "a", "A"], ["end group"], ["end group"]],
     None, None),
    ("required on a group", [H + ["required"], ["begin group", "g", "G", "false"], ["text", "a", "A"], ["end group"]],
     None, None),
    ("choice_filter", [H + ["choice_filter"], ["select_one yn", "q", "Q", "name = 'yes'"]], YN, None),
    ("conditional required", [H + ["required"], ["text", "a", "A"], ["text", "b", "B", "${a} = 'x'"]], None, None),
    ("unknown reference", [H + ["relevant"], ["text", "a", "A", "${b} > 1"]], None, None),
    ("calculate without calculation", [H, ["calculate", "c"]], None, None),
    ("question without label", [H, ["text", "a"]], None, None),
    ("media column", [H + ["image"], ["note", "n", "N", "x.png"]], None, None),
    ("read_only", [H + ["read_only"], ["text", "a", "A", "yes"]], None, None),
    ("choice without label", [H + [], ["select_one l", "q", "Q"]], [["list_name", "name", "label"], ["l", "a"]], None),
    ("choice name with a space", [H, ["select_one l", "q", "Q"]], [["list_name", "name", "label"], ["l", "a b", "A"]],
     None),
    ("duplicate choice", [H, ["select_one l", "q", "Q"]], [["list_name", "name", "label"], ["l", "a", "A"], ["l", "a", "B"]],
     None),
    ("no survey sheet", None, YN, None),
    ("empty survey", [H], None, None),
]  # fmt: skip


@pytest.mark.parametrize("survey, choices, settings", [c[1:] for c in PYXFORM_DECIDES], ids=[c[0] for c in PYXFORM_DECIDES])
def test_it_imports_what_pyxform_accepts_and_refuses_what_it_refuses(survey, choices, settings) -> None:
    data = xlsx(survey, choices, settings)
    if _pyxform_refuses(data) or survey == [H]:  # a form without a single row: nothing to import
        errors = problems_of(data)
        assert errors and all(p.message for p in errors)
        return
    spec = read_xlsform(data)
    assert_round_trip(spec)


def test_it_gives_pyxform_s_row_when_pyxform_refuses() -> None:
    (problem,) = problems_of(xlsx([H, ["text", "a", "A"], ["colour", "b", "B"]]))
    assert problem.sheet == "survey" and "colour" in problem.message
    (problem,) = problems_of(xlsx([H, ["text", "a", "A"], ["calculate", "c"]]))
    assert (problem.sheet, problem.row) == ("survey", 3) and "calculation" in problem.message


def test_it_keeps_nested_groups_repeats_and_duplicate_names() -> None:
    data = xlsx([H + ["relevant", "required"],
                 ["text", "top", "Top"],
                 ["begin group", "g", "G", "${top} != ''", "false"], ["text", "a", "A"],
                 ["begin group", "h", "H"], ["integer", "b", "B"], ["end group"],
                 ["text", "c", "C"], ["end group"],
                 ["begin repeat", "r", "R"], ["text", "a", "A again"], ["end repeat"]])  # fmt: skip
    spec = read_xlsform(data)
    assert [(s.name, [g.name for g in s.parents], [i.code for i in s.items], s.repeat) for s in spec.sections] == [
        ("", [], ["top"], False), ("g", [], ["a"], False), ("h", ["g"], ["b"], False), ("g", [], ["c"], False),
        ("r", [], ["r_a"], True)]  # fmt: skip
    assert spec.item("r_a").xls_name == "a" and spec.sections[2].relevants == ("${top} != ''",)
    assert_round_trip(spec)


def test_it_reads_the_new_types_and_keeps_their_columns() -> None:
    data = xlsx([H + ["parameters", "bind::odk:length", "body::accuracyThreshold", "media::image", "guidance_hint"],
                 ["geopoint", "gp", "Where", None, None, "5"],
                 ["range", "rg", "How much", "start=1 end=5 step=1"],
                 ["text", "t", "Name", None, "0-20", None, "pic.png", "Ask slowly"],
                 ["image", "ph", "Photo", "max-pixels=1000"],
                 ["time", "tm", "When"], ["datetime", "dt", "When exactly"], ["barcode", "bc", "Code"],
                 ["acknowledge", "ok", "OK?"], ["audit", "audit"], ["phonenumber", "phone"],
                 ["hidden", "hid"], ["rank l", "rk", "Rank"], ["note", None, "A note without a name"]],
                [["list_name", "name"], ["l", "x"], ["l", "y"]])  # fmt: skip
    spec = read_xlsform(data)
    types = {i.code: i.type for i in spec.items()}
    assert {k: types[k] for k in ("gp", "rg", "ph", "tm", "dt", "bc", "ok", "audit", "phone", "hid", "rk")} == {
        "gp": "geopoint", "rg": "range", "ph": "image", "tm": "time", "dt": "datetime", "bc": "barcode",
        "ok": "acknowledge", "audit": "audit", "phone": "phonenumber", "hid": "hidden", "rk": "rank"}  # fmt: skip
    assert spec.item("rg").parameters == "start=1 end=5 step=1" and spec.item("ph").parameters == "max-pixels=1000"
    assert spec.item("t").extra == {"bind::odk:length": "0-20", "media::image": "pic.png", "guidance_hint": "Ask slowly"}
    assert spec.item("gp").extra == {"body::accuracyThreshold": "5"}
    assert [c.labels for c in spec.choice_lists["l"]] == [{"en": "x"}, {"en": "y"}]  # no label: the name
    assert any(i.type == "note" for i in spec.items())
    assert_round_trip(spec)


# (id, survey, choices, settings, expected (sheet, row, column), words in the message): the KAP
# columns, which pyxform passes through and Konbit checks
MALFORMED = [
    ("kap_domain unknown", [H + ["kap_domain"], ["text", "a", "A", "feelings"]], None, None,
     ("survey", 2, "kap_domain"), "kap_domain 'feelings' is not one of"),
    ("kap_domain on a note", [H + ["kap_domain"], ["note", "n", "N", "knowledge"]], None, None,
     ("survey", 2, "kap_domain"), "note item cannot have a kap_domain"),
    ("kap_correct not in list", [H + ["kap_correct"], ["select_one yn", "q", "Q", "yes maybe"]], YN, None,
     ("survey", 2, "kap_correct"), "'maybe' is not a choice of list 'yn'"),
    ("kap_correct without list", [H + ["kap_correct"], ["integer", "q", "Q", "5"]], None, None,
     ("survey", 2, "kap_correct"), "needs a select question"),
    ("kap_desired not in list", [H + ["kap_domain", "kap_desired"], ["select_one ag", "q", "Q", "attitude", "f"]], L5, None,
     ("survey", 2, "kap_desired"), "'f' is not a choice of list 'ag'"),
    ("kap_reverse not yes/no", [H + ["kap_domain", "kap_reverse"], ["select_one ag", "q", "Q", "attitude", "maybe"]], L5,
     None, ("survey", 2, "kap_reverse"), "'maybe' is not yes or no"),
    ("kap_reverse on a non-Likert", [H + ["kap_reverse"], ["select_one yn", "q", "Q", "yes"]], YN, None,
     ("survey", 2, "kap_reverse"), "only for Likert items"),
    ("kap_channel outside exposure", [H + ["kap_domain", "kap_channel"], ["select_one yn", "q", "Q", "knowledge", "radio"]],
     YN, None, ("survey", 2, "kap_channel"), "only for exposure items"),
    ("personal not yes/no", [H + ["personal"], ["text", "a", "A", "perhaps"]], None, None,
     ("survey", 2, "personal"), "'perhaps' is not yes or no"),
]  # fmt: skip


@pytest.mark.parametrize(
    "survey, choices, settings, where, words", [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED]
)
def test_it_reports_where_a_kap_column_goes_wrong(survey, choices, settings, where, words) -> None:
    errors = problems_of(xlsx(survey, choices, settings))
    matches = [p for p in errors if (p.sheet, p.row, p.column) == where]
    assert matches, f"nothing at {where}: {[str(p) for p in errors]}"
    assert any(words in p.message for p in matches), [str(p) for p in matches]


def test_it_collects_every_kap_problem_in_one_pass() -> None:
    data = xlsx([H + ["kap_domain", "personal"], ["text", "a", "A", "bogus"], ["text", "b", "B", None, "perhaps"]])
    where = [(p.sheet, p.row, p.column) for p in problems_of(data)]
    assert where == [("survey", 2, "kap_domain"), ("survey", 3, "personal")]


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, content in files.items():
            z.writestr(name, content)
    return out.getvalue()


GARBAGE = {
    "empty": b"",
    "text": b"hello, world",
    "csv": b"type,name,label\ntext,a,A\n",
    "old xls": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600,
    "random bytes": bytes(range(256)) * 8,
    "zip without workbook": _zip({"hello.txt": b"hi"}),
    "zip with broken workbook": _zip({"[Content_Types].xml": b"<Types", "xl/workbook.xml": b"<nope"}),
    "not bytes": "type,name,label",
}


@pytest.mark.parametrize("data", list(GARBAGE.values()), ids=list(GARBAGE))
def test_it_refuses_garbage_without_crashing(data) -> None:
    errors = problems_of(data)
    assert errors[0].sheet is None and errors[0].row is None and errors[0].message


def test_it_refuses_truncated_workbooks_without_crashing(kap_bytes: bytes) -> None:
    for cut in range(0, len(kap_bytes), max(1, len(kap_bytes) // 40)):
        try:
            read_xlsform(kap_bytes[:cut])
        except XLSFormError as exc:
            assert exc.errors


# --- property: whatever the cells, a refusal or a spec that round-trips ---------------------

FUZZ_HEADER = ["type", "name", "label::Kreyol (ht)", "label::English (en)", "required", "relevant",
               "calculation", "appearance", "kap_domain", "personal"]  # fmt: skip
FUZZ_TYPES = ["text", "integer", "decimal", "date", "note", "calculate", "start", "select_one yn",
              "select_one ag", "select_multiple yn", "begin group", "end group"]  # fmt: skip
FUZZ_GARBAGE = ["begin repeat", "geopoint", "select_one nope", "bogus", "a b", "(${q0}", "${zz}",
                "maybe", "feelings", "=SUM(1)", "", " ", "q0", "yes no", None]  # fmt: skip
FUZZ_CHOICES = [["list_name", "name", "label::Kreyol (ht)", "label::English (en)"],
                ["yn", "yes", "Wi", "Yes"], ["yn", "no", "Non", "No"],
                *(["ag", n, n, n] for n in ("a", "b", "c", "d", "e"))]  # fmt: skip


@st.composite
def fuzz_survey(draw) -> list[list]:
    rows = []
    for i in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(FUZZ_TYPES))
        rows.append([
            kind, None if kind == "end group" else f"q{i}", f"Kesyon {i}", f"Question {i}",
            draw(st.sampled_from([None, "yes", "no", "TRUE"])),
            draw(st.sampled_from([None, "${q0} != ''", "true()"])) if i else None,
            "1 + 1" if kind == "calculate" else None,
            draw(st.sampled_from([None, "likert", "minimal"])),
            None if kind in ("note", "start", "begin group", "end group") else draw(
                st.sampled_from([None, "knowledge", "attitude", "practice", "background"])),
            draw(st.sampled_from([None, "yes", "no"])),
        ])  # fmt: skip
    for _ in range(draw(st.integers(0, 2))):  # spoil a few cells
        row = draw(st.integers(0, len(rows) - 1))
        rows[row][draw(st.integers(0, len(FUZZ_HEADER) - 1))] = draw(st.sampled_from(FUZZ_GARBAGE))
    return rows


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=fuzz_survey())
def test_any_cells_give_a_refusal_or_a_spec_that_round_trips(rows: list[list]) -> None:
    data = xlsx([FUZZ_HEADER, *rows], FUZZ_CHOICES)
    try:
        spec = read_xlsform(data)
    except XLSFormError as exc:
        assert exc.errors and all(p.message for p in exc.errors), exc.errors
        return
    assert_round_trip(spec)


def test_items_in_a_repeat_stay_out_of_kap_scoring() -> None:
    from surveys.scoring import scoring_key

    data = xlsx([H + ["kap_domain", "kap_correct"],
                 ["select_one yn", "k1", "K1", "knowledge", "yes"],
                 ["begin repeat", "r", "R"], ["select_one yn", "k2", "K2", "knowledge", "yes"], ["end repeat"]], YN)
    assert scoring_key(read_xlsform(data)).codes == ("k1",)
