"""Moderator sign-in and sessions: lockouts, server-side sessions, password changes, CSRF
rotation and the pages a sign-in may go back to (docs/security.md).
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
from helpers import (
    ADMIN,
    ADMIN_PASSWORD,
    MOD_PASSWORD,
    MODERATOR,
    add_account,
    csrf_token,
    form_post,
    login,
)
from sqlalchemy import select, update
from werkzeug.test import TestResponse
from werkzeug.urls import iri_to_uri

from service import auth
from service.extensions import db
from service.models import ApiToken, AuditEntry, ModeratorSession

NEW_PASSWORD = "新的密码-tr0ub4dor-and-3"
WRONG_PASSWORD = "错误的密码-wrong-password"
LOCKED = "登录失败次数过多，请几分钟后再试。"
FLASH_ERROR = re.compile(r'<p class="flash flash-error" role="alert">(.*?)</p>', re.S)
STRANGER, MODERATORS_OFFICE, MODERATORS_HOME = "198.51.100.66", "203.0.113.10", "203.0.113.20"


# --- helpers ----------------------------------------------------------------------------


def client_at(app: Flask, address: str) -> FlaskClient:
    """A browser whose requests come from this address."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def json_login(client: FlaskClient, name: str, password: str) -> TestResponse:
    """Sign in with a JSON body, which Flask-WTF reads like the form."""
    token = csrf_token(client)
    return client.post(
        "/mod/login",
        json={"csrf_token": token, "username": name, "password": password},
        headers={"X-CSRFToken": token},
    )


def signed_in(client: FlaskClient) -> bool:
    return client.get("/mod/").status_code == 200


def error_of(response: TestResponse) -> str:
    match = FLASH_ERROR.search(response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)
    return html.unescape(match.group(1)).strip()


