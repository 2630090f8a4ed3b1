"""Tests of the pure content rules (content/rules.py, content/sms.py)."""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from content import rules
from content.rules import (
    FILE_TYPES,
    GSM7,
    GSM7_BASIC,
    GSM7_EXTENSION,
    LANGUAGE_NAMES,
    LANGUAGES_FIRST,
    SOCIAL_PLATFORM_LIMITS,
    SPEAKING_RATES_WPM,
    STANDARD_VARIABLES,
    UCS2,
    DiffChunk,
    FieldChange,
    SMSInfo,
    check_attachment,
    check_radio_length,
    check_sms,
    check_social,
    checksum_name,
    count_spoken_words,
    estimate_read_seconds,
    field_diff,
    is_gsm7_char,
    language_name,
    longest_rendering,
    markdown_to_html,
    missing_variants,
    render_diff_html,
    render_template,
    sms_info,
    sniff_file_type,
    social_info,
    speaking_rate,
    template_variables,
    text_diff,
    validate_language_tag,
    validate_template,
)
from content.sms import _GSM7_TABLE

CASES = json.loads((Path(__file__).with_name("sms_cases.json")).read_text(encoding="utf-8"))["cases"]


def test_all_names_exported():
    for name in rules.__all__:
        assert hasattr(rules, name), name


# ---------------------------------------------------------------------------
# SMS
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_shared_sms_cases(case):
    assert sms_info(case["text"]) == SMSInfo(
        encoding=case["encoding"],
        units=case["units"],
        segments=case["segments"],
        per_segment=case["per_segment"],
        remaining_in_segment=case["remaining"],
        non_gsm_chars=tuple(case["non_gsm_chars"]),
    )


def test_gsm_table_positions_follow_the_spec():
    assert len(_GSM7_TABLE) == 128
    expected = {
        0x00: "@", 0x01: "£", 0x02: "$", 0x03: "¥", 0x04: "è", 0x05: "é", 0x06: "ù", 0x07: "ì",
        0x08: "ò", 0x09: "Ç", 0x0A: "\n", 0x0B: "Ø", 0x0C: "ø", 0x0D: "\r", 0x0E: "Å", 0x0F: "å",
        0x10: "Δ", 0x11: "_", 0x1C: "Æ", 0x1D: "æ", 0x1E: "ß", 0x1F: "É", 0x20: " ", 0x24: "¤",
        0x40: "¡", 0x5B: "Ä", 0x5C: "Ö", 0x5D: "Ñ", 0x5E: "Ü", 0x5F: "§", 0x60: "¿",
        0x7B: "ä", 0x7C: "ö", 0x7D: "ñ", 0x7E: "ü", 0x7F: "à",
    }
    for code, char in expected.items():
        assert _GSM7_TABLE[code] == char, hex(code)
    assert len(GSM7_BASIC) == 127  # 128 codes minus ESC
    assert "\x1b" not in GSM7_BASIC
    assert GSM7_EXTENSION == set("\f^{}\\[~]|€")


@pytest.mark.parametrize("char", list("éèùàìòÉÇñÑüÜäÄöÖåÅæÆøØß"))
def test_french_and_kreyol_accents_in_gsm(char):
    assert is_gsm7_char(char)
    assert sms_info(f"Bonjou {char}").encoding == GSM7


@pytest.mark.parametrize("char", list("êâîôûçÊÂÎÔÛëïœÈÀÙáíóú"))
def test_accents_not_in_gsm(char):
    assert not is_gsm7_char(char)
    info = sms_info(f"Bonjou {char}")
    assert info.encoding == UCS2
    assert info.non_gsm_chars == (char,)


def test_kreyol_message_stays_gsm_but_french_cedilla_does_not():
    assert sms_info("Timoun yo pa pou vann. Si w wè yon bagay, rele 188.").encoding == GSM7
    assert sms_info("Ça suffit : appelez le 188.").encoding == GSM7  # Ç uppercase is 0x09
    assert sms_info("Reçu ? Appelez le 188.").encoding == UCS2


def test_euro_counts_two_septets():
    assert sms_info("€").units == 2
    assert sms_info("5 €").units == 4


