"""Likes, reports and cross-site requests: the attacks a security probe found, replayed.

- a script that takes a fresh reader cookie for every like (likes per address);
- another site's page making its visitors like, report or comment through the
  widget's forms (Fetch Metadata and Origin), or through the JSON API's like
  (JSON only, so browsers preflight; allowed origins only);
- a plain moderator switching an article to post-moderation;
- CORS answers cached by a CDN without ``Vary: Origin``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import form_post
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from service import likes
from service.articles import find_article
from service.extensions import db
from service.models import Comment, Report

ARTICLE = "67584"
PORTAL = "https://www.portal.example"  # conftest's ALLOWED_ORIGINS
EVIL = "https://evil.example"
OWN_ORIGIN = "http://localhost"  # the test client's
ADDRESS = "198.51.100.23"
REFUSED = "此请求并非来自评论区，未被受理。"
JSON = {"Accept": "application/json"}
SAME_ORIGIN = {"Origin": OWN_ORIGIN, "Sec-Fetch-Site": "same-origin"}
Solved = Callable[[], tuple[str, str]]


def like_path(comment_id: int) -> str:
    return f"/api/v1/articles/{ARTICLE}/comments/{comment_id}/like"


def api_like(
    client: FlaskClient,
    comment_id: int,
    cookie: str | None = None,
    address: str = ADDRESS,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> TestResponse:
    """A like through the JSON API, as widget.js sends it (the cookie as a raw header)."""
    sent = dict(headers or {})
    if cookie:
        sent["Cookie"] = f"{likes.COOKIE}={cookie}"
    if "data" not in kwargs:
        kwargs["json"] = {}
    return client.post(
        like_path(comment_id), headers=sent, environ_base={"REMOTE_ADDR": address}, **kwargs
    )


def widget_like(
    client: FlaskClient, comment_id: int, cookie: str | None = None, address: str = ADDRESS
) -> TestResponse:
    """The no-JavaScript like form, posted from the widget's own page."""
    headers = dict(SAME_ORIGIN)
    if cookie:
        headers["Cookie"] = f"{likes.COOKIE}={cookie}"
    return client.post(
        f"/embed/{ARTICLE}/like/{comment_id}",
        headers=headers,
        environ_base={"REMOTE_ADDR": address},
    )


def fresh_cookie(client: FlaskClient, decoy: int) -> str:
    """A new reader cookie, the way the script gets one: a cookieless like hands it out."""
    response = api_like(client, decoy, address="192.0.2.250")
    assert response.status_code == 200, response.get_data(as_text=True)
    match = re.match(rf"{likes.COOKIE}=([^;]+)", response.headers["Set-Cookie"])
    assert match, response.headers["Set-Cookie"]
    return match.group(1)


def likes_of(app: Flask, comment_id: int) -> int:
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        assert comment is not None
        return comment.likes


def reports_of(app: Flask, comment_id: int) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count(Report.id)).where(Report.comment_id == comment_id)
        )


def comment_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Comment.id)))


@pytest.fixture
def cookieless(app: Flask) -> FlaskClient:
    """A client that sends only the cookies a test puts in its headers."""
    return app.test_client(use_cookies=False)


# --- likes: once per reader, a few times per address ------------------------------------------


def test_a_script_taking_a_fresh_cookie_for_every_like_counts_three_times_at_most(
    app, cookieless, make_comment
):
    target, decoy = make_comment(body="要刷赞的评论"), make_comment(body="发饼干的评论")
    cookies = [fresh_cookie(cookieless, decoy) for _ in range(20)]
    assert len(set(cookies)) == 20

    answers = [api_like(cookieless, target, cookie).get_json() for cookie in cookies]

    assert [a["liked"] for a in answers] == [True] * 3 + [False] * 17
    assert likes_of(app, target) == 3
    assert answers[-1]["likes"] == 3


def test_the_no_javascript_like_form_is_capped_the_same_way(app, cookieless, make_comment):
    target, decoy = make_comment(body="要刷赞的评论"), make_comment(body="发饼干的评论")

    statuses = [
        widget_like(cookieless, target, fresh_cookie(cookieless, decoy)).status_code
        for _ in range(20)
    ]

    assert statuses == [303] * 20
    assert likes_of(app, target) == 3


def test_likes_through_the_api_and_the_form_share_the_address_cap(app, cookieless, make_comment):
    target, decoy = make_comment(), make_comment(body="发饼干的评论")

    for i in range(10):
        send = api_like if i % 2 else widget_like
        send(cookieless, target, fresh_cookie(cookieless, decoy))

    assert likes_of(app, target) == 3