def copy_of(client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of this one's session cookie (as a thief would)."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    thief = client.application.test_client()
    thief.set_cookie("session", cookie.value)
    return thief


def signed_in_browser(app: Flask, name: str = MODERATOR, password: str = MOD_PASSWORD):
    client = app.test_client()
    assert login(client, name, password).status_code == 303
    return client


def api_token(app: Flask, name: str = MODERATOR) -> str:
    with app.app_context():
        return auth.create_token(auth.find_moderator(name), "CMS")


def token_works(app: Flask, token: str) -> bool:
    response = app.test_client().get(
        "/api/v1/mod/comments", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code in (200, 401), response.status_code
    return response.status_code == 200


def can_sign_in(app: Flask, password: str, name: str = MODERATOR) -> bool:
    return login(app.test_client(), name, password).status_code == 303


def change_own_password(client: FlaskClient, **fields: Any) -> TestResponse:
    data = {
        "current_password": MOD_PASSWORD,
        "new_password": NEW_PASSWORD,
        "new_password_again": NEW_PASSWORD,
        **fields,
    }
    return form_post(client, "/mod/account/password", data)


def audit_actions(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars())


# --- lockout: per address, per name and address, per account ------------------------------


@pytest.fixture
def limited_app(make_app: Callable[..., Flask]) -> Flask:
    app = make_app(
        RATELIMIT_ENABLED=True,
        RATELIMIT_LOGIN_USER="3 per 15 minutes",
        RATELIMIT_LOGIN_ACCOUNT="6 per hour",
    )
    add_account(app, MODERATOR, MOD_PASSWORD)
    return app


def test_json_sign_ins_count_against_the_name_they_try(limited_app):
    attacker = client_at(limited_app, STRANGER)
    for _ in range(3):
        assert json_login(attacker, MODERATOR, WRONG_PASSWORD).status_code == 401

    response = login(attacker, MODERATOR, MOD_PASSWORD)

    assert response.status_code == 429
    assert error_of(response) == LOCKED


def test_json_and_form_sign_ins_share_one_count(limited_app):
    attacker = client_at(limited_app, STRANGER)
    json_login(attacker, MODERATOR, WRONG_PASSWORD)
    login(attacker, MODERATOR, WRONG_PASSWORD)
    json_login(attacker, MODERATOR.upper(), WRONG_PASSWORD)

    assert json_login(attacker, MODERATOR, MOD_PASSWORD).status_code == 429


@pytest.mark.parametrize("attempt", [login, json_login], ids=["form", "json"])
def test_a_strangers_failures_do_not_lock_the_moderator_out(limited_app, attempt):
    attacker = client_at(limited_app, STRANGER)
    for _ in range(5):
        attempt(attacker, MODERATOR, WRONG_PASSWORD)
    assert attempt(attacker, MODERATOR, MOD_PASSWORD).status_code == 429

    moderator = client_at(limited_app, MODERATORS_OFFICE)
    assert login(moderator, MODERATOR, MOD_PASSWORD).status_code == 303
    assert signed_in(moderator)


def test_the_per_address_limit_covers_every_name(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="3/minute")
    add_account(app, MODERATOR, MOD_PASSWORD)
    attacker = client_at(app, STRANGER)
    for name in ("editor-1", "editor-2", "editor-3"):
        assert login(attacker, name, WRONG_PASSWORD).status_code == 401

    assert login(attacker, MODERATOR, MOD_PASSWORD).status_code == 429
    assert login(client_at(app, MODERATORS_OFFICE), MODERATOR, MOD_PASSWORD).status_code == 303


@pytest.mark.parametrize("name", [MODERATOR, "no-such-editor"], ids=["known", "unknown"])
def test_many_addresses_reach_the_account_ceiling_with_the_same_answer(limited_app, name):
    for number in range(6):
        attacker = client_at(limited_app, f"198.51.100.{number + 1}")
        assert login(attacker, name, WRONG_PASSWORD).status_code == 401

    response = login(client_at(limited_app, "198.51.100.99"), name, MOD_PASSWORD)

    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert error_of(response) == LOCKED


def test_the_ceiling_lets_the_moderator_in_from_where_they_signed_in_before(limited_app):
    home = client_at(limited_app, MODERATORS_HOME)
    assert login(home, MODERATOR, MOD_PASSWORD).status_code == 303
    form_post(home, "/mod/logout")
    for number in range(6):
        login(client_at(limited_app, f"198.51.100.{number + 1}"), MODERATOR, WRONG_PASSWORD)

    assert login(client_at(limited_app, STRANGER), MODERATOR, MOD_PASSWORD).status_code == 429
    assert login(home, MODERATOR, MOD_PASSWORD).status_code == 303
    assert signed_in(home)


@pytest.mark.parametrize(
    "body",
    [
        {"username": 5, "password": "x"},
        {"username": {"a": 1}, "password": "x"},
        {"username": MODERATOR, "password": ["a", "b"]},
        [1, 2],
        "text",
        None,
    ],
    ids=["number", "object", "list", "array-body", "string-body", "null-body"],
)
def test_odd_json_sign_ins_are_refused_without_a_500(client, moderator, body):
    token = csrf_token(client)
    if isinstance(body, dict):
        body = {**body, "csrf_token": token}

    response = client.post("/mod/login", json=body, headers={"X-CSRFToken": token})

    assert response.status_code < 500
    assert not signed_in(client)


def test_a_json_sign_in_with_text_fields_works(client, moderator):
    assert json_login(client, moderator, MOD_PASSWORD).status_code == 303
    assert signed_in(client)


# --- sessions live on the server ------------------------------------------------------------


def test_a_cookie_copied_before_sign_out_stops_working(mod_client):
    thief = copy_of(mod_client)
    assert signed_in(thief)

    assert form_post(mod_client, "/mod/logout").status_code == 303

    assert not signed_in(mod_client)
    assert not signed_in(thief)


def test_signing_out_one_browser_leaves_the_others_signed_in(app, moderator):
    office, home = signed_in_browser(app), signed_in_browser(app)

    form_post(office, "/mod/logout")

    assert not signed_in(office)
    assert signed_in(home)


def test_a_session_unused_for_its_lifetime_ends(app, mod_client):
    with app.app_context():
        db.session.execute(
            update(ModeratorSession).values(last_seen_at=datetime.now(UTC) - timedelta(hours=13))
        )
        db.session.commit()

    assert not signed_in(mod_client)


def test_use_keeps_a_session_alive(app, mod_client):
    long_ago = datetime.now(UTC) - timedelta(hours=11)
    with app.app_context():
        db.session.execute(update(ModeratorSession).values(last_seen_at=long_ago))
        db.session.commit()

    assert signed_in(mod_client)

    with app.app_context():
        seen = db.session.execute(select(ModeratorSession.last_seen_at)).scalar_one()
    assert seen > datetime.now(UTC) - timedelta(minutes=1)


def session_key(client: FlaskClient) -> str:
    with client.session_transaction() as session:
        return session["_user_id"]


@pytest.mark.parametrize(
    "forge",
    [
        lambda key, other_id: key.split(":")[0],  # a plain account id, as cookies once held
        lambda key, other_id: key.split(":")[0] + ":not-the-secret",
        lambda key, other_id: f"{other_id}:{key.split(':')[1]}",  # the secret, another account
        lambda key, other_id: key + "x",
        lambda key, other_id: "",
    ],
    ids=["plain-id", "wrong-secret", "other-account", "longer", "empty"],
)
def test_only_a_live_session_key_signs_in(app, moderator, admin, forge):
    client = signed_in_browser(app)
    with app.app_context():
        other_id = auth.find_moderator(ADMIN).id

    with client.session_transaction("/mod/") as session:
        session["_user_id"] = forge(session["_user_id"], other_id)

    assert not signed_in(client)


def test_sessions_record_browser_and_address_but_not_the_secret(app, moderator):
    client = client_at(app, MODERATORS_OFFICE)
    login(client, MODERATOR, MOD_PASSWORD, headers={"User-Agent": "Mozilla/5.0 (审核员的电脑)"})

    with app.app_context():
        record = db.session.execute(select(ModeratorSession)).scalar_one()
        assert record.remote_addr == MODERATORS_OFFICE
        assert record.user_agent == "Mozilla/5.0 (审核员的电脑)"
        secret = session_key(client).split(":")[1]
        assert secret not in record.token_hash
        assert len(record.token_hash) == 64


# --- sign-in starts a fresh session with a new CSRF token -------------------------------------


def test_a_csrf_token_from_before_sign_in_is_refused_after(client, moderator):
    before = csrf_token(client)
    response = client.post(
        "/mod/login", data={"csrf_token": before, "username": moderator, "password": MOD_PASSWORD}
    )
    assert response.status_code == 303

    refused = client.post("/mod/logout", data={"csrf_token": before})

    assert refused.status_code == 400
    assert signed_in(client)
    after = csrf_token(client)
    assert after != before
    assert client.post("/mod/logout", data={"csrf_token": after}).status_code == 303


def test_nothing_planted_before_sign_in_survives_it_but_the_language(client, moderator):
    # Only dashboard pages keep a session: write it as one of them would.
    with client.session_transaction("/mod/login") as session:
        session["planted"] = "by someone else"
        session["lang"] = "en"

    login(client, moderator, MOD_PASSWORD)

    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["lang"] == "en"
    assert 'lang="en"' in client.get("/mod/").get_data(as_text=True)


# --- a moderator changes their own password --------------------------------------------------


def test_own_password_change_keeps_this_session_and_ends_the_others(app, moderator):
    this, other = signed_in_browser(app), signed_in_browser(app)
    thief = copy_of(other)
    token = api_token(app)

    response = change_own_password(this)

    assert response.status_code == 303
    assert signed_in(this)
    assert not signed_in(other)
    assert not signed_in(thief)
    # CMS integrations are separate credentials: they keep working unless revoked.
    assert token_works(app, token)
    assert can_sign_in(app, NEW_PASSWORD)
    assert not can_sign_in(app, MOD_PASSWORD)
    assert "password_change" in audit_actions(app)


def test_own_password_change_can_revoke_the_api_tokens_too(app, mod_client):
    token = api_token(app)

    assert change_own_password(mod_client, revoke_tokens="on").status_code == 303

    assert not token_works(app, token)
    assert signed_in(mod_client)


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"current_password": WRONG_PASSWORD}, 403, "当前密码不正确。"),
        ({"new_password_again": NEW_PASSWORD + "x"}, 400, "两次输入的新密码不一致。"),
        (
            {"new_password": "短密码", "new_password_again": "短密码"},
            400,
            "密码至少需要 10 个字符。",
        ),
    ],
    ids=["wrong-current", "different-twice", "too-short"],
)
def test_a_refused_password_change_changes_nothing(app, moderator, fields, status, message):
    this, other = signed_in_browser(app), signed_in_browser(app)

    response = change_own_password(this, **fields)

    assert response.status_code == status
    assert error_of(response) == message
    assert signed_in(this) and signed_in(other)
    assert can_sign_in(app, MOD_PASSWORD)


