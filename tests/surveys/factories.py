"""Survey fixtures shared by the surveys tests: a realistic small KAP instrument, a survey with
waves in the database, valid answers and payloads.

    spec = make_kap_spec()                       # an InstrumentSpec, built in code
    made = make_survey(engine, actor=alice)      # Survey + version 1 + waves baseline, endline
    made.survey, made.version, made.baseline, made.waves["endline"]
    payload = make_payload(wave="baseline")      # a valid SubmissionIn body, as a dict
    xlsx = make_xlsform()                        # the same instrument as XLSForm bytes

The instrument (in Haitian Creole, French and English) asks about trafficking in persons
and Haiti's 2014 law (loi CL/2014-0010): consent, background, knowledge (yes/no/don't
know, single and multiple choice), five attitude items on a 5-point Likert scale (two
reverse-coded), practices, and campaign exposure with skip logic and constraints.
"""

from __future__ import annotations

import uuid as uuid_module
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from surveys.demo import trilingual, trilingual_choices
from surveys.models import InstrumentVersion, Survey, Wave, WaveCreate, WaveDesign, WaveKind
from surveys.spec import InstrumentSpec, ItemSpec, SectionSpec
from web.accounts.models import User

__all__ = [
    "ATTITUDE_CODES",
    "KapSurvey",
    "make_answers",
    "make_kap_spec",
    "make_payload",
    "make_survey",
    "make_xlsform",
]

ATTITUDE_CODES = ("a_victim_fault", "a_report_duty", "a_restavek_ok", "a_law_protects", "a_migrants_help")


_l, _choices = trilingual, trilingual_choices


