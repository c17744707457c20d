"""The embedded widget: what readers see under an article and the form they post.

Pages come from service/views/widget.py and templates/widget/embed.html; the
default language is Chinese.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from werkzeug.test import TestResponse

from service import captcha, moderation
from service.extensions import db
from service.models import Article, Comment, Status
from service.moderation import Action

ARTICLE = "67584"
EMBED = f"/embed/{ARTICLE}"
POST_URL = f"{EMBED}?lang=zh-CN"
Solved = Callable[[], tuple[str, str]]
MakeComment = Callable[..., int]

POSTED = "评论已提交，审核通过后显示"
CLOSED = "本文已关闭评论。"
WRONG_CAPTCHA = "验证码错误，请重新输入。"
EMPTY_BODY = "请填写评论内容。"
BAD_REPLY = "只能回复已通过审核的评论。"


def title(count: int) -> str:
    return f"留言与评论（共有 {count} 条评论）"


def page_of(client: FlaskClient, url: str = EMBED) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status
    return response.get_data(as_text=True)


def post_form(
    client: FlaskClient, solved: Solved, url: str = POST_URL, **fields: Any
) -> TestResponse:
    """POST the widget form with a freshly solved captcha (fields may override it)."""
    token, answer = solved()
    data = {"author": "张三", "body": "支持！👍", "captcha_token": token, "captcha_answer": answer}
    data.update(fields)
    return client.post(url, data=data)


def stored_comments(app: Flask) -> list[Comment]:
    with app.app_context():
        comments = db.session.execute(select(Comment).order_by(Comment.id)).scalars().all()
        db.session.expunge_all()
        return list(comments)


def approve(app: Flask, comment_id: int) -> None:
    with app.test_request_context():
        moderation.apply(comment_id, Action.APPROVE)


def token_in(page: str) -> str:
    match = re.search(r'<input[^>]*name="captcha_token"[^>]*value="([^"]*)"', page)
    assert match, "no captcha token in the form"
    return match.group(1)


def textarea_of(page: str) -> str:
    match = re.search(r'<textarea[^>]*name="body"[^>]*>(.*?)</textarea>', page, re.S)
    assert match, "no comment textarea"
    return html.unescape(match.group(1))


def nickname_of(page: str) -> str:
    match = re.search(r'<input[^>]*name="author"[^>]*value="([^"]*)"', page, re.S)
    assert match, "no nickname input"
    return html.unescape(match.group(1))


def field_error(page: str, name: str) -> str | None:
    match = re.search(rf'<p class="cw-error" id="cw-{name}-error">(.*?)</p>', page, re.S)
    return html.unescape(match.group(1)) if match else None


def set_closed(app: Flask, key: str = ARTICLE) -> None:
    with app.app_context():
        db.session.execute(update(Article).where(Article.key == key).values(closed=True))
        db.session.commit()


# --- reading ----------------------------------------------------------------------------


def test_empty_article_says_there_are_no_comments_yet(client: FlaskClient) -> None:
    page = page_of(client)

    assert title(0) in page
    assert "暂无评论" in page
    assert '<html lang="zh-CN">' in page


def test_header_counts_approved_comments_only(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    make_comment(body="第一条：支持 👍")
    make_comment(body="第二条：赞同 🎉")
    make_comment(body="待审核的评论 ⏳", status=Status.PENDING)
    make_comment(body="被拒绝的评论 🚫", status=Status.REJECTED)
    make_comment(body="垃圾广告评论 💰", status=Status.SPAM)

    page = page_of(client)

    assert title(2) in page
    assert "第一条：支持 👍" in page
    assert "第二条：赞同 🎉" in page


@pytest.mark.parametrize("status", [Status.PENDING, Status.REJECTED, Status.SPAM])
def test_unapproved_comment_is_hidden_from_widget(
    client: FlaskClient, make_comment: MakeComment, status: Status
) -> None:
    make_comment(body="公开的评论 ✅")
    make_comment(body=f"不应出现的评论（{status}）🙈", author="隐身人", status=status)

    page = page_of(client)

    assert title(1) in page
    assert "公开的评论 ✅" in page
    assert "不应出现的评论" not in page
    assert "隐身人" not in page


def test_comments_of_other_articles_are_not_shown(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    make_comment(body="本文的评论 📰")
    make_comment(article="67590", body="别的文章的评论 🛣️")

    page = page_of(client)

    assert title(1) in page
    assert "别的文章的评论" not in page


def test_comments_are_listed_newest_first(client: FlaskClient, make_comment: MakeComment) -> None:
    for body in ("最早的评论 1️⃣", "中间的评论 2️⃣", "最新的评论 3️⃣"):
        make_comment(body=body)

    page = page_of(client)

    positions = [page.index(b) for b in ("最新的评论 3️⃣", "中间的评论 2️⃣", "最早的评论 1️⃣")]
    assert positions == sorted(positions)


def test_comment_shows_nickname_and_just_now(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    make_comment(author="北京市民老王", body="办事方便多了 😊")

    page = page_of(client)

    assert "北京市民老王" in page
    assert "刚刚" in page


def test_older_comment_shows_minutes_ago(
    app: Flask, client: FlaskClient, make_comment: MakeComment
) -> None:
    comment_id = make_comment(author="李四", body="五分钟前的评论 ⏱️")
    with app.app_context():
        db.session.execute(
            update(Comment)
            .where(Comment.id == comment_id)
            .values(created_at=datetime.now(UTC) - timedelta(minutes=5))
        )
        db.session.commit()

    page = page_of(client)

    assert re.search(r">\s*5\s*分钟前\s*<", page)
    assert "刚刚" not in page


def test_twenty_five_comments_make_two_pages(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    for i in range(25):
        make_comment(body=f"第{i:02d}条评论 🎈")

    first = page_of(client)
    second = page_of(client, f"{EMBED}?page=2")

    assert title(25) in first and title(25) in second
    assert [f"第{i:02d}条评论" in first for i in range(25)] == [False] * 5 + [True] * 20
    assert [f"第{i:02d}条评论" in second for i in range(25)] == [True] * 5 + [False] * 20
    assert "第 1 / 2 页" in first and 'rel="next"' in first
    assert "第 2 / 2 页" in second and 'rel="prev"' in second


@pytest.mark.parametrize("page", ["0", "-1", "abc", "二", "100001"])
def test_bad_page_number_is_a_400_not_a_500(client: FlaskClient, page: str) -> None:
    response = client.get(EMBED, query_string={"page": page})

    assert response.status_code == 400


def test_english_widget_on_request(client: FlaskClient, make_comment: MakeComment) -> None:
    make_comment(author="Alice", body="Great news 👍")

    page = page_of(client, f"{EMBED}?lang=en")

    assert "Comments (1 in total)" in page
    assert "just now" in page
    assert '<html lang="en">' in page
    assert "留言与评论" not in page


def test_accept_language_english_is_respected(client: FlaskClient) -> None:
    response = client.get(EMBED, headers={"Accept-Language": "en-US,en;q=0.9"})

    assert "Comments (0 in total)" in response.get_data(as_text=True)


# --- posting ----------------------------------------------------------------------------


def test_posting_redirects_to_a_thank_you_notice(client: FlaskClient, solved: Solved) -> None:
    response = post_form(client, solved, body="政务服务越来越便民了，点赞！👍")

    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(f"{EMBED}?")
    assert "posted=1" in location
    assert location.endswith("#comment-form")
    follow = client.get(location)
    assert follow.status_code == 200
    assert POSTED in follow.get_data(as_text=True)


def test_posted_comment_is_pending_and_not_shown(
    app: Flask, client: FlaskClient, solved: Solved
) -> None:
    response = post_form(client, solved, author="王五", body="等待审核的评论 ⏳")
    assert response.status_code == 303

    [comment] = stored_comments(app)
    assert comment.status == Status.PENDING
    assert comment.author == "王五"
    assert comment.body == "等待审核的评论 ⏳"
    page = page_of(client, response.headers["Location"])
    assert title(0) in page
    assert "等待审核的评论" not in page


def test_approved_post_appears_on_widget(app: Flask, client: FlaskClient, solved: Solved) -> None:
    post_form(client, solved, author="王五", body="审核通过的评论 ✅")
    [comment] = stored_comments(app)

    approve(app, comment.id)

    page = page_of(client)
    assert title(1) in page
    assert "审核通过的评论 ✅" in page


@pytest.mark.parametrize("nickname", ["", "   ", "\u3000"])
def test_empty_nickname_is_stored_as_netizen(
    app: Flask, client: FlaskClient, solved: Solved, nickname: str
) -> None:
    response = post_form(client, solved, author=nickname, body="匿名发言 🙂")

    assert response.status_code == 303
    [comment] = stored_comments(app)
    assert comment.author == "网友"


def test_wrong_captcha_rerenders_form_with_typed_text(
    app: Flask, client: FlaskClient, solved: Solved
) -> None:
    response = post_form(
        client, solved, author="赵六", body="我的评论还在吗？🤔", captcha_answer="🙅"
    )

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert nickname_of(page) == "赵六"
    assert textarea_of(page) == "我的评论还在吗？🤔"
    assert field_error(page, "captcha_answer") == WRONG_CAPTCHA
    assert "no-store" in response.headers["Cache-Control"]
    assert stored_comments(app) == []


def test_wrong_captcha_page_carries_a_new_usable_captcha(
    app: Flask, client: FlaskClient, solved: Solved
) -> None:
    old_token, right = solved()

    response = client.post(
        POST_URL,
        data={"body": "换一张验证码 🔄", "captcha_token": old_token, "captcha_answer": "🙅"},
    )

    page = response.get_data(as_text=True)
    new_token = token_in(page)
    assert new_token and new_token != old_token
    assert f"/captcha/{new_token}.png" in page
    with app.test_request_context():
        # The old token was spent by the failed post; the new one is fresh.
        assert captcha.spend(old_token, right) is not None
        assert captcha.spend(new_token, captcha.answer_for(captcha.nonce_of(new_token))) is None


def test_captcha_answer_is_not_echoed_back(client: FlaskClient, solved: Solved) -> None:
    response = post_form(client, solved, body="", captcha_answer="WXYZ9")

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "WXYZ9" not in page


def test_all_field_errors_come_back_together(
    app: Flask, client: FlaskClient, solved: Solved
) -> None:
    token, right = solved()

    response = client.post(
        POST_URL,
        data={"author": "钱七", "body": "  ", "captcha_token": token, "captcha_answer": "🙅"},
    )

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_error(page, "body") == EMPTY_BODY
    assert field_error(page, "captcha_answer") is None  # not looked at
    assert "部分内容填写有误，请检查。" in page
    assert nickname_of(page) == "钱七"
    with app.test_request_context():
        assert captcha.spend(token, right) is None  # still unspent, and still answerable


def test_a_field_error_keeps_the_captcha_the_reader_solved(
    app: Flask, client: FlaskClient, solved: Solved
) -> None:
    token, right = solved()

    response = client.post(
        POST_URL, data={"body": "", "captcha_token": token, "captcha_answer": right}
    )

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_error(page, "captcha_answer") is None
    assert f'value="{token}"' in page  # the same image, the typed answer kept
    retry = client.post(
        POST_URL, data={"body": "再试一次 🔁", "captcha_token": token, "captcha_answer": right}
    )
    assert retry.status_code == 303
    assert len(stored_comments(app)) == 1


def test_a_wrong_captcha_is_spent_and_replaced(app: Flask, client: FlaskClient, solved: Solved):
    token, right = solved()

    response = client.post(
        POST_URL, data={"body": "好文章", "captcha_token": token, "captcha_answer": "WRONG"}
    )

    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "captcha_answer") == WRONG_CAPTCHA
    assert f'value="{token}"' not in response.get_data(as_text=True)
    retry = client.post(
        POST_URL, data={"body": "好文章", "captcha_token": token, "captcha_answer": right}
    )
    assert (
        field_error(retry.get_data(as_text=True), "captcha_answer") == "验证码已使用过，请换一张。"
    )


def test_missing_captcha_asks_for_one(client: FlaskClient) -> None:
    response = client.post(POST_URL, data={"author": "孙八", "body": "没有验证码 ❓"})

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_error(page, "captcha_answer") == "请输入验证码。"
    assert textarea_of(page) == "没有验证码 ❓"


# --- body and nickname limits -------------------------------------------------------------


def test_thousand_chinese_characters_are_accepted(
    app: Flask, client: FlaskClient, solved: Solved
) -> None:
    body = "中" * 1000

    response = post_form(client, solved, body=body)

    assert response.status_code == 303
    [comment] = stored_comments(app)
    assert comment.body == body


def test_thousand_and_one_characters_are_rejected(
    app: Flask, client: FlaskClient, solved: Solved
) -> None:
    body = "国" * 1001

    response = post_form(client, solved, body=body)

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_error(page, "body") == "评论最多 1000 字（当前 1001 字）。"
    assert textarea_of(page) == body
    assert stored_comments(app) == []


def test_emoji_count_as_one_character_each(app: Flask, client: FlaskClient, solved: Solved) -> None:
    response = post_form(client, solved, body="👍" * 1000)

    assert response.status_code == 303
    assert stored_comments(app)[0].body == "👍" * 1000


def test_crlf_counts_as_one_character(app: Flask, client: FlaskClient, solved: Solved) -> None:
    body = "中" * 500 + "\r\n" + "文" * 499  # 1001 code points sent, 1000 characters

    response = post_form(client, solved, body=body)

    assert response.status_code == 303
    [comment] = stored_comments(app)
    assert comment.body == "中" * 500 + "\n" + "文" * 499
    assert len(comment.body) == 1000


@pytest.mark.parametrize("body", ["", " ", "\r\n\t ", "\u3000\u3000", "\n\n\n"])
def test_whitespace_only_body_asks_for_text(
    app: Flask, client: FlaskClient, solved: Solved, body: str
) -> None:
    response = post_form(client, solved, body=body)

    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "body") == EMPTY_BODY
    assert stored_comments(app) == []


@pytest.mark.parametrize(
    ("nickname", "accepted"),
    [("名" * 32, True), ("名" * 33, False), ("🐼" * 32, True), ("🐼" * 33, False)],
)
def test_nickname_is_limited_to_32_characters(
    app: Flask, client: FlaskClient, solved: Solved, nickname: str, accepted: bool
) -> None:
    response = post_form(client, solved, author=nickname, body="昵称长度测试 📏")

    if accepted:
        assert response.status_code == 303
        assert stored_comments(app)[0].author == nickname
    else:
        assert response.status_code == 422
        page = response.get_data(as_text=True)
        assert field_error(page, "author") == "昵称最多 32 个字。"
        assert textarea_of(page) == "昵称长度测试 📏"
        assert stored_comments(app) == []


# --- replies ----------------------------------------------------------------------------


def test_reply_to_approved_comment_is_quoted_once_approved(
    app: Flask, client: FlaskClient, solved: Solved, make_comment: MakeComment
) -> None:
    parent_id = make_comment(author="张三", body="这个政策好 👍")

    response = post_form(client, solved, author="李四", body="同意楼上 🙌", reply_to=str(parent_id))

    assert response.status_code == 303
    reply = stored_comments(app)[-1]
    assert reply.parent_id == parent_id
    assert reply.status == Status.PENDING
    assert "同意楼上" not in page_of(client)

    approve(app, reply.id)

    page = page_of(client)
    assert title(2) in page
    quote = re.search(r'<blockquote class="cw-quote">(.*?)</blockquote>', page, re.S)
    assert quote is not None
    assert " ".join(quote.group(1).split()) == "回复 @张三：这个政策好 👍"
    # Replies sit under the comment that started the thread, one level deep.
    assert page.index('<div class="cw-body">这个政策好 👍') < page.index('<ol class="cw-replies"')
    assert page.index('<ol class="cw-replies"') < page.index("同意楼上 🙌")


def test_reply_link_prefills_the_reply_target(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    parent_id = make_comment(author="张三", body="原评论 📝")

    page = page_of(client, f"{EMBED}?reply_to={parent_id}")

    assert re.search(rf'name="reply_to"[^>]*value="{parent_id}"', page)
    assert '<span id="cw-replying-text">回复 @张三：</span>' in page


@pytest.mark.parametrize("target", ["pending", "other-article", "rejected", "garbage", "missing"])
def test_reply_to_a_comment_you_cannot_reply_to_is_refused(
    app: Flask,
    client: FlaskClient,
    solved: Solved,
    make_comment: MakeComment,
    target: str,
) -> None:
    make_comment(body="本文已有的评论 📰")
    reply_to = {
        "pending": lambda: str(make_comment(body="待审 ⏳", status=Status.PENDING)),
        "rejected": lambda: str(make_comment(body="已拒 🚫", status=Status.REJECTED)),
        "other-article": lambda: str(make_comment(article="67590", body="别处 🛣️")),
        "garbage": lambda: "第一条🙂",
        "missing": lambda: "999999",
    }[target]()
    before = len(stored_comments(app))

    response = post_form(client, solved, author="周九", body="我的回复还在 💬", reply_to=reply_to)

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_error(page, "reply_to") == BAD_REPLY
    assert textarea_of(page) == "我的回复还在 💬"
    assert nickname_of(page) == "周九"
    assert len(stored_comments(app)) == before


# --- closed articles ----------------------------------------------------------------------


def test_closed_article_shows_notice_and_no_form(
    app: Flask, client: FlaskClient, make_comment: MakeComment
) -> None:
    make_comment(body="关闭前的评论 🔒")
    set_closed(app)

    page = page_of(client)

    assert CLOSED in page
    assert "关闭前的评论 🔒" in page
    assert 'id="comment-form"' not in page  # likes stay; the comment form goes
    assert 'name="captcha_token"' not in page
    assert 'class="cw-reply"' not in page


def test_posting_to_closed_article_is_forbidden(
    app: Flask, client: FlaskClient, solved: Solved, make_comment: MakeComment
) -> None:
    make_comment(body="关闭前的评论 🔒")
    set_closed(app)

    response = post_form(client, solved, body="关闭后还想评论 ❌")

    assert response.status_code == 403
    assert CLOSED in response.get_data(as_text=True)
    assert len(stored_comments(app)) == 1


# --- invalid keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["a b", "<script>", "x" * 129, "中文", "67584!", "%00", "😀"],
    ids=["space", "script", "129-chars", "chinese", "bang", "nul", "emoji"],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_invalid_article_key_page_tells_the_portal_developer(
    client: FlaskClient, key: str, method: str
) -> None:
    response = client.open(f"/embed/{key}", method=method, data={"body": "测试 🙂"})

    assert response.status_code == 400
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "文章标识无效" in page
    assert "data-article" in page
    assert "页面不存在" not in page
    assert "<script>" not in page


def test_a_key_with_a_slash_never_reaches_the_widget(client: FlaskClient) -> None:
    assert client.get("/embed/a%2Fb").status_code == 404  # no such route: a/b is two segments


def test_longest_valid_key_works(client: FlaskClient) -> None:
    key = "A-z_0.9" * 18 + "ab"  # 128 characters

    assert len(key) == 128
    assert title(0) in page_of(client, f"/embed/{key}")


# --- escaping and links -------------------------------------------------------------------

XSS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"]


@pytest.mark.parametrize("payload", XSS)
def test_html_in_nickname_and_body_is_escaped_after_approval(
    app: Flask, client: FlaskClient, solved: Solved, payload: str
) -> None:
    response = post_form(client, solved, author=payload, body=f"评论：{payload} 😈")
    assert response.status_code == 303
    [comment] = stored_comments(app)
    assert comment.author == payload
    approve(app, comment.id)

    page = page_of(client)

    assert title(1) in page
    assert payload not in page
    escaped = html.escape(payload, quote=False)
    assert escaped in page  # nickname
    assert f"评论：{escaped} 😈" in page  # body


@pytest.mark.parametrize("payload", XSS)
def test_html_in_rerendered_form_is_escaped(
    client: FlaskClient, solved: Solved, payload: str
) -> None:
    response = post_form(client, solved, author=payload, body=payload, captcha_answer="🙅")

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert payload not in page
    assert nickname_of(page) == payload
    assert textarea_of(page) == payload


def test_html_in_quoted_parent_is_escaped(
    app: Flask, client: FlaskClient, make_comment: MakeComment
) -> None:
    parent_id = make_comment(author="<b>坏人</b>", body="<script>alert('引用')</script>")
    make_comment(author="好人", body="回复一下 💬", parent_id=parent_id)

    page = page_of(client)

    assert "<script>alert(" not in page
    assert "<b>坏人</b>" not in page
    assert "&lt;b&gt;坏人&lt;/b&gt;" in page


def test_links_in_body_become_nofollow_ugc_links(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    make_comment(body="详见 https://www.gov.cn/zhengce/2024-01/01/content_1.htm 。👍")

    page = page_of(client)

    link = re.search(r'<a href="https://www\.gov\.cn/zhengce/[^"]*"[^>]*>', page)
    assert link is not None
    assert 'rel="nofollow ugc noopener"' in link.group(0)
    assert 'href="https://www.gov.cn/zhengce/2024-01/01/content_1.htm"' in link.group(0)


@pytest.mark.parametrize(
    "body",
    [
        "点我 javascript:alert(1) 😈",
        "点我 JavaScript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
    ],
)
def test_script_urls_are_not_linked(
    client: FlaskClient, make_comment: MakeComment, body: str
) -> None:
    make_comment(body=body)

    page = page_of(client)

    assert re.search(r'href="\s*(javascript|data|vbscript):', page, re.I) is None
    assert html.escape(body, quote=False) in page


def test_url_with_quotes_cannot_break_out_of_href(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    make_comment(body='https://example.com/"onmouseover="alert(1) 🙃')

    page = page_of(client)

    assert 'onmouseover="alert(1)' not in page


# --- caching, cookies and headers -------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        EMBED,
        f"{EMBED}?lang=en",
        "/api/v1/counts?article=67584",
        f"/api/v1/articles/{ARTICLE}/comments",
    ],
)
def test_public_responses_set_no_cookie_and_do_not_vary_on_cookie(
    client: FlaskClient, make_comment: MakeComment, url: str
) -> None:
    make_comment(body="缓存友好 🍪")
    client.set_cookie("session", "读者的旧会话", domain="localhost")

    response = client.get(url, headers={"Origin": "https://www.portal.example"})

    assert response.status_code == 200
    assert response.headers.getlist("Set-Cookie") == []
    vary = [v.strip().lower() for v in response.headers.get("Vary", "").split(",")]
    assert "cookie" not in vary
    assert "public" in response.headers["Cache-Control"]


def test_widget_page_is_publicly_cacheable(client: FlaskClient) -> None:
    response = client.get(EMBED)

    cache_control = response.headers["Cache-Control"]
    assert "public" in cache_control
    assert "s-maxage=30" in cache_control  # a CDN keeps it 30 s...
    assert "max-age=0" in cache_control  # ...browsers revalidate, so approvals show
    assert "private" not in cache_control and "no-store" not in cache_control
    etag = response.headers["ETag"]
    assert client.get(EMBED, headers={"If-None-Match": etag}).status_code == 304


def test_widget_page_with_a_captcha_is_not_cached(client: FlaskClient) -> None:
    response = client.get(f"{EMBED}?captcha=new")

    page = response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert token_in(page)


def test_redirect_after_posting_sets_no_cookie(client: FlaskClient, solved: Solved) -> None:
    response = post_form(client, solved)

    assert response.status_code == 303
    assert response.headers.getlist("Set-Cookie") == []


@pytest.mark.parametrize(
    ("url", "marker"), [("/embed.js", "data-comments"), ("/count.js", "data-comment-count")]
)
def test_scripts_are_served_as_javascript(client: FlaskClient, url: str, marker: str) -> None:
    with client.get(url) as response:  # a file response: close it
        assert response.status_code == 200
        assert response.mimetype in {"text/javascript", "application/javascript"}
        assert marker in response.get_data(as_text=True)
        assert response.headers.getlist("Set-Cookie") == []


def frame_ancestors(response: TestResponse) -> list[str]:
    policy = response.headers["Content-Security-Policy"]
    directive = next(
        d.strip() for d in policy.split(";") if d.strip().startswith("frame-ancestors")
    )
    return directive.split()[1:]


def test_widget_may_be_framed_by_the_configured_portal(client: FlaskClient) -> None:
    sources = frame_ancestors(client.get(EMBED))

    assert "https://www.portal.example" in sources
    assert "*" not in sources
    assert "https://evil.example" not in sources


def test_widget_frame_ancestors_follow_allowed_origins(make_app: Callable[..., Flask]) -> None:
    origins = ["https://www.portal.example", "https://news.portal.example"]
    client = make_app(ALLOWED_ORIGINS=origins).test_client()

    for response in (client.get(EMBED), client.post(POST_URL, data={"body": "框架 🖼️"})):
        sources = frame_ancestors(response)
        assert set(origins) <= set(sources)


def test_demo_page_embeds_widget_and_counts(client: FlaskClient) -> None:
    response = client.get("/demo")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "data-comments" in page
    assert "data-comment-count" in page
    assert "/embed.js" in page and "/count.js" in page


# --- rate limit -------------------------------------------------------------------------


def test_third_post_in_a_minute_is_rate_limited_and_keeps_text(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_POST="2/minute")
    client = app.test_client()

    def solve() -> tuple[str, str]:
        token = client.get("/captcha").get_json()["token"]
        with app.app_context():
            return token, captcha.answer_for(captcha.nonce_of(token))

    first = post_form(client, solve, body="第一条 1️⃣")
    second = post_form(client, solve, body="第二条 2️⃣")
    third = post_form(client, solve, author="快手", body="第三条还在吗？3️⃣")

    assert [first.status_code, second.status_code] == [303, 303]
    assert third.status_code == 429
    assert int(third.headers["Retry-After"]) >= 1
    page = third.get_data(as_text=True)
    assert "提交太频繁，请稍后再试。" in page
    assert textarea_of(page) == "第三条还在吗？3️⃣"
    assert nickname_of(page) == "快手"
    assert len(stored_comments(app)) == 2
