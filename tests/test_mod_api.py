"""The moderation JSON API under /api/v1/mod, for the portal's CMS (Bearer tokens)."""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import MODERATOR, csrf_token
from werkzeug.test import TestResponse

from service import auth, moderation
from service.extensions import db
from service.models import ApiToken, AuditEntry, Comment, Status

ARTICLE = "67584"
NEW_TOKEN = re.compile(r'<code class="token" id="new-token">([^<]+)</code>')
MODERATION_FIELDS = {
    "id",
    "article",
    "article_title",
    "article_url",
    "author",
    "body",
    "status",
    "deleted",
    "created_at",
    "reply_to",
    "remote_addr",
    "region",
    "author_identity",
    "author_identity_name",
    "user_agent",
    "triage_reason",
    "open_reports",
    "ip_history",
}


# --- helpers and fixtures -------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unauthorized(response: TestResponse) -> bool:
    return (
        response.status_code == 401
        and response.is_json
        and response.get_json()["error"]["code"] == "unauthorized"
    )


def comment_row(app: Flask, comment_id: int) -> Comment:
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        assert comment is not None
        db.session.expunge(comment)
        return comment


@pytest.fixture
def token(app: Flask, moderator: str) -> str:
    with app.app_context():
        found = auth.find_moderator(moderator)
        assert found is not None
        return auth.create_token(found, "CMS 后台")


@pytest.fixture
def api(client: FlaskClient, token: str) -> Callable[..., TestResponse]:
    """Call the moderation API with the moderator's token: api("GET", "/comments", ...)."""

    def call(method: str, path: str, **kwargs: Any) -> TestResponse:
        return client.open(f"/api/v1/mod{path}", method=method, headers=bearer(token), **kwargs)

    return call


# --- authentication ---------------------------------------------------------------------


def revoke(app: Flask, token: str) -> None:
    with app.app_context():
        row = db.session.execute(
            db.select(ApiToken).filter_by(token_hash=hashlib.sha256(token.encode()).hexdigest())
        ).scalar_one()
        auth.revoke_token(row.id, row.moderator)


def disable(app: Flask, token: str) -> None:
    with app.app_context():
        auth.set_active(MODERATOR, False)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer cmt_not-a-real-token"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic eGlhb3dhbmc6cGFzc3dvcmQ="},
    ],
    ids=["missing", "wrong", "empty", "basic"],
)
def test_requests_without_a_valid_token_are_401(client, token, headers):
    response = client.get("/api/v1/mod/comments", headers=headers)

    assert unauthorized(response)


def test_the_token_without_bearer_is_401(client, token):
    assert unauthorized(client.get("/api/v1/mod/comments", headers={"Authorization": token}))


@pytest.mark.parametrize("spoil", [revoke, disable], ids=["revoked", "moderator-disabled"])
def test_a_spoilt_token_stops_working(app, client, token, spoil):
    assert client.get("/api/v1/mod/comments", headers=bearer(token)).status_code == 200

    spoil(app, token)

    assert unauthorized(client.get("/api/v1/mod/comments", headers=bearer(token)))


def test_actions_need_a_token_too(app, client, pending):
    comment = pending(body="没有令牌的请求")

    response = client.post(f"/api/v1/mod/comments/{comment}/approve")

    assert unauthorized(response)
    assert comment_row(app, comment).status == Status.PENDING


# --- tokens from the dashboard ----------------------------------------------------------------


def test_token_created_in_dashboard_is_shown_once(app, mod_client):
    response = mod_client.post(
        "/mod/tokens", data={"csrf_token": csrf_token(mod_client), "name": "内容管理系统"}
    )

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    found = NEW_TOKEN.search(response.get_data(as_text=True))
    assert found
    new_token = html.unescape(found.group(1))
    assert new_token.startswith("cmt_")
    later = mod_client.get("/mod/tokens").get_data(as_text=True)
    assert "内容管理系统" in later
    assert new_token not in later
    assert 'id="new-token"' not in later
    api_call = mod_client.get("/api/v1/mod/comments", headers=bearer(new_token))
    assert api_call.status_code == 200


def test_token_creation_needs_csrf(app, mod_client):
    response = mod_client.post("/mod/tokens", data={"name": "偷偷建的"})

    assert response.status_code == 400
    with app.app_context():
        assert db.session.execute(db.select(ApiToken)).scalars().all() == []


def test_only_a_hash_of_the_token_is_stored(app, token):
    with app.app_context():
        rows = db.session.execute(db.select(ApiToken)).scalars().all()
        stored = [
            [getattr(row, column.key) for column in ApiToken.__table__.columns] for row in rows
        ]

    assert len(rows) == 1
    assert rows[0].token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", rows[0].token_hash)
    assert all(token not in str(value) for value in stored[0])