@pytest.mark.parametrize(
    ("text", "segments"),
    [("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3), ("a" * 459, 3), ("a" * 460, 4)],
)
def test_gsm_boundaries(text, segments):
    assert sms_info(text).segments == segments


@pytest.mark.parametrize(
    ("text", "segments"),
    [("ê" * 70, 1), ("ê" * 71, 2), ("ê" * 134, 2), ("ê" * 135, 3), ("ê" * 201, 3), ("ê" * 202, 4)],
)
def test_ucs2_boundaries(text, segments):
    assert sms_info(text).segments == segments


def test_emoji_is_two_units_and_pairs_are_not_split():
    assert sms_info("🙂").units == 2
    # 66 units then an emoji: the pair cannot start at unit 67 of a part.
    info = sms_info("x" * 66 + "🙂" + "ê" * 3)
    assert (info.units, info.segments, info.remaining_in_segment) == (71, 2, 67 - 5)


def test_escape_pair_not_split_at_153():
    # 152 septets then an escape pair: the pair moves to part 2.
    info = sms_info("a" * 152 + "{" + "a" * 7)
    assert (info.units, info.segments, info.remaining_in_segment) == (161, 2, 153 - 9)
    # with 151 septets before it, the pair ends exactly part 1
    info = sms_info("a" * 151 + "{" + "a" * 8)
    assert (info.units, info.segments, info.remaining_in_segment) == (161, 2, 153 - 8)


def test_sms_info_rejects_non_string():
    with pytest.raises(ValueError):
        sms_info(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        is_gsm7_char("ab")


SMS_ALPHABET = st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENSION) + ["ê", "ç", "😀", "🇭", "\t"])


@given(st.text(alphabet=SMS_ALPHABET, max_size=500))
def test_sms_info_invariants(text):
    info = sms_info(text)
    assert (info.segments == 0) == (text == "")
    assert 0 <= info.remaining_in_segment <= info.per_segment
    if info.encoding == GSM7:
        assert info.units == len(text) + sum(c in GSM7_EXTENSION for c in text)
        single, multi = 160, 153
    else:
        assert info.units == len(text.encode("utf-16-le")) // 2
        single, multi = 70, 67
        assert set(info.non_gsm_chars) == {c for c in text if not is_gsm7_char(c)}
    if 0 < info.units <= single:
        assert info.segments == 1 and info.per_segment == single
    elif info.units > single:
        assert info.per_segment == multi
        # greedy packing never wastes more than one unit per part
        assert math.ceil(info.units / multi) <= info.segments <= math.ceil(info.units / (multi - 1))


@given(st.text(alphabet=st.sampled_from(sorted(GSM7_BASIC)), max_size=700))
def test_plain_gsm_segments_formula(text):
    info = sms_info(text)
    n = len(text)
    expected = 0 if n == 0 else 1 if n <= 160 else math.ceil(n / 153)
    assert info.segments == expected


def test_check_sms_ok_and_empty():
    assert check_sms("Rele 188", max_segments=1) == []
    assert check_sms("   ", max_segments=1) == ["The SMS is empty."]


def test_check_sms_too_many_segments_names_ucs2_chars():
    problems = check_sms("Vous êtes témoin ? Appelez. " * 3, max_segments=1)
    assert len(problems) == 1
    assert "2 segments" in problems[0] and "limit is 1" in problems[0]
    assert "ê" in problems[0] and "UCS-2" in problems[0]
    assert check_sms("a" * 161, max_segments=1)[0].startswith("The SMS needs 2 segments (161 characters, GSM-7)")
    assert check_sms("a" * 161, max_segments=2) == []


def test_check_sms_nfc_hint():
    decomposed = "Pe\u0301ye " * 15  # 'Péye' typed with a combining accent
    problems = check_sms(decomposed, max_segments=5)
    assert any("NFC" in p for p in problems)
    assert check_sms("Péye", max_segments=5) == []


@pytest.mark.parametrize("bad", [0, -1, True, 1.0, "2", None])
def test_check_sms_bad_max_segments(bad):
    with pytest.raises(ValueError):
        check_sms("x", max_segments=bad)


# ---------------------------------------------------------------------------
# Radio
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", 0),
        ("Rele nou!", 2),
        ("l'enfant n'est pas à vendre", 5),
        ("kanpay anti-trafik", 2),
        ("Rele 188", 4),  # hotline read digit by digit
        ("Rele +509 2222-3333", 12),
        ("12 timoun", 2),
        ("— ... !!!", 0),
    ],
)
def test_count_spoken_words(text, words):
    assert count_spoken_words(text) == words


def test_rates_table_and_lookup():
    assert set(SPEAKING_RATES_WPM) >= set(LANGUAGES_FIRST)
    assert speaking_rate("en") == 150
    assert speaking_rate("fr-HT") == SPEAKING_RATES_WPM["fr"]
    assert speaking_rate("ht", {"ht": 170}) == 170
    assert speaking_rate("pt", {"pt": 140}) == 140
    with pytest.raises(ValueError, match="No speaking rate"):
        speaking_rate("de")
    with pytest.raises(ValueError):
        speaking_rate("en", {"en": 0})
    with pytest.raises(TypeError):
        SPEAKING_RATES_WPM["en"] = 1  # type: ignore[index]


