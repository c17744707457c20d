"""Likes, reports and cross-site requests: the attacks a security probe found, replayed.

- a plain moderator switching an article to post-moderation;
- CORS answers cached by a CDN without ``Vary: Origin``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import form_post
from werkzeug.test import TestResponse

from service.articles import find_article

ARTICLE = "67584"
PORTAL = "https://www.portal.example"  # conftest's ALLOWED_ORIGINS
EVIL = "https://evil.example"
Solved = Callable[[], tuple[str, str]]


# --- an article's moderation mode is an admin's call ---------------------------------------------


def post_comment(client: FlaskClient, solved: Solved, body: str) -> str:
    token, answer = solved()
    response = client.post(
        f"/api/v1/articles/{ARTICLE}/comments",
        json={"body": body, "captcha_token": token, "captcha_answer": answer},
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()["status"]


def article_state(app: Flask) -> tuple[str | None, bool]:
    with app.app_context():
        article = find_article(ARTICLE)
        assert article is not None
        return article.moderation_mode, article.closed


@pytest.mark.parametrize(
    "data",
    [{"mode": "post"}, {"mode": "site"}, {"mode": "post", "comments": "close"}],
    ids=["post", "site", "post-and-close"],
)
def test_a_moderator_cannot_change_an_articles_moderation_mode(
    app, client, mod_client, make_comment, solved, data
):
    make_comment()

    response = form_post(mod_client, f"/mod/articles/{ARTICLE}/settings", data)

    assert response.status_code == 403
    assert article_state(app) == (None, False)
    assert post_comment(client, solved, "下一条评论仍需审核") == "pending"


def test_an_admin_can_switch_an_article_to_post_moderation(
    app, client, admin_client, make_comment, solved
):
    make_comment()

    response = form_post(admin_client, f"/mod/articles/{ARTICLE}/settings", {"mode": "post"})

    assert response.status_code == 303
    assert article_state(app) == ("post", False)
    assert post_comment(client, solved, "先发后审的评论") == "approved"


def test_a_moderator_still_closes_and_reopens_comments(app, mod_client, make_comment):
    make_comment()
    path = f"/mod/articles/{ARTICLE}/settings"

    closed = form_post(mod_client, path, {"comments": "close"})
    assert (closed.status_code, article_state(app)) == (303, (None, True))
    reopened = form_post(mod_client, path, {"comments": "reopen"})
    assert (reopened.status_code, article_state(app)) == (303, (None, False))


def test_the_article_page_shows_the_mode_controls_to_admins_only(
    mod_client, admin_client, make_comment
):
    make_comment()

    for_moderator = mod_client.get(f"/mod/articles/{ARTICLE}").get_data(as_text=True)
    for_admin = admin_client.get(f"/mod/articles/{ARTICLE}").get_data(as_text=True)

    assert 'name="mode"' not in for_moderator
    assert "审核模式：全站默认（仅管理员可更改）" in for_moderator
    assert 'name="comments"' in for_moderator
    assert 'name="mode"' in for_admin
    assert "仅管理员可更改" not in for_admin


# --- CORS answers vary on Origin, whatever was sent ---------------------------------------------

CACHEABLE = [
    f"/api/v1/counts?article={ARTICLE}",
    f"/api/v1/articles/{ARTICLE}/comments",
    "/api/v1/openapi.json",
]
ORIGINS = {"no-origin": None, "portal": PORTAL, "other-origin": EVIL}


def vary_of(response: TestResponse) -> list[str]:
    """Every name in Vary, lower-cased, over all Vary lines (each name once, we check)."""
    return [v.strip().lower() for line in response.headers.getlist("Vary") for v in line.split(",")]


def assert_varies_on_origin_and_encoding(response: TestResponse) -> None:
    vary = vary_of(response)
    assert "origin" in vary, response.headers
    assert "accept-encoding" in vary, response.headers
    assert len(vary) == len(set(vary)), vary


@pytest.mark.parametrize("origin", list(ORIGINS.values()), ids=list(ORIGINS))
@pytest.mark.parametrize("path", CACHEABLE)
def test_cacheable_api_answers_vary_on_origin(client, make_comment, path, origin):
    make_comment()

    response = client.get(path, headers={"Origin": origin} if origin else {})

    assert response.status_code == 200
    assert_varies_on_origin_and_encoding(response)


@pytest.mark.parametrize("origin", list(ORIGINS.values()), ids=list(ORIGINS))
def test_not_modified_counts_vary_on_origin_too(client, make_comment, origin):
    make_comment()
    headers = {"Origin": origin} if origin else {}
    first = client.get(CACHEABLE[0], headers=headers)

    again = client.get(CACHEABLE[0], headers={**headers, "If-None-Match": first.headers["ETag"]})

    assert again.status_code == 304
    assert_varies_on_origin_and_encoding(again)


def test_with_several_portals_origin_is_named_once(make_app, make_comment):
    client = make_app(ALLOWED_ORIGINS=[PORTAL, "https://m.portal.example"]).test_client()
    make_comment()

    response = client.get(CACHEABLE[0], headers={"Origin": PORTAL, "Accept-Encoding": "gzip"})

    assert response.headers["Access-Control-Allow-Origin"] == PORTAL
    assert len(response.headers.getlist("Vary")) == 1
    assert_varies_on_origin_and_encoding(response)
