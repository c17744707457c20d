"""Proxy trust and security headers for every response."""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

from .origins import allowed_origins

BASE_POLICY = (
    "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'"
)


def init_app(app: Flask) -> None:
    proxies = int(app.config["TRUSTED_PROXIES"])
    if proxies > 0:
        # Only then is X-Forwarded-For believed: a spoofed header can't dodge a limit.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    app.after_request(set_security_headers)


def frame_ancestors() -> str:
    """Who may frame this response: portals for the widget, nobody for the rest."""
    if request.blueprint == "widget":
        origins = allowed_origins()
        return "*" if "*" in origins else " ".join(["'self'", *origins])
    if request.endpoint == "site.demo":
        return "'self'"
    return "'none'"


def set_security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if response.mimetype == "text/html":
        policy = f"{BASE_POLICY}; frame-ancestors {frame_ancestors()}"
        if request.endpoint == "site.demo":
            policy += "; frame-src 'self'"
        response.headers.setdefault("Content-Security-Policy", policy)
    return response