def test_wrong_current_passwords_are_limited(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN_USER="2 per 15 minutes")
    add_account(app, MODERATOR, MOD_PASSWORD)
    client = signed_in_browser(app)
    for _ in range(2):
        assert change_own_password(client, current_password=WRONG_PASSWORD).status_code == 403

    response = change_own_password(client)

    assert response.status_code == 429
    assert error_of(response) == "密码错误次数过多，请几分钟后再试。"
    assert can_sign_in(app, MOD_PASSWORD)


def test_account_page_lists_the_sessions_and_signs_out_everywhere_else(app, moderator):
    this, other = signed_in_browser(app), signed_in_browser(app)

    page = this.get("/mod/account").get_data(as_text=True)

    assert "修改密码" in page
    assert page.count("<tr><td>") == 2
    assert page.count("本浏览器") == 1
    assert form_post(this, "/mod/account/sessions/end").status_code == 303
    assert signed_in(this)
    assert not signed_in(other)
    assert this.get("/mod/account").get_data(as_text=True).count("<tr><td>") == 1


def test_account_page_needs_a_sign_in(client):
    response = client.get("/mod/account")

    assert response.status_code in (302, 303)
    assert response.location.startswith("/mod/login")


# --- an admin or the operator resets a password; an admin disables an account -------------------


