"""Disqus's XML export (Admin → Community → Export; schema disqus.com/api/schemas/1.0).

The file holds ``<category>``, then ``<thread dsq:id="…">`` (``<link>``,
``<title>``, ``<isClosed>``), then ``<post dsq:id="…">`` with ``<message>``
(HTML), ``<createdAt>`` (UTC), ``<isDeleted>``, ``<isSpam>``, ``<author><name>``,
``<ipAddress>``, ``<thread dsq:id="…"/>`` and, for a reply, ``<parent
dsq:id="…"/>``. Older files name threads and parents by their ``<id>`` text
instead of ``dsq:id``; both are read. Posts may come in any order.

Read in two passes: the threads (few) and the number of posts first, then the
posts one by one. E-mail addresses are not imported.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import Element

from .. import addresses
from ..models import Status
from .base import NO_ID, ImportFailed, SourceComment
from .xmlfiles import child, elements_at, html_to_text, is_true, local, root_tag, text_of, utc_time

DSQ_ID = "{http://disqus.com/disqus-internals}id"
ROOT = "{http://disqus.com}disqus"


@dataclass
class Thread:
    url: str | None
    title: str | None
    closed: bool


def _names(element: Element) -> tuple[str | None, str | None]:
    """An element's ``dsq:id`` and its ``<id>`` text (or, without children, its own text)."""
    own = text_of(element, "id") if len(element) else text_of(element)
    return element.get(DSQ_ID) or None, f"id-{own}" if own else None


class DisqusExport:
    def __init__(self, path: str | Path) -> None:
        self.path = path
        if root_tag(path) != ROOT:
            raise ImportFailed(f"{path} is not a Disqus export (its root is not <disqus>)")
        self.threads: dict[str, Thread] = {}
        self.aliases: dict[str, str] = {}  # "id-<id text>" -> dsq:id, for posts with both
        self.posts = 0
        self._scan()

    def _scan(self) -> None:
        """First pass: the threads, post names, and how many posts follow."""
        for element in elements_at(self.path, 1):
            name = local(element.tag)
            if name == "thread":
                thread = Thread(
                    text_of(element, "link"),
                    text_of(element, "title"),
                    is_true(text_of(element, "isClosed")),
                )
                for key in _names(element):
                    if key:
                        self.threads[key] = thread
            elif name == "post":
                self.posts += 1
                dsq, own = _names(element)
                if dsq and own:
                    self.aliases[own] = dsq

    def count(self) -> int:
        return self.posts

    def _ref(self, element: Element | None) -> str | None:
        if element is None:
            return None
        dsq, own = _names(element)
        return dsq or (self.aliases.get(own, own) if own else None)

    def records(self) -> Iterator[SourceComment]:
        """Second pass: every post, in file order."""
        for element in elements_at(self.path, 1):
            if local(element.tag) == "post":
                yield self._record(element)

    def _record(self, post: Element) -> SourceComment:
        thread_element = child(post, "thread")
        thread = None
        if thread_element is not None:
            for key in _names(thread_element):
                thread = thread or (self.threads.get(key) if key else None)
        thread = thread or Thread(None, None, False)
        author = child(post, "author")
        approved = text_of(post, "isApproved")
        if is_true(text_of(post, "isSpam")):
            status = Status.SPAM
        elif approved is not None and not is_true(approved):
            status = Status.PENDING
        else:
            status = Status.APPROVED
        return SourceComment(
            ref=self._ref(post) or "",
            url=thread.url,
            title=thread.title,
            parent=self._ref(child(post, "parent")),
            author=text_of(author, "name") if author is not None else None,
            body=html_to_text(text_of(post, "message") or ""),
            created_at=utc_time(text_of(post, "createdAt")),
            status=status,
            deleted=is_true(text_of(post, "isDeleted")),
            remote_addr=addresses.normalise(text_of(post, "ipAddress")),
            closed=thread.closed,
            skip=None if self._ref(post) else NO_ID,
        )
