"""The campaign dashboard's charts: the dashboard dict (:mod:`.campaign`) in, charts out.

Pure functions, no database. Each builder returns a chart as a plain dict, or None when there
is nothing to draw::

    {"name": "kap_shift", "title": "<the finding, in words>",
     "figure": {"data": [...], "layout": {...}},   # checked by plotly.graph_objects
     "table": {"columns": [...], "rows": [[...], ...]}}   # what the chart shows, as numbers

The title states what the chart finds ("Knowledge rose 13 points…"), axes carry units, and the
table under each chart gives the same figures for readers of screens, print and spreadsheets.
Colours are the Okabe-Ito palette (safe for the common colour-vision deficiencies); significance
is carried by the marker's shape and a star as well as colour. Only bar and scatter traces are
used, so a partial plotly.js bundle draws them all.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from web.palette import DOMAIN_COLOURS, FONT, PALETTE, SERIES, WAVE_COLOURS

__all__ = [
    "PALETTE", "for_page", "calendar_chart", "dashboard_charts", "dose_chart", "forest_chart", "item_dumbbell_chart",
    "kap_breakdown_chart", "kap_shift_chart", "knowledge_levels_chart", "radio_chart", "segment_delivery_chart", "training_chart",
    "delivery_over_time_chart", "segment_over_time_chart",
]

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _t(value: Any) -> str:
    """Text for plotly (which reads a subset of HTML): escaped, as labels are written by users."""
    return html.escape(str(value), quote=False)


def _figure(data: list[dict[str, Any]], layout: Mapping[str, Any]) -> dict[str, Any]:
    import plotly.graph_objects as go  # noqa: PLC0415

    base = {"font": FONT, "margin": {"l": 10, "r": 10, "t": 56, "b": 10}, "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)", "height": 340,
            "legend": {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"},
            "colorway": SERIES}
    return go.Figure(data=data, layout={**base, **layout}).to_plotly_json()


def _chart(name: str, title: str, data: list[dict[str, Any]], layout: Mapping[str, Any], columns: Sequence[str],
           rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    layout = {**layout, "title": {"text": _t(title), "x": 0, "xanchor": "left", "font": {"size": 15}}}
    return {"name": name, "title": title, "figure": _figure(data, layout),
            "table": {"columns": list(columns), "rows": [list(r) for r in rows]}}


def for_page(charts: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The charts as a page shows them: the finding is the figure's caption (it wraps, prints and is
    read aloud), so the figure drops its own title and the room above it."""
    out = {}
    for name, chart in charts.items():
        layout = {k: v for k, v in chart["figure"]["layout"].items() if k != "title"}
        layout["margin"] = {**layout.get("margin", {}), "t": 30}
        out[name] = {**chart, "figure": {**chart["figure"], "layout": layout}}
    return out


def _error(est: Sequence[float], lows: Sequence[float], highs: Sequence[float]) -> dict[str, Any]:
    return {"type": "data", "symmetric": False, "array": [h - e for e, h in zip(est, highs)],
            "arrayminus": [e - lo for e, lo in zip(est, lows)], "thickness": 1.5, "width": 5}


def _scale(entry: Mapping[str, Any]) -> float:
    """Proportions are drawn in percent, scores on their 0-100 scale."""
    return 100.0 if entry.get("measure") == "proportion" else 1.0


def _unit(entry: Mapping[str, Any]) -> str:
    return "%" if entry.get("measure") == "proportion" else "points"


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _p(p: float | None) -> str:
    if p is None:
        return ""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _short(text: Any, limit: int = 32) -> str:
    """A tick label short enough to leave the plot its room (the table has it whole)."""
    text = str(text)
    return _t(text if len(text) <= limit else text[:limit - 1].rstrip() + "…")


def _correction(kap: Mapping[str, Any]) -> str:
    return "Benjamini-Hochberg" if kap.get("correction") == "bh" else "Holm"


def _name(entry: Mapping[str, Any]) -> str:
    return str(entry.get("label") or entry.get("code") or "")


def _change_words(entry: Mapping[str, Any]) -> str:
    diff = (entry.get("difference") or 0) * _scale(entry)
    verb = "rose" if diff > 0 else "fell" if diff < 0 else "did not change"
    return f"{verb} {abs(diff):.1f} points" if diff else verb


# --- KAP ---------------------------------------------------------------------------------------


