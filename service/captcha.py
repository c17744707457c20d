"""Image and audio captcha: server-keyed, single-use, expiring, stateless to issue.

A challenge is a random nonce in a signed, timestamped token. Its answer is
derived from an HMAC of the nonce under the server's secret, so the answer is
never sent to the client (not in the token, not in a cookie) and issuing a
challenge writes nothing. Answering spends the nonce: a row in ``spent_captcha``
under a primary key, so of two racing requests exactly one wins. The same
token always renders the same image and sound (the renderer is seeded from the
server-keyed nonce), so reloading an image gives an attacker nothing new. The sound is
spoken by our own voices (service/captcha_audio.py), not the captcha package's.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import random
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import captcha.image
from captcha.image import ColorTuple, ImageCaptcha, random_color
from flask import Flask, current_app
from flask_babel import lazy_gettext
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from PIL import Image, ImageDraw
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from .captcha_audio import VoiceCaptcha
from .errors import FieldError
from .extensions import db
from .metrics import CAPTCHAS
from .models import SpentCaptcha

log = logging.getLogger(__name__)

# No look-alikes: 0/O/Q, 1/I/L, 2/Z, 5/S, 8/B, 6/G, U/V are left out.
ALPHABET = "3479ACDEFHJKMNPRTWXY"
TEST_MODE_ANSWER = "PASSED"
FONTS_DIR = Path(__file__).parent / "fonts"
FONT_SIZES = (44, 48, 52)


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


def _uniform(low: float, high: float) -> float:
    """A float in [low, high), from the seeded generator while a challenge renders."""
    return low + (high - low) * _seeded.randbits(32) / 2**32


class ClearImageCaptcha(ImageCaptcha):
    """The library's renderer, tuned to be read by a person at the first try.

    Every glyph is drawn whole and placed whole. The library's warp cuts bits off its
    glyphs at their layer's edge, and its layout overlaps neighbours by up to a third
    of a glyph (then squeezes text wider than the image), so characters came out cut
    off or run together. Here each glyph is rotated and warped inside padding wide
    enough to lose no ink, and the glyphs are laid out by their ink boxes: inside a
    margin, neighbours overlapping by at most ``character_overlap`` of the narrower one,
    all scaled down alike when they would not fit. ``scripts/captcha_layout.py``
    measures this over thousands of images (and tests/test_captcha_layout.py over 300).
    """

    character_rotate = (-20, 20)
    # Each corner of a glyph moves by up to this share of the glyph's width (height).
    character_warp_dx = (0.05, 0.12)
    character_warp_dy = (0.05, 0.12)
    # Neighbours' ink boxes: from this much overlap (of the narrower) to this much gap.
    character_overlap = 0.08
    character_gap = 0.15
    # Clear pixels between any glyph's ink and the image's edge (before smoothing).
    margin = 4
    # Text (and noise) colour channels: at most 140 keeps every colour at 3:1 contrast or
    # more (WCAG, large text) on the library's backgrounds (238-255); its 200 allowed 1.6:1.
    text_colour = (10, 140)

    def generate_image(
        self,
        chars: str,
        bg_color: ColorTuple | None = None,
        fg_color: ColorTuple | None = None,
    ) -> Image.Image:
        """The library's image, with a text colour that stands out from the background."""
        if fg_color is None:
            fg_color = random_color(*self.text_colour)
        return super().generate_image(chars, bg_color=bg_color, fg_color=fg_color)

    def _glyph(self, char: str) -> Image.Image:
        """One character's ink as a mask, rotated and warped, cropped to its ink."""
        font = _seeded.choice(self.truefonts)
        left, top, right, bottom = font.getbbox(char)
        mask = Image.new("L", (right - left + 2, bottom - top + 2))
        ImageDraw.Draw(mask).text((1 - left, 1 - top), char, font=font, fill=255)
        mask = mask.crop(mask.getbbox())
        angle = _uniform(*self.character_rotate)
        mask = mask.rotate(angle, Image.Resampling.BILINEAR, expand=True)
        return self._warp(mask)

    def _warp(self, mask: Image.Image) -> Image.Image:
        """Move each corner of the glyph a little, in padding wide enough to lose no ink."""
        width, height = mask.size
        dx = width * _uniform(*self.character_warp_dx)
        dy = height * _uniform(*self.character_warp_dy)
        # A corner moved inwards by at most the padding still encloses the whole glyph.
        pad_x, pad_y = math.ceil(dx) + 2, math.ceil(dy) + 2
        padded = Image.new("L", (width + 2 * pad_x, height + 2 * pad_y))
        padded.paste(mask, (pad_x, pad_y))
        right, bottom = padded.size
        corners = [(0, 0), (0, bottom), (right, bottom), (right, 0)]  # the order QUAD wants
        quad = [
            coordinate
            for x, y in corners
            for coordinate in (x + _uniform(-dx, dx), y + _uniform(-dy, dy))
        ]
        warped = padded.transform(
            padded.size, Image.Transform.QUAD, quad, Image.Resampling.BILINEAR
        )
        return warped.crop(warped.getbbox())

    def _layout(self, glyphs: list[Image.Image]) -> list[tuple[Image.Image, int, int]]:
        """Place the glyphs by their ink: inside the margin, each whole, barely touching."""
        if not glyphs:
            return []
        room_x = max(1, self._width - 2 * self.margin)
        room_y = max(1, self._height - 2 * self.margin)
        shares = [_uniform(-self.character_overlap, self.character_gap) for _ in glyphs[1:]]

        def gaps(sized: list[Image.Image]) -> list[int]:
            # Rounded towards a gap, so that no overlap exceeds its share.
            return [
                math.ceil(share * min(a.width, b.width))
                for share, a, b in zip(shares, sized, sized[1:], strict=False)
            ]

        def span(sized: list[Image.Image]) -> int:
            return sum(g.width for g in sized) + sum(gaps(sized))

        def fits(sized: list[Image.Image]) -> bool:
            return span(sized) <= room_x and max(g.height for g in sized) <= room_y

        # Too wide or too tall: scale all glyphs down alike, a little more if rounding
        # left them a pixel too big (bounded, so an absurdly small image cannot hang).
        sized = glyphs
        scale = min(1.0, room_x / span(glyphs), room_y / max(g.height for g in glyphs))
        while not fits(sized) and scale > 0.1:
            sized = [_scaled(g, scale) for g in glyphs]
            scale *= 0.98
        # Spread part of the spare room between the glyphs, the rest around them.
        spare = max(0, room_x - span(sized))
        steps = [gap + _seeded.randbelow(spare // len(sized) + 1) for gap in gaps(sized)]
        ink_width = sum(g.width for g in sized) + sum(steps)
        x = self.margin + _seeded.randbelow(max(0, room_x - ink_width) + 1)
        placed = []
        for glyph, step in zip(sized, [*steps, 0], strict=True):
            y = self.margin + _seeded.randbelow(max(0, room_y - glyph.height) + 1)
            placed.append((glyph, x, y))
            x += glyph.width + step
        return placed

    def create_captcha_image(
        self, chars: str, color: ColorTuple, background: ColorTuple
    ) -> Image.Image:
        """The characters on the background, each whole and inside the margin."""
        image = Image.new("RGB", (self._width, self._height), background)
        for glyph, x, y in self._layout([self._glyph(char) for char in chars]):
            # A clear pixel around the ink: the glyph is whole, not cut at its layer's edge.
            layer = glyph.crop((-1, -1, glyph.width + 1, glyph.height + 1))
            # The mask is the glyph's coverage, so every colour is drawn solid; the
            # library's mask (the colour's brightness) made dark colours faint.
            image.paste(color[:3], (x - 1, y - 1), layer)
        return image


def _scaled(glyph: Image.Image, scale: float) -> Image.Image:
    size = (max(1, int(glyph.width * scale)), max(1, int(glyph.height * scale)))
    resized = glyph.resize(size, Image.Resampling.BILINEAR)
    return resized.crop(resized.getbbox())


def image_renderer(width: int, height: int) -> ClearImageCaptcha:
    """The image renderer for captchas of this size, fonts loaded."""
    fonts = sorted(str(p) for p in FONTS_DIR.glob("*.ttf"))
    image = ClearImageCaptcha(width=width, height=height, fonts=fonts, font_sizes=FONT_SIZES)
    image.truefonts  # noqa: B018 - load the fonts now, not on the first request
    return image


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
    image = image_renderer(app.config["CAPTCHA_WIDTH"], app.config["CAPTCHA_HEIGHT"])
    audio = VoiceCaptcha()
    if not audio.speaks(ALPHABET):
        raise RuntimeError("service/voices/ lacks a captcha character: run scripts/make_voices.py")
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


def _audio_rng(nonce: str) -> random.Random:
    return random.Random(_keyed("render-audio", nonce))


def render_wav(token: str) -> bytes:
    """The spoken challenge as WAV, for readers who cannot see the image (same token, same WAV)."""
    nonce = nonce_of(token)
    audio: VoiceCaptcha = current_app.extensions["captcha"]["audio"]
    return audio.wav(answer_for(nonce), _audio_rng(nonce))


def wav_size(token: str) -> int:
    """The size of the challenge's WAV in bytes, without rendering it (for HEAD)."""
    nonce = nonce_of(token)
    audio: VoiceCaptcha = current_app.extensions["captcha"]["audio"]
    return audio.wav_size(answer_for(nonce), _audio_rng(nonce))


def normalise_answer(answer: str) -> str:
    return "".join(answer.split()).upper()


@dataclass(frozen=True)
class Spent:
    """What answering a challenge came to.

    ``replay`` marks a token already spent by a right answer and answered rightly
    again: a retry of a submission whose answer the reader never received (the
    caller then returns the first answer instead of storing a second comment).
    """

    error: FieldError | None
    nonce: str | None = None
    replay: bool = False


ALREADY_USED = lazy_gettext("This captcha has already been used. Please get a new one.")


def spend(token: str | None, answer: str | None) -> FieldError | None:
    """Spend a token and check its answer: None if right, else the field error."""
    spent = answer_challenge(token, answer)
    return FieldError(INVALID, ALREADY_USED) if spent.replay else spent.error


def answer_challenge(token: str | None, answer: str | None) -> Spent:
    """Spend a token and check its answer (counted as solved or failed); says if a replay."""
    spent = _spend(token, answer)
    if not spent.replay:
        CAPTCHAS.labels("failed" if spent.error else "solved").inc()
    return spent


def _check(nonce: str, answer: str | None) -> FieldError | None:
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


def _spend(token: str | None, answer: str | None) -> Spent:
    """Spend a token and check its answer.

    The token is spent whatever the answer, right or wrong, and is committed at
    once so that a failed submission cannot retry the same challenge.
    """
    if not token:
        return Spent(FieldError(INVALID, lazy_gettext("Please enter the captcha.")))
    try:
        nonce = nonce_of(token)
    except CaptchaError as exc:
        return Spent(exc.field_error)
    error = _check(nonce, answer)
    if _mark_spent(nonce, solved=error is None):
        return Spent(error, nonce)
    # Plain columns, not an object: nothing of the row stays in the session.
    solved_before = db.session.execute(
        select(SpentCaptcha.solved).where(SpentCaptcha.nonce == nonce)
    ).scalar_one_or_none()
    if error is None and solved_before:
        return Spent(None, nonce, replay=True)
    return Spent(FieldError(INVALID, ALREADY_USED), nonce)


def _mark_spent(nonce: str, solved: bool) -> bool:
    """Record the nonce as spent; False if it already was (a race has one winner)."""
    now = datetime.now(UTC)
    ttl = timedelta(seconds=current_app.config["CAPTCHA_TTL"])
    row = SpentCaptcha(nonce=nonce, expires_at=now + ttl, solved=solved)
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    # Not kept in the session: a second answer in the same session must reach the
    # database (and its primary key), not collide with this object.
    db.session.expunge(row)
    # Keep the table small: tokens past their TTL are refused by their signature.
    if secrets.randbelow(100) == 0:
        purge_spent(now)
    return True


def link_comment(nonce: str, comment_id: int) -> None:
    """Remember which comment a spent challenge made, in the caller's transaction."""
    db.session.execute(
        update(SpentCaptcha).where(SpentCaptcha.nonce == nonce).values(comment_id=comment_id)
    )


def comment_made_by(nonce: str, wait: float = 2.0) -> int | None:
    """The comment a spent challenge made; waits briefly for one still being stored."""
    deadline = time.monotonic() + wait
    while True:
        db.session.rollback()  # a fresh snapshot each time
        comment_id = db.session.execute(
            select(SpentCaptcha.comment_id).where(SpentCaptcha.nonce == nonce)
        ).scalar_one_or_none()
        if comment_id is not None:
            return comment_id
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


def purge_spent(now: datetime | None = None) -> int:
    """Delete spent nonces whose tokens have expired anyway."""
    result = db.session.execute(
        delete(SpentCaptcha).where(SpentCaptcha.expires_at < (now or datetime.now(UTC)))
    )
    db.session.commit()
    return result.rowcount or 0