def test_readers_sharing_an_address_count_until_the_cap(app, cookieless, make_comment):
    comment = make_comment()
    office = [fresh_cookie(cookieless, make_comment(body="发饼干的评论")) for _ in range(3)]

    first = api_like(cookieless, comment, office[0]).get_json()
    second = api_like(cookieless, comment, office[1]).get_json()
    # A colleague whose browser keeps no cookie still counts: the first place was left free.
    without_cookie = api_like(cookieless, comment).get_json()
    fourth = api_like(cookieless, comment, office[2]).get_json()
    elsewhere = api_like(cookieless, comment, address="203.0.113.80").get_json()

    assert [first["liked"], second["liked"], without_cookie["liked"]] == [True, True, True]
    assert fourth == {"id": comment, "likes": 3, "liked": False}
    assert elsewhere == {"id": comment, "likes": 4, "liked": True}


def test_a_reader_known_by_cookie_counts_once_from_any_address(app, cookieless, make_comment):
    comment = make_comment()
    cookie = fresh_cookie(cookieless, make_comment(body="发饼干的评论"))

    answers = [
        api_like(cookieless, comment, cookie, address=address).get_json()["liked"]
        for address in ("198.51.100.1", "198.51.100.2", "2001:db8::1")
    ]

    assert answers == [True, False, False]
    assert likes_of(app, comment) == 1


def test_a_reader_without_cookie_counts_once_per_address_and_window(
    app, cookieless, make_comment, monkeypatch
):
    comment = make_comment()
    now = 1_800_000_000.0
    monkeypatch.setattr(likes, "time", type("Clock", (), {"time": staticmethod(lambda: now)}))

    today = [api_like(cookieless, comment).get_json()["liked"] for _ in range(3)]
    now += app.config["LIKE_IP_WINDOW_HOURS"] * 3600
    tomorrow = api_like(cookieless, comment).get_json()["liked"]

    assert today == [True, False, False]
    assert tomorrow is True
    assert likes_of(app, comment) == 2


def test_addresses_in_one_ipv6_64_share_their_places(app, cookieless, make_comment):
    comment, decoy = make_comment(), make_comment(body="发饼干的评论")

    for n in range(1, 11):
        api_like(cookieless, comment, fresh_cookie(cookieless, decoy), address=f"2001:db8:1:2::{n}")
    other_network = api_like(cookieless, comment, address="2001:db8:1:3::1").get_json()

    assert other_network["liked"] is True
    assert likes_of(app, comment) == 4


def test_like_per_ip_is_a_setting(make_app, make_comment):
    app = make_app(LIKE_PER_IP=1)
    client = app.test_client(use_cookies=False)
    comment, decoy = make_comment(), make_comment(body="发饼干的评论")

    answers = [
        api_like(client, comment, fresh_cookie(client, decoy)).get_json()["liked"] for _ in range(3)
    ]

    assert answers == [True, False, False]


# --- the widget's forms: only from the widget's own pages --------------------------------------

FOREIGN = {
    "other-origin": {"Origin": EVIL},
    "cross-site": {"Sec-Fetch-Site": "cross-site"},
    "cross-site-with-origin": {"Sec-Fetch-Site": "cross-site", "Origin": EVIL},
    # A portal on a sibling subdomain embeds the widget, but its pages are not the widget.
    "same-site-portal": {"Sec-Fetch-Site": "same-site", "Origin": PORTAL},
    "allowed-portal-origin": {"Origin": PORTAL},
    "opaque-origin": {"Origin": "null"},
    "forged-same-origin-metadata": {"Sec-Fetch-Site": "same-origin", "Origin": EVIL},
}


def send_like(client: FlaskClient, _solved: Solved, comment_id: int, headers: dict) -> TestResponse:
    return client.post(f"/embed/{ARTICLE}/like/{comment_id}", headers=headers)


def send_report(
    client: FlaskClient, _solved: Solved, comment_id: int, headers: dict
) -> TestResponse:
    return client.post(
        f"/embed/{ARTICLE}/report/{comment_id}", data={"reason": "spam"}, headers=headers
    )


def send_comment(
    client: FlaskClient, solved: Solved, _comment_id: int, headers: dict
) -> TestResponse:
    token, answer = solved()
    return client.post(
        f"/embed/{ARTICLE}",
        data={"body": "别人的网站替我发的评论", "captcha_token": token, "captcha_answer": answer},
        headers=headers,
    )


FORMS: dict[str, tuple[Callable[..., TestResponse], Callable[[Flask, int], int]]] = {
    "like": (send_like, likes_of),
    "report": (send_report, reports_of),
    "comment": (send_comment, lambda app, _id: comment_count(app)),
}


