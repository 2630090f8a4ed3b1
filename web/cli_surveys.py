"""``konbit surveys ...``: instruments from the command line.

Registered in :mod:`web.cli` as ``app.add_typer(surveys_app, name="surveys")``; other
modules add their own commands to :data:`surveys_app` (``import-responses``).
"""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["surveys_app"]

surveys_app = typer.Typer(help="KAP surveys: instruments, waves, responses.", no_args_is_help=True)


@surveys_app.command("import-xlsform")
def import_xlsform(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="The XLSForm (.xlsx)."),
    title: str = typer.Option(None, "--title", help="Title of the survey (default: the form's form_title)."),
    description: str = typer.Option("", "--description", help="What the survey is for."),
) -> None:
    """Create a survey from an XLSForm and print its id. Every problem is listed and nothing is stored on error."""
    from sqlmodel import Session  # noqa: PLC0415

    from surveys import service  # noqa: PLC0415
    from surveys.xlsform import XLSFormError  # noqa: PLC0415

    from .cli import _checked_engine  # noqa: PLC0415 - web.cli imports this module

    data = file.read_bytes()
    with Session(_checked_engine(), expire_on_commit=False) as session:
        try:
            survey = service.create_survey_from_xlsform(session=session, data=data, actor=None, title=title,
                                                        description=description, ip="cli")
        except XLSFormError as err:
            session.rollback()
            typer.echo(f"{file.name}: {len(err.errors)} problem(s); nothing was imported.", err=True)
            for problem in err.errors:
                typer.echo(f"  {problem}", err=True)
            raise typer.Exit(1) from None
        session.commit()
        version = service.latest_version(session=session, survey=survey)
        items = sum(1 for _ in service.version_spec(version).items())
    typer.echo(survey.id)
    typer.echo(f"Created survey {survey.id}: {survey.title} (version 1, {items} items).", err=True)


@surveys_app.command("list")
def list_surveys() -> None:
    """List surveys with their latest version, waves and submissions."""
    from sqlmodel import Session  # noqa: PLC0415

    from surveys import service  # noqa: PLC0415

    from .cli import _checked_engine  # noqa: PLC0415

    with Session(_checked_engine()) as session:
        surveys = service.list_surveys(session=session)
        if not surveys:
            typer.echo("No survey yet. Create one with `konbit surveys import-xlsform FILE.xlsx`.")
            return
        typer.echo(f"{'id':>4}  {'version':>7}  {'waves':<28} {'submissions':>11}  title")
        for survey in surveys:
            version = service.latest_version(session=session, survey=survey)
            waves = ",".join(w.name + ("" if w.is_open else "(closed)")
                             for w in service.list_waves(session=session, survey=survey)) or "-"
            count = sum(service.status_counts(session=session, survey=survey).values())
            typer.echo(f"{survey.id:>4}  {version.version:>7}  {waves[:28]:<28} {count:>11}  {survey.title}")
