"""Language choice and the template filters that depend on it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Flask, current_app, has_request_context, request, session
from flask_babel import format_timedelta, get_locale, gettext
from markupsafe import Markup, escape

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
URL_PATTERN = re.compile(r"https?://[^\s<>\"'\u3000-\u303f\uff01-\uff5e]+")


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


def relative_time(moment: datetime, now: datetime | None = None) -> str:
    """'3分钟前' / '3 minutes ago'; 'just now' under a minute."""
    delta = moment - (now or datetime.now(UTC))
    if abs(delta.total_seconds()) < 60:
        return gettext("just now")
    return format_timedelta(delta, add_direction=True, threshold=1.0)


def linkify(text: str) -> Markup:
    """Escape comment text and make http(s) links clickable, marked as user content."""
    parts: list[str] = []
    last = 0
    for match in URL_PATTERN.finditer(text):
        url = match.group(0).rstrip(".,;:!?)")
        end = match.start() + len(url)
        parts.append(str(escape(text[last : match.start()])))
        parts.append(
            f'<a href="{escape(url)}" rel="nofollow ugc noopener" target="_blank">{escape(url)}</a>'
        )
        last = end
    parts.append(str(escape(text[last:])))
    return Markup("".join(parts))


def init_app(app: Flask) -> None:
    app.jinja_env.filters["reltime"] = relative_time
    app.jinja_env.filters["linkify"] = linkify
    app.jinja_env.globals["lang_code"] = lang_code
