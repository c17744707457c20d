"""What a probe of the running service found, reproduced: each test is the attack, and
fails on the code before the fix."""

from __future__ import annotations

import io
import json
import logging
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import form_post
from sqlalchemy import event

from service import text
from service.articles import find_article
from service.extensions import db
from service.models import Comment, Status

ARTICLE = "67584"
PORTAL_URL = "https://www.portal.example/zcjh/zhengwu/67584.html"
TITLE = "关于进一步优化政务服务的实施意见"
PHISHING_TITLE = "【紧急】请编辑立即重新登录"
PHISHING_URL = "http://evil.example/login"
Solved = Callable[[], tuple[str, str]]


# --- 2. quadratic normalisation ------------------------------------------------------------


STACKED = "a" + "\u0301" * 16_000 + "\u0316" * 16_000  # 64 KB as JSON escapes


@pytest.fixture
def normalised_lengths(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of every text the service hands to unicodedata.normalize."""
    seen: list[int] = []
    real = unicodedata.normalize

    def recording(form: str, value: str) -> str:
        seen.append(len(value))
        return real(form, value)

    monkeypatch.setattr(text.unicodedata, "normalize", recording)
    return seen


def test_a_huge_run_of_combining_marks_is_refused_without_normalising(
    client: FlaskClient, normalised_lengths: list[int]
) -> None:
    started = time.perf_counter()
    response = client.post(f"/api/v1/articles/{ARTICLE}/comments", json={"body": STACKED})
    named = client.post(
        f"/api/v1/articles/{ARTICLE}/comments", json={"body": "好", "author": STACKED[:20_000]}
    )
    elapsed = time.perf_counter() - started

    assert response.status_code == 422
    assert response.get_json()["error"]["fields"]["body"]["code"] == "too_long"
    assert named.get_json()["error"]["fields"]["author"]["code"] == "too_long"
    assert max(normalised_lengths, default=0) < 100  # the marks never reach the sort
    assert elapsed < 1.0  # it took 2.3 s before; milliseconds now


def test_the_same_attack_by_form_post_is_refused_without_normalising(
    client: FlaskClient, normalised_lengths: list[int]
) -> None:
    response = client.post(
        f"/embed/{ARTICLE}",
        data={"body": (io.BytesIO(STACKED.encode()), "x.txt"), "author": "网友"},
        content_type="multipart/form-data",
    )

    assert response.status_code in (413, 422)
    assert all(n <= 3 * 1000 for n in normalised_lengths)


def test_stacked_marks_within_the_length_are_refused_before_normalising(
    client: FlaskClient, normalised_lengths: list[int]
) -> None:
    zalgo = "a" + "\u0301" * 1_400 + "\u0316" * 1_400  # under 3 × 1000 characters

    response = client.post(f"/api/v1/articles/{ARTICLE}/comments", json={"body": zalgo})

    assert response.status_code == 422
    error = response.get_json()["error"]["fields"]["body"]
    assert error["code"] == "forbidden_characters"
    assert "8" in error["message"]
    assert all(n < 100 for n in normalised_lengths)


@pytest.mark.parametrize(
    "body",
    ["Tiếng Việt có dấu: người, được, những", "देवनागरी लिपि क्षत्रिय", "e\u0301\u0302\u0323 ok"],
)
def test_real_writing_with_marks_is_accepted(
    client: FlaskClient, solved: Solved, body: str
) -> None:
    token, answer = solved()

    response = client.post(
        f"/api/v1/articles/{ARTICLE}/comments",
        json={"body": body, "captcha_token": token, "captcha_answer": answer},
    )

    assert response.status_code == 202, response.get_json()


# --- 4. a comment cannot rewrite the article, nor a Host header widen the origins -----------


def post(client: FlaskClient, solved: Solved, **fields: object):  # type: ignore[no-untyped-def]
    token, answer = solved()
    payload = {"body": "说两句", "captcha_token": token, "captcha_answer": answer, **fields}
    return client.post(f"/api/v1/articles/{ARTICLE}/comments", json=payload)


def article_of(app: Flask) -> tuple[str | None, str | None]:
    with app.app_context():
        article = find_article(ARTICLE)
        assert article is not None
        return article.title, article.url


def test_a_later_comment_does_not_rewrite_title_or_link(
    app: Flask, client: FlaskClient, solved: Solved
) -> None:
    assert post(client, solved, title=TITLE, url=PORTAL_URL).status_code == 202

    response = client.post(
        f"/api/v1/articles/{ARTICLE}/comments",
        json={
            "body": "看这里",
            "title": PHISHING_TITLE,
            "url": PHISHING_URL,
            "captcha_token": solved()[0],
            "captcha_answer": "x",
        },
        headers={"Host": "evil.example"},
    )
    post(client, solved, title=PHISHING_TITLE, url="https://www.portal.example/other.html")

    assert response.status_code == 422
    assert article_of(app) == (TITLE, PORTAL_URL)


def test_a_forged_host_header_does_not_make_its_urls_allowed(
    app: Flask, client: FlaskClient, solved: Solved
) -> None:
    token, answer = solved()

    response = client.post(
        f"/api/v1/articles/{ARTICLE}/comments",
        json={
            "body": "首评",
            "url": PHISHING_URL,
            "captcha_token": token,
            "captcha_answer": answer,
        },
        headers={"Host": "evil.example"},
    )

    assert response.status_code == 202
    assert article_of(app)[1] is None


def test_the_service_origin_comes_from_public_url(
    make_app: Callable[..., Flask], solved: Solved
) -> None:
    app = make_app(PUBLIC_URL="https://comments.portal.example", ALLOWED_ORIGINS=[])
    client = app.test_client()
    from conftest import solve

    token, answer = solve(client)
    client.post(
        f"/api/v1/articles/{ARTICLE}/comments",
        json={
            "body": "演示页",
            "url": "https://comments.portal.example/demo",
            "captcha_token": token,
            "captcha_answer": answer,
        },
    )

    assert article_of(app)[1] == "https://comments.portal.example/demo"
    csp = client.get(f"/embed/{ARTICLE}").headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://comments.portal.example" in csp
    assert "localhost" not in csp


def test_a_moderator_corrects_title_and_link(
    app: Flask, client: FlaskClient, solved: Solved, mod_client: FlaskClient
) -> None:
    post(client, solved, title=PHISHING_TITLE, url="https://www.portal.example/wrong.html")

    response = form_post(
        mod_client, f"/mod/articles/{ARTICLE}/details", {"title": TITLE, "url": PORTAL_URL}
    )
    refused = form_post(
        mod_client, f"/mod/articles/{ARTICLE}/details", {"title": TITLE, "url": PHISHING_URL}
    )

    assert response.status_code == 303
    assert refused.status_code == 400
    assert article_of(app) == (TITLE, PORTAL_URL)


# --- 5. expensive requests without a login ---------------------------------------------------


@contextmanager
def counted_statements(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_public_pages_are_bounded_in_depth(client: FlaskClient) -> None:
    for path in (f"/embed/{ARTICLE}", f"/api/v1/articles/{ARTICLE}/comments"):
        assert client.get(path, query_string={"page": 1000, "sort": "popular"}).status_code == 200
        deep = client.get(path, query_string={"page": 10_000, "sort": "popular"})
        assert deep.status_code == 400, path


def test_the_widget_counts_threads_once_per_published_change(
    app: Flask, client: FlaskClient, make_comment: Callable[..., int]
) -> None:
    first = make_comment(body="第一条")
    make_comment(body="回复", parent_id=first)

    with counted_statements(app) as statements:
        for bust in ("a", "b", "c"):
            assert client.get(f"/embed/{ARTICLE}", query_string={"x": bust}).status_code == 200
    counts = [s for s in statements if s.lstrip().upper().startswith("SELECT COUNT")]
    assert len(counts) == 1

    make_comment(body="新的一条")  # published: the page changed
    with counted_statements(app) as statements:
        page = client.get(f"/embed/{ARTICLE}").get_data(as_text=True)
    assert "新的一条" in page
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT COUNT")]) == 1


def test_a_moderation_change_shows_on_the_next_widget_view(
    app: Flask, client: FlaskClient, make_comment: Callable[..., int]
) -> None:
    from service import moderation

    kept = make_comment(body="留着")
    removed = make_comment(body="将被删除")
    client.get(f"/embed/{ARTICLE}")
    with app.app_context():
        moderation.apply(removed, moderation.Action.DELETE)

    page = client.get(f"/embed/{ARTICLE}").get_data(as_text=True)

    assert "将被删除" not in page and "留着" in page
    assert kept


def test_metrics_count_the_queue_at_most_once_per_ttl(
    make_app: Callable[..., Flask], make_comment: Callable[..., int]
) -> None:
    app = make_app(METRICS_QUEUE_TTL=60)
    make_comment(status=Status.PENDING)
    client = app.test_client()

    with counted_statements(app) as statements:
        first = client.get("/metrics").get_data(as_text=True)
        client.get("/metrics")
    queue_reads = [s for s in statements if "count(comment.id)" in s]

    assert "comments_pending 1.0" in first
    assert len(queue_reads) == 1


# --- 12. information leaks ----------------------------------------------------------------------


def test_limiter_log_lines_carry_no_address_or_login_name(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flask-limiter")
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_CAPTCHA="1/minute")
    client = app.test_client()

    for _ in range(2):
        client.get("/captcha", environ_base={"REMOTE_ADDR": "198.51.100.77"})

    lines = [r.getMessage() for r in caplog.records if r.name == "flask-limiter"]
    assert any("exceeded" in line for line in lines)
    assert not any("198.51.100.77" in line for line in lines)


@pytest.mark.parametrize(
    ("address", "headers", "status"),
    [
        ("127.0.0.1", {}, 200),
        ("203.0.113.9", {}, 403),
        ("203.0.113.9", {"Authorization": "Bearer metrics-secret-token"}, 200),
        ("203.0.113.9", {"Authorization": "Bearer wrong"}, 403),
    ],
)
def test_metrics_are_served_to_allowed_addresses_or_the_token_only(
    make_app: Callable[..., Flask], address: str, headers: dict[str, str], status: int
) -> None:
    client = make_app(METRICS_TOKEN="metrics-secret-token").test_client()

    response = client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": address})

    assert response.status_code == status


def test_the_demo_is_off_unless_switched_on(make_app: Callable[..., Flask]) -> None:
    off = make_app(DEMO_ENABLED=False).test_client()
    on = make_app(DEMO_ENABLED=True).test_client()

    assert off.get("/demo").status_code == 404
    assert off.get("/").headers["Location"].endswith("/mod/")
    assert on.get("/demo").status_code == 200


@pytest.mark.parametrize("forwarded", ["not-an-ip", "<script>", "1.2.3.4.5", "unknown"])
def test_a_forwarded_address_that_is_no_ip_is_refused(
    make_app: Callable[..., Flask], solved: Solved, forwarded: str
) -> None:
    app = make_app(TRUSTED_PROXIES=1)
    client = app.test_client()

    response = client.post(
        f"/api/v1/articles/{ARTICLE}/comments",
        json={"body": "经过代理"},
        headers={"X-Forwarded-For": forwarded},
    )

    assert response.status_code == 400
    with app.app_context():
        assert db.session.execute(db.select(Comment.id)).first() is None


def test_a_valid_forwarded_address_is_the_sender(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(TRUSTED_PROXIES=1, CAPTCHA_TEST_MODE=True)
    client = app.test_client()
    token = client.get("/captcha").get_json()["token"]

    response = client.post(
        f"/api/v1/articles/{ARTICLE}/comments",
        data=json.dumps({"body": "经过代理", "captcha_token": token, "captcha_answer": "PASSED"}),
        content_type="application/json",
        headers={"X-Forwarded-For": "198.51.100.8"},
    )

    assert response.status_code == 202
    with app.app_context():
        assert db.session.get(Comment, response.get_json()["id"]).remote_addr == "198.51.100.8"


def test_the_widget_form_works_without_public_url_configured(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(PUBLIC_URL=None, CAPTCHA_TEST_MODE=True)
    client = app.test_client()
    token = client.get("/captcha").get_json()["token"]

    own = client.post(
        f"/embed/{ARTICLE}",
        data={"body": "本站表单", "captcha_token": token, "captcha_answer": "PASSED"},
        headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"},
    )
    foreign = client.post(
        f"/embed/{ARTICLE}", data={"body": "别处"}, headers={"Origin": "https://evil.example"}
    )

    assert own.status_code == 303
    assert foreign.status_code == 403
