"""Site settings that admins change in the dashboard (stored in the database).

Each has a default from the app config, so a fresh install works untouched.
"""

from __future__ import annotations

import json
from typing import Any

from flask import current_app

from .audit_log import audit
from .extensions import db
from .models import Article, ModerationMode, Moderator, Setting

# setting key -> config key holding its default
DEFAULT_FROM_CONFIG = {
    "moderation_mode": "MODERATION_MODE",
    "reject_reasons": "REJECT_REASONS",
    "words_version": None,
}


def get_setting(key: str) -> Any:
    row = db.session.get(Setting, key)
    if row is not None:
        return json.loads(row.value)
    config_key = DEFAULT_FROM_CONFIG[key]
    return current_app.config[config_key] if config_key else 0


def put_setting(key: str, value: Any) -> None:
    """Store a setting inside the caller's transaction."""
    if key not in DEFAULT_FROM_CONFIG:
        raise KeyError(key)
    row = db.session.get(Setting, key)
    text = json.dumps(value, ensure_ascii=False)
    if row is None:
        db.session.add(Setting(key=key, value=text))
    else:
        row.value = text


def update_settings(values: dict[str, Any], by: Moderator | None) -> None:
    """Change settings and record it in the audit log."""
    for key, value in values.items():
        put_setting(key, value)
    audit("settings", by, detail=values)
    db.session.commit()


def site_mode() -> ModerationMode:
    return ModerationMode(get_setting("moderation_mode"))


def mode_for(article: Article | None) -> ModerationMode:
    """The article's own mode if it has one, else the site's."""
    if article is not None and article.moderation_mode:
        return ModerationMode(article.moderation_mode)
    return site_mode()
