"""Signatures, each as its receiver checks it.

- Our own webhooks: ``X-Comments-Signature: sha256=<hex HMAC-SHA256 of the raw
  body under the webhook's secret>``; the body carries ``sent_at`` (Unix
  seconds), so a receiver can also refuse old replays.
- DingTalk custom robot (加签): ``sign = urlencode(base64(HMAC-SHA256(key=secret,
  msg=f"{timestamp}\\n{secret}")))`` with the timestamp in milliseconds; both
  go in the query string (``&timestamp=...&sign=...``).
- Feishu/Lark custom robot (签名校验): ``sign = base64(HMAC-SHA256(key=
  f"{timestamp}\\n{secret}", msg=b""))`` with the timestamp in seconds; both go
  in the JSON body. Note the key and message are the other way round from
  DingTalk's.
- WeCom (企业微信) group robots are not signed: the key in the URL is the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SIGNATURE_HEADER = "X-Comments-Signature"


def body_signature(secret: str, body: bytes) -> str:
    """The value of X-Comments-Signature for a body."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's ``sign`` (before URL encoding) for a millisecond timestamp."""
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode("utf-8"), string_to_sign, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def feishu_sign(secret: str, timestamp: int) -> str:
    """Feishu/Lark's ``sign`` for a timestamp in seconds."""
    key = f"{timestamp}\n{secret}".encode()
    digest = hmac.new(key, b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")
