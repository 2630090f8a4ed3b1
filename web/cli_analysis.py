"""``konbit analyze`` and ``konbit power``."""

from __future__ import annotations

import csv
import json
import sys

import typer

from .cli import _checked_engine, app
from .exports_safe import safe_row


def _csv_rows(report: dict):
    header = ["group_by", "group", "section", "code", "label", "domain", "measure", "ok", "baseline_n", "baseline_estimate",
              "baseline_ci_low", "baseline_ci_high", "endline_n", "endline_estimate", "endline_ci_low", "endline_ci_high",
              "difference", "diff_ci_low", "diff_ci_high", "test", "statistic", "df", "p_value", "p_adjusted",
              "effect_size", "effect_size_name", "design_effect", "reason"]
    yield header
    sections = [("", "", report), *[(g["by"], g["value"], g) for g in report.get("groups", [])]]
    for by, value, section in sections:
        for kind in ("domains", "items"):
            for e in section[kind]:
                b, en = e["baseline"], e["endline"]
                yield [by, value, kind, e["code"], e.get("label", ""), e["domain"], e["measure"], e["ok"], b["n"], b["estimate"],
                       b["ci_low"], b["ci_high"], en["n"], en["estimate"], en["ci_low"], en["ci_high"], e["difference"],
                       e["diff_ci_low"], e["diff_ci_high"], e["test"], e["statistic"], e["df"], e["p_value"], e["p_adjusted"],
                       e["effect_size"], e["effect_size_name"], e["design_effect"], e.get("reason", "")]


@app.command()
def analyze(
    survey_id: int,
    baseline: str = typer.Option(..., help="Name of the baseline wave."),
    endline: str = typer.Option(..., help="Name of the endline wave."),
    by: str = typer.Option(None, help="Breakdown: segment, region, sex, age_group, arm, stratum or a background item."),
    correction: str = typer.Option("holm", help="holm or bh."),
    format: str = typer.Option("json", "--format", help="json or csv."),
    language: str = typer.Option("en", help="Language of the item labels."),
    lonely_psu: str = typer.Option("adjust", "--lonely-psu",
                                   help="Strata with a single cluster: adjust, average, remove, certainty or fail."),
) -> None:
    """The KAP-shift report between two waves (the same as GET /api/v1/surveys/ID/analysis)."""
    from sqlmodel import Session  # noqa: PLC0415

    from surveys.analysis_service import AnalysisRequestError, get_report  # noqa: PLC0415

    if format not in ("json", "csv"):
        typer.echo("--format must be json or csv.", err=True)
        raise typer.Exit(2)
    with Session(_checked_engine()) as session:
        try:
            report = get_report(session=session, survey_id=survey_id, baseline=baseline, endline=endline, by=by,
                                correction=correction, language=language, lonely_psu=lonely_psu)
        except AnalysisRequestError as err:
            typer.echo(f"{err.field}: {err.message}", err=True)
            raise typer.Exit(2) from None
        session.commit()
    if format == "json":
        json.dump(report, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        csv.writer(sys.stdout).writerows(safe_row(r) for r in _csv_rows(report))


@app.command()
def power(
    p1: float = typer.Option(..., help="Baseline proportion, e.g. 0.40."),
    p2: float = typer.Option(None, help="Endline proportion to detect; omit and give --n for the minimum detectable change."),
    n: int = typer.Option(None, help="Respondents per wave (for the minimum detectable change)."),
    alpha: float = typer.Option(0.05),
    power_: float = typer.Option(0.80, "--power"),
    sided: int = typer.Option(2, help="1 or 2."),
    design_effect: float = typer.Option(1.0),
    nonresponse: float = typer.Option(0.0, help="Expected share of non-response, e.g. 0.1."),
    method: str = typer.Option("fanta", help="fanta, fleiss or fleiss_cc."),
) -> None:
    """Respondents needed per wave to detect a change in a proportion, or the minimum detectable change."""
    from pydantic import ValidationError  # noqa: PLC0415

    from .routes.analysis import PowerRequest, compute_power  # noqa: PLC0415

    try:
        result = compute_power(PowerRequest(p1=p1, p2=p2, n=n, alpha=alpha, power=power_, sided=sided,
                                            design_effect=design_effect, nonresponse=nonresponse, method=method))
    except ValidationError as exc:
        for e in exc.errors():
            typer.echo(f"--{'.'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}", err=True)
        raise typer.Exit(2) from None
    except ValueError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from None
    if result["kind"] == "sample_size":
        typer.echo(f"{result['n_inflated']} respondents per wave ({result['n']} completed interviews, "
                   f"n = {result['n_raw']:.2f} before rounding; {method}, {sided}-sided alpha {alpha}, power {power_}, "
                   f"design effect {design_effect}, non-response {nonresponse:.0%}).")
    elif result.get("ok"):
        typer.echo(f"Minimum detectable change with n = {n}: {p1:.0%} to {result['p2']:.1%} ({result['change'] * 100:+.1f} points).")
    else:
        typer.echo(result.get("reason") or "No detectable change within 0 and 1.", err=True)
        raise typer.Exit(1)