def test_estimate_read_seconds():
    assert estimate_read_seconds("word " * 150, "en") == pytest.approx(60.0)
    assert estimate_read_seconds("mo " * 80, "ht") == pytest.approx(80 * 60 / SPEAKING_RATES_WPM["ht"])
    assert estimate_read_seconds("mo " * 80, "ht", rates={"ht": 120}) == pytest.approx(40.0)
    assert estimate_read_seconds("", "es") == 0


def test_check_radio_length():
    # 75 words at 150 wpm = 30 s
    assert check_radio_length("word " * 75, "en", 30) == []
    assert check_radio_length("word " * 82, "en", 30) == []  # 32.8 s, within +10 %
    too_long = check_radio_length("word " * 100, "en", 30)
    assert len(too_long) == 1 and "too long" in too_long[0] and "cut about 18 word" in too_long[0]
    too_short = check_radio_length("word " * 50, "en", 30)
    assert "too short" in too_short[0] and "add about 18 word" in too_short[0]
    assert check_radio_length("word " * 90, "en", 30, tolerance=0.2) == []
    assert check_radio_length("", "en", 30) == ["The radio script is empty."]


@pytest.mark.parametrize(
    "kwargs", [{"target_seconds": 0}, {"target_seconds": -5}, {"target_seconds": 30, "tolerance": 1.5},
               {"target_seconds": 30, "tolerance": -0.1}, {"target_seconds": True}]
)
def test_check_radio_length_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        check_radio_length("x", "en", **kwargs)


# ---------------------------------------------------------------------------
# Social
# ---------------------------------------------------------------------------


def test_platform_limits():
    assert SOCIAL_PLATFORM_LIMITS["x"] == 280
    assert SOCIAL_PLATFORM_LIMITS["facebook"] == 63206
    assert SOCIAL_PLATFORM_LIMITS["instagram"] == 2200
    assert SOCIAL_PLATFORM_LIMITS["whatsapp"] == 65536
    assert "tiktok" in SOCIAL_PLATFORM_LIMITS


def test_x_counts_urls_as_23():
    url = "https://konbit.ht/kanpay/2024/trafik-moun-se-yon-krim-ki-grav-anpil?ref=sms"
    info = social_info(f"Li plis: {url}.", "x")
    assert info.url_count == 1
    assert info.length == len("Li plis: ") + 23 + 1
    assert social_info("konbit.ht", "twitter").length == 23
    assert social_info("www.example.org/a", "x").length == 23


def test_x_280_boundary_and_weights():
    assert social_info("a" * 280, "x").over_limit is False
    info = social_info("a" * 281, "x")
    assert info.over_limit and info.remaining == -1
    assert social_info("中文", "x").length == 4  # CJK weighs 2
    assert social_info("👍🏽", "x").length == 2  # emoji with skin tone: one emoji
    assert social_info("🇭🇹", "x").length == 2
    assert social_info("👨\u200d👩\u200d👧", "x").length == 2
    assert social_info("e\u0301", "x").length == 1  # NFC
    assert social_info("Kreyòl — “bon”", "x").length == 14


def test_other_platforms_count_code_points():
    assert social_info("Bonjou 👍", "facebook").length == 8
    assert social_info("a" * 2201, "instagram").over_limit
    assert social_info("a" * 2200, "Instagram").remaining == 0


def test_check_social():
    assert check_social("Pa vann timoun #Ayiti", "instagram") == []
    tags = " ".join(f"#tag{i}" for i in range(31))
    problems = check_social(tags, "instagram")
    assert len(problems) == 1 and "31 hashtags" in problems[0]
    assert social_info("#188 #Ayiti", "instagram").hashtag_count == 1
    assert "accepts 280" in check_social("a" * 300, "x")[0]
    assert check_social(" ", "x") == ["The post is empty."]


def test_unknown_platform():
    with pytest.raises(ValueError, match="Unknown social platform"):
        social_info("x", "myspace")


# ---------------------------------------------------------------------------
# Template variables
# ---------------------------------------------------------------------------


def test_standard_variables():
    assert STANDARD_VARIABLES == ("hotline_number", "campaign_name", "first_name", "organisation")


