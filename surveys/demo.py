"""Demo and benchmark data: a KAP survey on trafficking in persons and the 2014 law, and
synthetic respondents with a real, segment-dependent shift and a comparison area.

The respondents are made by a seeded generator, so the demo is the same on every machine:
each respondent has a latent awareness that rises between baseline and endline by an amount
that depends on their audience segment and on whether they live in the campaign's area
(``arm = intervention``) or the comparison area; clusters add their own random effect.
"""

from __future__ import annotations

import uuid as uuid_module
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import numpy as np

from .spec import ChoiceSpec, InstrumentSpec, ItemSpec, SectionSpec

__all__ = ["DEMO_SEGMENTS", "DEMO_TITLE", "demo_spec", "generate_payloads", "trilingual", "trilingual_choices"]

DEMO_TITLE = "KAP survey: trafficking in persons and the 2014 law (demo)"

# segment: (share of the sample, extra endline shift in the campaign area, on the logit scale)
DEMO_SEGMENTS: dict[str, tuple[float, float]] = {
    "general_public": (0.40, 0.45),
    "vulnerable_groups": (0.15, 0.30),
    "police": (0.12, 1.00),
    "border_officials": (0.06, 0.90),
    "social_workers": (0.07, 0.80),
    "judges": (0.05, 1.40),
    "media": (0.07, 0.70),
    "tourism": (0.08, 0.35),
}
# region: (stratum, communes used as clusters, weight: population share / sample share)
REGIONS: dict[str, tuple[str, tuple[str, ...], float]] = {
    "Ouest": ("urban", ("Port-au-Prince", "Delmas", "Carrefour", "Cité Soleil", "Pétion-Ville", "Croix-des-Bouquets"), 2.4),
    "Artibonite": ("rural", ("Gonaïves", "Saint-Marc", "Dessalines", "Gros-Morne"), 1.6),
    "Nord": ("urban", ("Cap-Haïtien", "Limbé", "Milot"), 1.1),
    "Nord-Est": ("border", ("Ouanaminthe", "Fort-Liberté", "Trou-du-Nord"), 0.6),
    "Centre": ("border", ("Belladère", "Lascahobas", "Hinche", "Mirebalais"), 0.8),
    "Sud": ("rural", ("Les Cayes", "Aquin", "Port-Salut"), 0.9),
}
COMPARISON_REGIONS = ("Sud", "Centre")  # the campaign did not reach them


def trilingual(ht: str, fr: str, en: str) -> dict[str, str]:
    """Labels in Kreyòl, French and English."""
    return {"ht": ht, "fr": fr, "en": en}


def trilingual_choices(*rows: tuple[str, str, str, str]) -> tuple[ChoiceSpec, ...]:
    """A choice list from (name, ht, fr, en) rows."""
    return tuple(ChoiceSpec(name=name, labels=trilingual(ht, fr, en)) for name, ht, fr, en in rows)


_l, _choices = trilingual, trilingual_choices


def _yn(code: str, domain: str, ht: str, fr: str, en: str, **kw) -> ItemSpec:
    return ItemSpec(code=code, type="yes_no_dk", choice_list="ynd", kap_domain=domain, labels=_l(ht, fr, en), **kw)


