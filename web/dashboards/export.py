"""A campaign's dashboard to hand on: one self-contained HTML file, XLSX, CSV.

- :func:`html_report`: one HTML file with plotly.js, the styles, the figures and the drawing
  script inside it, so it opens offline (e-mailed to a ministry, on a USB stick) and its charts
  stay interactive. It has the summary sentences, every chart with its data table, a methods
  paragraph (design, tests, correction) and data notes (what the analysis left out).
- :func:`xlsx_report`: the same tables, a sheet each, after a README sheet.
- :func:`csv_table`: one of those tables as CSV.

Every cell of the XLSX and CSV goes through :func:`web.exports_safe.safe_cell`, so text that
looks like a formula stays text. Pure functions: the dashboard dict and its charts in.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from ..exports_safe import csv_text, safe_cell

__all__ = ["data_notes", "html_report", "methods", "report_filename", "report_tables", "csv_table", "xlsx_report"]

STATIC = Path(__file__).resolve().parent.parent / "static"
TEST_NAMES = {
    "rao-scott-f": "the Rao-Scott second-order corrected chi-square test (F form) for proportions by wave",
    "design-t": "a design-based t test of the difference in means",
}


def report_tables(data: Mapping[str, Any], charts: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every table of the report, in order: the summary, each chart's, the items with their messages."""
    kap = data.get("kap") or {}
    out = []
    if kap.get("ok") and kap.get("sentences"):
        out.append({"name": "summary", "title": "In short", "columns": ["Finding"],
                    "rows": [[s] for s in kap["sentences"]]})
    for name, chart in charts.items():
        out.append({"name": name, "title": chart["title"], "columns": chart["table"]["columns"],
                    "rows": chart["table"]["rows"]})
    if kap.get("ok"):
        rows = []
        for e in kap.get("items") or []:
            if not e.get("ok"):
                continue
            scale = 100 if e.get("measure") == "proportion" else 1
            for m in e.get("messages") or [{"title": "", "sent": None, "in_campaign": False}]:
                rows.append([e["code"], e.get("label"), e.get("domain"), _r(e["baseline"]["estimate"] * scale),
                             _r(e["endline"]["estimate"] * scale), _r(e["difference"] * scale),
                             "yes" if e.get("significant") else "no", m["title"],
                             m["sent"] if m.get("in_campaign") else None])
        out.append({"name": "items_messages", "title": "Each item and the messages aimed at it",
                    "columns": ["Item", "Question", "Domain", f"{kap.get('baseline')} (%)", f"{kap.get('endline')} (%)",
                                "Change (points)", "Significant", "Message", "Times it reached people"], "rows": rows})
    return out


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def methods(data: Mapping[str, Any]) -> list[str]:
    """The methods paragraph(s): design, tests used, correction, how delivery was counted."""
    kap = data.get("kap") or {}
    out = []
    if kap.get("ok"):
        design = kap.get("design") or {}
        traits = [t for t, on in (("clustered", design.get("clustered")), ("stratified", design.get("stratified")),
                                  ("weighted", design.get("weighted"))) if on]
        tests = [TEST_NAMES.get(t, t) for t in kap.get("tests") or []]
        correction = "Benjamini-Hochberg (false discovery rate)" if kap.get("correction") == "bh" else "Holm (family-wise error)"
        resp = kap.get("respondents") or {}
        out.append(
            f"Knowledge, attitudes and practice were measured by the survey “{kap.get('survey')}” in two waves, "
            f"{kap.get('baseline')} ({resp.get('baseline', '?')} respondents) and {kap.get('endline')} "
            f"({resp.get('endline', '?')}), as {design.get('type') or 'independent'} samples"
            + (f" ({', '.join(traits)})" if traits else "") + ". "
            f"Estimates and their 95% confidence intervals use {design.get('method') or 'the survey design'}. "
            + (f"Changes were tested with {'; '.join(tests)}. " if tests else "")
            + f"p-values were adjusted for the number of items and domains tested by the {correction} method; "
            "a change is called significant when its adjusted p-value is below 0.05. Domain scores run from 0 to 100; "
            "items give the share of correct, favourable or desired answers."
            + (f" Figures are for {kap['subset']['label']} only." if kap.get("subset") else ""))
        if kap.get("knowledge_levels"):
            out.append("Knowledge levels follow Bloom's cut-offs on the knowledge score: good from 80, moderate from 60 "
                       "to 79, poor under 60. Whether the distribution of levels changed between waves is tested on the "
                       "three-level table: Pearson's chi-square for simple random samples, the Rao-Scott F for a "
                       "complex design or a panel (respondents as clusters); this test is not adjusted for multiplicity.")
        if kap.get("exposure"):
            out.append("The dose-response chart gives endline scores by the number of campaign channels respondents "
                       "recalled, with a design-based linear trend test across the levels.")
    out.append("Delivery counts come from the outbox: a message counts as reached when the gateway accepted it (sent) or "
               "confirmed it (delivered); unique contacts count each person once. Radio airings are those the stations "
               "confirmed; listeners reached are estimated from each station's audience and rating. Training attendance "
               "is as recorded from the sign-in sheets.")
    return out


