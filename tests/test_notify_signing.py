"""Signatures against the platforms' documented algorithms, request shapes, and settings."""

from __future__ import annotations

import json
import urllib.parse

import pytest
from notify_helpers import (
    dingtalk_expected_sign,
    feishu_expected_sign,
    generic_signature_ok,
)

from service.notify import ConfigError, Webhook, body_signature, dingtalk_sign, feishu_sign
from service.notify.config import parse_emails, parse_settings, parse_webhooks
from service.notify.webhooks import build_request, cap_text, scrub

SECRETS = [
    "SEC5a3ecf88f2b3eb50db30ecfc00f53033ac909c99bf7f88fd612bda89d7f3a9dc",
    "this is secret",
    "密钥-含中文",
]
STAMPS_MS = [1546084445901, 1764650000123]


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("stamp", STAMPS_MS)
def test_dingtalk_sign_is_the_documented_one(secret, stamp):
    assert dingtalk_sign(secret, stamp) == dingtalk_expected_sign(str(stamp), secret)


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("stamp", [1599360473, 1764650000])
def test_feishu_sign_is_the_documented_one(secret, stamp):
    assert feishu_sign(secret, stamp) == feishu_expected_sign(str(stamp), secret)


def test_feishu_and_dingtalk_swap_key_and_message():
    """Using DingTalk's algorithm for Feishu (a common mistake) gives another signature."""
    assert feishu_sign("abc", 1599360473) != dingtalk_sign("abc", 1599360473)


def test_our_signature_verifies_the_way_the_docs_tell_portals():
    body = b'{"event":"article.count_changed","data":{"article":"67584"}}'

    header = body_signature("portal-shared-secret-123", body)

    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert generic_signature_ok("portal-shared-secret-123", body, header)
    assert not generic_signature_ok("another-secret-entirely", body, header)
    assert not generic_signature_ok("portal-shared-secret-123", body + b" ", header)


def hook(kind: str, secret: str | None = None, url: str = "https://robot.example/send") -> Webhook:
    events = ("comment.pending",) if kind != "generic" else ("article.count_changed",)
    return Webhook(f"{kind}-test", url, kind, secret, events)


def test_dingtalk_request_signs_in_the_query_and_keeps_the_token():
    request = build_request(
        hook("dingtalk", "SECabc", "https://oapi.dingtalk.com/robot/send?access_token=T0KEN"),
        "comment.pending",
        7,
        {},
        "3 条新评论待审核",
        now=1764650000.5,
    )

    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.url).query))
    assert query["access_token"] == "T0KEN"
    assert query["timestamp"] == "1764650000500"
    assert query["sign"] == dingtalk_expected_sign("1764650000500", "SECabc")
    assert json.loads(request.body) == {"msgtype": "text", "text": {"content": "3 条新评论待审核"}}


def test_feishu_request_signs_in_the_body():
    request = build_request(hook("feishu", "fs-secret"), "comment.pending", 7, {}, "待审核", 1e9)

    body = json.loads(request.body)
    assert body["timestamp"] == "1000000000"
    assert body["sign"] == feishu_expected_sign("1000000000", "fs-secret")
    assert body["msg_type"] == "text" and body["content"] == {"text": "待审核"}


def test_unsigned_robots_send_plain_text():
    feishu = json.loads(build_request(hook("feishu"), "comment.pending", 1, {}, "文本").body)
    wecom = build_request(hook("wecom"), "comment.pending", 1, {}, "文本")

    assert "sign" not in feishu and "timestamp" not in feishu
    assert json.loads(wecom.body) == {"msgtype": "text", "text": {"content": "文本"}}
    assert wecom.url == "https://robot.example/send"


def test_generic_request_is_signed_json_with_event_and_delivery():
    request = build_request(
        hook("generic", "portal-shared-secret-123"),
        "article.count_changed",
        42,
        {"article": "67584", "approved_count": 3},
        "",
        now=1764650000.9,
    )

    body = json.loads(request.body)
    assert body == {
        "event": "article.count_changed",
        "delivery_id": 42,
        "sent_at": 1764650000,
        "data": {"article": "67584", "approved_count": 3},
    }
    assert request.headers["X-Comments-Event"] == "article.count_changed"
    assert request.headers["X-Comments-Delivery"] == "42"
    assert generic_signature_ok(
        "portal-shared-secret-123", request.body, request.headers["X-Comments-Signature"]
    )


def test_chat_text_is_cut_to_2000_bytes_on_a_character_boundary():
    text = "评" * 1000  # 3000 bytes

    capped = cap_text(text)

    assert len(capped.encode()) <= 2000
    assert capped.endswith("…")
    assert capped[:-1] == "评" * len(capped[:-1])


