"""Issue 16: the interface speaks the user's language: gettext catalogs for en, fr, ht and es,
chosen by the user's setting, the switcher's cookie or the browser's Accept-Language."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from sqlmodel import select

from tests.factories import bearer, csrf_from, login
from web.accounts.models import User
from web.i18n import LANGUAGE_COOKIE, LOCALES, format_number, format_pct, parse_accept_language, pick_locale, use_locale

ROOT = Path(__file__).resolve().parents[2]
LOCALE_DIR = ROOT / "web" / "locale"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}")


def _extracted() -> set[str]:
    with open(LOCALE_DIR / "babel.cfg") as fp:
        method_map, options_map = parse_mapping_cfg(fp)
    return {msg[2] if isinstance(msg[2], str) else msg[2][0]
            for msg in extract_from_dir(str(ROOT), method_map, options_map)}


def _catalog(locale: str):
    with open(LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po", "rb") as fp:
        return read_po(fp, locale=locale)


# --- choosing the language (pure) ---

def test_accept_language_is_ranked_by_quality_then_order():
    assert parse_accept_language("fr-HT,fr;q=0.9,en;q=0.8") == ["fr-ht", "fr", "en"]
    assert parse_accept_language("en;q=0.5, ht") == ["ht", "en"]
    assert parse_accept_language("es;q=0, fr") == ["fr"]  # q=0: not acceptable
    assert parse_accept_language("garbage;;q=x, <script>, de") == ["de"]
    assert parse_accept_language(None) == []


def test_the_cookie_wins_then_the_browser_then_english():
    assert pick_locale(cookie="ht", accept_language="fr") == "ht"
    assert pick_locale(cookie="xx", accept_language="es-DO,en;q=0.5") == "es"
    assert pick_locale(accept_language="de, fr;q=0.3") == "fr"
    assert pick_locale(accept_language="de") == "en"
    assert pick_locale() == "en"


def test_numbers_and_percentages_follow_the_locale():
    token = use_locale("fr")
    try:
        assert format_number(12345.6, 1) == "12\u202f345,6"  # CLDR: French groups from five digits
        assert format_pct(0.423, 1).replace("\u202f", " ").replace("\xa0", " ") == "42,3 %"
        use_locale("es")
        assert format_pct(0.5) .replace("\xa0", " ") == "50 %"
        use_locale("en")
        assert format_number(1234.5, 1) == "1,234.5" and format_pct(0.423, 1) == "42.3%"
    finally:
        use_locale("en")
        del token


# --- the catalogs ---

def test_every_marked_string_is_in_the_template_and_translated_in_every_catalog():
    extracted = _extracted()
    assert len(extracted) > 50  # the extractor found the templates and the Python sources
    with open(LOCALE_DIR / "messages.pot", "rb") as fp:
        template = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fp) if m.id}
    assert extracted - template == set(), "run `make i18n-update`: the template lacks these"
    for locale in LOCALES:
        if locale == "en":
            continue
        catalog = _catalog(locale)
        missing = []
        for message in catalog:
            if not message.id:
                continue
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if not all(strings) or message.fuzzy:
                missing.append(message.id)
        known = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
        assert extracted - known == set(), f"{locale}: not in the catalog"
        assert missing == [], f"{locale}: untranslated or fuzzy"


def test_placeholders_survive_translation():
    for locale in ("fr", "ht", "es"):
        for message in _catalog(locale):
            if not message.id:
                continue
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            expected = sorted(set(PLACEHOLDER.findall(ids[-1])))
            for string in strings:
                assert sorted(set(PLACEHOLDER.findall(string))) == expected, (locale, message.id, string)


def test_compiled_catalogs_are_not_committed():
    tracked = subprocess.run(["git", "ls-files", "*.mo"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert tracked.stdout.strip() == ""


# --- pages, switcher, setting ---

def test_the_login_page_follows_accept_language(client):
    r = client.get("/login", headers={"Accept-Language": "fr-HT,fr;q=0.9"})
    assert '<html lang="fr">' in r.text and "Se connecter" in r.text and "Mot de passe" in r.text
    assert r.headers["content-language"] == "fr"
    assert "Accept-Language" in r.headers["vary"] and "HX-Request" in r.headers["vary"]
    r = client.get("/login", headers={"Accept-Language": "ht"})
    assert '<html lang="ht">' in r.text and "Konekte" in r.text and "Modpas" in r.text


def test_the_switcher_on_the_login_page_keeps_where_the_login_leads(client):
    page = client.get("/login?next=/review")
    assert 'name="next" value="/login?next=/review"' in page.text
    r = client.post("/language", data={"lang": "ht", "next": "/login?next=/review", "csrf_token": csrf_from(page.text)},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/review"
    assert r.cookies.get(LANGUAGE_COOKIE) == "ht"
    page = client.get("/login?next=/review", headers={"Accept-Language": "es"})  # the choice beats the browser
    assert "Koulye a entèfas la an kreyòl." in page.text and "Non itilizatè" in page.text


def test_the_switcher_refuses_a_foreign_next_and_needs_its_csrf_token(client):
    page = client.get("/login")
    r = client.post("/language", data={"lang": "fr", "next": "//evil.example", "csrf_token": csrf_from(page.text)},
                    follow_redirects=False)
    assert r.headers["location"] == "/"
    r = client.post("/language", data={"lang": "fr", "next": "/"}, follow_redirects=False)
    assert r.status_code == 403


def test_an_unknown_language_changes_nothing_and_says_so(client):
    page = client.get("/login")
    r = client.post("/language", data={"lang": "xx", "csrf_token": csrf_from(page.text)}, follow_redirects=True)
    assert LANGUAGE_COOKIE not in client.cookies
    assert "Choose one of the languages offered." in r.text


def test_a_users_choice_follows_them_to_another_browser(app, client, personas, session):
    from fastapi.testclient import TestClient  # noqa: PLC0415

    token = login(client, "eddy")
    r = client.post("/language", data={"lang": "ht", "next": "/account", "csrf_token": token}, follow_redirects=True)
    assert r.status_code == 200 and "Kont mwen" in r.text and "Kreyòl ayisyen" in r.text
    assert "Anketè" in r.text  # the role's name too
    session.expire_all()
    assert session.exec(select(User).where(User.username == "eddy")).one().language == "ht"
    with TestClient(app, follow_redirects=False) as phone:  # another device, a French browser: the user's setting wins
        login(phone, "eddy")
        assert phone.cookies.get(LANGUAGE_COOKIE) == "ht"
        page = phone.get("/account", headers={"Accept-Language": "fr"})
        assert '<html lang="ht">' in page.text and "Dekonekte" in page.text


def test_errors_and_flash_messages_are_translated(client, personas):
    r = client.post("/login", data={"username": "nobody", "password": "x" * 12, "csrf_token": csrf_from(client.get("/login").text)},
                    headers={"Accept-Language": "es"})
    assert "Nombre de usuario desconocido o contraseña incorrecta." in r.text
    login(client, "alice")
    r = client.get("/no/such/page", headers={"Accept-Language": "fr"})
    assert r.status_code == 404 and "Introuvable" in r.text and "Il n&#39;y a rien à cette adresse." in r.text


def test_the_api_sets_and_clears_the_language(client, personas):
    headers = bearer(client, "leo")
    r = client.put("/api/v1/me/language", json={"language": "es"}, headers=headers)
    assert r.status_code == 200 and r.json()["language"] == "es"
    assert client.get("/api/v1/me", headers=headers).json()["language"] == "es"
    r = client.put("/api/v1/me/language", json={"language": "de"}, headers=headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "language"
    assert client.put("/api/v1/me/language", json={"language": None}, headers=headers).json()["language"] is None


@pytest.mark.parametrize("locale", ["fr", "ht", "es"])
def test_the_navigation_is_translated_for_every_role(client, personas, locale):
    expected = {"fr": "Accueil", "ht": "Akèy", "es": "Inicio"}[locale]
    for username in ("alice", "carla", "eddy", "sonia", "leo"):
        client.cookies.clear()
        login(client, username)
        page = client.get("/account", headers={"Accept-Language": locale})
        assert f">{expected}</a>" in page.text, username
