"""Portal identity (后台实名, 前台自愿): signed tokens, what they change, what they never show.

Tokens are made the way a portal makes them, with PyJWT (and, for the README's
promise, with the README's own Python example). Nothing is mocked: the service
checks real signatures on a real database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import jwt
import pytest
from conftest import solve
from flask import Flask
from flask.testing import FlaskClient
from helpers import MOD_PASSWORD, login
from sqlalchemy import select
from werkzeug.test import TestResponse

from service import auth, identity, moderation, settings, triage
from service.extensions import db
from service.models import Comment, RuleKind, Status

SECRET = "门户与评论服务共享的密钥-0123456789abcdef-不要外传"
ARTICLE = "67584"
COMMENTS = f"/api/v1/articles/{ARTICLE}/comments"
OWN = f"{COMMENTS}/own"
ARTICLE_URL = "https://www.portal.example/zcjh/zhengwu/67584.html"
README = __import__("pathlib").Path(__file__).resolve().parent.parent / "README.md"


def make_token(
    sub: object = "10086",
    name: object = "张三",
    expires_in: int = 600,
    secret: str = SECRET,
    algorithm: str = "HS256",
    drop: tuple[str, ...] = (),
) -> str:
    """A token as a portal makes it (PyJWT), optionally without some claims."""
    claims: dict[str, Any] = {"sub": sub, "name": name, "exp": int(time.time()) + expires_in}
    for claim in drop:
        claims.pop(claim)
    return jwt.encode(claims, secret, algorithm=algorithm)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], claims: dict[str, Any], secret: str | None) -> str:
    """A token built by hand, for the attacks a library would not sign for us."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = b""
    if secret is not None:
        signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def valid_claims() -> dict[str, Any]:
    return {"sub": "10086", "name": "张三", "exp": int(time.time()) + 600}


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(IDENTITY_SECRET=SECRET)


@pytest.fixture
def post(client: FlaskClient) -> Callable[..., TestResponse]:
    """Submit a comment through the JSON API with a rightly answered captcha."""

    def submit(
        body: str = "后台实名，前台自愿 🙂",
        ip: str = "192.0.2.50",
        article: str = ARTICLE,
        on: FlaskClient | None = None,
        **fields: Any,
    ) -> TestResponse:
        sender = on or client
        token, answer = solve(sender)
        payload = {"body": body, "captcha_token": token, "captcha_answer": answer, **fields}
        return sender.post(
            f"/api/v1/articles/{article}/comments",
            json=payload,
            environ_base={"REMOTE_ADDR": ip},
        )

    return submit


def stored(app: Flask, comment_id: int) -> Comment:
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        assert comment is not None
        db.session.expunge(comment)
        return comment


def error_of(response: TestResponse) -> dict[str, Any]:
    assert response.is_json, response.get_data(as_text=True)
    return response.get_json()["error"]


def approve(app: Flask, comment_id: int) -> None:
    with app.test_request_context():
        moderation.apply(comment_id, moderation.Action.APPROVE, by=None)


# --- a signed identity, round trip ----------------------------------------------------------


def test_signed_identity_links_the_comment_to_the_portal_user(app, post):
    response = post(author="路人甲", identity=make_token(sub="10086", name="张三"))

    assert response.status_code == 202
    comment = stored(app, response.get_json()["id"])
    assert comment.author_identity == "10086"
    assert comment.author_identity_name == "张三"
    # 前台自愿: the nickname the reader typed is what the public sees.
    assert comment.author == "路人甲"


def test_portal_user_is_shown_to_moderators_never_to_the_public(app, client, post, moderator):
    comment_id = post(
        author="路人甲", identity=make_token(sub="u-778899", name="王小二")
    ).get_json()["id"]
    approve(app, comment_id)
    with app.app_context():
        found = auth.find_moderator(moderator)
        assert found is not None
        token = auth.create_token(found, "CMS")
    mod_client = app.test_client()
    assert login(mod_client, moderator, MOD_PASSWORD).status_code == 303

    queue = client.get(
        "/api/v1/mod/comments?status=approved", headers={"Authorization": f"Bearer {token}"}
    ).get_json()
    dashboard = mod_client.get("/mod/queue/approved").get_data(as_text=True)
    public_json = client.get(COMMENTS).get_data(as_text=True)
    widget = client.get(f"/embed/{ARTICLE}").get_data(as_text=True)

    (listed,) = queue["comments"]
    assert listed["author_identity"] == "u-778899"
    assert listed["author_identity_name"] == "王小二"
    assert "门户用户 u-778899" in dashboard and "王小二" in dashboard
    for public in (public_json, widget):
        assert "路人甲" in public
        assert "u-778899" not in public
        assert "王小二" not in public


