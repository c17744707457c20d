"""Reading the audit log (writing it is moderation.audit, inside each change)."""

from __future__ import annotations

from dataclasses import dataclass

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import select

from .extensions import db
from .models import AuditEntry


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
