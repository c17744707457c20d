"""Operator commands: moderator accounts and tokens, comments from the shell, upkeep."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select, text, update

from service import auth, moderation
from service.extensions import db
from service.models import Article, Comment, Moderator, Role, SpentCaptcha, Status

PASSWORD = "a-long-password"
NEW_PASSWORD = "another-long-password"
CHINESE = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def run(app: Flask, runner: FlaskCliRunner) -> Callable[..., Result]:
    """Run one command the way ``flask --app wsgi ...`` does: in its own app context.

    The ``flask`` command pushes the context for commands added with ``add_command``;
    ``app.cli`` as the test runner invokes it does not.
    """

    def invoke(*args: str, input: str | None = None) -> Result:
        with app.app_context():
            return runner.invoke(args=list(args), input=input)

    return invoke


@pytest.fixture
def add(run: Callable[..., Result]) -> Callable[..., Result]:
    """``moderators add NAME`` with the password piped in."""

    def adder(name: str, *options: str, password: str = PASSWORD) -> Result:
        return run("moderators", "add", name, *options, input=f"{password}\n")

    return adder


def find_account(app: Flask, name: str) -> Moderator | None:
    with app.app_context():
        found = auth.find_moderator(name)
        if found is not None:
            db.session.expunge(found)
        return found


def can_sign_in(app: Flask, name: str, password: str) -> bool:
    with app.app_context():
        return auth.authenticate(name, password) is not None


def status_of(app: Flask, comment_id: int) -> Status:
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        assert comment is not None
        return Status(comment.status)


def mod_api(client: FlaskClient, token: str) -> int:
    response = client.get("/api/v1/mod/comments", headers={"Authorization": f"Bearer {token}"})
    return response.status_code


# --- moderator accounts ---------------------------------------------------------------


def test_moderators_add_creates_an_account_whose_password_works(app, add):
    result = add("编辑小王")

    assert result.exit_code == 0, result.output
    assert "编辑小王" in result.output
    created = find_account(app, "编辑小王")
    assert created is not None
    assert created.role == Role.MODERATOR and created.active
    assert can_sign_in(app, "编辑小王", PASSWORD)
    assert not can_sign_in(app, "编辑小王", "a-wrong-password")


def test_moderators_add_admin_gives_the_admin_role(app, add):
    result = add("总编", "--admin")

    assert result.exit_code == 0, result.output
    created = find_account(app, "总编")
    assert created is not None and created.role == Role.ADMIN
    assert "admin" in result.output


def test_a_short_password_is_refused_and_no_account_is_created(app, add):
    result = add("编辑小王", password="short")

    assert result.exit_code == 1
    assert "10" in result.output and CHINESE.search(result.output)
    assert find_account(app, "编辑小王") is None


def test_a_taken_name_is_refused(app, add):
    assert add("编辑小王").exit_code == 0

    result = add("编辑小王", password="another-long-password")

    assert result.exit_code == 1
    assert "该用户名已被使用" in result.output
    assert can_sign_in(app, "编辑小王", PASSWORD)
    with app.app_context():
        assert len(auth.list_moderators()) == 1


def test_moderators_list_shows_names_roles_and_state(add, run):
    add("编辑小王")
    add("总编", "--admin")
    run("moderators", "disable", "编辑小王")

    result = run("moderators", "list")

    assert result.exit_code == 0
    lines = sorted(line.split("\t") for line in result.output.splitlines())
    assert lines == sorted([["编辑小王", "moderator", "disabled"], ["总编", "admin", "active"]])


def test_a_disabled_moderator_cannot_sign_in_until_enabled_again(app, add, run):
    add("编辑小王")

    disabled = run("moderators", "disable", "编辑小王")

    assert disabled.exit_code == 0
    assert not can_sign_in(app, "编辑小王", PASSWORD)

    enabled = run("moderators", "enable", "编辑小王")

    assert enabled.exit_code == 0
    assert can_sign_in(app, "编辑小王", PASSWORD)


def test_disabling_an_unknown_moderator_fails(run):
    result = run("moderators", "disable", "没有这个人")

    assert result.exit_code == 1
    assert CHINESE.search(result.output)


def test_set_password_replaces_the_old_one(app, add, run):
    add("编辑小王")

    result = run("moderators", "set-password", "编辑小王", input=f"{NEW_PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert can_sign_in(app, "编辑小王", NEW_PASSWORD)
    assert not can_sign_in(app, "编辑小王", PASSWORD)


def test_set_password_refuses_a_short_one_and_keeps_the_old(app, add, run):
    add("编辑小王")

    result = run("moderators", "set-password", "编辑小王", input="short\n")

    assert result.exit_code == 1
    assert can_sign_in(app, "编辑小王", PASSWORD)


# --- API tokens -----------------------------------------------------------------------


def test_a_token_opens_the_moderation_api_and_is_stored_only_hashed(app, add, run, client):
    add("编辑小王")

    result = run("moderators", "token", "编辑小王")

    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert token.startswith("cmt_") and len(token) > 20
    assert mod_api(client, token) == 200
    assert mod_api(client, token + "x") == 401
    assert mod_api(client, "") == 401
    with app.app_context(), db.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM api_token")).all()
    assert len(rows) == 1
    assert all(token not in str(value) for value in rows[0])


def test_a_disabled_moderators_token_stops_working(add, run, client):
    add("编辑小王")
    token = run("moderators", "token", "编辑小王").output.strip()
    assert mod_api(client, token) == 200

    run("moderators", "disable", "编辑小王")

    assert mod_api(client, token) == 401


def test_no_token_for_an_unknown_or_disabled_moderator(add, run):
    add("编辑小王")
    run("moderators", "disable", "编辑小王")

    for name in ("编辑小王", "没有这个人"):
        result = run("moderators", "token", name)
        assert result.exit_code == 1
        assert "cmt_" not in result.output


# --- comments from the shell -------------------------------------------------------------


def test_comments_list_shows_comments_with_the_asked_status(run, make_comment):
    waiting = make_comment(status=Status.PENDING, body="等待审核的评论 ⏳")
    other = make_comment(status=Status.PENDING, article="67590", body="另一篇文章")
    shown = make_comment(status=Status.APPROVED, body="已经通过的评论")

    pending = run("comments", "list", "--status", "pending")
    approved = run("comments", "list", "--status", "approved")
    default = run("comments", "list")

    assert pending.exit_code == 0
    rows = [line.split("\t") for line in pending.output.splitlines()]
    assert [(int(r[0]), r[2]) for r in rows] == [(waiting, "67584"), (other, "67590")]
    assert "等待审核的评论 ⏳" in pending.output
    assert [int(line.split("\t")[0]) for line in approved.output.splitlines()] == [shown]
    assert default.output == pending.output


def test_comments_moderate_approves_by_id(app, run, make_comment, client):
    first = make_comment(status=Status.PENDING, body="请审核 🙏")
    second = make_comment(status=Status.SPAM, body="误判为垃圾")

    result = run("comments", "moderate", "approve", str(first), str(second))

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"{first}\tapproved", f"{second}\tapproved"]
    assert status_of(app, first) == status_of(app, second) == Status.APPROVED
    counts = client.get("/api/v1/counts", query_string={"article": "67584"}).get_json()
    assert counts == {"counts": {"67584": 2}}


@pytest.mark.parametrize(
    ("action", "status"),
    [("approve", Status.APPROVED), ("reject", Status.REJECTED), ("restore", Status.PENDING)],
)
def test_comments_moderate_refuses_an_invalid_transition(app, run, make_comment, action, status):
    comment_id = make_comment(status=status, body="状态不对")

    result = run("comments", "moderate", action, str(comment_id))

    assert result.exit_code == 1
    assert "无法对" in result.output
    assert "Traceback" not in result.output
    assert status_of(app, comment_id) == status


def test_comments_moderate_an_unknown_comment_fails(run):
    result = run("comments", "moderate", "approve", "999999")

    assert result.exit_code == 1
    assert "评论不存在" in result.output


def test_comments_moderate_refuses_an_unknown_action(run, make_comment):
    comment_id = make_comment(status=Status.PENDING)

    result = run("comments", "moderate", "publish", str(comment_id))

    assert result.exit_code == 2


# --- upkeep -------------------------------------------------------------------------------


def test_purge_captchas_drops_only_expired_spent_tokens(app, run, client, solved):
    for body in ("第一条", "第二条 ✨"):
        token, answer = solved()
        response = client.post(
            "/api/v1/articles/67584/comments",
            json={"body": body, "captcha_token": token, "captcha_answer": answer},
        )
        assert response.status_code == 202
    with app.app_context():
        nonce = db.session.execute(select(SpentCaptcha.nonce).limit(1)).scalar_one()
        db.session.execute(
            update(SpentCaptcha)
            .where(SpentCaptcha.nonce == nonce)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        db.session.commit()

    result = run("purge-captchas")

    assert result.exit_code == 0
    assert result.output.strip() == "purged 1 spent captchas"
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(SpentCaptcha)).scalar() == 1
    assert run("purge-captchas").output.strip() == "purged 0 spent captchas"


def test_seed_demo_adds_approved_demo_comments_once(app, run, client):
    def state() -> tuple[dict[str, int], int, set[Status]]:
        with app.app_context():
            counts = dict(db.session.execute(select(Article.key, Article.approved_count)).all())
            total = db.session.execute(select(func.count(Comment.id))).scalar_one()
            statuses = set(db.session.execute(select(Comment.status)).scalars())
        return counts, total, statuses

    first = run("seed-demo")

    assert first.exit_code == 0 and "demo comments ready" in first.output
    assert state() == ({"67584": 3, "67590": 1}, 4, {Status.APPROVED})
    listing = client.get("/api/v1/articles/67584/comments").get_json()
    assert {c["author"] for c in listing["comments"]} == {"老读者", "Li Wei", "网友"}

    second = run("seed-demo")

    assert second.exit_code == 0
    assert state() == ({"67584": 3, "67590": 1}, 4, {Status.APPROVED})


def test_seed_demo_comments_can_be_moderated_like_any_other(app, run):
    run("seed-demo")
    with app.app_context():
        first = db.session.execute(select(Comment.id).order_by(Comment.id)).scalars().first()
        assert first is not None
        moderation.apply(first, moderation.Action.REJECT)
        article = db.session.execute(select(Article).where(Article.key == "67584")).scalar_one()
        assert article.approved_count == 2
