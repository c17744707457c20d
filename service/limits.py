"""Rate limits shared by every way in: the widget's form and the JSON API count
posting in one bucket, and captchas with their images in another. The spoken captcha
counts in that bucket and in a stricter one of its own.

Posting is counted per portal user when the submission carries a valid signed
identity (many readers share one address behind a carrier's or an office's NAT,
and one user moving between addresses stays one user), else per client IP.
"""

from __future__ import annotations

from flask import Response, current_app, g, request
from flask_limiter.util import get_remote_address

from . import antispam, identity
from .errors import ValidationFailed
from .extensions import limiter


def _post_limit() -> str:
    # Tighter while the site is under attack; the attempt is counted for the surge.
    return antispam.post_limit()


def _captcha_limit() -> str:
    return current_app.config["RATELIMIT_CAPTCHA"]


def _captcha_audio_limit() -> str:
    return current_app.config["RATELIMIT_CAPTCHA_AUDIO"]


def _like_limit() -> str:
    return current_app.config["RATELIMIT_LIKE"]


def _report_limit() -> str:
    return current_app.config["RATELIMIT_REPORT"]


def _counts_against_limit(_response: Response) -> bool:
    return not g.get("free_attempt", False)


def free_attempt(error: ValidationFailed) -> None:
    """A submission refused for its fields alone, before the captcha: it costs no attempt."""
    if not error.captcha_checked:
        g.free_attempt = True


def _identity_field() -> object:
    if request.is_json:
        data = request.get_json(silent=True)
        return data.get("identity") if isinstance(data, dict) else None
    return request.form.get("identity")


def submitter_key() -> str:
    """The posting bucket: the portal user of a valid identity, else the client IP.

    An invalid identity counts against the IP (and the view answers 401).
    """
    if not current_app.config.get("IDENTITY_SECRET"):
        return get_remote_address()
    raw = _identity_field()
    if isinstance(raw, str) and raw:
        try:
            return identity.verify(raw).limit_key
        except identity.IdentityError:
            pass
    return get_remote_address()


# One limit for posting, whichever view receives the comment.
post_limit = limiter.shared_limit(
    _post_limit,
    scope="post-comment",
    key_func=submitter_key,
    deduct_when=_counts_against_limit,
)
captcha_limit = limiter.shared_limit(_captcha_limit, scope="captcha")
# A person listens to a few; a script that tries to recognise the speech wants many.
captcha_audio_limit = limiter.shared_limit(_captcha_audio_limit, scope="captcha-audio")
like_limit = limiter.shared_limit(_like_limit, scope="like")
report_limit = limiter.shared_limit(_report_limit, scope="report")