@pytest.mark.parametrize("headers", list(FOREIGN.values()), ids=list(FOREIGN))
@pytest.mark.parametrize("form", list(FORMS))
def test_another_sites_page_cannot_like_report_or_comment_through_the_widget(
    app, client, solved, make_comment, form, headers
):
    comment = make_comment()
    send, counted = FORMS[form]
    before = counted(app, comment)

    response = send(client, solved, comment, {"Accept": "text/html", **headers})

    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert REFUSED in html.unescape(response.get_data(as_text=True))
    assert counted(app, comment) == before


@pytest.mark.parametrize("form", list(FORMS))
def test_a_json_client_is_refused_in_json(app, client, solved, make_comment, form):
    send, _ = FORMS[form]

    response = send(client, solved, make_comment(), {**JSON, "Sec-Fetch-Site": "cross-site"})

    assert response.status_code == 403
    assert response.get_json()["error"] == {"code": "cross_site_request", "message": REFUSED}


@pytest.mark.parametrize(
    "headers",
    [SAME_ORIGIN, {"Origin": OWN_ORIGIN}, {"Sec-Fetch-Site": "same-origin"}, {}],
    ids=["fetch-metadata-and-origin", "origin-only", "fetch-metadata-only", "neither"],
)
@pytest.mark.parametrize("form", list(FORMS))
def test_the_widgets_own_forms_still_work(app, client, solved, make_comment, form, headers):
    comment = make_comment()
    send, counted = FORMS[form]
    before = counted(app, comment)

    response = send(client, solved, comment, headers)

    assert response.status_code == 303, response.get_data(as_text=True)
    assert counted(app, comment) == before + 1


def test_the_like_form_on_the_widget_page_posts_to_the_service_itself(client, make_comment):
    comment = make_comment()
    page = client.get(f"/embed/{ARTICLE}").get_data(as_text=True)
    action = re.search(
        rf'id="comment-{comment}".*?<form class="cw-like"[^>]*action="([^"]+)"', page, re.S
    )
    assert action, page

    response = client.post(html.unescape(action.group(1)), headers=SAME_ORIGIN)

    assert response.status_code == 303


def test_a_refused_comment_leaves_its_captcha_unspent(app, client, solved):
    token, answer = solved()
    fields = {"body": "先被拒绝，再从评论区发出", "captcha_token": token, "captcha_answer": answer}

    refused = client.post(f"/embed/{ARTICLE}", data=fields, headers={"Origin": EVIL})
    accepted = client.post(f"/embed/{ARTICLE}", data=fields, headers=SAME_ORIGIN)

    assert (refused.status_code, accepted.status_code) == (403, 303)
    assert comment_count(app) == 1


def test_reading_the_widget_is_open_to_every_site(client):
    response = client.get(f"/embed/{ARTICLE}", headers={"Sec-Fetch-Site": "cross-site"})

    assert response.status_code == 200


# --- the JSON API's like: JSON only, from allowed origins --------------------------------------


def test_api_like_from_a_page_on_another_origin_is_refused(app, client, make_comment):
    comment = make_comment()

    response = api_like(client, comment, headers={"Origin": EVIL})

    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "cross_site_request"
    assert likes_of(app, comment) == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": b""},
        {"data": b"{}", "content_type": "text/plain"},
        {"data": {"x": "1"}},
        {"data": b"{}", "content_type": "multipart/form-data; boundary=x"},
    ],
    ids=["no-body", "text-plain", "form", "multipart"],
)
def test_api_like_is_json_only_so_another_page_cannot_send_it_without_preflight(
    app, client, make_comment, kwargs
):
    # What an HTML form or a fetch() without a preflight can send: simple content types.
    comment = make_comment()

    response = api_like(client, comment, headers={"Origin": PORTAL}, **kwargs)

    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"
    assert likes_of(app, comment) == 0


@pytest.mark.parametrize("origin", [PORTAL, OWN_ORIGIN, None], ids=["portal", "own", "none"])
def test_api_like_as_json_from_an_allowed_origin_counts(app, client, make_comment, origin):
    comment = make_comment()

    response = api_like(client, comment, headers={"Origin": origin} if origin else {})

    assert response.status_code == 200
    assert response.get_json() == {"id": comment, "likes": 1, "liked": True}
    if origin == PORTAL:
        assert response.headers["Access-Control-Allow-Origin"] == PORTAL


def preflight(client: FlaskClient, comment_id: int, origin: str) -> TestResponse:
    return client.options(
        like_path(comment_id),
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )


def test_the_preflight_lets_allowed_portals_send_the_like_and_no_one_else(client, make_comment):
    comment = make_comment()

    portal = preflight(client, comment, PORTAL)
    evil = preflight(client, comment, EVIL)

    assert portal.headers["Access-Control-Allow-Origin"] == PORTAL
    assert "POST" in portal.headers["Access-Control-Allow-Methods"]
    assert "content-type" in portal.headers["Access-Control-Allow-Headers"].lower()
    assert "Access-Control-Allow-Origin" not in evil.headers


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