@pytest.mark.parametrize(
    "template",
    [
        "Bonjou {{ first_name }}, rele {{ hotline_number }}.",
        "{{ campaign_name|upper }} - {{ organisation|title }}",
        "{{ first_name|default('zanmi', true)|title }}",
        "{% if first_name %}Bonjou {{ first_name }}{% elif organisation %}{{ organisation }}{% else %}Bonjou{% endif %}",
        "{% if not first_name %}Bonjou zanmi{% endif %}",
        "Kòd {{ '{{' }} {% raw %}{{ pa_yon_varyab }}{% endraw %} {# kòmantè #}",
        "Pa gen varyab ditou.",
        "{{- first_name -}}",
    ],
)
def test_valid_templates(template):
    assert validate_template(template, STANDARD_VARIABLES) == []


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("{{ first_name.__class__ }}", "attribute access '.__class__'"),
        ("{{ ''.join }}", "attribute access '.join'"),
        ("{{ first_name.upper() }}", "calls are not allowed"),
        ("{{ first_name['a'] }}", "item access"),
        ("{{ first_name|attr('x') }}", "filter 'attr' is not allowed"),
        ("{{ first_name|safe }}", "filter 'safe' is not allowed"),
        ("{{ first_name|format(1) }}", "filter 'format' is not allowed"),
        ("{{ first_name|upper(1) }}", "takes no arguments"),
        ("{{ first_name|default(organisation) }}", "default() takes a constant"),
        ("{{ first_name|default('a', 'b') }}", "must be true or false"),
        ("{{ range(10) }}", "calls are not allowed"),
        ("{{ first_name ~ organisation }}", "'Concat' is not allowed"),
        ("{{ 1 + 1 }}", "'Add' is not allowed"),
        ("{{ first_name if organisation else hotline_number }}", "'CondExpr' is not allowed"),
        ("{% for c in first_name %}{{ c }}{% endfor %}", "loops"),
        ("{% set first_name = 'x' %}", "assignments"),
        ("{% include 'secrets.txt' %}", "include"),
        ("{% macro m() %}{% endmacro %}", "macros"),
        ("{% filter upper %}x{% endfilter %}", "filter blocks"),
        ("{% if first_name == 'x' %}y{% endif %}", "conditions may only test one variable"),
        ("{{ first_name is defined }}", "tests"),
        ("{{ None }}", "cannot be printed"),
    ],
)
def test_refused_templates(template, fragment):
    problems = validate_template(template, STANDARD_VARIABLES)
    assert problems, template
    assert any(fragment in p for p in problems), problems
    assert all(p.startswith("Line 1:") for p in problems)


def test_unknown_variable_reports_name_and_allowed():
    problems = validate_template("Bonjou {{ frist_name }} {{ cycler }}", STANDARD_VARIABLES)
    assert len(problems) == 2
    assert "unknown variable 'frist_name'" in problems[0]
    assert "Did you mean 'first_name'?" in problems[0]
    for name in STANDARD_VARIABLES:
        assert name in problems[0]
    assert "unknown variable 'cycler'" in problems[1]


def test_custom_allowed_list():
    assert validate_template("{{ district }}", ["district"]) == []
    assert validate_template("{{ first_name }}", ["district"])[0].endswith("Allowed variables: district.")
    assert "(none)" in validate_template("{{ x }}", [])[0]


def test_syntax_error_reports_line():
    problems = validate_template("Liy 1\nLiy 2\nBonjou {{ first_name }\n", STANDARD_VARIABLES)
    assert len(problems) == 1
    assert problems[0].startswith("Line 3: template syntax error")
    assert validate_template("a\n{% if first_name %}\nb", STANDARD_VARIABLES)[0].startswith("Line 2:")  # the unclosed if
    assert validate_template("{% endif %}", STANDARD_VARIABLES)[0].startswith("Line 1:")


def test_refusal_line_numbers():
    problems = validate_template("ok\n\n{{ first_name.x }}", STANDARD_VARIABLES)
    assert problems[0].startswith("Line 3:")


@pytest.mark.parametrize("allowed", ["first_name", ["bad name"], [1]])
def test_validate_template_bad_allowed(allowed):
    with pytest.raises(ValueError):
        validate_template("x", allowed)


def test_template_variables():
    assert template_variables("{{ a }} {% if b %}{{ a|upper }}{% endif %}") == ("a", "b")
    with pytest.raises(ValueError, match="Line 1"):
        template_variables("{{ a")


def test_render_template():
    text = "{% if first_name %}Bonjou {{ first_name|title }}{% else %}Bonjou zanmi{% endif %}, rele {{ hotline_number }}."
    assert render_template(text, {"first_name": "mari", "hotline_number": "188"}) == "Bonjou Mari, rele 188."
    assert render_template(text, {"first_name": "", "hotline_number": "188"}) == "Bonjou zanmi, rele 188."
    assert render_template("{{ first_name|default('zanmi') }}", {}) == "zanmi"
    assert render_template("{{ first_name|default('zanmi', true) }}", {"first_name": ""}) == "zanmi"
    # plain text: no HTML escaping, trailing newline kept
    assert render_template("{{ organisation }}\n", {"organisation": "<A & B>"}) == "<A & B>\n"
    assert render_template("{{ district }}", {"district": "Nò"}) == "Nò"


