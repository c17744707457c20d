"""The public JSON API under /api/v1: counts, comment listing, comment submission, errors."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from service import moderation
from service.extensions import db
from service.models import Article, Comment, Status
from service.moderation import Action

PORTAL = "https://www.portal.example"
EVIL = "https://evil.example"
ARTICLE = "67584"
CHINESE = re.compile(r"[\u4e00-\u9fff]")
COMMENT_FIELDS = {"id", "author", "body", "created_at", "likes", "reply_to", "region"}
PRIVATE_KEYS = {"remote_addr", "user_agent", "ip", "ip_address", "author_identity", "sub"}


# --- helpers ----------------------------------------------------------------------------


def error_of(response: TestResponse, status: int, code: str | None = None) -> dict[str, Any]:
    """The error object of a JSON error response, after checking status and shape."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error = response.get_json()["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code
    return error


def all_keys(value: Any) -> Iterator[str]:
    """Every object key anywhere in a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from all_keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from all_keys(item)


def approve(app: Flask, comment_id: int) -> None:
    with app.app_context():
        moderation.apply(comment_id, Action.APPROVE)


def reject(app: Flask, comment_id: int) -> None:
    with app.app_context():
        moderation.apply(comment_id, Action.REJECT)


def stored(app: Flask, comment_id: int) -> dict[str, Any]:
    """What the database holds for a comment, including the moderator-only fields."""
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        assert comment is not None
        return {
            "status": comment.status,
            "author": comment.author,
            "body": comment.body,
            "parent_id": comment.parent_id,
            "remote_addr": comment.remote_addr,
            "user_agent": comment.user_agent,
            "article_title": comment.article.title,
            "article_url": comment.article.url,
        }


def close_article(app: Flask, key: str) -> None:
    with app.app_context():
        article = db.session.execute(db.select(Article).filter_by(key=key)).scalar_one()
        article.closed = True
        db.session.commit()


@pytest.fixture(params=["GET", "POST"])
def counts_of(request: pytest.FixtureRequest, client: FlaskClient) -> Callable[..., TestResponse]:
    """Ask for counts the way a listing page would: by query string or by JSON body."""

    def fetch(keys: list[str]) -> TestResponse:
        if request.param == "GET":
            return client.get("/api/v1/counts", query_string=[("article", k) for k in keys])
        return client.post("/api/v1/counts", json={"articles": keys})

    return fetch


@pytest.fixture
def post_comment(
    client: FlaskClient, solved: Callable[[], tuple[str, str]]
) -> Callable[..., TestResponse]:
    """Submit a comment with a rightly answered captcha; fields override the defaults."""

    def submit(article: str = ARTICLE, headers: dict[str, str] | None = None, **fields: Any):
        token, answer = solved()
        payload = {
            "author": "小明",
            "body": "写得好，支持！🎉",
            "captcha_token": token,
            "captcha_answer": answer,
            **fields,
        }
        return client.post(
            f"/api/v1/articles/{article}/comments", json=payload, headers=headers or {}
        )

    return submit


# --- counts -------------------------------------------------------------------------------


def test_counts_count_only_approved_comments(make_comment, counts_of):
    make_comment(article="a", body="第一条 👍")
    make_comment(article="a", body="第二条 🎉")
    make_comment(article="a", body="待审核", status=Status.PENDING)
    make_comment(article="a", body="不通过", status=Status.REJECTED)
    make_comment(article="a", body="广告", status=Status.SPAM)
    make_comment(article="b", body="只有待审核的 🤔", status=Status.PENDING)

    response = counts_of(["a", "b"])

    assert response.status_code == 200
    assert response.get_json() == {"counts": {"a": 2, "b": 0}}


def test_counts_of_unknown_articles_are_zero(make_comment, counts_of):
    make_comment(article="known", body="有评论")

    response = counts_of(["nobody-commented.here", "known", "x_1"])

    assert response.get_json() == {"counts": {"nobody-commented.here": 0, "known": 1, "x_1": 0}}


def test_duplicate_keys_are_answered_once(make_comment, counts_of):
    make_comment(article="a", body="一条")

    response = counts_of(["a", "b", "a", "a", "b"])

    assert response.status_code == 200
    assert response.get_json() == {"counts": {"a": 1, "b": 0}}


def test_duplicates_do_not_count_against_the_key_limit(counts_of):
    response = counts_of(["same"] * 300)

    assert response.status_code == 200
    assert response.get_json() == {"counts": {"same": 0}}


def test_no_keys_gives_empty_counts(counts_of):
    response = counts_of([])

    assert response.status_code == 200
    assert response.get_json() == {"counts": {}}


def test_two_hundred_keys_are_allowed(counts_of):
    keys = [f"article-{i}" for i in range(200)]

    response = counts_of(keys)

    assert response.status_code == 200
    assert response.get_json()["counts"] == dict.fromkeys(keys, 0)


def test_two_hundred_and_one_keys_are_refused(counts_of):
    response = counts_of([f"article-{i}" for i in range(201)])

    error_of(response, 400)


@pytest.mark.parametrize(
    "bad_key",
    ["has space", "<x>", "a" * 129, "中文", "", "67584/../1", "emoji😀"],
    ids=["space", "markup", "129-chars", "chinese", "empty", "slash", "emoji"],
)
def test_invalid_article_keys_are_refused(counts_of, bad_key):
    response = counts_of(["67584", bad_key])

    error_of(response, 400, "invalid_article")


def test_a_key_of_128_characters_is_valid(counts_of):
    key = "k" * 128

    response = counts_of([key])

    assert response.get_json() == {"counts": {key: 0}}


def test_post_counts_without_articles_is_empty(client):
    response = client.post("/api/v1/counts", json={})

    assert response.status_code == 200
    assert response.get_json() == {"counts": {}}


@pytest.mark.parametrize(
    "articles",
    ["67584", {"67584": True}, 67584, None],
    ids=["string", "object", "number", "null"],
)
def test_post_counts_needs_a_list(client, articles):
    response = client.post("/api/v1/counts", json={"articles": articles})

    error_of(response, 400)


@pytest.mark.parametrize(
    "articles",
    [[1, 2], [None], [["67584"]]],
    ids=["numbers", "null", "nested-list"],
)
def test_post_counts_keys_must_be_strings(client, articles):
    response = client.post("/api/v1/counts", json={"articles": articles})

    error_of(response, 400, "invalid_article")


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_post_counts_needs_json_content_type(client, content_type):
    response = client.post(
        "/api/v1/counts", data='{"articles": ["67584"]}', content_type=content_type
    )

    error_of(response, 415, "unsupported_media_type")


def test_post_counts_without_content_type_is_415(client):
    response = client.post("/api/v1/counts", data='{"articles": ["67584"]}')

    error_of(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "body",
    [
        '{"articles": ["67584"',
        "{'articles': ['67584']}",
        "",
        "\xff\xfe不是 JSON",
        '["67584"]',
        '"67584"',
        "null",
        "[" * 50_000,
        '{"a":' * 10_000 + "1" + "}" * 10_000,
    ],
    ids=[
        "truncated",
        "single-quotes",
        "empty",
        "garbage",
        "array",
        "string",
        "null",
        "deep-arrays",
        "deep-objects",
    ],
)
def test_post_counts_malformed_or_non_object_json_is_400(client, body):
    response = client.post("/api/v1/counts", data=body, content_type="application/json")

    error_of(response, 400)


def test_post_counts_body_over_64_kib_is_413_json(client):
    body = json.dumps({"articles": ["a" * 100] * 700})
    assert len(body) > 64 * 1024

    response = client.post("/api/v1/counts", data=body, content_type="application/json")

    error_of(response, 413, "payload_too_large")


def test_post_comment_body_over_64_kib_is_413_json(client, solved):
    token, answer = solved()
    payload = {"body": "长" * 30_000, "captcha_token": token, "captcha_answer": answer}

    response = client.post(f"/api/v1/articles/{ARTICLE}/comments", json=payload)

    error_of(response, 413, "payload_too_large")


# --- caching ------------------------------------------------------------------------------


def test_counts_are_publicly_cacheable_for_30_seconds(counts_of):
    response = counts_of([ARTICLE])

    cache_control = response.headers["Cache-Control"]
    assert "public" in cache_control
    assert "max-age=30" in cache_control
    assert response.headers.get("ETag")


def test_matching_if_none_match_gives_304(client, make_comment):
    make_comment(article=ARTICLE)
    first = client.get("/api/v1/counts", query_string={"article": ARTICLE})

    again = client.get(
        "/api/v1/counts",
        query_string={"article": ARTICLE},
        headers={"If-None-Match": first.headers["ETag"]},
    )

    assert again.status_code == 304
    assert again.get_data() == b""


def test_stale_if_none_match_gets_the_full_answer(client):
    response = client.get(
        "/api/v1/counts", query_string={"article": ARTICLE}, headers={"If-None-Match": '"stale"'}
    )

    assert response.status_code == 200
    assert response.get_json() == {"counts": {ARTICLE: 0}}


def test_approval_changes_etag_and_count_and_rejection_takes_it_back(app, client, make_comment):
    make_comment(article=ARTICLE, body="早就通过的 ✅")
    waiting = make_comment(article=ARTICLE, body="等待审核的评论 ⏳", status=Status.PENDING)

    def counts() -> TestResponse:
        return client.get("/api/v1/counts", query_string={"article": ARTICLE})

    before = counts()
    assert before.get_json() == {"counts": {ARTICLE: 1}}

    approve(app, waiting)
    after_approval = counts()
    assert after_approval.get_json() == {"counts": {ARTICLE: 2}}
    assert after_approval.headers["ETag"] != before.headers["ETag"]
    revalidated = client.get(
        "/api/v1/counts",
        query_string={"article": ARTICLE},
        headers={"If-None-Match": before.headers["ETag"]},
    )
    assert revalidated.status_code == 200
    assert revalidated.get_json() == {"counts": {ARTICLE: 2}}

    reject(app, waiting)
    after_rejection = counts()
    assert after_rejection.get_json() == {"counts": {ARTICLE: 1}}
    assert after_rejection.headers["ETag"] != after_approval.headers["ETag"]


# --- CORS ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_allowed_portal_origin_may_read_counts(client, method):
    if method == "GET":
        response = client.get(
            "/api/v1/counts", query_string={"article": ARTICLE}, headers={"Origin": PORTAL}
        )
    else:
        response = client.post(
            "/api/v1/counts", json={"articles": [ARTICLE]}, headers={"Origin": PORTAL}
        )

    assert response.status_code == 200
    assert response.headers.get("Access-Control-Allow-Origin") == PORTAL
    assert "etag" in response.headers.get("Access-Control-Expose-Headers", "").lower()


@pytest.mark.parametrize(
    "path", ["/api/v1/counts", f"/api/v1/articles/{ARTICLE}/comments"], ids=["counts", "comments"]
)
def test_preflight_for_json_post_from_portal_succeeds(client, path):
    response = client.options(
        path,
        headers={
            "Origin": PORTAL,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type",
        },
    )

    assert response.status_code in (200, 204)
    assert response.headers.get("Access-Control-Allow-Origin") == PORTAL
    assert "POST" in response.headers.get("Access-Control-Allow-Methods", "")
    assert "content-type" in response.headers.get("Access-Control-Allow-Headers", "").lower()


def test_other_origin_gets_no_cors_permission(client):
    response = client.get(
        "/api/v1/counts", query_string={"article": ARTICLE}, headers={"Origin": EVIL}
    )
    preflight = client.options(
        "/api/v1/counts",
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type",
        },
    )

    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_wildcard_setting_allows_any_origin(make_app):
    client = make_app(ALLOWED_ORIGINS=["*"]).test_client()

    response = client.get(
        "/api/v1/counts", query_string={"article": ARTICLE}, headers={"Origin": EVIL}
    )

    assert response.status_code == 200
    assert response.headers.get("Access-Control-Allow-Origin") in ("*", EVIL)


# --- listing comments -----------------------------------------------------------------------


def test_listing_shows_only_approved_comments(client, make_comment):
    shown = make_comment(body="通过审核的评论 👍")
    make_comment(body="待审核", status=Status.PENDING)
    make_comment(body="被拒绝", status=Status.REJECTED)
    make_comment(body="垃圾广告", status=Status.SPAM)
    make_comment(article="other", body="别的文章")

    data = client.get(f"/api/v1/articles/{ARTICLE}/comments").get_json()

    assert [c["id"] for c in data["comments"]] == [shown]
    assert data["comments"][0]["body"] == "通过审核的评论 👍"
    assert data["total"] == 1
    assert data["article"] == ARTICLE


def test_listing_pages_newest_first_twenty_at_a_time(client, make_comment):
    ids = [make_comment(body=f"第{n}条评论 🔢") for n in range(1, 26)]
    newest_first = list(reversed(ids))

    first = client.get(f"/api/v1/articles/{ARTICLE}/comments").get_json()
    second = client.get(f"/api/v1/articles/{ARTICLE}/comments", query_string={"page": 2})

    assert [c["id"] for c in first["comments"]] == newest_first[:20]
    assert first["comments"][0]["body"] == "第25条评论 🔢"
    assert (first["total"], first["page"], first["pages"], first["per_page"]) == (25, 1, 2, 20)
    assert second.status_code == 200
    assert [c["id"] for c in second.get_json()["comments"]] == newest_first[20:]
    assert second.get_json()["page"] == 2


def test_page_past_the_end_is_empty(client, make_comment):
    make_comment()

    data = client.get(f"/api/v1/articles/{ARTICLE}/comments?page=3").get_json()

    assert data["comments"] == []
    assert data["total"] == 1


def test_listed_comment_has_public_fields_only(client, make_comment):
    parent = make_comment(author="老张", body="原评论 🧓", remote_addr="198.51.100.23")
    reply = make_comment(author="小李", body="回复老张 💬", parent_id=parent)

    response = client.get(f"/api/v1/articles/{ARTICLE}/comments")
    data = response.get_json()

    by_id = {c["id"]: c for c in data["comments"]}
    assert set(by_id[reply]) == COMMENT_FIELDS
    assert by_id[reply]["reply_to"] == {"id": parent, "author": "老张", "body": "原评论 🧓"}
    assert by_id[parent]["reply_to"] is None
    assert by_id[reply]["author"] == "小李"
    # Times people read are in the portal's zone (COMMENTS_TIMEZONE, Asia/Shanghai by default).
    assert by_id[reply]["created_at"].endswith("+08:00")
    assert not PRIVATE_KEYS & set(all_keys(data))
    assert "198.51.100.23" not in response.get_data(as_text=True)
    assert "203.0.113.7" not in response.get_data(as_text=True)


def test_listing_never_reveals_address_or_user_agent_of_posted_comments(app, client, post_comment):
    agent = "Mozilla/5.0 (秘密浏览器 Secret-Agent/1.0)"
    posted = post_comment(headers={"User-Agent": agent}).get_json()["id"]
    approve(app, posted)

    response = client.get(f"/api/v1/articles/{ARTICLE}/comments")
    text = response.get_data(as_text=True)

    assert [c["id"] for c in response.get_json()["comments"]] == [posted]
    assert "Secret-Agent" not in text
    assert "127.0.0.1" not in text
    assert not PRIVATE_KEYS & set(all_keys(response.get_json()))


@pytest.mark.parametrize("page", ["0", "-1", "abc", str(10**9), "1.5", "²"])
def test_bad_page_numbers_are_400(client, make_comment, page):
    make_comment()

    response = client.get(f"/api/v1/articles/{ARTICLE}/comments", query_string={"page": page})

    error_of(response, 400)


def test_unknown_valid_article_lists_nothing(client):
    response = client.get("/api/v1/articles/never-commented_1.0/comments")

    assert response.status_code == 200
    data = response.get_json()
    assert data["comments"] == []
    assert data["total"] == 0
    assert data["closed"] is False


@pytest.mark.parametrize("key", ["bad%20key", "%3Cx%3E", "a" * 129, "%E4%B8%AD%E6%96%87"])
def test_listing_with_invalid_key_is_400(client, key):
    response = client.get(f"/api/v1/articles/{key}/comments")

    error_of(response, 400, "invalid_article")


# --- posting comments ------------------------------------------------------------------------


def test_posted_comment_is_accepted_as_pending(app, post_comment):
    response = post_comment(body="政务服务越来越方便了 👏")

    assert response.status_code == 202
    data = response.get_json()
    assert data["status"] == "pending"
    assert isinstance(data["id"], int)
    assert stored(app, data["id"])["body"] == "政务服务越来越方便了 👏"
    assert stored(app, data["id"])["status"] == Status.PENDING


def test_posted_comment_keeps_address_and_user_agent_for_moderators(app, post_comment):
    agent = "Mozilla/5.0 (Linux; 微信 WeChat)"

    comment_id = post_comment(headers={"User-Agent": agent}).get_json()["id"]

    row = stored(app, comment_id)
    assert row["remote_addr"] == "127.0.0.1"
    assert row["user_agent"] == agent
    assert row["author"] == "小明"


def test_pending_comment_is_neither_listed_nor_counted(client, post_comment):
    assert post_comment().status_code == 202

    listing = client.get(f"/api/v1/articles/{ARTICLE}/comments").get_json()
    counts = client.get("/api/v1/counts", query_string={"article": ARTICLE}).get_json()

    assert listing["comments"] == []
    assert listing["total"] == 0
    assert counts == {"counts": {ARTICLE: 0}}


def test_empty_nickname_becomes_the_default(app, post_comment):
    comment_id = post_comment(author="  ").get_json()["id"]

    assert stored(app, comment_id)["author"] == "网友"


def test_reply_to_an_approved_comment_of_the_same_article(app, client, make_comment, post_comment):
    parent = make_comment(author="老王", body="我先说两句 🗣️")

    response = post_comment(body="同意楼上 👍", reply_to=parent)

    assert response.status_code == 202
    reply = response.get_json()["id"]
    assert stored(app, reply)["parent_id"] == parent
    approve(app, reply)
    listed = client.get(f"/api/v1/articles/{ARTICLE}/comments").get_json()["comments"]
    assert listed[0]["id"] == reply
    assert listed[0]["reply_to"] == {"id": parent, "author": "老王", "body": "我先说两句 🗣️"}


@pytest.mark.parametrize(
    "target",
    ["pending", "rejected", "other-article", "missing", "not-a-number", "boolean", "huge"],
)
def test_reply_to_anything_else_is_422(make_comment, post_comment, target):
    make_comment(body="本文已有评论")
    reply_to: Any = {
        "pending": lambda: make_comment(body="待审", status=Status.PENDING),
        "rejected": lambda: make_comment(body="被拒", status=Status.REJECTED),
        "other-article": lambda: make_comment(article="other-article", body="别处的评论"),
        "missing": lambda: 999_999,
        "not-a-number": lambda: "第一条",
        "boolean": lambda: True,
        "huge": lambda: 2**70,
    }[target]()

    response = post_comment(reply_to=reply_to)

    error = error_of(response, 422, "validation_failed")
    assert set(error["fields"]) == {"reply_to"}
    assert error["fields"]["reply_to"]["code"]


def test_wrong_captcha_answer_is_422_captcha_invalid(client, solved):
    token, _right = solved()

    response = client.post(
        f"/api/v1/articles/{ARTICLE}/comments",
        json={"body": "验证码填错了 🙈", "captcha_token": token, "captcha_answer": "WRONG"},
    )

    error = error_of(response, 422, "captcha_invalid")
    assert CHINESE.search(error["message"])


def test_captcha_token_makes_one_comment_only(app, client, solved):
    token, answer = solved()
    payload = {"body": "第一次 ✅", "captcha_token": token, "captcha_answer": answer}

    first = client.post(f"/api/v1/articles/{ARTICLE}/comments", json=payload)
    second = client.post(f"/api/v1/articles/{ARTICLE}/comments", json=payload)
    wrong = client.post(
        f"/api/v1/articles/{ARTICLE}/comments", json=payload | {"captcha_answer": "WRONG"}
    )

    assert first.status_code == 202
    assert second.get_json() == first.get_json()  # the first answer, for a retry
    error_of(wrong, 422, "captcha_invalid")
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(Comment.id))).scalar_one() == 1


@pytest.mark.parametrize("token", ["", "forged.token.value", None, 12345])
def test_missing_or_forged_captcha_token_is_422(client, token):
    response = client.post(
        f"/api/v1/articles/{ARTICLE}/comments",
        json={"body": "没有验证码", "captcha_token": token, "captcha_answer": "ACDEF"},
    )

    error_of(response, 422, "captcha_invalid")


def test_every_field_problem_is_reported_at_once_without_looking_at_the_captcha(client, solved):
    token, right = solved()

    response = client.post(
        f"/api/v1/articles/{ARTICLE}/comments",
        json={
            "author": "名" * 33,
            "body": "   ",
            "captcha_token": token,
            "captcha_answer": "WRONG",
        },
    )

    error = error_of(response, 422, "validation_failed")
    assert set(error["fields"]) == {"author", "body"}  # nothing said about the captcha
    assert error["fields"]["body"]["code"] == "required"
    assert error["fields"]["author"]["code"] == "too_long"
    assert all(field["message"] for field in error["fields"].values())
    fixed = client.post(
        f"/api/v1/articles/{ARTICLE}/comments",
        json={"body": "改好了", "captcha_token": token, "captcha_answer": right},
    )
    assert fixed.status_code == 202, fixed.get_json()


def test_a_wrong_captcha_is_reported_once_the_fields_are_right(client, solved):
    token, _right = solved()

    response = client.post(
        f"/api/v1/articles/{ARTICLE}/comments",
        json={"body": "好文章", "captcha_token": token, "captcha_answer": "WRONG"},
    )

    error = error_of(response, 422, "captcha_invalid")
    assert set(error["fields"]) == {"captcha_answer"}


def test_body_of_1001_characters_is_too_long(post_comment):
    response = post_comment(body="评" * 1001)

    error = error_of(response, 422, "validation_failed")
    assert error["fields"]["body"]["code"] == "too_long"
    assert "1000" in error["fields"]["body"]["message"]


def test_body_of_1000_characters_including_emoji_is_accepted(app, post_comment):
    body = "好" * 998 + "👍🎉"

    response = post_comment(body=body)

    assert response.status_code == 202
    assert stored(app, response.get_json()["id"])["body"] == body


def test_nickname_over_32_characters_is_refused(post_comment):
    response = post_comment(author="长" * 33)

    error = error_of(response, 422, "validation_failed")
    assert error["fields"]["author"]["code"] == "too_long"


@pytest.mark.parametrize("body", [12345, 1.5, ["评论"], {"text": "评论"}, True], ids=repr)
def test_non_text_body_is_422_not_500(post_comment, body):
    response = post_comment(body=body)

    error = error_of(response, 422, "validation_failed")
    assert "body" in error["fields"]


@pytest.mark.parametrize(
    "body",
    ["你好\x00世界", "\u202e评论反转", "隐藏\u2066方向\u2069", "响铃\x07"],
    ids=["nul", "bidi-override", "bidi-isolate", "bell"],
)
def test_control_and_bidi_characters_in_body_are_refused(post_comment, body):
    response = post_comment(body=body)

    error = error_of(response, 422, "validation_failed")
    assert error["fields"]["body"]["code"] == "forbidden_characters"


def test_closed_article_refuses_comments(app, make_comment, post_comment):
    make_comment(article=ARTICLE)
    close_article(app, ARTICLE)

    response = post_comment(body="还能评论吗？🤔")

    error_of(response, 403, "comments_closed")


def test_post_to_invalid_article_key_is_400(client, solved):
    token, answer = solved()

    response = client.post(
        "/api/v1/articles/bad%20key/comments",
        json={"body": "内容", "captcha_token": token, "captcha_answer": answer},
    )

    error_of(response, 400, "invalid_article")


def test_post_comment_needs_json(client, solved):
    token, answer = solved()

    response = client.post(
        f"/api/v1/articles/{ARTICLE}/comments",
        data={"body": "表单提交", "captcha_token": token, "captcha_answer": answer},
    )

    error_of(response, 415, "unsupported_media_type")


def test_post_comment_with_json_array_is_400(client):
    response = client.post(f"/api/v1/articles/{ARTICLE}/comments", json=["评论"])

    error_of(response, 400)


def test_title_and_allowed_url_are_stored_on_the_article(app, post_comment):
    url = f"{PORTAL}/zcjh/zhengwu/67584.html"

    response = post_comment(title="关于进一步优化政务服务的实施意见", url=url)

    row = stored(app, response.get_json()["id"])
    assert row["article_title"] == "关于进一步优化政务服务的实施意见"
    assert row["article_url"] == url


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "https://evil.example/67584.html",
        "http://www.portal.example/67584.html",
        "https://www.portal.example.evil.example/67584.html",
        "//www.portal.example/67584.html",
        "data:text/html,<script>alert(1)</script>",
        "https://www.portal.example/" + "a" * 3000,
    ],
    ids=["javascript", "other-origin", "other-scheme", "lookalike", "no-scheme", "data", "long"],
)
def test_urls_off_the_allowed_origins_are_not_stored(app, post_comment, url):
    response = post_comment(title="标题 📰", url=url)

    assert response.status_code == 202
    row = stored(app, response.get_json()["id"])
    assert row["article_url"] is None
    assert row["article_title"] == "标题 📰"


# --- unknown routes, wrong methods, languages -------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/nothing-here", f"/api/v1/articles/{ARTICLE}", "/api/v1/counts/extra"]
)
def test_unknown_api_route_is_404_json(client, path):
    error_of(client.get(path), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/api/v1/counts"),
        ("DELETE", "/api/v1/counts"),
        ("DELETE", f"/api/v1/articles/{ARTICLE}/comments"),
        ("POST", "/api/v1/openapi.json"),
    ],
)
def test_wrong_method_is_405_json(client, method, path):
    response = client.open(path, method=method, json={})

    error_of(response, 405, "method_not_allowed")
    assert response.headers.get("Allow")


ERROR_CASES = {
    "415": ("POST", "/api/v1/counts", {"data": "x", "content_type": "text/plain"}, 415),
    "400-article": ("GET", "/api/v1/counts", {"query_string": {"article": "<x>"}}, 400),
    "400-page": ("GET", f"/api/v1/articles/{ARTICLE}/comments", {"query_string": {"page": 0}}, 400),
    "404": ("GET", "/api/v1/nothing-here", {}, 404),
    "405": ("PUT", "/api/v1/counts", {}, 405),
}


@pytest.mark.parametrize("case", ERROR_CASES)
def test_error_messages_default_to_chinese(client, case):
    method, path, kwargs, status = ERROR_CASES[case]

    error = error_of(client.open(path, method=method, **kwargs), status)

    assert CHINESE.search(error["message"]), error["message"]


@pytest.mark.parametrize("case", ERROR_CASES)
def test_error_messages_in_english_with_lang_en(client, case):
    method, path, kwargs, status = ERROR_CASES[case]
    query = {**kwargs.get("query_string", {}), "lang": "en"}

    error = error_of(client.open(path, method=method, **{**kwargs, "query_string": query}), status)

    assert not CHINESE.search(error["message"]), error["message"]
    assert error["message"].isascii()


def test_415_message_names_the_expected_content_type(client):
    request = {"data": "x", "content_type": "text/plain"}

    chinese = error_of(client.post("/api/v1/counts", **request), 415)["message"]
    english = error_of(client.post("/api/v1/counts?lang=en", **request), 415)["message"]

    assert "application/json" in chinese
    assert CHINESE.search(chinese)
    assert english == "Send the request as application/json."


def test_english_from_accept_language(client):
    response = client.get("/api/v1/nothing-here", headers={"Accept-Language": "en-US,en;q=0.9"})

    assert error_of(response, 404)["message"] == "Not found."


def test_field_messages_are_translated_too(post_comment):
    chinese = error_of(post_comment(body="评" * 1001), 422)["fields"]["body"]["message"]

    assert CHINESE.search(chinese)
