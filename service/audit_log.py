"""The audit log: who did what and when. ``audit()`` writes an entry inside the
caller's transaction; the rest reads the log for the admin pages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import select

from .extensions import db
from .models import AuditEntry, Comment, Moderator, State

SYSTEM = "system"


def actor_name(by: Moderator | None) -> str:
    """The name an entry is recorded under: the moderator, or "system" for automatic steps."""
    return by.username if by is not None else SYSTEM


def audit(
    action: str,
    by: Moderator | None,
    comment: Comment | None = None,
    before: State | None = None,
    after: State | None = None,
    detail: dict[str, Any] | None = None,
    batch: str | None = None,
) -> None:
    """Add an audit entry to the current transaction (the caller commits)."""

    def label(state: State | None) -> str | None:
        return state.label if state is not None else None

    db.session.add(
        AuditEntry(
            moderator_id=by.id if by is not None else None,
            actor=actor_name(by),
            action=action,
            comment_id=comment.id if comment is not None else None,
            from_status=label(before),
            to_status=label(after),
            detail=json.dumps(detail, ensure_ascii=False) if detail else None,
            batch=batch,
        )
    )


@dataclass
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    comment_id: int | None = None
    page: int = 1


def list_entries(f: AuditFilter, per_page: int = 100) -> Pagination:
    """Newest first, filtered by who, what and which comment."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    if f.actor:
        query = query.where(AuditEntry.actor == f.actor)
    if f.action:
        query = query.where(AuditEntry.action == f.action)
    if f.comment_id:
        query = query.where(AuditEntry.comment_id == f.comment_id)
    return db.paginate(query, page=f.page, per_page=per_page, max_per_page=200, error_out=False)


def known_actions() -> list[str]:
    return list(
        db.session.execute(
            select(AuditEntry.action).distinct().order_by(AuditEntry.action)
        ).scalars()
    )
