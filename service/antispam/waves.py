"""Waves: clusters of similar posts from several senders, detected and handled as one.

A post that is long enough (``ANTISPAM_MIN_LENGTH`` folded characters) or
names a contact is compared with the similar posts of the last
``ANTISPAM_WINDOW`` seconds (see fingerprints.py, window.py): similar means an
estimated Jaccard similarity of at least ``ANTISPAM_SIMILARITY``, or the same
contact. The similar posts and the new one are a wave when

* most of them name a contact, and they are at least ``ANTISPAM_WAVE_POSTS``
  posts from at least ``ANTISPAM_WAVE_SENDERS`` addresses; or
* they name no contact, and both numbers reach ``ANTISPAM_PLAIN_WAVE_SENDERS``
  (copy-pasted text from many addresses).

Short texts never take part: a hot article where many readers write 顶, 支持,
说得好, 中国队加油！ or 转发了 is a crowd, not a wave.

A wave's new members go to spam at once (triage, actor "system", with the
reason); its earlier members still pending move to spam through
``moderation.apply_many`` (actor "system", the reason in the audit detail, the
wave's batch). A moderator confirms the wave (it leaves the list; members
still pending go to spam) or releases it (its spam members go back to pending,
and similar posts are no longer swept); both can be undone.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import current_app
from flask_babel import lazy_gettext
from sqlalchemy import distinct, func, select, update

from .. import moderation
from ..audit_log import audit
from ..errors import NotFound, ServiceError
from ..extensions import db
from ..models import AuditEntry, Comment, Moderator, Status
from . import attack_mode
from .fingerprints import Fingerprint, fingerprint, signature_of, similarities, similarity
from .models import SpamWave, SpamWaveMember, WaveStatus
from .runtime import runtime
from .window import Seen

SAMPLES = 3
ACTIVE = (WaveStatus.OPEN, WaveStatus.CONFIRMED)


@dataclass
class Screening:
    """What the detector made of a new post, before and after it is stored."""

    fingerprint: Fingerprint | None = None
    sender: str = ""
    article: str = ""
    similar: list[Seen] = field(default_factory=list)
    wave_id: int | None = None  # an existing wave it joins (open, confirmed or released)
    new_wave: bool = False
    spam: bool = False
    reason: str | None = None  # triage's reason (the comment's)
    summary: str = ""  # a new wave's own reason


def _sender_key(remote_addr: str | None) -> str:
    """A keyed hash of the address: the window counts senders without keeping their IPs."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    digest = hashlib.blake2b((remote_addr or "-").encode(), key=secret[:64], digest_size=8)
    return digest.hexdigest()


def _threshold(found: Fingerprint) -> float:
    """How similar a post must be to this one: less when both name contacts.

    An advert padded with a different everyday sentence in each post stays about
    half alike; two texts that both carry a phone number or an id and are that
    alike are rarely anything but the same advert.
    """
    config = current_app.config
    if found.contacts:
        return float(config["ANTISPAM_CONTACT_SIMILARITY"])
    return float(config["ANTISPAM_SIMILARITY"])


def _is_wave(members: list[Seen]) -> bool:
    config = current_app.config
    senders = len({m.sender for m in members})
    with_contact = sum(1 for m in members if m.contact)
    if with_contact * 2 > len(members):
        return len(members) >= config["ANTISPAM_WAVE_POSTS"] and (
            senders >= config["ANTISPAM_WAVE_SENDERS"]
        )
    plain = config["ANTISPAM_PLAIN_WAVE_SENDERS"]
    return bool(plain) and len(members) >= plain and senders >= plain