def test_admin_reset_ends_every_session_and_token_of_the_account(app, admin_client, moderator):
    office, home = signed_in_browser(app), signed_in_browser(app)
    token = api_token(app)

    response = form_post(
        admin_client,
        f"/mod/admin/moderators/{MODERATOR}",
        {"change": "password", "password": NEW_PASSWORD},
    )

    assert response.status_code == 303
    flashed = admin_client.get("/mod/admin/moderators").get_data(as_text=True)
    assert "已退出 2 个会话，已吊销 1 个 API 令牌" in flashed
    assert not signed_in(office)
    assert not signed_in(home)
    assert not token_works(app, token)
    assert signed_in(admin_client)
    assert can_sign_in(app, NEW_PASSWORD)


def test_admin_changes_their_own_password_on_the_account_page_only(app, admin_client):
    response = form_post(
        admin_client,
        f"/mod/admin/moderators/{ADMIN}",
        {"change": "password", "password": NEW_PASSWORD},
    )

    assert response.status_code == 400
    assert signed_in(admin_client)
    assert can_sign_in(app, ADMIN_PASSWORD, name=ADMIN)


def test_cli_set_password_ends_every_session_and_token(app, runner, moderator):
    browser = signed_in_browser(app)
    token = api_token(app)

    with app.app_context():
        result = runner.invoke(
            args=["moderators", "set-password", MODERATOR], input=f"{NEW_PASSWORD}\n"
        )

    assert result.exit_code == 0, result.output
    assert "1 sessions signed out, 1 API tokens revoked" in result.output
    assert not signed_in(browser)
    assert not token_works(app, token)


def test_a_disabled_account_stays_signed_out_when_enabled_again(app, admin_client, moderator):
    browser = signed_in_browser(app)
    token = api_token(app)
    path = f"/mod/admin/moderators/{MODERATOR}"

    form_post(admin_client, path, {"change": "disable"})
    assert not signed_in(browser)
    form_post(admin_client, path, {"change": "enable"})

    assert not signed_in(browser)
    assert not token_works(app, token)
    assert can_sign_in(app, MOD_PASSWORD)


