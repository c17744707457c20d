"""Which portal origins may embed the widget, call the API and be linked to."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app


def own_origin() -> str | None:
    """The service's own origin, from ``PUBLIC_URL`` only: a request's Host header is
    whatever the client wrote, so it never decides what is trusted."""
    url = current_app.config.get("PUBLIC_URL")
    return origin_of(url) if url else None


def allowed_origins() -> list[str]:
    """Configured origins plus the service's own (the /demo page lives there)."""
    configured = [o.rstrip("/") for o in current_app.config["ALLOWED_ORIGINS"]]
    own = own_origin()
    return [*configured, own] if own else configured


def origin_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def is_allowed_url(url: str) -> bool:
    """An http(s) URL on an allowed portal origin."""
    origin = origin_of(url)
    if origin is None:
        return False
    allowed = allowed_origins()
    return "*" in allowed or origin in (o.lower() for o in allowed)
