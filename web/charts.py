"""Plotly figures for the KAP-shift report: the report's dict in, figure dicts out.

Pure functions (no session, no request): each takes the dict that
:func:`surveys.analysis_service.get_report` returns and gives a plotly figure as a plain
dict (``{"data": [...], "layout": {...}}``), built and checked by ``plotly.graph_objects``,
or None when the report has nothing to draw. The page puts each one in a JSON data island
(``|tojson``: escaped, never executed) and ``static/js/charts.js`` draws it with the
plotly.js that the app itself serves (:data:`PLOTLY_JS`), so no script is inline and
nothing comes from a CDN.

Every estimate is drawn with its 95% confidence interval, as the tables beside the charts
give it: a chart without its uncertainty would claim more than the data shows. Titles state
what the chart finds ("Knowledge rose from 30 to 40 (significant)"); the colours are the
Okabe-Ito palette of :mod:`web.palette`, which the campaign dashboard draws with as well.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from audiences.segments import segment_label

from .palette import DOMAIN_COLOURS, FONT, PALETTE, WAVE_COLOURS

__all__ = [
    "PLOTLY_JS", "PLOTLY_TRACES", "plotly_js_text", "did_figure", "domain_figure", "exposure_figure", "group_figure", "plotly_css",
    "plotly_version", "report_figures",
]

ALPHA = 0.05  # a change is called significant when its adjusted p-value is below this


#: The plotly.js bundle the app serves: the partial "basic" bundle (bar, scatter, pie; MIT),
#: vendored from npm with the version of plotly.py's own (web/static/vendor/README.md). Every
#: figure here is bar or scatter, with error bars: a full bundle would be four times larger.
PLOTLY_JS = "vendor/plotly/plotly-basic.min.js"
#: The trace types that bundle draws: a figure of any other type would stay blank.
PLOTLY_TRACES = frozenset({"bar", "scatter", "pie"})


@cache
def _bundle() -> bytes:
    return (Path(__file__).parent / "static" / PLOTLY_JS).read_bytes()


def plotly_js_text() -> str:
    """The vendored plotly.js bundle as text, for a report that carries its own copy."""
    return _bundle().decode("utf-8")


def plotly_version() -> str:
    """The bundle's version, from its banner."""
    found = re.search(rb"plotly\.js (?:\([^)]*\) )?v([0-9][0-9.]*)", _bundle()[:400])
    return found.group(1).decode() if found else "unknown"


def _js_string(literal: str) -> str:
    return json.loads(literal) if literal[0] == '"' else literal[1:-1].replace("\\'", "'").replace('\\"', '"')


@cache
def plotly_css() -> tuple[str, tuple[str, ...]]:
    """(plotly.js's own style rules as a stylesheet, the ids of the style blocks it writes at load).

    plotly.js adds its rules with an inline ``<style>`` element, which the CSP refuses (and says
    so in the console). It skips that when an element with id ``plotly.js-style-global`` has
    the class ``no-inline-styles``: the page links this stylesheet with that id and class. The
    bundle also writes a map library's CSS into a ``<style>`` whose id it checks first: the page
    puts empty elements with those ids. Both are read from the bundle itself, so they follow
    the plotly version installed.
    """
    source = _bundle().decode()
    start = source.find('{"X,X div"')
    rules: list[str] = []
    if start >= 0:
        pos = start + 1
        while match := _RULE.match(source, pos):
            key = match.group(1) if match.group(1)[0] not in "\"'" else _js_string(match.group(1))
            selector = re.sub(r"^,", " ,", key).replace("X", ".js-plotly-plot .plotly").replace("Y", ".plotly-notifier")
            rules.append(f"{selector}{{{_js_string(match.group(2))}}}")
            pos = match.end()
            if match.group(3) == "}":
                break
    ids = tuple(re.findall(r'getElementById\("([0-9a-f]{16,})"\)\)\{var \w+=document\.createElement\("style"\)', source))
    return "/* plotly.js's style rules, from the bundle (MIT) */\n" + "\n".join(rules) + "\n", ids


_RULE = re.compile(r"""\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[A-Za-z_$][\w$]*)\s*:\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*([,}])""")


def _text(value: Any) -> str:
    """A label for plotly, which reads a subset of HTML in text (<b>, <br>, <a href>): escaped, as
    labels and breakdown values are written by users and enumerators."""
    return html.escape(str(value), quote=False)


def _figure(data: list[dict[str, Any]], layout: Mapping[str, Any]) -> dict[str, Any]:
    import plotly.graph_objects as go  # noqa: PLC0415

    base = {"font": FONT, "margin": {"l": 10, "r": 10, "t": 48, "b": 10}, "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)", "legend": {"orientation": "h", "y": -0.15}, "height": 340}
    fig = go.Figure(data=data, layout={**base, **layout})  # validates every attribute
    return fig.to_plotly_json()


def _scale(entry: Mapping[str, Any]) -> float:
    """Proportions are drawn in percent, scores on their 0-100 scale."""
    return 100.0 if entry.get("measure") == "proportion" else 1.0


