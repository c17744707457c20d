"""Security properties: headers, client addresses, rate limits, secret keys, secrets in logs.

In process with the conftest apps, except the start-up check of the secret key,
which is gunicorn's ``on_starting`` hook and so needs a real gunicorn.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import solve
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select
from tcp_proxy import Gunicorn, clean_environ, fetch
from werkzeug.test import TestResponse

from service import auth, captcha
from service.extensions import db
from service.models import Comment

ARTICLE = "67584"
PORTAL = "https://www.portal.example"
OWN_ORIGIN = "http://localhost"  # the test client's
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
EDITOR, EDITOR_PASSWORD = "editor", "编辑-correct-horse-9"


def policy(response: TestResponse) -> dict[str, list[str]]:
    """The Content-Security-Policy as {directive: [values]}."""
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no CSP on {response.request.path}"
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            assert words[0] not in directives, f"{words[0]} twice in {header}"
            directives[words[0]] = words[1:]
    return directives


def assert_basic_headers(response: TestResponse) -> None:
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("Referrer-Policy")


def assert_html_policy(response: TestResponse, frame_ancestors: list[str]) -> None:
    """HTML with a policy that allows exactly these framing origins (or nobody)."""
    assert response.mimetype == "text/html"
    assert_basic_headers(response)
    directives = policy(response)
    allowed = set(directives["frame-ancestors"])
    if "'self'" in frame_ancestors:
        # The service's own origin, spelled out, says no more than 'self'.
        allowed.discard(OWN_ORIGIN)
    assert allowed == set(frame_ancestors), directives["frame-ancestors"]
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts, directives
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    assert directives.get("object-src") == ["'none'"]


def html_get(client: FlaskClient, path: str) -> TestResponse:
    return client.get(path, headers={"Accept": "text/html"})


# --- content security policy and the other headers ------------------------------------


def test_widget_may_be_framed_by_the_configured_portals_only(client):
    response = html_get(client, f"/embed/{ARTICLE}")

    assert response.status_code == 200
    assert_html_policy(response, ["'self'", PORTAL])


def test_widget_may_be_framed_anywhere_with_a_wildcard(make_app):
    response = html_get(make_app(ALLOWED_ORIGINS=["*"]).test_client(), f"/embed/{ARTICLE}")

    assert response.status_code == 200
    assert_html_policy(response, ["*"])


def test_dashboard_is_never_framed(client):
    response = html_get(client, "/mod/login")

    assert response.status_code == 200
    assert_html_policy(response, ["'none'"])


def test_demo_is_framed_by_itself_only(client):
    response = html_get(client, "/demo")

    assert response.status_code == 200
    assert_html_policy(response, ["'self'"])


@pytest.mark.parametrize(
    ("path", "status", "frame_ancestors"),
    [
        ("/no-such-page", 404, ["'none'"]),
        ("/mod/no-such-page", 404, ["'none'"]),
        ("/embed/bad%20key!", 400, ["'self'", PORTAL]),
        (f"/embed/{ARTICLE}?page=nope", 400, ["'self'", PORTAL]),
    ],
    ids=["unknown-route", "unknown-dashboard-page", "widget-bad-key", "widget-bad-page"],
)
def test_error_pages_carry_the_policy_too(client, path, status, frame_ancestors):
    response = html_get(client, path)

    assert response.status_code == status
    assert_html_policy(response, frame_ancestors)


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/counts?article={ARTICLE}",
        f"/api/v1/articles/{ARTICLE}/comments",
        "/api/v1/no-such-thing",
        "/captcha",
        "/healthz",
        "/api/v1/mod/comments",
    ],
)
def test_json_answers_carry_nosniff_and_referrer_policy(client, path):
    response = client.get(path)

    assert response.mimetype == "application/json"
    assert_basic_headers(response)


# --- the client's address ---------------------------------------------------------------

REAL_ADDR = "198.51.100.20"
PROXY_ADDR = "10.0.0.2"


def post_as(client: FlaskClient, remote_addr: str, forwarded_for: str | None, body: str):
    token, answer = solve(client)
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post(
        f"/api/v1/articles/{ARTICLE}/comments",
        json={"body": body, "captcha_token": token, "captcha_answer": answer},
        headers=headers,
        environ_base={"REMOTE_ADDR": remote_addr},
    )


def stored_addresses(app: Flask, bodies: list[str]) -> list[str | None]:
    with app.app_context():
        rows = db.session.execute(
            select(Comment.body, Comment.remote_addr).where(Comment.body.in_(bodies))
        ).all()
    by_body = dict(rows)
    return [by_body.get(body) for body in bodies]


def test_spoofed_forwarded_for_is_ignored_without_trusted_proxies(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_POST="2/minute")
    client = app.test_client()
    bodies = [f"第{i}条评论" for i in range(3)]

    statuses = [
        post_as(client, REAL_ADDR, f"203.0.113.{i}, 192.0.2.{i}", body).status_code
        for i, body in enumerate(bodies)
    ]

    assert statuses == [202, 202, 429]
    assert stored_addresses(app, bodies[:2]) == [REAL_ADDR, REAL_ADDR]


def test_the_last_forwarded_hop_is_the_client_behind_one_trusted_proxy(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_POST="2/minute", TRUSTED_PROXIES=1)
    client = app.test_client()
    readers = {"203.0.113.7": [], "203.0.113.8": []}

    for round_ in range(3):
        for reader, statuses in readers.items():
            # A spoofed first hop from the reader; the proxy appends the real one.
            forwarded = f"192.0.2.99, {reader}"
            body = f"{reader} 第{round_}条"
            statuses.append(post_as(client, PROXY_ADDR, forwarded, body).status_code)

    assert readers == {reader: [202, 202, 429] for reader in readers}
    for reader in readers:
        assert stored_addresses(app, [f"{reader} 第0条", f"{reader} 第1条"]) == [reader, reader]


# --- rate limits --------------------------------------------------------------------------


def login_attempt(client: FlaskClient, password: str, **kwargs: Any) -> TestResponse:
    page = client.get("/mod/login").get_data(as_text=True)
    match = CSRF_META.search(page)
    assert match, page
    return client.post(
        "/mod/login",
        data={"csrf_token": match.group(1), "username": EDITOR, "password": password},
        **kwargs,
    )


JSON = {"Accept": "application/json"}
LIMITED: dict[str, tuple[str, Callable[[FlaskClient, int], TestResponse]]] = {
    "captcha": ("RATELIMIT_CAPTCHA", lambda c, _id: c.get("/captcha", headers=JSON)),
    "post": (
        "RATELIMIT_POST",
        # Fields right, no captcha: an attempt that counts (field errors alone do not).
        lambda c, _id: c.post(
            f"/api/v1/articles/{ARTICLE}/comments", json={"body": "限流测试"}, headers=JSON
        ),
    ),
    "like": (
        "RATELIMIT_LIKE",
        lambda c, id_: c.post(
            f"/api/v1/articles/{ARTICLE}/comments/{id_}/like", json={}, headers=JSON
        ),
    ),
    "report": (
        "RATELIMIT_REPORT",
        lambda c, id_: c.post(
            f"/embed/{ARTICLE}/report/{id_}", data={"reason": "spam"}, headers=JSON
        ),
    ),
    "login": (
        "RATELIMIT_LOGIN",
        lambda c, _id: login_attempt(c, "wrong password, again", headers=JSON),
    ),
}


@pytest.mark.parametrize("name", list(LIMITED))
def test_each_limit_answers_429_with_retry_after_and_the_json_error(make_app, make_comment, name):
    setting, attempt = LIMITED[name]
    app = make_app(RATELIMIT_ENABLED=True, **{setting: "2/minute"})
    comment_id = make_comment()
    client = app.test_client()

    first, second, third = (attempt(client, comment_id) for _ in range(3))

    assert first.status_code != 429 and second.status_code != 429
    assert third.status_code == 429
    assert 1 <= int(third.headers["Retry-After"]) <= 60
    assert third.mimetype == "application/json", (
        f"{name}: a JSON client got {third.mimetype} for its 429"
    )
    error = third.get_json()["error"]
    assert error["code"] == "rate_limited"
    assert error["message"]


def test_rate_limits_can_be_switched_off(make_app, make_comment):
    tight = {setting: "1/minute" for setting, _ in LIMITED.values()}
    app = make_app(RATELIMIT_ENABLED=False, RATELIMIT_LOGIN_USER="1/minute", **tight)
    comment_id = make_comment()
    client = app.test_client()

    for name, (_, attempt) in LIMITED.items():
        statuses = [attempt(client, comment_id).status_code for _ in range(3)]
        assert 429 not in statuses, (name, statuses)


# --- a production start refuses weak secret keys --------------------------------------------


def start_gunicorn(tmp_path: Path, key: str | None) -> Gunicorn:
    settings = {"COMMENTS_DATABASE_URL": f"sqlite:///{tmp_path}/start.db"}
    if key is not None:
        settings["COMMENTS_SECRET_KEY"] = key
    return Gunicorn(clean_environ(**settings), tmp_path, workers=1)


@pytest.mark.parametrize(
    "key",
    [None, "", "changeme", "  ChangeMe ", "x" * 20, "a1b2c3d4" * 3 + "abcdefg"],
    ids=["unset", "empty", "changeme", "changeme-padded", "20-chars", "31-chars"],
)
def test_production_start_refuses_a_weak_secret_key(tmp_path, key):
    started = time.monotonic()
    server = start_gunicorn(tmp_path, key)
    try:
        code = server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail("gunicorn started with a weak secret key")
    finally:
        server.stop()

    assert time.monotonic() - started < 10
    assert code != 0
    assert "refusing to start" in server.stderr
    assert "COMMENTS_SECRET_KEY" in server.stderr


def test_production_start_accepts_a_random_key(tmp_path):
    server = start_gunicorn(tmp_path, secrets.token_hex(32))
    try:
        health = server.wait_healthy(timeout=30)
        assert health.status == 200, health.text
        assert health.json()["database"] == "ok"
        assert fetch(server.port, "GET", "/captcha").status == 200
    finally:
        code = server.stop()
    assert code == 0
    assert "refusing to start" not in server.stderr


# --- secrets stay out of logs, cookies and tokens ---------------------------------------------


def app_json_formatter() -> logging.Formatter:
    """The formatter of the app's JSON log handler on the root logger."""
    for handler in logging.getLogger().handlers:
        if handler.get_name() == "comments-json" and handler.formatter is not None:
            return handler.formatter
    pytest.fail("the app did not install its JSON log handler")


