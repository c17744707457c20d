"""``flask --app wsgi jobs run|status|digest|sweep``: the job queue from the shell."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from .. import notify
from .queue import queue_of
from .tasks import run_retention


@click.group("jobs", cls=AppGroup)
def jobs_group() -> None:
    """Run and inspect the job queue (notifications and periodic work)."""


@jobs_group.command("run")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--no-periodic",
    is_flag=True,
    help="Leave the periodic jobs to another worker (run exactly one with them).",
)
def run_command(workers: int, no_periodic: bool) -> None:
    """Run the worker until Ctrl-C or SIGTERM (it finishes the jobs it has started)."""
    queue = queue_of()
    click.echo(f"jobs worker on {queue.storage}: {workers} threads", err=True)
    queue.consumer(workers=workers, periodic=not no_periodic).run()


@jobs_group.command("status")
def status_command() -> None:
    """Jobs waiting in the queue, and notifications by status."""
    queue = queue_of()
    huey = queue.huey
    click.echo(f"storage\t{queue.storage}")
    click.echo(f"queued\t{huey.pending_count()}")
    click.echo(f"scheduled\t{huey.scheduled_count()}")
    for status, count in notify.counts_by_status().items():
        click.echo(f"notifications {status}\t{count}")


@jobs_group.command("digest")
def digest_command() -> None:
    """Store the digests that are due now (a worker sends them)."""
    click.echo(f"{len(notify.run_digests())} digests queued")


@jobs_group.command("retention")
def retention_command() -> None:
    """Run the retention job now (when service.retention is installed)."""
    result = run_retention(current_app._get_current_object())  # type: ignore[attr-defined]
    click.echo("retention: " + ("not installed" if result is None else str(result)))
