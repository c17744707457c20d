"""Bans of IP addresses and ranges, with an expiry."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

from flask_babel import lazy_gettext
from sqlalchemy import or_, select

from .errors import BadRequest, ServiceError
from .extensions import db
from .models import Ban, Moderator
from .moderation import audit


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


def add_ban(network: str, days: int | None, reason: str | None, by: Moderator | None) -> Ban:
    """Ban an IP or CIDR range for ``days`` (None: until lifted)."""
    try:
        parsed = ipaddress.ip_network(network.strip(), strict=False)
    except ValueError:
        raise BadRequest(lazy_gettext("Not a valid IP address or range.")) from None
    if days is not None and not 0 < days <= 3650:
        raise BadRequest(lazy_gettext("Ban length must be 1 to 3650 days."))
    expires = datetime.now(UTC) + timedelta(days=days) if days else None
    ban = Ban(
        network=str(parsed),
        reason=(reason or "")[:200] or None,
        expires_at=expires,
        created_by_id=by.id if by else None,
    )
    db.session.add(ban)
    audit("ban", by, detail={"network": str(parsed), "days": days})
    db.session.commit()
    return ban


def lift_ban(ban_id: int, by: Moderator | None) -> None:
    ban = db.session.get(Ban, ban_id)
    if ban is None or ban.lifted_at is not None:
        return
    ban.lifted_at = datetime.now(UTC)
    audit("unban", by, detail={"network": ban.network})
    db.session.commit()
