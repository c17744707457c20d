"""The moderation JSON API under /api/v1/mod, for the portal's CMS (Bearer tokens)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue

from .. import auth, moderation
from ..errors import BadRequest, NotFound
from ..models import Comment
from ..queue import Queue, QueueFilter, list_queue, queue_counts
from ..templating import local
from .api import json_body

bp = Blueprint("mod_api", __name__, url_prefix="/api/v1/mod")


@bp.before_request
def require_token() -> None:
    """Every call needs ``Authorization: Bearer <token>`` of an active moderator."""
    g.moderator = auth.moderator_for_token(request.headers.get("Authorization"))


def moderation_json(comment: Comment, ip_summary: dict[str, dict[str, int]]) -> dict[str, Any]:
    """A comment as moderators see it, with the sender's IP and history."""
    return {
        "id": comment.id,
        "article": comment.article.key,
        "article_title": comment.article.title,
        "article_url": comment.article.url,
        "author": comment.author,
        "body": comment.body,
        "status": str(comment.status),
        "deleted": comment.deleted_at is not None,
        "created_at": local(comment.created_at).isoformat(),
        "reply_to": comment.parent_id,
        "remote_addr": comment.remote_addr,
        "region": comment.region,
        "author_identity": comment.author_identity,
        "author_identity_name": comment.author_identity_name,
        "user_agent": comment.user_agent,
        "triage_reason": comment.triage_reason,
        "open_reports": comment.open_reports,
        "ip_history": ip_summary.get(comment.remote_addr or "", {}),
    }


@bp.get("/comments")
def list_comments() -> ResponseReturnValue:
    """One page of a moderation queue (?status=pending|reported|approved|rejected|spam|deleted)."""
    try:
        queue = Queue(request.args.get("status", "pending"))
    except ValueError:
        raise BadRequest() from None
    f = QueueFilter.from_args(queue, request.args)
    page = list_queue(f)
    return jsonify(
        status=queue.value,
        total=page.total,
        page=f.page,
        pages=page.pages,
        counts={q.value: n for q, n in queue_counts().items()},
        comments=[moderation_json(c, page.ip_summary) for c in page.items],
    )


@bp.post("/comments/<int:comment_id>/<action>")
def act(comment_id: int, action: str) -> ResponseReturnValue:
    """Apply approve|reject|spam|delete|restore to one comment."""
    try:
        chosen = moderation.Action(action)
    except ValueError:
        raise NotFound() from None
    body = json_body() if request.content_length else {}
    reason = body.get("reason")
    comment = moderation.apply(
        comment_id,
        chosen,
        by=g.moderator,
        reason=reason[:200] if isinstance(reason, str) else None,
        expected=moderation.check_expected(body.get("expected_status")),
    )
    return jsonify(
        id=comment.id, status=str(comment.status), deleted=comment.deleted_at is not None
    )