def _error(estimates: Sequence[float], lows: Sequence[float], highs: Sequence[float]) -> dict[str, Any]:
    return {"type": "data", "symmetric": False, "array": [h - e for e, h in zip(estimates, highs)],
            "arrayminus": [e - lo for e, lo in zip(estimates, lows)], "thickness": 1.5, "width": 6}


def _significant(entry: Mapping[str, Any], key: str = "p_adjusted") -> bool:
    p = entry.get(key)
    return bool(entry.get("ok")) and p is not None and p < ALPHA


def _p(p: float | None) -> str:
    return "" if p is None else "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _short_name(entry: Mapping[str, Any]) -> str:
    """"Knowledge score" -> "knowledge": the word a title uses."""
    name = str(entry.get("label") or entry.get("code") or "")
    return name.removesuffix(" score").lower()


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _shift(entry: Mapping[str, Any]) -> str:
    """"knowledge rose from 30 to 40 (significant)", in the entry's unit."""
    scale, unit = _scale(entry), "%" if entry.get("measure") == "proportion" else ""
    b, e = entry["baseline"]["estimate"] * scale, entry["endline"]["estimate"] * scale
    verb = "rose" if round(e) > round(b) else "fell" if round(e) < round(b) else "stayed"
    moved = f"from {b:.0f}{unit} to {e:.0f}{unit}" if verb != "stayed" else f"at {e:.0f}{unit}"
    return f"{_short_name(entry)} {verb} {moved} ({'significant' if _significant(entry) else 'not significant'})"


def domain_figure(report: Mapping[str, Any]) -> dict[str, Any] | None:
    """Each domain score at baseline and endline, with 95% CIs (grouped bars)."""
    domains = [d for d in report.get("domains", []) if d.get("ok")]
    if not domains:
        return None
    data = []
    for wave, colour in zip(("baseline", "endline"), WAVE_COLOURS):
        est = [d[wave]["estimate"] for d in domains]
        data.append({
            "type": "bar", "name": _text(report[wave]), "x": [_text(d.get("label") or d["code"]) for d in domains], "y": est,
            "marker": {"color": colour}, "error_y": _error(est, [d[wave]["ci_low"] for d in domains],
                                                          [d[wave]["ci_high"] for d in domains]),
            "hovertemplate": "%{x}: %{y:.1f}<extra>" + _text(report[wave]) + "</extra>",
        })
    title = _capital("; ".join(_shift(d) for d in domains))
    return _figure(data, {"title": {"text": _text(title)}, "barmode": "group",
                          "xaxis": {"title": {"text": f"domain (significant: adjusted p < {ALPHA})"}},
                          "yaxis": {"range": [0, 100], "title": {"text": "score (0-100, 95% CI)"}}})