def kap_shift_chart(kap: Mapping[str, Any]) -> dict[str, Any] | None:
    """Each domain at baseline and endline with 95% CIs; a star over a change significant after correction."""
    domains = [d for d in kap.get("domains") or [] if d.get("ok")]
    if not domains:
        return None
    labels = [_t(_name(d)) for d in domains]
    data = []
    for wave, colour in zip(("baseline", "endline"), WAVE_COLOURS):
        est = [d[wave]["estimate"] for d in domains]
        data.append({"type": "bar", "name": _t(f"{kap.get(wave)} ({wave})"), "x": labels, "y": est,
                     "marker": {"color": colour},
                     "error_y": _error(est, [d[wave]["ci_low"] for d in domains], [d[wave]["ci_high"] for d in domains]),
                     "hovertemplate": "%{x}: %{y:.1f}<extra>" + _t(kap.get(wave)) + "</extra>"})
    annotations = [{"x": label, "y": d["endline"]["ci_high"], "text": "★", "showarrow": False, "yshift": 12,
                    "xshift": 18, "font": {"size": 16}, "name": "significant"}
                   for label, d in zip(labels, domains) if d.get("significant")]
    words = ", ".join(f"{_name(d).replace(' score', '').lower()} {_change_words(d)}" for d in domains)
    subset = kap.get("subset")
    title = (f"{words[0].upper() + words[1:]} from {kap.get('baseline')} to {kap.get('endline')}"
             + (f" ({subset['label']})" if subset else ""))
    rows = [[_name(d), _r(d["baseline"]["estimate"]), _r(d["endline"]["estimate"]), _r(d["difference"]),
             f"{_r(d['diff_ci_low'])} to {_r(d['diff_ci_high'])}", _p(d.get("p_adjusted")),
             "yes" if d.get("significant") else "no"] for d in domains]
    return _chart("kap_shift", title, data, {
        "barmode": "group", "annotations": annotations,
        "yaxis": {"range": [0, 105], "title": {"text": "score (0-100)"}},
        "xaxis": {"title": {"text": f"domain (★ significant at 5% after {_correction(kap)} correction)"}}},
        ["Domain", f"{kap.get('baseline')} (0-100)", f"{kap.get('endline')} (0-100)", "Change (points)", "95% CI",
         "p adjusted", "Significant"], rows)


def kap_breakdown_chart(kap: Mapping[str, Any]) -> dict[str, Any] | None:
    """The change in each domain in each group of the breakdown, with 95% CIs (filled: significant)."""
    groups = kap.get("groups") or []
    if not groups:
        return None
    data, rows = [], []
    best: tuple[float, str, str] | None = None
    for code, colour in DOMAIN_COLOURS.items():
        pairs = [(g, d) for g in groups for d in g["domains"] if d["code"] == code and d.get("ok")]
        if not pairs:
            continue
        est = [d["difference"] for _, d in pairs]
        data.append({"type": "scatter", "mode": "markers", "name": _t(_name(pairs[0][1])),
                     "y": [_short(g["label"]) for g, _ in pairs], "x": est,
                     "marker": {"color": colour, "size": 10,
                                "symbol": ["circle" if d.get("significant") else "circle-open" for _, d in pairs]},
                     "error_x": _error(est, [d["diff_ci_low"] for _, d in pairs], [d["diff_ci_high"] for _, d in pairs]),
                     "hovertemplate": "%{y}: %{x:+.1f} points<extra>%{fullData.name}</extra>"})
        for g, d in pairs:
            rows.append([g["label"], _name(d), _r(d["difference"]), f"{_r(d['diff_ci_low'])} to {_r(d['diff_ci_high'])}",
                         _p(d.get("p_adjusted")), "yes" if d.get("significant") else "no"])
            if code == "knowledge" and (best is None or d["difference"] > best[0]):
                best = (d["difference"], g["label"], _name(d))
    if not data:
        return None
    by = str(groups[0]["by"]).replace("_", " ")
    title = (f"By {by}: {best[2].lower()} rose most among {best[1]} ({best[0]:+.1f} points)" if best
             else f"Change from {kap.get('baseline')} to {kap.get('endline')} by {by}")
    return _chart("kap_breakdown", title, data, {
        "xaxis": {"title": {"text": "change in score (points, 95% CI; filled = significant)"}, "zeroline": True,
                  "zerolinewidth": 2},
        "yaxis": {"automargin": True, "autorange": "reversed", "title": {"text": by}},
        "height": max(320, 80 + 30 * len(groups))},
        [by.capitalize(), "Domain", "Change (points)", "95% CI", "p adjusted", "Significant"], rows)


