"""Moderation: every status change, its count, its audit entry, races, bulk steps, queues."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, func, select, text

from service import auth, bans, moderation, reports, stats
from service.errors import BadRequest, NotFound
from service.extensions import db
from service.models import Article, AuditEntry, Ban, Comment, Moderator, Report, Role, Status
from service.moderation import Action, InvalidTransition
from service.queue import Queue, QueueFilter, ip_summary, list_queue, queue_counts

ARTICLE = "67584"
PASSWORD = "a-long-password"

P, A, R, S = Status.PENDING, Status.APPROVED, Status.REJECTED, Status.SPAM

# Where each action takes a comment in each state; None: the action does not apply.
# A state is (status, deleted). Approving an approved comment needs open reports.
MATRIX: dict[tuple[Status, bool], dict[Action, tuple[Status, bool] | None]] = {
    (P, False): {
        Action.APPROVE: (A, False),
        Action.REJECT: (R, False),
        Action.SPAM: (S, False),
        Action.DELETE: (P, True),
        Action.RESTORE: None,
    },
    (A, False): {
        Action.APPROVE: None,
        Action.REJECT: (R, False),
        Action.SPAM: (S, False),
        Action.DELETE: (A, True),
        Action.RESTORE: None,
    },
    (R, False): {
        Action.APPROVE: (A, False),
        Action.REJECT: None,
        Action.SPAM: (S, False),
        Action.DELETE: (R, True),
        Action.RESTORE: (P, False),
    },
    (S, False): {
        Action.APPROVE: (A, False),
        Action.REJECT: (R, False),
        Action.SPAM: None,
        Action.DELETE: (S, True),
        Action.RESTORE: (P, False),
    },
    **{
        (status, True): {
            Action.APPROVE: None,
            Action.REJECT: None,
            Action.SPAM: None,
            Action.DELETE: None,
            Action.RESTORE: (status, False),  # back to the status it had when deleted
        }
        for status in Status
    },
}


def audit_label(state: tuple[Status, bool]) -> str:
    """How the audit log names a state: its status, or "deleted"."""
    return "deleted" if state[1] else state[0].value


def state_id(state: tuple[Status, bool]) -> str:
    return f"{state[0].value}{'+deleted' if state[1] else ''}"


CASES = [
    pytest.param(state, action, target, id=f"{action.value}-{state_id(state)}")
    for state, row in MATRIX.items()
    for action, target in row.items()
]


# --- helpers ----------------------------------------------------------------------------


def fresh(comment_id: int) -> Comment:
    """The comment as the database holds it now."""
    db.session.expire_all()
    comment = db.session.get(Comment, comment_id)
    assert comment is not None
    return comment


def state_of(comment_id: int) -> tuple[Status, bool]:
    comment = fresh(comment_id)
    return Status(comment.status), comment.deleted_at is not None


def approved_count(key: str = ARTICLE) -> int:
    db.session.expire_all()
    return db.session.execute(select(Article.approved_count).where(Article.key == key)).scalar_one()


def audit_entries(comment_id: int | None = None) -> list[AuditEntry]:
    db.session.expire_all()
    query = select(AuditEntry).order_by(AuditEntry.id)
    if comment_id is not None:
        query = query.where(AuditEntry.comment_id == comment_id)
    return list(db.session.execute(query).scalars())


def api_count(client: FlaskClient, key: str = ARTICLE) -> int:
    response = client.get("/api/v1/counts", query_string={"article": key})
    assert response.status_code == 200
    return response.get_json()["counts"][key]


def set_created(comment_id: int, when: datetime) -> None:
    comment = db.session.get(Comment, comment_id)
    assert comment is not None
    comment.created_at = when
    db.session.commit()


def open_reports_of(comment_id: int) -> list[Report]:
    db.session.expire_all()
    return list(
        db.session.execute(
            select(Report).where(Report.comment_id == comment_id, Report.resolved_at.is_(None))
        ).scalars()
    )


@pytest.fixture
def editor(ctx: None) -> Moderator:
    """A moderator whose Chinese name the audit entries must carry as typed."""
    return auth.add_moderator("编辑小王", PASSWORD)


@pytest.fixture
def in_state(ctx: None, make_comment: Callable[..., int]) -> Callable[..., int]:
    """A comment in a given (status, deleted) state; returns its id."""

    def factory(status: Status, deleted: bool = False, **fields: object) -> int:
        comment_id = make_comment(status=status, **fields)
        if deleted:
            moderation.apply(comment_id, Action.DELETE)
        return comment_id

    return factory


# --- the transition matrix --------------------------------------------------------------


@pytest.mark.parametrize(("state", "action", "target"), CASES)
def test_every_action_in_every_state_lands_where_the_rules_say(
    in_state, editor, client, state, action, target
):
    comment_id = in_state(*state, body="政策解读很及时 👍")
    entries_before = len(audit_entries(comment_id))
    count_before = approved_count()

    if target is None:
        with pytest.raises(InvalidTransition) as raised:
            moderation.apply(comment_id, action, by=editor)
        assert raised.value.status == 409
        assert raised.value.code == "invalid_transition"
        assert state_of(comment_id) == state
        assert len(audit_entries(comment_id)) == entries_before
        assert approved_count() == count_before
        return

    moderation.apply(comment_id, action, by=editor)

    assert state_of(comment_id) == target
    public = target == (A, False)
    assert approved_count() == api_count(client) == int(public)
    new_entries = audit_entries(comment_id)[entries_before:]
    assert [(e.actor, e.moderator_id, e.action) for e in new_entries] == [
        ("编辑小王", editor.id, action.value)
    ]
    assert (new_entries[0].from_status, new_entries[0].to_status) == (
        audit_label(state),
        audit_label(target),
    )


@pytest.mark.parametrize("state", list(MATRIX), ids=state_id)
def test_allowed_actions_agree_with_the_matrix(in_state, state):
    comment_id = in_state(*state)

    allowed = moderation.allowed_actions(fresh(comment_id))

    assert set(allowed) == {a for a, target in MATRIX[state].items() if target is not None}


def test_approving_a_reported_approved_comment_keeps_it_public_and_resolves_reports(
    in_state, editor, client
):
    comment_id = in_state(A, body="有人举报了这条 🤔")
    assert reports.report_comment(ARTICLE, comment_id, "abuse", "198.51.100.1")
    assert Action.APPROVE in moderation.allowed_actions(fresh(comment_id))

    moderation.apply(comment_id, Action.APPROVE, by=editor)

    comment = fresh(comment_id)
    assert (comment.status, comment.deleted_at, comment.open_reports) == (A, None, 0)
    assert open_reports_of(comment_id) == []
    assert approved_count() == api_count(client) == 1
    last = audit_entries(comment_id)[-1]
    assert (last.action, last.from_status, last.to_status) == ("approve", "approved", "approved")
    assert Action.APPROVE not in moderation.allowed_actions(comment)


# --- counts -------------------------------------------------------------------------------


def test_approved_count_follows_every_change_in_and_out_of_public(in_state, client):
    first = in_state(P, body="第一条评论 🎉")
    second = in_state(P, body="第二条评论")
    assert approved_count() == api_count(client) == 0

    steps = [
        (first, Action.APPROVE, 1),
        (second, Action.APPROVE, 2),
        (first, Action.REJECT, 1),
        (first, Action.APPROVE, 2),
        (first, Action.SPAM, 1),
        (second, Action.DELETE, 0),
        (second, Action.RESTORE, 1),
        (first, Action.RESTORE, 1),  # spam -> pending: was not public, still is not
        (first, Action.DELETE, 1),  # a deleted pending comment was never counted
        (first, Action.RESTORE, 1),
        (first, Action.APPROVE, 2),
    ]
    for comment_id, action, expected in steps:
        moderation.apply(comment_id, action)
        assert approved_count() == api_count(client) == expected, (comment_id, action)


# --- audit --------------------------------------------------------------------------------


def test_reject_records_the_reason_in_the_comment_and_the_audit_entry(in_state, editor):
    comment_id = in_state(P, body="广告：加微信 🤑")

    moderation.apply(comment_id, Action.REJECT, by=editor, reason="广告或垃圾信息")

    assert fresh(comment_id).reject_reason == "广告或垃圾信息"
    (entry,) = audit_entries(comment_id)
    assert (entry.actor, entry.action, entry.from_status, entry.to_status) == (
        "编辑小王",
        "reject",
        "pending",
        "rejected",
    )
    assert json.loads(entry.detail or "{}") == {"reason": "广告或垃圾信息"}


def test_an_action_without_a_moderator_is_audited_as_system(in_state):
    comment_id = in_state(P)

    moderation.apply(comment_id, Action.APPROVE)

    (entry,) = audit_entries(comment_id)
    assert (entry.actor, entry.moderator_id, entry.action) == ("system", None, "approve")


def test_moderated_at_is_set_by_the_first_decision_and_kept_after(in_state, editor):
    other = auth.add_moderator("老李", PASSWORD)
    comment_id = in_state(P)

    moderation.apply(comment_id, Action.DELETE, by=editor)
    moderation.apply(comment_id, Action.RESTORE, by=editor)
    assert (fresh(comment_id).moderated_at, fresh(comment_id).moderated_by_id) == (None, None)

    before = datetime.now(UTC)
    moderation.apply(comment_id, Action.APPROVE, by=editor)
    first = fresh(comment_id)
    assert first.moderated_at is not None and first.moderated_at >= before
    assert first.moderated_by_id == editor.id
    decided_at = first.moderated_at

    moderation.apply(comment_id, Action.REJECT, by=other)

    second = fresh(comment_id)
    assert second.moderated_at == decided_at
    assert second.moderated_by_id == other.id


# --- races --------------------------------------------------------------------------------


def test_acting_on_a_stale_comment_is_refused_and_changes_nothing(app, make_comment):
    comment_id = make_comment(status=P, body="两位编辑同时处理 ⚔️")
    with app.test_request_context("/?lang=en"):
        stale = db.session.get(Comment, comment_id)
        assert stale is not None and stale.status == P
        with db.engine.begin() as connection:  # another worker rejects it meanwhile
            connection.execute(
                text("UPDATE comment SET status = 'rejected' WHERE id = :id"), {"id": comment_id}
            )

        with pytest.raises(InvalidTransition, match="Someone else changed this comment just now"):
            moderation.apply(comment_id, Action.APPROVE)

        assert state_of(comment_id) == (R, False)
        assert approved_count() == 0
        assert [e.action for e in audit_entries(comment_id)] == []


def test_two_moderators_approving_at_once_have_one_winner(app, make_comment, client):
    comment_id = make_comment(status=P, body="抢着审核 🏁")
    with app.app_context():  # moderator A's request
        seen_by_a = db.session.get(Comment, comment_id)
        assert seen_by_a is not None and seen_by_a.status == P
        with app.app_context():  # moderator B's request, finished first
            moderation.apply(comment_id, Action.APPROVE)

        with pytest.raises(InvalidTransition) as raised:
            moderation.apply(comment_id, Action.APPROVE)

        assert raised.value.status == 409
        assert str(raised.value.message) == "该评论刚刚已被他人处理。"
        assert state_of(comment_id) == (A, False)
        assert approved_count() == api_count(client) == 1
        assert [e.action for e in audit_entries(comment_id)] == ["approve"]


# --- bulk -----------------------------------------------------------------------------------


def test_apply_many_does_what_fits_skips_the_rest_in_one_commit(in_state, editor, client):
    pending = in_state(P, body="待审一")
    rejected = in_state(R, body="已拒绝")
    approved = in_state(A, body="已通过")
    deleted = in_state(P, deleted=True, body="已删除")
    spam = in_state(S, body="垃圾 💩")
    commits: list[object] = []
    event.listen(db.session(), "after_commit", commits.append)

    result = moderation.apply_many(
        [spam, deleted, approved, rejected, pending, 999_999], Action.APPROVE, by=editor
    )

    assert commits and len(commits) == 1
    assert result.done == [pending, rejected, spam]
    assert set(result.skipped) == {approved, deleted}
    assert all(isinstance(m, str) and m for m in result.skipped.values())
    assert [state_of(c) for c in (pending, rejected, spam)] == [(A, False)] * 3
    assert state_of(approved) == (A, False)
    assert state_of(deleted) == (P, True)
    assert approved_count() == api_count(client) == 4
    assert len([e for e in audit_entries() if e.action == "approve"]) == 3


def test_everything_from_one_ip_can_be_marked_as_spam_at_once(in_state, editor):
    ip = "192.0.2.50"
    mine = [
        in_state(P, body="刷屏一", remote_addr=ip),
        in_state(A, body="刷屏二 🔁", remote_addr=ip),
        in_state(R, body="刷屏三", remote_addr=ip),
    ]
    gone = in_state(P, deleted=True, body="已删", remote_addr=ip)
    theirs = in_state(P, body="别人的评论", remote_addr="192.0.2.51")

    ids = moderation.ids_from_ip(ip)
    assert sorted(ids) == sorted(mine)
    assert moderation.ids_from_ip(ip, (P, R)) == [mine[0], mine[2]]

    result = moderation.apply_many(ids, Action.SPAM, by=editor)

    assert sorted(result.done) == sorted(mine) and result.skipped == {}
    assert [state_of(c) for c in mine] == [(S, False)] * 3
    assert state_of(gone) == (P, True)
    assert state_of(theirs) == (P, False)
    assert approved_count() == 0


# --- reject all from an IP or network and ban it -------------------------------------


def test_act_on_actor_by_ip_rejects_that_ips_pending_comments_and_bans_it(in_state, editor):
    ip = "198.51.100.7"
    target = in_state(P, body="广告 📢", remote_addr=ip)
    same_ip = in_state(P, body="又一条广告", remote_addr=ip)
    approved = in_state(A, body="以前通过的", remote_addr=ip)
    neighbour = in_state(P, body="邻居的评论", remote_addr="198.51.100.8")

    result = moderation.act_on_actor(target, editor, scope="ip", ban_days=3)

    assert sorted(result.done) == [target, same_ip]
    assert [state_of(c) for c in (target, same_ip)] == [(R, False)] * 2
    assert fresh(target).reject_reason == "ban"
    assert state_of(approved) == (A, False)
    assert state_of(neighbour) == (P, False)
    (ban,) = db.session.execute(select(Ban)).scalars()
    assert ban.network == "198.51.100.7/32"
    assert ban.batch == result.batch and ban.created_by_id == editor.id
    assert ban.expires_at is not None
    expected = datetime.now(UTC) + timedelta(days=3)
    assert abs(ban.expires_at - expected) < timedelta(minutes=1)
    assert bans.is_banned(ip) and not bans.is_banned("198.51.100.8")
    batch_entries = [e for e in audit_entries() if e.batch == result.batch]
    assert sorted((e.action, e.comment_id) for e in batch_entries) == sorted(
        [("reject", target), ("reject", same_ip), ("ban", target)]
    )


def test_act_on_actor_by_network_covers_the_slash_24_only(in_state, editor):
    target = in_state(P, body="水军 🤖", remote_addr="198.51.100.7")
    inside = in_state(P, body="同网段", remote_addr="198.51.100.200")
    approved_inside = in_state(A, body="同网段已通过", remote_addr="198.51.100.9")
    outside = in_state(P, body="别的网段", remote_addr="198.51.101.7")

    result = moderation.act_on_actor(target, editor, scope="net", ban_days=7)

    assert sorted(result.done) == [target, inside]
    assert state_of(inside) == (R, False)
    assert state_of(approved_inside) == (A, False)
    assert state_of(outside) == (P, False)
    (ban,) = db.session.execute(select(Ban)).scalars()
    assert ban.network == "198.51.100.0/24"
    assert ban.expires_at is not None
    assert abs(ban.expires_at - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=1)
    assert bans.is_banned("198.51.100.254") and not bans.is_banned("198.51.101.7")


def test_act_on_actor_with_an_ipv6_network_covers_the_slash_64(in_state, editor):
    target = in_state(P, body="IPv6 广告", remote_addr="2001:db8:abcd:12:1::5")
    inside = in_state(P, body="同一个 /64", remote_addr="2001:db8:abcd:12:ffff::1")
    outside = in_state(P, body="另一个 /64", remote_addr="2001:db8:abcd:13::1")
    v4 = in_state(P, body="IPv4 的评论", remote_addr="198.51.100.7")

    result = moderation.act_on_actor(target, editor, scope="net")

    assert sorted(result.done) == [target, inside]
    assert [state_of(c) for c in (outside, v4)] == [(P, False)] * 2
    (ban,) = db.session.execute(select(Ban)).scalars()
    assert ban.network == "2001:db8:abcd:12::/64"


def test_undoing_a_ban_step_returns_comments_to_pending_and_lifts_the_ban(in_state, editor):
    ip = "198.51.100.7"
    first = in_state(P, body="误封一 😢", remote_addr=ip)
    second = in_state(P, body="误封二", remote_addr=ip)
    third = in_state(P, body="误封三", remote_addr="198.51.100.8")
    step = moderation.act_on_actor(first, editor, scope="net")
    assert sorted(step.done) == [first, second, third]
    assert step.batch is not None
    # Meanwhile another moderator approves one of them by hand.
    moderation.apply(second, Action.APPROVE)

    undone = moderation.undo_batch(step.batch, editor)

    assert sorted(undone.done) == [first, third]
    assert state_of(first) == state_of(third) == (P, False)
    assert state_of(second) == (A, False)
    assert approved_count() == 1
    (ban,) = db.session.execute(select(Ban)).scalars()
    assert ban.lifted_at is not None
    assert not bans.is_banned(ip)
    undo_entries = [e for e in audit_entries() if e.action in ("undo", "unban")]
    assert sorted((e.action, e.comment_id) for e in undo_entries) == sorted(
        [("undo", first), ("undo", third), ("unban", None)]
    )
    assert {e.batch for e in undo_entries} == {step.batch}
    assert {(e.from_status, e.to_status) for e in undo_entries if e.action == "undo"} == {
        ("rejected", "pending")
    }


# --- readers' reports -------------------------------------------------------------------


def test_reports_count_once_per_reader(in_state):
    comment_id = in_state(A, body="这条评论有问题 😡")

    assert reports.report_comment(ARTICLE, comment_id, "abuse", "198.51.100.1") is True
    assert fresh(comment_id).open_reports == 1
    assert reports.report_comment(ARTICLE, comment_id, "spam", "198.51.100.1") is False
    assert fresh(comment_id).open_reports == 1
    assert reports.report_comment(ARTICLE, comment_id, "spam", "198.51.100.2") is True
    assert reports.report_comment(ARTICLE, comment_id, "other", "2001:db8::1") is True

    assert fresh(comment_id).open_reports == 3
    assert len(open_reports_of(comment_id)) == 3


@pytest.mark.parametrize(
    ("state", "article"),
    [
        pytest.param((P, False), ARTICLE, id="pending"),
        pytest.param((R, False), ARTICLE, id="rejected"),
        pytest.param((A, True), ARTICLE, id="deleted"),
        pytest.param((A, False), "67590", id="other-article"),
    ],
)
def test_only_published_comments_of_the_article_can_be_reported(in_state, state, article):
    comment_id = in_state(*state)
    if article != ARTICLE:
        in_state(A, article=article, body="另一篇文章")

    with pytest.raises(NotFound):
        reports.report_comment(article, comment_id, "abuse", "198.51.100.1")

    assert fresh(comment_id).open_reports == 0
    assert db.session.execute(select(func.count(Report.id))).scalar_one() == 0


def test_reporting_an_unknown_comment_or_with_an_unknown_reason_is_refused(in_state):
    comment_id = in_state(A)

    with pytest.raises(NotFound):
        reports.report_comment(ARTICLE, 999_999, "abuse", "198.51.100.1")
    with pytest.raises(BadRequest):
        reports.report_comment(ARTICLE, comment_id, "看不顺眼", "198.51.100.1")

    assert fresh(comment_id).open_reports == 0


def test_reported_comments_are_listed_in_the_reported_queue_most_reported_first(in_state):
    once = in_state(A, body="被举报一次")
    twice = in_state(A, body="被举报两次 🚨")
    in_state(A, body="没人举报")
    reports.report_comment(ARTICLE, once, "spam", "198.51.100.1")
    reports.report_comment(ARTICLE, twice, "abuse", "198.51.100.1")
    reports.report_comment(ARTICLE, twice, "illegal", "198.51.100.2")

    page = list_queue(QueueFilter(queue=Queue.REPORTED))

    assert [c.id for c in page.items] == [twice, once]
    assert page.total == 2
    assert sorted(r.reason for r in page.reports[twice]) == ["abuse", "illegal"]
    assert queue_counts()[Queue.REPORTED] == 2


@pytest.mark.parametrize("action", [Action.APPROVE, Action.REJECT, Action.SPAM, Action.DELETE])
def test_any_moderation_action_resolves_open_reports(in_state, editor, action):
    comment_id = in_state(A, body="举报后处理")
    reports.report_comment(ARTICLE, comment_id, "abuse", "198.51.100.1")
    reports.report_comment(ARTICLE, comment_id, "spam", "198.51.100.2")

    moderation.apply(comment_id, action, by=editor)

    assert fresh(comment_id).open_reports == 0
    all_reports = list(db.session.execute(select(Report)).scalars())
    assert len(all_reports) == 2
    assert all(r.resolved_at is not None for r in all_reports)
    assert list_queue(QueueFilter(queue=Queue.REPORTED)).items == []


# --- queues -------------------------------------------------------------------------------


def test_pending_queue_is_oldest_first_and_other_queues_newest_first(in_state):
    now = datetime.now(UTC)
    pending = [in_state(P, body=f"待审 {i}") for i in range(3)]
    approved = [in_state(A, body=f"已通过 {i}") for i in range(3)]
    # Creation times in the opposite order of the ids.
    for offset, comment_id in enumerate(pending + approved):
        set_created(comment_id, now - timedelta(minutes=offset))

    pending_page = list_queue(QueueFilter(queue=Queue.PENDING))
    approved_page = list_queue(QueueFilter(queue=Queue.APPROVED))

    assert [c.id for c in pending_page.items] == list(reversed(pending))
    assert [c.id for c in approved_page.items] == approved


def test_deleted_queue_shows_only_deleted_comments_and_other_queues_none(in_state):
    gone = [in_state(A, deleted=True, body="删掉的"), in_state(S, deleted=True, body="删掉的垃圾")]
    live = in_state(A, body="还在")

    deleted_ids = {c.id for c in list_queue(QueueFilter(queue=Queue.DELETED)).items}
    approved_ids = {c.id for c in list_queue(QueueFilter(queue=Queue.APPROVED)).items}
    spam_ids = {c.id for c in list_queue(QueueFilter(queue=Queue.SPAM)).items}

    assert deleted_ids == set(gone)
    assert approved_ids == {live}
    assert spam_ids == set()


def test_queue_filters_by_article_ip_and_text(in_state):
    here = in_state(P, article="67584", body="本文的评论", remote_addr="192.0.2.1")
    there = in_state(P, article="67590", body="另一篇的评论", remote_addr="192.0.2.2")

    def ids(**filters: object) -> list[int]:
        return [c.id for c in list_queue(QueueFilter(queue=Queue.PENDING, **filters)).items]

    assert ids(article="67590") == [there]
    assert ids(article="no-such-article") == []
    assert ids(ip="192.0.2.1") == [here]
    assert ids(text="另一篇") == [there]
    assert ids(text="的评论") == [here, there]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("100%", ["满意度100%👍"]),
        ("a_b", ["a_b 测试"]),
        ("%", ["满意度100%👍"]),
        ("_", ["a_b 测试"]),
    ],
)
def test_queue_text_filter_takes_percent_and_underscore_literally(in_state, query, expected):
    for body in ("满意度100%👍", "满意度100分", "a_b 测试", "axb 测试"):
        in_state(P, body=body)

    page = list_queue(QueueFilter(queue=Queue.PENDING, text=query))

    assert [c.body for c in page.items] == expected


def test_queue_text_filter_also_searches_the_nickname(in_state):
    mine = in_state(P, author="小王同学", body="随便说说")
    in_state(P, author="网友", body="别的内容")

    assert [c.id for c in list_queue(QueueFilter(text="王同")).items] == [mine]


def test_queue_counts_count_every_queue(in_state):
    for _ in range(2):
        in_state(P)
    in_state(A)
    reported = in_state(A, body="被举报")
    reports.report_comment(ARTICLE, reported, "spam", "198.51.100.1")
    in_state(R)
    for _ in range(3):
        in_state(S)
    in_state(P, deleted=True)

    counts = queue_counts()

    assert counts == {
        Queue.PENDING: 2,
        Queue.REPORTED: 1,
        Queue.APPROVED: 2,
        Queue.REJECTED: 1,
        Queue.SPAM: 3,
        Queue.DELETED: 1,
    }
    assert queue_counts(QueueFilter(article="67590")) == {q: 0 for q in Queue}


def test_ip_summary_counts_each_ips_comments_by_status(in_state):
    ip, other = "192.0.2.9", "2001:db8::9"
    for status in (P, P, A, R, S):
        in_state(status, remote_addr=ip)
    in_state(A, deleted=True, remote_addr=ip)
    in_state(P, remote_addr=other)

    summary = ip_summary([ip, other, "192.0.2.200"])

    assert summary[ip] == {
        "pending": 2,
        "approved": 1,
        "rejected": 1,
        "spam": 1,
        "deleted": 1,
        "total": 6,
    }
    assert summary[other] == {"pending": 1, "total": 1}
    assert "192.0.2.200" not in summary
    page = list_queue(QueueFilter(queue=Queue.PENDING, ip=ip))
    assert page.ip_summary[ip]["total"] == 6


# --- dashboard numbers ------------------------------------------------------------------


def test_dashboard_counts_todays_work_waits_and_the_30_day_chart(in_state, editor):
    other = auth.add_moderator("老李", PASSWORD, admin=True)
    assert other.role == Role.ADMIN
    now = datetime.now(UTC)
    minutes = {"waiting": 180, "waiting2": 60, "approve": 10, "reject": 30, "spam": 50}
    ids = {name: in_state(P, body=f"评论 {name}") for name in minutes}
    for name, age in minutes.items():
        set_created(ids[name], now - timedelta(minutes=age))
    triaged = in_state(A, body="自动通过 ✅")  # a triage decision counts as decided today
    ancient = in_state(P, body="四十天前")
    set_created(ancient, now - timedelta(days=40))
    moderation.apply(ancient, Action.DELETE, by=editor)

    moderation.apply(ids["approve"], Action.APPROVE, by=editor)
    moderation.apply(ids["reject"], Action.REJECT, by=editor, reason="与文章无关")
    moderation.apply(ids["spam"], Action.SPAM, by=other)

    board = stats.dashboard()

    assert board.pending == 2
    assert board.decided_today == {"approved": 2, "rejected": 1, "spam": 1}
    assert board.oldest_pending is not None
    assert abs(board.oldest_pending - timedelta(minutes=180)) < timedelta(minutes=1)
    assert board.median_decision is not None
    assert abs(board.median_decision - timedelta(minutes=30)) < timedelta(minutes=1)
    assert board.per_moderator == [("编辑小王", 2), ("老李", 1)]

    assert len(board.bars) == 30
    today = now.astimezone(stats._zone()).date()
    assert board.bars[-1].day == today
    assert board.bars[0].day == today - timedelta(days=29)
    start = stats.start_of_today()
    statuses = {
        ids["waiting"]: "pending",
        ids["waiting2"]: "pending",
        ids["approve"]: "approved",
        ids["reject"]: "rejected",
        ids["spam"]: "spam",
        triaged: "approved",
    }
    todays: dict[str, int] = {}
    earlier = 0
    for comment_id, status in statuses.items():
        if fresh(comment_id).created_at >= start:
            todays[status] = todays.get(status, 0) + 1
        else:  # run shortly after midnight: it falls on yesterday's bar
            earlier += 1
    assert board.bars[-1].counts == todays
    assert board.bars[-1].total == sum(todays.values())
    assert board.bars[-2].total == earlier
    assert sum(b.total for b in board.bars) == 6  # the 40-day-old comment is not charted
    assert board.chart_max == max(b.total for b in board.bars)
