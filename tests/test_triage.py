"""Automatic triage of new comments: moderation modes, word lists, trust rules and bans."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from service import articles, bans, settings, triage, words
from service.errors import BadRequest
from service.extensions import db
from service.models import AuditEntry, Ban, Comment, ModerationMode, RuleKind, Status, WordKind

ARTICLE = "67584"
IP = "192.0.2.10"
CHINESE = re.compile(r"[\u4e00-\u9fff]")


# --- helpers ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_word_matcher() -> Iterator[None]:
    """The compiled matcher is cached per process by version number; start and end clean."""
    words._cache["version"] = None
    yield
    words._cache["version"] = None


@pytest.fixture
def post(client: FlaskClient, solved: Callable[[], tuple[str, str]]) -> Callable[..., TestResponse]:
    """Submit a comment through the JSON API with a rightly answered captcha."""

    def submit(body: str, article: str = ARTICLE, ip: str = IP, **fields: Any) -> TestResponse:
        token, answer = solved()
        payload = {
            "author": "小明",
            "body": body,
            "captcha_token": token,
            "captcha_answer": answer,
            **fields,
        }
        return client.post(
            f"/api/v1/articles/{article}/comments",
            json=payload,
            environ_base={"REMOTE_ADDR": ip},
        )

    return submit


def last_comment() -> Comment:
    db.session.expire_all()
    comment = db.session.execute(select(Comment).order_by(Comment.id.desc()).limit(1)).scalar()
    assert comment is not None
    return comment


def status_of(response: TestResponse) -> Status:
    """The stored status of the comment a 202 answer was about."""
    assert response.status_code == 202, response.get_data(as_text=True)
    db.session.expire_all()
    comment = db.session.get(Comment, response.get_json()["id"])
    assert comment is not None
    return Status(comment.status)


def reason_of(response: TestResponse) -> str | None:
    assert response.status_code == 202, response.get_data(as_text=True)
    db.session.expire_all()
    comment = db.session.get(Comment, response.get_json()["id"])
    assert comment is not None
    return comment.triage_reason


def count(client: FlaskClient, key: str = ARTICLE) -> int:
    return client.get("/api/v1/counts", query_string={"article": key}).get_json()["counts"][key]


def rule(kind: RuleKind) -> Any:
    (found,) = [r for r in triage.list_rules() if r.kind == kind]
    return found


def set_rule(kind: RuleKind, **change: object) -> None:
    """Change one rule the way the admin form does: every field sent, enabled included."""
    current = rule(kind)
    full = {
        "position": current.position,
        "threshold": current.threshold,
        "window_minutes": current.window_minutes,
        "enabled": current.enabled,
        **change,
    }
    triage.update_rules({current.id: full}, None)


def post_mode() -> None:
    settings.update_settings({"moderation_mode": "post"}, None)


# --- moderation modes -------------------------------------------------------------------


def test_comments_wait_for_a_moderator_by_default(ctx, post, client):
    response = post("写得好，支持！🎉")

    assert response.status_code == 202
    assert response.get_json()["status"] == "pending"
    comment = last_comment()
    assert (comment.status, comment.triage_reason) == (Status.PENDING, None)
    assert count(client) == 0


def test_post_moderation_publishes_at_once_and_counts_it(ctx, post, client):
    post_mode()

    response = post("先发后审的评论 🚀")

    assert response.get_json()["status"] == "approved"
    assert status_of(response) == Status.APPROVED
    assert count(client) == 1
    listing = client.get(f"/api/v1/articles/{ARTICLE}/comments").get_json()
    assert [c["body"] for c in listing["comments"]] == ["先发后审的评论 🚀"]
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "triage")).scalar()
    assert entry is not None
    assert (entry.actor, entry.to_status) == ("system", "approved")


@pytest.mark.parametrize(
    ("site", "article_mode", "expected", "site_expected"),
    [
        ("post", ModerationMode.PRE, Status.PENDING, Status.APPROVED),
        ("pre", ModerationMode.POST, Status.APPROVED, Status.PENDING),
    ],
)
def test_an_articles_own_mode_wins_over_the_sites_until_cleared(
    ctx, post, make_comment, site, article_mode, expected, site_expected
):
    settings.update_settings({"moderation_mode": site}, None)
    make_comment(article="special", status=Status.PENDING, body="文章的第一条")
    articles.update_article("special", mode=article_mode)

    assert status_of(post("按文章的设置", article="special")) == expected
    assert status_of(post("别的文章按全站设置", article="ordinary")) == site_expected

    articles.update_article("special", clear_mode=True)

    assert status_of(post("恢复全站设置后", article="special")) == site_expected


# --- banned and suspect words ----------------------------------------------------------


def test_a_banned_word_rejects_the_comment_and_tells_the_reader(ctx, post, client):
    words.add_words("法轮", WordKind.BANNED, None)

    response = post("我在练法轮功")

    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "comment_rejected"
    assert CHINESE.search(error["message"])
    comment = last_comment()
    assert comment.body == "我在练法轮功"
    assert comment.status == Status.REJECTED
    assert comment.triage_reason is not None and "法轮" in comment.triage_reason
    assert count(client) == 0


@pytest.mark.parametrize(
    ("word", "text"),
    [
        pytest.param("法轮", "练法 轮功", id="space"),
        pytest.param("法轮", "法.轮，大法", id="punctuation"),
        pytest.param("法轮", "法🙂轮", id="emoji"),
        pytest.param("法轮", "法\u200b轮", id="zero-width"),
        pytest.param("VPN", "出售ｖｐｎ翻墙", id="full-width"),
        pytest.param("发票", "代开發票", id="traditional"),
        pytest.param("发票", "代开發 票，联系我", id="traditional-spaced"),
        pytest.param("臺灣", "台湾旅游", id="word-typed-traditional"),
    ],
)
def test_banned_words_are_found_through_disguises(ctx, post, word, text):
    words.add_words(word, WordKind.BANNED, None)

    response = post(text)

    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "comment_rejected"
    comment = last_comment()
    assert (comment.body, comment.status) == (text, Status.REJECTED)
    assert word in (comment.triage_reason or "")


def test_a_suspect_word_holds_the_comment_even_in_post_mode(ctx, post, client):
    post_mode()
    words.add_words("代购", WordKind.SUSPECT, None)

    response = post("有没有代购的朋友？🛍️")

    assert status_of(response) == Status.PENDING
    assert reason_of(response) == "held: suspect word “代购”"
    assert count(client) == 0
    assert status_of(post("普通的评论")) == Status.APPROVED


def test_a_suspect_word_does_not_save_a_duplicate_from_being_spam(ctx, post):
    words.add_words("代购", WordKind.SUSPECT, None)

    first = post("专业代购，价格优惠 💰")
    second = post("专业代购，价格优惠 💰")

    assert status_of(first) == Status.PENDING
    assert status_of(second) == Status.SPAM
    assert reason_of(second) == "spam: duplicate text"


def test_a_comment_triaged_as_spam_is_answered_as_pending(ctx, post):
    post("刷屏内容 🔁")

    response = post("刷屏内容 🔁")

    assert status_of(response) == Status.SPAM
    # The OpenAPI "Accepted" schema allows only pending/approved, and the widget shows a
    # spam verdict as "awaiting review": a spammer must not learn that he was caught.
    assert response.get_json()["status"] == "pending"


# --- word lists ---------------------------------------------------------------------------


def test_add_words_splits_lines_and_commas_and_skips_known_words(ctx):
    added = words.add_words("法轮\n发票, 代开\n\n法轮 ,  ", WordKind.BANNED, None)

    assert added == ["法轮", "发票", "代开"]
    version = settings.get_setting("words_version")
    assert words.add_words("发票,新词\n代开", WordKind.BANNED, None) == ["新词"]
    changed = settings.get_setting("words_version")
    assert changed != version  # a new word makes a new version...
    assert words.add_words("发票", WordKind.BANNED, None) == []
    assert settings.get_setting("words_version") == changed  # ...and nothing new, none
    assert [w.word for w in words.list_words(WordKind.BANNED)] == sorted(
        ["法轮", "发票", "代开", "新词"]
    )
    # The same word may be on the other list.
    assert words.add_words("发票", WordKind.SUSPECT, None) == ["发票"]


def test_add_words_also_splits_at_chinese_commas(ctx):
    added = words.add_words("代购，代开、刷单", WordKind.SUSPECT, None)

    assert added == ["代购", "代开", "刷单"]


@pytest.mark.parametrize(
    "bad", [pytest.param("词" * 65, id="65-chars"), pytest.param("！？", id="only-punctuation")]
)
def test_add_words_refuses_unusable_words_and_adds_none(app, ctx, bad):
    with pytest.raises(BadRequest):
        words.add_words(f"好词\n{bad}", WordKind.BANNED, None)

    with app.app_context():  # what another request sees
        assert words.list_words(WordKind.BANNED) == []
        assert settings.get_setting("words_version") == 0


def test_a_64_character_word_is_accepted(ctx):
    word = "长" * 64

    assert words.add_words(word, WordKind.SUSPECT, None) == [word]


def test_removed_words_no_longer_match(ctx, post):
    words.add_words("法轮\n发票", WordKind.BANNED, None)
    ids = [w.id for w in words.list_words(WordKind.BANNED) if w.word == "法轮"]

    assert words.remove_words(ids, None) == 1
    assert words.remove_words([999_999], None) == 0

    assert [w.word for w in words.list_words(WordKind.BANNED)] == ["发票"]
    assert post("法轮").status_code == 202
    assert post("代开发票").status_code == 422


def test_a_new_word_takes_effect_on_the_next_comment_without_restart(ctx, post):
    assert status_of(post("可以代开发票")) == Status.PENDING

    words.add_words("发票", WordKind.BANNED, None)

    assert post("可以代开发票，量大从优").status_code == 422
    words.remove_words([w.id for w in words.list_words(WordKind.BANNED)], None)
    assert status_of(post("可以代开发票，欢迎咨询")) == Status.PENDING


@pytest.mark.skipif(
    bool(os.environ.get("COMMENTS_TEST_DATABASE_URL")), reason="copies a SQLite database file"
)
def test_each_database_gets_its_own_word_lists(
    app: Flask, make_app: Callable[..., Flask], migrated_database: str, tmp_path: Path
):
    other_file = tmp_path / "other-site.db"
    shutil.copy(migrated_database, other_file)
    other = make_app(DATABASE_URL=f"sqlite:///{other_file}")

    with app.app_context():
        words.add_words("法轮", WordKind.BANNED, None)
        assert words.matcher().kinds("练法轮功") == {"banned"}
    with other.app_context():
        words.add_words("发票", WordKind.BANNED, None)  # also version 1, in its database
        assert words.matcher().kinds("代开发票") == {"banned"}
        assert words.matcher().kinds("练法轮功") == set()


# --- trust rules ----------------------------------------------------------------------


def test_default_rules_come_from_the_migration_in_order(ctx):
    described = [(r.kind, r.threshold, r.window_minutes, r.enabled) for r in triage.list_rules()]

    assert described == [
        (RuleKind.DUPLICATE_SPAM, 0, 60, True),
        (RuleKind.HOLD_LINKS, 1, 0, True),
        (RuleKind.HOLD_FIRST_COMMENT, 0, 0, False),
        (RuleKind.AUTO_APPROVE_TRUSTED, 5, 180 * 24 * 60, False),
    ]


def test_the_same_text_from_the_same_ip_within_an_hour_is_spam(ctx, post, client):
    post_mode()
    first = post("沙发！🛋️")

    second = post("沙发！🛋️")

    assert status_of(first) == Status.APPROVED
    assert status_of(second) == Status.SPAM
    assert reason_of(second) == "spam: duplicate text"
    assert count(client) == 1


def test_the_same_text_from_another_ip_is_not_spam(ctx, post):
    post("沙发！🛋️", ip="192.0.2.10")

    response = post("沙发！🛋️", ip="192.0.2.11")

    assert status_of(response) == Status.PENDING
    assert reason_of(response) is None


def test_the_same_text_after_the_window_is_not_spam(ctx, post):
    first = post("一小时前说过的话")
    comment = db.session.get(Comment, first.get_json()["id"])
    assert comment is not None
    comment.created_at = datetime.now(UTC) - timedelta(minutes=61)
    db.session.commit()

    assert status_of(post("一小时前说过的话")) == Status.PENDING


def test_more_than_one_link_holds_the_comment_even_in_post_mode(ctx, post):
    post_mode()

    one = post("详见 https://www.portal.example/a.html 👀")
    two = post("看 https://a.example/1 和 http://b.example/2")

    assert status_of(one) == Status.APPROVED
    assert status_of(two) == Status.PENDING
    assert reason_of(two) == "held: contains 2 link(s)"


def test_disabled_rules_do_not_fire(ctx, post):
    post_mode()
    set_rule(RuleKind.HOLD_LINKS, enabled=False)
    set_rule(RuleKind.DUPLICATE_SPAM, enabled=False)

    links = post("看 https://a.example/1 和 http://b.example/2")
    post("重复的话")
    again = post("重复的话")

    assert status_of(links) == Status.APPROVED
    assert status_of(again) == Status.APPROVED


def test_hold_first_comment_holds_newcomers_until_they_have_an_approved_comment(
    ctx, post, make_comment
):
    post_mode()
    set_rule(RuleKind.HOLD_FIRST_COMMENT, enabled=True)

    newcomer = post("第一次留言 👋", ip="192.0.2.20")
    make_comment(status=Status.APPROVED, body="早先通过的", remote_addr="192.0.2.21")
    regular = post("老读者又来了", ip="192.0.2.21")

    assert status_of(newcomer) == Status.PENDING
    assert reason_of(newcomer) == "held: first comment from this submitter"
    assert status_of(regular) == Status.APPROVED
    # Held or rejected comments do not make a submitter known.
    assert status_of(post("第二次留言", ip="192.0.2.20")) == Status.PENDING


def test_auto_approve_trusted_approves_in_pre_mode_after_enough_approved_comments(
    ctx, post, make_comment, client
):
    set_rule(RuleKind.AUTO_APPROVE_TRUSTED, enabled=True, threshold=2)
    trusted = "192.0.2.30"
    make_comment(status=Status.APPROVED, body="通过的第一条", remote_addr=trusted)
    make_comment(status=Status.PENDING, body="待审的不算", remote_addr=trusted)

    once = post("只有一条通过", ip=trusted)
    make_comment(status=Status.APPROVED, body="通过的第二条", remote_addr=trusted)
    twice = post("已有两条通过 ✅", ip=trusted)

    assert status_of(once) == Status.PENDING
    assert status_of(twice) == Status.APPROVED
    assert reason_of(twice) == "approved: trusted submitter (2 approved)"
    assert count(client) == 3


def test_rule_order_decides_which_rule_wins(ctx, post, make_comment):
    set_rule(RuleKind.AUTO_APPROVE_TRUSTED, enabled=True, threshold=2)
    trusted = "192.0.2.40"
    for body in ("通过一", "通过二"):
        make_comment(status=Status.APPROVED, body=body, remote_addr=trusted)
    two_links = "参考 https://a.example/1 与 https://b.example/2"

    held = post(two_links, ip=trusted)
    set_rule(RuleKind.AUTO_APPROVE_TRUSTED, position=0)
    approved = post(two_links + " 🔗", ip=trusted)

    assert [r.kind for r in triage.list_rules()][0] == RuleKind.AUTO_APPROVE_TRUSTED
    assert status_of(held) == Status.PENDING
    assert reason_of(held) == "held: contains 2 link(s)"
    assert status_of(approved) == Status.APPROVED


@pytest.mark.parametrize(
    "value",
    [pytest.param(-1, id="negative"), pytest.param("3", id="text"), pytest.param(2.5, id="float")],
)
@pytest.mark.parametrize("field", ["position", "threshold", "window_minutes"])
def test_update_rules_refuses_numbers_that_are_not_whole_and_non_negative(app, ctx, field, value):
    links = rule(RuleKind.HOLD_LINKS)
    before = (links.position, links.threshold, links.window_minutes, links.enabled)

    with pytest.raises(BadRequest):
        triage.update_rules({links.id: {field: value, "enabled": True}}, None)

    with app.app_context():  # nothing was stored
        stored = rule(RuleKind.HOLD_LINKS)
        assert (stored.position, stored.threshold, stored.window_minutes, stored.enabled) == before
        assert (
            db.session.execute(select(AuditEntry).where(AuditEntry.action == "rules")).first()
            is None
        )


def test_update_rules_is_audited(ctx):
    links = rule(RuleKind.HOLD_LINKS)

    set_rule(RuleKind.HOLD_LINKS, threshold=3)

    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "rules")).scalar()
    assert entry is not None
    assert json.loads(entry.detail or "{}")[str(links.id)]["threshold"] == 3
    assert rule(RuleKind.HOLD_LINKS).threshold == 3


# --- bans ---------------------------------------------------------------------------------


def test_a_banned_network_cannot_post_and_is_told_nothing_about_it(ctx, client, solved):
    bans.add_ban("203.0.113.0/24", 1, "spam", None)
    token, answer = solved()
    payload = {
        "author": "水军",
        "body": "广告 📢",
        "captcha_token": token,
        "captcha_answer": answer,
    }

    banned = client.post(
        f"/api/v1/articles/{ARTICLE}/comments",
        json=payload,
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )

    assert banned.status_code == 403
    error = banned.get_json()["error"]
    assert error["code"] == "forbidden"
    assert error["message"] == "暂时无法提交评论。"
    assert "封" not in error["message"] and "ban" not in error["message"].lower()
    assert db.session.execute(select(Comment)).first() is None
    # The captcha was spent all the same.
    again = client.post(
        f"/api/v1/articles/{ARTICLE}/comments",
        json=payload,
        environ_base={"REMOTE_ADDR": "203.0.114.1"},
    )
    assert again.status_code == 422
    assert again.get_json()["error"]["code"] == "captcha_invalid"


def test_a_ban_leaves_other_networks_alone(ctx, post):
    bans.add_ban("203.0.113.0/24", 1, "spam", None)

    assert post("隔壁网段", ip="203.0.114.1").status_code == 202
    assert post("同一网段", ip="203.0.113.200").status_code == 403


def test_an_ipv6_ban_covers_its_range(ctx, post):
    bans.add_ban("2001:db8:1::/48", 1, None, None)

    assert post("IPv6 网友", ip="2001:db8:1:2::5").status_code == 403
    assert post("另一个 IPv6", ip="2001:db8:2::5").status_code == 202
    assert post("IPv4 网友", ip="203.0.113.9").status_code == 202


def test_a_lifted_ban_no_longer_applies(ctx, post):
    ban = bans.add_ban("203.0.113.0/24", 1, "spam", None)
    assert post("封禁中", ip="203.0.113.9").status_code == 403

    bans.lift_ban(ban.id, None)

    assert post("解封了 🎉", ip="203.0.113.9").status_code == 202


def test_an_expired_ban_no_longer_applies(ctx, post):
    ban = bans.add_ban("203.0.113.0/24", 1, "spam", None)
    stored = db.session.get(Ban, ban.id)
    assert stored is not None
    stored.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()

    assert not bans.is_banned("203.0.113.9")
    assert post("过期了", ip="203.0.113.9").status_code == 202


@pytest.mark.parametrize(
    ("network", "days"),
    [
        pytest.param("203.0.113.300/24", 1, id="bad-octet"),
        pytest.param("not-an-ip", 1, id="text"),
        pytest.param("203.0.113.0/33", 1, id="bad-prefix"),
        pytest.param("", 1, id="empty"),
        pytest.param("203.0.113.0/24", 0, id="zero-days"),
        pytest.param("203.0.113.0/24", 3651, id="too-many-days"),
    ],
)
def test_invalid_bans_are_refused(ctx, network, days):
    with pytest.raises(BadRequest):
        bans.add_ban(network, days, "spam", None)

    assert bans.active_bans() == []
