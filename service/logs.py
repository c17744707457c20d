"""Logs as one JSON object a line, each with the id of the request it belongs to.

No personal data: no IP addresses, no comment text, no passwords or captcha
answers; only what operators need (endpoint, status, timings, error kinds).
"""

from __future__ import annotations

import logging
import re
import sys
import uuid

from flask import Flask, Response, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
_HANDLER_NAME = "comments-json"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id") if has_request_context() else None
        return True


class LimiterPrivacyFilter(logging.Filter):
    """Flask-Limiter logs each breach with its key: a client address or a login name.
    Keep the limit and the endpoint, drop the key."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "ratelimit %s (%s) exceeded at endpoint: %s" and record.args:
            limit, _key, scope = record.args  # type: ignore[misc]
            record.msg, record.args = "ratelimit %s exceeded at endpoint: %s", (limit, scope)
        return True


_LIMITER_FILTER = LimiterPrivacyFilter()


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for the root logger (once per process)."""
    root = logging.getLogger()
    if any(h.get_name() == _HANDLER_NAME for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def init_app(app: Flask) -> None:
    if app.config["LOG_JSON"]:
        configure_logging(app.config["LOG_LEVEL"])
    limiter_log = logging.getLogger("flask-limiter")
    if _LIMITER_FILTER not in limiter_log.filters:
        limiter_log.addFilter(_LIMITER_FILTER)

    @app.before_request
    def assign_request_id() -> None:
        """Keep the proxy's X-Request-ID if it looks like one, else make one."""
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex

    @app.after_request
    def echo_request_id(response: Response) -> Response:
        if "request_id" in g:
            response.headers["X-Request-ID"] = g.request_id
        return response