def screen(article_key: str, body: str, remote_addr: str | None) -> Screening:
    """Compare a new post with the window: does it join (or start) a wave?

    Reads only; ``settle`` records the post once it has an id.
    """
    config = current_app.config
    if not config["ANTISPAM_ENABLED"]:
        return Screening()
    found = fingerprint(body)
    if not found.contacts and found.text_length < config["ANTISPAM_MIN_LENGTH"]:
        return Screening()
    rt = runtime()
    now = rt.clock()
    screening = Screening(found, _sender_key(remote_addr), article_key)
    contact_keys = set(found.contact_keys())
    threshold = _threshold(found)
    candidates = rt.window.candidates(
        found.band_keys() + sorted(contact_keys), now - config["ANTISPAM_WINDOW"]
    )
    scores = similarities([seen.signature for seen in candidates], found.signature)
    screening.similar = [
        seen
        for seen, score in zip(candidates, scores, strict=True)
        if contact_keys.intersection(seen.contacts)
        or score >= (threshold if seen.contact else config["ANTISPAM_SIMILARITY"])
    ]
    wave_ids = sorted({s.wave for s in screening.similar if s.wave is not None})
    if wave_ids:
        statuses = dict(
            db.session.execute(
                select(SpamWave.id, SpamWave.status).where(SpamWave.id.in_(wave_ids))
            ).all()
        )
        active = [w for w in wave_ids if statuses.get(w) in ACTIVE]
        released = [w for w in wave_ids if statuses.get(w) == WaveStatus.RELEASED]
        if active:
            screening.wave_id, screening.spam = active[0], True
            screening.reason = f"spam: wave #{active[0]} (similar comments from many addresses)"
        elif released:
            # Moderators said this cluster is no spam: its posts go the usual way.
            screening.wave_id = released[0]
        return screening
    me = Seen(0, now, screening.sender, article_key, bool(found.contacts), found.signature)
    members = [s for s in screening.similar if s.wave is None] + [me]
    if _is_wave(members):
        screening.new_wave, screening.spam = True, True
        senders = len({m.sender for m in members})
        articles = len({m.article for m in members})
        kind = "with contacts" if found.contacts else "same text"
        screening.summary = (
            f"{len(members)} similar comments {kind} from {senders} addresses "
            f"on {articles} articles"
        )
        screening.reason = f"spam: new wave ({screening.summary})"
    return screening


def settle(screening: Screening, comment: Comment) -> None:
    """Record a stored post in the window and the wave records; sweep earlier members.

    Runs inside posting's transaction, after the comment is flushed. When it
    sweeps, ``moderation.apply_many`` commits that transaction (the comment,
    its wave and the moves together).
    """
    if screening.fingerprint is None:
        return
    rt = runtime()
    config = current_app.config
    now = rt.clock()
    wave: SpamWave | None = None
    if screening.new_wave:
        # Another worker or instance may have just seen the same wave start (each
        # keeps its own window when Redis is not shared): join its record.
        wave = _recent_like(screening.fingerprint, now - config["ANTISPAM_WINDOW"])
    if screening.new_wave and wave is None:
        wave = SpamWave(
            status=WaveStatus.OPEN,
            reason=screening.summary[:200],
            skeleton=screening.fingerprint.skeleton[:1000],
            batch=secrets.token_hex(8),
        )
        db.session.add(wave)
        db.session.flush()
        audit("wave", None, comment, detail={"wave": wave.id, "reason": wave.reason})
    elif screening.wave_id is not None:
        wave = db.session.get(SpamWave, screening.wave_id)
    stragglers: list[int] = []
    if wave is not None:
        stragglers = [s.post for s in screening.similar if s.wave is None]
        if screening.new_wave and wave.status in ACTIVE:
            # The window shows only the most recent similar posts (and, without Redis,
            # only this worker's): look for the wave's earlier posts in the database.
            since = now - config["ANTISPAM_WINDOW"]
            stragglers = list(
                dict.fromkeys(stragglers + _similar_pending(screening.fingerprint, since))
            )
        known = set(
            db.session.execute(
                select(SpamWaveMember.comment_id).where(
                    SpamWaveMember.comment_id.in_(stragglers + [comment.id])
                )
            ).scalars()
        )
        for post in [*stragglers, comment.id]:
            if post not in known:
                db.session.add(SpamWaveMember(comment_id=post, wave_id=wave.id))
        if wave.status in ACTIVE:
            db.session.execute(
                update(SpamWave)
                .where(SpamWave.id == wave.id)
                .values(last_seen_at=datetime.now(UTC))
                .execution_options(synchronize_session=False)
            )
    fp = screening.fingerprint
    rt.window.add(
        Seen(
            comment.id,
            now,
            screening.sender,
            screening.article,
            bool(fp.contacts),
            fp.signature,
            tuple(fp.contact_keys()),
            wave.id if wave is not None else None,
        ),
        fp.band_keys() + fp.contact_keys(),
        config["ANTISPAM_WINDOW"],
    )
    if wave is None:
        return
    if stragglers:
        rt.window.set_wave(stragglers, wave.id)
    if wave.status in ACTIVE:
        attack_mode.trigger(f"wave #{wave.id}", now, commit=False)
    if stragglers and wave.status in ACTIVE:
        moderation.apply_many(
            stragglers,
            moderation.Action.SPAM,
            by=None,
            reason=f"wave #{wave.id}: {wave.reason}"[:200],
            batch=wave.batch,
            expected=Status.PENDING,
        )