def item_dumbbell_chart(kap: Mapping[str, Any]) -> dict[str, Any] | None:
    """Every item's baseline and endline joined by a line, sorted by the shift, coloured by domain."""
    items = [i for i in kap.get("items") or [] if i.get("ok") and i.get("difference") is not None]
    if not items:
        return None
    items = sorted(items, key=lambda i: i["difference"] * _scale(i))
    labels = [_short(_name(i), 60) for i in items]
    xs: list[float | None] = []
    ys: list[str | None] = []
    for label, i in zip(labels, items):
        s = _scale(i)
        xs += [i["baseline"]["estimate"] * s, i["endline"]["estimate"] * s, None]
        ys += [label, label, None]
    data: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines", "x": xs, "y": ys, "line": {"color": "#bbbbbb", "width": 3},
         "hoverinfo": "skip", "showlegend": False, "name": "shift"},
        {"type": "scatter", "mode": "markers", "name": _t(f"{kap.get('baseline')} (baseline)"),
         "x": [i["baseline"]["estimate"] * _scale(i) for i in items], "y": labels,
         "marker": {"color": PALETTE["grey"], "size": 8, "symbol": "circle-open", "line": {"width": 2}},
         "hovertemplate": "%{y}: %{x:.0f}<extra>baseline</extra>"}]
    for code, colour in DOMAIN_COLOURS.items():
        picked = [(label, i) for label, i in zip(labels, items) if i.get("domain") == code]
        if not picked:
            continue
        data.append({"type": "scatter", "mode": "markers", "name": _t(f"{code.capitalize()} ({kap.get('endline')})"),
                     "x": [i["endline"]["estimate"] * _scale(i) for _, i in picked], "y": [label for label, _ in picked],
                     "marker": {"color": colour, "size": 11,
                                "symbol": ["star" if i.get("significant") else "circle" for _, i in picked]},
                     "hovertemplate": "%{y}: %{x:.0f}<extra>%{fullData.name}</extra>"})
    significant = [i for i in items if i.get("significant")]
    top = items[-1]
    title = (f"{len(significant)} of {len(items)} items changed significantly; the largest shift: "
             f"{_name(top)[:60]} ({top['difference'] * _scale(top):+.0f} {'points' if _scale(top) > 1 else ''})".rstrip())
    rows = [[i["code"], _name(i), i.get("domain"), _r(i["baseline"]["estimate"] * _scale(i)),
             _r(i["endline"]["estimate"] * _scale(i)), _r(i["difference"] * _scale(i)), _p(i.get("p_adjusted")),
             "yes" if i.get("significant") else "no"] for i in reversed(items)]
    return _chart("item_dumbbell", title, data, {
        "xaxis": {"title": {"text": "share correct, favourable or desired (%); ★ significant after "
                                    f"{_correction(kap)}"}, "range": [0, 100]},
        "yaxis": {"automargin": True, "tickfont": {"size": 11}, "title": {"text": "item"}},
        "height": max(360, 90 + 24 * len(items))},
        ["Item", "Question", "Domain", f"{kap.get('baseline')} (%)", f"{kap.get('endline')} (%)", "Change (points)",
         "p adjusted", "Significant"], rows)


