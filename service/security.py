"""Proxy trust and security headers for every response."""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import BadRequest
from werkzeug.middleware.proxy_fix import ProxyFix

from .origins import allowed_origins

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

BASE_POLICY = (
    "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'"
)


# The answers under it are CORS answers (service/__init__.py).
CORS_PATH = "/api/v1/"

# Only the moderators' pages have a session (Flask-Login, CSRF).
SESSION_BLUEPRINTS = frozenset({"dashboard", "admin"})


class DashboardSessionInterface(SecureCookieSessionInterface):
    """Sessions for the dashboard only.

    Extensions peek at the session on every request (Flask-Login's remember
    check), which would make Flask add ``Vary: Cookie`` to public responses and
    spoil CDN caching of the widget and the counts. Public responses never set
    a cookie nor vary on one.
    """

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        if request.blueprint in SESSION_BLUEPRINTS:
            super().save_session(app, session, response)


API_RESOURCES = CORS_PATH + "*"


def cors_settings(allowed: list[str]) -> dict[str, Any]:
    """Flask-CORS's settings: the public API answers the portals' origins.

    (service/fastcounts.py computes its CORS headers from the same settings.)
    """
    return {
        "resources": {API_RESOURCES: {"origins": "*" if "*" in allowed else allowed}},
        "max_age": 86400,
        "expose_headers": ["ETag", "Retry-After"],
        # set_security_headers puts Vary: Origin on every answer there, Origin sent or
        # not; Flask-CORS would add it only with several allowed origins, as a second line.
        "vary_header": False,
    }


def init_app(app: Flask) -> None:
    app.session_interface = DashboardSessionInterface()
    proxies = int(app.config["TRUSTED_PROXIES"])
    if proxies > 0:
        # Only then is X-Forwarded-For believed: a spoofed header can't dodge a limit.
        # ProxyFix sets REMOTE_ADDR, then calls RequireAddress, which checks it.
        checked = RequireAddress(app.wsgi_app)
        app.wsgi_app = ProxyFix(checked, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    app.after_request(set_security_headers)


class RequireAddress:
    """Refuse (400) a request whose client address, as the proxies reported it, is no
    IP address: it could neither be limited nor banned, and must not be stored."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        try:
            ipaddress.ip_address(environ.get("REMOTE_ADDR") or "")
        except ValueError:
            log.warning("refused a request whose forwarded client address is not an IP")
            return BadRequest("X-Forwarded-For does not end in an IP address.")(
                environ, start_response
            )
        return self.app(environ, start_response)


def vary_on_origin(response: Response) -> None:
    """Tell shared caches that a CORS answer depends on the request's Origin.

    Whether it carries Access-Control-Allow-Origin, and which, depends on the
    Origin sent, so a CDN must not hand a copy made for one origin (or for none,
    or for a refused one) to another: count.js would be blocked. Flask-CORS says
    so only when the Origin matched one of several allowed origins.
    """
    response.vary.add("Origin")


def frame_ancestors() -> str:
    """Who may frame this response: portals for the widget, nobody for the rest."""
    if request.blueprint == "widget":
        origins = allowed_origins()
        return "*" if "*" in origins else " ".join(["'self'", *origins])
    if request.endpoint == "site.demo":
        return "'self'"
    return "'none'"


def set_security_headers(response: Response) -> Response:
    if request.path.startswith(CORS_PATH):
        vary_on_origin(response)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if response.mimetype == "text/html":
        policy = f"{BASE_POLICY}; frame-ancestors {frame_ancestors()}"
        if request.endpoint == "site.demo":
            policy += "; frame-src 'self'"
        response.headers.setdefault("Content-Security-Policy", policy)
    return response