def test_render_template_refusals():
    with pytest.raises(ValueError, match="Missing value"):
        render_template("Bonjou {{ first_name }}", {})
    with pytest.raises(ValueError, match="attribute access"):
        render_template("{{ first_name.__class__.__mro__ }}", {"first_name": "x"})
    with pytest.raises(ValueError, match="unknown variable 'secret'"):
        render_template("{{ secret }}", {}, allowed=["first_name"])
    with pytest.raises(ValueError):
        render_template("{{ first_name }}", {"first_name": 3})  # type: ignore[dict-item]
    # globals are gone even if a name is allowed but not given
    with pytest.raises(ValueError, match="Missing value"):
        render_template("{{ range }}", {}, allowed=["range"])
    with pytest.raises(ValueError, match="Missing value"):
        render_template("{{ lipsum }}", {}, allowed=["lipsum"])


def test_longest_rendering_counts_segments_with_longest_values():
    text = "Bonjou {{ first_name }}! " + "Pa kite moun vann timoun. " * 5 + "Rele {{ hotline_number }}."
    short = render_template(text, {"first_name": "Jo", "hotline_number": "188"})
    longest = longest_rendering(text, {"first_name": "A" * 20, "hotline_number": "188"})
    assert sms_info(short).segments == 1
    assert sms_info(longest).segments == 2
    assert "A" * 20 in longest


def test_longest_rendering_tries_branches_and_defaults():
    text = "{% if first_name %}Bonjou {{ first_name }}{% else %}Bonjou zanmi nou renmen anpil{% endif %}!"
    assert longest_rendering(text, {"first_name": "A" * 10}) == "Bonjou zanmi nou renmen anpil!"
    assert longest_rendering(text, {"first_name": "A" * 30}) == "Bonjou " + "A" * 30 + "!"
    defaulted = "Bonjou {{ first_name|default('zanmi mwen renmen anpil anpil') }}!"
    assert longest_rendering(defaulted, {}) == "Bonjou zanmi mwen renmen anpil anpil!"
    assert longest_rendering(defaulted, {"first_name": "A" * 3}) == "Bonjou zanmi mwen renmen anpil anpil!"
    # a non-GSM letter in the longest value shows the UCS-2 worst case
    worst = longest_rendering("Bonjou {{ first_name }}", {"first_name": "Jérôme"})
    assert sms_info(worst).encoding == UCS2


def test_longest_rendering_custom_key_and_errors():
    text = "{% if first_name %}{{ first_name }}{% else %}un de twa kat{% endif %}"
    assert longest_rendering(text, {"first_name": "Xxxxxxxxxxxxxxxxxxx"}, key=count_spoken_words) == "un de twa kat"
    with pytest.raises(ValueError, match="No longest value"):
        longest_rendering("{{ first_name }}", {})
    with pytest.raises(ValueError, match="refused"):
        longest_rendering("{{ first_name.x }}", {"first_name": "x"})


# ---------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------


def test_markdown_basic_and_tables():
    out = markdown_to_html("# Brief\n\n**Enpòtan**: *wi*\n\n| Dosye | Jij |\n|:--|--:|\n| 12 | A |\n")
    assert "<h1>Brief</h1>" in out
    assert "<strong>Enpòtan</strong>" in out and "<em>wi</em>" in out
    assert "<table>" in out and '<td style="text-align:right">A</td>' in out


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">x</a>',
        "<iframe src=https://evil.example></iframe>",
        "<div onclick='alert(1)'>x</div>",
        "<style>body{display:none}</style>",
    ],
)
def test_markdown_raw_html_is_not_injected(source):
    out = markdown_to_html(source)
    assert "<script" not in out and "<img" not in out and "<iframe" not in out and "<style" not in out
    assert "<a " not in out and "<div" not in out
    assert re.search(r"<[^>]*\son\w+=", out) is None
    assert "&lt;" in out  # shown as text


@pytest.mark.parametrize(
    "source",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](vbscript:msgbox(1))",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "![i](javascript:alert(2))",
        "![i](data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=)",
        "<javascript:alert(1)>",
        "[x]: javascript:alert(1)\n\n[x]",
    ],
)
def test_markdown_dangerous_urls_are_dropped(source):
    out = markdown_to_html(source)
    assert re.search(r'(href|src)="\s*(javascript|vbscript|data):', out, re.IGNORECASE) is None


def test_markdown_safe_links_and_images():
    out = markdown_to_html("[IBESR](https://example.org/a?b=1) ![logo](https://example.org/l.png \"Logo\")")
    assert '<a href="https://example.org/a?b=1" rel="noopener noreferrer">IBESR</a>' in out
    assert '<img src="https://example.org/l.png" alt="logo" title="Logo">' in out
    assert 'href="mailto:jij@example.org"' in markdown_to_html("<mailto:jij@example.org>")


