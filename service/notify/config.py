"""The notification settings, checked once when the app starts.

Webhooks come from ``COMMENTS_WEBHOOKS`` (a JSON list), not from a dashboard
form: their secrets and robot tokens (DingTalk and WeCom put them in the URL)
stay in the deployment's secret store beside the other ``COMMENTS_*`` values,
never in the database or on a page, and no dashboard account, however
compromised, can point the service at an address of its choosing. A mistake
stops the start with a message naming the entry, instead of failing at 3 a.m.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

EVENT_PENDING = "comment.pending"
EVENT_COUNT = "article.count_changed"
EVENT_TEST = "test"
EVENTS = (EVENT_PENDING, EVENT_COUNT)
KINDS = ("generic", "dingtalk", "feishu", "wecom")
CHAT_KINDS = ("dingtalk", "feishu", "wecom")
EMAIL_CHANNEL = "email"
NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MIN_GENERIC_SECRET = 16


class ConfigError(ValueError):
    """A notification setting that cannot work; the message names it."""


@dataclass(frozen=True)
class Webhook:
    """One configured webhook."""

    name: str
    url: str
    kind: str
    secret: str | None
    events: tuple[str, ...]

    @property
    def channel(self) -> str:
        return f"webhook:{self.name}"

    @property
    def shown_url(self) -> str:
        """The URL without its query, where robots keep their tokens."""
        return shown_url(self.url)


@dataclass(frozen=True)
class NotifySettings:
    webhooks: tuple[Webhook, ...] = ()
    emails: tuple[str, ...] = ()
    smtp_host: str | None = None

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host and self.emails)

    def subscribers(self, event: str) -> list[Webhook]:
        return [hook for hook in self.webhooks if event in hook.events]

    def pending_channels(self) -> list[str]:
        """Channels told about new pending comments: e-mail and chat robots/webhooks."""
        channels = [EMAIL_CHANNEL] if self.email_enabled else []
        return channels + [hook.channel for hook in self.subscribers(EVENT_PENDING)]

    def webhook(self, channel: str) -> Webhook | None:
        for hook in self.webhooks:
            if hook.channel == channel:
                return hook
        return None


def shown_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + ("?…" if parts.query else "")


def _webhook(index: int, entry: object) -> Webhook:
    where = f"COMMENTS_WEBHOOKS[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be an object with url, kind, secret and events")
    unknown = set(entry) - {"url", "kind", "secret", "events", "name"}
    if unknown:
        raise ConfigError(f"{where} has unknown keys: {', '.join(sorted(unknown))}")
    url = entry.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}.url must be an http(s) URL")
    if any(ch in url for ch in "\r\n\t ") or len(url) > 2048:
        raise ConfigError(f"{where}.url must be one line without spaces, at most 2048 characters")
    kind = entry.get("kind", "generic")
    if kind not in KINDS:
        raise ConfigError(f"{where}.kind must be one of: {', '.join(KINDS)}")
    secret = entry.get("secret") or None
    if secret is not None and not isinstance(secret, str):
        raise ConfigError(f"{where}.secret must be a string")
    if kind == "generic" and (secret is None or len(secret) < MIN_GENERIC_SECRET):
        raise ConfigError(
            f"{where}.secret is required for a generic webhook"
            f" (at least {MIN_GENERIC_SECRET} characters): receivers check the signature"
        )
    if kind == "wecom" and secret is not None:
        raise ConfigError(f"{where}: WeCom robots are not signed; remove 'secret'")
    events = entry.get("events", [EVENT_PENDING] if kind in CHAT_KINDS else None)
    if not isinstance(events, list) or not events or any(event not in EVENTS for event in events):
        raise ConfigError(f"{where}.events must be a list of: {', '.join(EVENTS)}")
    if kind in CHAT_KINDS and events != [EVENT_PENDING]:
        raise ConfigError(f"{where}: chat robots ({kind}) carry only {EVENT_PENDING!r}")
    name = entry.get("name")
    if name is None:
        name = f"{kind}-{hashlib.sha256(url.encode()).hexdigest()[:8]}"
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ConfigError(f"{where}.name must be 1-64 characters of A-Z a-z 0-9 _ . -")
    return Webhook(name, url, kind, secret, tuple(dict.fromkeys(events)))


def parse_webhooks(raw: object) -> tuple[Webhook, ...]:
    if raw is None or raw == "":
        return ()
    if not isinstance(raw, list):
        raise ConfigError("COMMENTS_WEBHOOKS must be a JSON list")
    hooks = tuple(_webhook(index, entry) for index, entry in enumerate(raw))
    names = [hook.name for hook in hooks]
    if len(names) != len(set(names)):
        raise ConfigError("COMMENTS_WEBHOOKS: two webhooks have the same name")
    return hooks


def parse_emails(raw: object) -> tuple[str, ...]:
    """A JSON list of addresses, or one string of comma-separated addresses."""
    if raw is None or raw == "":
        return ()
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list):
        raise ConfigError("COMMENTS_NOTIFY_EMAILS must be a list of e-mail addresses")
    emails = []
    for item in items:
        address = item.strip() if isinstance(item, str) else ""
        _name, parsed = parseaddr(address)
        if (
            not address
            or parsed != address
            or "@" not in address
            or any(ch in address for ch in "\r\n,;<> ")
            or len(address) > 254
        ):
            raise ConfigError(f"COMMENTS_NOTIFY_EMAILS: not an e-mail address: {address!r}")
        emails.append(address)
    return tuple(dict.fromkeys(emails))


def parse_settings(config: dict[str, Any]) -> NotifySettings:
    """The notification settings of an app's config, or ConfigError."""
    webhooks = parse_webhooks(config.get("WEBHOOKS"))
    emails = parse_emails(config.get("NOTIFY_EMAILS"))
    host = config.get("SMTP_HOST") or None
    sender = config.get("SMTP_FROM")
    if host and emails and not sender:
        raise ConfigError("COMMENTS_SMTP_FROM is required to send e-mail")
    if sender and (any(ch in str(sender) for ch in "\r\n") or "@" not in parseaddr(str(sender))[1]):
        raise ConfigError("COMMENTS_SMTP_FROM must be an e-mail address")
    for key in ("SMTP_USER", "SMTP_PASSWORD"):
        value = config.get(key)
        if value is not None and not str(value).isascii():
            # smtplib sends the login as ASCII; mail providers issue ASCII auth codes.
            raise ConfigError(f"COMMENTS_{key} must be ASCII (smtplib cannot send other text)")
    for key in ("DIGEST_MINUTES", "NOTIFY_TIMEOUT", "NOTIFY_MAX_ATTEMPTS", "SMTP_PORT"):
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"COMMENTS_{key} must be a positive number")
    retry = config.get("NOTIFY_RETRY_SECONDS")
    if isinstance(retry, bool) or not isinstance(retry, int | float) or retry < 0:
        raise ConfigError("COMMENTS_NOTIFY_RETRY_SECONDS must be a number ≥ 0")
    return NotifySettings(webhooks=webhooks, emails=emails, smtp_host=host)
