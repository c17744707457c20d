"""Domain exceptions, each with an HTTP status and a stable code string.

Services raise them; ``register_error_handlers`` maps them (and werkzeug's own
HTTP errors) to one JSON shape for the API and to HTML pages elsewhere:
``{"error": {"code": "...", "message": "...", "fields": {...}}}``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext, lazy_gettext
from flask_limiter.errors import RateLimitExceeded
from sqlalchemy.exc import DataError, OperationalError
from werkzeug.exceptions import HTTPException

from .extensions import db, limiter

log = logging.getLogger(__name__)


class FieldError:
    """One invalid field: a code for programs and a message for people."""

    def __init__(self, code: str, message: Any) -> None:
        self.code = code
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": str(self.message)}


class ServiceError(Exception):
    status = 400
    code = "bad_request"
    message: Any = lazy_gettext("The request could not be understood.")

    def __init__(self, message: Any = None, fields: dict[str, FieldError] | None = None) -> None:
        super().__init__(str(message or self.message))
        if message is not None:
            self.message = message
        self.fields = fields or {}

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": str(self.message)}
        if self.fields:
            body["fields"] = {name: err.as_dict() for name, err in self.fields.items()}
        body.update(self.extra())
        return {"error": body}

    def extra(self) -> dict[str, Any]:
        """More members of the error object, for errors that say more than a message."""
        return {}


class BadRequest(ServiceError):
    pass


class InvalidArticleKey(ServiceError):
    code = "invalid_article"
    message = lazy_gettext(
        "Invalid article key: use 1 to 128 letters, digits, '_', '.' or '-' "
        "(but not '.' or '..' alone)."
    )


class CommentsClosed(ServiceError):
    status = 403
    code = "comments_closed"
    message = lazy_gettext("Comments are closed for this article.")


class NotFound(ServiceError):
    status = 404
    code = "not_found"
    message = lazy_gettext("Not found.")


class ValidationFailed(ServiceError):
    status = 422
    code = "validation_failed"
    message = lazy_gettext("Some fields are not valid.")

    def __init__(self, fields: dict[str, FieldError], *, captcha_checked: bool = True) -> None:
        super().__init__(None, fields)
        # False when the fields were refused before the captcha was looked at:
        # the attempt then spends neither the captcha nor the posting limit.
        self.captcha_checked = captcha_checked
        # A lone captcha problem gets its own top-level code, so a client can
        # refresh the image without parsing the fields.
        if set(fields) == {"captcha_answer"}:
            self.code = fields["captcha_answer"].code
            self.message = fields["captcha_answer"].message


class RateLimited(ServiceError):
    status = 429
    code = "rate_limited"
    message = lazy_gettext("Too many requests. Please wait a moment and try again.")


def with_retry_after(response: Response, error: RateLimitExceeded) -> Response:
    """Tell the client when the limit it hit lets it in again.

    Flask-Limiter's own header injection is pointed at ``X-RateLimit-Reset-After``
    (see config.py), so Retry-After appears on 429s and 503s only, with our value.
    """
    seconds = error.retry_after
    current = limiter.current_limit
    if seconds is None and current is not None:
        seconds = current.reset_at - time.time()
    response.headers["Retry-After"] = str(max(1, int(seconds or 60)))
    return response


class ServiceUnavailable(ServiceError):
    status = 503
    code = "service_unavailable"
    message = lazy_gettext("The service is temporarily unavailable. Please try again shortly.")


def wants_json() -> bool:
    """API routes and JSON clients get JSON errors; everything else gets HTML."""
    if request.path.startswith("/api/") or request.path.startswith("/captcha"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(error: ServiceError, headers: dict[str, str] | None = None) -> Response:
    if wants_json():
        response = jsonify(error.as_dict())
    else:
        response = Response(
            render_template("errors/error.html", error=error),
            mimetype="text/html",
        )
    response.status_code = error.status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def http_messages() -> dict[int, str]:
    return {
        400: gettext("The request could not be understood."),
        404: gettext("Not found."),
        405: gettext("This method is not allowed here."),
        413: gettext("The request is too large."),
        415: gettext("Send the request as application/json."),
        429: gettext("Too many requests. Please wait a moment and try again."),
    }


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def handle_service_error(error: ServiceError) -> Response:
        return error_response(error)

    @app.errorhandler(RateLimitExceeded)
    def handle_rate_limited(error: RateLimitExceeded) -> Response:
        return with_retry_after(error_response(RateLimited()), error)

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> Response:
        status = error.code or 500
        wrapped = ServiceError(http_messages().get(status, error.description))
        wrapped.status = status
        wrapped.code = HTTP_CODES.get(status, "http_error")
        response = error_response(wrapped)
        if status == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(DataError)
    def handle_unstorable_value(error: DataError) -> Response:
        """A value the database refuses (out of range, NUL byte): the request's fault."""
        log.warning("database refused a value: %s", type(error.orig).__name__)
        db.session.rollback()
        return error_response(BadRequest())

    @app.errorhandler(OperationalError)
    def handle_database_down(error: OperationalError) -> Response:
        # The driver's own words ("database is locked", "connection refused"):
        # they carry no statement parameters, so no personal data.
        log.error("database unavailable: %s: %.200s", type(error.orig).__name__, error.orig)
        db.session.rollback()
        return error_response(ServiceUnavailable(), {"Retry-After": "5"})