def test_password_services_report_what_they_ended(app, moderator):
    signed_in_browser(app)
    signed_in_browser(app)
    api_token(app)

    with app.test_request_context():
        ended = auth.set_password(MODERATOR, NEW_PASSWORD)
        assert ended == auth.Ended(sessions=2, tokens=1)
        live = db.session.execute(
            select(ModeratorSession).where(ModeratorSession.revoked_at.is_(None))
        ).all()
        assert live == []
        assert db.session.execute(select(ApiToken.revoked_at)).scalar_one() is not None


def test_sign_in_and_out_are_audited(app, mod_client):
    form_post(mod_client, "/mod/logout")

    assert audit_actions(app)[-2:] == ["login", "logout"]


# --- where a sign-in or a language switch may go back to ---------------------------------------

REFUSED_NEXT = {
    "newline": "/\n",
    "crlf-header": "/\r\nSet-Cookie: planted=1",
    "tab-protocol-relative": "/\t/evil.example",
    "space": "/ /evil.example",
    "leading-space": " /mod/",
    "ideographic-space": "/\u3000/evil.example",
    "no-break-space": "/\u00a0",
    "nul": "/mod/\x00",
    "delete": "/mod/\x7f",
    "bidi-override": "/\u202eelpmaxe.live",
    "zero-width": "/\u200b/evil.example",
    "backslash": "/\\evil.example",
    "backslash-later": "/mod/\\..\\x",
    "leading-backslash": "\\/evil.example",
    "protocol-relative": "//evil.example",
    "triple-slash": "///evil.example",
    "absolute": "https://evil.example/x",
    "scheme-only": "javascript:alert(1)",
    "relative": "mod/queue",
    "empty": "",
    "too-long": "/" + "a" * 3000,
}
ALLOWED_NEXT = {
    "queue": "/mod/queue/spam",
    "query": "/mod/queue?article=67584&page=2",
    "chinese": "/mod/queue?q=广告",
    "encoded": "/mod/queue?q=%E5%B9%BF%E5%91%8A",
}


@pytest.mark.parametrize("target", REFUSED_NEXT.values(), ids=REFUSED_NEXT.keys())
def test_safe_next_refuses_anything_but_a_plain_local_path(target):
    assert auth.safe_next(target) is None


@pytest.mark.parametrize("target", ALLOWED_NEXT.values(), ids=ALLOWED_NEXT.keys())
def test_safe_next_keeps_local_paths(target):
    assert auth.safe_next(target) == target


@pytest.mark.parametrize("target", REFUSED_NEXT.values(), ids=REFUSED_NEXT.keys())
def test_language_switch_never_fails_nor_leaves_the_site(client, target):
    response = client.get("/mod/lang/en", query_string={"next": target})

    assert response.status_code == 303
    assert response.location == "/mod/"


@pytest.mark.parametrize("raw", ["/%0a", "/%0d%0a", "/%09/evil.example", "%2F%2Fevil.example"])
def test_language_switch_answers_the_probes_raw_query(client, raw):
    """As sent in the probe: /mod/lang/en?next=/%0a answered 500."""
    response = client.get(f"/mod/lang/en?next={raw}")

    assert response.status_code == 303
    assert response.location == "/mod/"


@pytest.mark.parametrize("target", ALLOWED_NEXT.values(), ids=ALLOWED_NEXT.keys())
def test_language_switch_goes_back_to_a_local_page(client, target):
    response = client.get("/mod/lang/en", query_string={"next": target})

    assert response.status_code == 303
    assert response.location == iri_to_uri(target)


@pytest.mark.parametrize("target", REFUSED_NEXT.values(), ids=REFUSED_NEXT.keys())
def test_sign_in_never_fails_nor_leaves_the_site(client, moderator, target):
    response = login(client, moderator, MOD_PASSWORD, next=target)

    assert response.status_code == 303
    assert response.location == "/mod/"


@pytest.mark.parametrize("target", ["/\n", "//evil.example", "/\u202e"])
def test_form_next_after_an_action_stays_on_the_site(mod_client, pending, target):
    comment = pending()

    response = form_post(mod_client, f"/mod/comments/{comment}/approve", {"next": target})

    assert response.status_code == 303
    assert response.location == "/mod/queue"
