"""Admin pages under /mod/admin: moderators, word lists, trust rules, bans and settings."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import ADMIN, MOD_PASSWORD, MODERATOR, form_post, login
from werkzeug.test import TestResponse

from service import auth, bans, triage, words
from service.extensions import db
from service.models import Moderator, RuleKind, Status, WordKind

NEW_PASSWORD = "新的密码-tr0ub4dor-and-3"
ARTICLE = "67584"
TOO_SHORT = "密码至少需要 10 个字符。"


# --- helpers ----------------------------------------------------------------------------


def text_of(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def find(app: Flask, name: str) -> Moderator:
    with app.app_context():
        found = auth.find_moderator(name)
        assert found is not None
        db.session.expunge(found)
        return found


def can_log_in(app: Flask, name: str, password: str) -> bool:
    return login(app.test_client(), name, password).status_code == 303


# --- who may see the admin pages -----------------------------------------------------------

ADMIN_PAGES = ["moderators", "words", "rules", "bans", "settings", "audit"]
ADMIN_POSTS = [
    ("moderators", {"username": "xiaozhao", "password": NEW_PASSWORD}),
    (f"moderators/{MODERATOR}", {"change": "role", "role": "admin"}),
    ("words", {"kind": "banned", "words": "赌博"}),
    ("words/remove", {"ids": "1"}),
    ("rules", {}),
    ("bans", {"network": "198.51.100.0/24"}),
    ("bans/1/lift", {}),
    ("settings", {"mode": "post", "reject_reasons": "随便"}),
]


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_moderators_cannot_see_admin_pages(mod_client, page):
    response = mod_client.get(f"/mod/admin/{page}")

    assert response.status_code == 403


@pytest.mark.parametrize("path, data", ADMIN_POSTS, ids=[p for p, _ in ADMIN_POSTS])
def test_moderators_cannot_change_admin_settings(app, mod_client, path, data):
    response = form_post(mod_client, f"/mod/admin/{path}", data)

    assert response.status_code == 403
    with app.app_context():
        assert not find(app, MODERATOR).is_admin
        assert auth.find_moderator("xiaozhao") is None
        assert words.list_words(WordKind.BANNED) == []
        assert bans.active_bans() == []


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_admins_see_admin_pages(admin_client, page):
    response = admin_client.get(f"/mod/admin/{page}")

    assert response.status_code == 200
    assert 'lang="zh-CN"' in response.get_data(as_text=True)


def test_admin_pages_need_a_sign_in(client):
    response = client.get("/mod/admin/moderators")

    assert response.status_code in (302, 303)
    assert response.location.startswith("/mod/login")


# --- moderators -------------------------------------------------------------------------


def test_admin_adds_a_moderator_who_can_log_in(app, admin_client):
    response = form_post(
        admin_client,
        "/mod/admin/moderators",
        {"username": "xiaozhao", "password": NEW_PASSWORD, "role": "moderator"},
    )

    assert response.status_code == 303
    assert "<td>xiaozhao</td>" in text_of(admin_client.get("/mod/admin/moderators"))
    assert not find(app, "xiaozhao").is_admin
    assert can_log_in(app, "xiaozhao", NEW_PASSWORD)


def test_admin_changes_a_role(app, admin_client, moderator):
    form_post(
        admin_client, f"/mod/admin/moderators/{moderator}", {"change": "role", "role": "admin"}
    )

    assert find(app, moderator).is_admin
    client = app.test_client()
    login(client, moderator, MOD_PASSWORD)
    assert client.get("/mod/admin/moderators").status_code == 200

    form_post(
        admin_client, f"/mod/admin/moderators/{moderator}", {"change": "role", "role": "moderator"}
    )

    assert not find(app, moderator).is_admin
    assert client.get("/mod/admin/moderators").status_code == 403


def test_unknown_role_is_400(app, admin_client, moderator):
    response = form_post(
        admin_client, f"/mod/admin/moderators/{moderator}", {"change": "role", "role": "god"}
    )

    assert response.status_code == 400
    assert not find(app, moderator).is_admin


def test_disabled_moderator_is_signed_out_and_cannot_log_in(app, admin_client, mod_client):
    response = form_post(admin_client, f"/mod/admin/moderators/{MODERATOR}", {"change": "disable"})

    assert response.status_code == 303
    assert not find(app, MODERATOR).active
    assert mod_client.get("/mod/queue").status_code in (302, 303)
    assert not can_log_in(app, MODERATOR, MOD_PASSWORD)

    form_post(admin_client, f"/mod/admin/moderators/{MODERATOR}", {"change": "enable"})

    assert find(app, MODERATOR).active
    assert can_log_in(app, MODERATOR, MOD_PASSWORD)


def test_admin_sets_a_password(app, admin_client, moderator):
    response = form_post(
        admin_client,
        f"/mod/admin/moderators/{moderator}",
        {"change": "password", "password": NEW_PASSWORD},
    )

    assert response.status_code == 303
    assert can_log_in(app, moderator, NEW_PASSWORD)
    assert not can_log_in(app, moderator, MOD_PASSWORD)


def test_admin_cannot_disable_themself(app, admin_client):
    response = form_post(admin_client, f"/mod/admin/moderators/{ADMIN}", {"change": "disable"})

    assert response.status_code == 400
    assert "不能停用自己的账号。" in text_of(response)
    assert find(app, ADMIN).active


@pytest.mark.parametrize(
    "path, data",
    [
        ("moderators", {"username": "xiaozhao", "password": "短密码123", "role": "moderator"}),
        (f"moderators/{MODERATOR}", {"change": "password", "password": "短密码123"}),
    ],
    ids=["new-account", "reset"],
)
def test_short_password_is_refused(app, admin_client, moderator, path, data):
    response = form_post(admin_client, f"/mod/admin/{path}", data)

    assert response.status_code == 400
    assert TOO_SHORT in text_of(response)
    with app.app_context():
        assert auth.find_moderator("xiaozhao") is None
    assert can_log_in(app, moderator, MOD_PASSWORD)


def test_unknown_moderator_is_404(admin_client):
    response = form_post(admin_client, "/mod/admin/moderators/nobody", {"change": "disable"})

    assert response.status_code == 404


# --- words ------------------------------------------------------------------------------


def word_lists(client: FlaskClient) -> dict[str, dict[str, int]]:
    """The words page's lists: kind -> {word: id}."""
    page = client.get("/mod/admin/words").get_data(as_text=True)
    banned, suspect = page.split('<section class="panel">')[1:]
    item = re.compile(r'name="ids" value="(\d+)"> ([^<]+)</label>')
    return {
        "banned": {word: int(i) for i, word in item.findall(banned)},
        "suspect": {word: int(i) for i, word in item.findall(suspect)},
    }