def test_the_token_itself_is_never_stored(app, post):
    token = make_token()
    comment_id = post(identity=token).get_json()["id"]

    with app.app_context():
        row = db.session.execute(select(Comment.__table__).where(Comment.id == comment_id)).one()

    assert token not in {str(value) for value in row}
    assert not any(token.split(".")[2] in str(value) for value in row)


def test_without_identity_nothing_changes(app, post):
    response = post()

    assert response.status_code == 202
    assert stored(app, response.get_json()["id"]).author_identity is None


def test_the_widget_form_carries_the_identity_without_javascript(app, client):
    token, answer = solve(client)
    response = client.post(
        f"/embed/{ARTICLE}",
        data={
            "body": "无脚本也能带上身份",
            "captcha_token": token,
            "captcha_answer": answer,
            "identity": make_token(sub="20001"),
        },
    )

    assert response.status_code == 303
    with app.app_context():
        comment = db.session.execute(select(Comment)).scalar_one()
        assert comment.author_identity == "20001"


def test_the_widget_page_never_renders_a_token(client):
    page = client.get(f"/embed/{ARTICLE}").get_data(as_text=True)

    assert '<input type="hidden" name="identity" id="cw-identity" value="">' in page


# --- refused identities ----------------------------------------------------------------------


def test_expired_identity_is_refused_with_a_clear_message_and_the_captcha_kept(client, post):
    token, answer = solve(client)
    fields = {"body": "过期的身份", "captcha_token": token, "captcha_answer": answer}

    expired = client.post(COMMENTS, json={**fields, "identity": make_token(expires_in=-3600)})
    again = client.post(COMMENTS, json={**fields, "identity": make_token()})

    assert expired.status_code == 401
    assert error_of(expired)["code"] == "identity_expired"
    assert error_of(expired)["message"] == "登录已过期，请刷新页面或重新登录。"
    # The captcha was not looked at: the same answer works once signed in again.
    assert again.status_code == 202


def test_expired_identity_message_in_english(client):
    response = client.post(
        f"{COMMENTS}?lang=en", json={"body": "x", "identity": make_token(expires_in=-3600)}
    )

    assert error_of(response)["message"].startswith("Your sign-in has expired")


def test_an_identity_just_past_its_expiry_is_within_the_leeway(post):
    assert post(identity=make_token(expires_in=-10)).status_code == 202


def test_the_leeway_is_a_setting(make_app):
    client = make_app(IDENTITY_SECRET=SECRET, IDENTITY_LEEWAY=0).test_client()
    token, answer = solve(client)

    response = client.post(
        COMMENTS,
        json={
            "body": "零容差",
            "captcha_token": token,
            "captcha_answer": answer,
            "identity": make_token(expires_in=-10),
        },
    )

    assert error_of(response)["code"] == "identity_expired"


def test_a_tampered_identity_is_refused(post):
    header, _claims, signature = make_token(sub="10086").split(".")
    forged_claims = b64(json.dumps({**valid_claims(), "sub": "1"}).encode())

    response = post(identity=f"{header}.{forged_claims}.{signature}")

    assert response.status_code == 401
    assert error_of(response) == {
        "code": "identity_invalid",
        "message": "登录身份校验失败（签名无效），请重新登录。",
    }


