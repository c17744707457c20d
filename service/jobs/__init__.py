"""The job queue: work that must not run inside a reader's or moderator's request.

A huey queue per app, on SQLite (``instance/jobs.db``, the embedded default)
or on Redis when ``COMMENTS_REDIS_URL`` (or ``COMMENTS_JOBS_URL``) is set.
Start its worker with ``flask --app wsgi jobs run`` (``make run`` does).

Requests only enqueue, and only after their transaction commits: a session
listener turns what ``service.notify.changes`` recorded into stored
notifications just before the commit (same transaction), then queues their
delivery (and, for new pending comments, a digest) once it has committed. If
the queue cannot be reached the request still succeeds: the rows wait in the
database and the minutely sweeper queues them.
"""

from __future__ import annotations

from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from .. import notify
from ..notify import changes
from .cli import jobs_group
from .queue import EXTENSION_KEY, JobQueue, queue_of
from .storage import jobs_url
from .tasks import run_retention

__all__ = ["JobQueue", "init_app", "queue_of", "run_retention"]


# --- the session listeners (one set per process, for every app) ------------------------


def _before_commit(session: Session) -> None:
    """Store the count-change notifications in the transaction that changed the counts."""
    article_ids = session.info.pop(changes.COUNT_CHANGED, None)
    if article_ids and has_app_context() and EXTENSION_KEY in current_app.extensions:
        notify.record_count_changes(article_ids)


def _after_commit(session: Session) -> None:
    """Queue what the committed transaction stored or asked for."""
    delivery_ids = session.info.pop(changes.DELIVERIES, None)
    pending = session.info.pop(changes.PENDING_ADDED, None)
    if not (delivery_ids or pending) or not has_app_context():
        return
    queue = current_app.extensions.get(EXTENSION_KEY)
    if queue is None:
        return
    if delivery_ids:
        queue.send(delivery_ids)
    if pending and notify.settings().pending_channels():
        queue.ask_digest()


def _after_rollback(session: Session) -> None:
    for key in changes.KEYS:
        session.info.pop(key, None)


_hooks_installed = False


def _install_session_hooks() -> None:
    global _hooks_installed
    if not _hooks_installed:
        event.listen(Session, "before_commit", _before_commit)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _after_rollback)
        _hooks_installed = True


def init_app(app: Flask) -> None:
    """Check the notification settings, build the app's queue, add the ``jobs`` commands."""
    notify.init_app(app)
    app.extensions[EXTENSION_KEY] = JobQueue(app, jobs_url(app.config, app.instance_path))
    _install_session_hooks()
    app.cli.add_command(jobs_group)
