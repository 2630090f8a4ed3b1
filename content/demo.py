"""Demo message bank for a counter-trafficking campaign in Haiti.

``load_content_demo(session)`` adds twelve key messages (the forms trafficking
takes, restavèk child domestic servitude, the 2014 law CL/2014-0010 and its
penalties, victims' rights, how to report, indicators for judges and police,
false job offers abroad, returnees at the border, children in tourism, media
guidelines) in Haitian Creole, French, English and some Spanish, across every
channel format, with attachments (a law summary, a banner image, a radio
mock-up) and a realistic review history: some approved, some in review, a draft
of an approved message, one sent back and resubmitted, one retired.

The hotline is always the variable ``{{ hotline_number }}``; its sample value
"188" (the BPM's free line for children, see content/law.py) is a placeholder to
be replaced on the Variables page.

What the messages say about the 2014 law, and the article cited beside each
figure ("art. 11", "atik 11"), comes from content/law.py, which names the sources.

Idempotent: messages are recognised by a uid derived from their slug, the
variable by its name; running it again adds nothing.
"""

from __future__ import annotations

import io
import math
import struct
import uuid
import wave
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, select

from content import service as svc
from content.models import ContentVariable, Message, MessageCreate, VariableIn, VariantIn
from content.storage import AttachmentStorage, storage_for
from web.accounts.models import Role, User

__all__ = ["DEMO_MESSAGES", "demo_uid", "load_content_demo"]

_NAMESPACE = uuid.UUID("6f1c3c1e-6a0e-4f43-9d1e-6b6f6e6b6974")


def demo_uid(slug: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"konbit-demo/{slug}"))


# --- Demo files, made here so the repository carries no binaries ---------------------------