@settings(max_examples=200)
@given(
    st.lists(
        st.sampled_from(
            ["<script>", "</script>", "<img src=x onerror=alert(1)>", "javascript:", "[a](", ")", "![b](",
             "<a href='", "'>", "\n\n", "| x |\n|--|\n", "**", "`", "text ", "<svg onload=alert(1)>", "&lt;",
             "\"", "<", ">", "data:text/html,", "onerror=", " "]
        ),
        max_size=30,
    ).map("".join)
)
def test_markdown_never_outputs_active_content(source):
    out = markdown_to_html(source)
    assert "<script" not in out.lower() and "<svg" not in out.lower()
    assert re.search(r"<[^>]*\son\w+\s*=", out) is None
    assert re.search(r'(href|src)="\s*(javascript|data|vbscript):', out, re.IGNORECASE) is None


# ---------------------------------------------------------------------------
# Diff
# ---------------------------------------------------------------------------


def test_text_diff_word_level():
    chunks = text_diff("Rele nou nan 188 kounye a.", "Rele nou vit nan 133 jodi a.")
    assert chunks == [
        DiffChunk("equal", "Rele nou "),
        DiffChunk("insert", "vit "),
        DiffChunk("equal", "nan "),
        DiffChunk("delete", "188 kounye"),
        DiffChunk("insert", "133 jodi"),
        DiffChunk("equal", " a."),
    ]
    assert chunks[0] == ("equal", "Rele nou ")  # plain tuples


def test_text_diff_edge_cases():
    assert text_diff("", "") == []
    assert text_diff("", "nouvo") == [("insert", "nouvo")]
    assert text_diff("ansyen", "") == [("delete", "ansyen")]
    assert text_diff("same", "same") == [("equal", "same")]
    assert text_diff("l'enfant", "l'enfance") == [("delete", "l'enfant"), ("insert", "l'enfance")]


@given(st.text(max_size=200), st.text(max_size=200))
def test_text_diff_reconstructs_both_versions(old, new):
    chunks = text_diff(old, new)
    assert "".join(t for op, t in chunks if op != "insert") == old
    assert "".join(t for op, t in chunks if op != "delete") == new
    assert all(t for _, t in chunks)
    assert all(op in ("equal", "insert", "delete") for op, _ in chunks)
    for first, second in zip(chunks, chunks[1:]):
        assert not (first.op == second.op)


def test_render_diff_html_escapes():
    assert render_diff_html(text_diff("a <b> c", "a <i> c")) == "a &lt;<del>b</del><ins>i</ins>&gt; c"
    with pytest.raises(ValueError):
        render_diff_html([("replace", "x")])


def test_field_diff():
    old = {"title": "A", "body": "x", "language": "ht", "gone": 1}
    new = {"title": "A", "body": "y", "language": "ht", "channel": "sms"}
    assert field_diff(old, new) == [
        FieldChange("body", "changed", "x", "y"),
        FieldChange("gone", "removed", 1, None),
        FieldChange("channel", "added", None, "sms"),
    ]
    assert field_diff(old, dict(old)) == []
    with pytest.raises(ValueError):
        field_diff([], {})  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Attachments
# ---------------------------------------------------------------------------

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 16
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 16
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 16
GIF = b"GIF89a\x01\x00\x01\x00" + b"\x00" * 16
MP3_ID3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 16
MP3_FRAME = b"\xff\xfb\x90\x64" + b"\x00" * 28
AAC_ADTS = b"\xff\xf1\x50\x80" + b"\x00" * 28
WAV = b"RIFF\x24\x08\x00\x00WAVEfmt \x10\x00\x00\x00" + b"\x00" * 16
AVI = b"RIFF\x24\x08\x00\x00AVI LIST" + b"\x00" * 16
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 24


def ogg_page(packet: bytes) -> bytes:
    header = b"OggS\x00\x02" + b"\x00" * 8 + b"\x01\x00\x00\x00" + b"\x00" * 4 + b"\x00" * 4
    return header + bytes([1, len(packet)]) + packet


OGG_OPUS = ogg_page(b"OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00")
OGG_VORBIS = ogg_page(b"\x01vorbis\x00\x00\x00\x00\x02\x44\xac\x00\x00")
OGG_THEORA = ogg_page(b"\x80theora\x03\x02\x01" + b"\x00" * 20)


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = b"ftyp" + major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return (len(body) + 4).to_bytes(4, "big") + body + b"\x00\x00\x00\x08free"


M4A = ftyp(b"M4A ", b"M4A ", b"mp42", b"isom")
MP4_GENERIC = ftyp(b"isom", b"isom", b"iso2", b"mp41")
QUICKTIME = ftyp(b"qt  ", b"qt  ")


def ooxml(kind: str, *, first: str = "[Content_Types].xml") -> bytes:
    main = {"docx": "word/document.xml", "pptx": "ppt/presentation.xml", "xlsx": "xl/workbook.xml"}[kind]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        names = [first] + [n for n in ("[Content_Types].xml", "_rels/.rels", main) if n != first]
        for name in names:
            archive.writestr(name, "<xml/>")
    return buffer.getvalue()


