"""Stale dashboard views: each action says which status the moderator saw, so a decision
another moderator made meanwhile is not silently overridden (409 ``status_changed``)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import MOD_PASSWORD, csrf_token

from service import auth, moderation
from service.extensions import db
from service.models import Comment, Status
from service.moderation import Action

OTHER = "xiaozhao"
# The per-comment action forms and what they send (the bulk and per-IP forms post elsewhere).
ACTION_FORM = re.compile(
    r'<form method="post" action="/mod/comments/(\d+)/(\w+)" class="act">(.*?)</form>', re.S
)
EXPECTED = re.compile(r'<input type="hidden" name="expected_status" value="(\w+)">')


def action_forms(client: FlaskClient, path: str) -> dict[tuple[int, str], list[str]]:
    """Each per-comment action form on a page: its expected_status fields."""
    page = client.get(path, follow_redirects=True).get_data(as_text=True)
    forms = {
        (int(i), action): EXPECTED.findall(body) for i, action, body in ACTION_FORM.findall(page)
    }
    assert forms, page
    return forms


def decide(app: Flask, comment_id: int, action: Action, by: str | None = None) -> None:
    """Another moderator (or the system) acts on the comment directly."""
    with app.app_context():
        moderator = auth.find_moderator(by) if by else None
        moderation.apply(comment_id, action, by=moderator)


def status_of(app: Flask, comment_id: int) -> tuple[Status, bool]:
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        assert comment is not None
        return Status(comment.status), comment.deleted_at is not None


@pytest.mark.parametrize(
    ("status", "deleted", "queue", "expected"),
    [
        (Status.PENDING, False, "pending", "pending"),
        (Status.APPROVED, False, "approved", "approved"),
        (Status.REJECTED, False, "rejected", "rejected"),
        (Status.SPAM, False, "spam", "spam"),
        (Status.PENDING, True, "deleted", "deleted"),
        (Status.APPROVED, True, "deleted", "deleted"),
    ],
)
def test_every_action_form_sends_the_status_the_moderator_saw(
    app: Flask,
    mod_client: FlaskClient,
    make_comment: Callable[..., int],
    status: Status,
    deleted: bool,
    queue: str,
    expected: str,
) -> None:
    comment = make_comment(status=status)
    if deleted:
        decide(app, comment, Action.DELETE)

    forms = action_forms(mod_client, f"/mod/queue/{queue}")

    with app.app_context():
        allowed = {a.value for a in moderation.allowed_actions(db.session.get(Comment, comment))}
    assert {action for _, action in forms} == allowed
    assert {i for i, _ in forms} == {comment}
    assert all(fields == [expected] for fields in forms.values()), forms


def test_bulk_and_per_ip_forms_send_no_expected_status(
    mod_client: FlaskClient, make_comment: Callable[..., int]
) -> None:
    make_comment(status=Status.PENDING)
    page = mod_client.get("/mod/queue").get_data(as_text=True)

    bulk = re.search(r'<form id="bulk".*?</form>', page, re.S)
    per_ip = re.search(
        r'<form method="post" action="/mod/comments/bulk" class="act">.*?</form>', page, re.S
    )
    assert bulk and per_ip
    assert "expected_status" not in bulk.group(0)
    assert "expected_status" not in per_ip.group(0)
    assert page.count('name="expected_status"') == len(action_forms(mod_client, "/mod/queue"))


def test_stale_json_action_is_409_status_changed_and_changes_nothing(
    app: Flask, mod_client: FlaskClient, make_comment: Callable[..., int]
) -> None:
    """The answer dashboard.js relies on (the server's side of the contract)."""
    comment = make_comment(status=Status.PENDING)
    with app.app_context():
        auth.add_moderator(OTHER, MOD_PASSWORD)
    decide(app, comment, Action.APPROVE, by=OTHER)

    response = mod_client.post(
        f"/mod/comments/{comment}/reject",
        data={"csrf_token": csrf_token(mod_client), "expected_status": "pending"},
        headers={"Accept": "application/json"},
    )

    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "status_changed"
    assert error["current_status"] == "approved"
    assert f"#{comment}" in error["message"]
    assert OTHER in error["message"]
    assert status_of(app, comment) == (Status.APPROVED, False)
