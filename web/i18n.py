"""The interface's language: gettext catalogs (Babel) for English, French, Haitian Creole, Spanish.

Which language a request gets, in order: the ``konbit_lang`` cookie (set by the language switcher,
and at login from the user's own setting), then the browser's ``Accept-Language``, then English.
:class:`LocaleMiddleware` decides it once per request and keeps it in a context variable, so
templates (``{{ _("...") }}``, ``{% trans %}``), flash messages and API errors all read it.

The catalogs are ``web/locale/<lang>/LC_MESSAGES/messages.po`` (committed; the compiled ``.mo``
files are not). ``make i18n-compile`` writes the ``.mo`` files; when one is missing or older than
its ``.po``, the ``.po`` is compiled in memory at start-up, so a fresh clone works as it is.
``make i18n-extract`` and ``make i18n-update`` refresh the template and the catalogs; the terms
follow ``docs/glossary.md``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.dates import format_datetime as _babel_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "DEFAULT_LOCALE", "LANGUAGE_COOKIE", "LANGUAGE_NAMES", "LOCALES", "LocaleMiddleware", "N_", "current_locale",
    "format_number", "format_pct", "format_when", "gettext", "ngettext", "parse_accept_language", "pick_locale",
    "translations", "use_locale",
]

LOCALE_DIR = Path(__file__).parent / "locale"
LOCALES = ("en", "fr", "ht", "es")
DEFAULT_LOCALE = "en"
# Each language by its own name: how a speaker finds it in the switcher.
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "ht": "Kreyòl ayisyen", "es": "Español"}
LANGUAGE_COOKIE = "konbit_lang"

_COOKIE = re.compile(rf"(?:^|;\s*){LANGUAGE_COOKIE}=([a-z]{{2}})")
_current: ContextVar[str] = ContextVar("konbit_locale", default=DEFAULT_LOCALE)


def N_(message: str) -> str:  # noqa: N802 (gettext's own name for "mark, translate later")
    """Mark a string for the catalogs where it is defined; translate it where it is shown."""
    return message


# --- choosing the language (pure) ------------------------------------------------------------

_TAG = re.compile(r"^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*$|^\*$")


def parse_accept_language(header: str | None) -> list[str]:
    """The language tags of an ``Accept-Language`` header, best first (RFC 9110 §12.5.4).

    Tags with ``q=0`` are refused by the client and left out; malformed entries are skipped.
    Equal weights keep the header's order.
    """
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "")[:1000].split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or not _TAG.match(tag):
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = -1.0
        if 0 < quality <= 1:
            ranked.append((-quality, position, tag.lower()))
    return [tag for _, _, tag in sorted(ranked)]


def pick_locale(*, cookie: str | None = None, accept_language: str | None = None,
                available: Iterable[str] = LOCALES) -> str:
    """The locale to use: the cookie's when it names one we have, else the best of the header."""
    available = tuple(available)
    if cookie and cookie in available:
        return cookie
    for tag in parse_accept_language(accept_language):
        if tag == "*":
            return DEFAULT_LOCALE
        primary = tag.split("-", 1)[0]
        if primary in available:
            return primary
    return DEFAULT_LOCALE


# --- catalogs -----------------------------------------------------------------------------------


def _load(locale: str) -> NullTranslations:
    po = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    mo = po.with_suffix(".mo")
    if not po.exists():
        return NullTranslations()
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as fp:
            return Translations(fp, domain="messages")
    with po.open("rb") as fp:
        catalog = read_po(fp, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain="messages")


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> NullTranslations:
    """The compiled catalog of ``locale`` (English is the source text: no catalog)."""
    if locale not in LOCALES or locale == DEFAULT_LOCALE:
        return NullTranslations()
    return _load(locale)


def current_locale() -> str:
    return _current.get()


def use_locale(locale: str):
    """Set the current locale (a token for ``reset``); the CLI and jobs use it outside requests."""
    return _current.set(locale if locale in LOCALES else DEFAULT_LOCALE)


def gettext(message: str, **variables: object) -> str:
    """``message`` in the current language, with ``%(name)s`` placeholders filled in."""
    text = translations(_current.get()).gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: object) -> str:
    text = translations(_current.get()).ngettext(singular, plural, n)
    return text % {"num": n, **variables}


# --- formatting for the locale ---------------------------------------------------------------


def _babel_locale() -> Locale:
    locale = _current.get()
    # Babel (CLDR) knows Haitian Creole's language but has few of its number and date patterns;
    # Haiti's own use (French conventions) is the closest: 1 234,5 and 07/12/2026.
    return Locale.parse("fr_HT" if locale == "ht" else locale)


def _with_digits(pattern: str, digits: int) -> str:
    """The locale's own pattern (``#,##0 %``) with ``digits`` decimals (``#,##0.0 %``)."""
    match = re.match(r"^([^#0,.]*)([#0,]+)(?:\.[0#]+)?(.*)$", pattern.split(";", 1)[0])
    if match is None:
        return "#,##0" + ("." + "0" * digits if digits else "")
    prefix, whole, suffix = match.groups()
    return prefix + whole + ("." + "0" * digits if digits else "") + suffix


def format_number(value: float | int | None, digits: int | None = None) -> str:
    if value is None:
        return ""
    locale = _babel_locale()
    if digits is None:
        return format_decimal(value, locale=locale)
    return format_decimal(value, format=_with_digits(locale.decimal_formats[None].pattern, digits), locale=locale)


def format_pct(value: float | None, digits: int = 0) -> str:
    """A proportion (0.42) as a percentage for the locale (42 %, 42%)."""
    if value is None:
        return ""
    locale = _babel_locale()
    return format_percent(value, format=_with_digits(locale.percent_formats[None].pattern, digits), locale=locale)


def format_when(value: datetime | None, tz: str | None = None, fmt: str = "medium") -> str:
    """A moment for the locale, in ``tz`` (a campaign's zone) when given, else UTC."""
    if value is None:
        return ""
    return _babel_datetime(value, format=fmt, tzinfo=tz or "UTC", locale=_babel_locale())


# --- per request ------------------------------------------------------------------------------


class LocaleMiddleware:
    """Decide each request's language from its cookie and ``Accept-Language``; answer in it.

    Sets ``Content-Language`` and adds ``Accept-Language, Cookie`` to ``Vary`` so that a cache
    never hands one language's page to another's reader.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/static/"):
            await self.app(scope, receive, send)
            return
        cookie = header = None
        for name, value in scope.get("headers", []):
            if name == b"accept-language":
                header = value.decode("latin-1")
            elif name == b"cookie":
                match = _COOKIE.search(value.decode("latin-1"))
                if match:
                    cookie = match.group(1)
        locale = pick_locale(cookie=cookie, accept_language=header)
        token = _current.set(locale)

        async def send_with_language(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers, vary = [], []
                for key, value in message.get("headers", []):
                    if key.lower() == b"vary":
                        vary.append(value)
                    elif key.lower() != b"content-language":
                        headers.append((key, value))
                vary.append(b"Accept-Language, Cookie")
                headers += [(b"content-language", locale.encode()), (b"vary", b", ".join(vary))]
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_language)
        finally:
            _current.reset(token)