def test_admin_adds_banned_and_suspect_words(admin_client):
    banned = form_post(
        admin_client, "/mod/admin/words", {"kind": "banned", "words": "代开发票\n赌博,六合彩, 博彩"}
    )
    form_post(admin_client, "/mod/admin/words", {"kind": "suspect", "words": "微信\n\n加群,  QQ"})

    assert banned.status_code == 303
    lists = word_lists(admin_client)
    assert set(lists["banned"]) == {"代开发票", "赌博", "六合彩", "博彩"}
    assert set(lists["suspect"]) == {"微信", "加群", "QQ"}


def test_full_width_commas_separate_words_too(admin_client):
    """The page says “用逗号分隔”; a Chinese keyboard types the full-width “，”."""
    form_post(admin_client, "/mod/admin/words", {"kind": "banned", "words": "赌博，六合彩"})

    assert set(word_lists(admin_client)["banned"]) == {"赌博", "六合彩"}


def test_admin_removes_selected_words(admin_client):
    form_post(admin_client, "/mod/admin/words", {"kind": "banned", "words": "赌博,博彩,六合彩"})
    ids = word_lists(admin_client)["banned"]

    response = form_post(
        admin_client, "/mod/admin/words/remove", {"ids": [str(ids["赌博"]), str(ids["六合彩"])]}
    )

    assert response.status_code == 303
    assert set(word_lists(admin_client)["banned"]) == {"博彩"}


