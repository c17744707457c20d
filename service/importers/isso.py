"""Isso's SQLite database (isso 0.13/0.14, schema version 5, older ones too).

Isso keeps ``threads(id, uri, title)`` and ``comments(tid, id, parent,
created, modified, mode, remote_addr, text, author, email, website, likes,
dislikes, voters, notification)``. ``created`` is a Unix time; ``mode`` is 1
accepted, 2 pending, 4 deleted (kept, emptied, because it has replies);
``text`` is what the reader typed (Markdown, rendered by isso on output);
``remote_addr`` is already cut to /24 or /48 by isso. Replies point at their
thread's top comment (isso nests one level). E-mail addresses, websites and
notification wishes are not imported: this service holds none of them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from .. import addresses
from ..models import Status
from .base import ImportFailed, SourceComment

MODES = {1: Status.APPROVED, 2: Status.PENDING}
DELETED_MODE = 4
NEEDED = {
    "threads": {"id", "uri", "title"},
    "comments": {"tid", "id", "parent", "created", "mode", "remote_addr", "text", "author"},
}
# Isso writes 0.0.0.0 when it could not read an address.
UNKNOWN_ADDRESS = "0.0.0.0"


class IssoDatabase:
    """An Isso database opened read-only: its size, then its comments in id order."""

    def __init__(self, path: str | Path) -> None:
        try:
            self.connection = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
            tables = {
                name: {row[1] for row in self.connection.execute(f"PRAGMA table_info({name})")}
                for name in NEEDED
            }
        except sqlite3.Error as error:
            raise ImportFailed(f"cannot read {path} as an SQLite database: {error}") from None
        for name, columns in NEEDED.items():
            if not columns <= tables[name]:
                raise ImportFailed(
                    f"{path} is not an Isso database (no table {name} with {sorted(columns)})"
                )
        self.has_likes = "likes" in tables["comments"]

    def count(self) -> int:
        return int(self.connection.execute("SELECT COUNT(*) FROM comments").fetchone()[0])

    def records(self) -> Iterator[SourceComment]:
        """Every comment, oldest id first (a reply's parent always has a smaller id)."""
        likes = "c.likes" if self.has_likes else "0"
        cursor = self.connection.execute(
            "SELECT c.id, c.parent, c.created, c.modified, c.mode, c.remote_addr, c.text,"
            f" c.author, {likes}, t.uri, t.title"
            " FROM comments AS c LEFT JOIN threads AS t ON t.id = c.tid ORDER BY c.id"
        )
        try:
            for row in cursor:
                yield record_of(*row)
        except sqlite3.Error as error:
            raise ImportFailed(f"reading the Isso database failed: {error}") from None
        finally:
            cursor.close()

    def close(self) -> None:
        self.connection.close()


def record_of(
    comment_id: int,
    parent: int | None,
    created: float | None,
    modified: float | None,
    mode: int | None,
    remote_addr: str | None,
    text: str | None,
    author: str | None,
    likes: int | None,
    uri: str | None,
    title: str | None,
) -> SourceComment:
    deleted = mode == DELETED_MODE
    return SourceComment(
        ref=str(comment_id),
        url=uri,
        title=title,
        parent=str(parent) if parent else None,
        author=author,
        body=text or "",
        created_at=unix_time(created),
        status=MODES.get(mode or 0, Status.PENDING),
        deleted=deleted,
        remote_addr=network_of(remote_addr),
        likes=int(likes or 0),
    )


@lru_cache(maxsize=65_536)
def network_of(remote_addr: str | None) -> str | None:
    """Isso's cut address (``203.0.113.0``) in the CIDR form we store; cached, as it repeats."""
    if not remote_addr or remote_addr == UNKNOWN_ADDRESS:
        return None
    return addresses.truncate(remote_addr)


def unix_time(value: float | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
