"""Pure rules for key messages: length checks, templates, Markdown, diffs,
attachments and languages.

Nothing here touches a database, the network or the file system; every function
takes plain values and returns plain values (frozen dataclasses, tuples, lists of
problem strings).  Problem messages are English sentences meant to be shown to
communications staff as they are.

Conventions
-----------
* ``check_*`` functions return a list of problems (empty: fine) or, for
  :func:`check_attachment`, one problem or ``None``.
* Bad *arguments* (wrong type, unknown platform, negative size...) raise
  :class:`ValueError`; bad *content* is reported as a problem.

The SMS rules live in :mod:`content.sms` and are re-exported here.
"""

from __future__ import annotations

import difflib
import hashlib
import html
import io
import itertools
import math
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

import nh3
from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment
from markdown_it import MarkdownIt

from content.sms import (
    GSM7,
    GSM7_BASIC,
    GSM7_EXTENSION,
    UCS2,
    SMSInfo,
    check_sms,
    is_gsm7_char,
    sms_info,
)

__all__ = [
    # SMS (from content.sms)
    "GSM7",
    "UCS2",
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "SMSInfo",
    "is_gsm7_char",
    "sms_info",
    "check_sms",
    # channels
    "CHANNEL_KINDS",
    # radio
    "SPEAKING_RATES_WPM",
    "DEFAULT_RADIO_TOLERANCE",
    "count_spoken_words",
    "speaking_rate",
    "estimate_read_seconds",
    "check_radio_length",
    # social
    "SOCIAL_PLATFORM_LIMITS",
    "SOCIAL_PLATFORM_ALIASES",
    "SOCIAL_MAX_HASHTAGS",
    "X_URL_LENGTH",
    "SocialInfo",
    "social_info",
    "check_social",
    # templates
    "STANDARD_VARIABLES",
    "SAFE_FILTERS",
    "validate_template",
    "template_variables",
    "render_template",
    "longest_rendering",
    # markdown
    "MARKDOWN_ALLOWED_TAGS",
    "markdown_to_html",
    # diff
    "DiffChunk",
    "FieldChange",
    "text_diff",
    "render_diff_html",
    "field_diff",
    # attachments
    "FileType",
    "FILE_TYPES",
    "ATTACHMENT_KINDS",
    "HEAD_BYTES_NEEDED",
    "sniff_file_type",
    "check_attachment",
    "checksum_name",
    # languages
    "LANGUAGES_FIRST",
    "LANGUAGE_NAMES",
    "validate_language_tag",
    "language_name",
    "missing_variants",
]

#: Channel formats a key message can be written for.
CHANNEL_KINDS: tuple[str, ...] = ("sms", "radio", "social", "email", "briefing")


def _require_str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, not {type(value).__name__}")
    return value


# ---------------------------------------------------------------------------
# Languages
# ---------------------------------------------------------------------------

#: Konbit's first-class languages, in the order they are shown.
LANGUAGES_FIRST: tuple[str, ...] = ("ht", "fr", "en", "es")

#: Names of the first-class languages in their own language (autonyms).
LANGUAGE_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "ht": "Kreyòl ayisyen",
        "fr": "Français",
        "en": "English",
        "es": "Español",
    }
)

# language (2-3 letters) [-script (4 letters)] [-region (2 letters | 3 digits)]
_LANGUAGE_TAG_RE = re.compile(
    r"(?P<language>[A-Za-z]{2,3})"
    r"(?:-(?P<script>[A-Za-z]{4}))?"
    r"(?:-(?P<region>[A-Za-z]{2}|[0-9]{3}))?"
)


def validate_language_tag(tag: str) -> str:
    """Check a simple BCP 47 language tag and return it in canonical case.

    Accepted: a 2-3 letter primary language subtag, an optional 4-letter
    script subtag and an optional region subtag (2 letters or 3 digits), e.g.
    ``ht``, ``fr-HT``, ``es-419``, ``sr-Latn-RS``.  Extended language, variant,
    extension and private-use subtags are refused (Konbit does not need them).
    Whether the subtags are *registered* in the IANA registry is not checked.

    Parameters
    ----------
    tag : str
        The tag as typed, any case (``FR-ht`` is fine).

    Returns
    -------
    str
        The tag with canonical case: ``language-Script-REGION``.

    Raises
    ------
    ValueError
        If the tag is not a string or not of the accepted form; the message
        says why.
    """
    _require_str(tag, "language tag")
    stripped = tag.strip()
    if not stripped:
        raise ValueError("The language tag is empty.")
    if "_" in stripped:
        raise ValueError(
            f"Invalid language tag {tag!r}: subtags are separated by '-', not '_' "
            f"(e.g. {stripped.replace('_', '-')!r})."
        )
    match = _LANGUAGE_TAG_RE.fullmatch(stripped)
    if match is None:
        raise ValueError(
            f"Invalid language tag {tag!r}: expected a 2-3 letter language code, "
            "optionally followed by a 4-letter script and a region "
            "(e.g. 'ht', 'fr-HT', 'es-419')."
        )
    parts = [match["language"].lower()]
    if match["script"]:
        parts.append(match["script"].title())
    if match["region"]:
        parts.append(match["region"].upper())
    return "-".join(parts)


def language_name(tag: str) -> str:
    """Return the autonym of a language tag's primary language, else the tag.

    >>> language_name("ht-HT")
    'Kreyòl ayisyen'
    """
    canonical = validate_language_tag(tag)
    return LANGUAGE_NAMES.get(canonical.split("-")[0], canonical)


def _iterable_of_str(values: Iterable[str], what: str) -> list[str]:
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{what} must be an iterable of strings, not a single string")
    result = []
    for value in values:
        result.append(_require_str(value, f"each of {what}"))
    return result


def missing_variants(
    languages_needed: Iterable[str],
    channels_needed: Iterable[str],
    existing: Iterable[tuple[str, str]],
) -> list[tuple[str, str]]:
    """List the (language, channel) variants of a key message still to write.

    Parameters
    ----------
    languages_needed : iterable of str
        Language tags the campaign needs (validated, compared in canonical case).
    channels_needed : iterable of str
        Channel kinds the campaign needs (compared case-insensitively).
    existing : iterable of (str, str)
        The (language, channel) pairs already written.

    Returns
    -------
    list of (str, str)
        Missing pairs, in the order of ``languages_needed`` then
        ``channels_needed``, without duplicates, in canonical form
        (``fr-HT``, ``sms``).

    Raises
    ------
    ValueError
        If an argument is a bare string instead of an iterable, or a language
        tag is invalid.
    """
    languages = list(
        dict.fromkeys(validate_language_tag(t) for t in _iterable_of_str(languages_needed, "languages_needed"))
    )
    channels = list(
        dict.fromkeys(c.strip().lower() for c in _iterable_of_str(channels_needed, "channels_needed"))
    )
    if isinstance(existing, (str, bytes)):
        raise ValueError("existing must be an iterable of (language, channel) pairs")
    have: set[tuple[str, str]] = set()
    for pair in existing:
        if isinstance(pair, (str, bytes)) or len(pair) != 2:
            raise ValueError(f"existing must hold (language, channel) pairs, got {pair!r}")
        lang, channel = pair
        have.add((validate_language_tag(lang), _require_str(channel, "channel").strip().lower()))
    return [(lang, ch) for lang in languages for ch in channels if (lang, ch) not in have]


