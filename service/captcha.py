"""Image and audio captcha: server-keyed, single-use, expiring, stateless to issue.

A challenge is a random nonce in a signed, timestamped token. Its answer is
derived from an HMAC of the nonce under the server's secret, so the answer is
never sent to the client (not in the token, not in a cookie) and issuing a
challenge writes nothing. Answering spends the nonce: a row in ``spent_captcha``
under a primary key, so of two racing requests exactly one wins. The same
token always renders the same image and sound (the renderer is seeded from the
server-keyed nonce), so reloading an image gives an attacker nothing new.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import captcha.audio
import captcha.image
from captcha.audio import AudioCaptcha
from captcha.image import ImageCaptcha
from flask import Flask, current_app
from flask_babel import lazy_gettext
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from .errors import FieldError
from .extensions import db
from .metrics import CAPTCHAS
from .models import SpentCaptcha

log = logging.getLogger(__name__)

# No look-alikes: 0/O/Q, 1/I/L, 2/Z, 5/S, 8/B, 6/G, U/V are left out.
ALPHABET = "3479ACDEFHJKMNPRTWXY"
TEST_MODE_ANSWER = "PASSED"
FONTS_DIR = Path(__file__).parent / "fonts"


class _SeededSecrets(threading.local):
    """Stands in for the ``secrets`` module inside the captcha package.

    The package draws its distortions from ``secrets``; while a thread renders a
    challenge we hand it a ``random.Random`` seeded from that challenge, so a
    token always renders the same image. Outside rendering it is ``secrets``.
    """

    rng: random.Random | None = None

    def randbelow(self, n: int) -> int:
        return self.rng.randrange(n) if self.rng else secrets.randbelow(n)

    def randbits(self, k: int) -> int:
        return self.rng.getrandbits(k) if self.rng else secrets.randbits(k)

    def choice(self, seq: Any) -> Any:
        return self.rng.choice(seq) if self.rng else secrets.choice(seq)


_seeded = _SeededSecrets()
captcha.image.secrets = _seeded  # type: ignore[attr-defined]
captcha.audio.secrets = _seeded  # type: ignore[attr-defined]


class ClearImageCaptcha(ImageCaptcha):
    """The library's renderer, tuned to be read by a person at the first try."""

    character_rotate = (-20, 20)
    character_warp_dx = (0.1, 0.2)
    character_warp_dy = (0.1, 0.2)
    # Extra spaces make the text wider than the image, which then gets squeezed.
    word_space_probability = 1.0


@dataclass(frozen=True)
class Challenge:
    token: str
    nonce: str


class CaptchaError(Exception):
    def __init__(self, field_error: FieldError) -> None:
        super().__init__(field_error.code)
        self.field_error = field_error


INVALID = "captcha_invalid"
EXPIRED = "captcha_expired"


def init_app(app: Flask) -> None:
    """Load fonts and voices once per process: they are slow to load."""
    fonts = sorted(str(p) for p in FONTS_DIR.glob("*.ttf"))
    image = ClearImageCaptcha(
        width=app.config["CAPTCHA_WIDTH"],
        height=app.config["CAPTCHA_HEIGHT"],
        fonts=fonts,
        font_sizes=(44, 48, 52),
    )
    image.truefonts  # noqa: B018 - load the fonts now, not on the first request
    audio = AudioCaptcha()
    audio.load()
    app.extensions["captcha"] = {"image": image, "audio": audio}
    if app.config["CAPTCHA_TEST_MODE"]:
        log.warning(
            "CAPTCHA TEST MODE IS ON: any valid token is answered by %r. Never use in production.",
            TEST_MODE_ANSWER,
        )


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="captcha-token")


def _keyed(purpose: str, nonce: str) -> bytes:
    key = current_app.config["SECRET_KEY"]
    key_bytes = key.encode() if isinstance(key, str) else key
    return hmac.new(key_bytes, f"{purpose}:{nonce}".encode(), hashlib.sha256).digest()


def answer_for(nonce: str) -> str:
    """The answer to a challenge: known only to holders of the secret key."""
    number = int.from_bytes(_keyed("answer", nonce), "big")
    chars = []
    for _ in range(current_app.config["CAPTCHA_LENGTH"]):
        number, index = divmod(number, len(ALPHABET))
        chars.append(ALPHABET[index])
    return "".join(chars)


