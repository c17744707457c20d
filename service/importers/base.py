"""The import engine every format shares: keys, batches, replies, idempotence.

A format reader turns its file into ``SourceComment`` records; ``run_import``
stores them in batches, one transaction per batch, so that an interrupted
import keeps what it stored and a second run carries on where it stopped.
Each stored comment remembers where it came from (``Comment.import_ref``, e.g.
``isso:123``): a comment already there is skipped, so running an import twice
adds nothing.

Replies keep their thread: a reply is stored after the comment it answers (in
the same batch or a later one), whatever order the file lists them in. A reply
whose parent never turns up (deleted in the source, or skipped) becomes a
thread starter, and the summary counts it.
"""

from __future__ import annotations

import os
import posixpath
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from flask import current_app
from flask_babel import lazy_gettext
from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .. import moderation
from ..articles import URL_MAX_LENGTH, check_key, clean_title
from ..audit_log import audit
from ..errors import InvalidArticleKey, ServiceError
from ..extensions import db
from ..models import Article, Comment, Status
from ..text import normalise_newlines, strip_forbidden

AUTHOR_MAX_LENGTH = 64  # the column's size; new comments are held to NICKNAME_MAX_LENGTH
BODY_MAX_LENGTH = 65_536  # characters; longer texts are cut (and counted)
REF_MAX_LENGTH = 96
SOURCE_PATTERN = re.compile(r"[A-Za-z0-9.-]{1,40}")
DEFAULT_BATCH_SIZE = 2000

# Why a comment was not imported: stable codes, with words for the summary.
ALREADY = "already_imported"
DUPLICATE = "duplicate_in_source"
NO_KEY = "no_article_key"
BAD_KEY = "invalid_article_key"
NO_TIME = "no_valid_time"
EMPTY = "empty_text"
NOT_COMMENT = "not_a_comment"
NO_ID = "no_id"
REASONS = {
    ALREADY: "already imported (an earlier run)",
    DUPLICATE: "the same id twice in the source",
    NO_KEY: "no article key in the URL",
    BAD_KEY: "article key not valid (1-128 of A-Z a-z 0-9 _ . -)",
    NO_TIME: "no valid time",
    EMPTY: "empty text",
    NOT_COMMENT: "pingback, trackback or other non-comment",
    NO_ID: "no id in the source",
}


class ImportFailed(ServiceError):
    """The file cannot be imported at all (wrong format, unreadable)."""

    code = "import_failed"
    message = lazy_gettext("The file cannot be imported.")


@dataclass
class SourceComment:
    """One comment as a source file holds it, before it is checked."""

    ref: str  # the source's own id, unique within the source
    url: str | None  # the article's address (or path) in the source
    title: str | None
    parent: str | None  # the source id of the comment it answers
    author: str | None
    body: str
    created_at: datetime | None  # aware, UTC
    status: Status = Status.APPROVED
    deleted: bool = False
    remote_addr: str | None = None
    likes: int = 0
    closed: bool = False  # the source closed the article to new comments
    skip: str | None = None  # a reason the reader already knows (a pingback)


