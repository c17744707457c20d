"""Everything templates call: filters and globals, registered once on the app.

Times people read are shown in the portal's zone (``TIMEZONE``), never in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g
from flask_babel import format_timedelta, gettext
from markupsafe import Markup, escape

from . import moderation, reports, words
from .i18n import lang_code
from .models import Comment, Status
from .text import URL_PATTERN
from .wordfilter import highlight


def local(moment: datetime) -> datetime:
    """A UTC time in the configured zone (Asia/Shanghai by default)."""
    return moment.astimezone(ZoneInfo(current_app.config["TIMEZONE"]))


def localtime(moment: datetime) -> str:
    """'2026-12-02 11:33:05' in the configured zone."""
    return local(moment).strftime("%Y-%m-%d %H:%M:%S")


def localminute(moment: datetime) -> str:
    """'2026-12-02 11:33' in the configured zone, for readers."""
    return local(moment).strftime("%Y-%m-%d %H:%M")


def relative_time(moment: datetime, now: datetime | None = None) -> str:
    """'3分钟前' / '3 minutes ago'; 'just now' under a minute."""
    delta = moment - (now or datetime.now(UTC))
    if abs(delta.total_seconds()) < 60:
        return gettext("just now")
    return format_timedelta(delta, add_direction=True, threshold=1.0)


def duration(delta: timedelta) -> str:
    return format_timedelta(delta, threshold=1.0)


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


def highlight_words(text: str) -> Markup:
    """Comment text, escaped, with banned and suspect words marked."""
    if "word_matcher" not in g:
        g.word_matcher = words.matcher()
    return highlight(text, g.word_matcher.find(text))


def queue_labels() -> dict[str, str]:
    return {
        "pending": gettext("Pending"),
        "reported": gettext("Reported"),
        "approved": gettext("Approved"),
        "rejected": gettext("Rejected"),
        "spam": gettext("Spam"),
        "deleted": gettext("Deleted"),
    }


def action_names() -> dict[str, str]:
    return {a.value: moderation.action_label(a) for a in moderation.Action}


def status_name(comment: Comment) -> str:
    return moderation.status_label(Status(comment.status), comment.deleted_at is not None)


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(
        reltime=relative_time,
        linkify=linkify,
        localtime=localtime,
        localminute=localminute,
        duration=duration,
        highlight_words=highlight_words,
    )
    app.jinja_env.globals.update(
        lang_code=lang_code,
        queue_labels=queue_labels,
        action_names=action_names,
        status_name=status_name,
        report_names=reports.report_reasons,
        allowed_actions=moderation.allowed_actions,
    )
