"""The jobs, registered on each app's huey instance, each run inside an app context.

Periodic jobs (run by the consumer started without ``--no-periodic``), in UTC:

- every minute: the digests that are due, and re-queueing notifications whose
  job was lost (the sweeper);
- every 10 minutes: spent captcha records past their lifetime;
- 19:23 UTC (03:23 in Beijing): the retention job, when ``service.retention``
  is installed;
- 19:41 UTC: delivered and failed notifications older than 30 days.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from huey import Huey, crontab
from huey.api import TaskWrapper

from .. import captcha, notify

log = logging.getLogger(__name__)

RETENTION_MODULE = "service.retention"


@dataclass(frozen=True)
class Tasks:
    deliver: TaskWrapper
    deliver_each: TaskWrapper
    digest: TaskWrapper
    minutely: TaskWrapper
    purge_captchas: TaskWrapper
    retention: TaskWrapper
    purge_notifications: TaskWrapper


def run_retention(app: Flask, now: datetime | None = None) -> Any:
    """``service.retention.run_retention(now)`` inside the app (imported when run)."""
    module = importlib.import_module(RETENTION_MODULE)
    with app.app_context():
        result = module.run_retention(now or datetime.now(UTC))
    log.info("retention job done: %s", result)
    return result


def register(huey: Huey, app: Flask) -> Tasks:
    """Define this app's jobs on ``huey`` (names are the same in every process)."""

    @huey.task(name="notify.deliver")
    def deliver(delivery_id: int) -> None:
        """One attempt at one notification; schedules the next if it failed."""
        with app.app_context():
            outcome = notify.deliver(delivery_id)
        if outcome.retry_in is not None:
            try:
                deliver.schedule((delivery_id,), delay=outcome.retry_in)
            except Exception:  # the sweeper re-queues it within a minute
                log.exception("could not schedule the next attempt of notification %d", delivery_id)

    @huey.task(name="notify.deliver_each")
    def deliver_each(delivery_ids: list[int]) -> None:
        """One job per notification, queued from here: a request queues one job in all."""
        for delivery_id in delivery_ids:
            deliver(delivery_id)

    @huey.task(name="notify.digest")
    def digest() -> None:
        """Digests of new pending comments, for the channels that are due."""
        with app.app_context():
            notify.run_digests()

    @huey.periodic_task(crontab(minute="*"), name="notify.minutely")
    def minutely() -> None:
        """Due digests, and notifications whose job was lost."""
        with app.app_context():
            notify.run_digests()
            lost = notify.overdue()
        for delivery_id in lost:
            deliver(delivery_id)
        if lost:
            log.warning("re-queued %d notifications whose job was lost", len(lost))

    @huey.periodic_task(crontab(minute="*/10"), name="captcha.purge")
    def purge_captchas() -> None:
        with app.app_context():
            purged = captcha.purge_spent()
        log.info("purged %d spent captchas", purged)

    @huey.periodic_task(crontab(minute="23", hour="19"), name="retention")
    def retention() -> None:
        run_retention(app)

    @huey.periodic_task(crontab(minute="41", hour="19"), name="notify.purge")
    def purge_notifications() -> None:
        with app.app_context():
            purged = notify.purge_settled()
        log.info("purged %d settled notifications older than 30 days", purged)

    return Tasks(
        deliver, deliver_each, digest, minutely, purge_captchas, retention, purge_notifications
    )
