"""Reading export files: XML streamed safely, and the HTML of comments as plain text.

Exports can be large, so they are read element by element (``iterparse``)
and each element is dropped once read. defusedxml refuses entity tricks
(billion laughs, external entities) that a hostile file could carry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from .base import ImportFailed

BLOCKS = {"p", "div", "blockquote", "li", "ul", "ol", "pre", "h1", "h2", "h3", "h4", "h5", "h6"}
SKIPPED = {"script", "style"}


def local(tag: str) -> str:
    """``{namespace}name`` → ``name``."""
    return tag.rsplit("}", 1)[-1]


def namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def events(path: str | Path) -> Iterator[tuple[str, Element]]:
    """(event, element) for ``start`` and ``end``, with errors as ImportFailed."""
    try:
        yield from iterparse(str(path), events=("start", "end"))
    except ParseError as error:
        raise ImportFailed(f"{path} is not well-formed XML: {error}") from None
    except DefusedXmlException as error:
        raise ImportFailed(f"{path} uses XML features that are refused: {error}") from None
    except OSError as error:
        raise ImportFailed(f"cannot read {path}: {error}") from None


def root_tag(path: str | Path) -> str:
    """The tag of the document's root element (reads no further)."""
    for _event, element in events(path):
        return element.tag
    raise ImportFailed(f"{path} is empty")


def elements_at(path: str | Path, level: int) -> Iterator[Element]:
    """Each complete element ``level`` deep (the root's children are 1), dropped after use."""
    stack: list[Element] = []
    for event, element in events(path):
        if event == "start":
            stack.append(element)
            continue
        stack.pop()
        if len(stack) == level:
            yield element
            if stack:
                stack[-1].remove(element)


def child(element: Element, name: str) -> Element | None:
    """The first child with this local name, whatever its namespace."""
    for item in element:
        if local(item.tag) == name:
            return item
    return None


def text_of(element: Element | None, name: str | None = None) -> str | None:
    """The stripped text of an element (or of its child ``name``); None when absent or empty."""
    if element is not None and name is not None:
        element = child(element, name)
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def utc_time(value: str | None, zone: Any = UTC) -> datetime | None:
    """An ISO-like time (``2013-10-10T19:20:29Z``, ``2014-01-14 17:32:12``) in UTC.

    A time without an offset is read in ``zone`` (UTC unless told otherwise).
    """
    if not value or value.startswith("0000-00-00"):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1")


class _TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[tuple[str, int]] = []  # (href, where its text starts)
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIPPED:
            self.skipping += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in BLOCKS:
            self.parts.append("\n\n")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self.links.append((href, len(self.parts)))

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in BLOCKS:
            self.parts.append("\n\n")
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            shown = "".join(self.parts[start:]).strip()
            # Keep the address when the text does not show it (Disqus shortens links).
            if href.startswith(("http://", "https://")) and shown != href:
                self.parts.append(f" ({href})" if shown else href)

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Comment HTML as the plain text this service stores (it escapes on output).

    Paragraphs and line breaks become newlines, entities characters, links
    their text followed by the address; every other tag is dropped.
    """
    if "<" not in markup and "&" not in markup:
        return markup.strip()
    parser = _TextOf()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