def group_figure(report: Mapping[str, Any], segment_names: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The change in each domain score in each group of the breakdown, with 95% CIs (dots)."""
    groups = report.get("groups") or []
    if not groups:
        return None
    by = groups[0]["by"]
    names = segment_names or {}
    name = (lambda v: _text(segment_label(v, names))) if by == "segment" else _text
    data = []
    best: tuple[float, str, Mapping[str, Any]] | None = None  # the largest change of the first domain drawn
    for code, colour in DOMAIN_COLOURS.items():
        rows = [(name(g["value"]), d) for g in groups for d in g["domains"] if d["code"] == code and d.get("ok")]
        if not rows:
            continue
        est = [d["difference"] for _, d in rows]
        if not data:
            label, entry = max(zip([g for g, _ in rows], [d for _, d in rows]), key=lambda pair: pair[1]["difference"])
            best = (entry["difference"], label, entry)
        data.append({
            "type": "scatter", "mode": "markers", "name": _text(rows[0][1].get("label") or code), "y": [v for v, _ in rows],
            "x": est, "marker": {"color": colour, "size": 9},
            "error_x": _error(est, [d["diff_ci_low"] for _, d in rows], [d["diff_ci_high"] for _, d in rows]),
            "hovertemplate": "%{y}: %{x:+.1f} points<extra>%{fullData.name}</extra>",
        })
    if not data:
        return None
    words = by.replace("_", " ")
    diff, group, entry = best
    sig = "significant" if _significant(entry) else "not significant"
    # ``group`` is escaped already (it is a tick label); the rest of the title is escaped here.
    title = (_text(f"By {words}: {_short_name(entry)} {'rose most' if diff > 0 else 'fell least'} among ") + group
             + _text(f" ({diff:+.1f} points, {sig})"))
    return _figure(data, {
        "title": {"text": title},
        "xaxis": {"title": {"text": _text(f"change from {report['baseline']} to {report['endline']} "
                                          "(points, 95% CI)")}, "zeroline": True, "zerolinewidth": 2},
        "yaxis": {"automargin": True, "autorange": "reversed", "title": {"text": _text(words)}},
        "height": max(300, 60 + 34 * len(groups))})


def did_figure(report: Mapping[str, Any]) -> dict[str, Any] | None:
    """Difference in differences (intervention minus comparison) per domain, with 95% CIs."""
    did = report.get("did") or {}
    rows = [d for d in did.get("domains", []) if d.get("ok")]
    if not rows:
        return None
    labels = {d["code"]: _text(d.get("label") or d["code"]) for d in report.get("domains", [])}
    est = [d["estimate"] for d in rows]
    data = [{"type": "scatter", "mode": "markers", "name": "DiD", "y": [labels.get(d["code"], _text(d["code"])) for d in rows],
             "x": est, "marker": {"color": [DOMAIN_COLOURS.get(d["code"], PALETTE["black"]) for d in rows], "size": 10},
             "error_x": _error(est, [d["ci_low"] for d in rows], [d["ci_high"] for d in rows]),
             "hovertemplate": "%{y}: %{x:+.1f} points<extra></extra>", "showlegend": False}]
    first = rows[0]
    name = _short_name({"label": labels.get(first["code"], first["code"])})
    sig = "significant" if _significant(first, "p_value") else "not significant"
    title = (f"{_capital(name)} gained {abs(first['estimate']):.1f} points {'more' if first['estimate'] > 0 else 'less'} "
             f"in the intervention area than in the comparison area ({', '.join(filter(None, (sig, _p(first.get('p_value')))))})")
    return _figure(data, {"title": {"text": title},  # the labels in it are escaped already
                          "xaxis": {"title": {"text": "intervention minus comparison: difference in differences "
                                                      "(points, 95% CI)"}, "zeroline": True, "zerolinewidth": 2},
                          "yaxis": {"automargin": True, "autorange": "reversed", "title": {"text": "domain"}},
                          "height": 260})


def exposure_figure(report: Mapping[str, Any]) -> dict[str, Any] | None:
    """Endline domain scores by how many campaign channels respondents saw, with 95% CIs."""
    exposure = report.get("exposure") or {}
    rows = exposure.get("domains") or []
    if not rows:
        return None
    labels = {d["code"]: _text(d.get("label") or d["code"]) for d in report.get("domains", [])}
    data: list[dict[str, Any]] = []
    trends: list[tuple[str, float, float | None]] = []
    for row in rows:
        doses = [b for b in row["by_dose"] if b.get("estimate") is not None]
        if not doses:
            continue
        scale = _scale(row)
        est = [b["estimate"] * scale for b in doses]
        data.append({
            "type": "scatter", "mode": "lines+markers", "name": labels.get(row["code"], _text(row["code"])),
            "x": [b["dose"] for b in doses], "y": est, "line": {"color": DOMAIN_COLOURS.get(row["code"], PALETTE["black"])},
            "error_y": _error(est, [b["ci_low"] * scale for b in doses], [b["ci_high"] * scale for b in doses]),
            "hovertemplate": "%{x} channels: %{y:.1f}<extra>%{fullData.name}</extra>",
        })
        trend = row.get("trend") or {}
        if trend.get("ok") and trend.get("slope") is not None and not trends:
            trends.append((labels.get(row["code"], _text(row["code"])), trend["slope"] * scale, trend.get("p_value")))
    if not data:
        return None
    if trends:
        name, slope, p = trends[0]
        title = (_text(f"Scores at {report['endline']} {'rise' if slope > 0 else 'fall'} with each campaign channel seen: ")
                 + _short_name({"label": name}) + _text(f" {slope:+.1f} points per channel (trend {_p(p)})"))
    else:
        title = _text(f"{report['endline']} scores by campaign channels seen (95% CI)")
    return _figure(data, {"title": {"text": title},
                          "xaxis": {"title": {"text": _text("channels seen (" + ", ".join(exposure.get("channels", [])) + ")")},
                                    "type": "category"},
                          "yaxis": {"range": [0, 100], "title": {"text": "endline score (0-100, 95% CI)"}}})


def knowledge_figure(report: Mapping[str, Any], segment_names: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """Good, moderate and poor knowledge by wave, overall and per group: the dashboard's chart."""
    from web.dashboards.figures import knowledge_levels_chart  # noqa: PLC0415 - that package imports this one

    levels = report.get("knowledge_levels")
    if not levels:
        return None
    names = segment_names or {}
    groups = [{**g, "label": names.get(g["value"], g["value"]) if report.get("by") == "segment" else g["value"]}
              for g in levels.get("groups") or []]
    chart = knowledge_levels_chart({"baseline": report.get("baseline"), "endline": report.get("endline"),
                                    "knowledge_levels": {**levels, "groups": groups}})
    return None if chart is None else chart["figure"]


def report_figures(report: Mapping[str, Any], segment_names: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Every chart the report has data for, by name, in page order (segment codes named from ``segment_names``)."""
    made = {"domains": domain_figure(report), "groups": group_figure(report, segment_names), "did": did_figure(report),
            "knowledge": knowledge_figure(report, segment_names), "exposure": exposure_figure(report)}
    return {name: fig for name, fig in made.items() if fig is not None}
