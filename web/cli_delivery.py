"""``konbit scheduler`` and ``konbit worker``: the delivery side's long-running processes."""

from __future__ import annotations

import logging
import signal

import typer

from .cli import _checked_engine, _settings, app


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
def worker(
    batch: int = typer.Option(None, min=1, max=10_000, help="Rows claimed at a time (default KONBIT_DELIVERY_BATCH)."),
    until_idle: bool = typer.Option(False, "--until-idle", help="Exit once nothing is queued or in flight."),
    name: str = typer.Option("", help="This worker's name in the delivery log (default host:pid)."),
    log_level: str = typer.Option("info", help="critical, error, warning, info or debug."),
) -> None:
    """Send the outbox: claim due deliveries, send them, record what happened. Run as many as you like.

    SIGTERM (or Ctrl-C) finishes the messages in hand and stops.
    """
    from campaign.dispatch import Worker, WorkerConfig  # noqa: PLC0415

    _logging(log_level)
    settings = _settings()
    engine = _checked_engine()
    runner = Worker(engine, WorkerConfig.from_settings(settings, batch=batch), name=name)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: runner.stop())
    typer.echo(f"Konbit worker {runner.name} (database: {engine.url.get_backend_name()})")
    runner.run(until_idle=until_idle)
    typer.echo(f"Stopped: {runner.sent} sent, {runner.failed} failed.")


@app.command()
def scheduler(
    name: str = typer.Option("", help="This scheduler's name in the lease (default host:pid)."),
    log_level: str = typer.Option("info", help="critical, error, warning, info or debug."),
) -> None:
    """Put due occurrences into the outbox every KONBIT_SCHEDULER_TICK_SECONDS.

    Run one or more: one acts, the others wait as standbys and take over when it dies.
    """
    from campaign.jobs import Scheduler  # noqa: PLC0415

    _logging(log_level)
    settings = _settings()
    engine = _checked_engine()
    runner = Scheduler(engine, settings, name=name, blocking=True)

    def stop(*_):
        runner._scheduler.shutdown(wait=False)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    typer.echo(f"Konbit scheduler {runner.leader.name} (database: {engine.url.get_backend_name()}, "
               f"tick {settings.scheduler_tick_seconds:g} s, grace {settings.delivery_grace_seconds} s)")
    runner.start()  # blocks until a signal
    runner.shutdown()
    typer.echo("Scheduler stopped.")


class Embedded:
    """The scheduler and one worker thread inside ``konbit serve --with-scheduler``."""

    def __init__(self, engine, settings):
        import threading  # noqa: PLC0415

        from campaign.dispatch import Worker, WorkerConfig  # noqa: PLC0415
        from campaign.jobs import Scheduler  # noqa: PLC0415

        self.scheduler = Scheduler(engine, settings)
        self.worker = Worker(engine, WorkerConfig.from_settings(settings))
        self.thread = threading.Thread(target=self.worker.run, name="konbit-worker", daemon=True)

    def __enter__(self):
        # uvicorn re-raises the SIGTERM it handled once it has shut down: let that return here, so
        # the worker finishes the messages in hand and the scheduler gives up its lead.
        signal.signal(signal.SIGTERM, lambda *_: None)
        self.scheduler.start()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.worker.stop()
        self.thread.join(timeout=60)
        self.scheduler.shutdown()