def forest_chart(kap: Mapping[str, Any], code: str = "knowledge") -> dict[str, Any] | None:
    """The shift of one domain or item in each group, with its 95% CI, and the overall estimate (diamond)."""
    overall = next((e for e in (kap.get("domains") or []) + (kap.get("items") or []) if e["code"] == code and e.get("ok")), None)
    groups = kap.get("groups") or []
    pairs = [(g, e) for g in groups for e in g["domains"] + g["items"] if e["code"] == code and e.get("ok")]
    if overall is None or not pairs:
        return None
    s = _scale(overall)
    est = [e["difference"] * s for _, e in pairs]
    data = [{"type": "scatter", "mode": "markers", "name": _t(str(groups[0]["by"]).replace("_", " ")),
             "y": [_short(g["label"]) for g, _ in pairs], "x": est,
             "marker": {"color": PALETTE["blue"], "symbol": "square",
                        "size": [max(6, min(16, 4 + (g["n"].get("endline", 0) ** 0.5) / 2)) for g, _ in pairs]},
             "error_x": _error(est, [e["diff_ci_low"] * s for _, e in pairs], [e["diff_ci_high"] * s for _, e in pairs]),
             "hovertemplate": "%{y}: %{x:+.1f}<extra></extra>"},
            {"type": "scatter", "mode": "markers", "name": "Overall", "y": ["Overall"], "x": [overall["difference"] * s],
             "marker": {"color": PALETTE["vermillion"], "symbol": "diamond", "size": 16},
             "error_x": _error([overall["difference"] * s], [overall["diff_ci_low"] * s], [overall["diff_ci_high"] * s]),
             "hovertemplate": "Overall: %{x:+.1f}<extra></extra>"}]
    did = next((e for e in ((kap.get("did") or {}).get("domains") or []) + ((kap.get("did") or {}).get("items") or [])
                if e.get("code") == code and e.get("ok") and e.get("estimate") is not None), None)
    if did is not None:
        data.append({"type": "scatter", "mode": "markers", "name": "Difference in differences",
                     "y": ["DiD: intervention − comparison"], "x": [did["estimate"] * s],
                     "marker": {"color": PALETTE["purple"], "symbol": "diamond-open", "size": 16, "line": {"width": 2}},
                     "error_x": _error([did["estimate"] * s], [did["ci_low"] * s], [did["ci_high"] * s]),
                     "hovertemplate": "DiD: %{x:+.1f}<extra></extra>"})
    up = sum(1 for _, e in pairs if e.get("significant") and e["difference"] > 0)
    title = (f"{_name(overall)}: a significant rise in {up} of {len(pairs)} groups; overall "
             f"{overall['difference'] * s:+.1f} (95% CI {overall['diff_ci_low'] * s:.1f} to {overall['diff_ci_high'] * s:.1f})")
    rows = [[g["label"], g["n"].get("baseline"), g["n"].get("endline"), _r(e["difference"] * s),
             f"{_r(e['diff_ci_low'] * s)} to {_r(e['diff_ci_high'] * s)}", _p(e.get("p_adjusted"))] for g, e in pairs]
    rows.append(["Overall", (kap.get("respondents") or {}).get("baseline"), (kap.get("respondents") or {}).get("endline"),
                 _r(overall["difference"] * s), f"{_r(overall['diff_ci_low'] * s)} to {_r(overall['diff_ci_high'] * s)}",
                 _p(overall.get("p_adjusted"))])
    if did is not None:
        rows.append(["DiD: intervention − comparison", None, None, _r(did["estimate"] * s),
                     f"{_r(did['ci_low'] * s)} to {_r(did['ci_high'] * s)}", _p(did.get("p_value"))])
        title += f"; intervention minus comparison areas {did['estimate'] * s:+.1f}"
    return _chart("forest", title, data, {
        "xaxis": {"title": {"text": f"change ({_unit(overall)}, 95% CI)"}, "zeroline": True, "zerolinewidth": 2},
        "yaxis": {"automargin": True, "autorange": "reversed", "title": {"text": str(groups[0]["by"]).replace("_", " ")}},
        "height": max(320, 90 + 28 * len(pairs)),
        "showlegend": False},
        ["Group", "n baseline", "n endline", f"Change ({_unit(overall)})", "95% CI", "p adjusted"], rows)


