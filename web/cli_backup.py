"""``konbit backup`` and ``konbit restore``: an online copy of the database and the data directory."""

from __future__ import annotations

from pathlib import Path

import typer

from .cli import _settings, app


@app.command()
def backup(
    to: Path = typer.Option(None, "--to", help="Folder to write the backup in (default: DATA_DIR/backups)."),
) -> None:
    """Back up the database and the data directory's files, with a manifest of checksums. Konbit may keep running."""
    from .backup import BackupError, create_backup  # noqa: PLC0415

    settings = _settings()
    dest = to or settings.data_dir / "backups"
    try:
        manifest = create_backup(database_url=settings.database, data_dir=settings.data_dir, dest=dest)
    except BackupError as err:
        typer.echo(f"Backup failed: {err}", err=True)
        raise typer.Exit(1) from None
    rows = sum(t["rows"] for t in manifest.tables.values())
    size = manifest.data["dump"]["bytes"] + sum(f["bytes"] for f in manifest.files.values())
    typer.echo(f"Backed up to {manifest.path}: {manifest.data['database']} database at revision "
               f"{manifest.data['schema_revision']}, {len(manifest.tables)} tables, {rows:,} rows, "
               f"{len(manifest.files)} files, {size / 1e6:.1f} MB. Copy it off this machine.")


@app.command()
def restore(
    source: Path = typer.Argument(..., help="A backup folder written by `konbit backup`."),
    check_only: bool = typer.Option(False, "--check", help="Only check the backup's checksums; restore nothing."),
) -> None:
    """Restore a backup onto an empty database and an empty data directory (KONBIT_DATABASE_URL, KONBIT_DATA_DIR)."""
    from .backup import BackupError, restore_backup, verify_backup  # noqa: PLC0415

    settings = _settings()
    try:
        if check_only:
            manifest = verify_backup(source)
            typer.echo(f"{source}: every checksum matches ({len(manifest.files)} files, {manifest.data['database']}).")
            return
        manifest = restore_backup(source=source, database_url=settings.database, data_dir=settings.data_dir)
    except BackupError as err:
        typer.echo(f"Restore failed: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Restored {source} ({manifest.data['created_at']}): {len(manifest.tables)} tables match the backup row "
               f"for row, {len(manifest.files)} files. Run `konbit db upgrade` if this Konbit is newer than the backup.")