def test_an_identity_signed_with_another_secret_is_refused(post):
    other = "另一个门户的密钥-fedcba9876543210-fedcba9876543210"

    response = post(identity=make_token(secret=other))

    assert error_of(response)["code"] == "identity_invalid"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(hand_made({"alg": "none", "typ": "JWT"}, valid_claims(), None), id="alg-none"),
        pytest.param(hand_made({"alg": "None", "typ": "JWT"}, valid_claims(), None), id="alg-None"),
        # RS256 with the shared secret used as the HMAC key: the classic key confusion.
        pytest.param(hand_made({"alg": "RS256", "typ": "JWT"}, valid_claims(), SECRET), id="rs256"),
        pytest.param(hand_made({"alg": "HS384", "typ": "JWT"}, valid_claims(), SECRET), id="hs384"),
        pytest.param(jwt.encode(valid_claims(), SECRET, algorithm="HS512"), id="hs512"),
    ],
)
def test_algorithms_other_than_hs256_are_refused(post, app, token):
    response = post(identity=token)

    assert response.status_code == 401
    assert error_of(response)["code"] == "identity_invalid"
    with app.app_context():
        assert db.session.execute(select(Comment)).first() is None


@pytest.mark.parametrize("missing", ["sub", "name", "exp"])
def test_an_identity_without_a_required_claim_is_refused(post, missing):
    response = post(identity=make_token(drop=(missing,)))

    assert response.status_code == 401
    assert error_of(response) == {
        "code": "identity_invalid",
        "message": "登录令牌缺少必需的声明：sub 和 name（字符串）以及 exp（过期时间）。",
    }


@pytest.mark.parametrize(
    ("sub", "name"),
    [(10086, "张三"), ("10086", None), ("10086", ["张三"])],
    ids=["numeric-sub", "null-name", "list-name"],
)
def test_claims_of_the_wrong_type_are_refused(post, sub, name):
    response = post(identity=make_token(sub=sub, name=name))

    assert error_of(response)["code"] == "identity_invalid"
    assert "sub 和 name" in error_of(response)["message"]


@pytest.mark.parametrize(
    "sub", ["", "   ", "x" * 129, "a\x00b"], ids=["empty", "blank", "long", "nul"]
)
def test_a_sub_that_cannot_be_stored_is_refused(post, sub):
    response = post(identity=make_token(sub=sub))

    assert error_of(response)["code"] == "identity_invalid"


@pytest.mark.parametrize(
    "value",
    [123, True, ["token"], {"sub": "10086"}, "not-a-jwt", "a.b.c", "x" * 5000],
    ids=["int", "bool", "list", "object", "garbage", "three-parts", "huge"],
)
def test_malformed_identities_are_refused_not_errors(post, value):
    response = post(identity=value)

    assert response.status_code == 401
    assert error_of(response)["code"] == "identity_invalid"


def test_a_long_display_name_is_cut_to_fit(app, post):
    response = post(identity=make_token(name="很长的名字" * 30))

    assert stored(app, response.get_json()["id"]).author_identity_name == ("很长的名字" * 30)[:64]


def test_an_identity_sent_to_a_service_without_a_secret_is_refused(make_app):
    client = make_app().test_client()

    response = client.post(COMMENTS, json={"body": "没有配置密钥", "identity": make_token()})

    assert response.status_code == 401
    assert error_of(response)["code"] == "identity_invalid"
    assert "未配置" in error_of(response)["message"]


def test_a_refused_identity_on_the_widget_form_is_a_chinese_message(client):
    token, answer = solve(client)

    response = client.post(
        f"/embed/{ARTICLE}",
        data={
            "body": "表单里的过期身份",
            "captcha_token": token,
            "captcha_answer": answer,
            "identity": make_token(expires_in=-3600),
        },
    )

    assert response.status_code == 401
    assert "登录已过期，请刷新页面或重新登录。" in response.get_data(as_text=True)
    assert "表单里的过期身份" in response.get_data(as_text=True)  # the text is kept


# --- requiring an identity -------------------------------------------------------------------


@pytest.fixture
def strict(make_app: Callable[..., Flask]) -> Flask:
    return make_app(
        IDENTITY_SECRET=SECRET,
        REQUIRE_IDENTITY=True,
        LOGIN_URL="https://www.portal.example/login?next={url}",
    )