# ---------------------------------------------------------------------------
# Radio
# ---------------------------------------------------------------------------

#: Speaking rates in words per minute for a clear, unhurried radio delivery
#: (public-service spots for a broad audience, not news reading).
#:
#: Sources and assumptions:
#:
#: * ``en`` 150: the usual copywriting rule of thumb for radio (about 75 words
#:   for a 30-second spot, 150 for 60 seconds), which is also the commonly cited
#:   rate of conversational English.
#: * ``fr`` 160 and ``es`` 160: French and Spanish are spoken with more
#:   syllables per second than English but have more syllables per word
#:   (Pellegrino, Coupé & Marsico 2011, "A cross-language perspective on speech
#:   information rate", *Language* 87(3)); the net word rate is close to
#:   English, slightly higher.  These are assumptions, not measurements.
#: * ``ht`` 160: no published broadcast rate for Haitian Creole was found.
#:   Kreyòl words are short (many monosyllabic function words: *m, w, li, pa,
#:   ap, te, la, yo*), so it is set like French.  **Calibrate** it with the
#:   programme's own recorded spots (words in script / seconds on air).
#:
#: Override per call with ``rates={"ht": 170}`` (merged over this table).
SPEAKING_RATES_WPM: Mapping[str, float] = MappingProxyType(
    {"en": 150.0, "fr": 160.0, "es": 160.0, "ht": 160.0}
)

#: Default tolerance of :func:`check_radio_length`: +/- 10 % of the target.
DEFAULT_RADIO_TOLERANCE = 0.10

# A word: letters/digits, possibly joined by apostrophes or hyphens
# (l'enfant, anti-trafik, 509-2222-3333).
_WORD_RE = re.compile(r"[^\W_]+(?:['\u2019\-][^\W_]+)*")
_NUMBER_RE = re.compile(r"[0-9]+(?:[\-'\u2019][0-9]+)*")


def count_spoken_words(text: str) -> int:
    """Count the words a voice talent will read.

    A word is a run of letters or digits, possibly joined by apostrophes or
    hyphens.  A number of three or more digits counts **one word per digit**,
    since phone and hotline numbers are read digit by digit (this
    over-estimates years and amounts a little, which errs on the safe side).
    """
    _require_str(text, "text")
    count = 0
    for match in _WORD_RE.finditer(text):
        token = match.group()
        if _NUMBER_RE.fullmatch(token):
            digits = sum(ch.isdigit() for ch in token)
            count += digits if digits >= 3 else 1
        else:
            count += 1
    return count


def speaking_rate(language: str, rates: Mapping[str, float] | None = None) -> float:
    """Return the speaking rate (words per minute) for a language tag.

    The full tag is looked up first, then its primary subtag (``fr-HT`` falls
    back to ``fr``).  ``rates`` is merged over :data:`SPEAKING_RATES_WPM`.

    Raises
    ------
    ValueError
        If the tag is invalid, no rate is known, or a rate is not positive.
    """
    canonical = validate_language_tag(language)
    table = dict(SPEAKING_RATES_WPM)
    if rates is not None:
        for key, value in rates.items():
            table[validate_language_tag(key)] = value
    for key in (canonical, canonical.split("-")[0]):
        if key in table:
            rate = table[key]
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
                raise ValueError(f"speaking rate for {key!r} must be a positive number, got {rate!r}")
            return float(rate)
    raise ValueError(
        f"No speaking rate for language {language!r}; known: {', '.join(sorted(table))}. "
        "Pass rates={...} to add one."
    )


def estimate_read_seconds(
    text: str, language: str, *, rates: Mapping[str, float] | None = None
) -> float:
    """Estimate how long a radio script takes to read aloud, in seconds.

    ``words / words_per_minute * 60`` with :func:`count_spoken_words` and
    :func:`speaking_rate`.  Pauses, music beds and jingles are not included.

    Parameters
    ----------
    text : str
        The script (rendered, without template markup).
    language : str
        BCP 47 tag, e.g. ``"ht"``.
    rates : mapping, optional
        Words per minute per language, merged over :data:`SPEAKING_RATES_WPM`.

    Returns
    -------
    float
    """
    words = count_spoken_words(text)
    return words * 60.0 / speaking_rate(language, rates)