def test_error_text_loses_query_strings():
    message = "url: /robot/send?access_token=S3CRET&sign=x (Caused by ...)"

    assert "S3CRET" not in scrub(message)
    assert "/robot/send?…" in scrub(message)


# --- settings ------------------------------------------------------------------------------


GOOD_GENERIC = {
    "url": "https://portal.example/purge",
    "kind": "generic",
    "secret": "portal-shared-secret-123",
    "events": ["article.count_changed"],
}


def test_webhooks_parse_with_defaults():
    hooks = parse_webhooks(
        [
            GOOD_GENERIC,
            {"url": "https://oapi.dingtalk.com/robot/send?access_token=x", "kind": "dingtalk"},
        ]
    )

    assert hooks[0].events == ("article.count_changed",)
    assert hooks[1].events == ("comment.pending",)
    assert hooks[1].name.startswith("dingtalk-")
    assert hooks[1].shown_url == "https://oapi.dingtalk.com/robot/send?…"


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ({**GOOD_GENERIC, "url": "ftp://x.example/"}, "http(s) URL"),
        ({**GOOD_GENERIC, "url": "https://x.example/a b"}, "without spaces"),
        ({**GOOD_GENERIC, "kind": "slack"}, "kind must be one of"),
        ({**GOOD_GENERIC, "secret": None}, "secret is required"),
        ({**GOOD_GENERIC, "secret": "short"}, "secret is required"),
        ({**GOOD_GENERIC, "events": ["comment.deleted"]}, "events must be a list"),
        ({**GOOD_GENERIC, "events": []}, "events must be a list"),
        ({**GOOD_GENERIC, "colour": "red"}, "unknown keys: colour"),
        ({**GOOD_GENERIC, "name": "有空格 的名字"}, "name must be"),
        ({"url": "https://q.example/", "kind": "wecom", "secret": "x"}, "not signed"),
        (
            {"url": "https://d.example/", "kind": "dingtalk", "events": ["article.count_changed"]},
            "carry only",
        ),
        ("https://portal.example/purge", "must be an object"),
    ],
)
def test_bad_webhook_settings_name_the_entry_and_the_problem(entry, complaint):
    with pytest.raises(ConfigError, match=r"COMMENTS_WEBHOOKS\[0\]") as caught:
        parse_webhooks([entry])

    assert complaint in str(caught.value)


def test_two_webhooks_may_not_share_a_name():
    with pytest.raises(ConfigError, match="same name"):
        parse_webhooks([{**GOOD_GENERIC, "name": "a"}, {**GOOD_GENERIC, "name": "a"}])


def test_emails_as_a_list_or_one_comma_separated_string():
    assert parse_emails(["a@portal.example", "b@portal.example"]) == (
        "a@portal.example",
        "b@portal.example",
    )
    assert parse_emails("a@portal.example, b@portal.example") == (
        "a@portal.example",
        "b@portal.example",
    )


@pytest.mark.parametrize(
    "address", ["not-an-address", "a@portal.example\r\nBcc: x@evil.example", "<a@b.c>", ""]
)
def test_a_bad_recipient_is_refused(address):
    with pytest.raises(ConfigError, match="not an e-mail address"):
        parse_emails([address])


def test_mail_needs_a_sender(app):
    config = {**app.config, "SMTP_HOST": "127.0.0.1", "NOTIFY_EMAILS": ["a@portal.example"]}

    with pytest.raises(ConfigError, match="SMTP_FROM is required"):
        parse_settings(config)


def test_a_login_smtplib_cannot_send_is_refused_at_start(app):
    with pytest.raises(ConfigError, match="SMTP_PASSWORD must be ASCII"):
        parse_settings({**app.config, "SMTP_PASSWORD": "邮箱密码"})


@pytest.mark.parametrize("key", ["DIGEST_MINUTES", "NOTIFY_MAX_ATTEMPTS", "NOTIFY_TIMEOUT"])
def test_counts_and_times_must_be_positive(app, key):
    with pytest.raises(ConfigError, match=key):
        parse_settings({**app.config, key: 0})


def test_a_bad_setting_stops_the_app_from_starting(make_app):
    with pytest.raises(ConfigError, match="COMMENTS_WEBHOOKS"):
        make_app(WEBHOOKS=[{"url": "https://x.example/", "kind": "teams"}])


def test_webhooks_from_the_environment(monkeypatch, make_app):
    monkeypatch.setenv("COMMENTS_WEBHOOKS", json.dumps([GOOD_GENERIC]))
    monkeypatch.setenv("COMMENTS_NOTIFY_EMAILS", "editor@portal.example")

    # make_app's own settings come after the environment; these two are not among them.
    app = make_app()

    from service import notify

    with app.app_context():
        settings = notify.settings()
    assert settings.webhooks[0].url == "https://portal.example/purge"
    assert settings.emails == ("editor@portal.example",)
