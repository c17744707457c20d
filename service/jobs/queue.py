"""An app's job queue: its huey instance, its tasks, and the ways requests use them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from flask import Flask, current_app
from huey import Huey
from huey.consumer import Consumer

from .storage import describe, make_huey
from .tasks import Tasks, register

log = logging.getLogger(__name__)

EXTENSION_KEY = "comments_jobs"
# A burst of new pending comments asks for one digest run, not one per comment:
# the digest lists every comment past its cursor, and the minutely run follows.
DIGEST_DEBOUNCE = 1.0


class JobQueue:
    """An app's queue: its huey instance, its tasks, and the ways requests use them."""

    def __init__(self, app: Flask, url: str, consumer: bool = False) -> None:
        self.app = app
        self.url = url
        self.huey: Huey = make_huey(url, consumer=consumer)
        self.tasks: Tasks = register(self.huey, app)
        self._digest_asked = 0.0
        self._lock = threading.Lock()

    @property
    def storage(self) -> str:
        return describe(self.url)

    def send(self, delivery_ids: Iterable[int]) -> None:
        """Queue the delivery of stored notifications (the sweeper covers a failure)."""
        ids = list(delivery_ids)
        try:
            if len(ids) == 1:
                self.tasks.deliver(ids[0])
            else:  # one enqueue however many notifications the commit stored
                self.tasks.deliver_each(ids)
        except Exception as error:  # noqa: BLE001 - the request must not fail for this
            log.warning(
                "job queue (%s) unavailable (%s); %d notifications wait for the sweeper",
                self.storage,
                type(error).__name__,
                len(ids),
            )

    def ask_digest(self) -> None:
        """Queue a digest run soon, at most once a second per process."""
        with self._lock:
            now = time.monotonic()
            if now - self._digest_asked < DIGEST_DEBOUNCE:
                return
            self._digest_asked = now
        try:
            self.tasks.digest()
        except Exception as error:  # noqa: BLE001 - the minutely run sends it anyway
            log.warning(
                "job queue (%s) unavailable (%s); the digest waits for the minutely run",
                self.storage,
                type(error).__name__,
            )

    def consumer_huey(self) -> Huey:
        """The huey instance a consumer reads: its own connections, with a consumer's
        timeouts (the same instance for ``memory://``, which lives in this process only)."""
        if self.url == "memory://":
            return self.huey
        return JobQueue(self.app, self.url, consumer=True).huey

    def consumer(self, workers: int = 2, periodic: bool = True, **options: object) -> Consumer:
        """A huey consumer for this app's jobs (``jobs run``)."""
        settings = {"worker_type": "thread", "max_delay": 1.0, **options}
        return self.consumer_huey().create_consumer(workers=workers, periodic=periodic, **settings)


def queue_of(app: Flask | None = None) -> JobQueue:
    return (app or current_app).extensions[EXTENSION_KEY]