def check_radio_length(
    text: str,
    language: str,
    target_seconds: float,
    *,
    tolerance: float = DEFAULT_RADIO_TOLERANCE,
    rates: Mapping[str, float] | None = None,
) -> list[str]:
    """Check that a radio script fits its slot, within a tolerance.

    Parameters
    ----------
    text, language, rates
        As for :func:`estimate_read_seconds`.
    target_seconds : float
        Length of the slot (e.g. 30 or 60), > 0.
    tolerance : float, default 0.10
        Accepted relative deviation, in ``[0, 1)``: 0.10 accepts 27-33 s for 30 s.

    Returns
    -------
    list of str
        Problems (too long / too short, with how many words to cut or add).
    """
    if isinstance(target_seconds, bool) or not isinstance(target_seconds, (int, float)) or not target_seconds > 0:
        raise ValueError(f"target_seconds must be a positive number, got {target_seconds!r}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 <= tolerance < 1:
        raise ValueError(f"tolerance must be a number in [0, 1), got {tolerance!r}")
    rate = speaking_rate(language, rates)
    words = count_spoken_words(text)
    seconds = words * 60.0 / rate
    low = target_seconds * (1 - tolerance)
    high = target_seconds * (1 + tolerance)
    window = f"{low:.0f}-{high:.0f} s" if tolerance else f"{target_seconds:g} s"
    if words == 0:
        return ["The radio script is empty."]
    if seconds > high + 1e-9:
        cut = math.ceil(words - high * rate / 60.0 - 1e-9)
        return [
            f"The script is too long: about {seconds:.0f} s to read ({words} words at "
            f"{rate:g} words/min) for a {target_seconds:g} s spot (accepted {window}); "
            f"cut about {cut} word(s)."
        ]
    if seconds < low - 1e-9:
        add = math.ceil(low * rate / 60.0 - words - 1e-9)
        return [
            f"The script is too short: about {seconds:.0f} s to read ({words} words at "
            f"{rate:g} words/min) for a {target_seconds:g} s spot (accepted {window}); "
            f"add about {add} word(s) or plan music."
        ]
    return []


# ---------------------------------------------------------------------------
# Social
# ---------------------------------------------------------------------------

#: Maximum post/caption length per platform.  X counts with its weighted
#: algorithm (see :func:`social_info`); the others count code points.
#: TikTok: the in-app limit has been raised to 4,000 for many accounts, but the
#: Content Posting API (used by schedulers) enforces 2,200, the safe value.
SOCIAL_PLATFORM_LIMITS: Mapping[str, int] = MappingProxyType(
    {
        "x": 280,
        "facebook": 63206,
        "instagram": 2200,
        "whatsapp": 65536,
        "tiktok": 2200,
    }
)

#: Other names accepted for a platform.
SOCIAL_PLATFORM_ALIASES: Mapping[str, str] = MappingProxyType({"twitter": "x"})

#: Hashtag limits per platform (Instagram refuses captions with more than 30).
SOCIAL_MAX_HASHTAGS: Mapping[str, int] = MappingProxyType({"instagram": 30})

#: Every URL on X counts as this many characters (t.co wrapping).
X_URL_LENGTH = 23

# URLs: with a scheme, starting with www., or a bare domain with a TLD likely
# in Konbit's posts.  An approximation of twitter-text's extractor.
_URL_RE = re.compile(
    r"(?:https?://|www\.)[^\s<>\"]+"
    r"|\b(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+"
    r"(?:com|org|net|ht|gov|edu|int|info|io|fr|es|us|do|ca|co|me|ly)\b(?:/[^\s<>\"]*)?",
    re.IGNORECASE,
)
_URL_TRAILING = ".,;:!?)]}'\"\u2019\u201d"
# A hashtag needs at least one letter (#188 is not one, as on X and Instagram).
_HASHTAG_RE = re.compile(r"(?<![\w&])#\w*[^\W\d_]\w*")

# twitter-text v3 configuration: code points in these ranges weigh 1, others 2.
_X_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))


def _is_emoji_base(cp: int) -> bool:
    return (
        0x1F000 <= cp <= 0x1FAFF
        or 0x2600 <= cp <= 0x27BF
        or 0x2300 <= cp <= 0x23FF
        or 0x2B00 <= cp <= 0x2BFF
        or cp in (0x3030, 0x303D, 0x3297, 0x3299)
    )


def _x_weight(cp: int) -> int:
    return 1 if any(lo <= cp <= hi for lo, hi in _X_LIGHT_RANGES) else 2


def _x_weighted_length(text: str) -> int:
    """Weighted length of non-URL text on X: emoji sequences count 2."""
    total = 0
    i, n = 0, len(text)
    while i < n:
        start = i
        cp = ord(text[i])
        i += 1
        if 0x1F1E6 <= cp <= 0x1F1FF and i < n and 0x1F1E6 <= ord(text[i]) <= 0x1F1FF:
            i += 1  # flag: pair of regional indicators
        else:
            while i < n:
                nxt = ord(text[i])
                if nxt in (0xFE0E, 0xFE0F, 0x20E3) or 0x1F3FB <= nxt <= 0x1F3FF or 0xE0020 <= nxt <= 0xE007F:
                    i += 1
                elif nxt == 0x200D and i + 1 < n:
                    i += 2  # zero-width joiner + next code point
                else:
                    break
        cluster = text[start:i]
        cps = [ord(c) for c in cluster]
        is_emoji = len(cps) > 1 and (
            any(_is_emoji_base(c) or 0x1F1E6 <= c <= 0x1F1FF for c in cps) or 0xFE0F in cps or 0x20E3 in cps
        )
        if is_emoji:
            total += 2
        else:
            total += sum(_x_weight(c) for c in cps)
    return total


@dataclass(frozen=True, slots=True)
class SocialInfo:
    """Length of a social post on a platform.

    Attributes
    ----------
    platform : str
        Canonical platform name (``"x"``, ``"facebook"``...).
    length : int
        Length as the platform counts it.
    limit : int
        The platform's maximum.
    remaining : int
        ``limit - length`` (negative when over).
    over_limit : bool
    url_count : int
        URLs found (on X each counts :data:`X_URL_LENGTH`).
    hashtag_count : int
    max_hashtags : int or None
        Hashtag limit of the platform, if any.
    """

    platform: str
    length: int
    limit: int
    remaining: int
    over_limit: bool
    url_count: int
    hashtag_count: int
    max_hashtags: int | None


def _canonical_platform(platform: str) -> str:
    key = _require_str(platform, "platform").strip().lower()
    key = SOCIAL_PLATFORM_ALIASES.get(key, key)
    if key not in SOCIAL_PLATFORM_LIMITS:
        known = ", ".join(sorted([*SOCIAL_PLATFORM_LIMITS, *SOCIAL_PLATFORM_ALIASES]))
        raise ValueError(f"Unknown social platform {platform!r}; known: {known}")
    return key


def _find_urls(text: str) -> list[tuple[int, int]]:
    spans = []
    for match in _URL_RE.finditer(text):
        start, end = match.span()
        while end > start and text[end - 1] in _URL_TRAILING:
            end -= 1
        spans.append((start, end))
    return spans


def social_info(text: str, platform: str) -> SocialInfo:
    """Measure a post against a platform's limit.

    Counting rules:

    * **X**: the text is NFC-normalised; every URL counts
      :data:`X_URL_LENGTH` (23); other code points weigh 1 in the Latin,
      punctuation and general-scripts ranges of twitter-text v3 (U+0000-10FF,
      U+2000-200D, U+2010-201F, U+2032-2037) and 2 elsewhere (CJK...); an
      emoji, including ZWJ sequences, skin tones, keycaps and flags, weighs 2.
      URL detection approximates twitter-text: ``http(s)://``, ``www.`` and bare
      domains under common TLDs (``konbit.ht``).
    * **Others**: code points of the NFC-normalised text.

    Parameters
    ----------
    text : str
    platform : str
        A key of :data:`SOCIAL_PLATFORM_LIMITS` or an alias (``"twitter"``).

    Raises
    ------
    ValueError
        For an unknown platform or a non-string text.
    """
    key = _canonical_platform(platform)
    text = unicodedata.normalize("NFC", _require_str(text, "text"))
    urls = _find_urls(text)
    if key == "x":
        length, last = 0, 0
        for start, end in urls:
            length += _x_weighted_length(text[last:start]) + X_URL_LENGTH
            last = end
        length += _x_weighted_length(text[last:])
    else:
        length = len(text)
    limit = SOCIAL_PLATFORM_LIMITS[key]
    hashtags = len(_HASHTAG_RE.findall(text))
    return SocialInfo(
        platform=key,
        length=length,
        limit=limit,
        remaining=limit - length,
        over_limit=length > limit,
        url_count=len(urls),
        hashtag_count=hashtags,
        max_hashtags=SOCIAL_MAX_HASHTAGS.get(key),
    )


