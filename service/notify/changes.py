"""What a transaction changed that people outside may want to hear about.

``service.moderation`` calls these inside its transaction (one line each);
``service.jobs`` reads them when that transaction commits and turns them into
notifications, and forgets them when it rolls back. Nothing here touches the
database or the network, so the moderation path stays as fast as it was.
"""

from __future__ import annotations

from ..extensions import db

# Keys in the session's ``info`` dictionary (it lives as long as the session).
COUNT_CHANGED = "notify.count_changed"  # set of article ids
PENDING_ADDED = "notify.pending_added"  # True when a comment now waits for review
DELIVERIES = "notify.deliveries"  # ids of notifications stored, to send after commit
KEYS = (COUNT_CHANGED, PENDING_ADDED, DELIVERIES)


def count_changed(article_id: int) -> None:
    """An article's approved count changes in the current transaction."""
    db.session.info.setdefault(COUNT_CHANGED, set()).add(article_id)


def pending_added() -> None:
    """A new comment waits for review in the current transaction."""
    db.session.info[PENDING_ADDED] = True


def delivery_created(delivery_id: int) -> None:
    """A notification is stored in the current transaction: send it once that commits."""
    db.session.info.setdefault(DELIVERIES, []).append(delivery_id)
