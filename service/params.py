"""Parsing what arrives in query strings and forms: page numbers, sort orders, whole
numbers. Every view and service reads these values through here, so the limits and
the messages are the same everywhere.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from flask_babel import lazy_gettext

from .errors import BadRequest

# Deep pages cost the database more than they give anyone: moderators may page far
# (they are signed in), the public only so far (20,000 threads at 20 a page).
MAX_PAGE = 100_000
MAX_PUBLIC_PAGE = 1_000


def whole_number(value: str | None, limit: int = 10**12) -> int | None:
    """A non-negative whole number typed in a form (ASCII digits only), else None."""
    value = (value or "").strip()
    if not value or len(value) > 20 or not value.isascii() or not value.isdigit():
        return None
    if int(value) > limit:
        return None
    return int(value)


def whole_numbers(values: list[str], most: int = 500) -> list[int]:
    """The whole numbers among form values (e.g. selected ids), at most ``most``."""
    numbers = [n for n in (whole_number(v) for v in values) if n is not None]
    return numbers[:most]


def check_page(value: object, maximum: int = MAX_PAGE) -> int:
    """A page number from 1 to ``maximum`` (1 when absent), else BadRequest."""
    if value is None or value == "":
        return 1
    page = whole_number(str(value), limit=10**9)
    if page is None:
        raise BadRequest(lazy_gettext("The page number must be a whole number."))
    if not 1 <= page <= maximum:
        raise BadRequest(lazy_gettext("The page number is out of range."))
    return page


def check_public_page(value: object) -> int:
    """A page number a reader (no sign-in) may ask for: 1 to MAX_PUBLIC_PAGE."""
    return check_page(value, MAX_PUBLIC_PAGE)


class Sort(enum.StrEnum):
    NEWEST = "newest"  # 最新
    POPULAR = "popular"  # 最热


def check_sort(value: object) -> Sort:
    """The comment order a reader asked for (newest when absent), else BadRequest."""
    if value in (None, ""):
        return Sort.NEWEST
    try:
        return Sort(str(value))
    except ValueError:
        raise BadRequest(lazy_gettext("Sort by 'newest' or 'popular'.")) from None


def text_filter(value: str | None, max_length: int) -> str | None:
    """A filter typed by a person: trimmed, cut to ``max_length``, None when empty."""
    return (value or "").strip()[:max_length] or None


@dataclass
class Paging:
    """Where one page sits in a list: the page shown, its size and the list's length."""

    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page
