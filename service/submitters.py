"""Everything held about one submitter, by portal identity or IP address: shown,
exported and erased (the reader's rights to a copy and to deletion).

A submitter is found by the portal identity their comments carry, or by an
address exactly as stored: a full address, or a network that retention
truncated it to (``203.0.113.0/24``). Erasing deletes their comments for good;
one that someone else's kept comment replies to stays as an empty shell (see
``retention.remove_comments``). Exports and erasures are written to the audit
log under a keyed hash of the identity or address, never the value itself,
so the log does not keep what was erased.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext
from sqlalchemy import func, select

from . import addresses, moderation
from .audit_log import audit
from .bans import active_bans
from .errors import BadRequest
from .exports import comment_row, comment_rows, comments_query, when
from .extensions import db
from .models import Comment, Moderator
from .retention import remove_comments
from .text import strip_forbidden

IDENTITY_MAX_LENGTH = 128
PREVIEW = 20


@dataclass(frozen=True)
class Submitter:
    """Who to look for: exactly one of a portal identity or an address."""

    identity: str | None = None
    ip: str | None = None

    @property
    def kind(self) -> str:
        return "identity" if self.identity is not None else "ip"

    @property
    def value(self) -> str:
        return self.identity if self.identity is not None else self.ip or ""

    def selects(self):  # type: ignore[no-untyped-def]
        """The condition on comments that picks this submitter's."""
        if self.identity is not None:
            return Comment.author_identity == self.identity
        return Comment.remote_addr == self.ip

    def ref(self) -> str:
        """A keyed hash that names the submitter in the audit log without revealing them."""
        key = str(current_app.config["SECRET_KEY"]).encode()
        message = f"submitter:{self.kind}:{self.value}".encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()[:16]


def check_submitter(identity: object = None, ip: object = None) -> Submitter:
    """The submitter asked for, or BadRequest (neither, both, or not valid)."""
    identity = strip_forbidden(identity).strip() if isinstance(identity, str) else ""
    ip = strip_forbidden(ip).strip() if isinstance(ip, str) else ""
    if bool(identity) == bool(ip):
        raise BadRequest(lazy_gettext("Give either a portal identity or an IP address."))
    if identity:
        if len(identity) > IDENTITY_MAX_LENGTH:
            raise BadRequest(lazy_gettext("A portal identity has at most 128 characters."))
        return Submitter(identity=identity)
    network = addresses.stored_network(ip[:64])
    if network is None or len(ip) > 64:
        raise BadRequest(lazy_gettext("Not a valid IP address."))
    if network.prefixlen == network.max_prefixlen and "/" not in ip:
        return Submitter(ip=str(network.network_address))
    return Submitter(ip=str(network))


@dataclass
class Holding:
    """What is held about a submitter, for the admin page."""

    submitter: Submitter
    counts: dict[str, int] = field(default_factory=dict)
    total: int = 0
    first: datetime | None = None
    last: datetime | None = None
    latest: list[dict[str, Any]] = field(default_factory=list)
    bans: list[dict[str, Any]] = field(default_factory=list)


def _bans(submitter: Submitter) -> list[dict[str, Any]]:
    """Active bans that cover the submitter's address."""
    network = addresses.stored_network(submitter.ip)
    if network is None:
        return []
    found = []
    for ban in active_bans():
        banned = ipaddress.ip_network(ban.network)
        if banned.version == network.version and network.subnet_of(banned):  # type: ignore[arg-type]
            found.append(
                {
                    "network": ban.network,
                    "reason": ban.reason,
                    "created_at": when(ban.created_at),
                    "expires_at": when(ban.expires_at),
                }
            )
    return found


def find_holding(submitter: Submitter) -> Holding:
    """How many comments, in which states, when, the latest few, and bans that cover them."""
    holding = Holding(submitter)
    deleted = Comment.deleted_at.is_not(None)
    for status, is_deleted, count in db.session.execute(
        select(Comment.status, deleted, func.count(Comment.id))
        .where(submitter.selects())
        .group_by(Comment.status, deleted)
    ):
        label = "deleted" if is_deleted else str(status)
        holding.counts[label] = holding.counts.get(label, 0) + count
        holding.total += count
    holding.first, holding.last = db.session.execute(
        select(func.min(Comment.created_at), func.max(Comment.created_at)).where(
            submitter.selects()
        )
    ).one()
    query = comments_query().where(submitter.selects()).order_by(None).order_by(Comment.id.desc())
    holding.latest = [comment_row(*row) for row in db.session.execute(query.limit(PREVIEW))]
    holding.bans = _bans(submitter)
    return holding


def export_submitter(submitter: Submitter, by: Moderator | None) -> dict[str, Any]:
    """Everything held about the submitter as one JSON-ready document; audited."""
    comments = list(comment_rows(comments_query().where(submitter.selects())))
    document = {
        "exported_at": when(datetime.now(UTC)),
        "submitter": {submitter.kind: submitter.value},
        "comments": comments,
        "bans": _bans(submitter),
        "retention": {
            "ip_days": current_app.config["RETENTION_IP_DAYS"],
            "purge_days": current_app.config["RETENTION_PURGE_DAYS"],
        },
    }
    audit(
        "submitter_export",
        by,
        detail={"kind": submitter.kind, "ref": submitter.ref(), "comments": len(comments)},
    )
    db.session.commit()
    return document


@dataclass
class Erasure:
    deleted: int = 0
    kept_as_shells: int = 0
    batch: str = ""


def erase_submitter(submitter: Submitter, by: Moderator | None) -> Erasure:
    """Delete the submitter's comments for good, in one transaction; audited.

    Published ones are taken down through moderation first (their articles'
    counts follow); comments others reply to stay as empty shells.
    """
    ids = list(
        db.session.execute(
            select(Comment.id).where(submitter.selects()).order_by(Comment.id)
        ).scalars()
    )
    batch = secrets.token_hex(8)
    moderation.take_down(ids, by, "erase", batch)
    removal = remove_comments(ids)
    audit(
        "submitter_erase",
        by,
        detail={
            "kind": submitter.kind,
            "ref": submitter.ref(),
            "deleted": len(removal.deleted),
            "kept_as_shells": len(removal.kept),
        },
        batch=batch,
    )
    db.session.commit()
    return Erasure(len(removal.deleted), len(removal.kept), batch)