def odt() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        archive.writestr("content.xml", "<xml/>")
    return buffer.getvalue()


def check(filename, data, kind, content_type=None, size=None):
    return check_attachment(
        filename, content_type, len(data) if size is None else size, data[:512], channel_kind=kind
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (PDF, "pdf"), (PNG, "png"), (JPEG, "jpg"), (WEBP, "webp"), (GIF, "gif"), (MP3_ID3, "mp3"),
        (MP3_FRAME, "mp3"), (AAC_ADTS, None), (WAV, "wav"), (AVI, None), (OGG_OPUS, "ogg"),
        (OGG_VORBIS, "ogg"), (OGG_THEORA, None), (M4A, "m4a"), (MP4_GENERIC, "mp4"), (QUICKTIME, None),
        (EXE, None), (b"", None), (b"PK\x03\x04", "zip"), (ooxml("docx"), "ooxml"),
        (ooxml("pptx", first="ppt/presentation.xml"), "pptx"), (odt(), "zip"), (b"<html><script>", None),
    ],
)
def test_sniff_file_type(data, expected):
    assert sniff_file_type(data[:512]) == expected


@pytest.mark.parametrize(
    ("filename", "data", "kind", "content_type"),
    [
        ("spot-ht.mp3", MP3_ID3, "radio", "audio/mpeg"),
        ("spot-ht.mp3", MP3_FRAME, "radio", "audio/mp3"),
        ("voice.ogg", OGG_OPUS, "radio", "audio/ogg; codecs=opus"),
        ("voice.opus", OGG_OPUS, "radio", "audio/opus"),
        ("spot.wav", WAV, "radio", "audio/x-wav"),
        ("spot.m4a", M4A, "radio", "audio/x-m4a"),
        ("android-recorder.m4a", MP4_GENERIC, "radio", "audio/mp4"),
        ("afich.png", PNG, "social", "image/png"),
        ("afich.JPG", JPEG, "social", "image/jpeg"),
        ("afich.jpeg", JPEG, "social", "application/octet-stream"),
        ("afich.webp", WEBP, "social", None),
        ("afich.gif", GIF, "email", "image/gif"),
        ("rapò.pdf", PDF, "briefing", "application/pdf"),
        ("rapò.pdf", PDF, "email", ""),
        ("nòt.docx", ooxml("docx"), "briefing",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("prezantasyon.pptx", ooxml("pptx"), "briefing", "application/zip"),
        ("done.xlsx", ooxml("xlsx", first="xl/workbook.xml"), "briefing", None),
        ("C:\\fakepath\\foto.png", PNG, "briefing", "image/png"),
    ],
)
def test_attachments_accepted(filename, data, kind, content_type):
    assert check(filename, data, kind, content_type) is None


@pytest.mark.parametrize(
    ("filename", "data", "kind", "content_type", "fragment"),
    [
        ("spot.mp3", PNG, "radio", "audio/mpeg", "does not look like a MP3 audio: its content is a PNG image"),
        ("virus.pdf", EXE, "briefing", "application/pdf", '"virus.pdf" does not look like a PDF'),
        ("foto.jpg", PNG, "social", "image/jpeg", "its content is a PNG image"),
        ("foto.png", PNG, "social", "application/pdf", "was sent as 'application/pdf'"),
        ("foto.png", PNG, "radio", "image/png", "PNG image files are not accepted for radio"),
        ("spot.mp3", MP3_ID3, "social", "audio/mpeg", "not accepted for social"),
        ("foto.png", PNG, "sms", "image/png", "sms messages cannot carry attachments"),
        ("setup.exe", EXE, "briefing", None, "'.exe'"),
        ("foto.pdf.exe", EXE, "briefing", None, "'.exe'"),
        ("README", PDF, "briefing", None, "no extension"),
        ("spot.aac", AAC_ADTS, "radio", None, "'.aac'"),
        ("spot.ogg", OGG_THEORA, "radio", None, "not recognised"),
        ("video.m4a", QUICKTIME, "radio", None, "not recognised"),
        ("nòt.docx", odt(), "briefing", None, "ZIP archive"),
        ("nòt.docx", b"PK\x03\x04" + b"\x00" * 22 + b"\x07\x00\x00\x00evil.js", "briefing", None, "ZIP archive"),
        ("page.html", b"<html><script>", "briefing", "text/html", "'.html'"),
        ("avi.wav", AVI, "radio", None, "not recognised"),
    ],
)
def test_attachments_refused(filename, data, kind, content_type, fragment):
    problem = check(filename, data, kind, content_type)
    assert problem is not None
    assert fragment in problem, problem
    shown = filename.replace("\\", "/").rsplit("/", 1)[-1]
    assert shown in problem or filename.endswith("README")


def test_attachment_sizes():
    assert check("foto.png", PNG, "social", size=10 * 1024 * 1024) is None
    problem = check("foto.png", PNG, "social", size=10 * 1024 * 1024 + 1)
    assert problem is not None and '"foto.png" is 10.0 MB' in problem and "10 MB" in problem
    assert check("spot.wav", WAV, "radio", size=60 * 1024 * 1024) is None
    assert check("spot.mp3", MP3_ID3, "radio", size=60 * 1024 * 1024) is not None
    assert check_attachment("vid.pdf", None, 0, b"", channel_kind="briefing") == '"vid.pdf" is empty.'
    assert all(t.max_bytes > 0 for t in FILE_TYPES.values())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"size": -1},
        {"size": 2},  # head longer than size
        {"size": 1.5},
        {"channel_kind": "fax"},
        {"head_bytes": "text"},
        {"filename": None},
        {"content_type": 3},
    ],
)
def test_check_attachment_bad_arguments(kwargs):
    arguments = {"filename": "a.pdf", "content_type": None, "size": 100, "head_bytes": PDF, "channel_kind": "briefing"}
    arguments.update(kwargs)
    with pytest.raises(ValueError):
        check_attachment(
            arguments["filename"], arguments["content_type"], arguments["size"], arguments["head_bytes"],
            channel_kind=arguments["channel_kind"],
        )