# --- rules ------------------------------------------------------------------------------


def rules_of(app: Flask) -> dict[RuleKind, dict[str, Any]]:
    with app.app_context():
        return {
            RuleKind(r.kind): {
                "id": r.id,
                "position": r.position,
                "threshold": r.threshold,
                "window_minutes": r.window_minutes,
                "enabled": r.enabled,
            }
            for r in triage.list_rules()
        }


def rules_form(rules: dict[RuleKind, dict[str, Any]]) -> dict[str, str]:
    """The rules page's form as it is filled in now."""
    form = {}
    for rule in rules.values():
        form[f"position-{rule['id']}"] = str(rule["position"])
        form[f"threshold-{rule['id']}"] = str(rule["threshold"])
        form[f"window-{rule['id']}"] = str(rule["window_minutes"])
        if rule["enabled"]:
            form[f"enabled-{rule['id']}"] = "on"
    return form


def test_admin_saves_rule_changes(app, admin_client):
    before = rules_of(app)
    first, trusted = before[RuleKind.HOLD_FIRST_COMMENT], before[RuleKind.AUTO_APPROVE_TRUSTED]
    form = rules_form(before)
    form[f"enabled-{first['id']}"] = "on"
    form[f"threshold-{trusted['id']}"] = "3"

    response = form_post(admin_client, "/mod/admin/rules", form)

    assert response.status_code == 303
    after = rules_of(app)
    assert after[RuleKind.HOLD_FIRST_COMMENT]["enabled"] is True
    assert after[RuleKind.AUTO_APPROVE_TRUSTED]["threshold"] == 3
    assert after[RuleKind.AUTO_APPROVE_TRUSTED]["enabled"] is trusted["enabled"]
    assert after[RuleKind.HOLD_LINKS] == before[RuleKind.HOLD_LINKS]


@pytest.mark.parametrize(
    "value",
    ["三", "-1", "2.5", "abc", "²"],
    ids=["chinese", "negative", "fraction", "letters", "superscript"],
)
def test_rule_numbers_must_be_whole_numbers(app, admin_client, value):
    before = rules_of(app)
    form = rules_form(before)
    form[f"threshold-{before[RuleKind.HOLD_LINKS]['id']}"] = value

    response = form_post(admin_client, "/mod/admin/rules", form)

    assert response.status_code == 400
    assert "规则中的数字必须是不小于 0 的整数。" in text_of(response)
    assert rules_of(app) == before


# --- bans -------------------------------------------------------------------------------


@pytest.fixture
def post_from(client: FlaskClient, solved: Callable[[], tuple[str, str]]) -> Callable[..., Any]:
    """Post a comment through the public API from an IP address."""

    def submit(ip: str, body: str = "我来说两句") -> TestResponse:
        token, answer = solved()
        return client.post(
            f"/api/v1/articles/{ARTICLE}/comments",
            json={"author": "读者", "body": body, "captcha_token": token, "captcha_answer": answer},
            environ_base={"REMOTE_ADDR": ip},
        )

    return submit


def test_ban_blocks_posting_until_lifted(app, admin_client, post_from):
    response = form_post(
        admin_client,
        "/mod/admin/bans",
        {"network": "198.51.100.0/24", "days": "2", "reason": "刷屏广告"},
    )

    assert response.status_code == 303
    page = text_of(admin_client.get("/mod/admin/bans"))
    assert "<code>198.51.100.0/24</code>" in page
    assert "刷屏广告" in page
    with app.app_context():
        (ban,) = bans.active_bans()
        assert ban.expires_at is not None
        assert abs(ban.expires_at - datetime.now(UTC) - timedelta(days=2)) < timedelta(minutes=5)

    refused = post_from("198.51.100.7")

    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "forbidden"
    assert post_from("198.51.101.7").status_code == 202

    lift = re.search(r'action="(/mod/admin/bans/\d+/lift)"', page)
    assert lift
    form_post(admin_client, lift.group(1))

    assert "198.51.100.0/24" not in text_of(admin_client.get("/mod/admin/bans"))
    accepted = post_from("198.51.100.7")
    assert accepted.status_code == 202
    assert accepted.get_json()["status"] == "pending"