def make_kap_spec(*, title: str = "KAP trafficking in persons 2026", form_id: str = "kap_tip_2026",
                  version: str | None = "1") -> InstrumentSpec:
    """A small but realistic KAP instrument (18 questions over every domain), built in code."""
    yes = "${consent} = 'yes'"
    sections = (
        SectionSpec(name="intro", labels=_l("Entwodiksyon", "Introduction", "Introduction"), items=(
            ItemSpec(code="start", type="start"),
            ItemSpec(code="end", type="end"),
            ItemSpec(code="consent", type="yes_no_dk", choice_list="yn", required=True, kap_domain="background",
                     labels=_l("Èske ou dakò reponn kesyon yo?", "Acceptez-vous de répondre ?", "Do you agree to answer?")),
        )),
        SectionSpec(name="background", labels=_l("Enfòmasyon", "Profil", "Background"), relevant=yes, items=(
            ItemSpec(code="age", type="integer", required=True, kap_domain="background",
                     labels=_l("Ki laj ou?", "Quel âge avez-vous ?", "How old are you?"),
                     constraint=". >= 15 and . <= 99",
                     constraint_message=_l("Laj la dwe ant 15 ak 99", "L'âge doit être entre 15 et 99",
                                           "Age must be between 15 and 99")),
            ItemSpec(code="education", type="single_choice", choice_list="education", kap_domain="background",
                     labels=_l("Ki nivo lekòl ou?", "Niveau d'études ?", "Highest level of schooling?")),
            ItemSpec(code="household_size", type="integer", kap_domain="background", constraint=". > 0",
                     labels=_l("Konbyen moun nan kay la?", "Taille du ménage ?", "How many people in the household?")),
        )),
        SectionSpec(name="knowledge", labels=_l("Konesans", "Connaissances", "Knowledge"), relevant=yes, items=(
            ItemSpec(code="k_law", type="yes_no_dk", choice_list="ynd", required=True, kap_domain="knowledge",
                     kap_correct=("yes",),
                     labels=_l("Èske gen yon lwa kont trafik moun ann Ayiti?",
                               "Existe-t-il une loi contre la traite des personnes en Haïti ?",
                               "Is there a law against trafficking in persons in Haiti?")),
            ItemSpec(code="k_law_year", type="single_choice", choice_list="law_year", kap_domain="knowledge",
                     kap_correct=("y2014",), relevant="${k_law} = 'yes'",
                     labels=_l("Ki ane lwa a te vote?", "En quelle année la loi a-t-elle été votée ?",
                               "In which year was the law passed?")),
            ItemSpec(code="k_signs", type="multiple_choice", choice_list="signs", kap_domain="knowledge",
                     kap_correct=("job_offer", "documents", "debt"),
                     labels=_l("Ki siy trafik ou konnen?", "Quels signes de traite connaissez-vous ?",
                               "Which signs of trafficking do you know?"),
                     constraint="not(selected(., 'dk') and count-selected(.) > 1)",
                     constraint_message=_l("'Pa konnen' pou kont li", "« Ne sait pas » seul",
                                           "'Don't know' goes alone")),
            ItemSpec(code="k_hotline", type="yes_no_dk", choice_list="ynd", kap_domain="knowledge", kap_correct=("yes",),
                     labels=_l("Èske gen yon liy telefòn pou rapòte?", "Existe-t-il un numéro pour signaler ?",
                               "Is there a hotline to report trafficking?")),
        )),
        SectionSpec(name="attitudes", labels=_l("Atitid", "Attitudes", "Attitudes"), relevant=yes, items=tuple(
            ItemSpec(code=code, type="likert5", choice_list="agree5", kap_domain="attitude", kap_reverse=reverse,
                     labels=_l(ht, fr, en))
            for code, reverse, ht, fr, en in (
                ("a_victim_fault", True, "Viktim yo responsab sa k rive yo", "Les victimes sont responsables",
                 "Victims are to blame for what happens to them"),
                ("a_report_duty", False, "Nou dwe rapòte ka trafik", "Il faut signaler la traite",
                 "We should report cases of trafficking"),
                ("a_restavek_ok", True, "Voye timoun restavèk se nòmal", "Placer un enfant en domesticité est normal",
                 "Sending a child into restavèk is normal"),
                ("a_law_protects", False, "Lwa a pwoteje viktim yo", "La loi protège les victimes",
                 "The law protects victims"),
                ("a_migrants_help", False, "Migran yo merite èd", "Les migrants méritent de l'aide",
                 "Migrants deserve help"),
            )
        )),
        SectionSpec(name="practice", labels=_l("Pratik", "Pratiques", "Practices"), relevant=yes, items=(
            ItemSpec(code="p_talked", type="yes_no_dk", choice_list="ynd", kap_domain="practice", kap_desired=("yes",),
                     labels=_l("Èske w te pale de trafik ak yon moun?", "Avez-vous parlé de la traite ?",
                               "Have you talked about trafficking with anyone?")),
            ItemSpec(code="p_report_to", type="single_choice", choice_list="report_to", kap_domain="practice",
                     kap_desired=("police", "ibesr", "hotline"),
                     labels=_l("Ki kote w ta rapòte?", "Où signaleriez-vous ?", "Where would you report a case?")),
            ItemSpec(code="p_why_not", type="text", kap_domain="practice", relevant="${p_report_to} = 'nobody'",
                     labels=_l("Poukisa?", "Pourquoi ?", "Why not?")),
        )),
        SectionSpec(name="exposure", labels=_l("Ekspozisyon", "Exposition", "Exposure"), relevant=yes, items=(
            ItemSpec(code="e_radio", type="yes_no_dk", choice_list="ynd", kap_domain="exposure", kap_channel="radio",
                     labels=_l("Èske w tande spot radyo sou trafik?", "Avez-vous entendu le spot radio ?",
                               "Did you hear the radio spot on trafficking?")),
            ItemSpec(code="e_times", type="integer", kap_domain="exposure", kap_channel="radio",
                     relevant="${e_radio} = 'yes'", constraint=". >= 1 and . <= 100",
                     labels=_l("Konbyen fwa?", "Combien de fois ?", "How many times?")),
            ItemSpec(code="e_last", type="date", kap_domain="exposure", relevant="${e_radio} = 'yes'",
                     constraint=". <= today()",
                     labels=_l("Ki dènye fwa?", "Quand la dernière fois ?", "When was the last time?")),
            ItemSpec(code="e_sms", type="yes_no_dk", choice_list="ynd", kap_domain="exposure", kap_channel="sms",
                     labels=_l("Èske w resevwa SMS sou trafik?", "Avez-vous reçu un SMS ?",
                               "Did you receive an SMS on trafficking?")),
            ItemSpec(code="comments", type="text", labels=_l("Kòmantè", "Commentaires", "Comments")),
        )),
    )
    lists = {
        "yn": _choices(("yes", "Wi", "Oui", "Yes"), ("no", "Non", "Non", "No")),
        "ynd": _choices(("yes", "Wi", "Oui", "Yes"), ("no", "Non", "Non", "No"),
                        ("dk", "Pa konnen", "Ne sait pas", "Don't know")),
        "education": _choices(("none", "Okenn", "Aucun", "None"), ("primary", "Primè", "Primaire", "Primary"),
                              ("secondary", "Segondè", "Secondaire", "Secondary"),
                              ("higher", "Inivèsite", "Supérieur", "Higher")),
        "law_year": _choices(("y2010", "2010", "2010", "2010"), ("y2014", "2014", "2014", "2014"),
                             ("y2018", "2018", "2018", "2018"), ("dk", "Pa konnen", "Ne sait pas", "Don't know")),
        "signs": _choices(("job_offer", "Fo òf travay", "Fausse offre d'emploi", "False job offer"),
                          ("documents", "Yo pran papye", "Papiers confisqués", "Documents taken away"),
                          ("debt", "Dèt ki pa janm fini", "Dette sans fin", "Debt that never ends"),
                          ("dk", "Pa konnen", "Ne sait pas", "Don't know")),
        "agree5": _choices(("1", "Pa dakò ditou", "Pas du tout d'accord", "Strongly disagree"),
                           ("2", "Pa dakò", "Pas d'accord", "Disagree"),
                           ("3", "Pa konnen", "Neutre", "Neither"),
                           ("4", "Dakò", "D'accord", "Agree"),
                           ("5", "Dakò nèt", "Tout à fait d'accord", "Strongly agree")),
        "report_to": _choices(("police", "Lapolis", "Police", "Police"), ("ibesr", "IBESR", "IBESR", "IBESR"),
                              ("hotline", "Liy 188", "Ligne 188", "Hotline 188"),
                              ("nobody", "Pèsonn", "Personne", "Nobody"), ("dk", "Pa konnen", "Ne sait pas", "Don't know")),
    }
    return InstrumentSpec(
        title=title, form_id=form_id, version=version, default_language="ht", languages=("ht", "fr", "en"),
        sections=sections, choice_lists=lists, settings={},
        language_names={"ht": "Kreyol (ht)", "fr": "French (fr)", "en": "English (en)"},
    )