def demo_spec() -> InstrumentSpec:
    """The demo's instrument: 22 questions over every KAP domain, in Kreyòl, French and English."""
    yes = "${consent} = 'yes'"
    attitudes = (
        ("a_victim_fault", True, "Viktim trafik yo responsab sa k rive yo.",
         "Les victimes de la traite sont responsables de ce qui leur arrive.",
         "Trafficking victims are to blame for what happens to them."),
        ("a_report_duty", False, "Chak sitwayen dwe rapòte yon ka trafik li konnen.",
         "Chaque citoyen doit signaler un cas de traite qu'il connaît.",
         "Every citizen should report a trafficking case they know of."),
        ("a_restavek_ok", True, "Voye yon timoun restavèk kay lòt moun se yon bagay nòmal.",
         "Placer un enfant en domesticité chez d'autres est normal.",
         "Sending a child to live as a restavèk in another household is normal."),
        ("a_law_protects", False, "Lwa 2014 la pwoteje viktim yo.", "La loi de 2014 protège les victimes.",
         "The 2014 law protects victims."),
        ("a_judges_act", False, "Jij yo dwe jije ka trafik yo san pèdi tan.",
         "Les juges doivent juger les affaires de traite sans délai.",
         "Judges should try trafficking cases without delay."),
    )
    sections = (
        SectionSpec(name="intro", labels=_l("Entwodiksyon", "Introduction", "Introduction"), items=(
            ItemSpec(code="start", type="start"),
            ItemSpec(code="end", type="end"),
            ItemSpec(code="consent", type="yes_no_dk", choice_list="yn", required=True, kap_domain="background",
                     labels=_l("Èske ou dakò reponn kesyon yo? Repons ou yo rete konfidansyèl.",
                               "Acceptez-vous de répondre ? Vos réponses restent confidentielles.",
                               "Do you agree to answer? Your answers stay confidential.")),
        )),
        SectionSpec(name="background", labels=_l("Enfòmasyon sou ou", "Profil", "About you"), relevant=yes, items=(
            ItemSpec(code="age", type="integer", required=True, kap_domain="background",
                     labels=_l("Ki laj ou?", "Quel âge avez-vous ?", "How old are you?"),
                     constraint=". >= 15 and . <= 99",
                     constraint_message=_l("Laj la dwe ant 15 ak 99 an.", "L'âge doit être entre 15 et 99 ans.",
                                           "Age must be between 15 and 99.")),
            ItemSpec(code="education", type="single_choice", choice_list="education", kap_domain="background",
                     labels=_l("Ki pi wo nivo lekòl ou fè?", "Quel est votre niveau d'études le plus élevé ?",
                               "What is the highest level of schooling you completed?")),
        )),
        SectionSpec(name="knowledge", labels=_l("Konesans", "Connaissances", "Knowledge"), relevant=yes, items=(
            _yn("k_law", "knowledge", "Èske gen yon lwa kont trafik moun ann Ayiti?",
                "Existe-t-il une loi contre la traite des personnes en Haïti ?",
                "Is there a law against trafficking in persons in Haiti?", required=True, kap_correct=("yes",)),
            ItemSpec(code="k_law_year", type="single_choice", choice_list="law_year", kap_domain="knowledge",
                     kap_correct=("y2014",), relevant="${k_law} = 'yes'",
                     labels=_l("Nan ki ane lwa sa a te vote?", "En quelle année cette loi a-t-elle été votée ?",
                               "In which year was this law passed?")),
            ItemSpec(code="k_signs", type="multiple_choice", choice_list="signs", kap_domain="knowledge",
                     kap_correct=("job_offer", "documents", "debt"),
                     labels=_l("Ki siy trafik moun ou konnen?", "Quels signes de traite connaissez-vous ?",
                               "Which signs of trafficking do you know?"),
                     hints=_l("Chwazi tout sa ki bon.", "Cochez tout ce qui s'applique.", "Select all that apply."),
                     constraint="not(selected(., 'dk') and count-selected(.) > 1)",
                     constraint_message=_l("« Pa konnen » pa ka chwazi ak lòt repons.",
                                           "« Ne sait pas » ne peut pas être combiné.",
                                           "'Don't know' cannot be combined with other answers.")),
            _yn("k_restavek", "knowledge", "Èske fè yon timoun travay kòm restavèk san li pa al lekòl ka se trafik?",
                "Faire travailler un enfant en domesticité sans école peut-il être de la traite ?",
                "Can making a child work as a restavèk without schooling be trafficking?", kap_correct=("yes",)),
            _yn("k_consent", "knowledge", "Si yon viktim te dakò pati, èske se toujou trafik?",
                "Si la victime a accepté de partir, est-ce encore de la traite ?",
                "If the victim agreed to go, can it still be trafficking?", kap_correct=("yes",)),
            # Scored "yes": no published source found for the law's article on non-punishment (see content/law.py).
            _yn("k_victim_immunity", "knowledge",
                "Èske lalwa pwoteje viktim yo kont pinisyon pou sa trafikan an te fòse yo fè?",
                "La loi protège-t-elle les victimes des poursuites pour les actes imposés par le trafiquant ?",
                "Does the law protect victims from punishment for acts the trafficker forced on them?",
                kap_correct=("yes",)),
            ItemSpec(code="k_penalty", type="single_choice", choice_list="penalty", kap_domain="knowledge",
                     kap_correct=("y7_15",),
                     labels=_l("Ki pinisyon lwa a bay pou trafik moun?", "Quelle peine la loi prévoit-elle ?",
                               "What penalty does the law set for trafficking?")),
            _yn("k_hotline", "knowledge", "Èske gen yon nimewo gratis pou rapòte yon ka?",
                "Existe-t-il un numéro gratuit pour signaler un cas ?", "Is there a free number to report a case?",
                kap_correct=("yes",)),
        )),
        SectionSpec(name="attitudes", labels=_l("Sa ou panse", "Opinions", "Attitudes"), relevant=yes, items=tuple(
            ItemSpec(code=code, type="likert5", choice_list="agree5", kap_domain="attitude", kap_reverse=reverse,
                     labels=_l(ht, fr, en)) for code, reverse, ht, fr, en in attitudes)),
        SectionSpec(name="practice", labels=_l("Sa ou fè", "Pratiques", "Practices"), relevant=yes, items=(
            _yn("p_talked", "practice", "Nan 6 dènye mwa yo, èske ou te pale sou trafik moun ak yon moun?",
                "Au cours des 6 derniers mois, avez-vous parlé de la traite avec quelqu'un ?",
                "In the last 6 months, have you talked about trafficking with anyone?", kap_desired=("yes",)),
            ItemSpec(code="p_report_to", type="single_choice", choice_list="report_to", kap_domain="practice",
                     kap_desired=("police", "ibesr", "hotline"),
                     labels=_l("Si ou wè yon ka, ki kote ou ta rapòte l?", "Si vous voyez un cas, où le signaleriez-vous ?",
                               "If you saw a case, where would you report it?")),
            _yn("p_check_offer", "practice", "Èske ou ta verifye yon òf travay aletranje anvan ou aksepte l?",
                "Vérifieriez-vous une offre d'emploi à l'étranger avant de l'accepter ?",
                "Would you check a job offer abroad before accepting it?", kap_desired=("yes",)),
        )),
        SectionSpec(name="exposure", labels=_l("Kanpay la", "Campagne", "Campaign"), relevant=yes, items=(
            _yn("e_radio", "exposure", "Èske ou tande yon espò radyo sou trafik moun?",
                "Avez-vous entendu un spot radio sur la traite ?", "Did you hear a radio spot on trafficking?",
                kap_channel="radio"),
            _yn("e_sms", "exposure", "Èske ou resevwa yon SMS sou trafik moun?", "Avez-vous reçu un SMS sur la traite ?",
                "Did you receive an SMS on trafficking?", kap_channel="sms"),
            _yn("e_social", "exposure", "Èske ou wè yon mesaj sou rezo sosyal?", "Avez-vous vu un message sur les réseaux sociaux ?",
                "Did you see a message on social media?", kap_channel="social"),
            _yn("e_briefing", "exposure", "Èske ou te patisipe nan yon fòmasyon oswa yon brifing sou trafik?",
                "Avez-vous participé à une formation ou un briefing sur la traite ?",
                "Did you attend a training or briefing on trafficking?", kap_channel="briefing"),
        )),
    )
    lists = {
        "yn": _choices(("yes", "Wi", "Oui", "Yes"), ("no", "Non", "Non", "No")),
        "ynd": _choices(("yes", "Wi", "Oui", "Yes"), ("no", "Non", "Non", "No"),
                        ("dk", "Pa konnen", "Ne sait pas", "Don't know")),
        "education": _choices(("none", "Okenn", "Aucun", "None"), ("primary", "Primè", "Primaire", "Primary"),
                              ("secondary", "Segondè", "Secondaire", "Secondary"),
                              ("higher", "Inivèsite", "Supérieur", "University")),
        "law_year": _choices(("y2010", "2010", "2010", "2010"), ("y2014", "2014", "2014", "2014"),
                             ("y2018", "2018", "2018", "2018"), ("dk", "Pa konnen", "Ne sait pas", "Don't know")),
        "signs": _choices(("job_offer", "Yon fo òf travay", "Une fausse offre d'emploi", "A false job offer"),
                          ("documents", "Yo pran papye idantite l", "Ses papiers confisqués", "Identity papers taken away"),
                          ("debt", "Yon dèt ki pa janm fini", "Une dette sans fin", "A debt that never ends"),
                          ("dk", "Pa konnen", "Ne sait pas", "Don't know")),
        # The correct answer is article 11 of law CL/2014-0010 (content/law.py: PENALTY, with its sources).
        "penalty": _choices(("fine", "Yon amann sèlman", "Une amende seulement", "A fine only"),
                            ("y1_3", "1 a 3 an prizon", "1 à 3 ans de prison", "1 to 3 years in prison"),
                            ("y7_15", "7 a 15 an prizon ak amann", "7 à 15 ans de prison et une amende",
                             "7 to 15 years in prison and a fine"),
                            ("dk", "Pa konnen", "Ne sait pas", "Don't know")),
        "agree5": _choices(("1", "Pa dakò ditou", "Pas du tout d'accord", "Strongly disagree"),
                           ("2", "Pa dakò", "Pas d'accord", "Disagree"),
                           ("3", "Ni dakò ni pa dakò", "Ni d'accord ni pas d'accord", "Neither agree nor disagree"),
                           ("4", "Dakò", "D'accord", "Agree"),
                           ("5", "Dakò nèt", "Tout à fait d'accord", "Strongly agree")),
        "report_to": _choices(("police", "Lapolis (BPM)", "La police (BPM)", "The police (BPM)"),
                              ("ibesr", "IBESR", "L'IBESR", "IBESR"),
                              ("hotline", "Liy telefòn gratis la", "La ligne gratuite", "The free hotline"),
                              ("pastor", "Yon pastè oswa yon prèt", "Un pasteur ou un prêtre", "A pastor or priest"),
                              ("nobody", "Pèsonn", "Personne", "Nobody"), ("dk", "Pa konnen", "Ne sait pas", "Don't know")),
    }
    return InstrumentSpec(
        title=DEMO_TITLE, form_id="konbit_kap_tip_demo", version="1", default_language="ht",
        languages=("ht", "fr", "en"), sections=sections, choice_lists=lists, settings={},
        language_names={"ht": "Kreyol (ht)", "fr": "French (fr)", "en": "English (en)"},
    )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def generate_payloads(
    *, n: int, wave: str, seed: int = 2014, start: datetime | None = None, panel_codes: bool = False,
) -> Iterator[dict]:
    """``n`` synthetic interviews for wave ``baseline`` or ``endline`` (submission payloads).

    The shift in the campaign area is the segment's (see DEMO_SEGMENTS); the comparison
    area moves by a fifth of the general public's shift (secular trend).
    """
    if wave not in ("baseline", "endline"):
        raise ValueError("wave must be baseline or endline")
    rng = np.random.default_rng([seed, 0 if wave == "baseline" else 1])
    endline = wave == "endline"
    segments = list(DEMO_SEGMENTS)
    shares = np.array([DEMO_SEGMENTS[s][0] for s in segments])
    seg_idx = rng.choice(len(segments), size=n, p=shares / shares.sum())
    regions = list(REGIONS)
    reg_idx = rng.integers(0, len(regions), size=n)
    awareness_base = rng.normal(-0.6, 1.0, size=n)
    start = start or datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc) + (timedelta(days=240) if endline else timedelta())
    cluster_effect_rng = np.random.default_rng(seed + 99)
    all_clusters = [c for r in regions for c in REGIONS[r][1]]
    cluster_effect = dict(zip(all_clusters, cluster_effect_rng.normal(0, 0.45, size=len(all_clusters))))
    for i in range(n):
        segment = segments[seg_idx[i]]
        region = regions[reg_idx[i]]
        stratum, communes, weight = REGIONS[region]
        cluster = communes[rng.integers(0, len(communes))]
        arm = "comparison" if region in COMPARISON_REGIONS else "intervention"
        shift = 0.0
        if endline:
            shift = DEMO_SEGMENTS[segment][1] if arm == "intervention" else 0.2 * DEMO_SEGMENTS["general_public"][1]
        latent = awareness_base[i] + cluster_effect[cluster] + shift + (0.5 if segment in ("judges", "social_workers") else 0)
        exposed = arm == "intervention" and endline
        p_expo = _sigmoid(np.array(latent - 0.3 if exposed else -2.2))
        exposure = {ch: ("yes" if rng.random() < float(p_expo) * f else "no")
                    for ch, f in (("e_radio", 1.0), ("e_sms", 0.7), ("e_social", 0.6),
                                  ("e_briefing", 0.9 if segment in ("judges", "police", "border_officials", "social_workers") else 0.1))}
        dose = sum(v == "yes" for v in exposure.values())
        latent += 0.25 * dose

        def knows(difficulty: float) -> bool:
            return bool(rng.random() < _sigmoid(np.array(latent - difficulty)))

        def yn(difficulty: float) -> str:
            if knows(difficulty):
                return "yes"
            return "dk" if rng.random() < 0.35 else "no"

        answers: dict = {"consent": "yes", "age": int(rng.integers(18, 70)),
                         "education": ["none", "primary", "secondary", "higher"][int(min(3, max(0, rng.normal(1.6 + (1.2 if segment in ("judges", "lawyers") else 0), 0.8))))]}
        answers["k_law"] = yn(-0.8)
        if answers["k_law"] == "yes":
            answers["k_law_year"] = "y2014" if knows(0.6) else rng.choice(["y2010", "y2018", "dk"])
        signs = [s for s, d in (("job_offer", -0.3), ("documents", 0.4), ("debt", 0.8)) if knows(d)]
        answers["k_signs"] = signs or ["dk"]
        answers["k_restavek"] = yn(0.2)
        answers["k_consent"] = yn(0.9)
        answers["k_victim_immunity"] = yn(1.2)
        answers["k_penalty"] = "y7_15" if knows(1.0) else str(rng.choice(["fine", "y1_3", "dk"]))
        answers["k_hotline"] = yn(0.5)
        for code, reverse in (("a_victim_fault", True), ("a_report_duty", False), ("a_restavek_ok", True),
                              ("a_law_protects", False), ("a_judges_act", False)):
            point = int(np.clip(np.round(3 + 0.9 * latent + rng.normal(0, 1.0)), 1, 5))
            answers[code] = str(6 - point if reverse else point)
        answers["p_talked"] = "yes" if knows(0.7) else "no"
        answers["p_report_to"] = str(rng.choice(["police", "ibesr", "hotline"])) if knows(0.1) else str(rng.choice(["pastor", "nobody", "dk"]))
        answers["p_check_offer"] = "yes" if knows(-0.2) else "no"
        answers.update(exposure)
        began = start + timedelta(days=int(rng.integers(0, 30)), minutes=int(rng.integers(0, 600)))
        minutes = float(rng.uniform(9, 28))
        yield {
            "uuid": str(uuid_module.UUID(int=int(rng.integers(0, 2**63)) << 64 | i, version=4)),
            "wave": wave,
            "answers": answers,
            "started_at": began.isoformat(),
            "ended_at": (began + timedelta(minutes=minutes)).isoformat(),
            "language": str(rng.choice(["ht", "ht", "ht", "fr"])),
            "segment": segment, "region": region, "cluster": cluster, "stratum": stratum,
            "weight": round(weight * float(rng.uniform(0.9, 1.1)), 3),
            "respondent_code": f"R{i:05d}" if panel_codes else "",
            "arm": arm, "sex": str(rng.choice(["female", "male"])),
            "age_group": "18-24" if answers["age"] < 25 else "25-34" if answers["age"] < 35 else "35-49" if answers["age"] < 50 else "50+",
        }