SWEEP_SCAN_MAX = 5000


def _similar_pending(found: Fingerprint, since: float) -> list[int]:
    """Pending comments of the window's span, in no wave yet, like this one (text or contact).

    Runs once per wave and worker, when the wave starts: at most SWEEP_SCAN_MAX
    comments are fingerprinted (about 0.1 ms each).
    """
    threshold = _threshold(found)
    plain = current_app.config["ANTISPAM_SIMILARITY"]
    contacts = set(found.contacts)
    rows = db.session.execute(
        select(Comment.id, Comment.body)
        .outerjoin(SpamWaveMember, SpamWaveMember.comment_id == Comment.id)
        .where(SpamWaveMember.comment_id.is_(None))
        .where(Comment.status == Status.PENDING, Comment.deleted_at.is_(None))
        .where(Comment.created_at >= datetime.fromtimestamp(since, UTC))
        .order_by(Comment.id.desc())
        .limit(SWEEP_SCAN_MAX)
    ).all()
    like = []
    for comment_id, body in rows:
        other = fingerprint(body)
        score = similarity(other.signature, found.signature)
        if contacts.intersection(other.contacts) or score >= (
            threshold if other.contacts else plain
        ):
            like.append(comment_id)
    return like


def _recent_like(found: Fingerprint, since: float) -> SpamWave | None:
    """An active wave started within the window whose text is like this one."""
    recent = db.session.execute(
        select(SpamWave)
        .where(SpamWave.status.in_(ACTIVE))
        .where(SpamWave.created_at >= datetime.fromtimestamp(since, UTC))
        .order_by(SpamWave.id)
        .limit(50)
    ).scalars()
    threshold = current_app.config["ANTISPAM_SIMILARITY"]
    for wave in recent:
        if similarity(signature_of(wave.skeleton or ""), found.signature) >= threshold:
            return wave
    return None


# --- what moderators see and do ----------------------------------------------------------


@dataclass
class WaveSummary:
    """One wave as the dashboard lists it."""

    wave: SpamWave
    posts: int
    addresses: int
    articles: int
    pending: int
    samples: list[str]


def summaries(
    statuses: tuple[WaveStatus, ...] = (WaveStatus.OPEN,), limit: int = 50
) -> list[WaveSummary]:
    """Waves (newest activity first) with their counts and a few sample texts."""
    waves = list(
        db.session.execute(
            select(SpamWave)
            .where(SpamWave.status.in_(statuses))
            .order_by(SpamWave.last_seen_at.desc(), SpamWave.id.desc())
            .limit(limit)
        ).scalars()
    )
    if not waves:
        return []
    ids = [w.id for w in waves]
    counts = {
        row[0]: row[1:]
        for row in db.session.execute(
            select(
                SpamWaveMember.wave_id,
                func.count(Comment.id),
                func.count(distinct(Comment.remote_addr)),
                func.count(distinct(Comment.article_id)),
            )
            .join(Comment, Comment.id == SpamWaveMember.comment_id)
            .where(SpamWaveMember.wave_id.in_(ids))
            .group_by(SpamWaveMember.wave_id)
        ).all()
    }
    pending = dict(
        db.session.execute(
            select(SpamWaveMember.wave_id, func.count(Comment.id))
            .join(Comment, Comment.id == SpamWaveMember.comment_id)
            .where(SpamWaveMember.wave_id.in_(ids), Comment.status == Status.PENDING)
            .where(Comment.deleted_at.is_(None))
            .group_by(SpamWaveMember.wave_id)
        ).all()
    )
    result = []
    for wave in waves:
        bodies = db.session.execute(
            select(Comment.body)
            .join(SpamWaveMember, SpamWaveMember.comment_id == Comment.id)
            .where(SpamWaveMember.wave_id == wave.id)
            .order_by(Comment.id.desc())
            .limit(SAMPLES * 4)
        ).scalars()
        samples = list(dict.fromkeys(bodies))[:SAMPLES]
        posts, addresses, articles = counts.get(wave.id, (0, 0, 0))
        waiting = pending.get(wave.id, 0)
        result.append(WaveSummary(wave, posts, addresses, articles, waiting, samples))
    return result