def test_secrets_never_reach_logs_cookies_or_tokens(make_app, caplog):
    caplog.set_level(logging.DEBUG)
    secret_key = secrets.token_hex(32)
    app = make_app(SECRET_KEY=secret_key)
    with app.app_context():
        moderator = auth.add_moderator(EDITOR, EDITOR_PASSWORD)
        api_token = auth.create_token(moderator, "CMS")
    client = app.test_client()
    responses: list[TestResponse] = []
    answers: list[str] = []

    # A moderator signs in with the password, after a first try without the form's token.
    refused = client.post("/mod/login", data={"username": EDITOR, "password": EDITOR_PASSWORD})
    assert refused.status_code == 400
    signed_in = login_attempt(client, EDITOR_PASSWORD)
    assert signed_in.status_code == 303
    responses += [refused, signed_in]
    assert client.get("/mod/").status_code == 200

    # A reader solves a captcha, another gets it wrong.
    token, answer = solve(client)
    answers.append(answer)
    posted = client.post(
        f"/api/v1/articles/{ARTICLE}/comments",
        json={"body": "验证码答对了", "captcha_token": token, "captcha_answer": answer},
    )
    assert posted.status_code == 202
    wrong_token, right_answer = solve(client)
    wrong = "".join(reversed(right_answer)) if right_answer[::-1] != right_answer else "XXXXX"
    answers += [right_answer, wrong]
    failed = client.post(
        f"/api/v1/articles/{ARTICLE}/comments",
        json={"body": "验证码答错了", "captcha_token": wrong_token, "captcha_answer": wrong},
    )
    assert failed.status_code == 422
    responses += [posted, failed]

    # The CMS uses its API token.
    listed = client.get(
        "/api/v1/mod/comments?status=pending", headers={"Authorization": f"Bearer {api_token}"}
    )
    assert listed.status_code == 200
    responses.append(listed)

    formatter = app_json_formatter()
    logged = "\n".join(
        f"{record.getMessage()}\n{formatter.format(record)}" for record in caplog.records
    )
    cookies = "\n".join(
        header for response in responses for header in response.headers.getlist("Set-Cookie")
    )
    assert any(r.name == "flask_wtf.csrf" for r in caplog.records), "is logging captured?"
    for name, secret in [
        ("password", EDITOR_PASSWORD),
        ("API token", api_token),
        ("secret key", secret_key),
        *[("captcha answer", a) for a in answers],
    ]:
        assert secret not in logged, f"the {name} is in the log"
        assert secret not in cookies, f"the {name} is in a cookie"

    # The session cookie is signed, not encrypted: what it carries is readable.
    session_cookie = client.get_cookie("session")
    assert session_cookie is not None
    session = SecureCookieSessionInterface().get_signing_serializer(app).loads(session_cookie.value)
    assert EDITOR_PASSWORD not in json.dumps(session, ensure_ascii=False)

    # The captcha token carries the nonce and nothing else: no answer, not even hashed.
    with app.app_context():
        nonce = captcha.nonce_of(token)
        assert captcha.answer_for(nonce) == answer
    payload = token.split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert json.loads(decoded) == nonce
    assert re.fullmatch(r"[0-9a-f]{32}", nonce)
    signer = URLSafeTimedSerializer(secret_key, salt="captcha-token")
    assert signer.loads(token) == nonce
    assert answer not in token
