"""Opt-out keywords in inbound SMS, and the confirmation sent back: pure rules, no session.

The rule (:func:`optout_keyword`):

1. The text is folded: Unicode NFKD with the accents dropped, case-folded, so ``Arrêt``, ``ARRET``
   and ``arrêt`` are one word.
2. Apostrophes are dropped (``m'écrire`` is one word), other punctuation and symbols become spaces, so ``stop!``, ``"STOP."``, ``-kanpe-`` and ``STOP 🙏``
   read as the bare word.
3. The message opts out when its **first word** is a keyword and it has **at most three words**:
   the keyword alone, or with a courtesy or two (``kanpe tanpri``, ``stop please``, ``arrête svp``,
   ``baja por favor``). A longer sentence that happens to start with one (``stop trafik moun se
   yon bagay nou tout dwe fè``) is a reply for a person to read, not an opt-out; a keyword later in
   a sentence (``pa janm kanpe``) never counts.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["CONFIRMATIONS", "KEYWORDS", "MAX_WORDS", "confirmation", "fold", "optout_keyword"]

# Folded keyword -> the language it is most likely written in (for a contact with no language).
KEYWORDS: dict[str, str] = {
    "stop": "en", "stopall": "en", "unsubscribe": "en", "end": "en", "quit": "en", "cancel": "en",
    "arret": "fr", "aret": "fr", "arrete": "fr", "arete": "fr", "arreter": "fr", "desabonner": "fr",
    "kanpe": "ht", "kampe": "ht", "dezabone": "ht",
    "alto": "es", "baja": "es", "parar": "es",
}
MAX_WORDS = 3

CONFIRMATIONS: dict[str, str] = {
    "ht": "Ou p ap resevwa mesaj nou yo ankò sou nimewo sa a. Mèsi.",
    "fr": "Vous ne recevrez plus nos messages sur ce numéro. Merci.",
    "en": "You will not receive our messages on this number any more. Thank you.",
    "es": "Ya no recibirá nuestros mensajes en este número. Gracias.",
}

_SEPARATORS = re.compile(r"[\W_]+", re.UNICODE)
_APOSTROPHES = re.compile(r"['\u2019\u02bc]")  # m'écrire is one word


def fold(text: str) -> str:
    """Lower-case, accent-free text with punctuation and symbols turned into single spaces."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join(_SEPARATORS.sub(" ", _APOSTROPHES.sub("", bare)).split())


def optout_keyword(text: str) -> str | None:
    """The opt-out keyword ``text`` is (upper-case, accents dropped: ``"ARRET"``), or ``None``."""
    words = fold(text).split()
    if not words or len(words) > MAX_WORDS or words[0] not in KEYWORDS:
        return None
    return words[0].upper()


def confirmation(language: str, keyword: str = "") -> str:
    """The confirmation in ``language`` (its primary subtag: ``fr-HT`` is French); else in the
    keyword's language; else Haitian Creole."""
    primary = (language or "").split("-")[0].lower()
    if primary in CONFIRMATIONS:
        return CONFIRMATIONS[primary]
    return CONFIRMATIONS[KEYWORDS.get((keyword or "").lower(), "ht")]
