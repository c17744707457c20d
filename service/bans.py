"""Bans of IP addresses and ranges, with an expiry."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

from flask_babel import lazy_gettext
from sqlalchemy import or_, select

from .audit_log import audit
from .errors import BadRequest, ServiceError
from .extensions import db
from .models import Ban, Comment, Moderator

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Banned(ServiceError):
    """Neutral on purpose: a banned submitter learns nothing about the ban."""

    status = 403
    code = "forbidden"
    message = lazy_gettext("Your comment cannot be submitted at the moment.")


def active_bans(now: datetime | None = None) -> list[Ban]:
    now = now or datetime.now(UTC)
    return list(
        db.session.execute(
            select(Ban)
            .where(Ban.lifted_at.is_(None))
            .where(or_(Ban.expires_at.is_(None), Ban.expires_at > now))
            .order_by(Ban.created_at.desc())
        ).scalars()
    )


def is_banned(ip: str | None) -> bool:
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for ban in active_bans():
        network = ipaddress.ip_network(ban.network)
        if address.version == network.version and address in network:
            return True
    return False


MAX_BAN_DAYS = 3650


def check_days(days: int | None) -> None:
    """A ban lasts 1 to 3650 days (None: until lifted), else BadRequest."""
    if days is not None and not 0 < days <= MAX_BAN_DAYS:
        raise BadRequest(lazy_gettext("Ban length must be 1 to 3650 days."))


def ban_network(
    network: IPNetwork,
    days: int | None,
    reason: str | None,
    by: Moderator | None,
    batch: str | None = None,
    comment: Comment | None = None,
) -> Ban:
    """Add a ban, audited, inside the caller's transaction (the caller commits)."""
    check_days(days)
    ban = Ban(
        network=str(network),
        reason=(reason or "")[:200] or None,
        expires_at=datetime.now(UTC) + timedelta(days=days) if days else None,
        created_by_id=by.id if by else None,
        batch=batch,
    )
    db.session.add(ban)
    audit("ban", by, comment, detail={"network": str(network), "days": days}, batch=batch)
    return ban


def add_ban(network: str, days: int | None, reason: str | None, by: Moderator | None) -> Ban:
    """Ban an IP or CIDR range for ``days`` (None: until lifted)."""
    try:
        parsed = ipaddress.ip_network(network.strip(), strict=False)
    except ValueError:
        raise BadRequest(lazy_gettext("Not a valid IP address or range.")) from None
    ban = ban_network(parsed, days, reason, by)
    db.session.commit()
    return ban


def lift_batch(batch: str, by: Moderator | None) -> None:
    """Lift the bans one undoable step made, inside the caller's transaction."""
    now = datetime.now(UTC)
    for ban in db.session.execute(
        select(Ban).where(Ban.batch == batch, Ban.lifted_at.is_(None))
    ).scalars():
        ban.lifted_at = now
        audit("unban", by, detail={"network": ban.network}, batch=batch)


def lift_ban(ban_id: int, by: Moderator | None) -> None:
    ban = db.session.get(Ban, ban_id)
    if ban is None or ban.lifted_at is not None:
        return
    ban.lifted_at = datetime.now(UTC)
    audit("unban", by, detail={"network": ban.network})
    db.session.commit()