def _png(width: int, height: int, bands: list[tuple[int, int, int]]) -> bytes:
    """A banner of horizontal colour bands, as a valid PNG."""
    rows = []
    band_height = math.ceil(height / len(bands))
    for y in range(height):
        r, g, b = bands[min(y // band_height, len(bands) - 1)]
        rows.append(b"\x00" + bytes((r, g, b)) * width)
    raw = zlib.compress(b"".join(rows), 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def _pdf(title: str, lines: list[str]) -> bytes:
    """A one-page PDF of plain text lines (Helvetica, WinAnsi: French accents print)."""

    def escape(text: str) -> bytes:
        data = text.encode("cp1252", "replace")
        return data.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")

    stream = b"BT /F1 16 Tf 56 790 Td (" + escape(title) + b") Tj /F1 10 Tf 0 -28 Td 14 TL"
    for line in lines:
        stream += b" (" + escape(line) + b") '"
    stream += b" ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def _wav(seconds: float = 2.0, rate: int = 16000) -> bytes:
    """A short, soft two-note chime: the placeholder of a recorded spot."""
    frames = bytearray()
    total = int(seconds * rate)
    for i in range(total):
        t = i / rate
        freq = 523.25 if t < seconds / 2 else 659.25
        envelope = min(1.0, (total - i) / (rate * 0.2), i / (rate * 0.05))
        frames += struct.pack("<h", int(6000 * envelope * math.sin(2 * math.pi * freq * t)))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return out.getvalue()


# Each point names its article; content/law.py holds the sources of each one.
LAW_SUMMARY_LINES = [
    "Loi n° CL/2014-0010 portant sur la lutte contre la traite des personnes,",
    "publiée au Moniteur n° 103 du lundi 2 juin 2014 (58 articles).",
    "Résumé de travail préparé pour les sessions de sensibilisation. Se référer au texte officiel",
    "publié au Moniteur pour toute citation.",
    "",
    "1. Définition (art. 1.1.1) : recruter, transporter, héberger ou accueillir une personne, par la",
    "   menace, la force ou une autre contrainte, l'enlèvement, la fraude, la tromperie, l'abus",
    "   d'autorité ou d'une situation de vulnérabilité, ou des paiements, en vue de l'exploiter.",
    "2. Enfant : toute personne de moins de 18 ans (art. 1.1.8). Pour un enfant, ces moyens n'ont",
    "   pas à être prouvés.",
    "3. La servitude peut comprendre les services domestiques (art. 1.1.13).",
    "4. Peine (art. 11) : 7 à 15 ans d'emprisonnement et amende de 200 000 à 1 500 000 gourdes.",
    "5. Circonstances aggravantes, notamment lorsque la victime est un enfant : peines aggravées",
    "   (vérifier l'article et la peine dans le texte publié).",
    "6. Le consentement de la victime est sans effet lorsque l'un de ces moyens a été utilisé",
    "   (Protocole de Palerme, art. 3 b).",
    "7. L'État doit assurer aux victimes protection, soins médicaux, aide psychosociale et juridique.",
    "8. Le Comité national de lutte contre la traite des personnes (CNLTP) coordonne l'application.",
]

FILES: dict[str, tuple[Callable[[], bytes], str]] = {
    # name: (maker, content type)
    "banye-kanpay-ht.png": (lambda: _png(1200, 630, [(15, 92, 110), (244, 185, 66), (15, 92, 110)]), "image/png"),
    "banniere-campagne-fr.png": (lambda: _png(1200, 630, [(244, 185, 66), (15, 92, 110)]), "image/png"),
    "resume-loi-CL-2014-0010.pdf": (lambda: _pdf("Loi CL/2014-0010 - résumé", LAW_SUMMARY_LINES), "application/pdf"),
    "spot-ht-30s-maket.wav": (_wav, "audio/wav"),
}

ALT_BANNER_HT = "Bannyè kanpay la: twa bann koulè, ble, jòn, ble, san tèks."
ALT_BANNER_FR = "Bannière de la campagne : deux bandes de couleur, jaune et bleu, sans texte."


# --- The messages ------------------------------------------------------------------------


@dataclass
class DemoMessage:
    slug: str
    title: str
    objective: str
    themes: list[str]
    segments: list[str]
    variants: list[dict[str, Any]]
    # draft | review | approved | revised (approved, then a new draft) | resubmitted (sent back, fixed, in review) | retired
    flow: str = "draft"
    # For "revised" and "resubmitted": the variant changes made afterwards.
    later: list[dict[str, Any]] = field(default_factory=list)
    comment: str = ""
    # Codes of the demo KAP survey's items the message aims to move (linked when that survey exists).
    survey_items: tuple[str, ...] = ()


def sms(language: str, body: str) -> dict[str, Any]:
    return {"language": language, "channel": "sms", "body": body}


def radio(language: str, seconds: int, body: str, files: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"language": language, "channel": "radio", "target_seconds": seconds, "body": body, "files": files}


def social(language: str, platform: str, body: str, image: str = "", alt: str = "") -> dict[str, Any]:
    return {"language": language, "channel": "social", "platform": platform, "body": body, "alt_text": alt,
            "files": (image,) if image else ()}


def email(language: str, subject: str, body: str, files: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"language": language, "channel": "email", "subject": subject, "body": body, "files": files}


def briefing(language: str, body: str, files: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"language": language, "channel": "briefing", "body": body, "files": files}


BRIEFING_JUDGES_FR = """# Reconnaître un cas de traite des personnes

*Note d'information à l'intention des magistrats, préparée par {{ organisation }}.*

La loi n° CL/2014-0010 portant sur la lutte contre la traite des personnes réprime la traite à des fins
d'exploitation sexuelle et de travail forcé, y compris la servitude domestique des enfants.

## Les trois éléments de l'infraction

Définition : article 1.1.1 de la loi.

1. **L'acte** : recruter, transporter, héberger ou accueillir une personne.
2. **Le moyen** : menace, force ou autre contrainte, enlèvement, fraude, tromperie, abus d'autorité ou
   d'une situation de vulnérabilité, paiements à la personne qui a autorité sur la victime.
3. **Le but** : l'exploitation (travail forcé, exploitation sexuelle, servitude, y compris domestique :
   art. 1.1.13).

Lorsque la victime est un enfant (moins de 18 ans, art. 1.1.8), **le moyen n'a pas à être prouvé**. Le
consentement de la victime est sans effet dès lors qu'un des moyens a été employé (Protocole de Palerme,
art. 3 b).

## Indicateurs à rechercher dans le dossier

- La victime ne détient pas ses pièces d'identité ou son passeport.
- Elle doit rembourser une dette qui ne diminue jamais (voyage, logement, nourriture).
- Elle n'est jamais seule ; une autre personne répond à sa place.
- Ses déclarations paraissent apprises ; elle craint les autorités ou des représailles contre sa famille.
- Un enfant travaille dans un foyer qui n'est pas celui de ses parents et n'est pas scolarisé.
- Le recrutement est parti d'une offre d'emploi, souvent à l'étranger, trop belle pour être vraie.

## Peines prévues

| Situation | Peine |
|---|---|
| Traite des personnes (art. 11) | 7 à 15 ans d'emprisonnement et 200 000 à 1 500 000 gourdes d'amende |
| Circonstances aggravantes, notamment victime mineure | peines aggravées |

Vérifier dans le texte publié au *Moniteur* l'article et la peine applicables aux circonstances aggravantes.

## Protéger la victime pendant la procédure

- Ne pas poursuivre la victime pour les infractions qu'elle a été contrainte de commettre.
- Entendre les enfants à huis clos, en présence d'un travailleur social, sans confrontation directe.
- Prévoir un interprète en créole haïtien si nécessaire.
- Protéger son identité dans les décisions et vis-à-vis de la presse.

Signalement et orientation des victimes : **{{ hotline_number }}**.
"""

BRIEFING_JUDGES_EN = """# Recognising a trafficking case

*Briefing note for judges, prepared by {{ organisation }}.*

Haiti's law CL/2014-0010 on the fight against trafficking in persons punishes trafficking for sexual
exploitation and forced labour, including the domestic servitude of children.

## The three elements of the offence

Definition: article 1.1.1 of the law.

1. **The act**: recruiting, transporting, harbouring or receiving a person.
2. **The means**: threats, force or other coercion, abduction, fraud, deception, abuse of authority or of
   a position of vulnerability, payments to a person having control over the victim.
3. **The purpose**: exploitation (forced labour, sexual exploitation, servitude, domestic servitude
   included: art. 1.1.13).

When the victim is a child (under 18, art. 1.1.8), **the means need not be proved**. The victim's consent
is irrelevant once any of the means was used (Palermo Protocol, art. 3 b).

## Indicators to look for in the case file

- The victim does not hold their own identity papers or passport.
- They owe a debt that never shrinks (travel, lodging, food).
- They are never alone; someone else answers for them.
- Their statements sound rehearsed; they fear the authorities or reprisals against their family.
- A child works in a household other than their parents' and does not go to school.
- Recruitment began with a job offer, often abroad, too good to be true.

## Penalties

| Situation | Penalty |
|---|---|
| Trafficking in persons (art. 11) | 7 to 15 years' imprisonment and a fine of 200,000 to 1,500,000 gourdes |
| Aggravating circumstances, notably a child victim | heavier penalties |

Check the article and the penalty for aggravating circumstances in the text published in *Le Moniteur*.

## Protecting the victim during proceedings

- Do not prosecute victims for offences they were compelled to commit.
- Hear children in camera, with a social worker present, without direct confrontation.
- Provide a Haitian Creole interpreter where needed.
- Protect the victim's identity in decisions and from the press.

Reporting and referral of victims: **{{ hotline_number }}**.
"""

BRIEFING_JUDGES_HT = """# Kijan pou rekonèt yon ka trafik moun

*Nòt enfòmasyon pou jij yo, {{ organisation }} prepare l.*

Lwa CL/2014-0010 sou batay kont trafik moun pini trafik moun pou esplwatasyon seksyèl ak travay fòse,
sa gen ladan l timoun yo mete nan sèvitid domestik (restavèk).

## Twa eleman krim nan

Definisyon an: atik 1.1.1 lwa a.

1. **Zak la**: rekrite, transpòte, loje oswa resevwa yon moun.
2. **Mwayen an**: menas, fòs oswa lòt kontrent, kidnapin, fwod, manti, abi otorite oswa abi sou yon moun
   ki vilnerab, lajan yo bay moun ki gen otorite sou viktim nan.
3. **Objektif la**: esplwatasyon (travay fòse, esplwatasyon seksyèl, sèvitid, sèvitid domestik tou:
   atik 1.1.13).

Lè viktim nan se yon timoun (mwens pase 18 an, atik 1.1.8), **pa bezwen pwouve mwayen an**. Menm si
viktim nan te dakò, sa pa chanje anyen depi youn nan mwayen yo te itilize (Pwotokòl Palèm, atik 3 b).

## Siy pou chèche nan dosye a

- Viktim nan pa gen papye idantite l oswa paspò l sou li.
- Li dwe yon dèt ki pa janm fini.
- Li pa janm poukont li; se yon lòt moun ki reponn pou li.
- Yon timoun ap travay nan yon kay ki pa kay paran l, li pa al lekòl.

## Pinisyon

| Sitiyasyon | Pinisyon |
|---|---|
| Trafik moun (atik 11) | 7 a 15 an prizon ak 200 000 a 1 500 000 goud amann |
| Sikonstans agravan, tankou lè viktim nan se yon timoun | pinisyon ki pi di |

Verifye nan tèks *Monitè* a ki atik ak ki pinisyon ki aplike pou sikonstans agravan yo.

Pou siyale yon ka: **{{ hotline_number }}**.
"""

BRIEFING_POLICE_FR = """# Contrôles routiers et frontaliers : repérer une victime de traite

*Fiche réflexe pour les agents de la PNH, de la BPM et des services frontaliers.*

## Poser les bonnes questions

- À qui sont les documents de voyage ? Qui les garde ?
- Où allez-vous, chez qui, pour faire quel travail ?
- Qui a payé le voyage ? Devez-vous rembourser quelque chose ?
- L'enfant voyage-t-il avec ses parents ? Une autorisation de sortie est-elle présentée ?

## Signaux d'alerte

- Un adulte répond à la place de la personne contrôlée.
- Plusieurs enfants voyagent avec un adulte qui n'est pas leur parent.
- Les récits sont identiques, appris par cœur.
- La personne a peur, évite le regard, ne sait pas où elle va.

## Que faire

1. Séparer discrètement la personne de l'accompagnateur pour l'entendre.
2. Pour un enfant, contacter immédiatement la **BPM**.
3. Orienter la victime vers une prise en charge : **{{ hotline_number }}**.
4. Consigner les faits : ils serviront au parquet.
"""

BRIEFING_POLICE_HT = """# Kontwòl sou wout ak sou fwontyè: kijan pou rekonèt yon viktim trafik moun

*Fich pou ajan PNH, BPM ak sèvis fwontyè yo.*

## Kesyon pou poze

- Ki moun ki gen papye vwayaj yo? Ki moun ki kenbe yo?
- Ki kote w prale, lakay ki moun, pou fè ki travay?
- Ki moun ki peye vwayaj la? Èske w dwe lajan?
- Èske timoun nan ap vwayaje ak paran l? Èske gen otorizasyon pou l sòti?

## Siy ki dwe fè w mefyan

- Se yon lòt moun ki reponn pou moun w ap kontwole a.
- Plizyè timoun ap vwayaje ak yon granmoun ki pa paran yo.
- Tout moun rakonte menm istwa a, mo pou mo.

## Kisa pou w fè

1. Separe moun nan ak moun k ap akonpaye l pou w tande l apa.
2. Si se yon timoun, kontakte **BPM** touswit.
3. Rele **{{ hotline_number }}** pou viktim nan jwenn swen.
"""

BRIEFING_POLICE_ES = """# Controles fronterizos: cómo reconocer a una víctima de trata

*Ficha para agentes de frontera y de migración.*

## Preguntas clave

- ¿De quién son los documentos de viaje? ¿Quién los guarda?
- ¿Adónde va, a casa de quién y para hacer qué trabajo?
- ¿Quién pagó el viaje? ¿Tiene que devolver dinero?
- ¿El niño viaja con sus padres? ¿Hay una autorización de salida?

## Señales de alerta

- Un adulto contesta por la persona controlada.
- Varios niños viajan con un adulto que no es su padre ni su madre.
- Los relatos son idénticos, aprendidos de memoria.

## Qué hacer

1. Separar discretamente a la persona de su acompañante para escucharla.
2. Si es un niño, avisar de inmediato a la brigada de protección de menores.
3. Orientar a la víctima hacia la asistencia: **{{ hotline_number }}**.
"""

BRIEFING_SOCIAL_FR = """# Accompagner une victime de traite : ses droits

*Fiche pour les travailleurs sociaux de l'IBESR et des organisations partenaires.*

La loi CL/2014-0010 oblige l'État à assurer aux victimes protection, soins médicaux, soutien
psychosocial et aide juridique.

- **Protection** : la victime et sa famille peuvent être protégées contre les représailles.
- **Soins** : accès aux soins médicaux et à un soutien psychologique.
- **Aide juridique** : information sur la procédure, assistance d'un avocat.
- **Non-sanction** : elle ne devrait pas être punie pour ce que les trafiquants l'ont forcée à faire.
- **Retour** : retour en sécurité dans sa famille ou placement adapté pour un enfant.
- **Confidentialité** : son identité est protégée.

Orientation et signalement : **{{ hotline_number }}**.
"""

DEMO_MESSAGES: list[DemoMessage] = [
    DemoMessage(
        slug="what-is-trafficking", flow="approved", survey_items=("k_signs",),
        title="What trafficking in persons is",
        objective="The public can name the main forms of trafficking (forced labour, sexual exploitation, child "
                  "domestic servitude) and knows it is a crime.",
        themes=["forms of trafficking", "awareness"], segments=["general_public", "vulnerable_groups"],
        variants=[
            sms("ht", "Trafik moun se lè yon moun esplwate yon lòt pa fòs, manti oswa dèt: travay fòse, "
                      "esplwatasyon seksyèl, timoun restavèk. Se yon krim. Rele {{ hotline_number }}, li gratis."),
            sms("fr", "La traite des personnes, c'est exploiter quelqu'un par la force, la tromperie ou la dette : "
                      "travail forcé, exploitation sexuelle, enfants domestiques. C'est un crime. Appelez le "
                      "{{ hotline_number }}."),
            sms("en", "Human trafficking means exploiting someone through force, fraud or debt: forced labour, sexual "
                      "exploitation, child domestic servitude. It is a crime. Call {{ hotline_number }}, free."),
            sms("es", "Trata de personas: explotar a alguien con fuerza, engaño o deudas (trabajo forzoso, explotación "
                      "sexual, servidumbre infantil). Es un delito. Llame gratis al {{ hotline_number }}."),
            radio("ht", 30, "Konpatriyòt, trafik moun egziste an Ayiti. Se lè yon moun pran kontwòl lavi yon lòt "
                            "pou l fè l travay san peye, pou l esplwate l seksyèlman, oswa pou l fè l sèvi kòm "
                            "restavèk. Trafikan yo pwomèt bon travay, lekòl, vwayaj. Apre sa, yo pran papye w, yo "
                            "mete w nan dèt, yo menase fanmi w. Trafik moun se yon krim. Si ou wè sa, oswa si se "
                            "ou k ap viv li, rele {{ hotline_number }}. Apèl la gratis.",
                  files=("spot-ht-30s-maket.wav",)),
            radio("fr", 30, "La traite des personnes existe en Haïti. C'est quand quelqu'un prend le contrôle de la "
                            "vie d'une autre personne pour l'exploiter : travail sans salaire, exploitation sexuelle, "
                            "enfants placés comme domestiques. Les trafiquants promettent un bon emploi, l'école ou un "
                            "voyage à l'étranger. Ensuite, ils confisquent les papiers, imposent des dettes et menacent la famille. "
                            "C'est un crime. Si vous êtes témoin ou victime, appelez le {{ hotline_number }}. "
                            "L'appel est gratuit et confidentiel."),
            social("ht", "facebook", "Trafik moun se yon krim. Travay fòse, esplwatasyon seksyèl, timoun restavèk: "
                                     "se tout fòm trafik moun. Si ou wè yon sitiyasyon konsa, pa fèmen je w. Rele "
                                     "{{ hotline_number }}, li gratis. #TrafikMoun #Ayiti",
                   image="banye-kanpay-ht.png", alt=ALT_BANNER_HT),
            social("fr", "facebook", "La traite des personnes est un crime. Travail forcé, exploitation sexuelle, "
                                     "enfants en domesticité : ce sont des formes de traite. Vous êtes témoin ? "
                                     "Appelez le {{ hotline_number }}, c'est gratuit. #Haïti #StopTraite",
                   image="banniere-campagne-fr.png", alt=ALT_BANNER_FR),
            social("en", "facebook", "Human trafficking is a crime. Forced labour, sexual exploitation and child "
                                     "domestic servitude are all forms of trafficking. Seen something? Call "
                                     "{{ hotline_number }}, free of charge. #Haiti #EndTrafficking"),
        ],
    ),
    DemoMessage(
        slug="restavek", flow="revised", survey_items=("k_restavek", "a_restavek_ok"),
        title="Restavèk: a child is not a servant",
        objective="Families and neighbours recognise when a child placed in another household is exploited, and "
                  "report it.",
        themes=["restavèk", "child protection", "forms of trafficking"],
        segments=["general_public", "vulnerable_groups", "social_workers"],
        variants=[
            sms("ht", "Timoun pa sèvant! Yon timoun k ap travay di lakay lòt moun, ki pa al lekòl epi yo maltrete, "
                      "ka viktim trafik moun. Rele {{ hotline_number }}, li gratis."),
            sms("fr", "Un enfant n'est pas un domestique. Un enfant qui travaille dur chez d'autres, privé d'école et "
                      "maltraité, peut être victime de traite. Appelez le {{ hotline_number }}, c'est gratuit."),
            sms("en", "A child is not a servant. A child working hard in someone else's home, kept out of school and "
                      "mistreated, may be a trafficking victim. Call {{ hotline_number }} for free."),
            radio("ht", 30, "Chak timoun gen dwa ale lekòl, jwe, manje byen e viv an sekirite. Men, gen timoun yo "
                            "voye lakay lòt moun, kote yo travay depi granmaten jis lannwit, san lekòl, san lanmou, "
                            "anba kou. Se pa yon sèvis yo rann timoun nan: sa ka trafik moun, e lalwa pini l. Si ou "
                            "konnen yon timoun k ap viv konsa, pa rete an silans. Rele {{ hotline_number }}, apèl la "
                            "gratis. Ansanm, ann pwoteje timoun yo."),
            social("ht", "facebook", "Timoun pa sèvant! 💛 Chak timoun gen dwa al lekòl, jwe epi grandi an sekirite. "
                                     "Si w konnen yon timoun k ap soufri lakay lòt moun, rele {{ hotline_number }}. "
                                     "#Restavèk #PwotejeTimoun",
                   image="banye-kanpay-ht.png", alt=ALT_BANNER_HT),
        ],
        later=[sms("ht", "Timoun pa sèvant! Yon timoun k ap travay di lakay lòt moun, ki pa al lekòl epi yo "
                         "maltrete l, ka viktim trafik moun. Rele {{ hotline_number }}, 24/24, li gratis.")],
    ),
    DemoMessage(
        slug="law-2014", flow="approved", survey_items=("k_law", "k_law_year", "k_penalty"),
        title="The 2014 law: trafficking is punished",
        objective="The public and officials know that law CL/2014-0010 punishes trafficking with prison and fines "
                  "(art. 11), and more severely when the victim is a child.",
        themes=["law 2014", "penalties"], segments=["general_public", "police", "judges"],
        # The figures are those of article 11 (content/law.py: PENALTY, and its sources). The heavier penalty for
        # a child victim is said without a figure: its article was not found in a published source.
        variants=[
            sms("ht", "Lwa CL/2014-0010 pini trafik moun: 7 a 15 an prizon ak 200 000 a 1 500 000 goud amann "
                      "(atik 11). Si viktim nan se yon timoun, pinisyon an pi di. Rele {{ hotline_number }}."),
            sms("fr", "La loi CL/2014-0010 punit la traite de 7 à 15 ans de prison et de 200 000 à 1 500 000 gourdes "
                      "d'amende (art. 11), plus encore si la victime est un enfant. Signalez au {{ hotline_number }}."),
            sms("en", "Haiti's law CL/2014-0010 punishes trafficking with 7 to 15 years in prison and fines of "
                      "200,000 to 1,500,000 gourdes (art. 11), more if the victim is a child. Report: "
                      "{{ hotline_number }}."),
            sms("es", "La ley haitiana CL/2014-0010 castiga la trata con 7 a 15 años de cárcel y multas de 200 000 a "
                      "1 500 000 gourdes (art. 11), más si la víctima es un niño. Denuncie: {{ hotline_number }}."),
            social("ht", "x", "Trafik moun se yon krim: 7 a 15 an prizon dapre lwa CL/2014-0010 (atik 11). Lè "
                              "viktim nan se yon timoun, pinisyon an pi di. Siyale: {{ hotline_number }}"),
            social("fr", "x", "La traite est un crime : 7 à 15 ans de prison selon la loi CL/2014-0010 (art. 11), "
                              "davantage si la victime est un enfant. Signalez : {{ hotline_number }}"),
            social("en", "x", "Trafficking is a crime in Haiti: 7 to 15 years in prison under law CL/2014-0010 "
                              "(art. 11), more when the victim is a child. Report: {{ hotline_number }}"),
            radio("ht", 30, "Ou konnen lalwa ayisyen pini trafik moun? Depi ane 2014, lwa CL/2014-0010 di nan atik "
                            "11: moun ki fè trafik moun ka pran sèt a kenz an prizon, epi peye yon gwo amann. Lè "
                            "viktim nan se yon timoun, pinisyon an pi di toujou. Lalwa pwoteje viktim yo tou. "
                            "Pa kite trafikan yo fè sa yo vle. Si ou konnen yon ka, rele {{ hotline_number }}. "
                            "Apèl la gratis, ou pa bezwen bay non w."),
        ],
    ),
    DemoMessage(
        slug="victims-rights", flow="resubmitted", survey_items=("k_victim_immunity", "a_victim_fault"),
        title="Victims of trafficking have rights",
        objective="Victims and those around them know that the law provides protection and care, and that victims "
                  "should not be punished for what they were forced to do.",
        themes=["victims' rights", "protection"], segments=["vulnerable_groups", "social_workers"],
        comment="The English SMS promises things we cannot guarantee everywhere ('a safe return home'); align it with "
                "the French and make it less absolute.",
        variants=[
            sms("ht", "Viktim trafik moun gen dwa: pwoteksyon, swen medikal ak sikolojik, èd jiridik. Yo pa ta dwe "
                      "pini w pou sa trafikan yo te fòse w fè. Rele {{ hotline_number }}."),
            sms("fr", "Les victimes de traite ont droit à la protection, aux soins médicaux et psychologiques et à "
                      "l'aide juridique. Elles ne devraient pas être punies pour ce qu'on les a forcées à faire. "
                      "{{ hotline_number }}"),
            sms("en", "Trafficking victims have rights: protection, care, legal aid and a safe return home, always. "
                      "You cannot be punished for what traffickers forced you to do. Call {{ hotline_number }}."),
            radio("ht", 30, "Si yon moun te viktim trafik moun, li pa koupab. Lalwa di li gen dwa pou yo pwoteje l, "
                            "li gen dwa resevwa swen nan lopital, sipò sikolojik, ak èd yon avoka. Yo pa ta dwe "
                            "pini l pou sa trafikan yo te fòse l fè. Si se yon timoun, yo dwe jwenn yon fanmi oswa yon "
                            "kote ki an sekirite pou li. Pa pè pale. Rele {{ hotline_number }}, apèl la gratis e "
                            "konfidansyèl."),
            briefing("fr", BRIEFING_SOCIAL_FR),
        ],
        later=[sms("en", "Trafficking victims have rights: protection, medical and psychological care, and legal aid. "
                         "They should not be punished for what traffickers forced them to do. Call {{ hotline_number }}.")],
    ),
    DemoMessage(
        slug="how-to-report", flow="approved", survey_items=("k_hotline", "p_report_to"),
        title="How to report: call the hotline",
        objective="Anyone who suspects a case knows the free, anonymous number and what to say.",
        themes=["reporting", "hotline"], segments=["general_public"],
        variants=[
            sms("ht", "Ou wè yon ka trafik moun? Rele {{ hotline_number }}, 24/24, gratis. Ou pa bezwen bay non w. "
                      "Di kisa ou wè, ki kote, ki lè. Nou la pou ede."),
            sms("fr", "Vous soupçonnez un cas de traite ? Appelez le {{ hotline_number }}, 24h/24, gratuit et "
                      "anonyme. Dites ce que vous avez vu, où et quand."),
            sms("en", "Suspect a trafficking case? Call {{ hotline_number }}, day or night, free and anonymous. Say "
                      "what you saw, where and when. We are here to help."),
            sms("es", "¿Sospecha un caso de trata? Llame al {{ hotline_number }}, 24 horas, gratis y anónimo. Diga "
                      "qué vio, dónde y cuándo."),
            radio("ht", 15, "Ou wè yon timoun oswa yon granmoun k ap viv anba kontwòl yon lòt moun, san libète, san "
                            "salè? Pa rete an silans. Rele {{ hotline_number }}, lajounen kou lannwit. Apèl la gratis, "
                            "ou pa bezwen bay non w."),
            radio("fr", 15, "Vous voyez un enfant ou un adulte sous le contrôle de quelqu'un d'autre, sans liberté, sans "
                            "salaire ? Ne restez surtout pas silencieux. Appelez le {{ hotline_number }}, jour et "
                            "nuit. L'appel est gratuit, anonyme et confidentiel."),
            radio("en", 15, "Do you know a child or an adult controlled by someone else, with no freedom and no pay? "
                            "Don't stay silent. Call {{ hotline_number }}, day or night. The call is free and "
                            "anonymous."),
            social("ht", "instagram", "Ou wè yon ka trafik moun? 📞 Rele {{ hotline_number }}: gratis, 24/24, ou pa "
                                      "bezwen bay non w. #TrafikMoun #Ayiti #PaRetAnSilans",
                   image="banye-kanpay-ht.png", alt=ALT_BANNER_HT),
            social("fr", "instagram", "Vous soupçonnez un cas de traite ? 📞 Appelez le {{ hotline_number }} : "
                                      "gratuit, 24h/24, anonyme. #Haïti #StopTraite",
                   image="banniere-campagne-fr.png", alt=ALT_BANNER_FR),
        ],
    ),
    DemoMessage(
        slug="judges-indicators", flow="review", survey_items=("k_consent",),
        title="Recognising a trafficking case: indicators for judges",
        objective="Judges and prosecutors recognise the elements of the offence and its indicators, apply the 2014 "
                  "law's penalties and protect victims during proceedings.",
        themes=["indicators", "justice", "law 2014"], segments=["judges", "prosecutors"],
        variants=[
            briefing("fr", BRIEFING_JUDGES_FR, files=("resume-loi-CL-2014-0010.pdf",)),
            briefing("en", BRIEFING_JUDGES_EN, files=("resume-loi-CL-2014-0010.pdf",)),
            briefing("ht", BRIEFING_JUDGES_HT),
            email("fr", "Formation : reconnaître et juger les cas de traite des personnes",
                  "Madame, Monsieur,\n\n{{ organisation }} et l'association des magistrats vous invitent à une "
                  "demi-journée de formation sur l'application de la loi CL/2014-0010, le {{ training_date }}.\n\n"
                  "Au programme : les éléments de l'infraction, les indicateurs à rechercher dans les dossiers, les "
                  "peines prévues et la protection des victimes pendant la procédure. Vous trouverez ci-joint un "
                  "résumé de la loi.\n\nVeuillez agréer nos salutations distinguées.\n\n{{ organisation }}",
                  files=("resume-loi-CL-2014-0010.pdf",)),
            email("en", "Training: recognising and trying trafficking cases",
                  "Dear Judge,\n\n{{ organisation }} and the judges' association invite you to a half-day training "
                  "on applying law CL/2014-0010, on {{ training_date }}.\n\nWe will cover the elements of the offence, "
                  "the indicators to look for in case files, the penalties and the protection of victims during "
                  "proceedings. A summary of the law is attached.\n\nYours sincerely,\n\n{{ organisation }}",
                  files=("resume-loi-CL-2014-0010.pdf",)),
        ],
    ),
    DemoMessage(
        slug="police-indicators", flow="draft",
        title="Indicators for police at checkpoints and the border",
        objective="Police and border officers spot the signs of trafficking during controls and refer victims.",
        themes=["indicators", "police", "border"], segments=["police", "border_officials"],
        variants=[
            briefing("fr", BRIEFING_POLICE_FR),
            briefing("ht", BRIEFING_POLICE_HT),
            briefing("es", BRIEFING_POLICE_ES),
            sms("ht", "Ajan, nan kontwòl la poze kesyon: Ki moun ki gen papye timoun nan? Ki kote l prale? Ak ki "
                      "moun? Si repons yo pa klè, kontakte BPM oswa rele {{ hotline_number }}."),
            sms("fr", "Agent, lors du contrôle, demandez : qui garde les papiers de l'enfant ? Où va-t-il ? Avec qui ? "
                      "Si les réponses sont floues, contactez la BPM ou le {{ hotline_number }}."),
        ],
    ),
    DemoMessage(
        slug="false-job-offers", flow="review", survey_items=("p_check_offer", "k_signs"),
        title="False job offers abroad",
        objective="People tempted to migrate for work check offers and keep their passport.",
        themes=["labour trafficking", "migration", "recruitment"], segments=["general_public", "vulnerable_groups"],
        variants=[
            sms("ht", "Atansyon ak fo òf travay lòt bò dlo! Pa janm bay paspò w bay yon rekritè. Verifye konpayi an "
                      "anvan w pati. Yon travay ki twò bèl ka yon pèlen. Enfòmasyon: {{ hotline_number }}."),
            sms("fr", "Attention aux fausses offres d'emploi à l'étranger ! Ne confiez jamais votre passeport à un "
                      "recruteur. Vérifiez l'employeur avant de partir. Infos : {{ hotline_number }}."),
            sms("en", "Beware of fake job offers abroad! Never hand your passport to a recruiter. Check the employer "
                      "before you leave. A job too good to be true can be a trap. Info: {{ hotline_number }}."),
            sms("es", "¡Cuidado con las falsas ofertas de trabajo en el extranjero! Nunca entregue su pasaporte a un "
                      "reclutador. Verifique al empleador antes de viajar. Info: {{ hotline_number }}."),
            radio("ht", 30, "Yon moun pwomèt ou bon travay lòt bò dlo, ak gwo salè, san papye, san pwoblèm? Fè "
                            "atansyon! Anpil trafikan konsa yo rekrite viktim yo. Rive lòt bò a, yo pran paspò w, yo "
                            "di w dwe yo lajan vwayaj la, epi yo fòse w travay san peye. Anvan ou pati, verifye "
                            "konpayi an, pa janm bay pèsonn paspò w, epi kite yon moun nan fanmi w konnen kote w "
                            "prale. Pou plis enfòmasyon, rele {{ hotline_number }}."),
            social("ht", "whatsapp", "⚠️ Fo òf travay lòt bò dlo se yon pèlen trafikan yo itilize. Pa janm bay "
                                     "paspò w, verifye konpayi an, epi pale ak fanmi w anvan w pati. Kesyon? Rele "
                                     "{{ hotline_number }}. Pataje mesaj sa a!"),
        ],
    ),
    DemoMessage(
        slug="returnees-border", flow="approved",
        title="Returnees at the border: know your rights",
        objective="People returning from the Dominican Republic know where to get help and recognise smugglers' "
                  "and traffickers' offers.",
        themes=["migration", "returnees", "border"], segments=["vulnerable_groups", "border_officials"],
        variants=[
            sms("ht", "Ou fenk retounen sot Repiblik Dominikèn? Nan fwontyè a ou ka jwenn èd: manje, swen, "
                      "enfòmasyon. Si yon moun pwomèt pou l fè w pase san papye, fè atansyon! {{ hotline_number }}"),
            sms("fr", "De retour de République dominicaine ? À la frontière, vous pouvez recevoir de l'aide : "
                      "nourriture, soins, informations. Méfiez-vous des passeurs. {{ hotline_number }}"),
            sms("es", "¿Regresa de la República Dominicana? En la frontera puede recibir ayuda: comida, atención "
                      "médica e información. Cuidado con quien ofrece pasarlo sin papeles. {{ hotline_number }}"),
            radio("ht", 30, "Frè ak sè k ap retounen sot Repiblik Dominikèn, byenvini lakay nou. Nan pwen fwontyè yo, "
                            "gen ajan ak òganizasyon ki la pou ede w: yon ti manje, swen, enfòmasyon pou w jwenn "
                            "fanmi w. Pa kite pèsonn pwofite sitiyasyon w. Si yon moun pwomèt ou travay oswa pou l "
                            "fè w janbe fwontyè a san papye ni paspò, mefye w: se konsa trafikan yo travay. Rele "
                            "{{ hotline_number }}. Apèl la gratis e konfidansyèl."),
        ],
    ),
    DemoMessage(
        slug="children-tourism", flow="draft",
        title="Protecting children in travel and tourism",
        objective="Hotels, guesthouses and tour operators know how to prevent and report the sexual exploitation "
                  "of children.",
        themes=["sexual exploitation", "tourism", "child protection"], segments=["tourism"],
        variants=[
            email("en", "Protecting children from sexual exploitation in your establishment",
                  "Dear partner,\n\nThe sexual exploitation of children is trafficking, which Haiti's law "
                  "CL/2014-0010 punishes with 7 to 15 years' imprisonment and a fine (art. 11), more severely when "
                  "the victim is a child. Your staff are often the first to notice a child at "
                  "risk.\n\nWatch for: a minor arriving with an adult who is not a parent, a child brought to a room, "
                  "an adult asking for 'company'.\n\nIf you see this, do not confront anyone: call "
                  "{{ hotline_number }}.\n\n{{ organisation }}"),
            email("fr", "Protéger les enfants de l'exploitation sexuelle dans votre établissement",
                  "Madame, Monsieur,\n\nL'exploitation sexuelle d'un enfant est une forme de traite, que la loi "
                  "CL/2014-0010 punit de 7 à 15 ans d'emprisonnement et d'une amende (art. 11), plus sévèrement "
                  "lorsque la victime est un enfant. Votre personnel est souvent le premier à remarquer "
                  "un enfant en danger.\n\nSoyez attentifs : un mineur arrivant avec un adulte qui n'est pas son "
                  "parent, un enfant conduit dans une chambre, un client qui demande de la « compagnie ».\n\nDans ce "
                  "cas, n'intervenez pas vous-même : appelez le {{ hotline_number }}.\n\n{{ organisation }}"),
            email("es", "Proteger a los niños de la explotación sexual en su establecimiento",
                  "Estimado socio:\n\nLa explotación sexual de un niño es trata de personas, que la ley haitiana "
                  "CL/2014-0010 castiga con 7 a 15 años de prisión y multa (art. 11), con más severidad cuando la "
                  "víctima es un niño. Su personal suele ser el primero en notar a un "
                  "niño en peligro.\n\nEsté atento a: un menor que llega con un adulto que no es su padre, un niño "
                  "llevado a una habitación, un cliente que pide «compañía».\n\nSi lo ve, no intervenga usted mismo: "
                  "llame al {{ hotline_number }}.\n\n{{ organisation }}"),
            social("en", "facebook", "Hotels and guesthouses: you can protect children. If a minor arrives with an "
                                     "adult who is not a parent, or someone asks for a child's 'company', call "
                                     "{{ hotline_number }}. #ChildProtection #Haiti"),
        ],
    ),
    DemoMessage(
        slug="media-guidelines", flow="draft",
        title="Reporting on trafficking without harming victims",
        objective="Journalists protect victims' identity and dignity and point readers to help.",
        themes=["media", "ethics"], segments=["media"],
        variants=[
            email("fr", "Traiter de la traite sans nuire aux victimes",
                  "Madame, Monsieur,\n\nQuelques règles simples protègent les victimes de traite dont vous parlez :\n"
                  "- ne publiez ni nom, ni photo, ni lieu permettant de les identifier, surtout pour un enfant ;\n"
                  "- parlez de « victime de traite », pas de « prostituée » ni de « petite bonne » ;\n"
                  "- demandez le consentement éclairé de toute personne interviewée ;\n"
                  "- indiquez où trouver de l'aide : {{ hotline_number }}.\n\nMerci de votre engagement.\n\n"
                  "{{ organisation }}"),
            email("en", "Reporting on trafficking without harming victims",
                  "Dear editor,\n\nA few simple rules protect the trafficking victims you report on:\n"
                  "- publish no name, photo or place that could identify them, above all for children;\n"
                  "- say 'victim of trafficking', not 'prostitute' or 'maid';\n"
                  "- ask for the informed consent of anyone you interview;\n"
                  "- tell readers where to get help: {{ hotline_number }}.\n\nThank you for your commitment.\n\n"
                  "{{ organisation }}"),
            email("ht", "Kijan pou pale sou trafik moun san fè viktim yo tò",
                  "Bonjou,\n\nKèk règ senp pwoteje viktim trafik moun w ap pale sou yo:\n"
                  "- pa pibliye non, foto oswa kote ki ka fè moun rekonèt yo, sitou si se yon timoun;\n"
                  "- di « viktim trafik moun », pa di « jennès » ni « restavèk » pou joure moun;\n"
                  "- mande pèmisyon moun w ap entèvyouwe a, apre w fin esplike l tout bagay;\n"
                  "- di piblik la kote pou jwenn èd: {{ hotline_number }}.\n\nMèsi pou angajman w.\n\n"
                  "{{ organisation }}"),
        ],
    ),
    DemoMessage(
        slug="hotline-launch-2023", flow="retired",
        title="Hotline launch (2023 campaign)",
        objective="Announce the hotline when it opened. Replaced by 'How to report: call the hotline'.",
        themes=["hotline", "reporting"], segments=["general_public"],
        variants=[
            sms("ht", "NOUVO! Depi jodi a, yon liy gratis pou siyale trafik moun: {{ hotline_number }}. Pataje nimewo "
                      "a ak fanmi w ak zanmi w."),
            sms("fr", "NOUVEAU ! Un numéro gratuit pour signaler la traite des personnes : {{ hotline_number }}. "
                      "Partagez-le autour de vous."),
        ],
    ),
]

CAMPAIGN_VARIABLES = [
    VariableIn(name="training_date", sample="12 mars 2026", longest="30 septembre 2026",
               description="Date of the next judges' training session (judiciary e-mails)."),
]


# --- Loading -------------------------------------------------------------------------------


def _user(session: Session, username: str, role: Role) -> User | None:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        user = session.exec(select(User).where(User.role == role, User.is_active == True)).first()  # noqa: E712
    return user


def _demo_survey(session: Session):
    """The KAP survey of the surveys demo, if it is loaded."""
    try:
        from surveys.demo import DEMO_TITLE  # noqa: PLC0415
        from surveys.models import Survey  # noqa: PLC0415
    except ImportError:  # pragma: no cover
        return None
    return session.exec(select(Survey).where(Survey.title == DEMO_TITLE)).first()


def _variant_in(spec: dict[str, Any], file_ids: dict[str, int]) -> VariantIn:
    return VariantIn(language=spec["language"], channel=spec["channel"], platform=spec.get("platform", ""),
                     subject=spec.get("subject", ""), body=spec["body"], target_seconds=spec.get("target_seconds"),
                     alt_text=spec.get("alt_text", ""), attachment_ids=[file_ids[f] for f in spec.get("files", ())])


def load_content_demo(session: Session, *, storage: AttachmentStorage | None = None) -> list[str]:
    """Add the demo message bank (see the module docstring); return report lines."""
    if storage is None:
        from web.settings import get_settings  # noqa: PLC0415

        storage = storage_for(get_settings())
    author = _user(session, "nadege", Role.communications)
    lead = _user(session, "frantz", Role.lead)
    ip = "demo"
    for variable in CAMPAIGN_VARIABLES:
        if session.exec(select(ContentVariable).where(ContentVariable.name == variable.name)).first() is None:
            svc.save_variable(session=session, data=variable, actor=author, ip=ip)
    existing = set(session.exec(select(Message.uid)).all())
    todo = [m for m in DEMO_MESSAGES if demo_uid(m.slug) not in existing]
    if not todo:
        return [f"Demo content library already loaded ({len(DEMO_MESSAGES)} messages)."]
    file_ids: dict[str, int] = {}
    for name, (make, content_type) in FILES.items():
        data = make()
        channel = {"png": "social", "pdf": "briefing", "wav": "radio"}[name.rsplit(".", 1)[1]]
        file_ids[name] = svc.store_attachment(session=session, storage=storage, filename=name,
                                              content_type=content_type, data=data, channel=channel, actor=author,
                                              ip=ip).id
    survey = _demo_survey(session)
    counts: dict[str, int] = {}
    for demo in todo:
        message = svc.create_message(session=session, data=MessageCreate(
            title=demo.title, objective=demo.objective, themes=demo.themes, segments=demo.segments,
            variants=[_variant_in(v, file_ids) for v in demo.variants]), actor=author, ip=ip, uid=demo_uid(demo.slug))

        def step(action: str, actor: User | None, comment: str = "") -> None:
            svc.transition(session=session, message=message, action=action, actor=actor, comment=comment, ip=ip)

        if survey is not None:
            for code in demo.survey_items:
                try:
                    svc.link_survey_item(session=session, message=message, survey_id=survey.id, item_code=code,
                                         actor=author, ip=ip)
                except svc.ContentError:  # the demo questionnaire changed: skip that link
                    pass
        if demo.flow in ("review", "approved", "revised", "resubmitted", "retired"):
            step("submit", author)
        if demo.flow == "resubmitted":
            step("send_back", lead, demo.comment)
            for spec in demo.later:
                svc.save_variant(session=session, message=message, data=_variant_in(spec, file_ids), actor=author, ip=ip)
            step("submit", author)
        if demo.flow in ("approved", "revised", "retired"):
            step("approve", lead, "Checked against the law's text." if "law" in demo.slug else "")
        if demo.flow == "revised":
            for spec in demo.later:
                svc.save_variant(session=session, message=message, data=_variant_in(spec, file_ids), actor=author, ip=ip)
        if demo.flow == "retired":
            step("retire", lead, "Replaced by 'How to report: call the hotline'.")
        session.flush()
        counts[message.status.label] = counts.get(message.status.label, 0) + 1
    summary = ", ".join(f"{n} {label.lower()}" for label, n in sorted(counts.items()))
    return [f"Demo content library: {len(todo)} key messages added ({summary}), in ht, fr, en and es."]
