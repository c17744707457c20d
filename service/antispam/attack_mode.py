"""The automatic "under attack" mode: on with a surge or a wave, off by itself.

It switches on when posting attempts pass ``ATTACK_SITE_RATE`` a minute
site-wide or ``ATTACK_ARTICLE_RATE`` a minute on one article (counted by the
posting limit, so not with ``RATELIMIT_ENABLED=false``), or when a spam wave is
detected. Every further trigger keeps it on; ``ATTACK_COOLDOWN``
seconds after the last one it is off again. While it is on:

* each address may post no more than ``RATELIMIT_POST_UNDER_ATTACK`` besides
  ``RATELIMIT_POST`` (limits.py asks ``post_limit()``);
* with ``ATTACK_PROOF_OF_WORK``, a post needs an ALTCHA proof of work
  (``proof_of_work``): a SHA-256 puzzle of about ``ATTACK_POW_MAX_NUMBER / 2``
  hashes, bound to the captcha token (and so single-use with it), that the
  widget solves in the reader's browser. It only multiplies the attacker's
  cost; solvers exist. With ``CAPTCHA_TEST_MODE`` the value ``PASSED`` passes.

Both switches are recorded in the audit log as made by "system", with the
reason. The state lives in the shared window (Redis when configured).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import altcha
from flask import current_app, g, request
from flask_babel import lazy_gettext
from sqlalchemy.exc import SQLAlchemyError

from ..audit_log import audit
from ..errors import FieldError, ValidationFailed
from ..extensions import db
from .runtime import runtime

log = logging.getLogger(__name__)

STATE = "attack"
ACTION = "attack_mode"
PROOF_MAX_LENGTH = 2000
TEST_MODE_PROOF = "PASSED"


@dataclass(frozen=True)
class AttackState:
    """The mode while it is on: since when, until when (unless triggered again), and why."""

    since: float
    until: float
    reason: str

    @property
    def since_time(self) -> datetime:
        return datetime.fromtimestamp(self.since, UTC)


def _parse(raw: dict[str, Any] | None) -> AttackState | None:
    if not raw:
        return None
    try:
        return AttackState(float(raw["since"]), float(raw["until"]), str(raw["reason"]))
    except (KeyError, TypeError, ValueError):
        return None


def _state() -> AttackState | None:
    """The stored state (on or lately on); read once per request, then from ``g``."""
    if "antispam_state" in g:
        return g.antispam_state  # type: ignore[no-any-return]
    state = _parse(runtime().window.get_state(STATE))
    g.antispam_state = state
    return state


def _forget() -> None:
    g.pop("antispam_state", None)


def current(now: float | None = None) -> AttackState | None:
    """The mode's state if it is on now, else None."""
    state = _state()
    now = runtime().clock() if now is None else now
    return state if state is not None and now < state.until else None


def is_on(now: float | None = None) -> bool:
    return current(now) is not None


def _record(detail: dict[str, Any], commit: bool = True) -> None:
    """An audit entry by "system": in a transaction of its own (the request may yet be
    refused), or in the caller's (``commit=False``, posting's own transaction)."""
    if not commit:
        audit(ACTION, None, detail=detail)
        return
    try:
        audit(ACTION, None, detail=detail)
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.warning("attack mode: audit entry not written (database unavailable)")


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _state_ttl() -> float:
    # Kept well past its end, so that the instance that notices the end records it.
    return float(current_app.config["ATTACK_COOLDOWN"]) * 2 + 3600


def expire(now: float, commit: bool = True) -> None:
    """Switch off (and record it once) when the cooldown has passed since the last trigger."""
    state = _state()
    if state is not None and now >= state.until:
        taken = runtime().window.take_state(STATE)
        _forget()
        if taken is not None:
            detail = {"on": False, "since": _iso(state.since), "until": _iso(state.until)}
            _record(detail, commit)


def trigger(reason: str, now: float | None = None, commit: bool = True) -> None:
    """Switch on, or keep on for another cooldown; the switch on is recorded once."""
    rt = runtime()
    now = rt.clock() if now is None else now
    expire(now, commit)
    cooldown = float(current_app.config["ATTACK_COOLDOWN"])
    state = _state()
    if state is not None:
        if state.until - now < cooldown - 1:  # extend at most once a second
            value = {"since": state.since, "until": now + cooldown, "reason": state.reason}
            rt.window.set_state(STATE, value, _state_ttl())
            _forget()
        return
    value = {"since": now, "until": now + cooldown, "reason": reason[:200]}
    added = rt.window.add_state(STATE, value, _state_ttl())
    _forget()
    if added:
        log.warning("under-attack mode on: %s", reason[:200])
        _record({"on": True, "reason": reason[:200]}, commit)


