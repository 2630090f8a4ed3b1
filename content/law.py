"""What the demo content says about Haiti's 2014 anti-trafficking law, and where each point comes from.

Loi n° CL/2014-0010 portant sur la lutte contre la traite des personnes (58 articles), published in
Le Moniteur, 169e année, n° 103, lundi 2 juin 2014 (front page of that issue:
https://fr.slideshare.net/slideshow/loi-sur-la-lutte-contre-la-traite-des-personnes-moniteur-juin-2014/59883441).

Every figure the demo messages give (a prison term, a fine, an age) names its article here, with the
public sources that state it; the demo texts cite the article beside the figure ("art. 11", "atik 11"),
and tests/content/test_law_citations.py keeps them in step. A point whose article could not be found
in a published source carries no figure in the demo: the aggravating circumstances (the US State
Department reports "up to life imprisonment when the victim was a minor", without naming the article)
are said as "more severely when the victim is a child" until someone checks the article in the
Moniteur and adds it here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LAW_TITLE", "MONITEUR", "PENALTY", "PROVISIONS", "SOURCES", "STATEMENTS", "Provision", "cite"]

LAW_TITLE = "Loi n° CL/2014-0010 portant sur la lutte contre la traite des personnes"
MONITEUR = "Le Moniteur n° 103 du lundi 2 juin 2014"

SOURCES = {
    "moniteur": "https://fr.slideshare.net/slideshow/loi-sur-la-lutte-contre-la-traite-des-personnes-moniteur-juin-2014/59883441",
    # Article 1.1 Definitions, 1.1.1 "Trafficking in persons" ...; and "prohibits at ARTICLE 11, with a penalty".
    "antislaverylaw": "https://antislaverylaw.ac.uk/country/haiti/",
    # "prescribed penalties of seven to 15 years' imprisonment and a fine ranging from 200,000 to 1.5 million
    # gourdes ... increased penalties of up to life imprisonment when the victim was a minor."
    "tip2020": "https://www.state.gov/reports/2020-trafficking-in-persons-report/haiti/",
    "tip2022": "https://preview.state.gov/reports/2022-trafficking-in-persons-report/haiti/",
    # "The law required the government to provide protection, medical, legal, and psychosocial services".
    "tip2023": "https://www.state.gov/reports/2023-trafficking-in-persons-report/haiti",
    # "The 2014 anti-trafficking law tasked the national committee for the fight against human trafficking (CNLTP)".
    "tip2019": "https://www.state.gov/reports/2019-trafficking-in-persons-report-2/haiti/",
    # ICMEC, Haiti national legislation (2018): "Antitrafficking Sec. 1.1.8 'Child' means any person under 18".
    "icmec": "https://docslib.org/doc/3465445/haiti-national-legislation",
    # Commentary of article 1.1.13 ("servitude ... peut comprendre également les services domestiques").
    "ueh": "https://fr.scribd.com/document/699016970/UEH-1",
    # The definition's means, in full (threat, force or other coercion, abduction, fraud, deception, abuse of
    # authority or of a position of vulnerability, payments to a person having control over another).
    "freetheslaves": "https://freetheslaves.net/haiti-enacts-worlds-newest-anti-trafficking-law/",
    # For a child under 18 the law needs no proof of coercion or fraud.
    "haitiobserver": "http://www.haitiobserver.com/blog/government/haiti-passes-anti-trafficking-law.html",
    # The Palermo Protocol (ratified by Haiti), art. 3: consent irrelevant once a means is used; for a child
    # (under 18) no means are needed.
    "palermo": "http://www.ungift.org/about/human-trafficking.html",
    "unodc_consent": "https://www.unodc.org/e4j/en/tip-and-som/module-6/key-issues/the-issue-of-consent.html",
    # The BPM's free emergency number for children, 188, launched on 14 May 2012 (not a provision of the law).
    "bpm188": "https://minustah.unmissions.org/le-188-un-num%C3%A9ro-d%E2%80%99urgence-pour-l%E2%80%99enfance-maltrait%C3%A9e",
}


@dataclass(frozen=True)
class Provision:
    article: str  # as the law numbers it: "11", "1.1.8"
    says: str
    sources: tuple[str, ...]


PROVISIONS: dict[str, Provision] = {
    "definition": Provision("1.1.1", "Trafficking: recruiting, transporting, harbouring or receiving a person, by "
                            "threat, force or other coercion, abduction, fraud, deception, abuse of authority or of "
                            "a position of vulnerability, or payments, for the purpose of exploitation.",
                            ("antislaverylaw", "freetheslaves")),
    "child": Provision("1.1.8", "A child is any person under 18.", ("icmec",)),
    "servitude": Provision("1.1.13", "Servitude may include domestic services.", ("ueh",)),
    "penalty": Provision("11", "Trafficking is punished by 7 to 15 years' imprisonment and a fine of 200,000 to "
                         "1,500,000 gourdes.", ("antislaverylaw", "tip2020", "tip2022")),
}


# What the demo says without a figure or an article number, and the sources it rests on.
STATEMENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "child_no_means": ("For a child victim the means need not be proved.", ("haitiobserver", "palermo")),
    "consent": ("The victim's consent is irrelevant once a means was used (Palermo Protocol, art. 3 b).",
                ("palermo", "unodc_consent")),
    # The reports give "up to life imprisonment"; the demo gives no figure until the article is known.
    "aggravated": ("Heavier penalties when the victim is a child.", ("tip2020", "tip2022")),
    "victim_services": ("The State must provide victims protection, medical, psychosocial and legal services.",
                        ("tip2023",)),
    "cnltp": ("The law gives the national committee (CNLTP) the coordination of its application.", ("tip2019",)),
    # No source found for the law's own non-punishment article: the demo says "should not be punished".
}


@dataclass(frozen=True)
class Penalty:
    min_years: int
    max_years: int
    min_fine_gourdes: int
    max_fine_gourdes: int


# Article 11 (sources: PROVISIONS["penalty"]).
PENALTY = Penalty(min_years=7, max_years=15, min_fine_gourdes=200_000, max_fine_gourdes=1_500_000)


def cite(key: str, language: str) -> str:
    """The article reference as the demo texts print it: "(art. 11)", in Kreyòl "(atik 11)"."""
    word = "atik" if language == "ht" else "art."
    return f"({word} {PROVISIONS[key].article})"
