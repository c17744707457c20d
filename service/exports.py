"""Exports of the comments and of the audit log, as JSON Lines or CSV.

Rows are read in pages and written as they come, so an export of a large site
streams instead of filling memory. Times are given in the portal's zone
(``TIMEZONE``) with their offset. CSV is UTF-8 with a byte-order mark (so that
Excel shows Chinese right), and a cell that a spreadsheet would run as a
formula (starting with ``= + - @``) is prefixed with ``'``.

An export holds personal data (addresses, user agents, portal identities): it
is for admins only, and each one is written to the audit log.
"""

from __future__ import annotations

import csv
import enum
import io
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext
from sqlalchemy import Select, select
from sqlalchemy.orm import aliased

from .articles import check_key
from .audit_log import audit
from .errors import BadRequest
from .extensions import db
from .models import Article, AuditEntry, Comment, Moderator
from .templating import local

PAGE = 1000
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class Format(enum.StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


MEDIA_TYPES = {Format.JSONL: "application/x-ndjson", Format.CSV: "text/csv; charset=utf-8"}

COMMENT_FIELDS = [
    "id",
    "article",
    "article_title",
    "article_url",
    "parent_id",
    "root_id",
    "created_at",
    "status",
    "deleted_at",
    "author",
    "body",
    "likes",
    "moderated_at",
    "moderated_by",
    "reject_reason",
    "triage_reason",
    "author_identity",
    "remote_addr",
    "user_agent",
    "import_ref",
]
AUDIT_FIELDS = [
    "id",
    "created_at",
    "actor",
    "action",
    "comment_id",
    "from_status",
    "to_status",
    "detail",
    "batch",
]


def check_format(value: object) -> Format:
    try:
        return Format(str(value))
    except ValueError:
        raise BadRequest(lazy_gettext("The format must be jsonl or csv.")) from None


def parse_since(value: str | None) -> datetime | None:
    """``2026-11-01`` (from midnight in TIMEZONE) or an ISO time, as UTC; BadRequest if neither."""
    if not value or not value.strip():
        return None
    text = value.strip()[:40]
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), time(), zone)
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
    except ValueError:
        raise BadRequest(
            lazy_gettext("The date must look like 2026-11-28 (or 2026-11-28T08:00:00+08:00).")
        ) from None
    return moment.astimezone(UTC)


def when(moment: datetime | None) -> str | None:
    """A stored UTC time as ISO 8601 in the portal's zone, to the second."""
    return local(moment).isoformat(timespec="seconds") if moment is not None else None


def comments_query(article: str | None = None, since: datetime | None = None) -> Select[Any]:
    """Comments with their article and moderator, oldest first."""
    moderator = aliased(Moderator)
    query = (
        select(
            Comment,
            Article.key,
            Article.title,
            Article.url,
            moderator.username,
        )
        .join(Article, Comment.article_id == Article.id)
        .outerjoin(moderator, Comment.moderated_by_id == moderator.id)
        .order_by(Comment.id)
    )
    if article:
        query = query.where(Article.key == check_key(article))
    if since is not None:
        query = query.where(Comment.created_at >= since)
    return query


def comment_row(
    comment: Comment,
    key: str,
    title: str | None,
    url: str | None,
    moderated_by: str | None,
) -> dict[str, Any]:
    """Everything held about one comment, times in the portal's zone."""
    return {
        "id": comment.id,
        "article": key,
        "article_title": title,
        "article_url": url,
        "parent_id": comment.parent_id,
        "root_id": comment.root_id,
        "created_at": when(comment.created_at),
        "status": str(comment.status),
        "deleted_at": when(comment.deleted_at),
        "author": comment.author,
        "body": comment.body,
        "likes": comment.likes,
        "moderated_at": when(comment.moderated_at),
        "moderated_by": moderated_by,
        "reject_reason": comment.reject_reason,
        "triage_reason": comment.triage_reason,
        "author_identity": comment.author_identity,
        "remote_addr": comment.remote_addr,
        "user_agent": comment.user_agent,
        "import_ref": comment.import_ref,
    }


def comment_rows(query: Select[Any]) -> Iterator[dict[str, Any]]:
    result = db.session.execute(query.execution_options(yield_per=PAGE))
    for comment, key, title, url, moderated_by in result:
        yield comment_row(comment, key, title, url, moderated_by)
        db.session.expunge(comment)  # a long export must not keep every row in the session


def audit_rows(since: datetime | None = None) -> Iterator[dict[str, Any]]:
    """The audit log, oldest first; ``detail`` as the JSON it was written as."""
    query = select(AuditEntry).order_by(AuditEntry.id)
    if since is not None:
        query = query.where(AuditEntry.created_at >= since)
    for entry in db.session.execute(query.execution_options(yield_per=PAGE)).scalars():
        try:
            detail = json.loads(entry.detail) if entry.detail else None
        except ValueError:
            detail = entry.detail
        yield {
            "id": entry.id,
            "created_at": when(entry.created_at),
            "actor": entry.actor,
            "action": entry.action,
            "comment_id": entry.comment_id,
            "from_status": entry.from_status,
            "to_status": entry.to_status,
            "detail": detail,
            "batch": entry.batch,
        }
        db.session.expunge(entry)


def safe_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def as_jsonl(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    buffer: list[str] = []
    for row in rows:
        buffer.append(json.dumps(row, ensure_ascii=False) + "\n")
        if len(buffer) >= PAGE:
            yield "".join(buffer)
            buffer = []
    if buffer:
        yield "".join(buffer)


def as_csv(rows: Iterable[dict[str, Any]], fields: list[str]) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    out.write("\ufeff")
    writer.writerow(fields)
    for count, row in enumerate(rows, 1):
        writer.writerow([safe_cell(row[name]) for name in fields])
        if count % PAGE == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def render(fmt: Format, rows: Iterable[dict[str, Any]], fields: list[str]) -> Iterator[str]:
    return as_csv(rows, fields) if fmt == Format.CSV else as_jsonl(rows)


def export_comments(
    fmt: Format,
    article: str | None = None,
    since: datetime | None = None,
    by: Moderator | None = None,
) -> Iterator[str]:
    """The comments (of one article, since a time) as text chunks; the export is audited.

    The query is checked and the audit entry committed before the first chunk,
    so a bad filter is an error, never a half-written file.
    """
    query = comments_query(article, since)
    audit("export", by, detail=_what("comments", fmt, article, since))
    db.session.commit()
    return render(fmt, comment_rows(query), COMMENT_FIELDS)


def export_audit(
    fmt: Format, since: datetime | None = None, by: Moderator | None = None
) -> Iterator[str]:
    """The audit log (since a time) as text chunks; the export itself is audited first."""
    audit("export", by, detail=_what("audit", fmt, None, since))
    db.session.commit()
    return render(fmt, audit_rows(since), AUDIT_FIELDS)


def _what(data: str, fmt: Format, article: str | None, since: datetime | None) -> dict[str, Any]:
    detail: dict[str, Any] = {"data": data, "format": fmt.value}
    if article:
        detail["article"] = article
    if since is not None:
        detail["since"] = when(since)
    return detail


def file_name(data: str, extension: str, now: datetime | None = None) -> str:
    """``comments-20261202-093000.csv``: what the export holds and when it was made."""
    stamp = local(now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{data}-{stamp}.{extension}"