def check_social(text: str, platform: str) -> list[str]:
    """List the problems of a social post for a platform (empty: fine)."""
    info = social_info(text, platform)
    problems = []
    if not text.strip():
        problems.append("The post is empty.")
    if info.over_limit:
        problems.append(
            f"The post is {info.length} characters long; {info.platform} accepts "
            f"{info.limit} (cut {-info.remaining})."
        )
    if info.max_hashtags is not None and info.hashtag_count > info.max_hashtags:
        problems.append(
            f"The post has {info.hashtag_count} hashtags; {info.platform} accepts "
            f"at most {info.max_hashtags}."
        )
    return problems


# ---------------------------------------------------------------------------
# Template variables
# ---------------------------------------------------------------------------

#: Variables every key message may use.
STANDARD_VARIABLES: tuple[str, ...] = ("hotline_number", "campaign_name", "first_name", "organisation")

#: Filters a template may use.  ``default`` takes constant arguments only, e.g.
#: ``{{ first_name|default("zanmi", true) }}``.
SAFE_FILTERS: frozenset[str] = frozenset({"upper", "lower", "title", "capitalize", "trim", "default"})

_IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Plain-text channels: no autoescape.  StrictUndefined turns any missing value
# into an error instead of silently printing nothing.
_ENV = SandboxedEnvironment(
    autoescape=False,
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    auto_reload=False,
    cache_size=0,
)
# Defence in depth behind the AST allow-list: no globals (range, cycler, lipsum...),
# only the safe filters, no tests.
_ENV.globals.clear()
_ENV.filters = {name: f for name, f in _ENV.filters.items() if name in SAFE_FILTERS}
_ENV.tests = {}

_LOOKUP_HINT = "only plain variables like {{ first_name }} are allowed"


def _parse(text: str) -> tuple[nodes.Template | None, list[str]]:
    try:
        return _ENV.parse(text), []
    except TemplateSyntaxError as exc:
        return None, [f"Line {exc.lineno}: template syntax error: {exc.message}"]


def _describe_node(node: nodes.Node) -> str:
    if isinstance(node, nodes.Getattr):
        return f"attribute access '.{node.attr}' is not allowed; {_LOOKUP_HINT}"
    if isinstance(node, nodes.Getitem):
        return f"item access '[...]' is not allowed; {_LOOKUP_HINT}"
    if isinstance(node, nodes.Call):
        return f"function and method calls are not allowed; {_LOOKUP_HINT}"
    if isinstance(node, nodes.For):
        return "loops ({% for %}) are not allowed"
    if isinstance(node, (nodes.Assign, nodes.AssignBlock)):
        return "assignments ({% set %}) are not allowed"
    if isinstance(node, (nodes.Macro, nodes.CallBlock)):
        return "macros are not allowed"
    if isinstance(node, (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends, nodes.Block)):
        return "include, import, extends and blocks are not allowed"
    if isinstance(node, nodes.Test):
        return "tests ('is ...') are not allowed"
    if isinstance(node, nodes.FilterBlock):
        return "filter blocks ({% filter %}) are not allowed"
    if isinstance(node, nodes.Stmt):
        return f"the '{type(node).__name__}' statement is not allowed"
    return f"the expression '{type(node).__name__}' is not allowed; {_LOOKUP_HINT}"


class _Checker:
    """Walk a parsed template and collect what the allow-list refuses."""

    def __init__(self, allowed: set[str]):
        self.allowed = allowed
        self.problems: list[str] = []
        self.names: dict[str, None] = {}
        self.unknown: dict[str, int] = {}
        self.conditional: dict[str, None] = {}  # names whose emptiness changes output
        self.defaulted: dict[str, None] = {}  # names under |default

    def refuse(self, node: nodes.Node, reason: str) -> None:
        self.problems.append(f"Line {node.lineno}: {reason}.")

    def name(self, node: nodes.Name) -> None:
        if node.ctx != "load":
            self.refuse(node, "assignments are not allowed")
            return
        self.names.setdefault(node.name, None)
        if node.name not in self.allowed:
            self.unknown.setdefault(node.name, node.lineno)

    def expr(self, node: nodes.Expr) -> None:
        if isinstance(node, nodes.Name):
            self.name(node)
        elif isinstance(node, nodes.Const):
            if not isinstance(node.value, (str, int, float)) or isinstance(node.value, bool):
                self.refuse(node, f"the constant {node.value!r} cannot be printed")
        elif isinstance(node, nodes.Filter):
            self.filter(node)
        else:
            self.refuse(node, _describe_node(node))

    def filter(self, node: nodes.Filter) -> None:
        if node.name not in SAFE_FILTERS:
            allowed = ", ".join(sorted(SAFE_FILTERS))
            self.refuse(node, f"the filter '{node.name}' is not allowed (allowed: {allowed})")
            return
        if node.kwargs or node.dyn_args is not None or node.dyn_kwargs is not None:
            self.refuse(node, f"the filter '{node.name}' only takes plain arguments")
            return
        if node.name == "default":
            if len(node.args) > 2 or not all(isinstance(a, nodes.Const) for a in node.args):
                self.refuse(node, "default() takes a constant text and optionally true/false")
                return
            if len(node.args) == 2 and not isinstance(node.args[1].value, bool):
                self.refuse(node, "the second argument of default() must be true or false")
                return
            if node.args and not isinstance(node.args[0].value, (str, int, float)):
                self.refuse(node, "the first argument of default() must be a text")
                return
            inner = node.node
            while isinstance(inner, nodes.Filter):
                inner = inner.node
            if isinstance(inner, nodes.Name):
                self.defaulted.setdefault(inner.name, None)
                if len(node.args) == 2 and node.args[1].value:
                    self.conditional.setdefault(inner.name, None)
        elif node.args:
            self.refuse(node, f"the filter '{node.name}' takes no arguments")
            return
        self.expr(node.node)

    def test(self, node: nodes.Expr) -> None:
        inner = node.node if isinstance(node, nodes.Not) else node
        if isinstance(inner, nodes.Name):
            self.name(inner)
            self.conditional.setdefault(inner.name, None)
        else:
            self.refuse(
                node,
                "conditions may only test one variable: {% if first_name %} or {% if not first_name %}",
            )

    def stmt(self, node: nodes.Node) -> None:
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if not isinstance(child, nodes.TemplateData):
                    self.expr(child)
        elif isinstance(node, nodes.If):
            self.test(node.test)
            for child in node.body:
                self.stmt(child)
            for branch in node.elif_:
                self.stmt(branch)
            for child in node.else_:
                self.stmt(child)
        else:
            self.refuse(node, _describe_node(node))