def test_checksum_name():
    assert checksum_name(PDF) == hashlib.sha256(PDF).hexdigest() + ".pdf"
    assert checksum_name(JPEG).endswith(".jpg")
    assert checksum_name(OGG_OPUS).endswith(".ogg")
    for kind in ("docx", "pptx", "xlsx"):
        data = ooxml(kind)
        assert checksum_name(data) == f"{hashlib.sha256(data).hexdigest()}.{kind}"
    assert checksum_name(b"plain text", ext=".TXT") == hashlib.sha256(b"plain text").hexdigest() + ".txt"
    with pytest.raises(ValueError, match="Cannot tell"):
        checksum_name(b"plain text")
    with pytest.raises(ValueError, match="Cannot tell"):
        checksum_name(odt())
    with pytest.raises(ValueError):
        checksum_name(PDF, ext="../x")
    with pytest.raises(ValueError):
        checksum_name("text")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Languages and coverage
# ---------------------------------------------------------------------------


def test_languages_first():
    assert LANGUAGES_FIRST == ("ht", "fr", "en", "es")
    assert [LANGUAGE_NAMES[code] for code in LANGUAGES_FIRST] == ["Kreyòl ayisyen", "Français", "English", "Español"]
    assert language_name("HT-ht") == "Kreyòl ayisyen"
    assert language_name("pt-BR") == "pt-BR"


@pytest.mark.parametrize(
    ("tag", "canonical"),
    [("ht", "ht"), ("FR-ht", "fr-HT"), ("es-419", "es-419"), ("sr-latn-rs", "sr-Latn-RS"), ("zh-Hant", "zh-Hant"),
     ("hat", "hat"), (" en ", "en")],
)
def test_valid_language_tags(tag, canonical):
    assert validate_language_tag(tag) == canonical


@pytest.mark.parametrize(
    ("tag", "fragment"),
    [("", "empty"), ("f", "Invalid"), ("english", "Invalid"), ("fr_HT", "not '_'"), ("fr-HTT", "Invalid"),
     ("123", "Invalid"), ("fr-", "Invalid"), ("en-US-x-private", "Invalid"), ("kr\u00e9", "Invalid")],
)
def test_invalid_language_tags(tag, fragment):
    with pytest.raises(ValueError, match=fragment):
        validate_language_tag(tag)
    with pytest.raises(ValueError):
        validate_language_tag(None)  # type: ignore[arg-type]


def test_missing_variants():
    existing = [("HT", "SMS"), ("fr", "radio"), ("en", "sms")]
    assert missing_variants(["ht", "fr", "ht"], ["sms", "radio"], existing) == [
        ("ht", "radio"),
        ("fr", "sms"),
    ]
    assert missing_variants(LANGUAGES_FIRST, ["sms"], []) == [(lang, "sms") for lang in LANGUAGES_FIRST]
    assert missing_variants([], ["sms"], []) == []


@pytest.mark.parametrize(
    "args",
    [("ht", ["sms"], []), (["ht"], "sms", []), (["ht"], ["sms"], "ht"), (["ht"], ["sms"], [("ht",)]),
     (["ht_HT"], ["sms"], [])],
)
def test_missing_variants_bad_arguments(args):
    with pytest.raises(ValueError):
        missing_variants(*args)
