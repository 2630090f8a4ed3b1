"""``konbit surveys import-responses``: a KoboToolbox / ODK Central export into a survey.

Loaded by :mod:`web.cli` (one import line) and added to :data:`web.cli_surveys.surveys_app`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from .cli_surveys import surveys_app

__all__ = ["import_responses"]


@surveys_app.command("import-responses")
def import_responses(
    survey_id: int = typer.Argument(..., help="The survey's id (see `konbit surveys list`)."),
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="The export (.csv or .xlsx)."),
    wave: str = typer.Option(None, "--wave", help="Wave of every row (overrides the file's wave column)."),
    mapping: list[str] = typer.Option([], "--map", metavar="NAME=COLUMN",
                                      help="Read a design field (region, weight, uuid...) or an item from another column; repeat."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Import the good rows even if some rows are bad, without asking."),
) -> None:
    """Import responses; the same rows imported twice add nothing.

    The file is checked first and every bad row is listed with its row number and reason.
    If all rows are good they are imported at once; otherwise you are asked (or --yes
    answers for you) whether to import the good ones. With --yes the file is read once.
    Exit status: 0 imported (or nothing to do), 1 refused or nothing imported, 2 usage error.
    """
    from sqlmodel import Session  # noqa: PLC0415

    from surveys import import_jobs, service  # noqa: PLC0415
    from surveys.imports import ImportFileError, parse_mapping  # noqa: PLC0415

    from .cli import _checked_engine  # noqa: PLC0415 - web.cli imports this module

    try:
        columns = parse_mapping(mapping)
    except ValueError as err:
        typer.echo(f"--map: {err}", err=True)
        raise typer.Exit(2) from None
    engine = _checked_engine()
    with Session(engine, expire_on_commit=False) as session:
        survey = service.get_survey(session=session, survey_id=survey_id)
        if survey is None:
            typer.echo(f"There is no survey {survey_id} (see `konbit surveys list`).", err=True)
            raise typer.Exit(1)
        report = None
        if not yes:
            try:
                report = import_jobs.check_file(session=session, survey=survey, source=file, filename=file.name, wave=wave,
                                                mapping=columns, on_progress=_progress)
            except ImportFileError as err:
                _file_refused(file, err)
            finally:
                _end_progress()
            session.rollback()
            _print_plan(report.plan)
            _print_report(import_jobs, report)
            if report.bad:
                if not report.good:
                    typer.echo("No row can be imported; nothing was imported.", err=True)
                    raise typer.Exit(1)
                if not sys.stdin.isatty():
                    typer.echo("Some rows are bad and nothing was imported: rerun with --yes to import the good rows.", err=True)
                    raise typer.Exit(1)
                if not typer.confirm(f"Import the {report.good} good rows and leave the {report.bad} bad ones out?"):
                    typer.echo("Nothing was imported.")
                    raise typer.Exit(1)
    try:
        report = import_jobs.store_file(engine=engine, survey_id=survey_id, source=file, filename=file.name, wave=wave,
                                        mapping=columns, report=report, on_progress=_progress)
    except ImportFileError as err:
        _file_refused(file, err)
    finally:
        _end_progress()
    if yes:  # one pass: the report is the store's
        _print_plan(report.plan)
        _print_report(import_jobs, report)
    typer.echo(f"Imported {report.created} new submission{'s' if report.created != 1 else ''} into survey {survey_id}"
               + (f"; {report.already + report.repeated} already there" if report.already or report.repeated else "")
               + (f"; {report.kept_aside} kept aside as conflicts for a supervisor" if report.kept_aside else "")
               + (f"; {report.refused} refused (changed since the check)" if report.refused else "") + ".")


def _file_refused(file: Path, err: Exception) -> None:
    typer.echo(f"{file.name} cannot be imported; nothing was imported:", err=True)
    for problem in getattr(err, "problems", [str(err)]):
        typer.echo(f"  {problem}", err=True)
    raise typer.Exit(1)


def _print_plan(lines: list[str]) -> None:
    for line in lines:
        typer.echo(line, err=True)


def _print_report(import_jobs, report) -> None:  # noqa: ANN001 - the module, imported lazily
    for line in import_jobs.report_lines(report):
        typer.echo(line)
    if report.problems:
        typer.echo("Bad rows:")
        for line in import_jobs.problem_lines(report.problems):
            typer.echo(line)
        if report.problem_count > len(report.problems):
            typer.echo(f"  ({report.problem_count} problems in all; the first {len(report.problems)} are shown)")


def _progress(phase: str, rows: int, fraction: float) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"\r{phase} {fraction:4.0%}  {rows} rows")
        sys.stderr.flush()


def _end_progress() -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\r" + " " * 40 + "\r")