def _check(text: str, allowed: Iterable[str]) -> tuple[_Checker | None, list[str]]:
    _require_str(text, "template")
    allowed_names = _iterable_of_str(allowed, "allowed")
    for name in allowed_names:
        if not _IDENTIFIER_RE.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid variable name")
    tree, problems = _parse(text)
    if tree is None:
        return None, problems
    checker = _Checker(set(allowed_names))
    for node in tree.body:
        checker.stmt(node)
    problems = list(checker.problems)
    listing = ", ".join(allowed_names) if allowed_names else "(none)"
    for unknown, lineno in checker.unknown.items():
        close = difflib.get_close_matches(unknown, allowed_names, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        problems.append(
            f"Line {lineno}: unknown variable '{unknown}'.{hint} Allowed variables: {listing}."
        )
    return checker, problems


def validate_template(text: str, allowed: Iterable[str] = STANDARD_VARIABLES) -> list[str]:
    """Check a message template before it is saved.

    The template language is a very small subset of Jinja2:

    * ``{{ name }}`` where ``name`` is in ``allowed``;
    * filters from :data:`SAFE_FILTERS`, e.g. ``{{ first_name|title }}``,
      ``{{ first_name|default("zanmi", true) }}`` (constant arguments only);
    * constants, e.g. ``{{ "{{" }}`` to print braces; ``{% raw %}`` blocks;
      comments ``{# ... #}``;
    * ``{% if name %}`` / ``{% if not name %}`` with ``elif``/``else``, testing a
      single variable (so a greeting can fall back when there is no first
      name).  Nothing else: no attribute or item access (``first_name.upper``,
      ``x['a']``), no calls, no operators, loops, ``set``, macros, includes.

    The check walks Jinja2's AST (``env.parse``) against this allow-list; the
    sandbox at render time is a second line of defence only.

    Parameters
    ----------
    text : str
        The template.
    allowed : iterable of str, default STANDARD_VARIABLES
        Variable names this message may use.

    Returns
    -------
    list of str
        Problems, each starting with ``"Line N:"``; syntax errors give the line
        Jinja2 reports; unknown variables name the variable and list the
        allowed names.

    Raises
    ------
    ValueError
        If ``text`` is not a string or ``allowed`` is not an iterable of
        identifiers.
    """
    return _check(text, allowed)[1]


def template_variables(text: str) -> tuple[str, ...]:
    """Return the variable names a (syntactically valid) template uses, in order.

    Raises
    ------
    ValueError
        If the template has a syntax error.
    """
    checker, problems = _check(text, ())
    if checker is None:
        raise ValueError(problems[0])
    return tuple(checker.names)


def _render_checked(text: str, variables: Mapping[str, str], allowed: Iterable[str] | None) -> str:
    if not isinstance(variables, Mapping):
        raise ValueError("variables must be a mapping of names to strings")
    for key, value in variables.items():
        _require_str(key, "variable name")
        _require_str(value, f"value of {key!r}")
    allowed_names = list(STANDARD_VARIABLES if allowed is None else _iterable_of_str(allowed, "allowed"))
    allowed_names += [k for k in variables if k not in allowed_names]
    _, problems = _check(text, allowed_names)
    if problems:
        raise ValueError("Template refused: " + " ".join(problems))
    try:
        return _ENV.from_string(text).render(dict(variables))
    except UndefinedError as exc:
        raise ValueError(f"Missing value for a template variable: {exc.message}") from exc
    except SecurityError as exc:  # pragma: no cover - the AST check refuses first
        raise ValueError(f"Template refused by the sandbox: {exc}") from exc


def render_template(
    text: str, variables: Mapping[str, str], *, allowed: Iterable[str] | None = None
) -> str:
    """Render a message template with plain-text values (no HTML escaping).

    The template is checked with :func:`validate_template` first (against
    ``allowed`` plus the keys of ``variables``) and rendered in a Jinja2
    ``SandboxedEnvironment`` with ``StrictUndefined``.  Pass ``""`` for a value
    that is absent but tested with ``{% if %}``.  For HTML channels, render
    first and then pass the result to :func:`markdown_to_html`, which
    sanitises after substitution.

    Parameters
    ----------
    text : str
    variables : mapping of str to str
    allowed : iterable of str, optional
        Defaults to :data:`STANDARD_VARIABLES`.

    Raises
    ------
    ValueError
        If the template is refused, a value is missing (and has no
        ``default``), or a value is not a string.
    """
    return _render_checked(text, variables, allowed)


#: Above this many value combinations, :func:`longest_rendering` refuses.
_MAX_COMBINATIONS = 729


def _sms_key(rendered: str) -> tuple[int, int, int]:
    info = sms_info(rendered)
    return (info.segments, info.units, len(rendered))


def longest_rendering(
    text: str,
    longest_values: Mapping[str, str],
    *,
    allowed: Iterable[str] | None = None,
    key: Callable[[str], Any] | None = None,
) -> str:
    """Render a template in its worst case, to count SMS segments or length.

    Every variable gets its longest expected value (e.g. a 20-character first
    name).  Variables whose *emptiness* changes the output, those tested by
    ``{% if %}`` or under ``default(..., true)``, are also tried empty, and
    those under ``default`` are also tried absent; the worst of all
    combinations is returned.

    Parameters
    ----------
    text : str
        The template (it must pass :func:`validate_template`).
    longest_values : mapping of str to str
        The longest expected value of each variable the template uses.  To see
        the UCS-2 worst case, make the value contain a non-GSM letter (``ô``)
        if names may contain one.
    allowed : iterable of str, optional
        Defaults to :data:`STANDARD_VARIABLES` plus the keys of ``longest_values``.
    key : callable, optional
        Measure to maximise; default: SMS ``(segments, units, characters)``.
        E.g. ``key=count_spoken_words`` for radio.

    Raises
    ------
    ValueError
        If the template is refused, a used variable has no value, or there are
        more than 729 combinations to try.
    """
    if not isinstance(longest_values, Mapping):
        raise ValueError("longest_values must be a mapping of names to strings")
    allowed_names = list(STANDARD_VARIABLES if allowed is None else _iterable_of_str(allowed, "allowed"))
    allowed_names += [k for k in longest_values if k not in allowed_names]
    checker, problems = _check(text, allowed_names)
    if problems:
        raise ValueError("Template refused: " + " ".join(problems))
    if checker is None:  # pragma: no cover - a syntax error is a problem above
        raise ValueError("Template refused")
    missing = [n for n in checker.names if n not in longest_values and n not in checker.defaulted]
    if missing:
        raise ValueError(f"No longest value given for: {', '.join(missing)}")
    options: list[list[str | None]] = []
    names = list(checker.names)
    for name in names:
        choices: list[str | None] = []
        if name in longest_values:
            choices.append(longest_values[name])
            if name in checker.conditional and longest_values[name] != "":
                choices.append("")
        if name in checker.defaulted:
            choices.append(None)  # absent: |default kicks in
        options.append(choices)
    total = math.prod(len(c) for c in options)
    if total > _MAX_COMBINATIONS:
        raise ValueError(f"Too many value combinations to try ({total}); simplify the template.")
    measure = key or _sms_key
    best: str | None = None
    best_key: Any = None
    for combination in itertools.product(*options):
        values = {n: v for n, v in zip(names, combination) if v is not None}
        try:
            rendered = _render_checked(text, values, allowed_names)
        except ValueError:
            if len(values) < len(names):
                continue  # absent value also used without |default: not sendable
            raise
        current = measure(rendered)
        if best is None or current > best_key:
            best, best_key = rendered, current
    return best if best is not None else ""


# ---------------------------------------------------------------------------
# Markdown (judiciary briefings)
# ---------------------------------------------------------------------------

#: Tags kept after sanitising rendered Markdown.
MARKDOWN_ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
        "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a", "img",
        "table", "thead", "tbody", "tr", "th", "td", "del", "s",
    }
)
_MARKDOWN_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "th": {"style"},
    "td": {"style"},
}
_MARKDOWN_URL_SCHEMES = {"http", "https", "mailto", "tel"}

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def markdown_to_html(text: str) -> str:
    """Render a briefing written in Markdown to safe HTML.

    CommonMark plus GitHub-style tables, rendered by markdown-it-py with raw
    HTML **disabled** (``<script>`` typed in the text is shown as text), then
    sanitised with nh3: only :data:`MARKDOWN_ALLOWED_TAGS` survive; attributes
    are limited to ``href``/``title`` on links, ``src``/``alt``/``title`` on
    images, ``start`` on ordered lists and ``text-align`` styles on table
    cells; URLs must be relative or use http, https, mailto or tel (no
    ``javascript:``, ``data:``); links get ``rel="noopener noreferrer"``.

    Parameters
    ----------
    text : str
        Markdown source (render template variables first).

    Returns
    -------
    str
        HTML fragment.
    """
    _require_str(text, "Markdown text")
    rendered = _MARKDOWN.render(text)
    return nh3.clean(
        rendered,
        tags=set(MARKDOWN_ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes={tag: set(attrs) for tag, attrs in _MARKDOWN_ATTRIBUTES.items()},
        url_schemes=set(_MARKDOWN_URL_SCHEMES),
        filter_style_properties={"text-align"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


# ---------------------------------------------------------------------------
# Diffs between versions
# ---------------------------------------------------------------------------


class DiffChunk(NamedTuple):
    """One chunk of a text diff: ``op`` is 'equal', 'insert' or 'delete'."""

    op: str
    text: str


@dataclass(frozen=True, slots=True)
class FieldChange:
    """A field that differs between two versions.

    ``change`` is 'changed', 'added' (absent in old: ``old`` is None) or
    'removed' (absent in new: ``new`` is None).
    """

    field: str
    change: str
    old: Any
    new: Any


# whitespace runs, words (with inner apostrophes: l'enfant, m'ap), or one other character
_DIFF_TOKEN_RE = re.compile(r"\s+|\w+(?:['\u2019]\w+)*|[^\w\s]")


def text_diff(old: str, new: str) -> list[DiffChunk]:
    """Word-level diff of two versions of a text.

    Tokens are words, whitespace runs and single punctuation characters.
    Consecutive changes are grouped (whitespace between two changes is folded
    into them) so that a changed phrase reads as one ``delete`` followed by one
    ``insert``.  Joining the 'equal' and 'delete' chunks gives ``old`` back;
    joining 'equal' and 'insert' gives ``new``.

    Returns
    -------
    list of DiffChunk
        ``(op, text)`` tuples; see :func:`render_diff_html`.
    """
    _require_str(old, "old")
    _require_str(new, "new")
    a = _DIFF_TOKEN_RE.findall(old)
    b = _DIFF_TOKEN_RE.findall(new)
    raw: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            raw.append(("equal", "".join(a[i1:i2])))
        else:
            if i2 > i1:
                raw.append(("delete", "".join(a[i1:i2])))
            if j2 > j1:
                raw.append(("insert", "".join(b[j1:j2])))
    # Fold whitespace-only 'equal' chunks lying between two changes into them.
    folded: list[tuple[str, str]] = []
    for index, (op, chunk) in enumerate(raw):
        if (
            op == "equal"
            and chunk.isspace()
            and 0 < index < len(raw) - 1
            and raw[index - 1][0] != "equal"
            and raw[index + 1][0] != "equal"
        ):
            folded.append(("delete", chunk))
            folded.append(("insert", chunk))
        else:
            folded.append((op, chunk))
    result: list[DiffChunk] = []
    for is_equal, group in itertools.groupby(folded, key=lambda item: item[0] == "equal"):
        items = list(group)
        if is_equal:
            result.append(DiffChunk("equal", "".join(t for _, t in items)))
        else:
            deleted = "".join(t for op, t in items if op == "delete")
            inserted = "".join(t for op, t in items if op == "insert")
            if deleted:
                result.append(DiffChunk("delete", deleted))
            if inserted:
                result.append(DiffChunk("insert", inserted))
    return result


def render_diff_html(chunks: Iterable[DiffChunk | tuple[str, str]]) -> str:
    """Render diff chunks as HTML: ``<del>``/``<ins>`` around changes, escaped."""
    out = []
    for op, text in chunks:
        escaped = html.escape(text, quote=False)
        if op == "equal":
            out.append(escaped)
        elif op == "insert":
            out.append(f"<ins>{escaped}</ins>")
        elif op == "delete":
            out.append(f"<del>{escaped}</del>")
        else:
            raise ValueError(f"Unknown diff op {op!r}")
    return "".join(out)


def field_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldChange]:
    """List the fields that differ between two versions of a record.

    Fields are listed in the order of ``old``, then fields only in ``new``.
    """
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        raise ValueError("field_diff expects two mappings")
    changes = []
    for name, value in old.items():
        if name not in new:
            changes.append(FieldChange(name, "removed", value, None))
        elif new[name] != value:
            changes.append(FieldChange(name, "changed", value, new[name]))
    for name, value in new.items():
        if name not in old:
            changes.append(FieldChange(name, "added", None, value))
    return changes


# ---------------------------------------------------------------------------
# Attachments
# ---------------------------------------------------------------------------

_MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileType:
    """An accepted attachment type.

    Attributes
    ----------
    key : str
        Short name, also the canonical extension (``"jpg"`` for JPEG).
    label : str
        Human name.
    extensions : tuple of str
        Accepted filename extensions (lower case, no dot).
    mime_types : tuple of str
        Accepted declared content types (browsers vary).
    max_bytes : int
    """

    key: str
    label: str
    extensions: tuple[str, ...]
    mime_types: tuple[str, ...]
    max_bytes: int


_ZIP_MIME = ("application/zip", "application/x-zip-compressed")

#: Accepted attachment types.  Sizes: images 10 MB (platforms may be stricter:
#: X takes 5 MB), compressed audio 20 MB, WAV 100 MB (about 5 minutes of
#: 48 kHz / 24-bit stereo), documents 25 MB.
FILE_TYPES: Mapping[str, FileType] = MappingProxyType(
    {
        "pdf": FileType("pdf", "PDF", ("pdf",), ("application/pdf", "application/x-pdf"), 25 * _MB),
        "png": FileType("png", "PNG image", ("png",), ("image/png",), 10 * _MB),
        "jpg": FileType("jpg", "JPEG image", ("jpg", "jpeg"), ("image/jpeg", "image/pjpeg", "image/jpg"), 10 * _MB),
        "webp": FileType("webp", "WebP image", ("webp",), ("image/webp",), 10 * _MB),
        "gif": FileType("gif", "GIF image", ("gif",), ("image/gif",), 10 * _MB),
        "mp3": FileType(
            "mp3", "MP3 audio", ("mp3",),
            ("audio/mpeg", "audio/mp3", "audio/mpeg3", "audio/x-mpeg-3", "audio/x-mp3"), 20 * _MB,
        ),
        "ogg": FileType(
            "ogg", "Ogg audio (Opus/Vorbis)", ("ogg", "oga", "opus"),
            ("audio/ogg", "audio/opus", "application/ogg", "audio/x-ogg"), 20 * _MB,
        ),
        "wav": FileType(
            "wav", "WAV audio", ("wav",),
            ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "audio/x-pn-wav"), 100 * _MB,
        ),
        "m4a": FileType("m4a", "M4A audio", ("m4a",), ("audio/mp4", "audio/x-m4a", "audio/m4a"), 20 * _MB),
        "docx": FileType(
            "docx", "Word document", ("docx",),
            ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", *_ZIP_MIME), 25 * _MB,
        ),
        "pptx": FileType(
            "pptx", "PowerPoint presentation", ("pptx",),
            ("application/vnd.openxmlformats-officedocument.presentationml.presentation", *_ZIP_MIME), 25 * _MB,
        ),
        "xlsx": FileType(
            "xlsx", "Excel workbook", ("xlsx",),
            ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", *_ZIP_MIME), 25 * _MB,
        ),
    }
)

_IMAGES = ("png", "jpg", "webp", "gif")

#: Attachment types accepted per channel kind (SMS carries none).
ATTACHMENT_KINDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "sms": (),
        "radio": ("mp3", "ogg", "wav", "m4a"),
        "social": _IMAGES,
        "email": (*_IMAGES, "pdf"),
        "briefing": ("pdf", "docx", "pptx", "xlsx", *_IMAGES),
    }
)

