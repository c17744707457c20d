"""The moderator dashboard under /mod: sign-in, queues, actions, articles, numbers."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import ADMIN, MOD_PASSWORD, MODERATOR, add_account, csrf_token, form_post, login
from werkzeug.security import check_password_hash
from werkzeug.test import TestResponse

from service import auth, bans, moderation, reports, words
from service.articles import ensure_article
from service.config import DEFAULTS
from service.extensions import db
from service.models import Comment, Status, WordKind

ARTICLE = "67584"
PORTAL_URL = "https://www.portal.example/zcjh/zhengwu/67584.html"
TITLE = "关于进一步优化政务服务的实施意见"
LOGIN_ERROR = re.compile(r'<p class="flash flash-error" role="alert">(.*?)</p>', re.S)
WRONG_CREDENTIALS = "用户名或密码错误。"
LOCKED = "登录失败次数过多，请几分钟后再试。"


# --- helpers ----------------------------------------------------------------------------


def login_error(response: TestResponse) -> str:
    match = LOGIN_ERROR.search(response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)
    return html.unescape(match.group(1)).strip()


def signed_in(client: FlaskClient) -> bool:
    return client.get("/mod/").status_code == 200


def text_of(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def comment_state(app: Flask, comment_id: int) -> tuple[Status, bool]:
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        assert comment is not None
        return Status(comment.status), comment.deleted_at is not None


def apply(app: Flask, comment_id: int, action: moderation.Action) -> None:
    with app.app_context():
        moderation.apply(comment_id, action)


def tab_counts(page: str) -> dict[str, int]:
    found = re.findall(r'data-count="(\w+)">(\d*)</span>', page)
    return {name: int(n) for name, n in found}


def public_count(client: FlaskClient, key: str) -> int:
    return client.get("/api/v1/counts", query_string={"article": key}).get_json()["counts"][key]


# --- signing in -------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/mod/", "/mod/queue", "/mod/queue/spam"])
def test_signed_out_pages_redirect_to_login_with_next(client, path):
    response = client.get(path)

    assert response.status_code in (302, 303)
    target = urlsplit(response.location)
    assert target.path == "/mod/login"
    assert parse_qs(target.query)["next"] == [path]


@pytest.mark.parametrize("next_page", ["/mod/queue", "/mod/queue/spam?article=67584"])
def test_login_goes_to_a_local_next_page(client, moderator, next_page):
    response = login(client, moderator, MOD_PASSWORD, next=next_page)

    assert response.status_code == 303
    assert response.location == next_page
    assert signed_in(client)


@pytest.mark.parametrize(
    "next_page",
    [
        "//evil.example",
        "https://evil.example/x",
        "/\\evil",
        "javascript:alert(1)",
        "/\t/evil.example",
        "",
    ],
    ids=["protocol-relative", "absolute", "backslash", "javascript", "tab", "empty"],
)
def test_login_never_redirects_off_site(client, moderator, next_page):
    response = login(client, moderator, MOD_PASSWORD, next=next_page)

    assert response.status_code == 303
    assert response.location == "/mod/"


def test_wrong_password_and_unknown_name_get_the_same_answer(client, moderator):
    wrong_password = login(client, moderator, "不是这个密码-wrong-one")
    unknown_name = login(client, "nobody-here", MOD_PASSWORD)

    assert wrong_password.status_code == unknown_name.status_code == 401
    assert login_error(wrong_password) == login_error(unknown_name) == WRONG_CREDENTIALS
    assert not signed_in(client)


def test_login_without_csrf_token_is_refused(client, moderator):
    client.get("/mod/login")

    response = client.post("/mod/login", data={"username": moderator, "password": MOD_PASSWORD})

    assert response.status_code == 400
    assert not signed_in(client)


def test_disabled_moderator_cannot_log_in(app, client, moderator):
    with app.app_context():
        auth.set_active(moderator, False)

    response = login(client, moderator, MOD_PASSWORD)

    assert response.status_code == 401
    assert login_error(response) == WRONG_CREDENTIALS
    assert not signed_in(client)


def test_logout_ends_the_session(mod_client):
    response = form_post(mod_client, "/mod/logout")

    assert response.status_code == 303
    assert not signed_in(mod_client)


# --- lockout ----------------------------------------------------------------------------


@pytest.fixture
def limited_app(make_app: Callable[..., Flask]) -> Flask:
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN_USER="3 per 15 minutes")
    add_account(app, MODERATOR, MOD_PASSWORD)
    return app


@pytest.mark.parametrize("name", [MODERATOR, "no-such-editor"], ids=["known", "unknown"])
def test_three_failed_logins_lock_the_name(limited_app, name):
    client = limited_app.test_client()
    for _ in range(3):
        assert login(client, name, "错误的密码-wrong-password").status_code == 401

    response = login(client, name, MOD_PASSWORD)

    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert login_error(response) == LOCKED
    assert not signed_in(client)


def test_lockout_is_per_name(limited_app):
    client = limited_app.test_client()
    for _ in range(3):
        login(client, "someone-else", "错误的密码-wrong-password")

    assert login(client, MODERATOR, MOD_PASSWORD).status_code == 303


def test_successful_logins_do_not_count_towards_the_lockout(limited_app):
    client = limited_app.test_client()
    for _ in range(2):
        assert login(client, MODERATOR, "错误的密码-wrong-password").status_code == 401

    for _ in range(5):
        assert login(client, MODERATOR, MOD_PASSWORD).status_code == 303

    assert login(client, MODERATOR, "错误的密码-wrong-password").status_code == 401
    assert login(client, MODERATOR, MOD_PASSWORD).status_code == 429


# --- session cookie and passwords ---------------------------------------------------------


def session_cookie(response: TestResponse) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert len(cookies) == 1, response.headers
    return cookies[0]


@pytest.mark.parametrize("secure", [False, True], ids=["http", "https-only"])
def test_session_cookie_flags(make_app, secure):
    app = make_app(SESSION_COOKIE_SECURE=secure)
    add_account(app, MODERATOR, MOD_PASSWORD)
    client = app.test_client()

    response = login(
        client,
        MODERATOR,
        MOD_PASSWORD,
        base_url="https://localhost",
        headers={"Referer": "https://localhost/mod/login"},
    )

    assert response.status_code == 303
    flags = [part.strip().lower() for part in session_cookie(response).split(";")]
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert ("secure" in flags) is secure


@pytest.mark.parametrize("path", ["/embed/67584", "/api/v1/counts?article=a"])
def test_public_pages_ignore_the_moderator_session(mod_client, path):
    response = mod_client.get(path)

    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "cookie" not in response.headers.get("Vary", "").lower()


@pytest.mark.parametrize(
    ("method", "recorded"),
    [
        (DEFAULTS["PASSWORD_HASH_METHOD"], "scrypt:32768:8:1"),  # werkzeug's full cost
        ("scrypt:1024:8:1", "scrypt:1024:8:1"),  # the cheaper cost conftest sets for speed
    ],
    ids=["default", "test-suite"],
)
def test_passwords_are_stored_as_scrypt_hashes_of_the_configured_cost(make_app, method, recorded):
    app = make_app(PASSWORD_HASH_METHOD=method)
    add_account(app, MODERATOR, MOD_PASSWORD)

    with app.app_context():
        stored = auth.find_moderator(MODERATOR).password_hash

    assert stored.split("$")[0] == recorded
    assert MOD_PASSWORD not in stored
    assert check_password_hash(stored, MOD_PASSWORD)


def test_passwords_never_reach_the_logs(client, moderator, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "另一个错误密码-never-log-me"

    login(client, moderator, wrong)
    login(client, moderator, MOD_PASSWORD)

    assert signed_in(client)
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert MOD_PASSWORD not in logged
    assert wrong not in logged


# --- CSRF on every dashboard POST ---------------------------------------------------------


def test_action_without_csrf_token_is_refused(app, mod_client, pending):
    comment = pending(body="等待审核的评论")

    response = mod_client.post(f"/mod/comments/{comment}/approve", data={"next": "/mod/queue"})

    assert response.status_code == 400
    assert comment_state(app, comment) == (Status.PENDING, False)


def test_action_with_csrf_token_goes_back_to_next(app, mod_client, pending):
    comment = pending(body="等待审核的评论")

    response = form_post(
        mod_client, f"/mod/comments/{comment}/approve", {"next": "/mod/queue?article=67584"}
    )

    assert response.status_code == 303
    assert response.location == "/mod/queue?article=67584"
    assert comment_state(app, comment) == (Status.APPROVED, False)


def test_csrf_token_in_header_is_accepted(app, mod_client, pending):
    comment = pending(body="用请求头带令牌")

    response = mod_client.post(
        f"/mod/comments/{comment}/reject",
        headers={"X-CSRFToken": csrf_token(mod_client), "Accept": "application/json"},
    )

    assert response.status_code == 200
    assert comment_state(app, comment) == (Status.REJECTED, False)


def test_action_never_redirects_off_site(mod_client, pending):
    comment = pending()

    response = form_post(
        mod_client, f"/mod/comments/{comment}/approve", {"next": "//evil.example/x"}
    )

    assert response.status_code == 303
    assert response.location == "/mod/queue"


# --- queue pages --------------------------------------------------------------------------


def test_pending_queue_lists_oldest_first(mod_client, pending, make_comment):
    pending(body="最早的评论")
    pending(body="第二条评论")
    pending(body="最新的评论")
    make_comment(body="已经通过的评论")

    page = text_of(mod_client.get("/mod/queue"))

    positions = [page.index(body) for body in ("最早的评论", "第二条评论", "最新的评论")]
    assert positions == sorted(positions)
    assert "已经通过的评论" not in page


@pytest.mark.parametrize(
    "queue, status, action",
    [
        ("approved", Status.APPROVED, None),
        ("rejected", Status.REJECTED, None),
        ("spam", Status.SPAM, None),
        ("deleted", Status.APPROVED, moderation.Action.DELETE),
        ("pending", Status.PENDING, None),
    ],
)
def test_each_queue_lists_its_own_comments(app, mod_client, make_comment, queue, status, action):
    wanted = make_comment(body="这一条应该出现", status=status)
    if action is not None:
        apply(app, wanted, action)
    other_status = Status.PENDING if status != Status.PENDING else Status.APPROVED
    make_comment(body="别的队列的评论", status=other_status)

    response = mod_client.get(f"/mod/queue/{queue}", follow_redirects=True)

    assert response.status_code == 200
    assert "这一条应该出现" in text_of(response)
    assert "别的队列的评论" not in text_of(response)


def test_reported_queue_lists_reported_comments(app, mod_client, make_comment):
    reported = make_comment(body="被举报的评论")
    make_comment(body="没人举报的评论")
    with app.app_context():
        reports.report_comment(ARTICLE, reported, "abuse", "192.0.2.10")

    page = text_of(mod_client.get("/mod/queue/reported"))

    assert "被举报的评论" in page
    assert "没人举报的评论" not in page


def test_unknown_queue_is_404(mod_client):
    assert mod_client.get("/mod/queue/everything").status_code == 404


def test_tabs_show_the_counts(app, mod_client, make_comment, pending):
    pending(body="一")
    pending(body="二")
    make_comment(body="三")
    make_comment(body="四", status=Status.SPAM)
    apply(app, make_comment(body="五"), moderation.Action.DELETE)

    counts = tab_counts(text_of(mod_client.get("/mod/queue")))

    assert counts == {
        "pending": 2,
        "reported": 0,
        "approved": 1,
        "rejected": 0,
        "spam": 1,
        "deleted": 1,
        "waves": 0,  # spam waves waiting for a decision (service/antispam)
    }


@pytest.mark.parametrize(
    "query",
    [{"article": "other-article"}, {"ip": "192.0.2.99"}, {"q": "红烧肉"}],
    ids=["article", "ip", "text"],
)
def test_queue_filters(mod_client, pending, query):
    pending(body="普通的评论")
    pending(article="other-article", body="另一篇文章的评论 A")
    pending(remote_addr="192.0.2.99", body="另一个 IP 的评论 B")
    pending(body="我喜欢红烧肉 C")

    page = text_of(mod_client.get("/mod/queue", query_string=query))

    expected = {"article": "A", "ip": "B", "q": "C"}[next(iter(query))]
    shown = re.findall(r'<div class="body">[^<]* ([ABC])</div>', page)
    assert shown == [expected]
    assert "普通的评论" not in page


def test_text_filter_takes_percent_and_underscore_literally(mod_client, pending):
    pending(body="全场打折50%")
    pending(body="全场打折500元")
    pending(body="a_b 下划线")
    pending(body="axb 没有下划线")

    percent = text_of(mod_client.get("/mod/queue", query_string={"q": "50%"}))
    underscore = text_of(mod_client.get("/mod/queue", query_string={"q": "a_b"}))

    assert "全场打折50%" in percent
    assert "全场打折500元" not in percent
    assert "a_b 下划线" in underscore
    assert "axb 没有下划线" not in underscore


def test_queue_shows_everything_a_moderator_needs(app, mod_client, make_comment, pending):
    with app.app_context():
        ensure_article(ARTICLE, TITLE, PORTAL_URL)
        db.session.commit()
    parent = make_comment(body="原来的那条评论", author="老张", remote_addr="203.0.113.7")
    make_comment(body="早先被拒的", status=Status.REJECTED, remote_addr="203.0.113.7")
    pending(body="回复老张", author="小明同学", parent_id=parent, remote_addr="203.0.113.7")

    page = text_of(mod_client.get("/mod/queue"))

    assert f'<a href="{PORTAL_URL}" target="_blank" rel="noopener noreferrer">{TITLE}</a>' in page
    assert '<strong class="author">小明同学</strong>' in page
    assert re.search(r'<blockquote class="quote">[^<]*老张[^<]*原来的那条评论</blockquote>', page)
    assert ">203.0.113.7</a>" in page
    assert "该 IP 共 3 条评论：" in page
    history = dict(re.findall(r'<span class="tag tag-(\w+)">[^<]* (\d+)</span>', page))
    assert history == {"pending": "1", "approved": "1", "rejected": "1"}


def test_suspect_words_are_marked(app, mod_client, pending, monkeypatch):
    monkeypatch.setitem(words._cache, "version", None)  # another test's database
    with app.app_context():
        words.add_words("发票", WordKind.SUSPECT, None)
    pending(body="开发票，请联系")

    page = text_of(mod_client.get("/mod/queue"))

    assert re.search(
        r'<div class="body">开<mark class="word-suspect">发票</mark>，请联系</div>', page
    )


def test_comment_html_is_escaped_in_the_queue(mod_client, pending):
    pending(body="<script>alert('评论')</script><b>粗</b>", author="<i>坏人</i>")

    page = text_of(mod_client.get("/mod/queue"))

    assert "<script>alert(" not in page
    assert "&lt;script&gt;alert(" in page
    assert "<b>粗</b>" not in page
    assert "<i>坏人</i>" not in page
    assert "&lt;i&gt;坏人&lt;/i&gt;" in page


# --- actions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "action, before, after",
    [
        ("approve", Status.PENDING, (Status.APPROVED, False)),
        ("reject", Status.PENDING, (Status.REJECTED, False)),
        ("spam", Status.PENDING, (Status.SPAM, False)),
        ("delete", Status.APPROVED, (Status.APPROVED, True)),
        ("restore", Status.REJECTED, (Status.PENDING, False)),
    ],
)
def test_form_actions(app, mod_client, make_comment, action, before, after):
    comment = make_comment(body="要处理的评论", status=before)

    response = form_post(mod_client, f"/mod/comments/{comment}/{action}", {"next": "/mod/queue"})

    assert response.status_code == 303
    assert comment_state(app, comment) == after


def test_restore_brings_a_deleted_comment_back(app, mod_client, make_comment):
    comment = make_comment(body="误删的评论")
    apply(app, comment, moderation.Action.DELETE)

    form_post(mod_client, f"/mod/comments/{comment}/restore")

    assert comment_state(app, comment) == (Status.APPROVED, False)


def test_reject_keeps_the_chosen_reason(app, mod_client, pending):
    comment = pending(body="买房找我")

    form_post(mod_client, f"/mod/comments/{comment}/reject", {"reason": "广告或垃圾信息"})

    with app.app_context():
        assert db.session.get(Comment, comment).reject_reason == "广告或垃圾信息"


def test_action_that_makes_no_sense_is_409(app, mod_client, make_comment):
    comment = make_comment(body="已经通过了")

    response = form_post(mod_client, f"/mod/comments/{comment}/approve")

    assert response.status_code == 409
    assert "无法对“已通过”状态的评论执行“通过”。" in text_of(response)
    assert comment_state(app, comment) == (Status.APPROVED, False)


@pytest.mark.parametrize("as_json", [False, True], ids=["html", "json"])
def test_unknown_action_is_404(app, mod_client, pending, as_json):
    comment = pending()

    response = form_post(mod_client, f"/mod/comments/{comment}/publish", as_json=as_json)

    assert response.status_code == 404
    assert comment_state(app, comment) == (Status.PENDING, False)


@pytest.mark.parametrize("as_json", [False, True], ids=["html", "json"])
def test_unknown_comment_is_404(mod_client, as_json):
    response = form_post(mod_client, "/mod/comments/999999/approve", as_json=as_json)

    assert response.status_code == 404
    if as_json:
        assert response.get_json()["error"]["code"] == "not_found"


def test_json_action_answers_with_ids_message_and_counts(mod_client, pending):
    comment = pending(body="请通过")
    pending(body="还在等")

    response = form_post(mod_client, f"/mod/comments/{comment}/approve", as_json=True)

    assert response.status_code == 200
    body = response.get_json()
    assert body["ids"] == [comment]
    assert body["status"] == "approved"
    assert str(comment) in body["message"]
    assert body["counts"]["pending"] == 1
    assert body["counts"]["approved"] == 1


def test_json_conflict_has_the_error_shape(mod_client, make_comment):
    comment = make_comment(body="已经通过了")

    response = form_post(mod_client, f"/mod/comments/{comment}/approve", as_json=True)

    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "invalid_transition"
    assert error["message"] == "无法对“已通过”状态的评论执行“通过”。"


# --- bulk and acting on the sender ----------------------------------------------------------


def test_bulk_reject_selected_comments(app, mod_client, pending):
    chosen = [pending(body=f"第{n}条广告") for n in range(3)]
    untouched = pending(body="正常评论")

    response = form_post(
        mod_client,
        "/mod/comments/bulk",
        {"ids": [str(i) for i in chosen], "action": "reject", "reason": "重复内容"},
        as_json=True,
    )

    assert response.status_code == 200
    body = response.get_json()
    assert sorted(body["ids"]) == chosen
    assert body["counts"]["rejected"] == 3
    assert body["counts"]["pending"] == 1
    assert all(comment_state(app, i) == (Status.REJECTED, False) for i in chosen)
    assert comment_state(app, untouched) == (Status.PENDING, False)


def test_bulk_form_goes_back(app, mod_client, pending):
    chosen = [pending(body="一"), pending(body="二")]

    response = form_post(
        mod_client,
        "/mod/comments/bulk",
        {"ids": [str(i) for i in chosen], "action": "approve", "next": "/mod/queue/pending"},
    )

    assert response.status_code == 303
    assert response.location == "/mod/queue/pending"
    assert all(comment_state(app, i) == (Status.APPROVED, False) for i in chosen)


@pytest.mark.parametrize(
    "junk", ["²", "١٢", "abc", "-1"], ids=["superscript", "arabic-indic", "letters", "negative"]
)
def test_bulk_ignores_ids_that_are_not_plain_numbers(app, mod_client, pending, junk):
    comment = pending(body="选中的评论")

    response = form_post(
        mod_client,
        "/mod/comments/bulk",
        {"ids": [junk, str(comment)], "action": "approve"},
        as_json=True,
    )

    assert response.status_code == 200
    assert response.get_json()["ids"] == [comment]
    assert comment_state(app, comment) == (Status.APPROVED, False)


def test_bulk_by_ip_marks_everything_from_it_as_spam(app, mod_client, pending, make_comment):
    spammer = [
        pending(body="加微信", remote_addr="192.0.2.66"),
        make_comment(body="早先通过的", remote_addr="192.0.2.66"),
    ]
    other = pending(body="别人的评论", remote_addr="192.0.2.67")

    response = form_post(
        mod_client, "/mod/comments/bulk", {"ip": "192.0.2.66", "action": "spam"}, as_json=True
    )

    body = response.get_json()
    assert sorted(body["ids"]) == spammer
    assert body["counts"]["spam"] == 2
    assert body["counts"]["pending"] == 1
    assert comment_state(app, other) == (Status.PENDING, False)


def test_act_on_actor_bans_the_network_and_undo_restores(app, mod_client, pending, make_comment):
    first = pending(body="广告一", remote_addr="198.51.100.7")
    neighbour = pending(body="广告二", remote_addr="198.51.100.200")
    elsewhere = pending(body="无关的人", remote_addr="198.51.101.5")
    earlier = make_comment(body="以前通过的", remote_addr="198.51.100.9")

    response = form_post(
        mod_client, f"/mod/comments/{first}/actor", {"scope": "net", "days": "3"}, as_json=True
    )

    assert response.status_code == 200
    body = response.get_json()
    assert sorted(body["ids"]) == [first, neighbour]
    assert comment_state(app, first) == comment_state(app, neighbour) == (Status.REJECTED, False)
    assert comment_state(app, elsewhere) == (Status.PENDING, False)
    assert comment_state(app, earlier) == (Status.APPROVED, False)
    with app.app_context():
        active = bans.active_bans()
        assert [b.network for b in active] == ["198.51.100.0/24"]
        expires = active[0].expires_at
        assert expires is not None
        assert abs(expires - datetime.now(UTC) - timedelta(days=3)) < timedelta(minutes=5)
        assert bans.is_banned("198.51.100.42")

    undone = form_post(mod_client, f"/mod/batches/{body['batch']}/undo", as_json=True)

    assert undone.status_code == 200
    assert sorted(undone.get_json()["ids"]) == [first, neighbour]
    assert comment_state(app, first) == comment_state(app, neighbour) == (Status.PENDING, False)
    with app.app_context():
        assert bans.active_bans() == []


# --- articles ---------------------------------------------------------------------------


def test_article_page_shows_its_counts(app, mod_client, make_comment, pending):
    with app.app_context():
        ensure_article(ARTICLE, TITLE, PORTAL_URL)
        db.session.commit()
    make_comment(body="通过的")
    pending(body="待审一")
    pending(body="待审二")
    pending(article="another", body="别的文章")

    page = text_of(mod_client.get(f"/mod/articles/{ARTICLE}"))

    assert f"<h1>{TITLE}</h1>" in page
    assert "公开评论：1 条" in page
    assert f'article={ARTICLE}">待审核 2</a>' in page
    assert f'article={ARTICLE}">已通过 1</a>' in page


def test_unknown_article_page_is_404(mod_client):
    assert mod_client.get("/mod/articles/never-commented").status_code == 404


def test_closing_and_reopening_comments(mod_client, make_comment):
    make_comment(body="一条评论")

    closed = form_post(mod_client, f"/mod/articles/{ARTICLE}/settings", {"comments": "close"})

    assert closed.status_code == 303
    assert "本文已关闭评论。" in text_of(mod_client.get(f"/embed/{ARTICLE}"))

    form_post(mod_client, f"/mod/articles/{ARTICLE}/settings", {"comments": "reopen"})

    assert "本文已关闭评论。" not in text_of(mod_client.get(f"/embed/{ARTICLE}"))


def test_post_moderation_on_one_article_publishes_at_once(admin_client, make_comment, solved):
    make_comment(body="一条评论")
    form_post(admin_client, f"/mod/articles/{ARTICLE}/settings", {"mode": "post"})
    token, answer = solved()

    response = admin_client.post(
        f"/api/v1/articles/{ARTICLE}/comments",
        json={
            "author": "读者",
            "body": "先发后审的评论",
            "captcha_token": token,
            "captcha_answer": answer,
        },
    )

    assert response.status_code == 202
    assert response.get_json()["status"] == "approved"
    assert public_count(admin_client, ARTICLE) == 2
    token, answer = solved()
    elsewhere = admin_client.post(
        "/api/v1/articles/another-article/comments",
        json={"body": "别的文章照常先审", "captcha_token": token, "captcha_answer": answer},
    )
    assert elsewhere.get_json()["status"] == "pending"


def test_approving_updates_the_public_count(mod_client, pending, make_comment):
    make_comment(body="早就通过的")
    comment = pending(body="刚通过的")
    assert public_count(mod_client, ARTICLE) == 1

    form_post(mod_client, f"/mod/comments/{comment}/approve")

    assert public_count(mod_client, ARTICLE) == 2


# --- audit log --------------------------------------------------------------------------

AUDIT_ROW = re.compile(
    r"<tr><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td>\s*"
    r'<td>(?:<a href="[^"]*">#(\d+)</a>)?</td>'
)


def audit_rows(client: FlaskClient, **query: Any) -> list[tuple[str, str, int | None]]:
    response = client.get("/mod/admin/audit", query_string=query)
    assert response.status_code == 200
    return [
        (actor, action, int(cid) if cid else None)
        for actor, action, cid in AUDIT_ROW.findall(text_of(response))
    ]


@pytest.fixture
def decisions(mod_client, admin_client, pending) -> dict[str, int]:
    """The moderator approves one comment and rejects another; the admin deletes one."""
    ids = {"approved": pending(body="好评论"), "rejected": pending(body="坏评论")}
    form_post(mod_client, f"/mod/comments/{ids['approved']}/approve")
    form_post(mod_client, f"/mod/comments/{ids['rejected']}/reject")
    form_post(admin_client, f"/mod/comments/{ids['approved']}/delete")
    return ids


def test_audit_log_lists_actions_with_their_actors(admin_client, decisions):
    rows = audit_rows(admin_client)

    assert (ADMIN, "delete", decisions["approved"]) in rows
    assert (MODERATOR, "reject", decisions["rejected"]) in rows
    assert (MODERATOR, "approve", decisions["approved"]) in rows


def test_audit_log_filters(admin_client, decisions):
    by_moderator = audit_rows(admin_client, actor=MODERATOR)
    approvals = audit_rows(admin_client, action="approve")
    one_comment = audit_rows(admin_client, comment=str(decisions["approved"]))

    assert {a for a, _, _ in by_moderator} == {MODERATOR}
    assert {"approve", "reject", "login"} <= {action for _, action, _ in by_moderator}
    assert approvals == [(MODERATOR, "approve", decisions["approved"])]
    assert one_comment == [
        (ADMIN, "delete", decisions["approved"]),
        (MODERATOR, "approve", decisions["approved"]),
    ]


# --- home and language ----------------------------------------------------------------------


def test_home_shows_todays_numbers_and_a_30_day_chart(app, mod_client, pending):
    for body in ("甲", "乙", "丙"):
        form_post(mod_client, f"/mod/comments/{pending(body=body)}/approve")
    form_post(mod_client, f"/mod/comments/{pending(body='丁')}/spam")
    pending(body="戊")

    page = text_of(mod_client.get("/mod/"))

    assert '<span class="num">3</span>今日通过' in page
    assert '<span class="num">0</span>今日拒绝' in page
    assert '<span class="num">1</span>今日垃圾' in page
    assert '<span class="num">1</span>待审核' in page
    svg = re.search(r'<svg class="chart".*?</svg>', page, re.S)
    assert svg
    groups = re.findall(r"<g><title>(\d{4}-\d\d-\d\d): (\d+)</title>", svg.group(0))
    assert len(groups) == 30
    today = datetime.now(ZoneInfo(app.config["TIMEZONE"])).date()
    assert groups[-1] == (today.isoformat(), "5")
    assert [n for _, n in groups[:-1]] == ["0"] * 29


def test_dashboard_is_chinese_by_default(mod_client):
    page = text_of(mod_client.get("/mod/queue"))

    assert 'lang="zh-CN"' in page
    assert "待审核" in page


def test_dashboard_switches_to_english(mod_client):
    response = mod_client.get("/mod/lang/en", query_string={"next": "/mod/queue"})

    assert response.status_code == 303
    assert response.location == "/mod/queue"
    page = text_of(mod_client.get("/mod/queue"))
    assert 'lang="en"' in page
    assert "Pending" in page
    assert "待审核" not in page