def test_required_identity_refuses_anonymous_submissions(strict):
    client = strict.test_client()
    token, answer = solve(client)
    fields = {"body": "匿名评论", "captcha_token": token, "captcha_answer": answer}

    anonymous = client.post(COMMENTS, json=fields)
    signed = client.post(COMMENTS, json={**fields, "identity": make_token()})

    assert anonymous.status_code == 401
    assert error_of(anonymous) == {
        "code": "identity_required",
        "message": "请登录门户网站后再发表评论。",
    }
    assert signed.status_code == 202


def test_required_identity_refuses_the_plain_form_too(strict):
    client = strict.test_client()
    token, answer = solve(client)

    response = client.post(
        f"/embed/{ARTICLE}",
        data={"body": "无身份的表单", "captcha_token": token, "captcha_answer": answer},
    )

    assert response.status_code == 401
    assert "请登录门户网站后再发表评论。" in response.get_data(as_text=True)


def test_required_identity_widget_offers_sign_in_with_the_article_url(strict):
    client = strict.test_client()

    page = client.get(f"/embed/{ARTICLE}", query_string={"url": ARTICLE_URL}).get_data(as_text=True)

    expected = "https://www.portal.example/login?next=" + quote(ARTICLE_URL, safe="")
    assert f'<a href="{expected}" target="_top">登录后评论</a>' in page
    # The form is there for widget.js to show once an identity arrives, hidden until then.
    assert re.search(r'<form id="comment-form"[^>]*data-requires-identity hidden>', page)


def test_sign_in_link_never_passes_on_an_address_off_the_portal(strict):
    client = strict.test_client()

    page = client.get(
        f"/embed/{ARTICLE}", query_string={"url": "https://evil.example/phish"}
    ).get_data(as_text=True)

    assert 'href="https://www.portal.example/login?next=" target="_top"' in page
    assert "evil.example" not in page.split('id="cw-login"')[1].split("</p>")[0]


def test_without_required_identity_the_form_is_shown(client):
    page = client.get(f"/embed/{ARTICLE}").get_data(as_text=True)

    assert "登录后评论" not in page
    assert "data-requires-identity" not in page


ENCODED_URL = quote(ARTICLE_URL, safe="")


@pytest.mark.parametrize(
    ("setting", "article_url", "expected"),
    [
        (
            "https://p.example/login?next={url}",
            ARTICLE_URL,
            f"https://p.example/login?next={ENCODED_URL}",
        ),
        ("https://p.example/sso/{url}/go", ARTICLE_URL, f"https://p.example/sso/{ENCODED_URL}/go"),
        ("https://p.example/login", ARTICLE_URL, f"https://p.example/login?next={ENCODED_URL}"),
        (
            "https://p.example/login?from=cms",
            ARTICLE_URL,
            f"https://p.example/login?from=cms&next={ENCODED_URL}",
        ),
        ("https://p.example/login", None, "https://p.example/login"),
        ("https://p.example/login?next={url}", None, "https://p.example/login?next="),
    ],
)
def test_login_url_takes_the_article_address(make_app, setting, article_url, expected):
    app = make_app(LOGIN_URL=setting)
    with app.test_request_context():
        assert identity.login_url(article_url) == expected


def test_sign_in_without_a_login_url_says_so_in_words(make_app):
    client = make_app(IDENTITY_SECRET=SECRET, REQUIRE_IDENTITY=True).test_client()

    page = client.get(f"/embed/{ARTICLE}").get_data(as_text=True)

    assert "请登录门户网站后再发表评论。" in page


@pytest.mark.parametrize(
    ("settings_", "problem"),
    [
        ({"REQUIRE_IDENTITY": True}, "needs COMMENTS_IDENTITY_SECRET"),
        ({"IDENTITY_SECRET": "short"}, "at least 32"),
        ({"IDENTITY_SECRET": SECRET, "LOGIN_URL": "javascript:alert(1)"}, "http"),
    ],
)
def test_settings_that_cannot_work_stop_the_start(make_app, settings_, problem):
    with pytest.raises(RuntimeError, match=problem):
        make_app(**settings_)


# --- trust rules count per user ----------------------------------------------------------