def test_revoking_in_the_dashboard_stops_the_token(mod_client, token):
    page = mod_client.get("/mod/tokens").get_data(as_text=True)
    revoke_path = re.search(r'action="(/mod/tokens/\d+/revoke)"', page)
    assert revoke_path

    mod_client.post(revoke_path.group(1), data={"csrf_token": csrf_token(mod_client)})

    assert unauthorized(mod_client.get("/api/v1/mod/comments", headers=bearer(token)))


# --- listing ----------------------------------------------------------------------------


def test_pending_comments_come_with_what_moderators_need(app, api, make_comment, pending):
    make_comment(body="以前通过的", remote_addr="192.0.2.8")
    make_comment(body="以前拒绝的", status=Status.REJECTED, remote_addr="192.0.2.8")
    older = pending(body="先来的评论", author="老张", remote_addr="192.0.2.8")
    newer = pending(article="another", body="后来的评论", remote_addr="192.0.2.9")

    response = api("GET", "/comments", query_string={"status": "pending"})

    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "pending"
    assert body["total"] == 2
    assert body["counts"]["pending"] == 2
    assert body["counts"]["approved"] == 1
    first, second = body["comments"]
    assert set(first) == MODERATION_FIELDS
    assert [first["id"], second["id"]] == [older, newer]
    assert first["body"] == "先来的评论"
    assert first["author"] == "老张"
    assert first["article"] == ARTICLE
    assert second["article"] == "another"
    assert first["remote_addr"] == "192.0.2.8"
    assert first["ip_history"] == {"total": 3, "pending": 1, "approved": 1, "rejected": 1}
    assert second["ip_history"] == {"total": 1, "pending": 1}


def test_pending_is_the_default_queue(api, pending, make_comment):
    waiting = pending(body="等着的")
    make_comment(body="通过的")

    body = api("GET", "/comments").get_json()

    assert body["status"] == "pending"
    assert [c["id"] for c in body["comments"]] == [waiting]


@pytest.mark.parametrize("status", [Status.APPROVED, Status.REJECTED, Status.SPAM])
def test_other_queues(api, make_comment, status):
    wanted = make_comment(body="这一条", status=status)
    make_comment(body="别的", status=Status.PENDING)

    body = api("GET", "/comments", query_string={"status": status.value}).get_json()

    assert [c["id"] for c in body["comments"]] == [wanted]
    assert body["comments"][0]["status"] == status.value


def test_deleted_queue(app, api, make_comment):
    gone = make_comment(body="删掉的")
    make_comment(body="还在的")
    with app.app_context():
        moderation.apply(gone, moderation.Action.DELETE)

    body = api("GET", "/comments", query_string={"status": "deleted"}).get_json()

    assert [(c["id"], c["deleted"]) for c in body["comments"]] == [(gone, True)]


@pytest.mark.parametrize("status", ["published", "PENDING", "", "all"])
def test_unknown_status_is_400(api, status):
    response = api("GET", "/comments", query_string={"status": status})

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"


def test_listing_pages(make_app, token, pending):
    client = make_app(QUEUE_PAGE_SIZE=2).test_client()
    ids = [pending(body=f"第{n}条") for n in range(5)]

    pages = [
        client.get("/api/v1/mod/comments", query_string={"page": n}, headers=bearer(token))
        for n in (1, 2, 3, 4)
    ]

    bodies = [p.get_json() for p in pages]
    assert [b["pages"] for b in bodies] == [3, 3, 3, 3]
    assert [b["total"] for b in bodies] == [5, 5, 5, 5]
    assert [[c["id"] for c in b["comments"]] for b in bodies] == [ids[:2], ids[2:4], ids[4:], []]


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.5"])
def test_bad_page_is_400(api, page):
    assert api("GET", "/comments", query_string={"page": page}).status_code == 400


def test_listing_filters_by_article_ip_and_text(api, pending):
    wanted = pending(article="k1", body="关于房价的评论", remote_addr="192.0.2.5")
    pending(article="k1", body="关于房价的另一条", remote_addr="192.0.2.6")
    pending(article="k2", body="关于房价", remote_addr="192.0.2.5")

    body = api(
        "GET", "/comments", query_string={"article": "k1", "ip": "192.0.2.5", "q": "房价"}
    ).get_json()

    assert [c["id"] for c in body["comments"]] == [wanted]


# --- actions ----------------------------------------------------------------------------


