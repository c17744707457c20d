"""Keeping a spam wave out of the moderators' queue, even when every captcha is solved.

The pieces: ``fingerprints`` (what a comment looks like to the detector),
``window`` (recent posts shared by every instance), ``waves`` (clusters of
similar posts from several senders, and what moderators do with them) and
``attack_mode`` (the automatic under-attack mode with its tighter limit and
proof of work). Posting uses ``screen``/``settle`` around triage,
``check_proof`` before the captcha and ``post_limit`` for the rate limit.
"""

from __future__ import annotations

from .attack_mode import (
    AttackState,
    ProofOfWorkRequired,
    challenge_for,
    check_proof,
    current,
    is_on,
    post_limit,
    trigger,
)
from .fingerprints import Fingerprint, fingerprint, similarity
from .models import SpamWave, SpamWaveMember, WaveStatus
from .runtime import Runtime, init_app, runtime
from .waves import (
    Screening,
    WaveDecided,
    WaveResult,
    WaveSummary,
    confirm,
    open_count,
    release,
    screen,
    settle,
    summaries,
    undo,
)

__all__ = [
    "AttackState",
    "Fingerprint",
    "ProofOfWorkRequired",
    "Runtime",
    "Screening",
    "SpamWave",
    "SpamWaveMember",
    "WaveDecided",
    "WaveResult",
    "WaveStatus",
    "WaveSummary",
    "challenge_for",
    "check_proof",
    "confirm",
    "current",
    "fingerprint",
    "init_app",
    "is_on",
    "open_count",
    "post_limit",
    "release",
    "runtime",
    "screen",
    "settle",
    "similarity",
    "summaries",
    "trigger",
    "undo",
]