def note_attempt(article: str | None, commit: bool = True) -> None:
    """Count one posting attempt (site-wide and on its article); a surge switches the mode on.

    Called by the posting limit for every POST of a comment before any limit
    refuses it, so that a refused flood still counts; once per request. With
    rate limits off (``RATELIMIT_ENABLED=false``, load tests) the limit is never
    asked, so nothing is counted and only a wave switches the mode on.
    """
    if g.get("antispam_counted"):
        return
    g.antispam_counted = True
    config = current_app.config
    rt = runtime()
    now = rt.clock()
    names = ["site"] + ([f"article:{article}"] if article else [])
    # The counters and the mode's state in one round trip; the state is then kept in g.
    rates, raw = rt.window.note(names, now, STATE)
    g.antispam_state = _parse(raw)
    site_rate = config["ATTACK_SITE_RATE"]
    article_rate = config["ATTACK_ARTICLE_RATE"]
    if site_rate and rates[0] >= site_rate:
        trigger(f"surge: {int(rates[0])} posts a minute site-wide", now, commit)
    elif article_rate and len(rates) > 1 and rates[1] >= article_rate:
        trigger(f"surge: {int(rates[1])} posts a minute on article {article}", now, commit)
    else:
        expire(now, commit)


def post_limit() -> str:
    """The per-address posting limit for this request: tighter while under attack."""
    config = current_app.config
    if config["ANTISPAM_ENABLED"]:
        try:
            note_attempt((request.view_args or {}).get("article"))
        except Exception:  # noqa: BLE001 - a failing counter must never refuse a post
            log.exception("antispam: counting a posting attempt failed")
        if is_on():
            # Both: the usual limit keeps its count (a switch must not hand every
            # address a fresh budget), the tighter one applies on top.
            return f"{config['RATELIMIT_POST']};{config['RATELIMIT_POST_UNDER_ATTACK']}"
    return config["RATELIMIT_POST"]


# --- proof of work ---------------------------------------------------------------------


def _hmac_key() -> str:
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hashlib.sha256(b"comments-altcha:" + secret).hexdigest()


def _binding(captcha_token: str) -> str:
    return hashlib.sha256(captcha_token.encode()).hexdigest()[:16]


def challenge_for(captcha_token: str) -> dict[str, Any] | None:
    """An ALTCHA challenge bound to this captcha token, while proof of work is asked for."""
    config = current_app.config
    if not (config["ANTISPAM_ENABLED"] and config["ATTACK_PROOF_OF_WORK"] and is_on()):
        return None
    expires = datetime.now(UTC) + timedelta(seconds=config["CAPTCHA_TTL"])
    challenge = altcha.create_challenge_v1(
        algorithm="SHA-256",
        max_number=int(config["ATTACK_POW_MAX_NUMBER"]),
        hmac_key=_hmac_key(),
        expires=expires,
        params={"c": _binding(captcha_token)},
    )
    return challenge.to_dict()  # type: ignore[no-any-return]


class ProofOfWorkRequired(ValidationFailed):
    """Under attack, a post needs the browser's proof of work; a challenge comes with this."""

    def __init__(self, field_error: FieldError, challenge: dict[str, Any] | None) -> None:
        super().__init__({"proof_of_work": field_error}, captcha_checked=False)
        self.code = "proof_of_work_required"
        self.message = field_error.message
        self.challenge = challenge

    def extra(self) -> dict[str, Any]:
        return {"proof_of_work": self.challenge} if self.challenge else {}


def _valid(proof: str, captcha_token: str) -> bool:
    try:
        payload = json.loads(base64.b64decode(proof, validate=True).decode())
    except (ValueError, UnicodeError):
        return False
    if not isinstance(payload, dict) or payload.get("algorithm") != "SHA-256":
        return False
    if not isinstance(payload.get("salt"), str) or not isinstance(payload.get("number"), int):
        return False
    ok, _error = altcha.verify_solution_v1(proof, _hmac_key(), check_expires=True)
    if not ok:
        return False
    params = urllib.parse.parse_qs(payload["salt"].partition("?")[2])
    return params.get("c") == [_binding(captcha_token)]


def check_proof(proof: object, captcha_token: object) -> None:
    """Raise ProofOfWorkRequired unless the mode is off or ``proof`` solves this token's puzzle.

    Checked before the captcha is spent: a reader whose browser has yet to
    solve the puzzle keeps the captcha answer they typed.
    """
    config = current_app.config
    if not (config["ANTISPAM_ENABLED"] and config["ATTACK_PROOF_OF_WORK"] and is_on()):
        return
    token = captcha_token if isinstance(captcha_token, str) else ""
    if isinstance(proof, str) and 0 < len(proof) <= PROOF_MAX_LENGTH and token:
        if config["CAPTCHA_TEST_MODE"] and proof == TEST_MODE_PROOF:
            return
        if _valid(proof, token):
            return
    message = lazy_gettext(
        "The site is under a spam attack: your browser must finish a short automatic "
        "check before posting. Please allow JavaScript and try again."
    )
    raise ProofOfWorkRequired(
        FieldError("proof_of_work_required", message), challenge_for(token) if token else None
    )