@dataclass
class ImportSummary:
    format: str
    total: int = 0  # records read from the source
    imported: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    articles_created: int = 0
    # Replies whose parent was missing (or in another article): stored as thread starters.
    orphans: int = 0
    truncated: int = 0  # texts longer than BODY_MAX_LENGTH, cut
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Records handled per second."""
        return self.total / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "read": self.total,
            "imported": self.imported,
            "skipped": dict(self.skipped),
            "articles_created": self.articles_created,
            "orphans": self.orphans,
            "truncated": self.truncated,
        }


@dataclass
class Options:
    """How a run maps the source onto articles (see ``run_import``)."""

    key_pattern: re.Pattern[str] | None = None
    base_url: str | None = None
    source: str | None = None
    batch_size: int = DEFAULT_BATCH_SIZE


def check_options(
    key_pattern: str | None = None,
    base_url: str | None = None,
    source: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Options:
    """Checked options, or ImportFailed saying which one is wrong."""
    pattern = None
    if key_pattern:
        try:
            pattern = re.compile(key_pattern)
        except re.error as error:
            raise ImportFailed(f"--key-pattern is not a regular expression: {error}") from None
        if pattern.groups != 1:
            raise ImportFailed("--key-pattern must have exactly one group: the article key")
    if base_url is not None and (
        urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).netloc
    ):
        raise ImportFailed("--base-url must be an http(s) address, e.g. https://www.portal.example")
    if source is not None and not SOURCE_PATTERN.fullmatch(source):
        raise ImportFailed("--source must be 1-40 of A-Z a-z 0-9 . -")
    if not 1 <= batch_size <= 50_000:
        raise ImportFailed("--batch-size must be 1 to 50000")
    return Options(pattern, base_url, source, batch_size)


def key_from_url(url: str | None, pattern: re.Pattern[str] | None = None) -> str | None:
    """The article key a source URL stands for, or None.

    By default the last path segment without its extension
    (``/zcjh/zhengwu/67584.html`` → ``67584``, ``https://a.example/2014/hello/`` →
    ``hello``); with a pattern, its one group (searched in the whole URL).
    """
    if not url:
        return None
    if pattern is not None:
        match = pattern.search(url)
        return match.group(1) if match and match.group(1) else None
    segments = [s for s in urlsplit(url.strip()).path.split("/") if s]
    if not segments:
        return None
    stem = posixpath.splitext(unquote(segments[-1]))[0]
    return stem or None


def article_url(url: str | None, base_url: str | None) -> str | None:
    """The URL to keep for an article: absolute http(s) (a path joined to ``base_url``)."""
    if not url:
        return None
    url = url.strip()
    if url.startswith("/") and not url.startswith("//") and base_url:
        url = urljoin(base_url, url)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    if len(url) > URL_MAX_LENGTH or strip_forbidden(url) != url or re.search(r"\s", url):
        return None
    return url


def clean_author(author: str | None) -> str:
    name = " ".join(strip_forbidden(author or "").split())[:AUTHOR_MAX_LENGTH]
    return name or str(current_app.config["DEFAULT_NICKNAME"])


def chunks(records: Iterable[SourceComment], size: int) -> Iterator[list[SourceComment]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk


@dataclass
class _Known:
    """An imported comment, as its replies need it."""

    id: int
    root_id: int | None
    article_id: int


class _Run:
    """One import: the state that spans batches."""

    def __init__(self, fmt: str, options: Options, summary: ImportSummary) -> None:
        self.fmt = fmt
        self.options = options
        self.summary = summary
        self.prefix = f"{fmt}:{options.source}:" if options.source else f"{fmt}:"
        self.known: dict[str, _Known] = {}  # ref -> stored comment (this run or earlier)
        self.seen: set[str] = set()  # refs read in this run
        self.articles: dict[str, int] = {}  # key -> article id
        self.keys: dict[str, str | None] = {}  # source URL -> key (None: skipped, why)
        self.key_errors: dict[str, str] = {}
        self.batch: list[tuple[SourceComment, str]] = []  # (record, article key)
        self.in_batch: set[str] = set()
        self.waiting: dict[str, list[tuple[SourceComment, str]]] = defaultdict(list)
        self.dialect = db.session.get_bind().dialect.name

    def ref(self, source_ref: str) -> str:
        return (self.prefix + source_ref)[:REF_MAX_LENGTH]

    # --- reading ------------------------------------------------------------------------

    def take(self, chunk: list[SourceComment]) -> None:
        """Check one chunk of records, queue what is to be stored, store it, commit."""
        self._load_known(chunk)
        for record in chunk:
            self.summary.total += 1
            ref = self.ref(record.ref)
            if ref in self.seen:
                self.summary.skipped[DUPLICATE] += 1
                continue
            self.seen.add(ref)
            if ref in self.known:
                self.summary.skipped[ALREADY] += 1
                continue
            reason = self._check(record)
            if reason is not None:
                self.summary.skipped[reason] += 1
                continue
            key = self.keys[record.url or ""]
            assert key is not None
            self._queue(record, key)
        self.flush()

    def _load_known(self, chunk: list[SourceComment]) -> None:
        """Comments of this chunk (or their parents) that an earlier run stored."""
        wanted = {self.ref(r.ref) for r in chunk}
        wanted |= {self.ref(r.parent) for r in chunk if r.parent is not None}
        wanted -= self.known.keys()
        if not wanted:
            return
        rows = db.session.execute(
            select(Comment.import_ref, Comment.id, Comment.root_id, Comment.article_id).where(
                Comment.import_ref.in_(wanted)
            )
        )
        for ref, comment_id, root_id, article_id in rows:
            self.known[ref] = _Known(comment_id, root_id, article_id)

    def _check(self, record: SourceComment) -> str | None:
        if record.skip is not None:
            return record.skip
        if record.created_at is None:
            return NO_TIME
        if not record.body.strip() and not record.deleted:
            return EMPTY
        url = record.url or ""
        if url not in self.keys:
            key = key_from_url(record.url, self.options.key_pattern)
            if key is None:
                self.keys[url], self.key_errors[url] = None, NO_KEY
            else:
                try:
                    self.keys[url] = check_key(key)
                except InvalidArticleKey:
                    self.keys[url], self.key_errors[url] = None, BAD_KEY
        if self.keys[url] is None:
            return self.key_errors[url]
        return None

    def _queue(self, record: SourceComment, key: str) -> None:
        """Into the batch when its parent is stored or batched; else wait for the parent."""
        parent = self.ref(record.parent) if record.parent is not None else None
        if parent is None or parent in self.known or parent in self.in_batch:
            self.batch.append((record, key))
            self.in_batch.add(self.ref(record.ref))
        else:
            self.waiting[parent].append((record, key))

    # --- storing ------------------------------------------------------------------------

    def flush(self) -> None:
        """Store the batch (and the replies it releases) in one transaction."""
        if not self.batch:
            return
        self._ensure_articles({key: record for record, key in self.batch})
        public: Counter[int] = Counter()
        pending = self.batch
        while pending:
            # A row goes in once the comment it answers has an id: parents first.
            level, later = [], []
            for item in pending:
                parent = item[0].parent
                ready = parent is None or self.ref(parent) in self.known
                (level if ready else later).append(item)
            if not level:  # cannot happen: a batched reply's parent is stored or batched
                raise RuntimeError("import batch has replies without parents")
            self._insert(level, public)
            released = []
            for record, _key in level:
                released.extend(self.waiting.pop(self.ref(record.ref), []))
            pending = later + released
        moderation.admit_imported(dict(public))
        db.session.commit()
        self.batch = []
        self.in_batch = set()

    def finish(self) -> None:
        """Replies whose parent never came: stored as thread starters."""
        while self.waiting:
            waiting_refs = {self.ref(r.ref) for items in self.waiting.values() for r, _ in items}
            # Parents that will not come; if every parent waits itself (a loop in a
            # corrupt file), all of them.
            gone = [parent for parent in self.waiting if parent not in waiting_refs]
            orphans = [
                item for parent in gone or list(self.waiting) for item in self.waiting.pop(parent)
            ]
            for record, key in orphans:
                self.summary.orphans += 1
                record.parent = None
                self.batch.append((record, key))
                self.in_batch.add(self.ref(record.ref))
            self.flush()

    def _insert(self, level: list[tuple[SourceComment, str]], public: Counter[int]) -> None:
        rows = []
        for record, key in level:
            article_id = self.articles[key]
            parent_id = root_id = None
            if record.parent is not None:
                parent = self.known[self.ref(record.parent)]
                if parent.article_id == article_id:
                    parent_id, root_id = parent.id, parent.root_id or parent.id
                else:
                    self.summary.orphans += 1
            body = normalise_newlines(strip_forbidden(record.body)).strip()
            if len(body) > BODY_MAX_LENGTH:
                body = body[:BODY_MAX_LENGTH]
                self.summary.truncated += 1
            status = Status.REJECTED if record.deleted else record.status
            created = record.created_at
            rows.append(
                {
                    "import_ref": self.ref(record.ref),
                    "article_id": article_id,
                    "parent_id": parent_id,
                    "root_id": root_id,
                    "author": clean_author(record.author),
                    "body": body,
                    "status": status,
                    "created_at": created,
                    "deleted_at": created if record.deleted else None,
                    "remote_addr": record.remote_addr,
                    "likes": max(0, min(record.likes, 2**31 - 1)),
                }
            )
            if status == Status.APPROVED and not record.deleted:
                public[article_id] += 1
        # A Core INSERT (not the ORM's bulk path): "insertmanyvalues" sends a
        # thousand rows per statement and hands back their ids.
        table = Comment.__table__
        stored = db.session.execute(
            insert(table).returning(table.c.import_ref, table.c.id, table.c.root_id), rows
        )
        by_ref = {row["import_ref"]: row for row in rows}
        for ref, comment_id, root_id in stored:
            self.known[ref] = _Known(comment_id, root_id, by_ref[ref]["article_id"])
        self.summary.imported += len(rows)

    def _ensure_articles(self, wanted: dict[str, SourceComment]) -> None:
        """Every article the batch needs, created with the source's URL and title.

        An article that exists keeps its URL and title; the source fills only
        what it lacks (the importer is trusted, unlike a reader's post).
        """
        missing = [key for key in wanted if key not in self.articles]
        if not missing:
            return
        details = {
            key: (
                article_url(wanted[key].url, self.options.base_url),
                clean_title(wanted[key].title),
            )
            for key in missing
        }
        existing = {
            row.key: row
            for row in db.session.execute(
                select(Article.id, Article.key, Article.url, Article.title).where(
                    Article.key.in_(missing)
                )
            )
        }
        new = [key for key in missing if key not in existing]
        if new:
            insert_ = pg_insert if self.dialect == "postgresql" else sqlite_insert
            created = db.session.execute(
                insert_(Article)
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(Article.key),
                [
                    {
                        "key": key,
                        "url": details[key][0],
                        "title": details[key][1],
                        "closed": wanted[key].closed,
                        "approved_count": 0,
                        "public_version": 0,
                        "created_at": datetime.now(UTC),
                    }
                    for key in new
                ],
            )
            self.summary.articles_created += len(created.all())
        for key, (url, title) in details.items():
            row = existing.get(key)
            if row is not None and ((url and not row.url) or (title and not row.title)):
                db.session.execute(
                    update(Article)
                    .where(Article.id == row.id)
                    .values(
                        url=row.url or url,
                        title=row.title or title,
                        public_version=Article.public_version + 1,
                    )
                    .execution_options(synchronize_session=False)
                )
        for row in db.session.execute(
            select(Article.id, Article.key).where(Article.key.in_(missing))
        ):
            self.articles[row.key] = row.id


Progress = Callable[[int, ImportSummary], None]


def run_import(
    fmt: str,
    records: Iterable[SourceComment],
    options: Options,
    progress: Progress | None = None,
    file_name: str | None = None,
) -> ImportSummary:
    """Store a source's comments: one transaction per batch, then an audit entry.

    ``progress(n, summary)`` is called after each batch with the records it read.
    """
    summary = ImportSummary(fmt)
    run = _Run(fmt, options, summary)
    started = time.perf_counter()
    try:
        for chunk in chunks(records, options.batch_size):
            run.take(chunk)
            if progress is not None:
                progress(len(chunk), summary)
        run.finish()
    except BaseException:
        db.session.rollback()
        raise
    summary.seconds = time.perf_counter() - started
    detail = summary.as_dict()
    if file_name:
        detail["file"] = os.path.basename(file_name)
    if options.source:
        detail["source"] = options.source
    audit("import", None, detail=detail)
    db.session.commit()
    return summary
