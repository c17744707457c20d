"""Retention: old addresses truncated, old removed comments purged, with frozen time.

``run_retention(now)`` takes the time it runs at; the tests that go through the
CLI and the API freeze the clock with time-machine instead, so posting,
moderating and the job all see the same calendar.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network

import pytest
import time_machine
from click.testing import Result
from flask import Flask
from flask.testing import FlaskCliRunner
from helpers import MOD_PASSWORD, form_post, login
from sqlalchemy import func, select, update

from service import addresses, likes, moderation, reports
from service.extensions import db
from service.models import Article, AuditEntry, Comment, Like, Report, Status
from service.retention import remove_comments, run_retention

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def run(app: Flask, runner: FlaskCliRunner) -> Callable[..., Result]:
    def invoke(*args: str) -> Result:
        with app.app_context():
            return runner.invoke(args=list(args))

    return invoke


def age(app: Flask, comment_id: int, days: float, **values: object) -> None:
    """Make a comment ``days`` old (as of NOW), with what was done to it then; set columns."""
    with app.app_context():
        db.session.execute(
            update(Comment)
            .where(Comment.id == comment_id)
            .values(created_at=NOW - days * DAY, **values)
        )
        db.session.execute(
            update(AuditEntry)
            .where(AuditEntry.comment_id == comment_id)
            .values(created_at=NOW - days * DAY)
        )
        db.session.commit()


def get(app: Flask, comment_id: int) -> Comment | None:
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        if comment is not None:
            db.session.expunge(comment)
        return comment


def retention_entries(app: Flask) -> list[dict]:
    with app.app_context():
        entries = db.session.execute(
            select(AuditEntry.detail).where(AuditEntry.action == "retention")
        ).scalars()
        return [json.loads(detail) for detail in entries]


# --- addresses ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "truncated"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1::/48"),
        ("203.0.113.0/24", "203.0.113.0/24"),
        ("not an address", None),
    ],
)
def test_addresses_are_cut_to_24_and_48(stored, truncated):
    assert addresses.truncate(stored) == truncated


def test_a_truncated_address_covers_its_network_only():
    net = ip_network("203.0.113.0/24")

    assert addresses.covers(net, "203.0.113.0/24")
    assert addresses.covers(net, "203.0.113.9")
    assert not addresses.covers(net, "203.0.0.0/16")
    assert not addresses.covers(net, "2001:db8::1")


def test_old_addresses_are_truncated_and_user_agents_dropped(app, ctx, make_comment):
    old4 = make_comment(remote_addr="203.0.113.77")
    old6 = make_comment(remote_addr="2001:db8:1:2::9")
    recent = make_comment(remote_addr="198.51.100.5")
    age(app, old4, 181, user_agent="Mozilla/5.0 (iPhone)")
    age(app, old6, 400)
    age(app, recent, 179, user_agent="Mozilla/5.0 (Android)")

    result = run_retention(NOW)

    assert (result.truncated, result.agents_dropped) == (2, 1)
    assert get(app, old4).remote_addr == "203.0.113.0/24"
    assert get(app, old4).user_agent is None
    assert get(app, old6).remote_addr == "2001:db8:1::/48"
    assert get(app, recent).remote_addr == "198.51.100.5"
    assert get(app, recent).user_agent == "Mozilla/5.0 (Android)"
    assert retention_entries(app) == [
        {
            "addresses_truncated": 2,
            "user_agents_dropped": 1,
            "comments_purged": 0,
            "comments_emptied": 0,
            "ip_days": 180,
            "purge_days": 180,
        }
    ]


def test_a_second_run_changes_nothing_and_records_nothing(app, ctx, make_comment):
    age(app, make_comment(), 200, user_agent="UA")
    age(app, make_comment(status=Status.REJECTED), 300)
    run_retention(NOW)

    again = run_retention(NOW + timedelta(hours=1))

    assert again.as_dict() == {
        "addresses_truncated": 0,
        "user_agents_dropped": 0,
        "comments_purged": 0,
        "comments_emptied": 0,
    }
    assert len(retention_entries(app)) == 1


# --- purging --------------------------------------------------------------------------------------


def test_old_rejected_spam_and_deleted_comments_are_purged_others_kept(app, ctx, make_comment):
    rejected = make_comment(status=Status.REJECTED)
    spam = make_comment(status=Status.SPAM)
    deleted = make_comment()
    pending = make_comment(status=Status.PENDING)
    approved = make_comment()
    young = make_comment(status=Status.REJECTED)
    for comment_id in (rejected, spam, pending, approved):
        age(app, comment_id, 365)
    age(app, deleted, 365, deleted_at=NOW - 200 * DAY)
    age(app, young, 100)

    result = run_retention(NOW)

    assert result.purged == 3
    assert [get(app, i) for i in (rejected, spam, deleted)] == [None, None, None]
    assert all(get(app, i) is not None for i in (pending, approved, young))
    assert get(app, pending).body and get(app, approved).body  # never touched


def test_a_recent_action_keeps_an_old_comment(app, ctx, pending):
    """The period runs from the last action (here a rejection 10 days ago), not the posting."""
    comment_id = pending()
    age(app, comment_id, 365)
    with time_machine.travel(NOW - 10 * DAY, tick=False):
        moderation.apply(comment_id, moderation.Action.REJECT)

    assert run_retention(NOW).purged == 0
    assert run_retention(NOW + 171 * DAY).purged == 1


def test_a_comment_others_reply_to_stays_as_an_empty_shell(app, ctx, make_comment, client):
    parent = make_comment(body="被删除的楼主", author="王五", remote_addr="192.0.2.1")
    reply = make_comment(body="仍然公开的回复", parent_id=parent)
    gone_reply = make_comment(body="也被拒绝的回复", parent_id=parent, status=Status.REJECTED)
    with app.app_context():
        db.session.execute(update(Comment).where(Comment.id == parent).values(author_identity="u1"))
        db.session.commit()
        moderation.apply(parent, moderation.Action.DELETE)
    age(app, parent, 300, deleted_at=NOW - 200 * DAY)
    age(app, gone_reply, 300)
    age(app, reply, 300)

    result = run_retention(NOW + DAY)

    assert (result.purged, result.emptied) == (1, 1)
    assert get(app, gone_reply) is None
    shell = get(app, parent)
    assert (shell.author, shell.body) == ("", "")
    assert (shell.remote_addr, shell.author_identity) == (None, None)
    assert get(app, reply).parent_id == parent
    page = client.get("/api/v1/articles/67584/comments").get_json()
    assert "仍然公开的回复" in json.dumps(page, ensure_ascii=False)
    assert run_retention(NOW + 2 * DAY).emptied == 0  # an empty shell is not emptied again


def test_purging_takes_likes_and_reports_but_keeps_the_audit_trail(app, ctx, make_comment):
    comment_id = make_comment(body="后来被拒绝的评论")
    likes.like("67584", comment_id, "reader-1", "192.0.2.8")
    reports.report_comment("67584", comment_id, "spam", "192.0.2.9")
    moderation.apply(comment_id, moderation.Action.REJECT, reason="广告")
    with app.app_context():
        db.session.execute(
            update(AuditEntry).values(created_at=NOW - 200 * DAY)
        )  # the rejection was 200 days ago
        db.session.commit()
    age(app, comment_id, 365)

    assert run_retention(NOW).purged == 1

    with app.app_context():
        assert db.session.execute(select(func.count(Like.id))).scalar_one() == 0
        assert db.session.execute(select(func.count(Report.id))).scalar_one() == 0
        rejection = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "reject")
        ).scalar_one()
        assert rejection.comment_id is None and rejection.to_status == "rejected"
        article = db.session.execute(select(Article)).scalar_one()
        assert article.approved_count == 0


def test_remove_comments_deletes_whole_threads_children_first(app, ctx, make_comment):
    root = make_comment(status=Status.REJECTED)
    child = make_comment(parent_id=root, status=Status.REJECTED)
    grandchild = make_comment(parent_id=child, status=Status.REJECTED)

    with app.app_context():
        removal = remove_comments([root, child, grandchild])
        db.session.commit()

    assert removal.deleted == [grandchild, child, root] and removal.kept == []
    assert [get(app, i) for i in (root, child, grandchild)] == [None, None, None]


@pytest.mark.parametrize(
    ("setting", "value"), [("RETENTION_IP_DAYS", None), ("RETENTION_PURGE_DAYS", None)]
)
def test_a_period_of_null_switches_that_step_off(make_app, make_comment, setting, value):
    app = make_app(**{setting: value})
    kept = make_comment(status=Status.REJECTED, remote_addr="203.0.113.77")
    age(app, kept, 1000, user_agent="UA")
    with app.app_context():
        result = run_retention(NOW)
        comment = db.session.get(Comment, kept)

    if setting == "RETENTION_IP_DAYS":
        assert result.purged == 1 and result.truncated == 0
    else:
        assert comment.remote_addr == "203.0.113.0/24" and result.purged == 0


# --- the CLI, with frozen time ------------------------------------------------------------------


def test_retention_run_with_frozen_time_through_the_api_and_the_cli(
    app, run, client, solved, moderator
):
    with time_machine.travel(datetime(2026, 1, 5, 2, 0, tzinfo=UTC), tick=False):
        mod_client = app.test_client()
        assert login(mod_client, moderator, MOD_PASSWORD).status_code == 303
        token, answer = solved()
        posted = client.post(
            "/api/v1/articles/67584/comments",
            json={"body": "要被拒绝的评论", "captcha_token": token, "captcha_answer": answer},
            headers={"User-Agent": "Mozilla/5.0 (Frozen)"},
        ).get_json()
        token, answer = solved()
        kept = client.post(
            "/api/v1/articles/67584/comments",
            json={"body": "会被通过的评论", "captcha_token": token, "captcha_answer": answer},
        ).get_json()
        assert form_post(mod_client, f"/mod/comments/{posted['id']}/reject").status_code == 303
        assert form_post(mod_client, f"/mod/comments/{kept['id']}/approve").status_code == 303

    with time_machine.travel(datetime(2026, 7, 3, 2, 0, tzinfo=UTC), tick=False):  # 179 days
        early = run("retention", "run")
    assert early.exit_code == 0, early.output
    assert "comments purged: 0" in early.output
    assert get(app, posted["id"]).remote_addr == "127.0.0.1"

    with time_machine.travel(datetime(2026, 7, 5, 2, 0, tzinfo=UTC), tick=False):  # 181 days
        late = run("retention", "run")
    assert late.exit_code == 0, late.output
    assert "addresses truncated: 2" in late.output and "comments purged: 1" in late.output
    assert get(app, posted["id"]) is None
    approved = get(app, kept["id"])
    assert approved.remote_addr == "127.0.0.0/24" and approved.status == Status.APPROVED


def test_cli_refuses_a_retention_period_that_is_no_number_of_days(make_app, make_comment):
    app = make_app(RETENTION_PURGE_DAYS=0)
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["retention", "run"])

    assert result.exit_code == 1
    assert "RETENTION_PURGE_DAYS must be a whole number of days" in result.output


# --- the dashboard with truncated addresses -----------------------------------------------------


@pytest.fixture
def truncated(app, pending) -> dict[str, int]:
    """Two old pending comments from one /24, truncated, and a new one from inside it."""
    ids = {"old": pending(remote_addr="203.0.113.77"), "older": pending(remote_addr="203.0.113.9")}
    for comment_id in ids.values():
        age(app, comment_id, 200)
    with app.app_context():
        run_retention(NOW)
    ids["new"] = pending(remote_addr="203.0.113.200")
    return ids


def test_the_queue_shows_a_truncated_address_with_its_history(mod_client, truncated):
    page = mod_client.get("/mod/queue").get_data(as_text=True)

    assert "203.0.113.0/24" in page
    assert "该 IP 共 2 条评论" in page  # both old comments, under their network


def test_banning_from_a_truncated_address_bans_its_network(app, mod_client, truncated):
    response = form_post(
        mod_client, f"/mod/comments/{truncated['old']}/actor", {"scope": "ip", "days": "7"}
    )

    assert response.status_code == 303
    with app.app_context():
        from service.bans import active_bans, is_banned

        assert [b.network for b in active_bans()] == ["203.0.113.0/24"]
        assert is_banned("203.0.113.50")
        statuses = {c.id: c.status for c in db.session.execute(select(Comment)).scalars()}
    assert set(statuses.values()) == {Status.REJECTED}  # old ones and the new one inside it


def test_reject_all_from_a_truncated_address(app, mod_client, truncated):
    response = form_post(
        mod_client, "/mod/comments/bulk", {"ip": "203.0.113.0/24", "action": "reject"}
    )

    assert response.status_code == 303
    assert get(app, truncated["old"]).status == Status.REJECTED
    assert get(app, truncated["older"]).status == Status.REJECTED
    assert get(app, truncated["new"]).status == Status.PENDING  # a full address of its own
