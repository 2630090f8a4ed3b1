"""The demo's figures about law CL/2014-0010 are those of content/law.py, and each cites its article.

Every text the demo seeds (the message bank, its later edits, the law summary PDF, the campaign's
training briefings) is read for figures: a number of years, an amount in gourdes, life imprisonment.
A figure must be one the law table holds (7 to 15 years and 200,000 to 1,500,000 gourdes under
article 11; under 18 for a child under article 1.1.8) and the same text must cite that article, in
its own language ("art. 11", in Kreyòl "atik 11"). Life imprisonment has no article in the table, so
no text may promise it until someone adds one from the published law.
"""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from campaign.demo import BRIEFING_FR, BRIEFING_HT
from content import law
from content.demo import DEMO_MESSAGES, LAW_SUMMARY_LINES, load_content_demo
from content.models import ContentVariant
from content.storage import LocalStorage
from surveys.demo import demo_spec

YEARS = re.compile(r"\b(\d+)\s*(?:ans?|años|years?)\b", re.IGNORECASE)
YEARS_IN_WORDS = re.compile(r"\b(?:sèt|sept|seven|siete)\s+(?:a|à|to)\s+(?:kenz|quinze|fifteen|quince)\b", re.IGNORECASE)
AMOUNT = re.compile(r"\b\d{1,3}(?:[ \u00a0\u202f,]\d{3})+\b")
GOURDES = re.compile(r"\b(?:gourdes?|goud)\b", re.IGNORECASE)
LIFE = re.compile(r"perp[ée]tu|perpetua|life imprisonment|up to life|for life|pou tout lavi|à vie\b", re.IGNORECASE)


def cites(text: str, key: str, language: str) -> bool:
    word = "atik" if language == "ht" else r"art\.|article|artículo"
    return re.search(rf"\b(?:{word})\s*{re.escape(law.PROVISIONS[key].article)}\b", text, re.IGNORECASE) is not None


def figures(text: str) -> list[tuple[str, str]]:
    """(figure, provision key) for every legal figure in a text; key "" for one the law table lacks."""
    found = []
    for match in YEARS.finditer(text):
        years = int(match.group(1))
        if years == 18:
            found.append((match.group(0), "child"))
        elif years in (law.PENALTY.min_years, law.PENALTY.max_years):
            found.append((match.group(0), "penalty"))
        else:
            found.append((match.group(0), ""))
    found += [(m.group(0), "penalty") for m in YEARS_IN_WORDS.finditer(text)]
    for match in AMOUNT.finditer(text):
        amount = int(re.sub(r"\D", "", match.group(0)))
        known = amount in (law.PENALTY.min_fine_gourdes, law.PENALTY.max_fine_gourdes)
        found.append((match.group(0), "penalty" if known else ""))
    found += [(m.group(0), "aggravated" if "aggravated" in law.PROVISIONS else "") for m in LIFE.finditer(text)]
    return found


def demo_texts() -> list[tuple[str, str, str]]:
    """(where, language, text) for every text the demo seeds."""
    texts = []
    for message in DEMO_MESSAGES:
        for n, spec in enumerate([*message.variants, *message.later]):
            where = f"{message.slug} #{n} {spec['language']} {spec['channel']}"
            texts.append((where, spec["language"], f"{spec.get('subject', '')}\n{spec['body']}"))
    texts.append(("law summary PDF", "fr", "\n".join(LAW_SUMMARY_LINES)))
    texts += [("campaign briefing fr", "fr", BRIEFING_FR), ("campaign briefing ht", "ht", BRIEFING_HT)]
    return texts


def test_the_detector_finds_each_kind_of_figure():
    assert [k for _, k in figures("7 à 15 ans de prison et 200 000 à 1 500 000 gourdes")] == ["penalty"] * 3
    assert [k for _, k in figures("sèt a kenz an prizon, moun ki gen mwens pase 18 an")] == ["child", "penalty"]
    assert [k for _, k in figures("5 to 10 years and 100,000 gourdes, up to life")] == ["", "", ""]


@pytest.mark.parametrize(("where", "language", "text"), demo_texts(), ids=[w for w, _, _ in demo_texts()])
def test_every_legal_figure_is_the_law_s_and_cites_its_article(where, language, text):
    for figure, key in figures(text):
        assert key, f"{where}: {figure!r} is not a figure of content/law.py (add it there with its article and source)"
        assert cites(text, key, language), (
            f"{where}: {figure!r} without its article ({law.cite(key, language)})")
    if GOURDES.search(text) and re.search(r"\d", text):
        assert cites(text, "penalty", language), f"{where}: a fine in gourdes without its article"


def test_the_law_messages_state_the_article_11_figures_in_every_language():
    law_message = next(m for m in DEMO_MESSAGES if m.slug == "law-2014")
    languages = {spec["language"] for spec in law_message.variants}
    assert languages == {"ht", "fr", "en", "es"}
    for spec in law_message.variants:
        assert cites(spec["body"], "penalty", spec["language"]), spec["body"]
        assert re.search(r"\b7\b|sèt", spec["body"]) and re.search(r"\b15\b|kenz", spec["body"]), spec["body"]
    summary = "\n".join(LAW_SUMMARY_LINES)
    assert "Peine (art. 11) : 7 à 15 ans d'emprisonnement et amende de 200 000 à 1 500 000 gourdes." in summary
    assert law.MONITEUR.removeprefix("Le ") in summary


def test_the_survey_s_correct_penalty_is_article_11():
    spec = demo_spec()
    item = next(i for s in spec.sections for i in s.items if i.code == "k_penalty")
    correct = next(c for c in spec.choice_lists[item.choice_list] if c.name in item.kap_correct)
    for label in correct.labels.values():
        numbers = [int(n) for n in re.findall(r"\d+", label)]
        assert numbers == [law.PENALTY.min_years, law.PENALTY.max_years], label


def test_every_source_the_table_names_exists():
    for provision in law.PROVISIONS.values():
        assert provision.sources and all(law.SOURCES[s].startswith("http") for s in provision.sources)
    for _, sources in law.STATEMENTS.values():
        assert sources and all(law.SOURCES[s].startswith("http") for s in sources)
    assert law.cite("penalty", "ht") == "(atik 11)" and law.cite("child", "fr") == "(art. 1.1.8)"


def test_the_seeded_variants_carry_the_citations(session, personas, tmp_path):
    load_content_demo(session, storage=LocalStorage(tmp_path / "att"))
    session.commit()
    bodies = session.exec(select(ContentVariant.language, ContentVariant.subject, ContentVariant.body)).all()
    with_figures = 0
    for language, subject, body in bodies:
        text = f"{subject}\n{body}"
        for figure, key in figures(text):
            assert key and cites(text, key, language), (language, figure, body)
            with_figures += 1
    assert with_figures >= 20
    # Loading again adds nothing.
    assert load_content_demo(session, storage=LocalStorage(tmp_path / "att"))[0].startswith("Demo content library already")
    assert len(session.exec(select(ContentVariant.id)).all()) == len(bodies)
