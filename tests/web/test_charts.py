"""web.charts: the report's plotly figures, how the page carries them, and plotly.js served by the app."""

from __future__ import annotations

import copy
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlmodel import Session

from audiences.segments import segment_label
from surveys.analysis_service import get_report
from tests.factories import login
from tests.surveys.factories import make_demo_survey
from web.assets import static_url
from web.charts import (
    PLOTLY_JS, PLOTLY_TRACES, domain_figure, exposure_figure, group_figure, knowledge_figure, plotly_css, report_figures,
)
from web.palette import DOMAIN_COLOURS, PALETTE, WAVE_COLOURS
from web.render import templates


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A real report: the demo instrument, 150 interviews a wave, broken down by segment."""
    from alembic import command  # noqa: PLC0415

    from web.db import alembic_config, make_engine  # noqa: PLC0415

    url = f"sqlite:///{tmp_path_factory.mktemp('charts') / 'charts.db'}"
    cfg = alembic_config(url)
    cfg.attributes["configure_logging"] = False
    command.upgrade(cfg, "head")
    engine = make_engine(url)
    made = make_demo_survey(engine, per_wave=150, seed=3)
    with Session(engine) as session:
        found = get_report(session=session, survey_id=made.id, baseline="baseline", endline="endline", by="segment")
    engine.dispose()
    return found


def test_the_domain_chart_draws_each_wave_with_its_confidence_intervals(report):
    fig = domain_figure(report)
    baseline, endline = fig["data"]
    assert [t["type"] for t in fig["data"]] == ["bar", "bar"]
    assert baseline["x"] == ["Knowledge score", "Attitude score", "Practice score"]
    for trace, wave in ((baseline, "baseline"), (endline, "endline")):
        for i, domain in enumerate(report["domains"]):
            entry = domain[wave]
            assert trace["y"][i] == pytest.approx(entry["estimate"])
            assert trace["y"][i] - trace["error_y"]["arrayminus"][i] == pytest.approx(entry["ci_low"])
            assert trace["y"][i] + trace["error_y"]["array"][i] == pytest.approx(entry["ci_high"])
    assert "95% CI" in fig["layout"]["yaxis"]["title"]["text"]
    # The title says what changed, in the domain's words, and whether it is significant after correction.
    knowledge = report["domains"][0]
    verdict = "significant" if knowledge["p_adjusted"] < 0.05 else "not significant"
    assert fig["layout"]["title"]["text"].startswith(
        f"Knowledge rose from {knowledge['baseline']['estimate']:.0f} to {knowledge['endline']['estimate']:.0f} ({verdict}); "
        "attitude ")
    assert [t["marker"]["color"] for t in fig["data"]] == list(WAVE_COLOURS)


def test_the_charts_draw_with_the_dashboards_colour_blind_safe_palette_and_titles_that_state_the_finding(report):
    figures = report_figures(report)
    flat: set[str] = set()
    for fig in figures.values():
        for trace in fig["data"]:
            for colour in (trace.get("marker", {}).get("color"), trace.get("line", {}).get("color")):
                flat |= set(colour) if isinstance(colour, list) else {colour} if colour else set()
    assert flat and flat <= set(PALETTE.values()), flat - set(PALETTE.values())  # no #c8553d red, #2a9d5c green
    assert DOMAIN_COLOURS == {"knowledge": PALETTE["blue"], "attitude": PALETTE["vermillion"], "practice": PALETTE["green"]}
    groups = figures["groups"]
    assert [t["marker"]["color"] for t in groups["data"]] == list(DOMAIN_COLOURS.values())
    best = max((g for g in report["groups"] if g["domains"][0]["ok"]), key=lambda g: g["domains"][0]["difference"])
    assert groups["layout"]["title"]["text"].startswith(
        f"By segment: knowledge rose most among {segment_label(best['value'], {})} (")
    assert f"({best['domains'][0]['difference']:+.1f} points, " in groups["layout"]["title"]["text"]
    did = report["did"]["domains"][0]
    assert figures["did"]["layout"]["title"]["text"].startswith(
        f"Knowledge gained {abs(did['estimate']):.1f} points {'more' if did['estimate'] > 0 else 'less'} in the "
        "intervention area than in the comparison area")
    slope = report["exposure"]["domains"][0]["trend"]["slope"]
    assert figures["exposure"]["layout"]["title"]["text"].startswith(
        f"Scores at endline {'rise' if slope > 0 else 'fall'} with each campaign channel seen: knowledge {slope:+.1f} points")
    for name, fig in figures.items():
        assert fig["layout"]["xaxis"]["title"]["text"] and fig["layout"]["yaxis"]["title"]["text"], name


def test_the_breakdown_chart_shows_each_groups_change_and_skips_groups_without_enough_data(report):
    fig = group_figure(report)
    knowledge = next(t for t in fig["data"] if t["name"] == "Knowledge score")
    ok = [g for g in report["groups"] if next(d for d in g["domains"] if d["code"] == "knowledge")["ok"]]
    assert len(knowledge["y"]) == len(ok) >= 2
    assert "General public" in knowledge["y"]  # segment codes become their labels
    first = next(d for d in ok[0]["domains"] if d["code"] == "knowledge")
    assert knowledge["x"][0] == pytest.approx(first["difference"])


def test_exposure_is_drawn_by_dose_and_proportions_in_percent(report):
    fig = exposure_figure(report)
    assert [t["name"] for t in fig["data"]] == ["Knowledge score", "Attitude score", "Practice score"]
    assert fig["data"][0]["x"] == report["exposure"]["levels"]


def test_knowledge_levels_stack_to_100_in_each_wave_and_segment(report):
    figure = knowledge_figure(report, {"police": "Police (PNH)"})
    good, moderate, poor = figure["data"]
    groups, waves = good["x"]
    assert groups[:2] == ["All respondents", "All respondents"] and waves[:2] == ["baseline", "endline"]
    assert "Police (PNH)" in groups  # segment codes named
    assert figure["layout"]["barmode"] == "stack"
    for g, m, p in zip(good["y"], moderate["y"], poor["y"]):
        assert g + m + p == pytest.approx(100)
    levels = report["knowledge_levels"]
    assert good["y"][0] == pytest.approx(levels["baseline"]["good"]["estimate"] * 100)
    assert levels["change"]["ok"] and 0 <= levels["change"]["p_value"] <= 1
    assert {g["value"] for g in levels["groups"]} == {g["value"] for g in report["groups"]}


def test_a_report_with_nothing_to_draw_has_no_charts(report):
    empty = copy.deepcopy(report)
    for entry in empty["domains"]:
        entry["ok"] = False
    empty["groups"], empty["did"], empty["exposure"], empty["knowledge_levels"] = [], None, None, None
    assert report_figures(empty) == {}
    assert list(report_figures(report)) == ["domains", "groups", "did", "knowledge", "exposure"]


class _Attrs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.figures: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.figures += [value for name, value in attrs if name == "data-figure"]


def test_the_page_carries_each_figure_intact_in_an_escaped_attribute(report):
    hostile = copy.deepcopy(report)
    drawn = next(g for g in hostile["groups"] if all(d["ok"] for d in g["domains"]))
    drawn["value"] = "x' onmouseover='alert(1)\"><script>alert(2)</script>&amp;"
    hostile["by"] = "region"
    for g in hostile["groups"]:
        g["by"] = "region"
    figures = report_figures(hostile)
    html = templates.env.get_template("analysis/_macros.html").module.chart(figures, "groups")
    assert "<script>" not in html and "onmouseover='" not in html
    parser = _Attrs()
    parser.feed(str(html))
    assert [json.loads(f) for f in parser.figures] == [json.loads(json.dumps(figures["groups"]))]
    # plotly reads a subset of HTML in labels: what enumerators wrote is shown as text, not markup
    labels = [y for trace in figures["groups"]["data"] for y in trace["y"]]
    assert "x' onmouseover='alert(1)\"&gt;&lt;script&gt;alert(2)&lt;/script&gt;&amp;amp;" in labels
    assert not any("<" in y for y in labels)


def test_the_report_page_links_plotly_and_holds_its_figures(client, personas, engine):
    login(client, "leo")
    made = make_demo_survey(engine, per_wave=60, seed=5)  # in this app's database
    page = client.get(f"/analysis/{made.id}")
    assert page.status_code == 200
    # plotly.js is no <script> of the page (it would hold htmx until it arrived): charts.js fetches it
    assert f'<script src="{static_url("js/charts.js")}" data-plotly="{static_url(PLOTLY_JS)}" defer></script>' in page.text
    assert "plotly-basic.min" not in page.text.replace(static_url(PLOTLY_JS), "")
    assert 'id="plotly.js-style-global" class="no-inline-styles"' in page.text
    assert 'id="chart-domains"' in page.text and "data-figure='" in page.text
    assert 'id="chart-knowledge"' in page.text and 'id="knowledge-levels"' in page.text


def test_plotly_js_is_the_partial_bundle_served_compressed_and_cached_for_good(client):
    body = (Path(__file__).resolve().parents[2] / "web" / "static" / PLOTLY_JS).read_bytes()
    assert body.startswith(b"/**\n* plotly.js (basic - minified) v")
    url = static_url(PLOTLY_JS)
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and plain.content == body
    assert plain.headers["content-type"].startswith("text/javascript")
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    packed = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert packed.headers["content-encoding"] == "br" and int(packed.headers["content-length"]) < 340_000
    gzipped = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert gzipped.headers["content-encoding"] == "gzip" and gzipped.content == body
    # the name pages used before: the same partial bundle
    assert client.get("/static/vendor/plotly/plotly.min.js", headers={"Accept-Encoding": "identity"}).content == body


def test_every_figure_is_of_a_trace_type_the_bundle_draws(client, personas, engine):
    made = make_demo_survey(engine, per_wave=60, seed=5)
    login(client, "leo")
    page = client.get(f"/analysis/{made.id}?by=segment")
    parser = _Attrs()
    parser.feed(page.text)
    types = {trace.get("type", "scatter") for f in parser.figures for trace in json.loads(f)["data"]}
    assert types and types <= PLOTLY_TRACES, types


def test_plotlys_own_style_rules_come_as_a_stylesheet(client):
    css, ids = plotly_css()
    assert ".js-plotly-plot .plotly .main-svg{position:absolute;" in css
    assert ".plotly-notifier{" in css and css.count("{") >= 50
    assert ids and all(len(i) >= 16 for i in ids)
    served = client.get(static_url("vendor/plotly/plotly.css"))
    assert served.status_code == 200 and served.text == css and served.headers["content-type"].startswith("text/css")