def data_notes(data: Mapping[str, Any]) -> list[str]:
    kap = data.get("kap") or {}
    out = list(data.get("notes") or [])
    if kap.get("ok"):
        excluded = kap.get("excluded") or {}
        for reason, n in excluded.items():
            if n:
                out.append(f"{n:,} submissions {reason} are excluded from the analysis.")
        if kap.get("scope") == "approved":
            out.append("Only submissions a supervisor approved are analysed.")
        for message in (kap.get("waiting") or {}).get("messages") or []:
            out.append(f"{message}; they are excluded until a supervisor decides.")
        if not any(excluded.values()) and not (kap.get("waiting") or {}).get("count"):
            out.append("No submission of the two waves was excluded.")
    elif kap.get("reason"):
        out.append(kap["reason"])
    delivery = data.get("delivery") or {}
    out += delivery.get("notes") or []
    if delivery.get("in_flight"):
        out.append(f"{delivery['in_flight']:,} messages were still to be sent when this report was made.")
    return out


def report_filename(data: Mapping[str, Any], ext: str, when: datetime) -> str:
    name = re.sub(r"[^A-Za-z0-9]+", "-", str(data["campaign"]["name"]))[:60].strip("-").lower() or "campaign"
    return f"konbit-{name}-{when:%Y%m%d}.{ext}"


def _script_safe(source: str) -> str:
    """JavaScript made safe to sit inside <script>…</script> (HTML ends the element at any ``</script``)."""
    return source.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT").replace("<!--", "<\\!--")


def html_report(*, data: Mapping[str, Any], charts: Mapping[str, Mapping[str, Any]], plotly_js: str,
                generated_at: datetime, filters_text: str = "") -> str:
    """The self-contained HTML report (plotly.js, styles and figures inside)."""
    from ..render import templates  # noqa: PLC0415

    css = (STATIC / "css" / "konbit.css").read_text(encoding="utf-8") + "\n" + \
        (STATIC / "css" / "dashboard.css").read_text(encoding="utf-8")
    draw = (STATIC / "js" / "charts.js").read_text(encoding="utf-8")
    return templates.get_template("dashboards/report_standalone.html").render(
        data=data, kap=data.get("kap") or {}, delivery=data.get("delivery") or {}, charts=charts,
        tables=report_tables(data, charts), methods=methods(data), notes=data_notes(data), css=css.replace("</", "<\\/"),
        scripts=_script_safe(plotly_js) + "\n;\n" + _script_safe(draw), generated_at=generated_at,
        filters_text=filters_text)


def _sheet_name(name: str, taken: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", " ", name)[:31] or "table"
    candidate, i = base, 2
    while candidate.lower() in taken:
        candidate = f"{base[:28]}_{i}"
        i += 1
    taken.add(candidate.lower())
    return candidate


def xlsx_report(*, data: Mapping[str, Any], charts: Mapping[str, Mapping[str, Any]], generated_at: datetime,
                filters_text: str = "") -> bytes:
    """The report's tables as an XLSX workbook: a README sheet, then a sheet per table."""
    from openpyxl import Workbook  # noqa: PLC0415
    from openpyxl.styles import Font  # noqa: PLC0415

    tables = report_tables(data, charts)
    book = Workbook()
    readme = book.active
    readme.title = "README"
    bold = Font(bold=True)
    campaign = data["campaign"]
    lines: list[list[Any]] = [
        [f"{campaign['name']}: what the campaign delivered and what changed"],
        [f"Campaign {campaign['start_date']} to {campaign['end_date']} ({campaign['status']}); report made "
         f"{generated_at:%Y-%m-%d %H:%M} UTC by Konbit."],
    ]
    if filters_text:
        lines.append([f"Filters: {filters_text}"])
    lines += [[], ["Methods"], *[[p] for p in methods(data)], [], ["Data notes"], *[[n] for n in data_notes(data)], [],
              ["Sheet", "What it holds"]]
    taken = {"readme"}
    names = [_sheet_name(t["name"], taken) for t in tables]
    lines += [[name, t["title"]] for name, t in zip(names, tables)]
    for row in lines:
        readme.append([safe_cell(v) for v in row])
    for row_index in (1, 4 + bool(filters_text)):
        readme.cell(row=row_index, column=1).font = bold
    readme.column_dimensions["A"].width = 22
    readme.column_dimensions["B"].width = 100
    for name, table in zip(names, tables):
        sheet = book.create_sheet(name)
        sheet.append([safe_cell(table["title"])])
        sheet.cell(row=1, column=1).font = bold
        sheet.append([safe_cell(c) for c in table["columns"]])
        for cell in sheet[2]:
            cell.font = bold
        for row in table["rows"]:
            sheet.append([safe_cell(v) for v in row])
        sheet.freeze_panes = "A3"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def csv_table(*, data: Mapping[str, Any], charts: Mapping[str, Mapping[str, Any]], table: str) -> str | None:
    """Table ``table`` of the report as CSV (None if the report has no such table)."""
    found = next((t for t in report_tables(data, charts) if t["name"] == table), None)
    if found is None:
        return None
    return csv_text(found["columns"], found["rows"])