def make_xlsform(spec: InstrumentSpec | None = None) -> bytes:
    """The instrument as ``.xlsx`` bytes, ready to upload."""
    from surveys.xlsform import write_xlsform  # noqa: PLC0415

    return write_xlsform(spec or make_kap_spec())


def make_answers(**overrides: Any) -> dict[str, Any]:
    """A complete, valid, varied answer set for :func:`make_kap_spec`; ``code=None`` removes one."""
    answers: dict[str, Any] = {
        "consent": "yes", "age": 34, "education": "secondary", "household_size": 5,
        "k_law": "yes", "k_law_year": "y2014", "k_signs": ["job_offer", "debt"], "k_hotline": "no",
        "a_victim_fault": "2", "a_report_duty": "5", "a_restavek_ok": "1", "a_law_protects": "4", "a_migrants_help": "4",
        "p_talked": "yes", "p_report_to": "police",
        "e_radio": "yes", "e_times": 3, "e_last": "2026-10-02", "e_sms": "no",
    }
    for code, value in overrides.items():
        if value is None:
            answers.pop(code, None)
        else:
            answers[code] = value
    return answers


def make_payload(*, wave: str | int | None = "baseline", uuid: str | None = None, minutes: float = 15,
                 answers: dict[str, Any] | None = None, **design: Any) -> dict[str, Any]:
    """A valid submission body (``SubmissionIn`` as JSON): a 15-minute interview by default."""
    ended = datetime(2026, 11, 2, 14, 30, tzinfo=timezone.utc)
    payload: dict[str, Any] = {
        "uuid": uuid or str(uuid_module.uuid4()),
        "wave": wave,
        "answers": make_answers() if answers is None else answers,
        "started_at": (ended - timedelta(minutes=minutes)).isoformat(),
        "ended_at": ended.isoformat(),
        "language": "ht", "segment": "general_public", "region": "Ouest", "cluster": "Cité Soleil",
        "stratum": "urban", "weight": 1.5, "respondent_code": "", "arm": "intervention",
        "sex": "female", "age_group": "25-34",
    }
    payload.update(design)
    return payload