def dose_chart(kap: Mapping[str, Any]) -> dict[str, Any] | None:
    """Endline domain scores by the number of campaign channels recalled, with the trend test."""
    exposure = kap.get("exposure") or {}
    rows_in = exposure.get("domains") or []
    labels = {d["code"]: _name(d) for d in kap.get("domains") or []}
    data, rows, trends = [], [], []
    for row in rows_in:
        doses = [b for b in row["by_dose"] if b.get("estimate") is not None]
        if not doses:
            continue
        s = _scale(row)
        est = [b["estimate"] * s for b in doses]
        name = labels.get(row["code"], row["code"])
        data.append({"type": "scatter", "mode": "lines+markers", "name": _t(name), "x": [b["dose"] for b in doses],
                     "y": est, "line": {"color": DOMAIN_COLOURS.get(row["code"], PALETTE["black"])},
                     "error_y": _error(est, [b["ci_low"] * s for b in doses], [b["ci_high"] * s for b in doses]),
                     "hovertemplate": "%{x} channels: %{y:.1f}<extra>%{fullData.name}</extra>"})
        trend = row.get("trend") or {}
        if trend.get("ok"):
            trends.append((name, trend["slope"] * s, trend.get("p_value")))
        for b in doses:
            rows.append([name, b["dose"], b.get("n"), _r(b["estimate"] * s), f"{_r(b['ci_low'] * s)} to {_r(b['ci_high'] * s)}",
                         _r(trend.get("slope", 0) * s) if trend.get("ok") else "", _p(trend.get("p_value"))])
    if not data:
        return None
    if trends:
        name, slope, p = trends[0]
        title = (f"Endline scores {'rise' if slope > 0 else 'fall'} with each channel recalled: {name.lower()} "
                 f"{slope:+.1f} points per channel (trend p {_p(p) if p is not None and p < 0.001 else '= ' + _p(p)})")
    else:
        title = f"{kap.get('endline')} scores by campaign channels recalled"
    return _chart("dose", title, data, {
        "xaxis": {"title": {"text": "campaign channels recalled (" + ", ".join(exposure.get("channels") or []) + ")"},
                  "type": "category"},
        "yaxis": {"range": [0, 100], "title": {"text": "endline score (0-100, 95% CI)"}}},
        ["Domain", "Channels recalled", "Respondents", "Score", "95% CI", "Trend per channel", "Trend p"], rows)


LEVEL_COLOURS = {"good": PALETTE["green"], "moderate": PALETTE["yellow"], "poor": PALETTE["vermillion"]}
LEVEL_NAMES = {"good": "good (80-100)", "moderate": "moderate (60-79)", "poor": "poor (under 60)"}


def knowledge_levels_chart(kap: Mapping[str, Any]) -> dict[str, Any] | None:
    """Stacked bars of good, moderate and poor knowledge in each wave, overall and per group."""
    levels = kap.get("knowledge_levels") or {}
    if not levels:
        return None
    codes = [lv["code"] for lv in levels.get("levels") or []]
    bars = [("All respondents", levels)] + [(g.get("label") or g["value"], g) for g in levels.get("groups") or []]
    subset = kap.get("subset")
    if subset:
        bars = [(subset["label"], levels)]
    x_group, x_wave, rows = [], [], []
    per_level: dict[str, list[float | None]] = {code: [] for code in codes}
    for label, entry in bars:
        for wave in ("baseline", "endline"):
            shares = entry.get(wave) or {}
            if not shares.get("n"):
                continue
            x_group.append(_short(label, 24))
            x_wave.append(_t(kap.get(wave) or wave))
            for code in codes:
                est = (shares.get(code) or {}).get("estimate")
                per_level[code].append(None if est is None else est * 100)
            change = entry.get("change") or {}
            rows.append([label, kap.get(wave) or wave, shares["n"]]
                        + [_r(((shares.get(code) or {}).get("estimate") or 0) * 100) for code in codes]
                        + [_p(change.get("p_value")) if wave == "endline" and change.get("ok") else ""])
    if not rows:
        return None
    data = [{"type": "bar", "name": _t(LEVEL_NAMES.get(code, code)), "x": [x_group, x_wave], "y": per_level[code],
             "marker": {"color": LEVEL_COLOURS.get(code, PALETTE["grey"]),
                        "pattern": {"shape": {"good": "", "moderate": "/", "poor": "x"}.get(code, "")}},
             "hovertemplate": "%{x}: %{y:.1f}%<extra>" + _t(LEVEL_NAMES.get(code, code)) + "</extra>"} for code in codes]
    base, end = levels.get("baseline") or {}, levels.get("endline") or {}
    good0, good1 = ((base.get("good") or {}).get("estimate"), (end.get("good") or {}).get("estimate"))
    change = levels.get("change") or {}
    if good0 is not None and good1 is not None:
        moved = "rose" if good1 > good0 else "fell" if good1 < good0 else "stayed"
        title = (f"Respondents with good knowledge {moved} from {good0 * 100:.0f}% to {good1 * 100:.0f}%"
                 + (f" ({subset['label']})" if subset else ""))
        if change.get("ok"):
            p = change.get("p_value")
            title += (f"; the levels shifted significantly (p {_p(p) if p < 0.001 else '= ' + _p(p)})" if p < 0.05
                      else f"; the shift in levels is not significant (p = {_p(p)})")
    else:
        title = "Knowledge levels by wave"
    return _chart("knowledge_levels", title, data, {
        "barmode": "stack", "yaxis": {"range": [0, 100], "title": {"text": "respondents (%)"}},
        "xaxis": {"title": {"text": "group and wave"}}},
        ["Group", "Wave", "Respondents"] + [f"{LEVEL_NAMES.get(c, c).capitalize()} (%)" for c in codes]
        + ["Change in levels p"], rows)


