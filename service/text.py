"""Cleaning and checking of what readers type: nicknames and comment text."""

from __future__ import annotations

import re
import unicodedata

from flask_babel import lazy_gettext

from .errors import FieldError

# Controls other than newline and tab, bidi embedding/override/isolate marks
# (they can reverse how a line reads), and lone surrogates (not storable).
_FORBIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
)
# Invisible characters that only serve to disguise a nickname, or fake content.
_INVISIBLE = re.compile("[\u200b\u2060\ufeff\u00ad\u115f\u1160\u3164\uffa0]")
_SPACES = re.compile(r"\s+")
# A link in comment text: up to a space, a quote or CJK/full-width punctuation.
URL_PATTERN = re.compile(r"https?://[^\s<>\"'\u3000-\u303f\uff01-\uff5e]+")
# NFC makes a text at most three times longer (Unicode's stated bound), so a raw
# text longer than this many times the limit is too long whatever it normalises to:
# refuse it without normalising (normalisation can be slow on crafted input).
NFC_EXPANSION = 3
# Combining marks one base character may carry. Real writing needs few (Vietnamese
# two, Devanagari or Tibetan stacks a handful); "Zalgo" text stacks dozens, and long
# runs of them make normalisation quadratic (CPython sorts them by insertion).
MAX_COMBINING_RUN = 8


def _combining_class_ranges() -> str:
    """A regex character class of every code point with a nonzero combining class."""
    ranges: list[tuple[int, int]] = []
    # Every such mark lies in U+0300..U+1FFFF (the last, U+1E94A, in Unicode 15).
    for code in range(0x300, 0x20000):
        if unicodedata.combining(chr(code)):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)


_COMBINING_RUN = re.compile(f"[{_combining_class_ranges()}]{{{MAX_COMBINING_RUN + 1},}}")


def too_many_marks(value: str) -> bool:
    """True when some character carries more than MAX_COMBINING_RUN combining marks."""
    return _COMBINING_RUN.search(value) is not None


def strip_forbidden(value: str) -> str:
    return _FORBIDDEN.sub("", value)


def normalise_newlines(value: str) -> str:
    return value.replace("\r\n", "\n").replace("\r", "\n")


def clean_body(value: object, max_length: int) -> tuple[str, FieldError | None]:
    """Comment text as it will be stored, and the problem with it if any.

    Length is counted in Unicode characters after line endings are normalised,
    never in bytes; text that is only whitespace counts as empty.
    """
    if value is None:
        value = ""
    if not isinstance(value, str):
        return "", FieldError("invalid", lazy_gettext("The comment must be text."))
    if len(value) > NFC_EXPANSION * max_length and not _FORBIDDEN.search(value):
        return value[:max_length], _body_too_long(max_length, len(value))
    if too_many_marks(value):
        return value[:max_length], _stacked_marks()
    text = unicodedata.normalize("NFC", normalise_newlines(value)).strip()
    if _FORBIDDEN.search(text):
        return text, FieldError(
            "forbidden_characters", lazy_gettext("The comment contains characters not allowed.")
        )
    # Zero-width joiners stay (emoji need them), but text that shows nothing is empty.
    if not _INVISIBLE.sub("", text).replace("\u200c", "").replace("\u200d", "").strip():
        return text, FieldError("required", lazy_gettext("Please write a comment."))
    if len(text) > max_length:
        return text, _body_too_long(max_length, len(text))
    return text, None


def _body_too_long(max_length: int, length: int) -> FieldError:
    return FieldError(
        "too_long",
        lazy_gettext(
            "The comment can be at most %(max)d characters (now %(length)d).",
            max=max_length,
            length=length,
        ),
    )


def _stacked_marks() -> FieldError:
    return FieldError(
        "forbidden_characters",
        lazy_gettext(
            "Too many accents or marks are stacked on one character (at most %(max)d).",
            max=MAX_COMBINING_RUN,
        ),
    )


def clean_nickname(value: object, max_length: int, default: str) -> tuple[str, FieldError | None]:
    """Nickname as stored: one line, invisible characters removed, default if empty."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        return "", FieldError("invalid", lazy_gettext("The nickname must be text."))
    if _FORBIDDEN.search(value):
        return value, FieldError(
            "forbidden_characters", lazy_gettext("The nickname contains characters not allowed.")
        )
    if len(value) > NFC_EXPANSION * max_length:
        return value[:max_length], _nickname_too_long(max_length)
    if too_many_marks(value):
        return value[:max_length], _stacked_marks()
    name = _SPACES.sub(" ", _INVISIBLE.sub("", unicodedata.normalize("NFC", value))).strip()
    if not name:
        return default, None
    if len(name) > max_length:
        return name, _nickname_too_long(max_length)
    return name, None


def _nickname_too_long(max_length: int) -> FieldError:
    return FieldError(
        "too_long", lazy_gettext("The nickname can be at most %(max)d characters.", max=max_length)
    )