@dataclass(frozen=True)
class KapSurvey:
    """What :func:`make_survey` made (detached rows: read them, don't change them)."""

    survey: Survey
    version: InstrumentVersion
    waves: dict[str, Wave] = field(default_factory=dict)

    @property
    def id(self) -> int:
        return self.survey.id  # type: ignore[return-value]

    @property
    def baseline(self) -> Wave:
        return self.waves["baseline"]

    @property
    def endline(self) -> Wave:
        return self.waves["endline"]


def make_survey(
    engine_or_session: Engine | Session,
    *,
    spec: InstrumentSpec | None = None,
    title: str | None = None,
    actor: User | None = None,
    waves: tuple[tuple[str, WaveKind, WaveDesign], ...] = (
        ("baseline", WaveKind.baseline, WaveDesign.independent),
        ("endline", WaveKind.endline, WaveDesign.independent),
    ),
    **settings: Any,
) -> KapSurvey:
    """A survey with version 1 of ``spec`` (default :func:`make_kap_spec`) and open waves, through the service.

    Given an engine it commits in its own session; given a session it only flushes (the caller commits).
    ``settings`` are Survey fields to set (``analysis_scope``, ``dont_know_threshold``, ...).
    """
    from surveys import service  # noqa: PLC0415

    def build(session: Session) -> KapSurvey:
        survey = service.create_survey(session=session, spec=spec or make_kap_spec(), actor=actor, title=title)
        for key, value in settings.items():
            setattr(survey, key, value)
        made = {}
        for name, kind, design in waves:
            made[name] = service.create_wave(
                session=session, survey=survey,
                wave_create=WaveCreate(name=name, kind=kind, design=design, starts_on=date(2026, 10, 1),
                                       ends_on=date(2026, 12, 31)),
                actor=actor,
            )
        session.flush()
        return KapSurvey(survey=survey, version=service.latest_version(session=session, survey=survey), waves=made)

    if isinstance(engine_or_session, Session):
        return build(engine_or_session)
    with Session(engine_or_session, expire_on_commit=False) as session:
        made = build(session)
        session.commit()
        return made


def make_demo_survey(engine: Engine, *, per_wave: int, seed: int, **generate: Any) -> KapSurvey:
    """The demo instrument (``surveys.demo``) with ``per_wave`` synthetic interviews in each of its
    baseline and endline waves, stored through ``submit()`` (``generate``: more options of
    ``generate_payloads``, e.g. ``panel_codes=True``)."""
    from surveys import service  # noqa: PLC0415
    from surveys.demo import demo_spec, generate_payloads  # noqa: PLC0415

    made = make_survey(engine, spec=demo_spec())
    with Session(engine, expire_on_commit=False) as session:
        for name, wave in made.waves.items():
            for payload in generate_payloads(n=per_wave, wave=name, seed=seed, **generate):
                service.submit(session=session, survey=made.survey, wave=wave, payload=payload, enumerator=None,
                               source="api", audit=False)
        session.commit()
    return made
