"""Automatic triage: the first status of a new comment, with a reason people can read.

Order: banned words reject; the admins' trust rules run in their order and the
first that fires decides; suspect words hold anything a rule did not reject or
mark as spam; otherwise the moderation mode decides (pre: pending, post:
approved).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext
from sqlalchemy import func, select

from .audit_log import audit
from .errors import BadRequest
from .extensions import db
from .models import (
    Article,
    Comment,
    ModerationMode,
    Moderator,
    RuleKind,
    Status,
    TrustRule,
    WordKind,
)
from .settings import mode_for
from .text import URL_PATTERN
from .words import matcher


@dataclass(frozen=True)
class Verdict:
    status: Status
    reason: str | None = None


@dataclass(frozen=True)
class Candidate:
    """What triage looks at: the new comment before it is stored."""

    article: Article | None
    body: str
    remote_addr: str | None
    identity: str | None
    # The spam-wave detector's finding (service.antispam.screen), if it looked.
    screening: Any = None


RULE_LABELS = {
    RuleKind.DUPLICATE_SPAM: lazy_gettext(
        "Same text from the same submitter within the window → spam"
    ),
    RuleKind.HOLD_LINKS: lazy_gettext("More links than the threshold → hold"),
    RuleKind.HOLD_FIRST_COMMENT: lazy_gettext("A submitter's first comment → hold"),
    RuleKind.AUTO_APPROVE_TRUSTED: lazy_gettext(
        "At least threshold approved comments within the window → approve"
    ),
}


def _submitter(candidate: Candidate):  # type: ignore[no-untyped-def]
    """Identify the submitter by portal identity when there is one, else by IP."""
    if candidate.identity:
        return Comment.author_identity == candidate.identity
    return Comment.remote_addr == candidate.remote_addr


def _count(candidate: Candidate, *conditions: object) -> int:
    if not candidate.identity and not candidate.remote_addr:
        return 0
    query = select(func.count(Comment.id)).where(_submitter(candidate), *conditions)
    return db.session.execute(query).scalar_one()


def _apply_rule(rule: TrustRule, candidate: Candidate) -> Verdict | None:
    now = datetime.now(UTC)
    since = now - timedelta(minutes=rule.window_minutes or 0)
    if rule.kind == RuleKind.DUPLICATE_SPAM:
        if _count(candidate, Comment.body == candidate.body, Comment.created_at >= since):
            return Verdict(Status.SPAM, "spam: duplicate text")
    elif rule.kind == RuleKind.HOLD_LINKS:
        links = len(URL_PATTERN.findall(candidate.body))
        if links > rule.threshold:
            return Verdict(Status.PENDING, f"held: contains {links} link(s)")
    elif rule.kind == RuleKind.HOLD_FIRST_COMMENT:
        if not _count(candidate, Comment.status == Status.APPROVED):
            return Verdict(Status.PENDING, "held: first comment from this submitter")
    elif rule.kind == RuleKind.AUTO_APPROVE_TRUSTED:
        approved = _count(candidate, Comment.status == Status.APPROVED, Comment.created_at >= since)
        if rule.threshold > 0 and approved >= rule.threshold:
            return Verdict(Status.APPROVED, f"approved: trusted submitter ({approved} approved)")
    return None


def list_rules() -> list[TrustRule]:
    return list(
        db.session.execute(select(TrustRule).order_by(TrustRule.position, TrustRule.id)).scalars()
    )


def decide(candidate: Candidate) -> Verdict:
    """The first status of a new comment and why."""
    found = matcher().find(candidate.body)
    banned = [m.word for m in found if m.kind == WordKind.BANNED]
    if banned:
        return Verdict(Status.REJECTED, f"rejected: banned word “{banned[0]}”")
    if candidate.screening is not None and candidate.screening.spam:
        return Verdict(Status.SPAM, candidate.screening.reason)
    verdict = None
    for rule in list_rules():
        if rule.enabled:
            verdict = _apply_rule(rule, candidate)
            if verdict is not None:
                break
    if verdict is not None and verdict.status in (Status.SPAM, Status.REJECTED):
        return verdict
    suspect = [m.word for m in found if m.kind == WordKind.SUSPECT]
    if suspect:
        return Verdict(Status.PENDING, f"held: suspect word “{suspect[0]}”")
    if verdict is not None:
        return verdict
    if mode_for(candidate.article) == ModerationMode.POST:
        return Verdict(Status.APPROVED, None)
    return Verdict(Status.PENDING, None)


def update_rules(changes: dict[int, dict[str, object]], by: Moderator | None) -> None:
    """Change rules' position, threshold, window and enabled flag; audited."""
    for rule in list_rules():
        change = changes.get(rule.id)
        if not change:
            continue
        for name in ("position", "threshold", "window_minutes"):
            value = change.get(name)
            if value is None:
                continue
            if not isinstance(value, int) or not 0 <= value <= 10**7:
                raise BadRequest(lazy_gettext("Rule numbers must be whole numbers ≥ 0."))
            setattr(rule, name, value)
        if "enabled" in change:
            rule.enabled = bool(change["enabled"])
    audit("rules", by, detail={str(k): v for k, v in changes.items()})
    db.session.commit()
