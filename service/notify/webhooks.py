"""Webhook requests: our own signed JSON, and the DingTalk, Feishu and WeCom robots.

Each attempt builds its request from the stored payload at send time (robots
want a fresh timestamp in their signature). Chat robots get plain ``text``
messages: comment text is untrusted, and markdown would let a reader put a
disguised link in the moderators' group. Robots answer HTTP 200 even when they
refuse a message, so their JSON answer decides (``errcode``/``code`` 0).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from .config import Webhook
from .signing import SIGNATURE_HEADER, body_signature, dingtalk_sign, feishu_sign

USER_AGENT = "portal-comments-webhook/1"
# WeCom robots take at most 2048 bytes of text; the others more. One limit for all.
TEXT_LIMIT = 2000
ANSWER_LIMIT = 64 * 1024
_QUERY = re.compile(r"\?[^\s'\"<>()]*")
_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")]+")


class SendFailed(Exception):
    """An attempt failed; ``message`` is safe to store and log (no tokens, no passwords)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = scrub(message)


def scrub(text: str) -> str:
    """Drop query strings (robots keep their tokens there) and keep it short."""
    return _QUERY.sub("?…", text)[:300]


def cap_text(text: str, limit: int = TEXT_LIMIT) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", "ignore") + "…"


@dataclass(frozen=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str]


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def build_request(
    hook: Webhook,
    event: str,
    delivery_id: int,
    data: dict[str, Any],
    text: str,
    now: float | None = None,
) -> Request:
    """The request for one attempt: ``data`` for our JSON, ``text`` for chat robots."""
    now = time.time() if now is None else now
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
    text = cap_text(text)
    if hook.kind == "dingtalk":
        url = hook.url
        if hook.secret:
            stamp = int(now * 1000)
            sign = quote(dingtalk_sign(hook.secret, stamp), safe="")
            url += ("&" if "?" in url else "?") + f"timestamp={stamp}&sign={sign}"
        return Request(url, _json({"msgtype": "text", "text": {"content": text}}), headers)
    if hook.kind == "feishu":
        message: dict[str, Any] = {}
        if hook.secret:
            stamp = int(now)
            message = {"timestamp": str(stamp), "sign": feishu_sign(hook.secret, stamp)}
        message.update({"msg_type": "text", "content": {"text": text}})
        return Request(hook.url, _json(message), headers)
    if hook.kind == "wecom":
        return Request(hook.url, _json({"msgtype": "text", "text": {"content": text}}), headers)
    body = _json({"event": event, "delivery_id": delivery_id, "sent_at": int(now), "data": data})
    headers["X-Comments-Event"] = event
    headers["X-Comments-Delivery"] = str(delivery_id)
    if hook.secret:
        headers[SIGNATURE_HEADER] = body_signature(hook.secret, body)
    return Request(hook.url, body, headers)


def _robot_error(kind: str, raw: bytes) -> str | None:
    """None if a robot accepted the message, else what it said."""
    try:
        answer = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return f"{kind} answered something other than JSON"
    if not isinstance(answer, dict):
        return f"{kind} answered something other than a JSON object"
    if kind == "feishu":
        code = answer.get("code", answer.get("StatusCode"))
        message = answer.get("msg", answer.get("StatusMessage"))
    else:
        code, message = answer.get("errcode"), answer.get("errmsg")
    if code == 0:
        return None
    return f"{kind} refused the message: code {code}: {str(message)[:120]}"


def send(hook: Webhook, request: Request, timeout: float) -> None:
    """POST once; raise SendFailed unless the receiver accepted it."""
    try:
        with requests.post(
            request.url,
            data=request.body,
            headers=request.headers,
            timeout=(min(timeout, 5.0), timeout),
            allow_redirects=False,
            stream=True,
        ) as response:
            raw = response.raw.read(ANSWER_LIMIT, decode_content=True) or b""
            status = response.status_code
    except requests.Timeout:
        raise SendFailed(f"no answer within {timeout:g} s") from None
    except requests.ConnectionError as error:
        reason = _ERRNO.search(str(error))
        raise SendFailed("connection failed" + (f": {reason.group(0)}" if reason else "")) from None
    except requests.RequestException as error:
        raise SendFailed(f"request failed: {type(error).__name__}") from None
    if not 200 <= status < 300:
        raise SendFailed(f"HTTP {status}")
    if hook.kind in ("dingtalk", "feishu", "wecom"):
        problem = _robot_error(hook.kind, raw)
        if problem:
            raise SendFailed(problem)
