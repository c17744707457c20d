"""The public JSON API under /api/v1: counts, comments and its OpenAPI document."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext
from werkzeug.exceptions import UnsupportedMediaType

from .. import comments, likes, moderation, pagecache
from ..articles import check_key
from ..errors import BadRequest, ValidationFailed
from ..fastcounts import fragment_html
from ..limits import free_attempt, like_limit, post_limit
from ..openapi import openapi_document
from ..params import check_public_page, check_sort
from ..request_origin import check_allowed_origin
from ..templating import local

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 415/400 that says what is wrong."""
    if not request.is_json:
        raise UnsupportedMediaType()
    try:
        data = json.loads(request.get_data(cache=True))  # UTF-8, or UTF-16/32 by RFC 4627
        # "\ud800" escapes decode to lone surrogates, which no database can store.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError):  # UnicodeError is a ValueError
        raise BadRequest(lazy_gettext("The body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise BadRequest(lazy_gettext("The body must be a JSON object."))
    return data


def counts_response(keys: list[str]) -> Response:
    response = jsonify(counts=comments.count_comments(keys))
    response.headers["Cache-Control"] = f"public, max-age={current_app.config['PUBLIC_MAX_AGE']}"
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/counts")
def counts() -> ResponseReturnValue:
    """Approved-comment counts for ?article=a&article=b."""
    return counts_response(comments.check_count_keys(request.args.getlist("article")))


@bp.post("/counts")
def counts_post() -> ResponseReturnValue:
    """The same counts for {"articles": [...]}, for long key lists."""
    return counts_response(comments.check_count_keys(json_body().get("articles", [])))


@bp.get("/counts.html")
def counts_fragment() -> ResponseReturnValue:
    """One article's count as an HTML fragment, for portals that include it server-side."""
    keys = comments.check_count_keys(request.args.getlist("article"))
    if len(keys) != 1:
        raise BadRequest(lazy_gettext("The fragment is for exactly one article."))
    html = fragment_html(keys[0], comments.count_comments(keys)[keys[0]])
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = f"public, max-age={current_app.config['PUBLIC_MAX_AGE']}"
    response.add_etag()
    return response.make_conditional(request)


def comment_json(comment: Any) -> dict[str, Any]:
    """A published comment as the public sees it: no IP, no user agent, no portal user.

    A quoted comment that is no longer public keeps its id but loses its text.
    ``region`` (IP 属地) is null when unknown or when SHOW_REGION is off.
    """
    parent = comment.parent
    reply_to = None
    if parent is not None:
        visible = parent.is_public
        reply_to = {
            "id": parent.id,
            "author": parent.author if visible else "",
            "body": parent.body if visible else "",
        }
    return {
        "id": comment.id,
        "author": comment.author,
        "body": comment.body,
        "created_at": local(comment.created_at).isoformat(),
        "likes": comment.likes,
        "reply_to": reply_to,
        "region": comment.region if current_app.config["SHOW_REGION"] else None,
    }


@bp.get("/articles/<article>/comments")
def list_comments(article: str) -> ResponseReturnValue:
    """One page of an article's approved comments, newest first."""
    key = check_key(article)
    number = check_public_page(request.args.get("page"))
    sort = check_sort(request.args.get("sort"))

    def render() -> bytes:
        page = comments.list_comments(key, number, sort)
        return jsonify(
            article=page.article_key,
            title=page.title,
            closed=page.closed,
            total=page.total,
            page=page.page,
            pages=page.pages,
            per_page=page.per_page,
            comments=[comment_json(c) for c in page.comments],
        ).get_data()

    # The same answer for everyone until the article changes: kept by this worker.
    response = pagecache.cached_response("comments", key, render, "application/json")
    response.headers["Cache-Control"] = f"public, max-age={current_app.config['PUBLIC_MAX_AGE']}"
    return response.make_conditional(request)


@bp.post("/articles/<article>/comments")
@post_limit
def post_comment(article: str) -> ResponseReturnValue:
    """Submit a comment; it waits for a moderator (202 pending)."""
    key = check_key(article)
    submission = comments.Submission.from_fields(
        key, json_body(), request.remote_addr, request.headers.get("User-Agent")
    )
    try:
        posted = comments.post_comment(submission)
    except ValidationFailed as error:
        free_attempt(error)
        raise
    # Anything not published reads "pending": a spammer must not learn he was caught.
    status = "approved" if posted.comment.is_public else "pending"
    # owner_key lets this browser show the comment as 审核中 and withdraw it.
    return jsonify(id=posted.comment.id, status=status, owner_key=posted.owner_key), 202


@bp.post("/articles/<article>/comments/own")
def own_comments(article: str) -> ResponseReturnValue:
    """The state of the caller's own comments (each comment's key, or the portal identity)."""
    body = json_body()
    found = comments.own_comments(check_key(article), body.get("comments"), body.get("identity"))
    response = jsonify(comments=[own_json(own) for own in found])
    response.headers["Cache-Control"] = "no-store"
    return response


def own_json(own: comments.OwnComment) -> dict[str, Any]:
    """One own comment's state; with its text when the identity found it (another device)."""
    data: dict[str, Any] = {"id": own.id, "status": own.status}
    if own.comment is not None:
        data.update(
            author=own.comment.author,
            body=own.comment.body,
            created_at=local(own.comment.created_at).isoformat(),
            reply_to=own.comment.parent_id,
        )
    return data


@bp.delete("/articles/<article>/comments/<int:comment_id>")
def withdraw_comment(article: str, comment_id: int) -> ResponseReturnValue:
    """The author withdraws their comment while it is still awaiting review."""
    comment = moderation.withdraw(comment_id, check_key(article), json_body().get("key"))
    return jsonify(id=comment.id, deleted=True)


@bp.post("/articles/<article>/comments/<int:comment_id>/like")
@like_limit
def like_comment(article: str, comment_id: int) -> ResponseReturnValue:
    """赞 a published comment: once per reader, a few times per address.

    Only as JSON, so that a browser asks before another origin's page sends it
    (a CORS preflight, answered for ALLOWED_ORIGINS only), and only from those.
    """
    check_allowed_origin()
    if not request.is_json:
        raise UnsupportedMediaType()
    reader = likes.reader_from_cookie(request.cookies.get(likes.COOKIE))
    count, counted = likes.like(check_key(article), comment_id, reader, request.remote_addr)
    response = jsonify(id=comment_id, likes=count, liked=counted)
    if reader is None:
        # Remembered where the browser allows it; blocked third-party cookies fall back to IP.
        response.set_cookie(
            likes.COOKIE,
            likes.new_reader_cookie(),
            max_age=365 * 24 * 3600,
            httponly=True,
            secure=request.is_secure,
            samesite="None" if request.is_secure else "Lax",
        )
    return response


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    """The OpenAPI 3.1 document of this API."""
    return jsonify(openapi_document())