def new_challenge() -> Challenge:
    """Issue a challenge. Writes nothing anywhere."""
    nonce = secrets.token_hex(16)
    CAPTCHAS.labels("issued").inc()
    return Challenge(token=_serializer().dumps(nonce), nonce=nonce)


def nonce_of(token: str, *, check_age: bool = True) -> str:
    """The nonce inside a token, or CaptchaError if it is forged or too old."""
    if not token.isascii():
        raise CaptchaError(
            FieldError(INVALID, lazy_gettext("The captcha is invalid. Please get a new one."))
        )
    try:
        max_age = current_app.config["CAPTCHA_TTL"] if check_age else None
        nonce = _serializer().loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise CaptchaError(
            FieldError(EXPIRED, lazy_gettext("The captcha has expired. Please get a new one."))
        ) from exc
    except BadSignature as exc:
        raise CaptchaError(
            FieldError(INVALID, lazy_gettext("The captcha is invalid. Please get a new one."))
        ) from exc
    if not isinstance(nonce, str) or len(nonce) != 32:
        raise CaptchaError(
            FieldError(INVALID, lazy_gettext("The captcha is invalid. Please get a new one."))
        )
    return nonce


def _render(nonce: str, draw: Any) -> bytes:
    rng = random.Random(_keyed("render", nonce))
    _seeded.rng = rng
    try:
        return draw(answer_for(nonce))
    finally:
        _seeded.rng = None


def render_png(token: str) -> bytes:
    """The PNG image of a challenge (same token, same image)."""
    nonce = nonce_of(token)
    image: ImageCaptcha = current_app.extensions["captcha"]["image"]
    return _render(nonce, lambda text: image.generate(text, format="png").getvalue())


def render_wav(token: str) -> bytes:
    """The spoken challenge as WAV, for readers who cannot see the image."""
    nonce = nonce_of(token)
    audio: AudioCaptcha = current_app.extensions["captcha"]["audio"]
    return _render(nonce, lambda text: bytes(audio.generate(text)))


def normalise_answer(answer: str) -> str:
    return "".join(answer.split()).upper()


def spend(token: str | None, answer: str | None) -> FieldError | None:
    """Spend a token and check its answer (counted as solved or failed)."""
    error = _spend(token, answer)
    CAPTCHAS.labels("failed" if error else "solved").inc()
    return error


def _spend(token: str | None, answer: str | None) -> FieldError | None:
    """Spend a token and check its answer: None if right, else the field error.

    The token is spent whatever the answer, right or wrong, and is committed at
    once so that a failed submission cannot retry the same challenge.
    """
    if not token:
        return FieldError(INVALID, lazy_gettext("Please enter the captcha."))
    try:
        nonce = nonce_of(token)
    except CaptchaError as exc:
        return exc.field_error
    if not _mark_spent(nonce):
        return FieldError(
            INVALID, lazy_gettext("This captcha has already been used. Please get a new one.")
        )
    given = normalise_answer(answer or "")
    if not given:
        return FieldError(INVALID, lazy_gettext("Please enter the captcha."))
    if not given.isascii():  # answers are ASCII; compare_digest refuses anything else
        return FieldError(INVALID, lazy_gettext("The captcha answer is wrong. Please try again."))
    if current_app.config["CAPTCHA_TEST_MODE"] and hmac.compare_digest(given, TEST_MODE_ANSWER):
        return None
    if hmac.compare_digest(given.encode(), answer_for(nonce).encode()):
        return None
    return FieldError(INVALID, lazy_gettext("The captcha answer is wrong. Please try again."))


def _mark_spent(nonce: str) -> bool:
    """Record the nonce as spent; False if it already was (a race has one winner)."""
    now = datetime.now(UTC)
    ttl = timedelta(seconds=current_app.config["CAPTCHA_TTL"])
    db.session.add(SpentCaptcha(nonce=nonce, expires_at=now + ttl))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    # Keep the table small: tokens past their TTL are refused by their signature.
    if secrets.randbelow(100) == 0:
        purge_spent(now)
    return True


def purge_spent(now: datetime | None = None) -> int:
    """Delete spent nonces whose tokens have expired anyway."""
    result = db.session.execute(
        delete(SpentCaptcha).where(SpentCaptcha.expires_at < (now or datetime.now(UTC)))
    )
    db.session.commit()
    return result.rowcount or 0