# --- delivery ----------------------------------------------------------------------------------


def _monday(day: str) -> str:
    d = date.fromisoformat(day)
    return (d - timedelta(days=d.weekday())).isoformat()


def _channel_weeks(channel: Mapping[str, Any]) -> dict[str, int]:
    """Week starting -> messages reached, from the channel's weekly counts (or its days, summed)."""
    if channel.get("by_week") is not None:
        return {w["week"]: w["reached"] for w in channel["by_week"]}
    weeks: dict[str, int] = {}
    for d in channel.get("by_day") or []:
        weeks[_monday(d["day"])] = weeks.get(_monday(d["day"]), 0) + d["reached"]
    return weeks


def delivery_over_time_chart(delivery: Mapping[str, Any]) -> dict[str, Any] | None:
    """Messages and posts that reached people, per channel and week (stacked bars), and the distinct
    contacts reached each week (a line: not a sum of the channels, a contact may hear from several)."""
    channels = [c for c in delivery.get("channels") or [] if c.get("by_week") or c.get("by_day")]
    if not channels:
        return None
    per_channel = {c["id"]: _channel_weeks(c) for c in channels}
    contacts = {w["week"]: w["unique_contacts"] for w in delivery.get("by_week") or []}
    order = sorted(set().union(*per_channel.values()) | set(contacts))
    data: list[dict[str, Any]] = [
        {"type": "bar", "name": _t(c["name"]), "x": order, "y": [per_channel[c["id"]].get(w, 0) for w in order],
         "marker": {"color": SERIES[i % len(SERIES)]}, "hovertemplate": "week of %{x}: %{y:,}<extra>%{fullData.name}</extra>"}
        for i, c in enumerate(channels)]
    if contacts:
        data.append({"type": "scatter", "mode": "lines+markers", "name": "contacts reached (distinct)", "x": order,
                     "y": [contacts.get(w, 0) for w in order],
                     "line": {"color": PALETTE["black"], "width": 2, "dash": "dot"},
                     "marker": {"symbol": "diamond", "size": 8, "color": PALETTE["black"]},
                     "hovertemplate": "week of %{x}: %{y:,} contacts<extra></extra>"})
    totals = {w: sum(per_channel[c["id"]].get(w, 0) for c in channels) for w in order}
    busiest = max(order, key=lambda w: totals[w])
    title = (f"{delivery.get('reached_messages', 0):,} messages reached {delivery.get('unique_contacts', 0):,} contacts "
             f"({delivery.get('messages_per_contact', 0):.1f} each); busiest week {busiest}: {totals[busiest]:,} reached"
             + (f", {contacts.get(busiest, 0):,} contacts" if contacts else ""))
    rows = [[w] + [per_channel[c["id"]].get(w, 0) for c in channels] + [totals[w]]
            + ([contacts.get(w, 0)] if contacts else []) for w in order]
    return _chart("delivery_over_time", title, data, {
        "barmode": "stack", "xaxis": {"title": {"text": "week starting (campaign's time zone)"}, "type": "category"},
        "yaxis": {"title": {"text": "reached per week (messages, airings, posts; line: contacts)"}}},
        ["Week starting"] + [f"{c['name']} (reached)" for c in channels] + ["All channels (reached)"]
        + (["Contacts reached (distinct)"] if contacts else []), rows)