def open_count() -> int:
    return db.session.execute(
        select(func.count(SpamWave.id)).where(SpamWave.status == WaveStatus.OPEN)
    ).scalar_one()


class WaveDecided(ServiceError):
    status = 409
    code = "wave_decided"
    message = lazy_gettext("This wave has already been decided.")


def _member_ids(wave_id: int, status: Status) -> list[int]:
    return list(
        db.session.execute(
            select(Comment.id)
            .join(SpamWaveMember, SpamWaveMember.comment_id == Comment.id)
            .where(SpamWaveMember.wave_id == wave_id, Comment.status == status)
            .where(Comment.deleted_at.is_(None))
        ).scalars()
    )


def _get_open(wave_id: int) -> SpamWave:
    wave = db.session.get(SpamWave, wave_id)
    if wave is None:
        raise NotFound(lazy_gettext("No such wave."))
    if wave.status != WaveStatus.OPEN:
        raise WaveDecided()
    return wave


def _decide(wave: SpamWave, status: WaveStatus, by: Moderator, batch: str) -> None:
    result = db.session.execute(
        update(SpamWave)
        .where(SpamWave.id == wave.id, SpamWave.status == WaveStatus.OPEN)
        .values(status=status, decided_by_id=by.id, decided_at=datetime.now(UTC))
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise WaveDecided()
    audit(f"wave_{status.value}", by, detail={"wave": wave.id, "before": "open"}, batch=batch)


@dataclass
class WaveResult:
    wave: int
    moved: list[int]
    batch: str


def confirm(wave_id: int, by: Moderator) -> WaveResult:
    """A moderator confirms the wave as spam: it leaves the list; pending members go to spam."""
    wave = _get_open(wave_id)
    batch = secrets.token_hex(8)
    _decide(wave, WaveStatus.CONFIRMED, by, batch)
    result = moderation.apply_many(
        _member_ids(wave.id, Status.PENDING),
        moderation.Action.SPAM,
        by=by,
        reason=f"wave #{wave.id} confirmed",
        batch=batch,
        expected=Status.PENDING,
    )
    return WaveResult(wave.id, result.done, batch)


def release(wave_id: int, by: Moderator) -> WaveResult:
    """A false positive: its spam members go back to pending, and similar posts are let be."""
    wave = _get_open(wave_id)
    batch = secrets.token_hex(8)
    _decide(wave, WaveStatus.RELEASED, by, batch)
    result = moderation.apply_many(
        _member_ids(wave.id, Status.SPAM),
        moderation.Action.RESTORE,
        by=by,
        reason=f"wave #{wave.id} released",
        batch=batch,
        expected=Status.SPAM,
    )
    return WaveResult(wave.id, result.done, batch)


def undo(batch: str, by: Moderator) -> WaveResult:
    """Undo a confirm or a release: the wave is open again, its members back where they were."""
    entries = list(
        db.session.execute(
            select(AuditEntry).where(AuditEntry.batch == batch).order_by(AuditEntry.id)
        ).scalars()
    )
    decision = next((e for e in entries if e.action.startswith("wave_")), None)
    if decision is None or not decision.detail:
        raise NotFound(lazy_gettext("Nothing to undo."))
    wave_id = int(json.loads(decision.detail)["wave"])
    undone_status = WaveStatus(decision.action.removeprefix("wave_"))
    result = db.session.execute(
        update(SpamWave)
        .where(SpamWave.id == wave_id, SpamWave.status == undone_status)
        .values(status=WaveStatus.OPEN, decided_by_id=None, decided_at=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise WaveDecided(lazy_gettext("This step has already been undone."))
    new_batch = secrets.token_hex(8)
    audit("wave_undo", by, detail={"wave": wave_id, "undoes": batch}, batch=new_batch)
    # Each comment the step moved goes back, if it is still where the step left it.
    moved = [e.comment_id for e in entries if e.comment_id is not None]
    if undone_status == WaveStatus.CONFIRMED:
        action, now_in = moderation.Action.RESTORE, Status.SPAM
    else:
        action, now_in = moderation.Action.SPAM, Status.PENDING
    done = moderation.apply_many(
        moved,
        action,
        by=by,
        reason=f"undo: wave #{wave_id}",
        batch=new_batch,
        expected=now_in,
    )
    return WaveResult(wave_id, done.done, new_batch)
