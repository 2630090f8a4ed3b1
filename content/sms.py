"""SMS encoding and segment counting (pure, no I/O).

The rules follow 3GPP TS 23.038 (formerly GSM 03.38), section 6.2.1 "GSM 7 bit
Default Alphabet" and 6.2.1.1 "GSM 7 bit default alphabet extension table",
together with the concatenation overhead of 3GPP TS 23.040 (a 6-octet User Data
Header in every part of a concatenated message).

How text is counted
-------------------
* The text is counted **exactly as given**: no Unicode normalisation, no
  transliteration.  What is counted is what a gateway would send.  (A text
  pasted with decomposed accents, e.g. ``"e" + U+0301``, is UCS-2;
  :func:`check_sms` points this out when NFC normalisation would save
  segments.)
* **GSM-7** is used when every character is in the default alphabet or its
  extension table.  A default-alphabet character costs 1 septet; an extension
  character (``^ { } \\ [ ~ ] |`` the euro sign, and form feed) costs 2 septets
  (ESC + the character).  A single message holds 160 septets; each part of a
  concatenated message holds 153.  An escape pair is never split across two
  parts, so a part may end one septet short.
* Otherwise the message is **UCS-2**, counted in UTF-16 code units: a character
  outside the Basic Multilingual Plane (most emoji) is a surrogate pair and costs
  2 units.  A single message holds 70 units; each concatenated part holds 67.
  A surrogate pair is never split across two parts.  Other multi-code-point
  sequences (ZWJ emoji, skin-tone modifiers, flags, combining accents) *may* be
  split between parts, as most handsets and gateways do.
* Lone surrogates (only possible from malformed input) count as 1 unit.
* The empty text has 0 units and 0 segments; ``remaining_in_segment`` is then the
  full single-message capacity.

The same algorithm is implemented in ``web/static/js/smscount.js`` for the live
counter in the editor; both are checked against ``tests/content/sms_cases.json``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

__all__ = [
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "GSM7",
    "UCS2",
    "GSM7_SINGLE",
    "GSM7_MULTI",
    "UCS2_SINGLE",
    "UCS2_MULTI",
    "SMSInfo",
    "is_gsm7_char",
    "sms_info",
    "check_sms",
]

#: Encoding names, as returned in :attr:`SMSInfo.encoding` (and by the JS counter).
GSM7 = "GSM-7"
UCS2 = "UCS-2"

#: Capacity of a single message / of each part of a concatenated message.
GSM7_SINGLE = 160
GSM7_MULTI = 153
UCS2_SINGLE = 70
UCS2_MULTI = 67

# 3GPP TS 23.038 6.2.1, default alphabet, in code order 0x00..0x7F, eight rows
# of sixteen.  0x1B is ESC (escape to the extension table) and is not a character
# in its own right: it is written here as U+001B and removed from the set below.
_GSM7_TABLE = (
    "@\u00a3$\u00a5\u00e8\u00e9\u00f9\u00ec\u00f2\u00c7\n\u00d8\u00f8\r\u00c5\u00e5"  # 0x00 @ £ $ ¥ è é ù ì ò Ç LF Ø ø CR Å å
    "\u0394_\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e\x1b\u00c6\u00e6\u00df\u00c9"  # 0x10 Δ _ Φ Γ Λ Ω Π Ψ Σ Θ Ξ ESC Æ æ ß É
    " !\"#\u00a4%&'()*+,-./"  # 0x20 (0x24 is the currency sign ¤, not $)
    "0123456789:;<=>?"  # 0x30
    "\u00a1ABCDEFGHIJKLMNO"  # 0x40 ¡ A-O
    "PQRSTUVWXYZ\u00c4\u00d6\u00d1\u00dc\u00a7"  # 0x50 P-Z Ä Ö Ñ Ü §
    "\u00bfabcdefghijklmno"  # 0x60 ¿ a-o
    "pqrstuvwxyz\u00e4\u00f6\u00f1\u00fc\u00e0"  # 0x70 p-z ä ö ñ ü à
)

#: The 127 characters of the GSM 7-bit default alphabet (1 septet each).
GSM7_BASIC: frozenset[str] = frozenset(_GSM7_TABLE) - {"\x1b"}

#: The extension table characters (ESC + char: 2 septets each).  Form feed
#: (0x0A in the extension table) is a page break on some handsets.
GSM7_EXTENSION: frozenset[str] = frozenset("\x0c^{}\\[~]|\u20ac")


@dataclass(frozen=True, slots=True)
class SMSInfo:
    """Encoding and segment count of an SMS text.

    Attributes
    ----------
    encoding : str
        ``"GSM-7"`` or ``"UCS-2"``.
    units : int
        Septets (GSM-7) or UTF-16 code units (UCS-2) of the whole text.
    segments : int
        Number of SMS parts needed (0 for the empty text).
    per_segment : int
        Capacity of one part at this length: 160/153 (GSM-7) or 70/67 (UCS-2).
    remaining_in_segment : int
        Units still free in the last part before another part is needed.
    non_gsm_chars : tuple of str
        Distinct characters outside GSM-7 (they force UCS-2), in order of
        first appearance; empty for GSM-7 texts.
    """

    encoding: str
    units: int
    segments: int
    per_segment: int
    remaining_in_segment: int
    non_gsm_chars: tuple[str, ...]


def is_gsm7_char(char: str) -> bool:
    """Tell whether one character can be sent in GSM-7 (basic or extension).

    Parameters
    ----------
    char : str
        A single character (code point).

    Raises
    ------
    ValueError
        If ``char`` is not a string of length 1.
    """
    if not isinstance(char, str) or len(char) != 1:
        raise ValueError("is_gsm7_char expects a single character")
    return char in GSM7_BASIC or char in GSM7_EXTENSION


def _split(costs: list[int], single: int, multi: int) -> tuple[int, int, int]:
    """Return ``(segments, per_segment, remaining)`` for per-character costs."""
    total = sum(costs)
    if total == 0:
        return 0, single, single
    if total <= single:
        return 1, single, single - total
    segments, used = 1, 0
    for cost in costs:
        if used + cost > multi:  # never split an escape pair / surrogate pair
            segments += 1
            used = 0
        used += cost
    return segments, multi, multi - used


def sms_info(text: str) -> SMSInfo:
    """Detect the encoding of an SMS text and count its segments.

    Parameters
    ----------
    text : str
        The message exactly as it will be sent (render templates first, e.g.
        with ``content.rules.longest_rendering``).

    Returns
    -------
    SMSInfo

    Raises
    ------
    ValueError
        If ``text`` is not a string.

    Examples
    --------
    >>> sms_info("Rele 188").segments
    1
    >>> sms_info("Prix: 5€").units     # the euro sign is 2 septets
    9
    >>> sms_info("Ou konnen?  Rele nou 🙂").encoding
    'UCS-2'
    """
    if not isinstance(text, str):
        raise ValueError(f"SMS text must be a string, not {type(text).__name__}")
    non_gsm: dict[str, None] = {}
    septets: list[int] = []
    for char in text:
        if char in GSM7_BASIC:
            septets.append(1)
        elif char in GSM7_EXTENSION:
            septets.append(2)
        else:
            non_gsm[char] = None
    if not non_gsm:
        segments, per, remaining = _split(septets, GSM7_SINGLE, GSM7_MULTI)
        return SMSInfo(GSM7, sum(septets), segments, per, remaining, ())
    units = [2 if ord(char) > 0xFFFF else 1 for char in text]
    segments, per, remaining = _split(units, UCS2_SINGLE, UCS2_MULTI)
    return SMSInfo(UCS2, sum(units), segments, per, remaining, tuple(non_gsm))


def _describe_char(char: str) -> str:
    if char.isprintable() and not char.isspace():
        return char
    name = unicodedata.name(char, None)
    return f"U+{ord(char):04X}" + (f" {name}" if name else "")


def check_sms(text: str, *, max_segments: int) -> list[str]:
    """List the problems of an SMS text (empty list: fine).

    Reported problems: the text is empty; it needs more than ``max_segments``
    parts (naming the characters that force UCS-2, if any); it contains
    decomposed accents whose NFC normalisation would need fewer parts.

    Parameters
    ----------
    text : str
        The message as sent (render templates with their longest values first).
    max_segments : int
        Maximum number of parts accepted for this campaign (>= 1).

    Returns
    -------
    list of str
        Human-readable problems, in English.

    Raises
    ------
    ValueError
        If ``text`` is not a string or ``max_segments`` is not a positive int.
    """
    if isinstance(max_segments, bool) or not isinstance(max_segments, int) or max_segments < 1:
        raise ValueError(f"max_segments must be a positive integer, got {max_segments!r}")
    info = sms_info(text)
    problems: list[str] = []
    if not text.strip():
        problems.append("The SMS is empty.")
        return problems
    if info.segments > max_segments:
        unit_name = "characters" if info.encoding == GSM7 else "UTF-16 units"
        message = (
            f"The SMS needs {info.segments} segments ({info.units} {unit_name}, "
            f"{info.encoding}); the limit is {max_segments}."
        )
        if info.non_gsm_chars:
            shown = ", ".join(_describe_char(c) for c in info.non_gsm_chars[:10])
            more = "..." if len(info.non_gsm_chars) > 10 else ""
            message += (
                f" These characters are not in the GSM alphabet and force UCS-2 "
                f"({UCS2_SINGLE} per segment instead of {GSM7_SINGLE}): {shown}{more}."
            )
        problems.append(message)
    normalised = unicodedata.normalize("NFC", text)
    if normalised != text:
        better = sms_info(normalised)
        if better.segments < info.segments:
            problems.append(
                "The text contains decomposed accents (often from copy-paste); "
                f"normalising it (NFC) would need {better.segments} segment(s) "
                f"instead of {info.segments}."
            )
    return problems