def segment_over_time_chart(delivery: Mapping[str, Any]) -> dict[str, Any] | None:
    """Distinct contacts reached in each segment, per week: one line per segment."""
    segments = [s for s in delivery.get("segments") or [] if s.get("code") and s.get("by_week")]
    if not segments:
        return None
    order = sorted({w["week"] for s in segments for w in s["by_week"]})
    weeks = {s["code"]: {w["week"]: w for w in s["by_week"]} for s in segments}
    symbols = ("circle", "square", "diamond", "triangle-up", "x", "cross", "star", "triangle-down")
    data = [{"type": "scatter", "mode": "lines+markers", "name": _t(s["name"]), "x": order,
             "y": [weeks[s["code"]].get(w, {}).get("unique_contacts", 0) for w in order],
             "line": {"color": SERIES[i % len(SERIES)], "width": 2},
             "marker": {"symbol": symbols[i % len(symbols)], "size": 8, "color": SERIES[i % len(SERIES)]},
             "customdata": [weeks[s["code"]].get(w, {}).get("reached", 0) for w in order],
             "hovertemplate": "week of %{x}: %{y:,} contacts, %{customdata:,} messages<extra>%{fullData.name}</extra>"}
            for i, s in enumerate(segments)]
    peak_segment, peak_week, peak = max(((s, w, weeks[s["code"]][w]["unique_contacts"]) for s in segments
                                         for w in weeks[s["code"]]), key=lambda t: t[2])
    title = (f"{peak_segment['name']}: most contacts reached in a week, {peak:,} in the week of {peak_week}"
             if len(segments) > 1 else f"{peak_segment['name']}: at most {peak:,} contacts reached a week "
                                       f"(week of {peak_week}), over {len(weeks[peak_segment['code']])} weeks")
    rows = [[w, s["name"], weeks[s["code"]].get(w, {}).get("reached", 0), weeks[s["code"]].get(w, {}).get("unique_contacts", 0)]
            for w in order for s in segments]
    return _chart("segment_over_time", title, data, {
        "xaxis": {"title": {"text": "week starting (campaign's time zone)"}, "type": "category"},
        "yaxis": {"title": {"text": "contacts reached per week (distinct)"}, "rangemode": "tozero"}},
        ["Week starting", "Segment", "Messages reached", "Contacts reached (distinct)"], rows)


def segment_delivery_chart(delivery: Mapping[str, Any]) -> dict[str, Any] | None:
    """Messages that reached each segment, and its unique contacts."""
    segments = [s for s in delivery.get("segments") or [] if s.get("total")]
    if not segments:
        return None
    names = [_short(s["name"]) for s in segments]
    data = [{"type": "bar", "name": "messages reached", "y": names, "x": [s["reached"] for s in segments],
             "orientation": "h", "marker": {"color": PALETTE["blue"]}},
            {"type": "bar", "name": "unique contacts", "y": names, "x": [s["unique_contacts"] for s in segments],
             "orientation": "h", "marker": {"color": PALETTE["orange"]}}]
    top = max(segments, key=lambda s: s["reached"])
    title = f"{top['name']} received the most: {top['reached']:,} messages to {top['unique_contacts']:,} contacts"
    rows = [[s["name"], s["total"], s["reached"], s["failed"], s["skipped"], s["unique_contacts"]] for s in segments]
    return _chart("segment_delivery", title, data, {
        "barmode": "group", "xaxis": {"title": {"text": "messages or contacts"}},
        "yaxis": {"automargin": True, "autorange": "reversed", "title": {"text": "segment"}},
        "height": max(300, 90 + 40 * len(segments))},
        ["Segment", "Deliveries", "Reached", "Failed", "Skipped", "Unique contacts"], rows)


def radio_chart(delivery: Mapping[str, Any]) -> dict[str, Any] | None:
    """Radio airings per station: planned, aired, missed, awaiting confirmation."""
    radio = delivery.get("radio") or []
    if not radio:
        return None
    names = [_t(r["station"]) for r in radio]
    data = [{"type": "bar", "name": label, "x": names, "y": [r[key] for r in radio], "marker": {"color": colour}}
            for key, label, colour in (("planned", "planned", PALETTE["grey"]), ("aired", "aired", PALETTE["blue"]),
                                       ("missed", "missed", PALETTE["vermillion"]),
                                       ("unconfirmed", "not confirmed yet", PALETTE["yellow"]))]
    planned, aired = sum(r["planned"] for r in radio), sum(r["aired"] for r in radio)
    share = f" ({aired / planned:.0%})" if planned else ""
    title = f"{aired:,} of {planned:,} planned radio airings aired{share}"
    rows = [[r["station"], r["planned"], r["aired"], r["missed"], r["unconfirmed"], r["listeners"], r["frequency"]]
            for r in radio]
    return _chart("radio", title, data, {"barmode": "group", "xaxis": {"title": {"text": "station"}},
                                         "yaxis": {"title": {"text": "airings"}}},
                  ["Station", "Planned", "Aired", "Missed", "Not confirmed", "Listeners reached (est.)",
                   "Airings heard (average)"], rows)