#: Pass at least this many leading bytes to :func:`check_attachment`.
HEAD_BYTES_NEEDED = 512

_GENERIC_MIME = {"", "application/octet-stream", "binary/octet-stream", "application/unknown"}
_OOXML_PREFIXES = {"word/": "docx", "ppt/": "pptx", "xl/": "xlsx"}
_OOXML_GENERIC = ("[Content_Types].xml", "_rels/", "docProps/", "customXml/")
_ISO_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P "}
_ISO_GENERIC_BRANDS = {b"isom", b"iso2", b"mp41", b"mp42", b"dash"}


def _sniff_zip(head: bytes) -> str:
    """Classify a ZIP from its first local file header's name."""
    if len(head) < 30:
        return "zip"
    name_len = int.from_bytes(head[26:28], "little")
    name = head[30 : 30 + name_len].decode("utf-8", "replace")
    for prefix, kind in _OOXML_PREFIXES.items():
        if name.startswith(prefix):
            return kind
    if name.startswith(_OOXML_GENERIC):
        return "ooxml"
    return "zip"


def _sniff_full_zip(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return "zip"
    if "[Content_Types].xml" in names:
        for part, kind in (("word/document.xml", "docx"), ("ppt/presentation.xml", "pptx"), ("xl/workbook.xml", "xlsx")):
            if part in names:
                return kind
    return "zip"


def sniff_file_type(head: bytes) -> str | None:
    """Identify a file from its first bytes (magic numbers).

    Returns a key of :data:`FILE_TYPES`, or one of ``"ooxml"`` (an Office Open
    XML package whose kind the first entry does not tell), ``"zip"`` (another
    ZIP), ``"mp4"`` (ISO media with a generic brand: may be video), or
    ``None`` when unknown.

    Notes
    -----
    * MP3: an ID3v2 tag, or an MPEG audio frame header whose layer is III.
    * Ogg: ``OggS`` whose first packet is ``OpusHead`` or a Vorbis header
      (Ogg video or FLAC is not accepted).
    * M4A: an ``ftyp`` box with an ``M4A``/``M4B`` brand (major or compatible).
    * Office files are ZIPs; only the first entry's name is visible in the first
      bytes, so a ZIP whose first entry is an OOXML part is accepted as the
      Office type its extension claims.
    """
    if not isinstance(head, (bytes, bytearray, memoryview)):
        raise ValueError("head bytes must be bytes")
    head = bytes(head)
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if len(head) >= 12 and head.startswith(b"RIFF"):
        if head[8:12] == b"WEBP":
            return "webp"
        if head[8:12] == b"WAVE":
            return "wav"
        return None
    if head.startswith(b"OggS") and len(head) >= 27:
        packet = 27 + head[26]
        if head[packet:].startswith((b"OpusHead", b"\x01vorbis")):
            return "ogg"
        return None
    if len(head) >= 12 and head[4:8] == b"ftyp":
        box_size = int.from_bytes(head[0:4], "big")
        brands = {head[8:12]}
        end = min(box_size, len(head))
        brands.update(head[i : i + 4] for i in range(16, end - 3, 4))
        if brands & _ISO_AUDIO_BRANDS:
            return "m4a"
        if brands & _ISO_GENERIC_BRANDS:
            return "mp4"
        return None
    if head.startswith(b"ID3") or (
        len(head) >= 2
        and head[0] == 0xFF
        and head[1] & 0xE0 == 0xE0  # frame sync
        and head[1] & 0x18 != 0x08  # version not reserved
        and head[1] & 0x06 == 0x02  # layer III
    ):
        return "mp3"
    if head.startswith(b"PK\x03\x04"):
        return _sniff_zip(head)
    return None


def _extension(filename: str) -> tuple[str, str]:
    base = re.split(r"[\\/]", filename)[-1].strip()
    if "." not in base.strip("."):
        return base, ""
    return base, base.rsplit(".", 1)[1].lower()


def check_attachment(
    filename: str,
    content_type: str | None,
    size: int,
    head_bytes: bytes,
    *,
    channel_kind: str,
) -> str | None:
    """Check an uploaded attachment against the rules of a channel kind.

    The file's type is identified from its magic bytes (see
    :func:`sniff_file_type`), never from the name or the declared type alone;
    the name's extension and the declared content type must then agree with it
    (a generic type such as ``application/octet-stream`` is ignored).

    Parameters
    ----------
    filename : str
        The name as uploaded (a browser path like ``C:\\fakepath\\a.pdf`` is
        fine).
    content_type : str or None
        Declared MIME type; parameters (``; codecs=opus``) are ignored.
    size : int
        Size in bytes of the whole file.
    head_bytes : bytes
        The first bytes of the file, at least :data:`HEAD_BYTES_NEEDED` (or
        the whole file if smaller).
    channel_kind : str
        One of :data:`CHANNEL_KINDS`.

    Returns
    -------
    str or None
        A problem naming the file, or ``None`` if it is accepted.

    Raises
    ------
    ValueError
        For an unknown channel kind, a negative or non-integer size, or
        ``head_bytes`` that are not bytes or longer than ``size``.
    """
    _require_str(filename, "filename")
    if channel_kind not in ATTACHMENT_KINDS:
        raise ValueError(f"Unknown channel kind {channel_kind!r}; known: {', '.join(CHANNEL_KINDS)}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"size must be a non-negative integer, got {size!r}")
    if not isinstance(head_bytes, (bytes, bytearray, memoryview)):
        raise ValueError("head_bytes must be bytes")
    if len(head_bytes) > size:
        raise ValueError("head_bytes is longer than the declared size")
    if content_type is not None:
        _require_str(content_type, "content_type")
    name, ext = _extension(filename)
    shown = f'"{name}"' if name else "The file"
    allowed = ATTACHMENT_KINDS[channel_kind]
    if not allowed:
        return f"{shown}: {channel_kind} messages cannot carry attachments."
    labels = ", ".join(FILE_TYPES[k].label for k in allowed)
    if size == 0:
        return f"{shown} is empty."
    sniffed = sniff_file_type(head_bytes)
    claimed = next((k for k in allowed if ext in FILE_TYPES[k].extensions), None)
    if claimed is None:
        other = next((t for t in FILE_TYPES.values() if ext in t.extensions), None)
        if other is not None:
            return f"{shown}: {other.label} files are not accepted for {channel_kind} (accepted: {labels})."
        ext_text = f"'.{ext}'" if ext else "no extension"
        return f"{shown} has {ext_text}; accepted for {channel_kind}: {labels}."
    file_type = FILE_TYPES[claimed]
    matches = (
        sniffed == claimed
        or (claimed in ("docx", "pptx", "xlsx") and sniffed == "ooxml")
        or (claimed == "m4a" and sniffed == "mp4")
    )
    if not matches:
        if sniffed in FILE_TYPES:
            looks = f"its content is a {FILE_TYPES[sniffed].label}"
        elif sniffed in ("zip", "ooxml", "mp4"):
            looks = {"zip": "its content is a ZIP archive", "ooxml": "its content is an Office document",
                     "mp4": "its content is an MP4 video"}[sniffed]
        else:
            looks = "its content is not recognised"
        return f"{shown} does not look like a {file_type.label}: {looks}."
    if content_type is not None:
        declared = content_type.split(";", 1)[0].strip().lower()
        if declared not in _GENERIC_MIME and declared not in file_type.mime_types:
            return f"{shown} is a {file_type.label} but was sent as '{declared}'."
    if size > file_type.max_bytes:
        return (
            f"{shown} is {size / _MB:.1f} MB; the maximum for a {file_type.label} "
            f"is {file_type.max_bytes // _MB} MB."
        )
    return None


_EXT_RE = re.compile(r"[a-z0-9]{1,10}")


def checksum_name(data: bytes, *, ext: str | None = None) -> str:
    """Content-addressed storage name: ``<sha256 hex>.<extension>``.

    The extension is detected from the content (Office files by their parts)
    unless ``ext`` is given.

    Raises
    ------
    ValueError
        If ``data`` is not bytes, ``ext`` is not 1-10 lower-case letters or
        digits, or the type cannot be detected and no ``ext`` is given.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError("data must be bytes")
    data = bytes(data)
    if ext is None:
        kind = sniff_file_type(data[:HEAD_BYTES_NEEDED])
        if kind in ("zip", "ooxml"):
            kind = _sniff_full_zip(data)
        if kind is None or kind in ("zip", "ooxml"):
            raise ValueError("Cannot tell the file type from its content; pass ext=...")
        ext = kind
    else:
        ext = _require_str(ext, "ext").lower().lstrip(".")
        if not _EXT_RE.fullmatch(ext):
            raise ValueError(f"Invalid extension {ext!r}")
    return f"{hashlib.sha256(data).hexdigest()}.{ext}"