@pytest.mark.parametrize(
    "network",
    ["198.51.100.0/33", "不是IP", "", "300.1.1.1"],
    ids=["prefix", "text", "empty", "octet"],
)
def test_invalid_ban_range_is_400(app, admin_client, network):
    response = form_post(admin_client, "/mod/admin/bans", {"network": network, "days": "2"})

    assert response.status_code == 400
    assert "不是有效的 IP 地址或网段。" in text_of(response)
    with app.app_context():
        assert bans.active_bans() == []


@pytest.mark.parametrize(
    "days", ["两天", "-2", "2.5", "²"], ids=["chinese", "negative", "fraction", "superscript"]
)
def test_ban_length_must_be_a_number_of_days(app, admin_client, days):
    """Only an empty field means “until lifted”; a typo must not make a ban permanent."""
    response = form_post(
        admin_client, "/mod/admin/bans", {"network": "198.51.100.0/24", "days": days}
    )

    assert response.status_code == 400
    with app.app_context():
        assert bans.active_bans() == []


def test_empty_ban_length_bans_until_lifted(app, admin_client):
    form_post(admin_client, "/mod/admin/bans", {"network": "2001:db8::/48", "days": ""})

    with app.app_context():
        (ban,) = bans.active_bans()
        assert (ban.network, ban.expires_at) == ("2001:db8::/48", None)
    assert "<code>2001:db8::/48</code>" in text_of(admin_client.get("/mod/admin/bans"))


def test_removing_words_ignores_ids_that_are_not_plain_numbers(admin_client):
    form_post(admin_client, "/mod/admin/words", {"kind": "suspect", "words": "微信"})
    ids = word_lists(admin_client)["suspect"]

    response = form_post(admin_client, "/mod/admin/words/remove", {"ids": ["²", str(ids["微信"])]})

    assert response.status_code == 303
    assert word_lists(admin_client)["suspect"] == {}


@pytest.mark.parametrize("comment", ["²", "abc", "-1"], ids=["superscript", "letters", "negative"])
def test_audit_filter_ignores_a_comment_number_that_is_not_one(admin_client, comment):
    response = admin_client.get("/mod/admin/audit", query_string={"comment": comment})

    assert response.status_code == 200
    assert "<td>login</td>" in response.get_data(as_text=True)


# --- settings ---------------------------------------------------------------------------


def test_admin_switches_to_post_moderation_and_edits_reasons(
    app, admin_client, make_comment, post_from
):
    make_comment(body="待审核的评论", status=Status.PENDING)

    response = form_post(
        admin_client,
        "/mod/admin/settings",
        {"mode": "post", "reject_reasons": "含有广告\n\n  与本文无关  \n"},
    )

    assert response.status_code == 303
    settings_page = text_of(admin_client.get("/mod/admin/settings"))
    assert 'value="post" checked' in settings_page
    queue = text_of(admin_client.get("/mod/queue"))
    select = re.search(r'<select name="reason" class="reason-select".*?</select>', queue, re.S)
    assert select
    assert re.findall(r"<option>([^<]*)</option>", select.group(0)) == ["含有广告", "与本文无关"]
    posted = post_from("192.0.2.30", body="先发后审的新评论")
    assert posted.get_json()["status"] == Status.APPROVED


def test_unknown_moderation_mode_is_400(app, admin_client):
    response = form_post(admin_client, "/mod/admin/settings", {"mode": "none"})

    assert response.status_code == 400
    assert 'value="pre" checked' in text_of(admin_client.get("/mod/admin/settings"))
