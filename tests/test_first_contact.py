"""What a new user met on first contact: stale moderation, headers, JSON bytes, shared
limits, key rules and times in the portal's zone."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from helpers import form_post

from service import auth, moderation
from service.extensions import db
from service.models import Comment

ARTICLE = "67584"
Solved = Callable[[], tuple[str, str]]


def status_of(app: Flask, comment_id: int) -> str:
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        assert comment is not None
        return comment.state.label


@pytest.fixture
def token(app: Flask, moderator: str) -> str:
    with app.app_context():
        found = auth.find_moderator(moderator)
        assert found is not None
        return auth.create_token(found, "CMS")


def approve_as_other(app: Flask, comment_id: int) -> None:
    with app.app_context():
        other = auth.add_moderator("laozhang", "另一位审核员的密码-2026")
        moderation.apply(comment_id, moderation.Action.APPROVE, by=other)


# --- a stale view never overrides another moderator's decision ------------------------------


def test_moderation_api_refuses_an_action_on_a_status_the_caller_no_longer_sees(
    app: Flask, client: FlaskClient, token: str, pending: Callable[..., int]
) -> None:
    comment_id = pending()
    approve_as_other(app, comment_id)

    response = client.post(
        f"/api/v1/mod/comments/{comment_id}/reject",
        json={"expected_status": "pending", "reason": "广告"},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "status_changed"
    assert error["current_status"] == "approved"
    assert "laozhang" in error["message"] and f"#{comment_id}" in error["message"]
    assert status_of(app, comment_id) == "approved"


def test_moderation_api_acts_when_the_status_is_as_expected(
    app: Flask, client: FlaskClient, token: str, pending: Callable[..., int]
) -> None:
    comment_id = pending()

    response = client.post(
        f"/api/v1/mod/comments/{comment_id}/approve",
        json={"expected_status": "pending"},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 200
    assert status_of(app, comment_id) == "approved"


def test_an_unknown_expected_status_is_a_clear_400(
    client: FlaskClient, token: str, pending: Callable[..., int]
) -> None:
    response = client.post(
        f"/api/v1/mod/comments/{pending()}/approve",
        json={"expected_status": "waiting"},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 400
    assert "expected_status" in response.get_json()["error"]["message"]


def test_a_stale_dashboard_form_goes_back_with_what_happened(
    app: Flask, mod_client: FlaskClient, pending: Callable[..., int]
) -> None:
    comment_id = pending()
    approve_as_other(app, comment_id)

    response = form_post(
        mod_client,
        f"/mod/comments/{comment_id}/spam",
        {"expected_status": "pending", "next": "/mod/queue"},
    )

    assert response.status_code == 303
    page = mod_client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"评论 #{comment_id} 已被 laozhang" in page
    assert status_of(app, comment_id) == "approved"


# --- headers and bytes ----------------------------------------------------------------------


def test_retry_after_is_only_on_answers_that_ask_to_wait(make_app: Callable[..., Flask]) -> None:
    client = make_app(RATELIMIT_ENABLED=True, RATELIMIT_CAPTCHA="2/minute").test_client()

    answers = [client.get("/captcha") for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert "Retry-After" not in answers[0].headers
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 60


def test_a_503_keeps_its_own_retry_after_with_limits_on(make_app: Callable[..., Flask]) -> None:
    down = "postgresql+psycopg://postgres@127.0.0.1:1/nothing?connect_timeout=1"
    client = make_app(DATABASE_URL=down, RATELIMIT_ENABLED=True).test_client()

    response = client.get("/api/v1/counts", query_string={"article": ARTICLE})

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"


def test_error_json_is_plain_utf8_like_success_json(client: FlaskClient) -> None:
    error = client.get("/api/v1/counts", query_string={"article": "a b"})
    listing = client.get(f"/api/v1/articles/{ARTICLE}/comments", headers={"Accept-Language": "zh"})

    assert error.status_code == 400
    assert "文章标识无效".encode() in error.data
    assert b"\\u" not in error.data
    assert b"\\u" not in listing.data


# --- one posting limit, and only attempts that reach the captcha count ----------------------


@pytest.fixture
def limited(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app(RATELIMIT_ENABLED=True, RATELIMIT_POST="3/minute").test_client()


def post_json(client: FlaskClient, **fields: object):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/articles/{ARTICLE}/comments", json=fields)


def test_the_widget_and_the_api_share_one_posting_limit(limited: FlaskClient) -> None:
    for _ in range(2):
        assert post_json(limited, body="没有验证码").status_code == 422
    assert limited.post(f"/embed/{ARTICLE}", data={"body": "表单"}).status_code == 422

    assert post_json(limited, body="第四次").status_code == 429
    assert limited.post(f"/embed/{ARTICLE}", data={"body": "表单"}).status_code == 429


def test_field_errors_do_not_count_against_the_posting_limit(limited: FlaskClient) -> None:
    for _ in range(10):
        assert post_json(limited, body="").status_code == 422
        assert limited.post(f"/embed/{ARTICLE}", data={"body": " "}).status_code == 422

    assert post_json(limited, body="字段正确").status_code == 422  # the captcha is missing
    assert post_json(limited, body="字段正确").get_json()["error"]["code"] == "captcha_invalid"


def test_the_widget_keeps_the_text_when_the_limit_is_hit(limited: FlaskClient) -> None:
    for _ in range(3):
        limited.post(f"/embed/{ARTICLE}", data={"body": "占位"})

    response = limited.post(f"/embed/{ARTICLE}", data={"body": "我的长评论，别丢了"})

    assert response.status_code == 429
    assert "我的长评论，别丢了" in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) >= 1


# --- article keys -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", [".", ".."])
def test_dot_keys_are_refused(client: FlaskClient, key: str) -> None:
    by_query = client.get("/api/v1/counts", query_string={"article": key})
    by_body = client.post("/api/v1/counts", json={"articles": ["67584", key]})

    assert by_query.status_code == 400
    assert by_body.status_code == 400
    assert by_body.get_json()["error"]["code"] == "invalid_article"


# --- times people read are in the portal's zone ------------------------------------------------


def set_created(app: Flask, comment_id: int, moment: datetime) -> None:
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        assert comment is not None
        comment.created_at = moment
        db.session.commit()


NOON_UTC = datetime(2026, 11, 28, 4, 5, tzinfo=UTC)  # 12:05 in Shanghai


def test_the_widget_time_tooltip_is_in_the_configured_zone(
    app: Flask, client: FlaskClient, make_comment: Callable[..., int]
) -> None:
    set_created(app, make_comment(), NOON_UTC)

    page = client.get(f"/embed/{ARTICLE}").get_data(as_text=True)

    assert 'title="2026-11-28 12:05"' in page
    assert "UTC" not in page


def test_the_dashboard_shows_times_in_the_configured_zone(
    app: Flask, mod_client: FlaskClient, pending: Callable[..., int]
) -> None:
    set_created(app, pending(), NOON_UTC)

    page = mod_client.get("/mod/queue").get_data(as_text=True)

    assert 'title="2026-11-28 12:05:00"' in page


def test_the_cli_lists_times_in_the_configured_zone(
    app: Flask, runner: FlaskCliRunner, pending: Callable[..., int]
) -> None:
    set_created(app, pending(), NOON_UTC)

    result = runner.invoke(args=["comments", "list"])

    assert re.search(r"^\d+\t2026-11-28 12:05:00\t67584\t", result.output, re.M), result.output


def test_another_zone_can_be_configured(
    make_app: Callable[..., Flask], make_comment: Callable[..., int]
) -> None:
    app = make_app(TIMEZONE="Europe/London")
    set_created(app, make_comment(), NOON_UTC)

    page = app.test_client().get(f"/embed/{ARTICLE}").get_data(as_text=True)
    listing = app.test_client().get(f"/api/v1/articles/{ARTICLE}/comments").get_json()

    assert 'title="2026-11-28 04:05"' in page
    assert listing["comments"][0]["created_at"] == "2026-11-28T04:05:00+00:00"


def test_api_times_carry_the_zone_offset(
    app: Flask, client: FlaskClient, make_comment: Callable[..., int]
) -> None:
    set_created(app, make_comment(), NOON_UTC)

    listing = client.get(f"/api/v1/articles/{ARTICLE}/comments").get_json()

    moment = datetime.fromisoformat(listing["comments"][0]["created_at"])
    assert listing["comments"][0]["created_at"] == "2026-11-28T12:05:00+08:00"
    assert moment == NOON_UTC
