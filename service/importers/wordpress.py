"""WordPress's export (WXR 1.0-1.2: Tools → Export → All content).

An RSS file whose ``<channel>`` holds an ``<item>`` per post or page: its
``<title>``, ``<link>`` (the permalink), ``<wp:comment_status>`` and its
``<wp:comment>`` elements with ``comment_id``, ``comment_author``,
``comment_author_IP``, ``comment_date_gmt`` (UTC; ``comment_date`` is the
site's local time), ``comment_content`` (text with optional HTML),
``comment_approved`` (``1``, ``0``, ``spam``, ``trash``, ``post-trashed``),
``comment_type`` (empty or ``comment``; ``pingback`` and ``trackback`` are no
readers' comments) and ``comment_parent`` (0 for none). The ``wp`` namespace
carries the WXR version (``http://wordpress.org/export/1.2/``); any version is
read. E-mail addresses and websites are not imported.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from xml.etree.ElementTree import Element
from zoneinfo import ZoneInfo

from .. import addresses
from ..models import Status
from .base import NO_ID, NOT_COMMENT, ImportFailed, SourceComment
from .xmlfiles import (
    elements_at,
    html_to_text,
    local,
    namespace,
    root_tag,
    text_of,
    utc_time,
)

WXR_NAMESPACE = "http://wordpress.org/export/"
APPROVED = {"1": Status.APPROVED, "0": Status.PENDING, "spam": Status.SPAM}
DELETED = {"trash", "post-trashed"}
COMMENT_TYPES = {"", "comment"}


def is_wp(element: Element) -> bool:
    return namespace(element.tag).startswith(WXR_NAMESPACE)


class WordPressExport:
    def __init__(self, path: str | Path, zone: str = "UTC") -> None:
        """``zone``: the site's time zone, for comments without a GMT time."""
        self.path = path
        self.zone = ZoneInfo(zone)
        if local(root_tag(path)) != "rss":
            raise ImportFailed(f"{path} is not a WordPress export (its root is not <rss>)")
        self.comments = sum(
            1 for item in elements_at(path, 2) if local(item.tag) == "item" for _ in self._of(item)
        )

    @staticmethod
    def _of(item: Element) -> Iterator[Element]:
        for element in item:
            if local(element.tag) == "comment" and is_wp(element):
                yield element

    def count(self) -> int:
        return self.comments

    def records(self) -> Iterator[SourceComment]:
        """Every comment, post by post, in file order."""
        for item in elements_at(self.path, 2):
            if local(item.tag) != "item":
                continue
            url = text_of(item, "link")
            title = text_of(item, "title")
            closed = text_of(item, "comment_status") == "closed"
            for element in self._of(item):
                yield self._record(element, url, title, closed)

    def _record(
        self, element: Element, url: str | None, title: str | None, closed: bool
    ) -> SourceComment:
        comment_id = text_of(element, "comment_id")
        parent = text_of(element, "comment_parent")
        approved = (text_of(element, "comment_approved") or "0").lower()
        kind = (text_of(element, "comment_type") or "").lower()
        created = utc_time(text_of(element, "comment_date_gmt")) or utc_time(
            text_of(element, "comment_date"), self.zone
        )
        skip = None
        if not comment_id:
            skip = NO_ID
        elif kind not in COMMENT_TYPES:
            skip = NOT_COMMENT
        return SourceComment(
            ref=comment_id or "",
            url=url,
            title=title,
            parent=parent if parent and parent != "0" else None,
            author=text_of(element, "comment_author"),
            body=html_to_text(text_of(element, "comment_content") or ""),
            created_at=created,
            status=APPROVED.get(approved, Status.PENDING),
            deleted=approved in DELETED,
            remote_addr=addresses.normalise(text_of(element, "comment_author_IP")),
            closed=closed,
            skip=skip,
        )