def set_rule(kind: RuleKind, **change: object) -> None:
    (rule,) = [r for r in triage.list_rules() if r.kind == kind]
    full = {
        "position": rule.position,
        "threshold": rule.threshold,
        "window_minutes": rule.window_minutes,
        "enabled": rule.enabled,
        **change,
    }
    triage.update_rules({rule.id: full}, None)


def status_of(app: Flask, response: TestResponse) -> Status:
    assert response.status_code == 202, response.get_data(as_text=True)
    return stored(app, response.get_json()["id"]).status


def test_a_trusted_portal_user_stays_trusted_on_a_new_address(app, ctx, post):
    set_rule(RuleKind.AUTO_APPROVE_TRUSTED, enabled=True, threshold=1)
    user = make_token(sub="trusted-1")
    first = post(identity=user, ip="192.0.2.60")
    approve(app, first.get_json()["id"])

    later = post("换了网络再来", identity=user, ip="198.51.100.61")

    assert status_of(app, later) == Status.APPROVED
    assert stored(app, later.get_json()["id"]).triage_reason == (
        "approved: trusted submitter (1 approved)"
    )


def test_a_new_portal_user_is_not_trusted_for_the_address_of_others(app, ctx, post):
    settings.update_settings({"moderation_mode": "post"}, None)
    set_rule(RuleKind.HOLD_FIRST_COMMENT, enabled=True)
    shared_ip = "192.0.2.70"
    regular = post("老读者", identity=make_token(sub="old-reader"), ip=shared_ip)
    approve(app, regular.get_json()["id"])

    newcomer = post("新读者，同一出口 IP", identity=make_token(sub="new-reader"), ip=shared_ip)
    returning = post("老读者又来了", identity=make_token(sub="old-reader"), ip="198.51.100.71")

    assert status_of(app, newcomer) == Status.PENDING
    assert stored(app, newcomer.get_json()["id"]).triage_reason == (
        "held: first comment from this submitter"
    )
    assert status_of(app, returning) == Status.APPROVED


def test_duplicate_text_is_spam_per_user_across_addresses(app, ctx, post):
    user = make_token(sub="copy-paste")
    post("一模一样的评论", identity=user, ip="192.0.2.80")

    again = post("一模一样的评论", identity=user, ip="198.51.100.81")
    other_user = post("一模一样的评论", identity=make_token(sub="someone"), ip="192.0.2.80")

    assert status_of(app, again) == Status.SPAM
    assert status_of(app, other_user) == Status.PENDING


# --- own comments follow the user across devices ---------------------------------------------


def test_pending_comments_follow_the_user_to_another_device(app, post):
    phone = app.test_client()
    laptop = app.test_client()
    sent = post(
        author="通勤路上", body="手机上写的评论 📱", identity=make_token(sub="10086"), on=phone
    )
    comment_id = sent.get_json()["id"]

    response = laptop.post(OWN, json={"identity": make_token(sub="10086")})

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    (own,) = response.get_json()["comments"]
    assert own["id"] == comment_id
    assert own["status"] == "pending"
    assert own["author"] == "通勤路上"
    assert own["body"] == "手机上写的评论 📱"
    assert own["reply_to"] is None
    assert own["created_at"].endswith("+08:00")


def test_other_users_and_anonymous_readers_see_nothing_of_it(app, post, client):
    post(body="只属于 10086", identity=make_token(sub="10086"))
    post(body="匿名的一条")

    other = client.post(OWN, json={"identity": make_token(sub="10010")})
    nobody = client.post(OWN, json={"comments": []})

    assert other.get_json() == {"comments": []}
    assert nobody.get_json() == {"comments": []}


def test_only_comments_awaiting_review_on_this_article_follow(app, post, client):
    user = make_token(sub="10086")
    approved = post(body="已通过", identity=user).get_json()["id"]
    approve(app, approved)
    post(body="另一篇文章的", identity=user, article="67590")
    waiting = post(body="还在审核", identity=user).get_json()["id"]

    found = client.post(OWN, json={"identity": user}).get_json()["comments"]

    assert [c["id"] for c in found] == [waiting]