def test_approve(app, api, pending):
    comment = pending(body="请通过")

    response = api("POST", f"/comments/{comment}/approve")

    assert response.status_code == 200
    assert response.get_json() == {"id": comment, "status": "approved", "deleted": False}
    assert comment_row(app, comment).status == Status.APPROVED


def test_reject_with_a_reason(app, api, pending):
    comment = pending(body="加我微信买房")

    response = api("POST", f"/comments/{comment}/reject", json={"reason": "广告"})

    assert response.get_json() == {"id": comment, "status": "rejected", "deleted": False}
    assert comment_row(app, comment).reject_reason == "广告"


@pytest.mark.parametrize("body", [{"reason": 42}, {}, {"reason": None}])
def test_reject_without_a_usable_reason(app, api, pending, body):
    comment = pending(body="不通过")

    response = api("POST", f"/comments/{comment}/reject", json=body)

    assert response.status_code == 200
    assert comment_row(app, comment).reject_reason is None


@pytest.mark.parametrize("action", ["spam", "delete"])
def test_other_actions(app, api, pending, action):
    comment = pending(body="要处理的")

    body = api("POST", f"/comments/{comment}/{action}").get_json()

    expected = {"spam": ("spam", False), "delete": ("pending", True)}[action]
    assert (body["status"], body["deleted"]) == expected
    assert body["id"] == comment


def test_delete_and_restore(app, api, make_comment):
    comment = make_comment(body="误删又恢复")

    deleted = api("POST", f"/comments/{comment}/delete")
    restored = api("POST", f"/comments/{comment}/restore")

    assert deleted.get_json() == {"id": comment, "status": "approved", "deleted": True}
    assert restored.get_json() == {"id": comment, "status": "approved", "deleted": False}
    assert comment_row(app, comment).deleted_at is None


@pytest.mark.parametrize(
    "status, action",
    [(Status.APPROVED, "approve"), (Status.PENDING, "restore"), (Status.SPAM, "spam")],
)
def test_impossible_action_is_409(app, api, make_comment, status, action):
    comment = make_comment(body="状态不对", status=status)

    response = api("POST", f"/comments/{comment}/{action}")

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "invalid_transition"
    assert comment_row(app, comment).status == status


def test_unknown_action_is_404(app, api, pending):
    comment = pending()

    response = api("POST", f"/comments/{comment}/publish")

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert comment_row(app, comment).status == Status.PENDING


def test_unknown_comment_is_404(api):
    response = api("POST", "/comments/999999/approve")

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_actions_are_audited_under_the_tokens_moderator(app, api, pending):
    comment = pending(body="看看是谁通过的")

    api("POST", f"/comments/{comment}/approve")

    with app.app_context():
        entries = (
            db.session.execute(db.select(AuditEntry).filter_by(comment_id=comment)).scalars().all()
        )
        assert [(e.actor, e.action, e.from_status, e.to_status) for e in entries] == [
            (MODERATOR, "approve", "pending", "approved")
        ]
        assert entries[0].moderator is not None
        assert entries[0].moderator.username == MODERATOR


def test_public_counts_follow_at_once(client, api, pending, make_comment):
    make_comment(body="已有一条")
    comment = pending(body="马上通过")

    def count() -> int:
        response = client.get("/api/v1/counts", query_string={"article": ARTICLE})
        return response.get_json()["counts"][ARTICLE]

    assert count() == 1
    api("POST", f"/comments/{comment}/approve")
    assert count() == 2
    api("POST", f"/comments/{comment}/delete")
    assert count() == 1


# --- no cookies, no CSRF ----------------------------------------------------------------


def test_the_api_uses_no_session_and_no_csrf(app, client, token, pending):
    comment = pending(body="不需要 CSRF")

    responses = [
        client.get("/api/v1/mod/comments", headers=bearer(token)),
        client.post(f"/api/v1/mod/comments/{comment}/approve", headers=bearer(token)),
        client.post("/api/v1/mod/comments/1/approve"),
    ]

    assert [r.status_code for r in responses] == [200, 200, 401]
    for response in responses:
        assert "Set-Cookie" not in response.headers
        assert "cookie" not in response.headers.get("Vary", "").lower()
    assert comment_row(app, comment).status == Status.APPROVED


def test_a_dashboard_session_is_not_a_token(mod_client, pending):
    comment = pending(body="只有会话，没有令牌")

    response = mod_client.post(
        f"/api/v1/mod/comments/{comment}/approve",
        headers={"X-CSRFToken": csrf_token(mod_client)},
    )

    assert unauthorized(response)
