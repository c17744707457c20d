"""Language choice and the template filters that depend on it."""

from __future__ import annotations

from flask import current_app, has_request_context, request, session
from flask_babel import get_locale

# What the embed's data-lang may say -> our catalogue's locale.
LANG_ALIASES = {
    "zh": "zh_CN",
    "zh-cn": "zh_CN",
    "zh_cn": "zh_CN",
    "zh-hans": "zh_CN",
    "en": "en",
    "en-us": "en",
    "en-gb": "en",
}
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}


def select_locale() -> str:
    """``lang`` in the query (the embed's data-lang), else Accept-Language."""
    if not has_request_context():  # CLI commands speak the default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    chosen = request.args.get("lang")
    # Only the dashboard has a session; public pages must not vary on cookies.
    if not chosen and request.blueprint in ("dashboard", "admin"):
        chosen = session.get("lang")
    if chosen and chosen.lower() in LANG_ALIASES:
        return LANG_ALIASES[chosen.lower()]
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"])
    if best and best.startswith("en"):
        return "en"
    return "zh_CN"


def lang_code() -> str:
    """The current language as the widget's ``lang`` parameter (zh-CN or en)."""
    return HTML_LANG.get(str(get_locale()), "zh-CN")
