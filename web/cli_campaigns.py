"""``konbit campaigns ...``: contacts imports and the plan from the command line.

Registered in :mod:`web.cli` as ``app.add_typer(campaigns_app, name="campaigns")``.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import typer

__all__ = ["campaigns_app"]

campaigns_app = typer.Typer(help="Campaigns: contacts, segments, the plan.", no_args_is_help=True)


@campaigns_app.command("import-contacts")
def import_contacts(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="A CSV or XLSX of contacts."),
    country: str = typer.Option("", help="Country of numbers written without a country code "
                                "(default: the current campaign's, else HT)."),
    segment: str = typer.Option("", help="Put every contact in this (list) segment, by code."),
    yes: bool = typer.Option(False, "--yes", help="Store the good rows without asking (lines with a problem are left out)."),
) -> None:
    """Check a contacts file, print the report line by line, then store it once confirmed."""
    from sqlmodel import Session  # noqa: PLC0415

    from campaign import contacts as svc  # noqa: PLC0415

    from .cli import _checked_engine  # noqa: PLC0415 - web.cli imports this module

    with Session(_checked_engine(), expire_on_commit=False) as session:
        try:
            from campaign.service import default_country  # noqa: PLC0415

            country = country.strip().upper() or default_country(session=session)
            report = svc.check_import(session=session, source=file.read_bytes(), filename=file.name, country=country,
                                      default_segments=[segment] if segment else [])
        except svc.ImportFileError as err:
            typer.echo(f"{file.name}: cannot be read; nothing was imported.", err=True)
            for problem in err.problems:
                typer.echo(f"  {problem}", err=True)
            raise typer.Exit(1) from None
        c = report.counts
        typer.echo(f"{file.name}: {c['lines']} line(s): {c['new']} new, {c['update']} existing completed, "
                   f"{c['merged']} duplicate(s) merged, {c['error']} with a problem.")
        for row in report.problems:
            typer.echo(f"  line {row.line}: {' '.join(row.problems)}")
        if report.without_consent:
            typer.echo(f"  {report.without_consent} contact(s) without recorded consent get no SMS or e-mail.")
        if not report.rows:
            typer.echo("Nothing to import.")
            raise typer.Exit(1)
        if not yes and not typer.confirm(f"Store {len(report.rows)} contact(s)?"):
            typer.echo("Nothing was stored.")
            raise typer.Exit(1)
        stored = svc.apply_rows(session=session, rows=report.rows, actor=None)
        from .accounts.service import record_audit  # noqa: PLC0415

        record_audit(session=session, actor=None, actor_name="cli", action="contacts.import", entity_type="campaign_contact",
                     summary=f"Imported contacts from {file.name}", details={**stored, "rows": len(report.rows)}, ip="cli")
        session.commit()
    typer.echo(f"Stored: {stored['added']} added, {stored['updated']} completed.")


@campaigns_app.command("list")
def list_campaigns() -> None:
    """Campaigns with their status, dates and placements."""
    from sqlmodel import Session, select  # noqa: PLC0415

    from campaign import service as svc  # noqa: PLC0415
    from campaign.models import Placement  # noqa: PLC0415

    from .cli import _checked_engine  # noqa: PLC0415

    with Session(_checked_engine()) as session:
        for c in svc.list_campaigns(session=session):
            n = len(session.exec(select(Placement.id).where(Placement.campaign_id == c.id)).all())
            typer.echo(f"{c.id}\t{c.status.value}\t{c.start_date} – {c.end_date}\t{n} placement(s)\t{c.name}")


@campaigns_app.command("plan")
def plan(
    campaign_id: int = typer.Argument(..., help="The campaign's id (konbit campaigns list)."),
    start: str = typer.Option("", help="First day (YYYY-MM-DD; default: the campaign's start)."),
    days: int = typer.Option(7, min=1, max=400, help="How many days to list."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table."),
) -> None:
    """List the plan: every send, airing, post and session in a date range, in the campaign's time."""
    from sqlmodel import Session  # noqa: PLC0415

    from campaign import service as svc  # noqa: PLC0415
    from campaign.models import Campaign  # noqa: PLC0415

    from .cli import _checked_engine  # noqa: PLC0415

    with Session(_checked_engine()) as session:
        campaign = session.get(Campaign, campaign_id) if 0 < campaign_id < 2**31 else None
        if campaign is None:
            typer.echo(f"There is no campaign {campaign_id}.", err=True)
            raise typer.Exit(1)
        try:
            first = date.fromisoformat(start) if start else campaign.start_date
        except ValueError:
            typer.echo(f"--start: {start!r} is not a date (YYYY-MM-DD).", err=True)
            raise typer.Exit(2) from None
        events = svc.calendar_events(session=session, start=first, end=first + timedelta(days=days - 1),
                                     campaign_id=campaign.id)
        for e in events:
            if as_json:
                typer.echo(json.dumps({"local_at": e.local_at.isoformat(), "placement_id": e.placement_id, "title": e.title,
                                       "channel": e.channel, "language": e.language, "segments": e.segments,
                                       "status": e.status}, ensure_ascii=False))
            else:
                typer.echo(f"{e.local_at:%a %Y-%m-%d %H:%M}\t{e.channel}\t{e.language or '-'}\t{e.title}\t{','.join(e.segments)}")
        if not as_json:
            typer.echo(f"{len(events)} item(s) from {first} for {days} day(s), times in {campaign.timezone}.")


@campaigns_app.command("resume")
def resume(
    campaign_id: int = typer.Argument(..., help="The campaign's id (konbit campaigns list)."),
    placement: int = typer.Option(0, "--placement", help="Resume only this paused placement of the campaign."),
    replay: bool = typer.Option(False, "--replay", help="Send now what the pause skipped (default: it stays skipped)."),
) -> None:
    """Resume a paused campaign (or one of its placements). What fell due while paused stays
    skipped unless --replay: then it is sent now, opt-outs, caps and quiet hours checked again."""
    from sqlmodel import Session  # noqa: PLC0415

    from campaign import service as svc  # noqa: PLC0415
    from campaign.models import Campaign, Placement, PlacementStatus  # noqa: PLC0415

    from .cli import _checked_engine  # noqa: PLC0415

    with Session(_checked_engine(), expire_on_commit=False) as session:
        campaign = session.get(Campaign, campaign_id) if 0 < campaign_id < 2**31 else None
        if campaign is None:
            typer.echo(f"There is no campaign {campaign_id}.", err=True)
            raise typer.Exit(1)
        row = session.get(Placement, placement) if 0 < placement < 2**31 else None
        if placement and (row is None or row.campaign_id != campaign.id):
            typer.echo(f"Campaign {campaign.id} has no placement {placement}.", err=True)
            raise typer.Exit(1)
        try:
            if row is not None:
                if row.status != PlacementStatus.paused:
                    typer.echo(f"Placement {row.id} is {row.status.value}, not paused.", err=True)
                    raise typer.Exit(1)
                svc.set_placement_status(session=session, placement=row, status=PlacementStatus.active, actor=None,
                                         ip="cli", replay=replay)
            else:
                svc.set_campaign_status(session=session, campaign=campaign, action="resume", actor=None, ip="cli",
                                        replay=replay)
        except svc.PlanError as err:
            session.rollback()
            typer.echo(f"Not done: {err.message}", err=True)
            raise typer.Exit(1) from None
        session.commit()
    what = f"Placement {row.id}" if row is not None else f"Campaign {campaign.id}"
    typer.echo(f"{what} resumed; " + ("what the pause skipped is sent now." if replay else "what the pause skipped stays skipped."))