def training_chart(delivery: Mapping[str, Any]) -> dict[str, Any] | None:
    """Invited and attending per training session."""
    sessions = delivery.get("trainings") or []
    if not sessions:
        return None
    names = [_t(f"{s['day']} {s['venue'] or s['name']}"[:48]) for s in sessions]
    data = [{"type": "bar", "name": "invited", "x": names, "y": [s["invited"] for s in sessions],
             "marker": {"color": PALETTE["grey"]}},
            {"type": "bar", "name": "attended", "x": names, "y": [s["attended"] for s in sessions],
             "marker": {"color": PALETTE["green"]}},
            {"type": "bar", "name": "absent", "x": names, "y": [s["absent"] for s in sessions],
             "marker": {"color": PALETTE["vermillion"]}}]
    invited, attended = sum(s["invited"] for s in sessions), sum(s["attended"] for s in sessions)
    title = (f"{attended:,} of {invited:,} invited attended the {len(sessions)} training sessions"
             + (f" ({attended / invited:.0%})" if invited else ""))
    rows = [[s["day"], s["name"], s["venue"], s["invited"], s["attended"], s["absent"], s["unrecorded"]] for s in sessions]
    return _chart("trainings", title, data, {"barmode": "group", "xaxis": {"title": {"text": "session"}, "type": "category"},
                                             "yaxis": {"title": {"text": "participants"}}},
                  ["Day", "Training", "Venue", "Invited", "Attended", "Absent", "Not recorded"], rows)


def calendar_chart(delivery: Mapping[str, Any]) -> dict[str, Any] | None:
    """A calendar heat map of activity: one square per day, darker with more deliveries reaching people."""
    days = [(date.fromisoformat(d["day"]), d["reached"]) for d in delivery.get("by_day") or [] if d.get("reached")]
    if not days:
        return None
    peak_day, peak = max(days, key=lambda pair: pair[1])
    weeks = [(d - timedelta(days=d.weekday())).isoformat() for d, _ in days]
    data = [{"type": "scatter", "mode": "markers", "name": "reached", "x": weeks,
             "y": [WEEKDAYS[d.weekday()] for d, _ in days], "text": [d.isoformat() for d, _ in days],
             "marker": {"symbol": "square", "size": 13, "color": [n for _, n in days], "cmin": 0, "cmax": peak,
                        "colorscale": [[0, "#deebf7"], [1, PALETTE["blue"]]], "showscale": False},
             "hovertemplate": "%{text}: %{marker.color:,}<extra></extra>"}]
    title = f"Active on {len(days)} days; busiest {peak_day:%a %d %b %Y} with {peak:,} reached"
    return _chart("calendar", title, data, {
        "xaxis": {"title": {"text": "week starting"}, "type": "category", "showgrid": False},
        "yaxis": {"title": {"text": "day of the week"}, "categoryorder": "array", "categoryarray": list(WEEKDAYS),
                  "autorange": "reversed", "showgrid": False},
        "height": 300, "showlegend": False},
        ["Day", "Reached"], [[d.isoformat(), n] for d, n in days])


def dashboard_charts(data: Mapping[str, Any], *, forest_code: str = "knowledge") -> dict[str, dict[str, Any]]:
    """Every chart the dashboard has data for, by name: delivery first, then the KAP shift."""
    delivery, kap = data.get("delivery") or {}, data.get("kap") or {}
    made = {
        "delivery_over_time": delivery_over_time_chart(delivery), "segment_over_time": segment_over_time_chart(delivery),
        "segment_delivery": segment_delivery_chart(delivery),
        "radio": radio_chart(delivery), "trainings": training_chart(delivery), "calendar": calendar_chart(delivery),
    }
    if kap.get("ok"):
        made |= {"kap_shift": kap_shift_chart(kap), "kap_breakdown": kap_breakdown_chart(kap),
                 "item_dumbbell": item_dumbbell_chart(kap), "forest": forest_chart(kap, forest_code),
                 "dose": dose_chart(kap), "knowledge_levels": knowledge_levels_chart(kap)}
    return {name: chart for name, chart in made.items() if chart is not None}
