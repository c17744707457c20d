"""The portal's signed identity of a reader (后台实名, 前台自愿).

The portal signs a JWT (HS256, ``COMMENTS_IDENTITY_SECRET``) with the claims
``sub`` (its user id), ``name`` (display name) and ``exp`` (expiry) and hands it
to the widget (``data-identity``) or sends it as the JSON API's ``identity``
field. The service only checks the signature: it never calls the portal.

The comment then belongs to that portal user (shown to moderators, never to the
public), trust rules and posting limits count per user, and the user's pending
comments follow them to any device that presents a valid identity.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import quote

import jwt
from flask import current_app
from flask_babel import lazy_gettext
from jwt.exceptions import InvalidSubjectError

from .errors import ServiceError

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("sub", "name", "exp")
# A JWT with these three claims is ~200 characters; anything much longer is not ours.
TOKEN_MAX_LENGTH = 4096
SUB_MAX_LENGTH = 128  # Comment.author_identity
NAME_MAX_LENGTH = 64  # Comment.author_identity_name
# HS256 needs a key of at least its hash size (RFC 7518, 3.2); PyJWT warns below it.
SECRET_MIN_LENGTH = 32


class IdentityError(ServiceError):
    """A submission's identity was refused: the reader should sign in (again)."""

    status = 401


class IdentityRequired(IdentityError):
    code = "identity_required"
    message = lazy_gettext("Please sign in to the portal to comment.")


class IdentityInvalid(IdentityError):
    code = "identity_invalid"
    message = lazy_gettext(
        "Your sign-in could not be verified (invalid signature). Please sign in again."
    )


class IdentityExpired(IdentityError):
    code = "identity_expired"
    message = lazy_gettext("Your sign-in has expired. Please reload the page or sign in again.")


@dataclass(frozen=True)
class Identity:
    """A portal user, as the portal's signature vouches for them."""

    sub: str
    name: str

    @property
    def limit_key(self) -> str:
        """This user's bucket in the rate limiter: a hash, no user id kept in Redis."""
        return "user:" + hashlib.sha256(self.sub.encode("utf-8")).hexdigest()[:32]


def _missing_claims() -> IdentityInvalid:
    return IdentityInvalid(
        lazy_gettext(
            "The sign-in token lacks a required claim: sub and name (strings) and exp (a time)."
        )
    )


def _not_configured() -> IdentityInvalid:
    return IdentityInvalid(
        lazy_gettext("This comment service accepts no portal sign-in (no identity secret).")
    )


def verify(token: object) -> Identity:
    """The identity a token proves, or IdentityExpired / IdentityInvalid.

    Only HS256 under the shared secret is accepted: ``alg: none``, RS256 made with
    the secret as a "public key" and every other algorithm are refused, as are
    tokens past ``exp`` (give or take ``IDENTITY_LEEWAY`` seconds of clock skew).
    """
    secret = current_app.config.get("IDENTITY_SECRET")
    if not secret:
        raise _not_configured()
    if not isinstance(token, str) or len(token) > TOKEN_MAX_LENGTH:
        raise IdentityInvalid()
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            leeway=current_app.config["IDENTITY_LEEWAY"],
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError:
        raise IdentityExpired() from None
    except (jwt.MissingRequiredClaimError, InvalidSubjectError):
        raise _missing_claims() from None
    except jwt.InvalidTokenError:
        raise IdentityInvalid() from None
    sub, name = claims.get("sub"), claims.get("name")
    if not isinstance(sub, str) or not isinstance(name, str):
        raise _missing_claims()
    sub, name = sub.strip(), " ".join(name.split())
    if not sub or len(sub) > SUB_MAX_LENGTH or not sub.isprintable():
        raise IdentityInvalid(
            lazy_gettext("The sign-in token's sub must be 1 to 128 printable characters.")
        )
    return Identity(sub=sub, name=name[:NAME_MAX_LENGTH])


def from_field(raw: object) -> Identity | None:
    """The identity sent with a submission: None when none was sent, else verified.

    With ``REQUIRE_IDENTITY`` a submission without one is refused (IdentityRequired).
    """
    if raw is None or raw == "":
        if current_app.config["REQUIRE_IDENTITY"]:
            raise IdentityRequired()
        return None
    return verify(raw)


def check_settings(config: dict[str, object]) -> None:
    """Refuse to start with identity settings that cannot work (checked in the factory)."""
    secret = config.get("IDENTITY_SECRET")
    if secret is not None and (not isinstance(secret, str) or len(secret) < SECRET_MIN_LENGTH):
        raise RuntimeError(
            f"COMMENTS_IDENTITY_SECRET must be at least {SECRET_MIN_LENGTH} characters "
            "(HS256 needs a 256-bit key); generate one with `openssl rand -hex 32`"
        )
    if config.get("REQUIRE_IDENTITY") and not secret:
        raise RuntimeError("COMMENTS_REQUIRE_IDENTITY needs COMMENTS_IDENTITY_SECRET")
    login_url = config.get("LOGIN_URL")
    if login_url is not None and (
        not isinstance(login_url, str) or not login_url.startswith(("https://", "http://"))
    ):
        raise RuntimeError("COMMENTS_LOGIN_URL must be an http(s) address")


def login_url(article_url: str | None) -> str | None:
    """Where the widget's "登录后评论" link goes: ``LOGIN_URL`` with the article's address.

    ``{url}`` in the setting is replaced by the article's URL (percent-encoded);
    without it, ``next=<url>`` is appended. Only a URL on an allowed portal origin
    is passed on (the caller checks it): the link must not become an open redirect.
    """
    base = current_app.config.get("LOGIN_URL")
    if not base:
        return None
    encoded = quote(article_url or "", safe="")
    if "{url}" in base:
        return base.replace("{url}", encoded)
    if not article_url:
        return base
    return f"{base}{'&' if '?' in base else '?'}next={encoded}"