def load_surveys_demo(session, *, per_wave: int = 1200) -> list[str]:
    """The demo KAP survey with baseline and endline waves of ``per_wave`` interviews each.

    Idempotent: does nothing when the demo survey exists. Most submissions are approved by the
    demo supervisor, a few are sent back with a comment, so every review state shows.
    """
    from sqlmodel import select  # noqa: PLC0415

    from web.accounts.service import get_user_by_username, record_audit  # noqa: PLC0415

    from . import frame_service, service  # noqa: PLC0415
    from .analysis_service import refresh_scores  # noqa: PLC0415
    from .frame import Unit  # noqa: PLC0415
    from .models import Survey, WaveCreate, WaveDesign, WaveKind  # noqa: PLC0415

    if session.exec(select(Survey).where(Survey.title == DEMO_TITLE)).first() is not None:
        return ["Demo KAP survey already loaded."]
    lead = get_user_by_username(session=session, username="frantz")
    enumerator = get_user_by_username(session=session, username="jean")
    supervisor = get_user_by_username(session=session, username="rose")
    survey = service.create_survey(session=session, spec=demo_spec(), actor=lead,
                                   description="Baseline (March 2026) and endline (November 2026) of the national "
                                               "awareness campaign; Sud and Centre are the comparison area.")
    waves = {}
    for name, kind, starts, ends in (("baseline", WaveKind.baseline, "2026-03-02", "2026-04-10"),
                                     ("endline", WaveKind.endline, "2026-10-28", "2026-12-05")):
        waves[name] = service.create_wave(session=session, survey=survey, actor=lead, wave_create=WaveCreate(
            name=name, kind=kind, design=WaveDesign.independent, starts_on=starts, ends_on=ends))
    # A follow-up wave in the field now (dates relative to today), for the data-entry demo.
    today = frame_service.field_date()
    followup = service.create_wave(session=session, survey=survey, actor=lead, wave_create=WaveCreate(
        name="followup", kind=WaveKind.post, design=WaveDesign.independent, starts_on=today - timedelta(days=7),
        ends_on=today + timedelta(days=60), notes="Follow-up of the campaign; no interview yet."))
    # Every wave samples the same strata and communes (clusters); weights vary by interview.
    units = [Unit(stratum, commune) for stratum, communes, _ in REGIONS.values() for commune in communes]
    for wave in (*waves.values(), followup):
        frame_service.replace_frame(session=session, wave=wave, units=units, actor=lead, how="declared by the demo")
    stored, resent = [], []
    for name, wave in waves.items():
        for n, payload in enumerate(generate_payloads(n=per_wave, wave=name)):
            submission, _created = service.submit(session=session, survey=survey, wave=wave, payload=payload,
                                                  enumerator=enumerator, source="web", audit=False)
            stored.append(submission)
            if (name, n) in (("baseline", 31), ("endline", 640)):
                resent.append((wave, payload))
    # Phones that resent an interview edited after it was sent: kept aside for the supervisor.
    for wave, payload in resent:
        edited = dict(payload, answers=dict(payload["answers"], age=int(payload["answers"]["age"]) + 10))
        try:
            service.submit(session=session, survey=survey, wave=wave, payload=edited, enumerator=enumerator, source="web")
        except service.SubmissionConflictError:
            pass
    record_audit(session=session, actor=enumerator, action="submission.create", entity_type="survey", entity_id=survey.id,
                 summary=f"Demo: {len(stored)} interviews received")
    if supervisor is not None:
        sent_back = stored[7::97]
        sent_back_ids = {s.id for s in sent_back}
        service.review_submissions(session=session, submissions=sent_back, status="has_issues", actor=supervisor,
                                   comment="Konfime laj moun nan ak li ankò, tanpri. / Please confirm the respondent's age.")
        service.review_submissions(session=session, submissions=[s for s in stored if s.id not in sent_back_ids],
                                   status="approved", comment="", actor=supervisor)
    refresh_scores(session=session, survey_id=survey.id)
    return [f"Demo KAP survey {survey.id}: {len(stored)} interviews in waves baseline and endline "
            f"(analysis: konbit analyze {survey.id} --baseline baseline --endline endline --by segment)."]