def test_a_comment_known_by_its_key_is_not_listed_twice(app, post, client):
    user = make_token(sub="10086")
    sent = post(body="本机发的", identity=user).get_json()

    found = client.post(
        OWN, json={"identity": user, "comments": [{"id": sent["id"], "key": sent["owner_key"]}]}
    ).get_json()["comments"]

    assert found == [{"id": sent["id"], "status": "pending"}]


def test_an_expired_identity_on_the_own_lookup_is_refused(client):
    response = client.post(OWN, json={"identity": make_token(expires_in=-3600), "comments": []})

    assert response.status_code == 401
    assert error_of(response)["code"] == "identity_expired"


# --- posting limits per user -----------------------------------------------------------------


# Redis database 11 is this file's own (test_instances uses 5, test_faults 6).
LIMITS_REDIS_URL = "redis://127.0.0.1:6379/11"


@pytest.fixture(params=["memory", "redis"])
def limit_storage(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Rate limits in process memory, or shared in Redis (emptied first)."""
    if request.param == "memory":
        return {}
    import redis

    connection = redis.Redis.from_url(LIMITS_REDIS_URL, socket_timeout=2)
    try:
        connection.flushdb()
    except redis.RedisError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is needed on CI: {error}")
        pytest.skip(f"no Redis on 127.0.0.1:6379: {error}")
    finally:
        connection.close()
    return {"REDIS_URL": LIMITS_REDIS_URL}


def test_posting_limit_counts_per_portal_user_when_identified(make_app, limit_storage):
    app = make_app(
        IDENTITY_SECRET=SECRET, RATELIMIT_ENABLED=True, RATELIMIT_POST="2/minute", **limit_storage
    )
    client = app.test_client()

    def send(ip: str, user: str | None) -> int:
        token, answer = solve(client)
        fields: dict[str, Any] = {"body": f"限流 {time.time()}", "captcha_token": token}
        fields["captcha_answer"] = answer
        if user:
            fields["identity"] = make_token(sub=user)
        return client.post(COMMENTS, json=fields, environ_base={"REMOTE_ADDR": ip}).status_code

    shared_nat = "192.0.2.90"
    assert [send(shared_nat, "alice"), send(shared_nat, "alice")] == [202, 202]
    # Alice's bucket is full, wherever she posts from ...
    assert send(shared_nat, "alice") == 429
    assert send("198.51.100.91", "alice") == 429
    # ... while Bob and an anonymous reader behind the same address have their own.
    assert [send(shared_nat, "bob"), send(shared_nat, "bob")] == [202, 202]
    assert [send(shared_nat, None), send(shared_nat, None)] == [202, 202]
    assert send(shared_nat, None) == 429


def test_a_refused_identity_counts_against_the_address(make_app):
    app = make_app(IDENTITY_SECRET=SECRET, RATELIMIT_ENABLED=True, RATELIMIT_POST="1/minute")
    client = app.test_client()
    ip = {"REMOTE_ADDR": "192.0.2.95"}
    expired = make_token(expires_in=-3600)

    first = client.post(COMMENTS, json={"body": "一", "identity": expired}, environ_base=ip)
    second = client.post(COMMENTS, json={"body": "二", "identity": expired}, environ_base=ip)

    assert first.status_code == 401
    assert second.status_code == 429


# --- the README's example ----------------------------------------------------------------------


def readme_python_example() -> str:
    section = README.read_text(encoding="utf-8").split("## Integrating with your portal", 1)[1]
    section = section.split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1, "the section should have exactly one Python example"
    return blocks[0]


def test_the_readme_python_example_makes_a_token_the_service_accepts(app, post, monkeypatch):
    monkeypatch.setenv("COMMENTS_IDENTITY_SECRET", SECRET)
    namespace: dict[str, Any] = {}
    exec(compile(readme_python_example(), "README.md", "exec"), namespace)  # noqa: S102

    token = namespace["comment_identity"](10086, "张三")
    response = post(identity=token)

    assert response.status_code == 202
    comment = stored(app, response.get_json()["id"])
    assert (comment.author_identity, comment.author_identity_name) == ("10086", "张三")
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
