"""The ``konbit`` command."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import typer

from .cli_campaigns import campaigns_app
from .cli_surveys import surveys_app
from .settings import SettingsError, get_settings

app = typer.Typer(help="Konbit: counter-trafficking BCC campaigns: plan and deliver, measure, evaluate.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(surveys_app, name="surveys")
app.add_typer(campaigns_app, name="campaigns")


def _settings():
    try:
        return get_settings()
    except SettingsError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from None


def _engine():
    from .db import make_engine  # noqa: PLC0415

    return make_engine(_settings().database)


def _checked_engine():
    from .db import SchemaBehind, check_schema  # noqa: PLC0415

    engine = _engine()
    try:
        check_schema(engine)
    except SchemaBehind as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(1) from None
    return engine


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the database to the latest schema (or REVISION)."""
    from alembic import command  # noqa: PLC0415

    from .db import alembic_config  # noqa: PLC0415

    settings = _settings()
    command.upgrade(alembic_config(settings.database), revision)
    typer.echo(f"Database at {revision} ({settings.database.split('@')[-1]}).")


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. -1 or base.")) -> None:
    """Step the schema back (this can drop data)."""
    from alembic import command  # noqa: PLC0415

    from .db import alembic_config  # noqa: PLC0415

    command.downgrade(alembic_config(_settings().database), revision)


@db_app.command("current")
def db_current() -> None:
    """Show the database's schema revision and the code's."""
    from .db import schema_revisions  # noqa: PLC0415

    current, head = schema_revisions(_engine())
    typer.echo(f"database: {current or 'empty'}\ncode:     {head}")
    if current != head:
        typer.echo("Run `konbit db upgrade`.")
        raise typer.Exit(1)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes (use about one per core on a server)."),
    log_level: str = typer.Option("info", help="critical, error, warning, info or debug."),
    with_scheduler: bool = typer.Option(False, "--with-scheduler",
                                        help="Also run the delivery scheduler and one dispatch worker (single machine)."),
) -> None:
    """Serve the web app and the API."""
    import contextlib  # noqa: PLC0415

    settings = _settings()
    engine = _checked_engine()
    typer.echo(f"Konbit on http://{host}:{port}  (database: {engine.url.get_backend_name()}, workers: {workers})")
    if with_scheduler:
        from .cli_delivery import Embedded  # noqa: PLC0415

        embedded = Embedded(engine, settings)
    with embedded if with_scheduler else contextlib.nullcontext():
        _serve(settings, engine, host, port, workers, log_level)


def _serve(settings, engine, host: str, port: int, workers: int, log_level: str) -> None:
    import uvicorn  # noqa: PLC0415

    from .app import create_app  # noqa: PLC0415

    if workers == 1:
        uvicorn.run(create_app(settings, engine=engine), host=host, port=port, proxy_headers=True, log_level=log_level)
    else:  # each worker process builds its own app and engine from the same KONBIT_* settings
        engine.dispose()
        uvicorn.run("web.app:create_app", factory=True, workers=workers, host=host, port=port, proxy_headers=True,
                    log_level=log_level)


def _read_password(prompt: str) -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(f"{prompt}: ")
        if getpass.getpass("Again: ") != first:
            typer.echo("The two passwords differ.", err=True)
            raise typer.Exit(2)
        return first
    return sys.stdin.readline().rstrip("\r\n")


@users_app.command("add")
def users_add(
    username: str,
    role: str = typer.Option(..., help="admin, communications, enumerator, supervisor or lead."),
    full_name: str = typer.Option("", help="Full name."),
    email: str = typer.Option("", help="E-mail address."),
) -> None:
    """Create a user; the password is read from standard input, or prompted for on a terminal."""
    from pydantic import ValidationError  # noqa: PLC0415
    from sqlmodel import Session  # noqa: PLC0415

    from .accounts.models import UserCreate  # noqa: PLC0415
    from .accounts.service import AccountError, create_user  # noqa: PLC0415

    password = _read_password(f"Password for {username}")
    try:
        data = UserCreate(username=username, role=role, full_name=full_name, email=email, password=password)
    except ValidationError as exc:
        for e in exc.errors():
            typer.echo(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}", err=True)
        raise typer.Exit(2) from None
    with Session(_checked_engine()) as session:
        try:
            user = create_user(session=session, user_create=data, actor=None, ip="cli")
        except AccountError as err:
            typer.echo(f"{err.field}: {err.message}", err=True)
            raise typer.Exit(2) from None
        session.commit()
        typer.echo(f"Created {user.username} ({user.role.value}), id {user.id}.")


@users_app.command("list")
def users_list() -> None:
    """List users."""
    from sqlmodel import Session, select  # noqa: PLC0415

    from .accounts.models import User  # noqa: PLC0415

    with Session(_checked_engine()) as session:
        users = session.exec(select(User).order_by(User.username)).all()
        typer.echo(f"{'id':>4}  {'username':<20} {'role':<15} {'active':<7} last login")
        for u in users:
            last = u.last_login_at.strftime("%Y-%m-%d %H:%M") if u.last_login_at else "-"
            typer.echo(f"{u.id:>4}  {u.username:<20} {u.role.value:<15} {'yes' if u.is_active else 'no':<7} {last}")


@app.command()
def demo(
    logins_file: Path = typer.Option(None, help="Where to keep the demo logins (default: DATA_DIR/demo-logins.txt)."),
) -> None:
    """Load realistic demo data. Running it again adds nothing twice."""
    from sqlmodel import Session  # noqa: PLC0415

    from .demo import load_demo  # noqa: PLC0415

    settings = _settings()
    path = logins_file or settings.data_dir / "demo-logins.txt"
    with Session(_checked_engine()) as session:
        report = load_demo(session=session, logins_file=path)
        session.commit()
    for line in report:
        typer.echo(line)


from . import cli_analysis  # noqa: E402,F401  (registers `konbit analyze` and `konbit power`)
from . import cli_survey_data  # noqa: E402,F401  (registers `konbit surveys import-responses`)
from . import cli_backup  # noqa: E402,F401  (registers `konbit backup` and `konbit restore`)
from . import cli_delivery  # noqa: E402,F401  (registers `konbit scheduler` and `konbit worker`)

if __name__ == "__main__":  # `python -m web.cli`: the commands above register on the module `web.cli`, not `__main__`
    from web.cli import app as _registered

    _registered()
